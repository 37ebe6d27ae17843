//! An output layer and the categorical NLL of its logits as one op (a "fused linear
//! cross-entropy"): `nll_r = lse(h_r W + b) - (h_r W + b)[t_r]` per row, the logits made
//! a block of rows at a time in a scratch that stays in cache and never stored whole.
//!
//! Over a vocabulary of thousands the logits are the step's largest tensor by far (a batch
//! of 64 couplets: 640 x 6,745); stored, they and their gradient cross memory about a dozen
//! times (the product's output, the log-softmax, the gradient, the graph's accumulation of
//! it, the two products that read it). Here each block's logits are made, used and
//! dropped: the backward pass makes them once more (one product more, from cache) instead
//! of reading them back.

use super::data;
use crate::fastmath::KernelMath;
use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, WithDType};
use std::sync::{Arc, Mutex};

/// Rows of logits made at a time (32 x 6,745 floats: 860 KB, in L2).
const BLOCK: usize = 32;

struct Targets {
    ids: Vec<u32>,
    skip: Option<u32>,
}

impl Targets {
    fn kept(&self, r: usize) -> Option<usize> {
        let t = self.ids[r];
        (self.skip != Some(t)).then_some(t as usize)
    }
}

/// `c (m x n) = [c +] op(a) op(b)`, row-major, on this thread.
#[allow(clippy::too_many_arguments)]
fn mm<T: WithDType + 'static>(
    c: &mut [T],
    a: &[T],
    ta: bool,
    b: &[T],
    tb: bool,
    (m, k, n): (usize, usize, usize),
    accumulate: bool,
) {
    assert!(c.len() >= m * n && a.len() >= m * k && b.len() >= k * n);
    // Strides of op(a) (m x k) and op(b) (k x n) over their row-major storage.
    let (a_rs, a_cs) = if ta { (1, m as isize) } else { (k as isize, 1) };
    let (b_rs, b_cs) = if tb { (1, k as isize) } else { (n as isize, 1) };
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the assert bounds every element the strides reach; `c` is exclusive.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            T::one(),
            T::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Logits of rows `h` (`rows x e`) into `out` (`rows x v`): the bias, then `+ h W`.
fn logits<T: WithDType + 'static>(
    out: &mut [T],
    h: &[T],
    w: &[T],
    b: &[T],
    (rows, e, v): (usize, usize, usize),
) {
    for row in out.chunks_mut(v).take(rows) {
        row.copy_from_slice(b);
    }
    mm(out, h, false, w, false, (rows, e, v), true);
}

/// `ln sum exp` of a row (the AVX2 path for f32).
fn lse<T: WithDType + KernelMath>(row: &[T]) -> T {
    if let Some(v) = super::as_f32(row).and_then(crate::fastmath_avx2::log_sum_exp_row) {
        return T::from(v).unwrap_or(T::zero());
    }
    let max = row
        .iter()
        .copied()
        .fold(T::neg_infinity(), num_traits::Float::max);
    max + T::ln_k(row.iter().fold(T::zero(), |a, &x| a + T::exp_k(x - max)))
}

/// The row ranges of the two threads' halves (one range on one thread).
fn halves(n: usize) -> Vec<(usize, usize)> {
    let parts = if crate::spin::two_threads() && n >= 2 * BLOCK {
        2
    } else {
        1
    };
    let per = n.div_ceil(parts);
    (0..parts)
        .map(|p| (p * per, ((p + 1) * per).min(n)))
        .collect()
}

/// `f` on each range, the two halves on two threads.
fn each_half(parts: &[(usize, usize)], f: impl Fn(&(usize, usize)) + Sync) {
    match parts {
        [one] => f(one),
        [a, b] => crate::spin::join_parts(a, b, f),
        _ => parts.iter().for_each(f),
    }
}

struct Fused(Arc<Targets>);

