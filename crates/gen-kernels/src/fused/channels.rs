//! Per-channel maps of `(B, C, H, W)` tensors with their backward passes: a bias add and
//! training-mode batch normalization. Composed from candle's broadcast ops, their
//! backward passes reduce over (batch, height, width) with candle's generic strided
//! reduction, which dominated a DCGAN step; here each direction is a few linear passes.

use super::data;
use super::linear::{act_grad, activate};
use crate::fastmath::KernelMath;
use crate::Activation;
use candle_core::{
    bail, CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor, WithDType,
};

/// `(B, C, H*W)` of a 4-D layout.
fn bchw(l: &Layout, op: &str) -> Result<(usize, usize, usize)> {
    match l.shape().dims() {
        &[b, c, h, w] => Ok((b, c, h * w)),
        d => bail!("{op}: expected (B, C, H, W), got {d:?}"),
    }
}

/// A tensor's values as f64 (for the backward passes, which are not the hot path's
/// arithmetic but its reductions).
fn values(t: &Tensor) -> Result<Vec<f64>> {
    t.to_dtype(DType::F64)?.flatten_all()?.to_vec1()
}

fn tensor_like(v: Vec<f64>, shape: &[usize], like: &Tensor) -> Result<Tensor> {
    Tensor::from_vec(v, shape, like.device())?.to_dtype(like.dtype())
}

/// `act(x + bias[c])`.
struct ChannelBias(Activation);

fn bias_fwd<T: WithDType + KernelMath>(
    act: Activation,
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
) -> Result<(CpuStorage, Shape)> {
    let (_, c, hw) = bchw(l1, "channel_bias")?;
    let (x, bias) = (
        data::<T>(s1, l1, "channel_bias")?,
        data::<T>(s2, l2, "channel_bias")?,
    );
    if bias.len() != c {
        bail!("channel_bias: {} biases for {c} channels", bias.len());
    }
    let mut out = vec![T::zero(); x.len()];
    // Whole images to each thread.
    crate::spin::fill_rows(&mut out, c * hw, x.len(), |first, part| {
        let x = &x[first * c * hw..];
        for (i, plane) in part.chunks_exact_mut(hw).enumerate() {
            let v = bias[i % c];
            plane.copy_from_slice(&x[i * hw..(i + 1) * hw]);
            plane.iter_mut().for_each(|o| *o += v);
            activate(plane, act);
        }
    });
    Ok((T::to_cpu_storage_owned(out), l1.shape().clone()))
}

/// The gradient through the activation, `(grad, output)` to `grad * act'(output)`.
struct ThroughAct(Activation);

fn through_fwd<T: WithDType + KernelMath>(
    act: Activation,
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
) -> Result<(CpuStorage, Shape)> {
    let (_, c, hw) = bchw(l1, "channel_bias backward")?;
    let (g, y) = (
        data::<T>(s1, l1, "channel_bias backward")?,
        data::<T>(s2, l2, "channel_bias backward")?,
    );
    let mut dpre = vec![T::zero(); g.len()];
    crate::spin::fill_rows(&mut dpre, c * hw, g.len(), |first, part| {
        let at = first * c * hw;
        let (g, y) = (&g[at..at + part.len()], &y[at..at + part.len()]);
        part.iter_mut()
            .zip(g.iter().zip(y))
            .for_each(|(d, (&g, &y))| *d = g * act_grad(act, y));
    });
    Ok((T::to_cpu_storage_owned(dpre), l1.shape().clone()))
}

impl CustomOp2 for ThroughAct {
    fn name(&self) -> &'static str {
        "channel_bias_backward"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        by_dtype!(
            s1,
            "channel_bias backward",
            through_fwd(self.0, s1, l1, s2, l2)
        )
    }
}

/// Per-channel sums of `(B, C, H, W)`: `(C,)`.
struct ChannelSum;

fn channel_sum_fwd<T: WithDType>(s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
    let (_, c, hw) = bchw(l, "channel_sum")?;
    let x = data::<T>(s, l, "channel_sum")?;
    let mut out = vec![T::zero(); c];
    for (i, plane) in x.chunks_exact(hw.max(1)).enumerate() {
        out[i % c] += plane.iter().fold(T::zero(), |a, &v| a + v);
    }
    Ok((T::to_cpu_storage_owned(out), Shape::from(c)))
}

