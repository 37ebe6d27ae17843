//! A 2-D convolution whose kernels and biases have a diagonal-Gaussian posterior.

use crate::layer::Draw;
use crate::posterior::GaussianWeights;
use candle_core::{Result, Tensor};
use gen_core::kernels::fused;
use gen_core::Rng;
use gen_nn::vars::{Init, Vb};

/// `conv(x, W) + b` (stride 1) with kernels `W` (`(out, in, k, k)`) and biases `b`
/// [`GaussianWeights`] (`vb.weight_mu`, `vb.weight_rho`, `vb.bias_mu`, `vb.bias_rho`).
pub struct BayesConv {
    pub weight: GaussianWeights,
    pub bias: GaussianWeights,
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
    /// Means as PyTorch starts them (uniform in ±1/sqrt(in k k)); every rho at `rho`.
    pub fn new(vb: &Vb, c_in: usize, c_out: usize, k: usize, pad: usize, rho: f64) -> Result<Self> {
        let bound = Init::Uniform(1.0 / ((c_in * k * k) as f64).sqrt());
        Ok(BayesConv {
            weight: GaussianWeights::new(vb, (c_out, c_in, k, k), "weight", bound, rho)?,
            bias: GaussianWeights::new(vb, c_out, "bias", bound, rho)?,
            pad,
        })
    }

    /// Kernels and biases drawn once (reparameterized).
    pub fn draw(&self, rng: &mut Rng) -> Result<Draw> {
        Ok(Draw {
            weight: self.weight.draw(rng)?,
            bias: self.bias.draw(rng)?,
        })
    }

    pub fn forward_with(&self, x: &Tensor, draw: &Draw) -> Result<Tensor> {
        add_channel_bias(&conv(x, &draw.weight, self.pad)?, &draw.bias)
    }

    /// The outputs at the posterior means.
    pub fn forward_mean(&self, x: &Tensor) -> Result<Tensor> {
        add_channel_bias(&conv(x, &self.weight.mu, self.pad)?, &self.bias.mu)
    }

    /// The outputs' mean and variance under the posterior: `conv(x, mu) + mu_b` and
    /// `conv(x^2, sigma^2) + sigma_b^2` (every kernel entry independent).
    pub fn moments(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let var = add_channel_bias(
            &conv(&x.sqr()?, &self.weight.variance()?, self.pad)?,
            &self.bias.variance()?,
        )?;
        Ok((self.forward_mean(x)?, var))
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