impl Fused {
    fn fwd<T: WithDType + KernelMath + 'static>(
        &self,
        (h, lh): (&CpuStorage, &Layout),
        (w, lw): (&CpuStorage, &Layout),
        (b, lb): (&CpuStorage, &Layout),
    ) -> Result<(CpuStorage, Shape)> {
        let (h, w, b) = (
            data::<T>(h, lh, "linear_xent")?,
            data::<T>(w, lw, "linear_xent")?,
            data::<T>(b, lb, "linear_xent")?,
        );
        let (n, e) = lh.shape().dims2()?;
        let (e2, v) = lw.shape().dims2()?;
        if e != e2 || b.len() != v || self.0.ids.len() != n {
            bail!(
                "linear_xent: rows {n}x{e}, weight {e2}x{v}, bias {}, {} targets",
                b.len(),
                self.0.ids.len()
            );
        }
        if let Some(&t) = self.0.ids.iter().find(|&&t| t as usize >= v) {
            bail!("linear_xent: target {t} outside the {v} classes");
        }
        // Counted here, on the calling thread (the counter is per thread): the products of
        // both halves.
        crate::flops::add_gemm(n, v, e);
        let out = Mutex::new(vec![T::zero(); n]);
        each_half(&halves(n), |&(start, end)| {
            let mut scratch = vec![T::zero(); BLOCK * v];
            let mut part = vec![T::zero(); end - start];
            for first in (start..end).step_by(BLOCK) {
                let rows = BLOCK.min(end - first);
                logits(
                    &mut scratch,
                    &h[first * e..(first + rows) * e],
                    w,
                    b,
                    (rows, e, v),
                );
                for r in 0..rows {
                    if let Some(t) = self.0.kept(first + r) {
                        let row = &scratch[r * v..(r + 1) * v];
                        part[first + r - start] = lse(row) - row[t];
                    }
                }
            }
            out.lock().unwrap_or_else(|e| e.into_inner())[start..end].copy_from_slice(&part);
        });
        let out = out.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok((T::to_cpu_storage_owned(out), Shape::from(n)))
    }
}

impl CustomOp3 for Fused {
    fn name(&self) -> &'static str {
        "linear_xent"
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
            CpuStorage::F32(_) => self.fwd::<f32>((s1, l1), (s2, l2), (s3, l3)),
            CpuStorage::F64(_) => self.fwd::<f64>((s1, l1), (s2, l2), (s3, l3)),
            _ => bail!("linear_xent: only f32 and f64 are fused"),
        }
    }

    fn bwd(
        &self,
        h: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dh, dw, db) = match h.dtype() {
            candle_core::DType::F32 => backward::<f32>(&self.0, h, w, b, res, grad)?,
            candle_core::DType::F64 => backward::<f64>(&self.0, h, w, b, res, grad)?,
            d => bail!("linear_xent: {d:?} is not fused"),
        };
        Ok((Some(dh), Some(dw), Some(db)))
    }
}

/// The three gradients: per block, the logits again, `G = g (softmax - onehot)` in place,
/// then `dh = G W^T`, `dW += h^T G`, `db += colsum G` (each thread its own `dW`, `db`).
fn backward<T: WithDType + KernelMath + 'static>(
    targets: &Targets,
    h: &Tensor,
    w: &Tensor,
    b: &Tensor,
    res: &Tensor,
    grad: &Tensor,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (n, e) = h.dims2()?;
    let v = w.dim(1)?;
    let vec = |t: &Tensor| -> Result<Vec<T>> { t.flatten_all()?.to_vec1::<T>() };
    let (hv, wv, bv, nll, g) = (vec(h)?, vec(w)?, vec(b)?, vec(res)?, vec(grad)?);
    // The logits again, dh and dW, counted on the calling thread.
    for _ in 0..3 {
        crate::flops::add_gemm(n, v, e);
    }
    let dh = Mutex::new(vec![T::zero(); n * e]);
    let partials = Mutex::new(Vec::new());
    each_half(&halves(n), |&(start, end)| {
        let mut scratch = vec![T::zero(); BLOCK * v];
        let mut dw = vec![T::zero(); e * v];
        let mut db = vec![T::zero(); v];
        let mut dh_part = vec![T::zero(); (end - start) * e];
        for first in (start..end).step_by(BLOCK) {
            let rows = BLOCK.min(end - first);
            let hb = &hv[first * e..(first + rows) * e];
            logits(&mut scratch, hb, &wv, &bv, (rows, e, v));
            for r in 0..rows {
                let row = &mut scratch[r * v..(r + 1) * v];
                let Some(t) = targets.kept(first + r) else {
                    row.iter_mut().for_each(|x| *x = T::zero());
                    continue;
                };
                // The row's log-normalizer is its loss plus its target's logit.
                let shift = nll[first + r] + row[t];
                let gr = g[first + r];
                let simd = super::as_f32(row).is_some().then(|| {
                    let (s, g32) = (shift.to_f32()?, gr.to_f32()?);
                    crate::fastmath_avx2::scaled_exp_in_place(super::as_f32_mut(row), s, g32)
                });
                if simd.flatten().is_none() {
                    row.iter_mut().for_each(|x| *x = gr * T::exp_k(*x - shift));
                }
                row[t] -= gr;
            }
            let gb = &scratch[..rows * v];
            let off = (first - start) * e;
            mm(
                &mut dh_part[off..off + rows * e],
                gb,
                false,
                &wv,
                true,
                (rows, v, e),
                false,
            );
            mm(&mut dw, hb, true, gb, false, (e, rows, v), true);
            for row in gb.chunks(v) {
                for (d, &x) in db.iter_mut().zip(row) {
                    *d += x;
                }
            }
        }
        dh.lock().unwrap_or_else(|e| e.into_inner())[start * e..end * e].copy_from_slice(&dh_part);
        partials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((dw, db));
    });
    let partials = partials.into_inner().unwrap_or_else(|e| e.into_inner());
    let (mut dw, mut db) = (vec![T::zero(); e * v], vec![T::zero(); v]);
    for (pw, pb) in partials {
        dw.iter_mut().zip(pw).for_each(|(a, x)| *a += x);
        db.iter_mut().zip(pb).for_each(|(a, x)| *a += x);
    }
    let dh = dh.into_inner().unwrap_or_else(|e| e.into_inner());
    let device = h.device();
    Ok((
        Tensor::from_vec(dh, (n, e), device)?,
        Tensor::from_vec(dw, (e, v), device)?,
        Tensor::from_vec(db, v, device)?,
    ))
}

