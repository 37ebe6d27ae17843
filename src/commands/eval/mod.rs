//! `gen eval RUN_DIR`: the trained model's figures on its data, printed and written to
//! `RUN_DIR/eval.json`.

pub mod predictive;
pub mod probe;
pub mod quality;
pub mod refine;
pub mod text;

use crate::cli::EvalArgs;
use crate::run::config::RunConfig;
use crate::run::loader::{load, LoadedModel};
use crate::run::session::Session;
use crate::run::setup::points;
use anyhow::{Context, Result};
use candle_core::DType;

/// The model's eval-only figures, averaged over the test set (weighted by batch size), with
/// a progress bar on a terminal: importance sampling can take minutes.
fn eval_metrics(
    model: &dyn gen_core::Model,
    session: &Session,
    options: &gen_core::EvalOptions,
) -> Result<Vec<(String, f64)>> {
    let n = session.data.test.n;
    let batch = session.cfg.train.eval_batch_size.min(100);
    let mut rng = gen_core::Rng::new(EVAL_METRICS_SEED);
    let mut sums: Vec<(String, f64)> = vec![];
    let bar = crate::run::progress::EvalProgress::new(n as u64);
    for start in (0..n).step_by(batch) {
        let idx: Vec<usize> = (start..(start + batch).min(n)).collect();
        let rows = model.eval_metrics(&session.test_batch(&idx)?, options, &mut rng)?;
        if rows.is_empty() {
            break;
        }
        for (k, (name, v)) in rows.into_iter().enumerate() {
            match sums.get_mut(k) {
                Some(s) => s.1 += v * idx.len() as f64,
                None => sums.push((name, v * idx.len() as f64)),
            }
        }
        bar.inc(idx.len() as u64);
    }
    bar.finish();
    Ok(sums.into_iter().map(|(k, v)| (k, v / n as f64)).collect())
}

/// The sample-quality figures (`quality/*`) of a model drawing images with `sample`,
/// unless `--quality-samples 0` or the data are not images. The run's own test images are
/// the reference when they are continuous pixels (otherwise they are loaded again so).
fn quality_rows(
    args: &EvalArgs,
    cfg: &RunConfig,
    data: &gen_data::Dataset,
    sample: impl FnMut(usize, &mut gen_core::Rng) -> Result<Option<Vec<f32>>>,
) -> Result<Vec<(String, f64)>> {
    if args.quality_samples == 0 || !data.info.is_image() {
        return Ok(vec![]);
    }
    let continuous = (cfg.data.pixels == gen_data::Pixels::Continuous).then_some(data);
    crate::commands::eval::quality::of_sampler(
        sample,
        &data.info.name,
        continuous,
        args.quality_samples,
        &args.classifier,
    )
}

/// `n` samples of a model as flat f32 pixels, or `None` if it cannot sample.
fn drawn(
    model: &dyn gen_core::Model,
    n: usize,
    rng: &mut gen_core::Rng,
) -> Result<Option<Vec<f32>>> {
    Ok(match model.sample(n, rng)? {
        Some(x) => Some(x.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?),
        None => None,
    })
}

/// `--importance-samples` left out on a text run: each sample decodes a whole sequence over
/// the vocabulary, so the images' 5,000 would take an hour on the couplets' test set.
const TEXT_IMPORTANCE_SAMPLES: u64 = 100;

/// Noise of the eval-only figures (fixed, so `gen eval` is repeatable).
const EVAL_METRICS_SEED: u64 = 0x5EED_E7A1;

