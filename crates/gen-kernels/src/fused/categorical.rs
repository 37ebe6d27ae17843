//! The categorical negative log-likelihood of logits, per row, forward and backward in one
//! pass each: `lse(l_r) - l_r[t_r]`, and `g_r (softmax(l_r) - onehot(t_r))` back.
//!
//! Composed from candle's ops (log-softmax, gather, mask) a `(B L, V)` logit block over a
//! vocabulary of thousands is read and written about ten times each way, and the gather's
//! backward fills a zero block first; that was three quarters of a text VAE's step.

use super::{as_f32, as_f32_mut, data};
use crate::fastmath::KernelMath;
use candle_core::{bail, CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, WithDType};
use std::sync::Arc;

/// Rows whose target is `skip` (padding) cost 0 and get no gradient.
struct CategoricalNll {
    targets: Arc<Vec<u32>>,
    skip: Option<u32>,
}

/// `ln sum exp(l)` of a row, stabilized by its maximum (both in eight lanes, so the
/// compiler vectorizes them).
fn log_sum_exp<T: KernelMath>(row: &[T]) -> T {
    let chunks = row.chunks_exact(8);
    let tail = chunks.remainder();
    let mut lanes = [T::neg_infinity(); 8];
    for chunk in chunks {
        for j in 0..8 {
            lanes[j] = lanes[j].max(chunk[j]);
        }
    }
    let max = lanes
        .iter()
        .chain(tail)
        .copied()
        .fold(T::neg_infinity(), T::max);
    let chunks = row.chunks_exact(8);
    let mut sums = [T::zero(); 8];
    for chunk in chunks {
        for j in 0..8 {
            sums[j] = sums[j] + T::exp_k(chunk[j] - max);
        }
    }
    let sum = tail
        .iter()
        .fold(sums.iter().fold(T::zero(), |a, &b| a + b), |a, &v| {
            a + T::exp_k(v - max)
        });
    max + T::ln_k(sum)
}

impl CategoricalNll {
    fn check(&self, rows: usize, v: usize) -> Result<()> {
        if self.targets.len() != rows {
            bail!(
                "categorical_nll: {} targets for {rows} rows",
                self.targets.len()
            );
        }
        if let Some(&t) = self.targets.iter().find(|&&t| t as usize >= v) {
            bail!("categorical_nll: target {t} outside the {v} classes");
        }
        Ok(())
    }

    fn skipped(&self, t: u32) -> bool {
        self.skip == Some(t)
    }

    fn fwd<T: WithDType + KernelMath>(
        &self,
        s: &CpuStorage,
        l: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = data::<T>(s, l, "categorical_nll")?;
        let (rows, v) = l.shape().dims2()?;
        self.check(rows, v)?;
        let mut out = vec![T::zero(); rows];
        crate::spin::fill_rows(&mut out, 1, rows * v, |first, part| {
            for (i, o) in part.iter_mut().enumerate() {
                let r = first + i;
                let t = self.targets[r];
                if self.skipped(t) {
                    continue;
                }
                let row = &x[r * v..(r + 1) * v];
                let simd = as_f32(row).and_then(crate::fastmath_avx2::log_sum_exp_row);
                let lse = simd.map_or_else(|| log_sum_exp(row), |v| T::from(v).unwrap());
                *o = lse - row[t as usize];
            }
        });
        Ok((T::to_cpu_storage_owned(out), Shape::from(rows)))
    }
}

/// The backward pass: `(logits (N, V), [grad, nll] (2, N)) -> (N, V)`; each row's
/// log-normalizer is its loss plus its target's logit, so it is not summed again.
struct CategoricalNllGrad(Arc<CategoricalNll>);

