//! Priors over the weights, and the KL of a diagonal-Gaussian posterior against them.

use candle_core::{Result, Tensor};
use gen_dist::loss::logsumexp_keepdim;
use serde::{Deserialize, Serialize};

const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

/// `P(θ)`, the same for every weight.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum WeightPrior {
    /// `N(0, sigma^2)`.
    Gaussian { sigma: f64 },
    /// `pi N(0, sigma1^2) + (1 - pi) N(0, sigma2^2)` with `sigma1 > sigma2`: a wide
    /// component and a narrow one near zero (Blundell et al.'s choice).
    ScaleMixture { pi: f64, sigma1: f64, sigma2: f64 },
}

/// `log N(w; 0, sigma^2)` element-wise.
fn log_normal(w: &Tensor, sigma: f64) -> Result<Tensor> {
    (w.sqr()? * (-0.5 / (sigma * sigma)))? - (sigma.ln() + HALF_LN_2PI)
}

impl WeightPrior {
    /// The same prior for gen-kernels' fused KL.
    pub fn fused(&self) -> gen_core::kernels::fused::Prior {
        use gen_core::kernels::fused::Prior;
        match *self {
            WeightPrior::Gaussian { sigma } => Prior::Gaussian { sigma },
            WeightPrior::ScaleMixture { pi, sigma1, sigma2 } => {
                Prior::ScaleMixture { pi, sigma1, sigma2 }
            }
        }
    }

    /// `KL(N(mean, softplus(rho)^2) || P)` summed over every element, as [`WeightPrior::kl`]
    /// (the mixture's estimate at `w = mean + softplus(rho) eps`), in one fused pass on the
    /// CPU.
    pub fn kl_rho(&self, mean: &Tensor, rho: &Tensor, eps: &Tensor) -> Result<Tensor> {
        if gen_core::kernels::fused::fusable(mean) {
            return gen_core::kernels::fused::weight_kl(mean, rho, eps, self.fused());
        }
        let sigma = gen_core::adversarial::softplus(rho)?;
        let w = (mean + (&sigma * eps)?)?;
        self.kl(mean, &sigma, &w)
    }

    /// `log P(w)` element-wise.
    pub fn log_prob(&self, w: &Tensor) -> Result<Tensor> {
        match *self {
            WeightPrior::Gaussian { sigma } => log_normal(w, sigma),
            WeightPrior::ScaleMixture { pi, sigma1, sigma2 } => {
                // log(pi N1 + (1 - pi) N2), as a log-sum-exp over the two components.
                let a = (log_normal(w, sigma1)? + pi.ln())?;
                let b = (log_normal(w, sigma2)? + (1.0 - pi).ln())?;
                let both = Tensor::stack(&[&a, &b], 0)?;
                logsumexp_keepdim(&both, 0)?.squeeze(0)
            }
        }
    }

    /// `KL(N(mean, sigma^2) || P)` summed over every element: in closed form for the
    /// Gaussian prior, and for the mixture (which has none) the one-draw Monte-Carlo
    /// estimate `log q(w) - log P(w)` at the posterior sample `w` (Blundell et al.'s), which
    /// is unbiased and carries gradients through the sample.
    pub fn kl(&self, mean: &Tensor, sigma: &Tensor, w: &Tensor) -> Result<Tensor> {
        match *self {
            WeightPrior::Gaussian { sigma: s } => {
                // log(s / sigma) + (sigma^2 + mean^2) / (2 s^2) - 1/2
                let ratio = (sigma.log()?.neg()? + s.ln())?;
                let spread = ((sigma.sqr()? + mean.sqr()?)? * (0.5 / (s * s)))?;
                ((ratio + spread)? - 0.5)?.sum_all()
            }
            WeightPrior::ScaleMixture { .. } => {
                let z = ((w - mean)? / sigma)?;
                let log_q = ((z.sqr()? * -0.5)? - (sigma.log()? + HALF_LN_2PI)?)?;
                (log_q - self.log_prob(w)?)?.sum_all()
            }
        }
    }
}
