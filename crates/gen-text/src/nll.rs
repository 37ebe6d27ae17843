//! `gen eval`'s likelihood figures for text: the importance-sampled bound on `log q(x)`
//! (Burda et al.), `log (1/K) sum_k q(x|z_k) q(z_k) / p(z_k|x)` with `z_k ~ p(z|x)`, per
//! example and per character; the language model's likelihood is exact.

use crate::model::TextVae;
use crate::nets::counted;
use candle_core::{DType, Tensor};
use gen_core::objective::scalar;
use gen_core::{Result, Rng};
use gen_dist::dist::DiagGaussian;

/// Importance samples decoded in one pass (rows of `L` characters over the vocabulary).
const CHUNK: usize = 128;

impl TextVae {
    /// Per-example estimates of `log q(x)` with `k` importance samples each, for id rows `x`
    /// (exact for the language model).
    pub fn log_likelihood(&self, x: &Tensor, k: usize, rng: &mut Rng) -> Result<Vec<f64>> {
        let Some(q) = self.posterior(x)? else {
            let nll = self.nll(None, x, None)?;
            return Ok(nll.neg()?.to_dtype(DType::F64)?.to_vec1()?);
        };
        let n = q.mean.dim(0)?;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let one = |t: &Tensor, m: usize| -> candle_core::Result<Tensor> {
                let row = t.narrow(0, i, 1)?;
                row.broadcast_as((m, row.dim(1)?))?.contiguous()
            };
            let mut log_w: Vec<f64> = Vec::with_capacity(k);
            for start in (0..k).step_by(CHUNK) {
                let m = CHUNK.min(k - start);
                let post = DiagGaussian::new(one(&q.mean, m)?, one(&q.logvar, m)?);
                let z = post.rsample(rng)?;
                let xs = one(x, m)?;
                let nll = self.nll(Some(&z), &xs, None)?;
                let prior = DiagGaussian::standard_like(&z)?;
                let w = ((prior.log_prob(&z)? - post.log_prob(&z)?)? - nll)?;
                log_w.extend(w.to_dtype(DType::F64)?.to_vec1::<f64>()?);
            }
            let max = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mean = log_w.iter().map(|w| (w - max).exp()).sum::<f64>() / k as f64;
            out.push(max + mean.ln());
        }
        Ok(out)
    }

    /// `nll/importance` (or `nll/exact` for the language model), nats per example, and
    /// `nll/per_char`, the batch's nats over its characters (end tokens counted).
    pub(crate) fn likelihood_rows(
        &self,
        x: &Tensor,
        k: usize,
        rng: &mut Rng,
    ) -> Result<Vec<(String, f64)>> {
        let ll = self.log_likelihood(x, k, rng)?;
        let nll = -ll.iter().sum::<f64>() / ll.len().max(1) as f64;
        let chars = scalar(&counted(x)?.mean_all()?)?;
        let name = match self.encoder {
            Some(_) => "nll/importance",
            None => "nll/exact",
        };
        Ok(vec![
            (name.to_string(), nll),
            ("nll/per_char".to_string(), nll / chars.max(1.0)),
        ])
    }
}
