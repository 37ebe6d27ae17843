//! The 2-D convolution and its transpose.

use crate::vars::{Init, Vb};
use candle_core::{Result, Tensor, Var};
use gen_kernels::Activation;

/// A 2-D (transposed) convolution with a bias over `(B, C, H, W)`, square kernels, one
/// group; initialized like PyTorch (uniform in +-1/sqrt(fan_in), fan_in = in channels x
/// k x k). On the CPU it runs on gen-kernels' gemm-based im2col/col2im kernels.
#[derive(Clone)]
pub struct Conv2d {
    /// `(out, in, k, k)`, or `(in, out, k, k)` when transposed (PyTorch's layouts).
    pub weight: Var,
    pub bias: Var,
    pub stride: usize,
    pub pad: usize,
    pub transposed: bool,
}

impl Conv2d {
    /// A convolution of `shape = (c_in, c_out, k)`, `k x k` kernels: `vb.weight` and
    /// `vb.bias`.
    pub fn new(vb: &Vb, shape: (usize, usize, usize), stride: usize, pad: usize) -> Result<Self> {
        Self::build(vb, shape, stride, pad, false)
    }

    /// The transposed convolution (up-sampling) of the same arguments.
    pub fn transposed(
        vb: &Vb,
        shape: (usize, usize, usize),
        stride: usize,
        pad: usize,
    ) -> Result<Self> {
        Self::build(vb, shape, stride, pad, true)
    }

    fn build(
        vb: &Vb,
        (c_in, c_out, k): (usize, usize, usize),
        stride: usize,
        pad: usize,
        transposed: bool,
    ) -> Result<Self> {
        let fan_in = if transposed { c_out } else { c_in } * k * k;
        let bound = Init::Uniform(1.0 / (fan_in as f64).sqrt());
        let shape = if transposed {
            (c_in, c_out, k, k)
        } else {
            (c_out, c_in, k, k)
        };
        let weight = vb.var(shape, "weight", bound)?;
        let bias = vb.var(c_out, "bias", bound)?;
        Ok(Conv2d {
            weight,
            bias,
            stride,
            pad,
            transposed,
        })
    }

    /// `act(conv(x) + bias)`; on the CPU the bias and the activation ride along with the
    /// product's change of layout (one pass each way).
    pub fn forward_act(&self, x: &Tensor, act: Activation) -> Result<Tensor> {
        let (s, p) = (self.stride, self.pad);
        if gen_kernels::fused::fusable(x) {
            let (w, b) = (&self.weight, &self.bias);
            return if self.transposed {
                gen_kernels::fused::conv_transpose2d_bias_act(x, w, b, (s, p), act)
            } else {
                gen_kernels::fused::conv2d_bias_act(x, w, b, (s, p), act)
            };
        }
        let y = if self.transposed {
            x.conv_transpose2d(&self.weight, p, 0, s, 1)?
        } else {
            x.conv2d(&self.weight, p, s, 1, 1)?
        };
        let c = self.bias.dim(0)?;
        act.apply(&y.broadcast_add(&self.bias.reshape((1, c, 1, 1))?)?)
    }
}

impl candle_nn::Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_act(x, Activation::Identity)
    }
}
