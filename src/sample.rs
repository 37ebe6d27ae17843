//! `gen sample RUN_DIR -n N -o FILE`: samples from a trained model, as a picture or as
//! raw numbers.

use crate::cli::SampleArgs;
use crate::run_loader::{load, LoadedModel};
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use gen_core::model::DataKind;
use gen_core::picture::Picture;
use gen_core::Rng;

pub fn run(args: SampleArgs) -> Result<()> {
    let ext = args
        .output
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if ext != "png" && ext != "npy" {
        bail!(
            "-o {}: the output must end in .png (a picture) or .npy (the raw samples)",
            args.output.display()
        );
    }
    if args.n == 0 {
        bail!("-n must be at least 1");
    }
    let run = load(&args.run_dir)?;
    let mut rng = Rng::new(args.seed);
    let x: Vec<f64> = match (&run.model, args.class) {
        (LoadedModel::Steps(m), None) => match m.sample(args.n, &mut rng)? {
            Some(t) => gen_core::objective::values(&t)?,
            None => bail!("`{}` models cannot draw samples", run.cfg.family),
        },
        (LoadedModel::Steps(m), Some(class)) => {
            if let Some(k) = run.data.info.classes {
                if class >= k {
                    bail!(
                        "--class {class}: `{}` has classes 0 to {}",
                        run.data.info.name,
                        k - 1
                    );
                }
            }
            match m.sample_class(args.n, class, &mut rng)? {
                Some(t) => gen_core::objective::values(&t)?,
                None => bail!(
                    "--class needs a conditional model (e.g. model.conditional: true); this `{}` run is not one",
                    run.cfg.family
                ),
            }
        }
        (LoadedModel::Fit(_), Some(_)) => {
            bail!(
                "--class needs a conditional model; `{}` is not one",
                run.cfg.family
            )
        }
        (LoadedModel::Fit(m), None) => m.sample(args.n, &mut rng)?,
    };
    let dim = run.data.info.dim();
    let bytes = if ext == "npy" {
        let v: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        gen_data::npy::encode_f32(args.n, dim, &v)
    } else {
        let pic = match run.data.info.kind {
            DataKind::Image {
                channels,
                height,
                width,
            } => {
                let v: Vec<f32> = x.iter().map(|&v| v as f32).collect();
                let t = Tensor::from_vec(v, (args.n, channels, height, width), &Device::Cpu)?;
                Picture::grid(&t, (args.n as f64).sqrt().ceil() as usize)?
            }
            DataKind::Points { dim: 2 } => {
                gen_core::plot::samples_over_modes(&x, run.data.info.modes.as_ref())
            }
            DataKind::Points { dim } => bail!(
                "a PNG shows images or 2-D points, and these samples have {dim} dimensions; write .npy instead"
            ),
        };
        gen_tensorboard::encode_png(pic.width, pic.height, pic.channels, &pic.data)?
    };
    std::fs::write(&args.output, bytes)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "wrote {} samples ({} values each) to {}",
        args.n,
        dim,
        args.output.display()
    );
    Ok(())
}
