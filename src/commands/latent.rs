//! Commands on a trained run's latent space: `gen encode` (test-set codes as .npy),
//! `gen reconstruct` (test images over their reconstructions) and `gen interpolate`
//! (a straight line in z between two test images' codes).

use crate::cli::{EncodeArgs, InterpolateArgs, ReconstructArgs};
use crate::run::loader::{load, LoadedModel, LoadedRun as Run};
use crate::run::summaries::write_png;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use gen_core::Model;
use gen_plot::picture::Picture;
use std::path::Path;

/// The run's gradient-step model, if it has an encoder and a decoder.
fn autoencoder<'a>(run: &'a Run, what: &str) -> Result<&'a dyn Model> {
    let LoadedModel::Steps(model) = &run.model else {
        bail!(
            "`{}` runs have no encoder, so there is nothing to {what}",
            run.cfg.family
        );
    };
    Ok(model.as_ref())
}

fn codes(model: &dyn Model, x: &Tensor, family: &str) -> Result<Tensor> {
    model.encode(x)?.with_context(|| no_codes(family))
}

fn decoded(model: &dyn Model, z: &Tensor, family: &str) -> Result<Tensor> {
    model
        .decode(z)?
        .with_context(|| {
            format!("this `{family}` run has no decoder of codes alone (none, or a conditional one that needs the class; try gen sample --class)")
        })
}

/// Why a run gives no codes: no encoder, or a conditional one whose codes need the class.
fn no_codes(family: &str) -> String {
    format!(
        "this `{family}` run has no encoder whose codes stand alone (none, or a conditional one that also needs the class)"
    )
}

fn check_ext(path: &Path, ext: &str) -> Result<()> {
    let got = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if got != ext {
        bail!("-o {}: the output must end in .{ext}", path.display());
    }
    Ok(())
}

fn test_rows(run: &Run, idx: &[usize]) -> Result<Tensor> {
    let x = run.data.test.gather(idx, None).x;
    Ok(Tensor::from_vec(
        x,
        (idx.len(), run.data.test.dim),
        &Device::Cpu,
    )?)
}

/// `gen encode`: the code means of every test example, as an N x latent float32 .npy.
pub fn encode(args: EncodeArgs) -> Result<()> {
    check_ext(&args.output, "npy")?;
    let run = load(&args.run_dir)?;
    let model = autoencoder(&run, "encode")?;
    let batch = run.cfg.train.eval_batch_size;
    let Some((z, dim)) =
        crate::commands::eval::probe::codes(model, &run.data.test, batch, &run.device)?
    else {
        bail!(no_codes(&run.cfg.family));
    };
    let n = z.len() / dim.max(1);
    std::fs::write(&args.output, gen_data::npy::encode_f32(n, dim, &z))
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "wrote {n} codes ({dim} values each) to {}",
        args.output.display()
    );
    Ok(())
}

/// `gen reconstruct`: the first `n` test images, each row followed by the row of their
/// reconstructions from the code means.
pub fn reconstruct(args: ReconstructArgs) -> Result<()> {
    check_ext(&args.output, "png")?;
    let run = load(&args.run_dir)?;
    let model = autoencoder(&run, "reconstruct")?;
    let n = args.n.min(run.data.test.n);
    if n == 0 {
        bail!("-n must be at least 1");
    }
    let x = test_rows(&run, &(0..n).collect::<Vec<_>>())?;
    let family = &run.cfg.family;
    let back = decoded(model, &codes(model, &x, family)?, family)?;
    let (Some(xi), Some(ri)) = (
        run.data.info.as_images(&x)?,
        run.data
            .info
            .as_images(&back.to_dtype(DType::F32)?.to_device(&Device::Cpu)?)?,
    ) else {
        bail!(
            "`{}` holds points, not images: use gen encode / gen sample -o .npy",
            run.data.info.name
        );
    };
    write_png(&args.output, &Picture::reconstructions(&xi, &ri)?)?;
    println!(
        "wrote {n} test images and their reconstructions to {}",
        args.output.display()
    );
    Ok(())
}

