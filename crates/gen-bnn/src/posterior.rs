//! A tensor of weights with a diagonal-Gaussian posterior: the one piece every Bayesian
//! layer is made of.

use crate::prior::WeightPrior;
use candle_core::{Result, Shape, Tensor, Var};
use gen_core::adversarial::softplus;
use gen_core::kernels::fused;
use gen_core::Rng;
use gen_nn::vars::{Init, Vb};

/// `w ~ N(mu, softplus(rho)^2)`, element-wise independent; parameters `vb.<name>_mu` and
/// `vb.<name>_rho`.
pub struct GaussianWeights {
    pub mu: Var,
    pub rho: Var,
}

impl GaussianWeights {
    /// Means from `mean_init`; every rho at `rho_init` (Blundell et al.: about -5 to -4,
    /// scales near softplus(-5) = 0.0067).
    pub fn new(
        vb: &Vb,
        shape: impl Into<Shape>,
        name: &str,
        mean_init: Init,
        rho_init: f64,
    ) -> Result<Self> {
        let shape = shape.into();
        Ok(GaussianWeights {
            mu: vb.var(shape.clone(), &format!("{name}_mu"), mean_init)?,
            rho: vb.var(shape, &format!("{name}_rho"), Init::Const(rho_init))?,
        })
    }

    /// The posterior scales `softplus(rho)`.
    pub fn sigma(&self) -> Result<Tensor> {
        softplus(&self.rho)
    }

    /// The posterior variances `softplus(rho)^2`, one fused pass each way on the CPU.
    pub fn variance(&self) -> Result<Tensor> {
        if fused::fusable(&self.rho) {
            return fused::softplus_sq(&self.rho);
        }
        self.sigma()?.sqr()
    }

    /// `mu + softplus(rho) eps` for standard-normal noise `eps` (reparameterized: gradients
    /// reach mu and rho).
    pub fn draw_with(&self, eps: &Tensor) -> Result<Tensor> {
        self.mu.as_tensor() + (self.sigma()? * eps)?
    }

    pub fn draw(&self, rng: &mut Rng) -> Result<Tensor> {
        self.draw_with(&self.noise(rng)?)
    }

    fn noise(&self, rng: &mut Rng) -> Result<Tensor> {
        rng.randn_fast(self.mu.shape(), self.mu.dtype(), self.mu.device())
    }

    /// `KL(Q || P)` summed over the elements ([`WeightPrior::kl_rho`]): closed form for a
    /// Gaussian prior, for the scale mixture the estimate at `w = mu + softplus(rho) eps`.
    pub fn kl_with(&self, prior: &WeightPrior, eps: &Tensor) -> Result<Tensor> {
        prior.kl_rho(&self.mu, &self.rho, eps)
    }

    /// The KL with a fresh draw where the prior needs one.
    pub fn kl(&self, prior: &WeightPrior, rng: &mut Rng) -> Result<Tensor> {
        let eps = match prior {
            WeightPrior::Gaussian { .. } => self.mu.zeros_like()?, // the closed form reads none
            WeightPrior::ScaleMixture { .. } => self.noise(rng)?,
        };
        self.kl_with(prior, &eps)
    }
}
