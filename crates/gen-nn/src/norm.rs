//! Batch normalization (Ioffe and Szegedy 2015), for the players of the adversarial
//! families: DCGAN's generator, and MLP generators and encoders with `batch_norm: true`.

use crate::vars::{Init, Vb};
use candle_core::{Result, Tensor, Var};

/// How batch norm treats a forward pass. candle-nn's `ModuleT::forward_t(x, train)` has the
/// first and the last; a GAN also runs its generator on batch statistics without moving the
/// averages (the discriminator's turn, the old generator), so that one training pass per
/// iteration sets them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// The batch's statistics; running averages moved toward them.
    Train,
    /// The batch's statistics; averages left alone.
    Frozen,
    /// The running averages (evaluation and sampling).
    Eval,
}

impl From<bool> for Pass {
    /// `forward_t`'s `train` flag.
    fn from(train: bool) -> Self {
        if train {
            Pass::Train
        } else {
            Pass::Eval
        }
    }
}

/// A network with batch norm, run in one of the three [`Pass`]es (an MLP generator, the
/// DCGAN's).
pub trait BatchNormed {
    fn forward_pass(&self, x: &Tensor, pass: Pass) -> Result<Tensor>;
}

/// Batch normalization per channel: over (batch, height, width) of `(B, C, H, W)`, or
/// over the batch of `(B, C)` features. Training uses the batch's statistics and updates
/// running averages (momentum 0.1); evaluation uses the averages.
#[derive(Clone)]
pub struct BatchNorm {
    gamma: Var,
    beta: Var,
    running_mean: Var,
    running_var: Var,
}

impl BatchNorm {
    /// `vb.gamma` (starting from `gamma`: 1, or DCGAN's N(1, 0.02)), `vb.beta` trained;
    /// `buffers.running_mean`, `buffers.running_var` saved.
    pub fn new(vb: &Vb, buffers: &Vb, c: usize, gamma: Init) -> Result<Self> {
        Ok(BatchNorm {
            gamma: vb.var(c, "gamma", gamma)?,
            beta: vb.var(c, "beta", Init::Const(0.0))?,
            running_mean: buffers.var(c, "running_mean", Init::Const(0.0))?,
            running_var: buffers.var(c, "running_var", Init::Const(1.0))?,
        })
    }
}

impl BatchNormed for BatchNorm {
    fn forward_pass(&self, x: &Tensor, pass: Pass) -> Result<Tensor> {
        if x.rank() == 2 {
            let (b, c) = x.dims2()?;
            let y = self.forward_pass(&x.reshape((b, c, 1, 1))?, pass)?;
            return y.reshape((b, c));
        }
        let c = x.dim(1)?;
        let shape = (1, c, 1, 1);
        // Means over (batch, height, width) as reductions over contiguous trailing dims.
        let per_channel = |t: &Tensor| -> Result<Tensor> {
            t.mean_keepdim(3)?
                .mean_keepdim(2)?
                .mean_keepdim(0)?
                .flatten_all()
        };
        if pass != Pass::Eval {
            if pass == Pass::Train {
                let mean = per_channel(&x.detach())?;
                let var = per_channel(&x.detach().broadcast_sub(&mean.reshape(shape)?)?.sqr()?)?;
                let m = (self.running_mean.as_tensor() * 0.9)?.add(&(mean * 0.1)?)?;
                let v = (self.running_var.as_tensor() * 0.9)?.add(&(var * 0.1)?)?;
                self.running_mean.set(&m)?;
                self.running_var.set(&v)?;
            }
            if gen_kernels::fused::fusable(x) {
                return gen_kernels::fused::batch_norm(x, &self.gamma, &self.beta, 1e-5);
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

impl candle_nn::ModuleT for BatchNorm {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_pass(x, Pass::from(train))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use gen_base::Rng;

    /// Batch norm in training mode: every channel of the output has mean beta and
    /// variance gamma^2 * v / (v + eps) over (batch, height, width); the running averages
    /// move 10% toward the batch's statistics.
    #[test]
    fn batch_norm_normalizes_each_channel() {
        let vb = Vb::new(Rng::new(1), DType::F64, &Device::Cpu);
        let buffers = Vb::new(Rng::new(1), DType::F64, &Device::Cpu);
        let bn = BatchNorm::new(
            &vb.pp("bn"),
            &buffers.pp("bn"),
            3,
            Init::Normal {
                mean: 1.0,
                std: 0.02,
            },
        )
        .unwrap();
        let x = ((Rng::new(2)
            .randn((4, 3, 5, 5), DType::F64, &Device::Cpu)
            .unwrap()
            * 3.0)
            .unwrap()
            + 7.0)
            .unwrap();
        let y = bn.forward_pass(&x, Pass::Train).unwrap();
        let gamma: Vec<f64> = bn.gamma.as_tensor().to_vec1().unwrap();
        let channel = |t: &Tensor, c: usize| -> Vec<f64> {
            t.narrow(1, c, 1)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        for c in 0..3 {
            let (yc, xc) = (channel(&y, c), channel(&x, c));
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

    /// Rows of features are normalized per column, as one-pixel images would be.
    #[test]
    fn features_normalize_per_column() {
        let vb = Vb::new(Rng::new(1), DType::F64, &Device::Cpu);
        let buffers = Vb::new(Rng::new(1), DType::F64, &Device::Cpu);
        let bn = BatchNorm::new(&vb.pp("bn"), &buffers.pp("bn"), 3, Init::Const(1.0)).unwrap();
        let x = (Rng::new(2)
            .randn((50, 3), DType::F64, &Device::Cpu)
            .unwrap()
            * 4.0)
            .unwrap();
        let y = bn.forward_pass(&x, Pass::Frozen).unwrap();
        let as_images = bn
            .forward_pass(&x.reshape((50, 3, 1, 1)).unwrap(), Pass::Frozen)
            .unwrap();
        assert_eq!(y.dims(), &[50, 3]);
        let (a, b): (Vec<f64>, Vec<f64>) = (
            y.flatten_all().unwrap().to_vec1().unwrap(),
            as_images.flatten_all().unwrap().to_vec1().unwrap(),
        );
        assert_eq!(a, b);
        for c in 0..3 {
            let col: Vec<f64> = (0..50).map(|i| a[i * 3 + c]).collect();
            let m = col.iter().sum::<f64>() / 50.0;
            let v = col.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 50.0;
            assert!(
                m.abs() < 1e-12 && (v - 1.0).abs() < 1e-5,
                "column {c}: {m} {v}"
            );
        }
    }
}
