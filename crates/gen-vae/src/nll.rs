//! The importance-sampled bound on log q(x) (Burda et al.'s IWAE bound),
//! `log q(x) >= E[log (1/k) sum_i q(x|z_i) q(z_i) / p(z_i|x)]` with `z_i ~ p(z|x)`,
//! which tightens as k grows and equals the ELBO at k = 1; with k = 5000 it is the standard
//! estimate of a VAE's negative log-likelihood on MNIST.

use crate::model::Vae;
use crate::prior::Components;
use candle_core::{DType, Tensor};
use gen_core::{Result, Rng};
use gen_dist::dist::DiagGaussian;

/// Importance samples decoded in one forward pass.
const CHUNK: usize = 500;

impl Vae {
    /// Per-example importance-sampled estimates of `log q(x)` with `k` samples each, for
    /// rows `x` (already in the model's dtype and device).
    pub fn log_likelihood_is(&self, x: &Tensor, k: usize, rng: &mut Rng) -> Result<Vec<f64>> {
        self.log_likelihood_is_given(x, None, k, rng)
    }

    /// The same for the conditional VAE, `log q(x|y)` with classes `y` one-hot.
    pub fn log_likelihood_is_given(
        &self,
        x: &Tensor,
        y: Option<&Tensor>,
        k: usize,
        rng: &mut Rng,
    ) -> Result<Vec<f64>> {
        let post = self.posterior_given(x, y)?;
        self.log_likelihood_is_with(&post, x, y, k, rng)
    }

    /// The estimates with `post` (rows aligned with `x`) as the proposal instead of the
    /// encoder's `p(z|x)`: any Gaussian per example gives a bound, the closer to the true
    /// posterior the tighter.
    ///
    /// Two examples at a time, one on each thread (the spinning helper of gen-kernels),
    /// each decoding its `k` samples in chunks of [`CHUNK`] rows: a chunk's products are
    /// large enough to run near the gemm's rate on one thread, so whole examples to each
    /// thread leave nothing to synchronize. The noise is drawn on this thread first, in
    /// the order of one example after another, so the estimates do not depend on the
    /// thread count.
    pub fn log_likelihood_is_with(
        &self,
        post: &DiagGaussian,
        x: &Tensor,
        y: Option<&Tensor>,
        k: usize,
        rng: &mut Rng,
    ) -> Result<Vec<f64>> {
        assert!(k >= 1);
        let (n, latent) = post.mean.dims2()?;
        // A learned prior's components once (the VampPrior's encode K pseudo-inputs).
        let prior = self.prior_components()?.map(|c| c.detach());
        let mut out = vec![0f64; n];
        for first in (0..n).step_by(2) {
            let pair = 2.min(n - first);
            let noise: Vec<Vec<Tensor>> = (0..pair)
                .map(|_| {
                    (0..k)
                        .step_by(CHUNK)
                        .map(|start| {
                            let m = CHUNK.min(k - start);
                            rng.randn((m, latent), post.mean.dtype(), post.mean.device())
                        })
                        .collect::<candle_core::Result<Vec<_>>>()
                })
                .collect::<candle_core::Result<_>>()?;
            let slots: Vec<std::sync::Mutex<Option<Result<f64>>>> =
                (0..pair).map(|_| std::sync::Mutex::new(None)).collect();
            let one = |j: usize| {
                let r = self.log_mean_weight(post, x, y, first + j, &noise[j], prior.as_ref());
                *slots[j].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            };
            if pair == 2 {
                gen_core::kernels::spin::join_parts(0, 1, one);
            } else {
                one(0);
            }
            for (j, slot) in slots.into_iter().enumerate() {
                let r = slot.into_inner().unwrap_or_else(|e| e.into_inner());
                out[first + j] = r.expect("each example's estimate is computed")?;
            }
        }
        Ok(out)
    }

    /// `log (1/k) sum_i w_i` for example `i` of `x`, with its proposal's noise `eps` in
    /// chunks (`k` rows in all).
    fn log_mean_weight(
        &self,
        post: &DiagGaussian,
        x: &Tensor,
        y: Option<&Tensor>,
        i: usize,
        eps: &[Tensor],
        prior: Option<&Components>,
    ) -> Result<f64> {
        let latent = post.mean.dim(1)?;
        let xi = x.narrow(0, i, 1)?;
        let yi = y.map(|y| y.narrow(0, i, 1)).transpose()?;
        let (mean, logvar) = (post.mean.narrow(0, i, 1)?, post.logvar.narrow(0, i, 1)?);
        let mut log_w: Vec<f64> = Vec::with_capacity(eps.len() * CHUNK);
        for e in eps {
            let m = e.dim(0)?;
            let q = DiagGaussian::new(
                mean.broadcast_as((m, latent))?.contiguous()?,
                logvar.broadcast_as((m, latent))?.contiguous()?,
            );
            let z = q.rsample_with(e)?.detach();
            let log_prior = match prior {
                Some(c) => c.log_density(&z)?,
                None => DiagGaussian::standard_like(&z)?.log_prob(&z)?,
            };
            let xs = xi.broadcast_as((m, xi.dim(1)?))?.contiguous()?;
            let ys = yi
                .as_ref()
                .map(|yi| yi.broadcast_as((m, yi.dim(1)?))?.contiguous())
                .transpose()?;
            let log_lik = self.log_likelihood(&self.decoder_output_given(&z, ys.as_ref())?, &xs)?;
            let w = ((log_lik + log_prior)? - q.log_prob(&z)?)?;
            log_w.extend(w.to_dtype(DType::F64)?.to_vec1::<f64>()?);
        }
        Ok(log_mean_exp(&log_w))
    }
}

/// `log((1/k) sum_i exp(a_i))`, stable for any values.
pub fn log_mean_exp(a: &[f64]) -> f64 {
    let max = a.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    max + (a.iter().map(|v| (v - max).exp()).sum::<f64>() / a.len() as f64).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_mean_exp_is_stable() {
        assert!((log_mean_exp(&[0.0, 0.0]) - 0.0).abs() < 1e-15);
        let v = log_mean_exp(&[-1000.0, -1000.0 + 2f64.ln()]);
        assert!((v - (-1000.0 + 1.5f64.ln())).abs() < 1e-12, "{v}");
    }
}
