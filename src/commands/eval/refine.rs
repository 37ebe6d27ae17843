//! `gen eval --refine STEPS`: every test example's Gaussian `p(z|x)` fitted on its own with
//! the decoder frozen, and Cremer et al.'s decomposition of the inference gap,
//! `log p(x) - ELBO[q] = (log p(x) - ELBO[q*]) + (ELBO[q*] - ELBO[q])`: approximation gap
//! plus amortization gap.

use crate::cli::RefineArgs;
use crate::run::progress::EvalProgress;
use crate::run::session::Session;
use anyhow::Result;
use gen_core::{Model, RefineOptions, Rng};
use gen_dist::local_vi::LocalViOptions;

/// Test examples fitted together (their optimizations are independent; a chunk shares the
/// stopping rule and the gemms).
const CHUNK: usize = 500;
/// Noise of the fits (fixed, so `gen eval --refine` is repeatable).
const REFINE_SEED: u64 = 0x0C7_5EED;
/// One importance sample costs about a quarter of an optimizer step (a forward pass against
/// a forward, a backward and the comparisons), for the progress bar's estimate.
const IS_PER_STEP: usize = 4;

/// The figures (`refine/*`) and per-example ELBOs (for histograms) of a refinement.
pub struct Decomposition {
    pub rows: Vec<(String, f64)>,
    pub histograms: Vec<(String, Vec<f64>)>,
    /// Per test example: `-ELBO[q]` (NaN without an encoder), `-ELBO[q*]`, `-log p(x)`.
    pub per_example: Vec<[f64; 3]>,
}

/// Where the per-example figures go, in the run directory.
pub const PER_EXAMPLE_FILE: &str = "refine.npy";

impl Decomposition {
    /// `RUN_DIR/refine.npy`: an N x 3 float64 array, one row per test example in the data
    /// set's order, columns `-ELBO[q]`, `-ELBO[q*]`, `-log p(x)` (nats).
    pub fn write(&self, dir: &std::path::Path) -> Result<std::path::PathBuf> {
        let path = dir.join(PER_EXAMPLE_FILE);
        let flat: Vec<f64> = self.per_example.iter().flatten().copied().collect();
        let bytes = gen_data::npy::encode_f64(self.per_example.len(), 3, &flat);
        std::fs::write(&path, bytes)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        Ok(path)
    }
}

/// Refines every test example, or `None` when the model has no Gaussian latent to fit.
pub fn run(
    model: &dyn Model,
    session: &Session,
    args: &RefineArgs,
    importance_samples: usize,
) -> Result<Option<Decomposition>> {
    if !(args.refine_lr > 0.0 && args.refine_lr.is_finite()) {
        anyhow::bail!(
            "--refine-lr must be a positive number, got {}",
            args.refine_lr
        );
    }
    let options = RefineOptions {
        vi: LocalViOptions::new(args.refine, args.refine_lr),
        from: args.refine_from.into(),
        importance_samples,
    };
    let n = session.data.test.n;
    let per_example = args.refine + importance_samples.div_ceil(IS_PER_STEP);
    let bar = EvalProgress::labelled("refining", "example-steps", (n * per_example) as u64);
    let mut rng = Rng::new(REFINE_SEED);
    let (mut amortized, mut refined, mut nll) = (Some(vec![]), vec![], vec![]);
    let mut steps = 0.0;
    for start in (0..n).step_by(CHUNK) {
        let idx: Vec<usize> = (start..(start + CHUNK).min(n)).collect();
        let rows = idx.len();
        let batch = session.test_batch(&idx)?;
        let mut on_steps = |k: usize| bar.inc((k * rows) as u64);
        let Some(r) = model.refine(&batch, &options, &mut rng, &mut on_steps)? else {
            bar.finish();
            return Ok(None);
        };
        bar.inc((importance_samples.div_ceil(IS_PER_STEP) * rows) as u64);
        match (&mut amortized, r.amortized) {
            (Some(all), Some(a)) => all.extend(a),
            _ => amortized = None,
        }
        refined.extend(r.refined);
        nll.extend(r.nll);
        steps += (r.steps * rows) as f64;
    }
    bar.finish();
    Ok(Some(decompose(amortized, refined, nll, steps / n as f64)))
}

/// Means over the test set, in nats; gaps are differences of per-example figures.
fn decompose(
    amortized: Option<Vec<f64>>,
    refined: Vec<f64>,
    nll: Vec<f64>,
    steps: f64,
) -> Decomposition {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let diff = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a - b).collect::<Vec<_>>();
    let mut rows = vec![];
    let mut histograms = vec![];
    if let Some(a) = &amortized {
        rows.push(("refine/neg_elbo_amortized".to_string(), mean(a)));
    }
    rows.push(("refine/neg_elbo_refined".to_string(), mean(&refined)));
    rows.push(("refine/nll".to_string(), mean(&nll)));
    // log p(x) - ELBO[q*] = -ELBO[q*] - (-log p(x)).
    rows.push((
        "refine/approximation_gap".to_string(),
        mean(&diff(&refined, &nll)),
    ));
    if let Some(a) = &amortized {
        rows.push((
            "refine/amortization_gap".to_string(),
            mean(&diff(a, &refined)),
        ));
        rows.push(("refine/inference_gap".to_string(), mean(&diff(a, &nll))));
        histograms.push((
            "refine/elbo_amortized".to_string(),
            a.iter().map(|v| -v).collect(),
        ));
    }
    histograms.push((
        "refine/elbo_refined".to_string(),
        refined.iter().map(|v| -v).collect(),
    ));
    rows.push(("refine/steps".to_string(), steps));
    let per_example = (0..refined.len())
        .map(|i| {
            let a = amortized.as_ref().map_or(f64::NAN, |a| a[i]);
            [a, refined[i], nll[i]]
        })
        .collect();
    Decomposition {
        rows,
        histograms,
        per_example,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_gaps_add_up_to_the_inference_gap() {
        let d = decompose(
            Some(vec![100.0, 90.0]),
            vec![98.0, 89.0],
            vec![97.0, 88.5],
            12.0,
        );
        let get = |k: &str| d.rows.iter().find(|(n, _)| n == k).unwrap().1;
        assert_eq!(get("refine/amortization_gap"), 1.5);
        assert_eq!(get("refine/approximation_gap"), 0.75);
        assert_eq!(get("refine/inference_gap"), 2.25);
        assert_eq!(get("refine/steps"), 12.0);
        assert_eq!(d.histograms[0].1, vec![-100.0, -90.0]);
        assert_eq!(d.per_example[1], [90.0, 89.0, 88.5]);
    }
}
