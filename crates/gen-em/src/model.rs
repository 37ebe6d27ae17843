//! `family: em` as a [`FitModel`]: restarts of EM, evaluation, pictures and state.

use crate::config::{CovarianceType, EmConfig};
use crate::estep::m_step;
use crate::fit;
use crate::init;
use crate::mixture::{cov_len, Mixture};
use candle_core::{Device, Tensor};
use gen_core::fit::{FitFamily, FitModel, FitObserver, FitOutcome, Points};
use gen_core::model::DataInfo;
use gen_core::{Error, KlDirection, Report, Result, Rng};
use gen_plot::picture::Picture;
use std::collections::HashMap;

pub struct GaussianMixtureEm {
    cfg: EmConfig,
    info: DataInfo,
    mixture: Option<Mixture>,
}

impl FitFamily for GaussianMixtureEm {
    type Config = EmConfig;

    fn new(cfg: EmConfig, info: &DataInfo) -> Self {
        GaussianMixtureEm {
            cfg,
            info: info.clone(),
            mixture: None,
        }
    }
}

impl GaussianMixtureEm {
    pub fn mixture(&self) -> Option<&Mixture> {
        self.mixture.as_ref()
    }

    fn fitted(&self) -> Result<&Mixture> {
        self.mixture
            .as_ref()
            .ok_or_else(|| Error::Msg("the mixture has not been fitted or loaded".into()))
    }

    /// The starting mixture of restart `r` and the responsibilities it came from.
    fn start(&self, train: &Points, rng: &mut Rng) -> Result<(Mixture, Option<Vec<f64>>)> {
        let (k, d) = (self.cfg.components, train.dim);
        if let Some(path) = &self.cfg.init_from {
            let state = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| {
                Error::Msg(format!(
                    "model.init_from: cannot read {}: {e}",
                    path.display()
                ))
            })?;
            let mix = mixture_from_state(&self.cfg, d, &state)
                .map_err(|e| Error::Msg(format!("model.init_from: {}: {e}", path.display())))?;
            return Ok((mix, None));
        }
        let resp = init::responsibilities(self.cfg.init, &train.x, k, d, rng);
        let mix = m_step(
            self.cfg.covariance,
            &train.x,
            &resp,
            k,
            d,
            self.cfg.reg_covar,
        )
        .map_err(|e| Error::Msg(format!("initialization: {e}")))?;
        Ok((mix, Some(resp)))
    }
}

impl FitModel for GaussianMixtureEm {
    fn direction(&self) -> KlDirection {
        KlDirection::Forward
    }

    fn fit(
        &mut self,
        train: &Points,
        test: &Points,
        rng: &mut Rng,
        observer: &mut dyn FitObserver,
    ) -> Result<FitOutcome> {
        let k = self.cfg.components;
        if train.n < k {
            return Err(Error::Msg(format!(
                "only {} training points for {k} components: EM needs at least one point per component \
                 (lower model.components)",
                train.n
            )));
        }
        if test.dim != train.dim {
            return Err(Error::Msg(format!(
                "test points have {} dimensions, training points {}",
                test.dim, train.dim
            )));
        }
        let mut best: Option<(fit::Restart, usize)> = None;
        for r in 0..self.cfg.n_init {
            let mut restart_rng = rng.fork();
            let (start, resp) = self.start(train, &mut restart_rng)?;
            let result = fit::run(&self.cfg, train, test, start, resp, r, observer)?;
            if !result.converged {
                observer.note(&format!(
                    "restart {} did not converge in {} iterations (last change of the mean log-likelihood \
                     above tol {}); raise model.max_iter or tol",
                    r + 1,
                    result.iterations,
                    self.cfg.tol
                ));
            }
            if best.as_ref().is_none_or(|(b, _)| result.loglik > b.loglik) {
                best = Some((result, r));
            }
        }
        let (best, best_restart) = best.expect("n_init >= 1");
        self.mixture = Some(best.mixture);
        Ok(FitOutcome {
            iterations: best.iterations,
            converged: best.converged,
            best_restart,
            restarts: self.cfg.n_init,
            train: self.evaluate(train)?,
        })
    }

