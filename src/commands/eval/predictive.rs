//! What `gen eval` and `gen predict` do with a model that predicts labels or targets (the
//! `bnn` family): its Monte-Carlo predictive over many inputs, the figures of
//! `gen_metrics::calibration`, the reliability diagram and the out-of-distribution check.

use crate::run::config::RunConfig;
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use gen_core::model::{Model, Prediction};
use gen_core::objective::values;
use gen_core::Rng;
use gen_data::{Dataset, Split};
use gen_metrics::calibration::{self, ClassScores};

/// The predictive at many inputs, gathered on the host.
pub enum Predictions {
    /// Class probabilities, `classes` per input.
    Classes { probs: Vec<f64>, classes: usize },
    /// A Gaussian per target: means and variances, `targets` per input.
    Values {
        mean: Vec<f64>,
        variance: Vec<f64>,
        targets: usize,
    },
}

/// Noise of the predictive's weight draws (fixed, so `gen eval` and `gen predict` repeat).
const PREDICT_SEED: u64 = 0x5EED_9BED;

/// The model's predictive at every row of `x` (`dim` values each), `batch` rows at a time
/// with a progress bar; `None` if the model does not predict.
pub fn predict_rows(
    model: &dyn Model,
    x: &[f32],
    dim: usize,
    batch: usize,
    device: &Device,
) -> Result<Option<Predictions>> {
    let n = x.len() / dim.max(1);
    let mut rng = Rng::new(PREDICT_SEED);
    let bar = crate::run::progress::EvalProgress::new(n as u64);
    let mut out: Option<Predictions> = None;
    for start in (0..n).step_by(batch.max(1)) {
        let end = (start + batch).min(n);
        let rows = Tensor::from_slice(&x[start * dim..end * dim], (end - start, dim), device)?;
        let Some(p) = model.predict(&rows, &mut rng)? else {
            return Ok(None);
        };
        match (&mut out, p) {
            (None, Prediction::Classes(p)) => {
                out = Some(Predictions::Classes {
                    classes: p.dim(1)?,
                    probs: values(&p)?,
                })
            }
            (None, Prediction::Values { mean, variance }) => {
                out = Some(Predictions::Values {
                    targets: mean.dim(1)?,
                    mean: values(&mean)?,
                    variance: values(&variance)?,
                })
            }
            (Some(Predictions::Classes { probs, .. }), Prediction::Classes(p)) => {
                probs.extend(values(&p)?)
            }
            (
                Some(Predictions::Values { mean, variance, .. }),
                Prediction::Values {
                    mean: m,
                    variance: v,
                },
            ) => {
                mean.extend(values(&m)?);
                variance.extend(values(&v)?);
            }
            _ => bail!("the model changed the kind of its predictions between batches"),
        }
        bar.inc((end - start) as u64);
    }
    bar.finish();
    Ok(out)
}

/// The predictive over a split.
fn predict_split(
    model: &dyn Model,
    split: &Split,
    batch: usize,
    device: &Device,
) -> Result<Option<Predictions>> {
    predict_rows(model, &split.x, split.dim, batch, device)
}

/// `gen eval`'s predictive figures, and for a classifier its scores (for the reliability
/// diagram); `None` if the model does not predict.
pub struct PredictiveEval {
    pub rows: Vec<(String, f64)>,
    pub classes: Option<ClassScores>,
}

/// Test error, NLL, Brier score and ECE (classifiers) or RMSE, NLL and 95% coverage
/// (regressors) of the predictive on the test set; with `ood`, the AUROC of predictive
/// entropy separating that data set's test images (positive) from this one's.
pub fn evaluate(
    model: &dyn Model,
    cfg: &RunConfig,
    data: &Dataset,
    ood: Option<&str>,
    device: &Device,
) -> Result<Option<PredictiveEval>> {
    let batch = cfg.train.eval_batch_size;
    let Some(p) = predict_split(model, &data.test, batch, device)? else {
        if let Some(name) = ood {
            bail!("--ood {name}: `{}` does not predict labels, so it has no predictive entropy to test", cfg.family);
        }
        return Ok(None);
    };
    let mut rows = vec![];
    let mut classes = None;
    match &p {
        Predictions::Classes { probs, classes: k } => {
            let labels = data
                .test
                .labels
                .as_deref()
                .context("the test set has no labels")?;
            let s = calibration::classification(probs, *k, labels);
            rows.extend([
                ("predictive/error".to_string(), s.error),
                ("predictive/nll".to_string(), s.nll),
                ("predictive/brier".to_string(), s.brier),
                ("predictive/ece".to_string(), s.ece),
            ]);
            let inside = calibration::entropies(probs, *k);
            rows.push(("predictive/entropy".to_string(), mean(&inside)));
            if let Some(name) = ood {
                let other = load_ood(name, cfg, data)?;
                let Some(Predictions::Classes {
                    probs: q,
                    classes: k2,
                }) = predict_split(model, &other.test, batch, device)?
                else {
                    bail!("the model gave no class probabilities on `{name}`");
                };
                let outside = calibration::entropies(&q, k2);
                rows.push((format!("ood/{name}/entropy"), mean(&outside)));
                rows.push((
                    format!("ood/{name}/auroc"),
                    calibration::auroc(&outside, &inside),
                ));
            }
            classes = Some(s);
        }
        Predictions::Values {
            mean: m,
            variance,
            targets,
        } => {
            if let Some(name) = ood {
                bail!("--ood {name}: the out-of-distribution check is for classifiers (their predictive entropy); this model is a regression");
            }
            let y = data
                .test
                .targets
                .as_deref()
                .context("the test set has no targets")?;
            let y: Vec<f64> = y.iter().map(|&v| v as f64).collect();
            let s = calibration::regression(m, variance, &y, *targets);
            rows.extend([
                ("predictive/rmse".to_string(), s.rmse),
                ("predictive/nll".to_string(), s.nll),
                ("predictive/coverage_95".to_string(), s.coverage_95),
            ]);
        }
    }
    Ok(Some(PredictiveEval { rows, classes }))
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The test set of the data set `name` (`--ood`), with this run's pixel settings; an error
/// if its inputs differ in shape from the model's.
fn load_ood(name: &str, cfg: &RunConfig, data: &Dataset) -> Result<Dataset> {
    let mut ood = crate::run::setup::data_config_named(name, "--ood")?;
    ood.pixels = cfg.data.pixels;
    ood.binarize_seed = cfg.data.binarize_seed;
    ood.validate()
        .map_err(|e| anyhow::anyhow!("--ood {name}: {e}"))?;
    let other =
        crate::run::setup::load_data_config(&ood).with_context(|| format!("--ood {name}"))?;
    if other.test.dim != data.test.dim {
        bail!(
            "--ood {name}: its examples have {} values and this model's inputs {}; compare data sets of the same shape (e.g. mnist and fashion-mnist)",
            other.test.dim,
            data.test.dim
        );
    }
    Ok(other)
}
