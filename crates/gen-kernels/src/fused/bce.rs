//! Binary cross-entropy with logits, summed per row, forward and backward in one pass each.

use super::{as_f32, as_f32_mut, data};
use crate::fastmath::{lane_sum, KernelMath};
use crate::fastmath_avx2;
use candle_core::{
    bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, WithDType,
};
use num_traits::Float;

/// Per-row sums of the stable BCE-with-logits, `(B, D), (B, D) -> (B,)`.
struct BceRows;

fn bce_fwd<T: WithDType + KernelMath>(
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
) -> Result<(CpuStorage, Shape)> {
    let (l, x) = (data::<T>(s1, l1, "bce")?, data::<T>(s2, l2, "bce")?);
    let dims = l1.shape().dims();
    if l.len() != x.len() || dims.is_empty() {
        bail!(
            "bce: logits {:?} and targets {:?} differ",
            l1.shape(),
            l2.shape()
        );
    }
    let rows = dims[0];
    let d = l.len().checked_div(rows).unwrap_or(0);
    let zero = T::zero();
    let mut out = vec![zero; rows];
    crate::spin::fill_rows(&mut out, 1, rows * d, |first, part| {
        for (i, o) in part.iter_mut().enumerate() {
            let r = first + i;
            let (lr, xr) = (&l[r * d..(r + 1) * d], &x[r * d..(r + 1) * d]);
            let simd = as_f32(lr)
                .zip(as_f32(xr))
                .and_then(|(l32, x32)| fastmath_avx2::bce_row_sum(l32, x32));
            *o = match simd {
                Some(v) => T::from(v).unwrap_or(zero),
                None => lane_sum(d, |i| {
                    Float::max(lr[i], zero) - lr[i] * xr[i] + T::softplus_neg_abs(lr[i])
                }),
            };
        }
    });
    Ok((T::to_cpu_storage_owned(out), Shape::from(rows)))
}

impl CustomOp2 for BceRows {
    fn name(&self) -> &'static str {
        "bce_rows"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        by_dtype!(s1, "bce_rows", bce_fwd(s1, l1, s2, l2))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        target: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = logits.apply_op3_no_bwd(target, &grad.contiguous()?, &BceBackward)?;
        // d/dx = -l per element; only computed when the targets are themselves trained.
        let dx = if target.track_op() {
            Some(logits.broadcast_mul(&grad.unsqueeze(1)?)?.neg()?)
        } else {
            None
        };
        Ok((Some(g), dx))
    }
}

/// `grad[row] * (sigmoid(l) - x)` in one pass.
struct BceBackward;

fn bce_bwd<T: WithDType + KernelMath>(
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
    s3: &CpuStorage,
    l3: &Layout,
) -> Result<(CpuStorage, Shape)> {
    let (l, x, g) = (
        data::<T>(s1, l1, "bce_backward")?,
        data::<T>(s2, l2, "bce_backward")?,
        data::<T>(s3, l3, "bce_backward")?,
    );
    let d = l.len().checked_div(g.len()).unwrap_or(0);
    let mut out = vec![T::zero(); l.len()];
    crate::spin::fill_rows(&mut out, d.max(1), l.len(), |first, part| {
        for (i, row) in part.chunks_exact_mut(d.max(1)).enumerate() {
            let r = first + i;
            let (lr, xr, gr) = (&l[r * d..(r + 1) * d], &x[r * d..(r + 1) * d], g[r]);
            let simd = match (as_f32(lr), as_f32(xr)) {
                (Some(l32), Some(x32)) => {
                    let g32 = gr.to_f32().unwrap_or(0.0);
                    fastmath_avx2::bce_grad_row(l32, x32, g32, as_f32_mut(row))
                }
                _ => None,
            };
            if simd.is_none() {
                for ((o, &l), &x) in row.iter_mut().zip(lr).zip(xr) {
                    *o = gr * (T::sigmoid(l) - x);
                }
            }
        }
    });
    Ok((T::to_cpu_storage_owned(out), l1.shape().clone()))
}

impl CustomOp3 for BceBackward {
    fn name(&self) -> &'static str {
        "bce_backward"
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
        by_dtype!(s1, "bce_backward", bce_bwd(s1, l1, s2, l2, s3, l3))
    }
}

/// Summed BCE-with-logits per row of `(B, D)` logits and targets, fused.
pub fn bce_with_logits_rows(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    let l = logits.flatten_from(1)?.contiguous()?;
    let x = target.flatten_from(1)?.to_dtype(l.dtype())?.contiguous()?;
    l.apply_op2(&x, BceRows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::testing::*;
    use crate::testing::Rng;
    use candle_core::{DType, Device, Var};

    /// The stable composition `max(l, 0) - l x + log(1 + exp(-|l|))`, summed per row.
    fn unfused(l: &Tensor, x: &Tensor) -> Tensor {
        let softplus_neg_abs = (l.abs().unwrap().neg().unwrap().exp().unwrap() + 1.0)
            .unwrap()
            .log()
            .unwrap();
        ((l.relu().unwrap() - (l * x).unwrap()).unwrap() + softplus_neg_abs)
            .unwrap()
            .flatten_from(1)
            .unwrap()
            .sum(1)
            .unwrap()
    }

    #[test]
    fn bce_matches_unfused_including_large_logits() {
        for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
            let mut rng = Rng::new(2);
            let logits = var(&mut rng, (6, 9), 30.0, dtype); // spans |l| up to ~100
            let target = Var::from_tensor(
                &rng.rand_uniform((6, 9), 0.0, 1.0, dtype, &Device::Cpu)
                    .unwrap(),
            )
            .unwrap();
            check(
                dtype,
                tol,
                &format!("bce {dtype:?}"),
                &[logits, target],
                |t| bce_with_logits_rows(&t[0], &t[1]).unwrap(),
                |t| unfused(&t[0], &t[1]),
            );
        }
    }

    #[test]
    fn bce_split_across_threads_matches_unfused() {
        // 64 x 1024 is above spin::SPLIT_MIN_ELEMENTS: both halves run, on two threads.
        let mut rng = Rng::new(7);
        let logits = var(&mut rng, (64, 1024), 5.0, DType::F64);
        let target = Var::from_tensor(
            &rng.rand_uniform((64, 1024), 0.0, 1.0, DType::F64, &Device::Cpu)
                .unwrap(),
        )
        .unwrap();
        check(
            DType::F64,
            1e-12,
            "bce split",
            &[logits, target],
            |t| bce_with_logits_rows(&t[0], &t[1]).unwrap(),
            |t| unfused(&t[0], &t[1]),
        );
    }
}
