//! `gen sample RUN_DIR -n N -o FILE`: samples from a trained model, as a picture or as
//! raw numbers; a text model's as lines (printed, or `-o FILE.txt`). A `.npy` is written
//! in batches, so memory does not grow with `n`.

use crate::cli::SampleArgs;
use crate::run::checkpoint::free_space;
use crate::run::loader::{load_model, LoadedModel, ModelRun};
use crate::run::progress::EvalProgress;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use gen_core::model::DataKind;
use gen_core::Rng;
use gen_nn::memory::human;
use gen_plot::picture::Picture;
use std::io::Write;
use std::path::Path;

/// Samples drawn (and written) at a time.
const BATCH: usize = 1_000;
/// The most images a PNG grid shows (100 x 100), and points a 2-D scatter shows.
const MAX_PNG_IMAGES: usize = 10_000;
const MAX_PNG_POINTS: usize = 1_000_000;

pub fn run(args: SampleArgs) -> Result<()> {
    let ext = args
        .output
        .as_deref()
        .and_then(|o| o.extension())
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if let Some(out) = args
        .output
        .as_deref()
        .filter(|_| !["png", "npy", "txt"].contains(&ext.as_str()))
    {
        bail!(
            "-o {}: the output must end in .png (a picture), .npy (the raw samples) or .txt (a text model's lines)",
            out.display()
        );
    }
    if args.n == 0 {
        bail!("-n must be at least 1");
    }
    let run = load_model(&args.run_dir)?;
    if args.ema {
        run.use_average()?;
    } else if run.average.is_some() {
        // The average is often the better sampler (dcgan.yaml: FD 5.9 against 12.0), so
        // say it is there rather than leave the user to find the flag.
        eprintln!(
            "note: this run kept a moving average of its parameters (train.ema); these samples are from its last parameters, --ema draws from the average"
        );
    }
    if let Some(vocab) = run.info.vocab() {
        if ext != "npy" {
            return text(&run, &args, vocab);
        }
    }
    let Some(output) = args.output.clone() else {
        bail!("-o FILE is needed: .png (a picture) or .npy (the raw samples)");
    };
    if ext == "txt" {
        bail!(
            "-o {}: .txt is for text models, and this `{}` run draws {}; write .png or .npy",
            output.display(),
            run.cfg.family,
            if run.info.is_image() {
                "images"
            } else {
                "points"
            }
        );
    }
    if let Some(class) = args.class {
        check_class(&run, class)?;
    }
    let dim = run.info.dim();
    let mut rng = Rng::new(args.seed);
    if ext == "npy" {
        write_npy(&run, &args, &output, dim, &mut rng)?;
    } else {
        let limit = match run.info.kind {
            DataKind::Image { .. } => MAX_PNG_IMAGES,
            DataKind::Points { .. } => MAX_PNG_POINTS,
            DataKind::Text { .. } => usize::MAX,
        };
        if args.n > limit {
            bail!(
                "-n {}: a PNG shows at most {limit} samples of this data; write -o FILE.npy for more (streamed to disk)",
                args.n
            );
        }
        let x = draw(&run, args.n, args.class, &mut rng)?;
        let bytes = png(&run, args.n, &x)?;
        std::fs::write(&output, bytes).with_context(|| format!("writing {}", output.display()))?;
    }
    println!(
        "wrote {} samples ({} values each) to {}",
        args.n,
        dim,
        output.display()
    );
    Ok(())
}

