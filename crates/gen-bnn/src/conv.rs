//! A 2-D convolution whose kernels and biases have a diagonal-Gaussian posterior.

use crate::layer::{variance, Draw};
use candle_core::{Result, Tensor, Var};
use gen_core::adversarial::softplus;
use gen_core::kernels::fused;
use gen_core::vars::{Init, Vb};
use gen_core::Rng;

/// `conv(x, W) + b` (stride 1) with `W ~ N(mu_w, softplus(rho_w)^2)` and `b` likewise;
/// parameters `vb.weight_mu`, `vb.weight_rho` (`(out, in, k, k)`), `vb.bias_mu`,
/// `vb.bias_rho`.
pub struct BayesConv {
    pub weight_mu: Var,
    pub weight_rho: Var,
    pub bias_mu: Var,
    pub bias_rho: Var,
    pub pad: usize,
}

/// `x` convolved with `w` (stride 1), on gen-kernels' gemm-based kernel on the CPU.
pub fn conv(x: &Tensor, w: &Tensor, pad: usize) -> Result<Tensor> {
    if fused::fusable(x) {
        fused::conv2d(x, w, 1, pad)
    } else {
        x.conv2d(w, pad, 1, 1, 1)
    }
}

/// `y + b` with one bias per channel of `(B, C, H, W)`.
pub fn add_channel_bias(y: &Tensor, b: &Tensor) -> Result<Tensor> {
    if fused::fusable(y) {
        return fused::channel_bias(y, b);
    }
    y.broadcast_add(&b.reshape((1, b.dim(0)?, 1, 1))?)
}

impl BayesConv {
    /// Means as PyTorch starts them (uniform in ±1/sqrt(in k k)); every rho at `rho_init`.
    pub fn new(vb: &Vb, c_in: usize, c_out: usize, k: usize, pad: usize, rho: f64) -> Result<Self> {
        let bound = Init::Uniform(1.0 / ((c_in * k * k) as f64).sqrt());
        let shape = (c_out, c_in, k, k);
        Ok(BayesConv {
            weight_mu: vb.var(shape, "weight_mu", bound)?,
            weight_rho: vb.var(shape, "weight_rho", Init::Const(rho))?,
            bias_mu: vb.var(c_out, "bias_mu", bound)?,
            bias_rho: vb.var(c_out, "bias_rho", Init::Const(rho))?,
            pad,
        })
    }

    /// The posterior variances `softplus(rho)^2` of the weights and the biases (one fused
    /// pass each way on the CPU).
    pub fn variances(&self) -> Result<(Tensor, Tensor)> {
        Ok((variance(&self.weight_rho)?, variance(&self.bias_rho)?))
    }

    pub fn sigmas(&self) -> Result<(Tensor, Tensor)> {
        Ok((softplus(&self.weight_rho)?, softplus(&self.bias_rho)?))
    }

    /// Kernels and biases drawn once (reparameterized).
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

    pub fn forward_with(&self, x: &Tensor, draw: &Draw) -> Result<Tensor> {
        add_channel_bias(&conv(x, &draw.weight, self.pad)?, &draw.bias)
    }

    /// The outputs' mean and variance under the posterior: `conv(x, mu) + mu_b` and
    /// `conv(x^2, sigma^2) + sigma_b^2` (every kernel entry independent).
    pub fn moments(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let (wv, bv) = self.variances()?;
        let mean = add_channel_bias(&conv(x, &self.weight_mu, self.pad)?, &self.bias_mu)?;
        let var = add_channel_bias(&conv(&x.sqr()?, &wv, self.pad)?, &bv)?;
        Ok((mean, var))
    }

    /// The local reparameterization: outputs drawn per example and position from their
    /// Gaussian. Each output's marginal is exact; the correlation between positions that
    /// share a kernel is dropped (as in Kingma et al. 2015's convolutional case), which
    /// only lowers the gradient's variance further.
    pub fn forward_local(&self, x: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        let (mean, var) = self.moments(x)?;
        let eps = rng.randn_fast(mean.shape(), mean.dtype(), mean.device())?;
        mean + (var.sqrt()? * eps)?
    }
}
