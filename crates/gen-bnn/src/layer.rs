//! A linear layer whose weights and biases have a diagonal-Gaussian posterior.

use crate::prior::WeightPrior;
use candle_core::{Result, Tensor, Var};
use gen_core::adversarial::softplus;
use gen_core::vars::{Init, Vb};
use gen_core::Rng;

/// `y = x W + b` with `W ~ N(mu_w, softplus(rho_w)^2)` and `b ~ N(mu_b, softplus(rho_b)^2)`,
/// element-wise independent. Parameters: `vb.weight_mu`, `vb.weight_rho`, `vb.bias_mu`,
/// `vb.bias_rho`.
pub struct BayesLinear {
    pub weight_mu: Var,
    pub weight_rho: Var,
    pub bias_mu: Var,
    pub bias_rho: Var,
}

/// One draw of a layer's weights and bias, with the scales they were drawn at.
pub struct Draw {
    pub weight: Tensor,
    pub bias: Tensor,
    pub weight_sigma: Tensor,
    pub bias_sigma: Tensor,
}

impl BayesLinear {
    /// Means as PyTorch's linear layer starts (uniform in ±1/sqrt(fan_in)); every `rho` at
    /// `rho_init` (Blundell et al.'s practice: about -5 to -4, so scales start near
    /// softplus(-5) = 0.0067).
    pub fn new(vb: &Vb, fan_in: usize, fan_out: usize, rho_init: f64) -> Result<Self> {
        let bound = Init::Uniform(1.0 / (fan_in as f64).sqrt());
        Ok(BayesLinear {
            weight_mu: vb.var((fan_in, fan_out), "weight_mu", bound)?,
            weight_rho: vb.var((fan_in, fan_out), "weight_rho", Init::Const(rho_init))?,
            bias_mu: vb.var(fan_out, "bias_mu", bound)?,
            bias_rho: vb.var(fan_out, "bias_rho", Init::Const(rho_init))?,
        })
    }

    /// The posterior scales `softplus(rho)` of the weights and the biases.
    /// The posterior variances `softplus(rho)^2` of the weights and the biases (one fused
    /// pass each way on the CPU).
    pub fn variances(&self) -> Result<(Tensor, Tensor)> {
        Ok((variance(&self.weight_rho)?, variance(&self.bias_rho)?))
    }

    pub fn sigmas(&self) -> Result<(Tensor, Tensor)> {
        Ok((softplus(&self.weight_rho)?, softplus(&self.bias_rho)?))
    }

    /// Weights and bias drawn once (reparameterized, so gradients reach mu and rho).
    pub fn draw(&self, rng: &mut Rng) -> Result<Draw> {
        let (weight_sigma, bias_sigma) = self.sigmas()?;
        let (dtype, device) = (self.weight_mu.dtype(), self.weight_mu.device());
        let ew = rng.randn_fast(self.weight_mu.shape(), dtype, device)?;
        let eb = rng.randn_fast(self.bias_mu.shape(), dtype, device)?;
        Ok(Draw {
            weight: (self.weight_mu.as_tensor() + (&weight_sigma * ew)?)?,
            bias: (self.bias_mu.as_tensor() + (&bias_sigma * eb)?)?,
            weight_sigma,
            bias_sigma,
        })
    }

    /// `x W + b` for one draw of the weights shared by the whole batch.
    pub fn forward_with(&self, x: &Tensor, draw: &Draw) -> Result<Tensor> {
        x.matmul(&draw.weight)?.broadcast_add(&draw.bias)
    }

    /// The pre-activations' mean and variance at inputs `x` under the posterior:
    /// `x mu_w + mu_b` and `x^2 sigma_w^2 + sigma_b^2` (independent weights).
    pub fn moments(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let (wv, bv) = self.variances()?;
        let mean = x.matmul(&self.weight_mu)?.broadcast_add(&self.bias_mu)?;
        let var = x.sqr()?.matmul(&wv)?.broadcast_add(&bv)?;
        Ok((mean, var))
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
        let out = (x.dim(0)?, self.bias_mu.dim(0)?);
        let eps = rng.randn_fast(out, x.dtype(), x.device())?;
        self.forward_local_with(x, &eps)
    }

    /// `KL(Q || P)` of this layer's weights and biases, at the draw `draw` where the prior
    /// needs a sample (the scale mixture).
    pub fn kl(&self, prior: &WeightPrior, draw: &Draw) -> Result<Tensor> {
        let w = prior.kl(&self.weight_mu, &draw.weight_sigma, &draw.weight)?;
        let b = prior.kl(&self.bias_mu, &draw.bias_sigma, &draw.bias)?;
        w + b
    }
}

/// `softplus(rho)^2`, fused on the CPU.
pub fn variance(rho: &Tensor) -> Result<Tensor> {
    if gen_core::kernels::fused::fusable(rho) {
        return gen_core::kernels::fused::softplus_sq(rho);
    }
    softplus(rho)?.sqr()
}