/// A text model's samples as lines: printed, or written to `-o FILE.txt`.
fn text(run: &ModelRun, args: &SampleArgs, vocab: &gen_base::Vocabulary) -> Result<()> {
    if let Some(out) = args
        .output
        .as_deref()
        .filter(|o| o.extension().is_some_and(|e| e == "png"))
    {
        bail!(
            "-o {}: a text model's samples are lines; write .txt (or leave -o out to print them)",
            out.display()
        );
    }
    let mut rng = Rng::new(args.seed);
    let dim = run.info.dim();
    let mut lines = Vec::with_capacity(args.n);
    let mut done = 0;
    while done < args.n {
        let k = BATCH.min(args.n - done);
        let ids = draw(run, k, args.class, &mut rng)?;
        lines.extend(ids.chunks(dim).map(|r| vocab.decode_row(r)));
        done += k;
    }
    match &args.output {
        None => {
            for l in &lines {
                println!("{l}");
            }
        }
        Some(path) => {
            std::fs::write(path, lines.join("\n") + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
            println!(
                "wrote {} samples (one per line) to {}",
                args.n,
                path.display()
            );
        }
    }
    Ok(())
}

fn check_class(run: &ModelRun, class: usize) -> Result<()> {
    if let LoadedModel::Fit(_) = run.model {
        bail!(
            "--class needs a conditional model; `{}` is not one",
            run.cfg.family
        );
    }
    if let Some(k) = run.info.classes {
        if class >= k {
            bail!(
                "--class {class}: `{}` has classes 0 to {}",
                run.info.name,
                k - 1
            );
        }
    }
    Ok(())
}

/// `n` samples, flattened.
fn draw(run: &ModelRun, n: usize, class: Option<usize>, rng: &mut Rng) -> Result<Vec<f32>> {
    let flat =
        |t: Tensor| -> Result<Vec<f32>> { Ok(t.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?) };
    match (&run.model, class) {
        (LoadedModel::Steps(m), None) => match m.sample(n, rng)? {
            Some(t) => flat(t),
            None => bail!("`{}` models cannot draw samples", run.cfg.family),
        },
        (LoadedModel::Steps(m), Some(class)) => match m.sample_class(n, class, rng)? {
            Some(t) => flat(t),
            None => bail!(
                "--class needs a conditional model (e.g. model.conditional: true); this `{}` run is not one",
                run.cfg.family
            ),
        },
        (LoadedModel::Fit(m), _) => Ok(m.sample(n, rng)?.iter().map(|&v| v as f32).collect()),
    }
}

/// Streams `args.n` samples to a `.npy`: a temporary file beside it, renamed when
/// complete, so a failure (a full disk) leaves no half-written file under the name.
fn write_npy(
    run: &ModelRun,
    args: &SampleArgs,
    path: &Path,
    dim: usize,
    rng: &mut Rng,
) -> Result<()> {
    let header = gen_data::npy::encode_f32(args.n, dim, &[]);
    let need = (args.n as u64)
        .saturating_mul(dim as u64)
        .saturating_mul(4)
        .saturating_add(header.len() as u64);
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Some(free) = free_space(parent) {
        if need > free {
            bail!(
                "-n {}: {} samples of {dim} values take {} on disk, and {} has {} free; draw fewer or write elsewhere",
                args.n,
                args.n,
                human(need),
                parent.display(),
                human(free)
            );
        }
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = parent.join(format!(".{}.tmp", name.unwrap_or_default()));
    let writing = |e: std::io::Error| anyhow::anyhow!("writing {}: {e}", path.display());
    let result = (|| -> Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(writing)?);
        out.write_all(&header).map_err(writing)?;
        let bar = EvalProgress::labelled("sampling", "samples", args.n as u64);
        let mut done = 0;
        while done < args.n {
            let k = BATCH.min(args.n - done);
            let x = draw(run, k, args.class, rng)?;
            let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
            out.write_all(&bytes).map_err(writing)?;
            done += k;
            bar.inc(k as u64);
        }
        bar.finish();
        out.into_inner()
            .map_err(|e| writing(e.into_error()))?
            .sync_all()
            .map_err(writing)?;
        std::fs::rename(&tmp, path).map_err(writing)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn png(run: &ModelRun, n: usize, x: &[f32]) -> Result<Vec<u8>> {
    let pic = match run.info.kind {
        DataKind::Image {
            channels,
            height,
            width,
        } => {
            let t = Tensor::from_vec(x.to_vec(), (n, channels, height, width), &Device::Cpu)?;
            Picture::grid(&t, (n as f64).sqrt().ceil() as usize)?
        }
        DataKind::Points { dim: 2 } => {
            let v: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            gen_plot::plot::samples_over_modes(&v, run.info.modes.as_ref(), &[])
        }
        DataKind::Text { .. } => bail!("text samples are written as .txt, not .png"),
        DataKind::Points { dim } => bail!(
            "a PNG shows images or 2-D points, and these samples have {dim} dimensions; write .npy instead"
        ),
    };
    Ok(gen_tensorboard::encode_png(
        pic.width,
        pic.height,
        pic.channels,
        &pic.data,
    )?)
}