/// `gen interpolate`: `steps` images decoded along the straight line in z from test image
/// `from`'s code to test image `to`'s.
/// An end of the line: a test example by index, or a text run's own line encoded.
fn end_point(run: &Run, flag: &str, given: &str) -> Result<Vec<f32>> {
    let n = run.data.test.n;
    if let Ok(i) = given.trim().parse::<usize>() {
        if i >= n {
            bail!("{flag} {i}: the test set has {n} examples (0 to {})", n - 1);
        }
        return Ok(run.data.test.row(i).to_vec());
    }
    match run.data.info.encode_line(given) {
        None => bail!(
            "{flag} {given}: expected a test example's index (0 to {})",
            n - 1
        ),
        Some(Err(why)) => bail!("{flag} {given}: {why}"),
        Some(Ok(ids)) => Ok(ids.into_iter().map(|i| i as f32).collect()),
    }
}

pub fn interpolate(args: InterpolateArgs) -> Result<()> {
    let run = load(&args.run_dir)?;
    let text = run.data.info.vocab().is_some();
    match (&args.output, text) {
        (Some(out), false) => check_ext(out, "png")?,
        (Some(out), true) => check_ext(out, "txt")?,
        (None, false) => bail!("-o FILE.png is needed: the images are drawn as one row"),
        (None, true) => {}
    }
    let model = autoencoder(&run, "interpolate")?;
    if args.steps < 2 {
        bail!("--steps must be at least 2 (the two end points)");
    }
    let family = &run.cfg.family;
    let ends = [
        end_point(&run, "--from", &args.from)?,
        end_point(&run, "--to", &args.to)?,
    ];
    let x = Tensor::from_vec(ends.concat(), (2, run.data.info.dim()), &Device::Cpu)?;
    let z: Vec<Vec<f32>> = codes(model, &x, family)?
        .to_dtype(DType::F32)?
        .to_device(&Device::Cpu)?
        .to_vec2()?;
    let line: Vec<f32> = (0..args.steps)
        .flat_map(|s| {
            let t = s as f32 / (args.steps - 1) as f32;
            z[0].iter().zip(&z[1]).map(move |(a, b)| a + t * (b - a))
        })
        .collect();
    let line = Tensor::from_vec(line, (args.steps, z[0].len()), &Device::Cpu)?;
    let images = decoded(model, &line, family)?
        .to_dtype(DType::F32)?
        .to_device(&Device::Cpu)?;
    if let Some(vocab) = run.data.info.vocab() {
        let rows: Vec<Vec<f32>> = images.to_vec2()?;
        let lines: Vec<String> = rows.iter().map(|r| vocab.decode_row(r)).collect();
        return match &args.output {
            None => {
                lines.iter().for_each(|l| println!("{l}"));
                Ok(())
            }
            Some(out) => {
                std::fs::write(out, lines.join("\n") + "\n")
                    .with_context(|| format!("writing {}", out.display()))?;
                println!(
                    "wrote {} lines from {} to {} to {}",
                    args.steps,
                    args.from,
                    args.to,
                    out.display()
                );
                Ok(())
            }
        };
    }
    // The two images themselves open and close the row, so the line can be judged
    // against what it joins.
    let row = Tensor::cat(&[&x.narrow(0, 0, 1)?, &images, &x.narrow(0, 1, 1)?], 0)?;
    let Some(images) = run.data.info.as_images(&row)? else {
        bail!("`{}` holds points, not images", run.data.info.name);
    };
    let out = args.output.as_deref().expect("checked above");
    write_png(out, &Picture::grid(&images, args.steps + 2)?)?;
    println!(
        "wrote test image {}, {} images on the line to test image {}, and that image, to {}",
        args.from,
        args.steps,
        args.to,
        out.display()
    );
    Ok(())
}
