//! The DCGAN pair for 28x28 images (Radford et al.'s recipe at MNIST size): a generator
//! of transposed convolutions with batch norm and ReLU, a discriminator of strided
//! convolutions with LeakyReLU (no batch norm, so PacGAN packing stays a plain channel
//! stack). Weights start from N(0, 0.02), as the DCGAN paper does.

use candle_core::{Result, Tensor, Var};
use gen_core::vars::{Init, Vb};

/// Channels of the generator's 7x7 base and of its 14x14 stage (the discriminator mirrors them).
const BASE: usize = 128;
const MID: usize = 64;

/// DCGAN's weights: N(mean, 0.02).
fn normal(mean: f64) -> Init {
    Init::Normal { mean, std: 0.02 }
}

const ZERO: Init = Init::Const(0.0);

/// Batch normalization over (batch, height, width) per channel. Training uses the batch's
/// statistics and updates running averages (momentum 0.1); evaluation uses the averages.
pub struct BatchNorm2d {
    gamma: Var,
    beta: Var,
    running_mean: Var,
    running_var: Var,
}

impl BatchNorm2d {
    /// `vb.gamma`, `vb.beta` trained; `buffers.running_mean`, `buffers.running_var` saved.
    fn new(vb: &Vb, buffers: &Vb, c: usize) -> Result<Self> {
        Ok(BatchNorm2d {
            gamma: vb.var(c, "gamma", normal(1.0))?,
            beta: vb.var(c, "beta", ZERO)?,
            running_mean: buffers.var(c, "running_mean", ZERO)?,
            running_var: buffers.var(c, "running_var", Init::Const(1.0))?,
        })
    }

    /// `update`: in training, also move the running averages toward this batch.
    fn forward(&self, x: &Tensor, train: bool, update: bool) -> Result<Tensor> {
        let c = x.dim(1)?;
        let shape = (1, c, 1, 1);
        // Means over (batch, height, width) as reductions over contiguous trailing dims.
        let per_channel = |t: &Tensor| -> Result<Tensor> {
            t.mean_keepdim(3)?
                .mean_keepdim(2)?
                .mean_keepdim(0)?
                .flatten_all()
        };
        if train {
            if update {
                let mean = per_channel(&x.detach())?;
                let var = per_channel(&x.detach().broadcast_sub(&mean.reshape(shape)?)?.sqr()?)?;
                let m = (self.running_mean.as_tensor() * 0.9)?.add(&(mean * 0.1)?)?;
                let v = (self.running_var.as_tensor() * 0.9)?.add(&(var * 0.1)?)?;
                self.running_mean.set(&m)?;
                self.running_var.set(&v)?;
            }
            if gen_core::kernels::fused::fusable(x) {
                return gen_core::kernels::fused::batch_norm(x, &self.gamma, &self.beta, 1e-5);
            }
            let mean = per_channel(x)?;
            let xc = x.broadcast_sub(&mean.reshape(shape)?)?;
            let inv = (per_channel(&xc.sqr()?)? + 1e-5)?.sqrt()?.recip()?;
            let scale = (self.gamma.as_tensor() * inv)?.reshape(shape)?;
            return xc
                .broadcast_mul(&scale)?
                .broadcast_add(&self.beta.reshape(shape)?);
        }
        let inv = (self.running_var.as_tensor() + 1e-5)?.sqrt()?.recip()?;
        let scale = (self.gamma.as_tensor() * inv)?.reshape(shape)?;
        x.broadcast_sub(&self.running_mean.reshape(shape)?)?
            .broadcast_mul(&scale)?
            .broadcast_add(&self.beta.reshape(shape)?)
    }
}

/// A (transposed) convolution with a bias; kernel 4, stride 2, padding 1 (halves or
/// doubles height and width).
struct Conv {
    weight: Var,
    bias: Var,
    transposed: bool,
}

impl Conv {
    fn new(vb: &Vb, c_in: usize, c_out: usize, transposed: bool) -> Result<Self> {
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

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // On the CPU, the gemm-based convolutions of gen-core (candle's transposed one is
        // a direct loop); elsewhere candle's.
        let fused = gen_core::kernels::fused::fusable(x);
        let y = match (self.transposed, fused) {
            (true, true) => gen_core::kernels::fused::conv_transpose2d(x, &self.weight, 2, 1)?,
            (true, false) => x.conv_transpose2d(&self.weight, 1, 0, 2, 1)?,
            (false, true) => gen_core::kernels::fused::conv2d(x, &self.weight, 2, 1)?,
            (false, false) => x.conv2d(&self.weight, 1, 2, 1, 1)?,
        };
        if fused {
            return gen_core::kernels::fused::channel_bias(&y, &self.bias);
        }
        let c = self.bias.dim(0)?;
        y.broadcast_add(&self.bias.reshape((1, c, 1, 1))?)
    }
}

/// A dense layer `x W + b` with `W` as (in, out).
struct Dense {
    weight: Var,
    bias: Var,
}

