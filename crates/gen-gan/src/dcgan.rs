//! The DCGAN pair for 28x28 images (Radford et al.'s recipe at MNIST size): a generator
//! of transposed convolutions with batch norm and ReLU, a discriminator of strided
//! convolutions with LeakyReLU (no batch norm, so PacGAN packing stays a plain channel
//! stack). Weights start from N(0, 0.02), as the DCGAN paper does.

use candle_core::{Result, Tensor, Var};
use gen_core::kernels::fused;
use gen_core::kernels::Activation::{self, Identity, LeakyRelu, Tanh};
use gen_nn::norm::{BatchNorm, BatchNormed, Pass};
use gen_nn::vars::{Init, Vb};

/// Channels of the generator's 7x7 base and of its 14x14 stage (the discriminator mirrors them).
pub(crate) const BASE: usize = 128;
pub(crate) const MID: usize = 64;

/// DCGAN's weights: N(mean, 0.02).
pub(crate) fn normal(mean: f64) -> Init {
    Init::Normal { mean, std: 0.02 }
}

const ZERO: Init = Init::Const(0.0);

/// A (transposed) convolution with a bias; kernel 4, stride 2, padding 1 (halves or
/// doubles height and width).
pub(crate) struct Conv {
    weight: Var,
    bias: Var,
    transposed: bool,
}

impl Conv {
    pub(crate) fn new(vb: &Vb, c_in: usize, c_out: usize, transposed: bool) -> Result<Self> {
        // conv2d kernels are (out, in, k, k); transposed ones (in, out, k, k).
        let shape = if transposed {
            [c_in, c_out, 4, 4]
        } else {
            [c_out, c_in, 4, 4]
        };
        Ok(Conv {
            weight: vb.var(&shape, "weight", normal(0.0))?,
            bias: vb.var(c_out, "bias", ZERO)?,
            transposed,
        })
    }

    /// `act(conv(x) + bias)`; `frozen`: with the parameters detached (no gradients for
    /// them, as in the other player's steps).
    pub(crate) fn forward(&self, x: &Tensor, act: Activation, frozen: bool) -> Result<Tensor> {
        let (weight, bias) = params(&self.weight, &self.bias, frozen);
        let (weight, bias) = (&weight, &bias);
        // On the CPU, the gemm-based convolutions of gen-kernels with the bias and the
        // activation fused (candle's transposed one is a direct loop); elsewhere candle's.
        if fused::fusable(x) {
            let (w, b) = (weight, bias);
            return if self.transposed {
                fused::conv_transpose2d_bias_act(x, w, b, (2, 1), act)
            } else {
                fused::conv2d_bias_act(x, w, b, (2, 1), act)
            };
        }
        let y = if self.transposed {
            x.conv_transpose2d(weight, 1, 0, 2, 1)?
        } else {
            x.conv2d(weight, 1, 2, 1, 1)?
        };
        let c = bias.dim(0)?;
        act.apply(&y.broadcast_add(&bias.reshape((1, c, 1, 1))?)?)
    }
}

/// A layer's weight and bias as tensors: detached when `frozen`.
fn params(weight: &Var, bias: &Var, frozen: bool) -> (Tensor, Tensor) {
    if frozen {
        (weight.as_tensor().detach(), bias.as_tensor().detach())
    } else {
        (weight.as_tensor().clone(), bias.as_tensor().clone())
    }
}

/// A dense layer `x W + b` with `W` as (in, out).
pub(crate) struct Dense {
    weight: Var,
    bias: Var,
}

impl Dense {
    pub(crate) fn new(vb: &Vb, fan_in: usize, fan_out: usize) -> Result<Self> {
        Ok(Dense {
            weight: vb.var((fan_in, fan_out), "weight", normal(0.0))?,
            bias: vb.var(fan_out, "bias", ZERO)?,
        })
    }

    pub(crate) fn forward(&self, x: &Tensor, frozen: bool) -> Result<Tensor> {
        let (weight, bias) = params(&self.weight, &self.bias, frozen);
        if fused::fusable(x) && x.rank() == 2 {
            return fused::linear_act(x, &weight, &bias, Identity);
        }
        x.matmul(&weight)?.broadcast_add(&bias)
    }
}

/// The generator's conv stages, shared by the conv pairs: a dense output `(B, 128 * 49)`
/// -> 128x7x7, BN, ReLU -> transposed conv to 64x14x14, BN, ReLU -> transposed conv to
/// 1x28x28, tanh (pixels in [-1, 1]); returned flat, `(B, 784)`.
pub(crate) struct Upsampler {
    bn0: BatchNorm,
    up1: Conv,
    bn1: BatchNorm,
    up2: Conv,
}

