//! A linear layer whose weights and biases have a diagonal-Gaussian posterior.

use crate::posterior::GaussianWeights;
use candle_core::{Result, Tensor};
use gen_core::Rng;
use gen_nn::vars::{Init, Vb};

/// `y = x W + b` with `W` and `b` [`GaussianWeights`] (`vb.weight_mu`, `vb.weight_rho`,
/// `vb.bias_mu`, `vb.bias_rho`).
pub struct BayesLinear {
    pub weight: GaussianWeights,
    pub bias: GaussianWeights,
}

/// One draw of a layer's weights and bias.
pub struct Draw {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl BayesLinear {
    /// Means as PyTorch's linear layer starts (uniform in ±1/sqrt(fan_in)); every rho at
    /// `rho_init`.
    pub fn new(vb: &Vb, fan_in: usize, fan_out: usize, rho_init: f64) -> Result<Self> {
        let bound = Init::Uniform(1.0 / (fan_in as f64).sqrt());
        Ok(BayesLinear {
            weight: GaussianWeights::new(vb, (fan_in, fan_out), "weight", bound, rho_init)?,
            bias: GaussianWeights::new(vb, fan_out, "bias", bound, rho_init)?,
        })
    }

    /// Weights and bias drawn once (reparameterized).
    pub fn draw(&self, rng: &mut Rng) -> Result<Draw> {
        Ok(Draw {
            weight: self.weight.draw(rng)?,
            bias: self.bias.draw(rng)?,
        })
    }

    /// `x W + b` for one draw of the weights shared by the whole batch.
    pub fn forward_with(&self, x: &Tensor, draw: &Draw) -> Result<Tensor> {
        x.matmul(&draw.weight)?.broadcast_add(&draw.bias)
    }

    /// `x W + b` at the posterior means.
    pub fn forward_mean(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.weight.mu)?.broadcast_add(&self.bias.mu)
    }

    /// The pre-activations' mean and variance at inputs `x` under the posterior:
    /// `x mu_w + mu_b` and `x^2 sigma_w^2 + sigma_b^2` (independent weights).
    pub fn moments(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let var = x
            .sqr()?
            .matmul(&self.weight.variance()?)?
            .broadcast_add(&self.bias.variance()?)?;
        Ok((self.forward_mean(x)?, var))
    }

    /// The local reparameterization trick (Kingma, Salimans and Welling 2015): the
    /// pre-activations drawn from their Gaussian per example with noise `eps` (the output's
    /// shape), instead of drawing the weights: the same marginal per example, lower
    /// variance of the gradient, and one matrix product more instead of a weight draw.
    pub fn forward_local_with(&self, x: &Tensor, eps: &Tensor) -> Result<Tensor> {
        let (mean, var) = self.moments(x)?;
        mean + (var.sqrt()? * eps)?
    }

    pub fn forward_local(&self, x: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        let out = (x.dim(0)?, self.bias.mu.dim(0)?);
        let eps = rng.randn_fast(out, x.dtype(), x.device())?;
        self.forward_local_with(x, &eps)
    }
}