impl candle_core::CustomOp1 for ChannelSum {
    fn name(&self) -> &'static str {
        "channel_sum"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        by_dtype!(s, "channel_sum", channel_sum_fwd(s, l))
    }
}

impl CustomOp2 for ChannelBias {
    fn name(&self) -> &'static str {
        "channel_bias"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        by_dtype!(s1, "channel_bias", bias_fwd(self.0, s1, l1, s2, l2))
    }
    fn bwd(
        &self,
        _x: &Tensor,
        _bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let dpre = if self.0 == Activation::Identity {
            grad
        } else {
            grad.apply_op2_no_bwd(res, &ThroughAct(self.0))?
        };
        let db = dpre.apply_op1_no_bwd(&ChannelSum)?;
        Ok((Some(dpre), Some(db)))
    }
}

/// `x + bias[c]` for `x: (B, C, H, W)`, `bias: (C,)`.
pub fn channel_bias(x: &Tensor, bias: &Tensor) -> Result<Tensor> {
    channel_bias_act(x, bias, Activation::Identity)
}

/// `act(x + bias[c])` for `x: (B, C, H, W)`, `bias: (C,)`, one pass each way.
pub fn channel_bias_act(x: &Tensor, bias: &Tensor, act: Activation) -> Result<Tensor> {
    x.contiguous()?
        .apply_op2(&bias.contiguous()?, ChannelBias(act))
}

/// Training-mode batch normalization: `gamma[c] * (x - mean_c) / sqrt(var_c + eps) +
/// beta[c]` with the batch's (biased) per-channel mean and variance.
struct BatchNorm {
    eps: f64,
}

/// Per-channel mean and biased variance over (batch, height, width).
fn channel_moments<T: WithDType>(
    x: &[T],
    (b, c, hw): (usize, usize, usize),
) -> (Vec<f64>, Vec<f64>) {
    let n = (b * hw) as f64;
    let (mut mean, mut var) = (vec![0.0; c], vec![0.0; c]);
    for (i, plane) in x.chunks_exact(hw).enumerate() {
        mean[i % c] += plane.iter().map(|v| v.to_f64()).sum::<f64>();
    }
    mean.iter_mut().for_each(|m| *m /= n);
    for (i, plane) in x.chunks_exact(hw).enumerate() {
        let m = mean[i % c];
        var[i % c] += plane.iter().map(|v| (v.to_f64() - m).powi(2)).sum::<f64>();
    }
    var.iter_mut().for_each(|v| *v /= n);
    (mean, var)
}

fn bn_fwd<T: WithDType>(
    eps: f64,
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    (s3, l3): (&CpuStorage, &Layout),
) -> Result<(CpuStorage, Shape)> {
    let dims = bchw(l1, "batch_norm")?;
    let c = dims.1;
    let x = data::<T>(s1, l1, "batch_norm")?;
    let (gamma, beta) = (
        data::<T>(s2, l2, "batch_norm")?,
        data::<T>(s3, l3, "batch_norm")?,
    );
    if gamma.len() != c || beta.len() != c {
        bail!(
            "batch_norm: {} / {} affine parameters for {c} channels",
            gamma.len(),
            beta.len()
        );
    }
    let (mean, var) = channel_moments(x, dims);
    let mut out = Vec::with_capacity(x.len());
    for (i, plane) in x.chunks_exact(dims.2).enumerate() {
        let ch = i % c;
        let scale = gamma[ch].to_f64() / (var[ch] + eps).sqrt();
        let shift = beta[ch].to_f64() - mean[ch] * scale;
        let (scale, shift) = (T::from_f64(scale), T::from_f64(shift));
        out.extend(plane.iter().map(|&v| v * scale + shift));
    }
    Ok((T::to_cpu_storage_owned(out), l1.shape().clone()))
}

