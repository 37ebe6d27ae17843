//! `gen predict RUN_DIR INPUT -o OUT`: a trained predictive model's mean and spread for
//! every input row of a file.

use crate::cli::PredictArgs;
use crate::commands::eval::predictive::{predict_rows, Predictions};
use crate::run::loader::{load, LoadedModel};
use anyhow::{bail, Context, Result};
use gen_metrics::calibration::entropies;

pub fn run(args: PredictArgs) -> Result<()> {
    let ext = args
        .output
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if ext != "npy" && ext != "csv" {
        bail!(
            "-o {}: the output must end in .npy (float32) or .csv",
            args.output.display()
        );
    }
    let run = load(&args.run_dir)?;
    let LoadedModel::Steps(model) = &run.model else {
        bail!(
            "`{}` fits a density; it does not predict labels or targets",
            run.cfg.family
        );
    };
    let dim = run.data.test.dim;
    // Asked first, with one of the run's own test rows: a generative run is the likelier
    // mistake than a file of the wrong width, and the fix differs.
    let probe = &run.data.test.x[..dim.min(run.data.test.x.len())];
    if predict_rows(model.as_ref(), probe, dim, 1, &run.device)?.is_none() {
        bail!(
            "`{}` does not predict labels or targets: gen predict needs a `family: bnn` run \
             (e.g. configs/bnn-mnist.yaml); for a generative model try gen sample",
            run.cfg.family
        );
    }
    let input = gen_data::points_file::read(&args.input)?;
    if input.cols != dim {
        bail!(
            "{}: {} columns per row, but the model takes {dim} inputs (the run's data without its target columns)",
            args.input.display(),
            input.cols
        );
    }
    let x: Vec<f32> = input.data.iter().map(|&v| v as f32).collect();
    let batch = run.cfg.train.eval_batch_size;
    let Some(p) = predict_rows(model.as_ref(), &x, dim, batch, &run.device)? else {
        bail!(
            "`{}` does not predict labels or targets (a generative model: try gen sample)",
            run.cfg.family
        );
    };
    let (cols, values, what) = match p {
        Predictions::Classes { probs, classes } => {
            let h = entropies(&probs, classes);
            let rows: Vec<f64> = probs
                .chunks(classes)
                .zip(&h)
                .flat_map(|(row, &e)| row.iter().copied().chain(std::iter::once(e)))
                .collect();
            (
                classes + 1,
                rows,
                format!("{classes} class probabilities, then the predictive entropy"),
            )
        }
        Predictions::Values {
            mean,
            variance,
            targets,
        } => {
            let rows: Vec<f64> = mean
                .chunks(targets)
                .zip(variance.chunks(targets))
                .flat_map(|(m, v)| m.iter().copied().chain(v.iter().map(|v| v.sqrt())))
                .collect();
            (
                2 * targets,
                rows,
                format!("{targets} predictive mean(s), then their standard deviation(s)"),
            )
        }
    };
    let n = input.rows;
    let bytes = if ext == "npy" {
        let v: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        gen_data::npy::encode_f32(n, cols, &v)
    } else {
        values
            .chunks(cols)
            .map(|r| {
                r.iter()
                    .map(|v| format!("{v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes()
            .into_iter()
            .chain(*b"\n")
            .collect()
    };
    std::fs::write(&args.output, bytes)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "{n} rows x {cols} columns ({what}) -> {}",
        args.output.display()
    );
    Ok(())
}
