//! `gen eval --refine`: each test example's Gaussian fitted on its own with the decoder
//! frozen, against the encoder's amortized answer (the amortization gap).

use crate::model::Vae;
use candle_core::{DType, Tensor};
use gen_core::model::{Batch, RefineOptions, RefineStart, Refinement};
use gen_core::{Result, Rng};
use gen_dist::dist::DiagGaussian;
use gen_dist::local_vi::{self, draws, neg_elbo};

impl Vae {
    /// The per-example bounds before and after fitting each example's Gaussian (the
    /// encoder's, or the prior when `options.from` says so, is the start).
    pub fn refine_batch(
        &self,
        batch: &Batch,
        options: &RefineOptions,
        rng: &mut Rng,
        on_steps: &mut dyn FnMut(usize),
    ) -> Result<Refinement> {
        let x = self.frame.input(batch)?;
        let y = self.condition(batch)?;
        let nll_at =
            |z: &Tensor| self.neg_log_likelihood(&self.decoder_output_given(z, y.as_ref())?, &x);
        // A free model (no encoder) starts at the prior and has no amortized bound.
        let encoder = match self.local {
            Some(_) => None,
            None => {
                let q = self.posterior_given(&x, y.as_ref())?;
                Some(DiagGaussian::new(q.mean.detach(), q.logvar.detach()))
            }
        };
        let start = match (&encoder, options.from) {
            (Some(q), RefineStart::Encoder) => q.clone(),
            _ => self.prior_rows(&x)?,
        };
        // The amortized bound on the fit's own comparison draws (the fit's generator makes
        // them first), so `refined <= amortized` holds row by row when the fit starts there.
        let fixed = draws(
            &start.mean,
            options.vi.track_samples.max(1),
            &mut rng.clone(),
        )?;
        let amortized = encoder
            .map(|q| to_vec(&neg_elbo(&q, &fixed, &nll_at)?))
            .transpose()?;
        let fit = local_vi::fit(&start, &nll_at, &options.vi, rng, on_steps)?;
        let ll =
            self.log_likelihood_is_with(&fit.q, &x, y.as_ref(), options.importance_samples, rng)?;
        Ok(Refinement {
            amortized,
            refined: fit.neg_elbo,
            nll: ll.iter().map(|v| -v).collect(),
            steps: fit.steps,
        })
    }
}

impl Vae {
    /// The prior N(0, I) once per row of `x`: where fits without an encoder start.
    pub(crate) fn prior_rows(&self, x: &Tensor) -> Result<DiagGaussian> {
        let zeros = Tensor::zeros((x.dim(0)?, self.cfg.latent), x.dtype(), x.device())?;
        Ok(DiagGaussian::standard_like(&zeros)?)
    }
}

fn to_vec(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.detach().to_dtype(DType::F64)?.to_vec1()?)
}