    fn evaluate(&self, points: &Points) -> Result<Report> {
        let ll = fit::mean_loglik(self.fitted()?, points);
        Ok(fit::report(-ll, 0.0, vec![("loglik".into(), ll)]))
    }

    fn eval_table(&self, train: &Points, test: &Points) -> Result<Vec<(String, f64)>> {
        let mix = self.fitted()?;
        let (ll_train, ll_test) = (fit::mean_loglik(mix, train), fit::mean_loglik(mix, test));
        let p = mix.parameter_count() as f64;
        let n = train.n as f64;
        Ok(vec![
            ("loglik/train (per sample)".into(), ll_train),
            ("loglik/test (per sample)".into(), ll_test),
            ("BIC (train)".into(), -2.0 * ll_train * n + p * n.ln()),
            ("AIC (train)".into(), -2.0 * ll_train * n + 2.0 * p),
            ("parameters".into(), p),
        ])
    }

    fn pictures(&self, train: &Points, _test: &Points) -> Result<Vec<(String, Picture)>> {
        crate::pictures::pictures(self.fitted()?, &self.info, train)
    }

    fn parameter_count(&self) -> usize {
        crate::mixture::parameter_count(self.cfg.covariance, self.cfg.components, self.info.dim())
    }

    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let m = self.fitted()?;
        let (k, d) = (m.k, m.d);
        let cov_shape: Vec<usize> = match m.kind {
            CovarianceType::Full => vec![k, d, d],
            CovarianceType::Diag => vec![k, d],
            CovarianceType::Spherical => vec![k],
        };
        Ok(vec![
            (
                "weights".into(),
                Tensor::from_vec(m.weights.clone(), k, &Device::Cpu)?,
            ),
            (
                "means".into(),
                Tensor::from_vec(m.means.clone(), (k, d), &Device::Cpu)?,
            ),
            (
                "covariances".into(),
                Tensor::from_vec(m.covariances.clone(), cov_shape, &Device::Cpu)?,
            ),
        ])
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        let mix = mixture_from_state(&self.cfg, self.info.dim(), state).map_err(Error::State)?;
        self.mixture = Some(mix);
        Ok(())
    }

    fn sample(&self, n: usize, rng: &mut Rng) -> Result<Vec<f64>> {
        Ok(self.fitted()?.sample(n, rng))
    }

    fn resolved_config(&self) -> gen_core::yaml::Value {
        gen_core::yaml::to_value(&self.cfg).unwrap_or(gen_core::yaml::Value::Null)
    }
}

/// A mixture from `weights`, `means` and `covariances` tensors, checked against the
/// config's component count and covariance type and the data's dimension.
fn mixture_from_state(
    cfg: &EmConfig,
    d: usize,
    state: &HashMap<String, Tensor>,
) -> std::result::Result<Mixture, String> {
    let k = cfg.components;
    let get = |name: &str, want: usize| -> std::result::Result<Vec<f64>, String> {
        let t = state
            .get(name)
            .ok_or_else(|| format!("no `{name}` tensor (expected weights, means, covariances)"))?;
        let v: Vec<f64> = t
            .flatten_all()
            .and_then(|t| t.to_dtype(candle_core::DType::F64))
            .and_then(|t| t.to_vec1())
            .map_err(|e| format!("`{name}`: {e}"))?;
        if v.len() != want {
            return Err(format!(
                "`{name}` has {} values (shape {:?}); {k} components of dimension {d} with `{}` covariances need {want}",
                v.len(),
                t.dims(),
                gen_core::yaml::to_string(&cfg.covariance).unwrap_or_default().trim()
            ));
        }
        Ok(v)
    };
    let weights = get("weights", k)?;
    let means = get("means", k * d)?;
    let covariances = get("covariances", k * cov_len(cfg.covariance, d))?;
    if weights.iter().any(|w| w.is_nan() || *w <= 0.0) {
        return Err("every weight must be positive".into());
    }
    let total: f64 = weights.iter().sum();
    let weights = weights.iter().map(|w| w / total).collect();
    Mixture::new(cfg.covariance, d, weights, means, covariances)
}