impl Upsampler {
    /// Parameters `bn0`, `up1`, `bn1`, `up2` under `vb`, batch-norm averages under `buffers`.
    pub(crate) fn new(vb: &Vb, buffers: &Vb) -> Result<Self> {
        Ok(Upsampler {
            bn0: BatchNorm::new(&vb.pp("bn0"), &buffers.pp("bn0"), BASE, normal(1.0))?,
            up1: Conv::new(&vb.pp("up1"), BASE, MID, true)?,
            bn1: BatchNorm::new(&vb.pp("bn1"), &buffers.pp("bn1"), MID, normal(1.0))?,
            up2: Conv::new(&vb.pp("up2"), MID, 1, true)?,
        })
    }

    pub(crate) fn forward_pass(&self, projected: &Tensor, pass: Pass) -> Result<Tensor> {
        let b = projected.dim(0)?;
        let h = projected.reshape((b, BASE, 7, 7))?;
        let h = self.bn0.forward_pass(&h, pass)?.relu()?;
        let h = self
            .bn1
            .forward_pass(&self.up1.forward(&h, Identity, false)?, pass)?
            .relu()?;
        self.up2.forward(&h, Tanh, false)?.reshape((b, 784))
    }
}

/// z -> dense to 128x7x7 -> the [`Upsampler`]'s conv stages; returned flat, `(B, 784)`.
pub struct Generator {
    project: Dense,
    stages: Upsampler,
}

impl Generator {
    /// Trained parameters under `vb` (`project`, then the stages' `bn0`, `up1`, `bn1`,
    /// `up2`), batch-norm averages under `buffers`.
    pub fn new(vb: &Vb, buffers: &Vb, latent: usize) -> Result<Self> {
        Ok(Generator {
            project: Dense::new(&vb.pp("project"), latent, BASE * 49)?,
            stages: Upsampler::new(vb, buffers)?,
        })
    }
}

impl BatchNormed for Generator {
    fn forward_pass(&self, z: &Tensor, pass: Pass) -> candle_core::Result<Tensor> {
        self.stages
            .forward_pass(&self.project.forward(z, false)?, pass)
    }
}

/// Packed images `(B, pack * 784)` -> (pack x 28 x 28) -> conv to 64x14x14, LeakyReLU ->
/// conv to 128x7x7, LeakyReLU -> dense to one logit.
pub struct Discriminator {
    down1: Conv,
    down2: Conv,
    out: Dense,
    pack: usize,
}

impl Discriminator {
    /// Parameters under `vb`: `down1`, `down2`, `out`.
    pub fn new(vb: &Vb, pack: usize) -> Result<Self> {
        Ok(Discriminator {
            down1: Conv::new(&vb.pp("down1"), pack, MID, false)?,
            down2: Conv::new(&vb.pp("down2"), MID, BASE, false)?,
            out: Dense::new(&vb.pp("out"), BASE * 49, 1)?,
            pack,
        })
    }

    /// The logits; `frozen`: with the parameters detached (the generator's steps, which
    /// need the gradient with respect to the input only).
    pub fn forward(&self, packed: &Tensor, frozen: bool) -> Result<Tensor> {
        let b = packed.dim(0)?;
        let h = self
            .down1
            .forward(&packed.reshape((b, self.pack, 28, 28))?, LeakyRelu, frozen)?;
        let h = self.down2.forward(&h, LeakyRelu, frozen)?;
        self.out.forward(&h.reshape((b, BASE * 49))?, frozen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use gen_core::Rng;

    /// The DCGAN pair's shapes: 784 pixels in [-1, 1] (both signs) per sample, one logit per
    /// pack.
    #[test]
    fn shapes_and_ranges() {
        let vb = Vb::new(Rng::new(3), DType::F32, &Device::Cpu);
        let buffers = Vb::new(Rng::new(3), DType::F32, &Device::Cpu);
        let g = Generator::new(&vb.pp("g"), &buffers.pp("g"), 8).unwrap();
        let d = Discriminator::new(&vb.pp("d"), 2).unwrap();
        let mut rng = vb.rng();
        let z = rng.randn((4, 8), DType::F32, &Device::Cpu).unwrap();
        let x = g.forward_pass(&z, Pass::Frozen).unwrap();
        assert_eq!(x.dims(), &[4, 784]);
        let v: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        assert!(v.iter().all(|p| (-1.0..=1.0).contains(p)));
        assert!(v.iter().any(|p| *p < 0.0) && v.iter().any(|p| *p > 0.0));
        let logits = d.forward(&x.reshape((2, 2 * 784)).unwrap(), false).unwrap();
        assert_eq!(logits.dims(), &[2, 1]);
    }
}