impl CustomOp3 for BatchNorm {
    fn name(&self) -> &'static str {
        "batch_norm"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        match s1 {
            CpuStorage::F32(_) => bn_fwd::<f32>(self.eps, (s1, l1), (s2, l2), (s3, l3)),
            CpuStorage::F64(_) => bn_fwd::<f64>(self.eps, (s1, l1), (s2, l2), (s3, l3)),
            _ => bail!("batch_norm: only f32 and f64 are fused"),
        }
    }

    /// With `xh = (x - mean) / s`, `s = sqrt(var + eps)`, `N = B H W`:
    /// `dbeta = sum dy`, `dgamma = sum dy xh`, `dx = gamma / s * (dy - dbeta / N - xh dgamma / N)`.
    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (b, c, h, w) = x.dims4()?;
        let hw = h * w;
        let (xv, g, gm) = (values(x)?, values(grad)?, values(gamma)?);
        let (mean, var) = channel_moments(&xv, (b, c, hw));
        let s: Vec<f64> = var.iter().map(|v| (v + self.eps).sqrt()).collect();
        let (mut dbeta, mut dgamma) = (vec![0.0; c], vec![0.0; c]);
        for (i, (xp, gp)) in xv.chunks_exact(hw).zip(g.chunks_exact(hw)).enumerate() {
            let ch = i % c;
            for (xi, gi) in xp.iter().zip(gp) {
                dbeta[ch] += gi;
                dgamma[ch] += gi * (xi - mean[ch]) / s[ch];
            }
        }
        let n = (b * hw) as f64;
        let mut dx = Vec::with_capacity(xv.len());
        for (i, (xp, gp)) in xv.chunks_exact(hw).zip(g.chunks_exact(hw)).enumerate() {
            let ch = i % c;
            let k = gm[ch] / s[ch];
            dx.extend(xp.iter().zip(gp).map(|(xi, gi)| {
                let xh = (xi - mean[ch]) / s[ch];
                k * (gi - dbeta[ch] / n - xh * dgamma[ch] / n)
            }));
        }
        Ok((
            Some(tensor_like(dx, x.dims(), x)?),
            Some(tensor_like(dgamma, &[c], gamma)?),
            Some(tensor_like(dbeta, &[c], beta)?),
        ))
    }
}

/// Training-mode batch normalization of `x: (B, C, H, W)` with affine `gamma`, `beta`.
pub fn batch_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    x.contiguous()?
        .apply_op3(&gamma.contiguous()?, &beta.contiguous()?, BatchNorm { eps })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::testing::{check, var};
    use crate::testing::Rng;

    /// The bias with each activation, at a size that splits between the threads.
    #[test]
    fn bias_with_activation_matches_the_unfused_composition() {
        let mut rng = Rng::new(2);
        let x = var(&mut rng, (9, 16, 16, 16), 1.0, DType::F64);
        let bias = var(&mut rng, 16, 1.0, DType::F64);
        for act in [Activation::Relu, Activation::LeakyRelu, Activation::Tanh] {
            check(
                DType::F64,
                1e-12,
                &format!("channel_bias_act {act:?}"),
                &[x.clone(), bias.clone()],
                |t| channel_bias_act(&t[0], &t[1], act).unwrap(),
                |t| {
                    let y = t[0]
                        .broadcast_add(&t[1].reshape((1, 16, 1, 1)).unwrap())
                        .unwrap();
                    act.apply(&y).unwrap()
                },
            );
        }
    }

    /// Values and gradients against the composition of candle's broadcast ops.
    #[test]
    fn bias_and_batch_norm_match_the_unfused_composition() {
        let mut rng = Rng::new(1);
        let x = var(&mut rng, (3, 4, 5, 2), 2.0, DType::F64);
        let (gamma, beta) = (
            var(&mut rng, 4, 1.0, DType::F64),
            var(&mut rng, 4, 1.0, DType::F64),
        );
        let shape = (1, 4, 1, 1);
        check(
            DType::F64,
            1e-12,
            "channel_bias",
            &[x.clone(), beta.clone()],
            |t| channel_bias(&t[0], &t[1]).unwrap(),
            |t| t[0].broadcast_add(&t[1].reshape(shape).unwrap()).unwrap(),
        );
        let per_channel = |t: &Tensor| {
            t.mean_keepdim(3)
                .unwrap()
                .mean_keepdim(2)
                .unwrap()
                .mean_keepdim(0)
                .unwrap()
        };
        check(
            DType::F64,
            1e-10,
            "batch_norm",
            &[x, gamma, beta],
            |t| batch_norm(&t[0], &t[1], &t[2], 1e-5).unwrap(),
            |t| {
                let xc = t[0].broadcast_sub(&per_channel(&t[0])).unwrap();
                let sd = (per_channel(&xc.sqr().unwrap()) + 1e-5)
                    .unwrap()
                    .sqrt()
                    .unwrap();
                xc.broadcast_div(&sd)
                    .unwrap()
                    .broadcast_mul(&t[1].reshape(shape).unwrap())
                    .unwrap()
                    .broadcast_add(&t[2].reshape(shape).unwrap())
                    .unwrap()
            },
        );
    }
}