impl CategoricalNllGrad {
    fn fwd<T: WithDType + KernelMath>(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = data::<T>(s1, l1, "categorical_nll_grad")?;
        let gl = data::<T>(s2, l2, "categorical_nll_grad")?;
        let (rows, v) = l1.shape().dims2()?;
        let (g, loss) = gl.split_at(rows);
        let nll = &self.0;
        let mut out = vec![T::zero(); rows * v];
        crate::spin::fill_rows(&mut out, v, rows * v, |first, part| {
            for (i, o) in part.chunks_mut(v).enumerate() {
                let r = first + i;
                let t = nll.targets[r];
                if nll.skipped(t) {
                    continue;
                }
                let row = &x[r * v..(r + 1) * v];
                let shift = loss[r] + row[t as usize];
                let simd = as_f32(row).and_then(|row32| {
                    let (s, gr) = (shift.to_f32()?, g[r].to_f32()?);
                    crate::fastmath_avx2::scaled_exp_row(row32, s, gr, as_f32_mut(o))
                });
                if simd.is_none() {
                    for (oi, &xi) in o.iter_mut().zip(row) {
                        *oi = g[r] * T::exp_k(xi - shift);
                    }
                }
                o[t as usize] -= g[r];
            }
        });
        Ok((T::to_cpu_storage_owned(out), l1.shape().clone()))
    }
}

impl candle_core::CustomOp2 for CategoricalNllGrad {
    fn name(&self) -> &'static str {
        "categorical_nll_grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        match s1 {
            CpuStorage::F32(_) => self.fwd::<f32>(s1, l1, s2, l2),
            CpuStorage::F64(_) => self.fwd::<f64>(s1, l1, s2, l2),
            _ => bail!("categorical_nll_grad: only f32 and f64 are fused"),
        }
    }
}

/// The forward op holds its targets behind an `Arc` so the backward op can share them.
struct Op(Arc<CategoricalNll>);

impl CustomOp1 for Op {
    fn name(&self) -> &'static str {
        "categorical_nll"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        match s {
            CpuStorage::F32(_) => self.0.fwd::<f32>(s, l),
            CpuStorage::F64(_) => self.0.fwd::<f64>(s, l),
            _ => bail!("categorical_nll: only f32 and f64 are fused"),
        }
    }

    fn bwd(&self, logits: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let gl = Tensor::stack(&[grad, res], 0)?.contiguous()?;
        Ok(Some(logits.apply_op2_no_bwd(
            &gl,
            &CategoricalNllGrad(self.0.clone()),
        )?))
    }
}

/// `-log softmax(logits)[target]` per row of `logits` `(N, V)`: `(N,)`; rows whose target
/// is `skip` cost 0 and pass no gradient.
pub fn categorical_nll_rows(
    logits: &Tensor,
    targets: Vec<u32>,
    skip: Option<u32>,
) -> Result<Tensor> {
    let op = CategoricalNll {
        targets: Arc::new(targets),
        skip,
    };
    logits.contiguous()?.apply_op1(Op(Arc::new(op)))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check, var};
    use super::*;
    use crate::testing::Rng;
    use candle_core::{DType, Device, D};

    /// Against log-softmax, gather and a mask composed from candle's ops, f64 and f32.
    #[test]
    fn matches_the_composition_values_and_gradients() {
        for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
            let mut rng = Rng::new(7);
            let logits = var(&mut rng, (6, 5), 3.0, dtype);
            let targets = vec![0u32, 4, 2, 0, 1, 3];
            let skip = Some(0u32);
            let t = targets.clone();
            let fused = move |x: &[Tensor]| categorical_nll_rows(&x[0], t.clone(), skip).unwrap();
            let t = targets.clone();
            let unfused = move |x: &[Tensor]| {
                let lse = x[0]
                    .exp()
                    .unwrap()
                    .sum_keepdim(D::Minus1)
                    .unwrap()
                    .log()
                    .unwrap();
                let logp = x[0].broadcast_sub(&lse).unwrap();
                let ids = Tensor::new(t.as_slice(), &Device::Cpu).unwrap();
                let picked = logp
                    .gather(&ids.unsqueeze(1).unwrap(), 1)
                    .unwrap()
                    .squeeze(1)
                    .unwrap();
                let mask = ids.ne(0u32).unwrap().to_dtype(dtype).unwrap();
                (picked * mask).unwrap().neg().unwrap()
            };
            check(dtype, tol, "categorical_nll", &[logits], fused, unfused);
        }
    }

    #[test]
    fn a_target_outside_the_classes_is_an_error() {
        let x = Tensor::zeros((2, 3), DType::F32, &Device::Cpu).unwrap();
        assert!(categorical_nll_rows(&x, vec![1, 3], None).is_err());
        assert!(categorical_nll_rows(&x, vec![1], None).is_err());
    }
}