/// `-log softmax(h W + b)[target]` per row of `h` `(N, E)` with `W` `(E, V)`, `b` `(V,)`:
/// `(N,)`; rows whose target is `skip` cost 0 and pass no gradient.
pub fn linear_categorical_nll_rows(
    h: &Tensor,
    w: &Tensor,
    b: &Tensor,
    targets: Vec<u32>,
    skip: Option<u32>,
) -> Result<Tensor> {
    let op = Fused(Arc::new(Targets { ids: targets, skip }));
    h.contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, op)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check, var};
    use super::*;
    use crate::testing::Rng;
    use candle_core::{DType, Device, D};

    /// Against the product, log-softmax, gather and mask composed from candle's ops, over
    /// more rows than a block (so both threads and several blocks run).
    #[test]
    fn matches_the_composition_values_and_gradients() {
        for (dtype, tol) in [(DType::F64, 1e-10), (DType::F32, 1e-4)] {
            let mut rng = Rng::new(11);
            let (n, e, v) = (2 * BLOCK + 7, 5, 9);
            let h = var(&mut rng, (n, e), 1.0, dtype);
            let w = var(&mut rng, (e, v), 1.0, dtype);
            let b = var(&mut rng, v, 1.0, dtype);
            let targets: Vec<u32> = (0..n as u32).map(|i| (i * 7) % v as u32).collect();
            let t = targets.clone();
            let fused = move |x: &[Tensor]| {
                linear_categorical_nll_rows(&x[0], &x[1], &x[2], t.clone(), Some(0)).unwrap()
            };
            let t = targets.clone();
            let unfused = move |x: &[Tensor]| {
                let l = x[0].matmul(&x[1]).unwrap().broadcast_add(&x[2]).unwrap();
                let lse = l
                    .exp()
                    .unwrap()
                    .sum_keepdim(D::Minus1)
                    .unwrap()
                    .log()
                    .unwrap();
                let logp = l.broadcast_sub(&lse).unwrap();
                let ids = Tensor::new(t.as_slice(), &Device::Cpu).unwrap();
                let picked = logp
                    .gather(&ids.unsqueeze(1).unwrap(), 1)
                    .unwrap()
                    .squeeze(1)
                    .unwrap();
                let mask = ids.ne(0u32).unwrap().to_dtype(dtype).unwrap();
                (picked * mask).unwrap().neg().unwrap()
            };
            check(dtype, tol, "linear_xent", &[h, w, b], fused, unfused);
        }
    }
}