impl Dense {
    fn new(vb: &Vb, fan_in: usize, fan_out: usize) -> Result<Self> {
        Ok(Dense {
            weight: vb.var((fan_in, fan_out), "weight", normal(0.0))?,
            bias: vb.var(fan_out, "bias", ZERO)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.weight)?.broadcast_add(&self.bias)
    }
}

/// z -> dense to 128x7x7 -> BN, ReLU -> transposed conv to 64x14x14 -> BN, ReLU ->
/// transposed conv to 1x28x28 -> tanh (pixels in [-1, 1]); returned flat, `(B, 784)`.
pub struct Generator {
    project: Dense,
    bn0: BatchNorm2d,
    up1: Conv,
    bn1: BatchNorm2d,
    up2: Conv,
}

impl Generator {
    /// Trained parameters under `vb` (`project`, `bn0`, `up1`, `bn1`, `up2`), batch-norm
    /// averages under `buffers`.
    pub fn new(vb: &Vb, buffers: &Vb, latent: usize) -> Result<Self> {
        Ok(Generator {
            project: Dense::new(&vb.pp("project"), latent, BASE * 49)?,
            bn0: BatchNorm2d::new(&vb.pp("bn0"), &buffers.pp("bn0"), BASE)?,
            up1: Conv::new(&vb.pp("up1"), BASE, MID, true)?,
            bn1: BatchNorm2d::new(&vb.pp("bn1"), &buffers.pp("bn1"), MID)?,
            up2: Conv::new(&vb.pp("up2"), MID, 1, true)?,
        })
    }

    /// `train`: batch statistics (and, with `update`, running averages); else running averages.
    pub fn forward(&self, z: &Tensor, train: bool, update: bool) -> Result<Tensor> {
        let b = z.dim(0)?;
        let h = self.project.forward(z)?.reshape((b, BASE, 7, 7))?;
        let h = self.bn0.forward(&h, train, update)?.relu()?;
        let h = self
            .bn1
            .forward(&self.up1.forward(&h)?, train, update)?
            .relu()?;
        self.up2.forward(&h)?.tanh()?.reshape((b, 784))
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

    pub fn forward(&self, packed: &Tensor) -> Result<Tensor> {
        let b = packed.dim(0)?;
        let leaky = |t: Tensor| t.maximum(&(&t * 0.2)?);
        let h = leaky(
            self.down1
                .forward(&packed.reshape((b, self.pack, 28, 28))?)?,
        )?;
        let h = leaky(self.down2.forward(&h)?)?;
        self.out.forward(&h.reshape((b, BASE * 49))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use gen_core::Rng;

    /// Batch norm in training mode: every channel of the output has mean beta and
    /// variance gamma^2 * v / (v + eps) over (batch, height, width); the running averages
    /// move 10% toward the batch's statistics.
    #[test]
    fn batch_norm_normalizes_each_channel() {
        let vb = Vb::new(Rng::new(1), DType::F64, &Device::Cpu);
        let buffers = Vb::new(Rng::new(1), DType::F64, &Device::Cpu);
        let bn = BatchNorm2d::new(&vb.pp("bn"), &buffers.pp("bn"), 3).unwrap();
        let x = ((Rng::new(2)
            .randn((4, 3, 5, 5), DType::F64, &Device::Cpu)
            .unwrap()
            * 3.0)
            .unwrap()
            + 7.0)
            .unwrap();
        let y = bn.forward(&x, true, true).unwrap();
        let gamma: Vec<f64> = bn.gamma.as_tensor().to_vec1().unwrap();
        for c in 0..3 {
            let yc: Vec<f64> = y
                .narrow(1, c, 1)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let xc: Vec<f64> = x
                .narrow(1, c, 1)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let n = yc.len() as f64;
            let (mx, my) = (xc.iter().sum::<f64>() / n, yc.iter().sum::<f64>() / n);
            let vx = xc.iter().map(|v| (v - mx).powi(2)).sum::<f64>() / n;
            let vy = yc.iter().map(|v| (v - my).powi(2)).sum::<f64>() / n;
            assert!(my.abs() < 1e-12, "channel {c} mean {my}");
            let want = gamma[c] * gamma[c] * vx / (vx + 1e-5);
            assert!(
                (vy - want).abs() < 1e-9 * want,
                "channel {c}: {vy} vs {want}"
            );
            let rm: Vec<f64> = bn.running_mean.as_tensor().to_vec1().unwrap();
            assert!((rm[c] - 0.1 * mx).abs() < 1e-12);
        }
    }

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
        let x = g.forward(&z, true, false).unwrap();
        assert_eq!(x.dims(), &[4, 784]);
        let v: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        assert!(v.iter().all(|p| (-1.0..=1.0).contains(p)));
        assert!(v.iter().any(|p| *p < 0.0) && v.iter().any(|p| *p > 0.0));
        let logits = d.forward(&x.reshape((2, 2 * 784)).unwrap()).unwrap();
        assert_eq!(logits.dims(), &[2, 1]);
    }
}