pub fn run(args: EvalArgs) -> Result<()> {
    let dir = &args.run_dir;
    let _lock = crate::run::lock::acquire_run(dir, "gen eval")?;
    let run = load(dir)?;
    let mut histograms = vec![];
    let importance_samples = args
        .importance_samples
        .unwrap_or(match run.data.info.vocab() {
            Some(_) => TEXT_IMPORTANCE_SAMPLES,
            None => 5000,
        }) as usize;
    let (rows, unit) = match &run.model {
        LoadedModel::Fit(_) if args.ood.is_some() => {
            anyhow::bail!(
                "--ood is for models that predict labels (family: bnn), not `{}`",
                run.cfg.family
            )
        }
        LoadedModel::Fit(model) => {
            if args.importance_samples.is_some() {
                println!(
                    "note: `{}` computes its likelihood exactly; --importance-samples is not used",
                    run.cfg.family
                );
            }
            let mut rows = model.eval_table(&points(&run.data.train), &points(&run.data.test))?;
            // Draws as the model makes them (a Gaussian mixture's leave [0, 1]).
            rows.extend(quality_rows(&args, &run.cfg, &run.data, |n, rng| {
                let x = model.sample(n, rng)?;
                Ok(Some(x.iter().map(|&v| v as f32).collect()))
            })?);
            (rows, "iteration")
        }
        LoadedModel::Steps(model) => {
            let session = Session {
                cfg: &run.cfg,
                data: &run.data,
                device: run.device.clone(),
            };
            let r = session.evaluate(model.as_ref())?;
            let mut rows = vec![("loss/test".to_string(), r.loss)];
            rows.extend(r.term_scalars());
            let samples = session.mode_samples(model.as_ref())?;
            if let Some(scores) = samples.as_deref().and_then(|s| session.mode_scores(s)) {
                rows.extend(scores.rows());
            }
            let batch = run.cfg.train.eval_batch_size;
            let options = gen_core::EvalOptions { importance_samples };
            if options.importance_samples > 0 {
                rows.extend(eval_metrics(model.as_ref(), &session, &options)?);
            } else {
                println!("skipping the importance-sampled NLL (--importance-samples 0)");
            }
            let text = text::rows(model.as_ref(), &run.data, &rows)?;
            rows.extend(text);
            if args.refine.refine > 0 {
                if options.importance_samples == 0 {
                    anyhow::bail!(
                        "--refine scores each fitted Gaussian by importance sampling; give --importance-samples 1 or more"
                    );
                }
                let refined = crate::commands::eval::refine::run(
                    model.as_ref(),
                    &session,
                    &args.refine,
                    options.importance_samples,
                )?;
                let Some(d) = refined else {
                    anyhow::bail!(
                        "--refine fits each example's Gaussian p(z|x): for a VAE with a Gaussian encoder, not `{}`{}",
                        run.cfg.family,
                        if run.cfg.family == "vae" { " with `encoder: deterministic`" } else { "" }
                    );
                };
                let path = d.write(dir)?;
                println!("per-example bounds written to {}", path.display());
                rows.extend(d.rows);
                histograms = d.histograms;
            }
            let predictive = crate::commands::eval::predictive::evaluate(
                model.as_ref(),
                &run.cfg,
                &run.data,
                args.ood.as_deref(),
                &run.device,
            )?;
            if let Some(p) = predictive {
                // The whole-test-set figures replace the per-batch means of the report.
                rows.retain(|(k, _)| !k.starts_with("predictive/"));
                rows.extend(p.rows);
                if let Some(scores) = &p.classes {
                    let pic = gen_plot::plot::predictive::reliability_diagram(&scores.bins);
                    crate::run::summaries::write_png(&dir.join("reliability.png"), &pic)?;
                }
            }
            rows.extend(quality_rows(&args, &run.cfg, &run.data, |n, rng| {
                drawn(model.as_ref(), n, rng)
            })?);
            if let Some((codes, dim)) = crate::commands::eval::probe::codes(
                model.as_ref(),
                &run.data.test,
                batch,
                &run.device,
            )? {
                rows.push((
                    "codes/active_units".to_string(),
                    crate::commands::eval::probe::active_units(&codes, dim) as f64,
                ));
                let acc = crate::commands::eval::probe::one_nn_accuracy(
                    model.as_ref(),
                    &run.data,
                    &codes,
                    dim,
                    batch,
                    &run.device,
                )?;
                if let Some(acc) = acc {
                    rows.push(("codes/1nn_test_accuracy".to_string(), acc));
                }
            }
            // Last: the moving average replaces the parameters for good.
            if run.average.is_some() && rows.iter().any(|(k, _)| k.starts_with("quality/")) {
                run.use_average()?;
                println!("quality_ema/*: the same samples from the parameters' moving average (train.ema)");
                let averaged = quality_rows(&args, &run.cfg, &run.data, |n, rng| {
                    drawn(model.as_ref(), n, rng)
                })?;
                rows.extend(
                    averaged
                        .into_iter()
                        .filter(|(k, _)| k != "quality/is_test")
                        .map(|(k, v)| (k.replacen("quality/", "quality_ema/", 1), v)),
                );
            }
            (rows, "epoch")
        }
    };
    println!(
        "{} ({}, {} done)",
        dir.display(),
        run.cfg.family,
        crate::train::plural(run.pos.epoch, unit)
    );
    // Per-dimension series (`vae/kl_dim_NN`) as one line: eval.json keeps every value.
    let per_dim: Vec<f64> = rows
        .iter()
        .filter(|(k, _)| k.starts_with("vae/kl_dim_"))
        .map(|(_, v)| *v)
        .collect();
    for (name, v) in rows.iter().filter(|(k, _)| !k.starts_with("vae/kl_dim_")) {
        match reference(name, &rows) {
            Some(r) => println!("  {name:<28} {v:.6}  ({r})"),
            None => println!("  {name:<28} {v:.6}"),
        }
    }
    if !per_dim.is_empty() {
        let max = per_dim.iter().copied().fold(f64::MIN, f64::max);
        let min = per_dim.iter().copied().fold(f64::MAX, f64::min);
        println!(
            "  {:<28} {} values from {min:.4} to {max:.4} (each in eval.json)",
            format!("vae/kl_dim_00..{:02}", per_dim.len() - 1),
            per_dim.len()
        );
    }
    let json = serde_json::json!({
        "family": run.cfg.family,
        "epoch": run.pos.epoch,
        "conditions": conditions(&args, &run, &rows, importance_samples),
        "metrics": rows.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
    });
    let path = dir.join("eval.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    write_events(dir, &rows, &histograms, run.pos.step)?;
    println!("written to {}", path.display());
    Ok(())
}

/// What a figure is judged against, for the table: its best value, or what the test set
/// itself scores.
fn reference(name: &str, rows: &[(String, f64)]) -> Option<String> {
    let value = |k: &str| rows.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    Some(
        match name.replacen("quality_ema/", "quality/", 1).as_str() {
            "quality/fd" | "quality/class_kl" => "0 at best".into(),
            "quality/precision" | "quality/recall" => "1 at best".into(),
            "quality/is" => format!("the test images score {:.2}", value("quality/is_test")?),
            "nll/importance" => format!(
                "-ELBO {:.3}; the bound tightens with K",
                value("loss/test")?
            ),
            _ => return None,
        },
    )
}

/// How the figures were measured, for `gen compare` to line up only like with like: the
/// importance samples K and the quality samples N where such figures were computed, the
/// examples each side held (a subset shows here), and the binary's version.
fn conditions(
    args: &EvalArgs,
    run: &crate::run::loader::LoadedRun,
    rows: &[(String, f64)],
    importance_samples: usize,
) -> serde_json::Value {
    let has = |prefix: &str| rows.iter().any(|(k, _)| k.starts_with(prefix));
    serde_json::json!({
        "importance_samples": has("nll/importance").then_some(importance_samples),
        "quality_samples": has("quality/").then_some(args.quality_samples),
        "data": run.data.info.name,
        "train_examples": run.data.train.n,
        "test_examples": run.data.test.n,
        "gen_version": env!("CARGO_PKG_VERSION"),
    })
}

/// The figures as scalars of `RUN_DIR/eval/` at the run's last step: TensorBoard shows
/// them beside the training curves and its HParams tab takes them as the run's metrics
/// (group `eval`), with per-example figures as histograms. Each evaluation adds an event
/// file.
fn write_events(
    dir: &std::path::Path,
    rows: &[(String, f64)],
    histograms: &[(String, Vec<f64>)],
    step: u64,
) -> Result<()> {
    let eval_dir = dir.join("eval");
    std::fs::create_dir_all(&eval_dir)
        .with_context(|| format!("creating {}", eval_dir.display()))?;
    let mut w = gen_tensorboard::SummaryWriter::create(&eval_dir)?;
    for (name, v) in rows {
        w.add_scalar(name, *v, step)?;
    }
    for (name, values) in histograms {
        let h = gen_tensorboard::Histogram::from_values(values.iter().copied());
        w.add_histogram(name, &h, step)?;
    }
    Ok(w.flush()?)
}
