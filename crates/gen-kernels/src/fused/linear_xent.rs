//! An output layer and the categorical NLL of its logits as one op (a "fused linear
//! cross-entropy"): `nll_r = lse(h_r W + b) - (h_r W + b)[t_r]` per row, the logits made
//! a tile at a time in a scratch that stays in cache and never stored whole.
//!
//! Over a vocabulary of thousands the logits are the step's largest tensor by far (a batch
//! of 64 couplets: 640 x 6,745); stored, they and their gradient cross memory about a dozen
//! times (the product's output, the log-softmax, the gradient, the graph's accumulation of
//! it, the two products that read it). Here each tile of logits is made, used and dropped:
//! the backward pass makes it once more (one product more, from cache) instead of reading
//! it back. A row's normalizer is put together from its tiles' (`ln(e^a + e^b)`). In a
//! training step the forward pass makes the gradients too, and the backward pass only
//! scales them (module `ahead`); what follows is the path for everything else.
//!
//! Tiles are `ROWS x COLS` (rows of `h` by columns of `W`), so that every product has two
//! sides of hundreds: the logits `ROWS x E x COLS`, `dh += G W^T` over `COLS`, `dW += h^T G`
//! over `ROWS`. (Tiles of 32 whole rows made each product re-pack all of `W` for 32 rows.)
//! Two threads split the vocabulary: each owns its columns of `dW` and `db` and a partial
//! `dh`, summed at the end (`N x E`, small).

mod ahead;

use super::data;
use crate::fastmath::KernelMath;
use crate::tile::{mm, View};
use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, WithDType};
use std::sync::{Arc, Mutex};

/// Rows of `h` per tile.
const ROWS: usize = 256;
/// Columns of `W` (classes) per tile: 256 x 512 floats, 512 KB, in L2.
const COLS: usize = 512;

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

/// The shapes of one op: `n` rows of width `e`, `v` classes.
#[derive(Clone, Copy)]
struct Dims {
    n: usize,
    e: usize,
    v: usize,
}

/// A tile: rows `r0..r0 + rows` of `h`, classes `c0..c0 + cols`.
#[derive(Clone, Copy)]
struct Tile {
    r0: usize,
    rows: usize,
    c0: usize,
    cols: usize,
}

/// Every tile of rows x the classes `range`, rows outermost (a block of `h` stays while
/// its columns pass).
fn tiles(d: Dims, (from, to): (usize, usize)) -> impl Iterator<Item = Tile> {
    (0..d.n).step_by(ROWS).flat_map(move |r0| {
        (from..to).step_by(COLS).map(move |c0| Tile {
            r0,
            rows: ROWS.min(d.n - r0),
            c0,
            cols: COLS.min(to - c0),
        })
    })
}

/// The tile's logits into `out` (`rows x cols`): the bias, then `+ h W`.
fn logits<T: WithDType + 'static>(out: &mut [T], h: &[T], w: &[T], b: &[T], d: Dims, t: Tile) {
    for row in out.chunks_mut(t.cols).take(t.rows) {
        row.copy_from_slice(&b[t.c0..t.c0 + t.cols]);
    }
    mm(
        out,
        t.cols,
        View::new(&h[t.r0 * d.e..], d.e),
        View::new(&w[t.c0..], d.v),
        (t.rows, d.e, t.cols),
        true,
    );
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

/// `ln(e^a + e^b)`, exact when either is `-inf`.
fn log_add_exp<T: WithDType + KernelMath>(a: T, b: T) -> T {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    if lo == T::neg_infinity() {
        return hi;
    }
    hi + T::ln_k(T::one() + T::exp_k(lo - hi))
}

/// Each target's logit `h_r . W[:, t_r] + b[t_r]` (0 for a skipped row).
fn target_logits<T: WithDType>(targets: &Targets, h: &[T], w: &[T], b: &[T], d: Dims) -> Vec<T> {
    (0..d.n)
        .map(|r| match targets.kept(r) {
            Some(t) => h[r * d.e..(r + 1) * d.e]
                .iter()
                .enumerate()
                .fold(b[t], |acc, (j, &x)| acc + x * w[j * d.v + t]),
            None => T::zero(),
        })
        .collect()
}

/// The class ranges of the two threads' halves (one range on one thread).
fn halves(v: usize) -> Vec<(usize, usize)> {
    let parts = if crate::spin::two_threads() && v >= 2 * COLS {
        2
    } else {
        1
    };
    let per = v.div_ceil(parts);
    (0..parts)
        .map(|p| (p * per, ((p + 1) * per).min(v)))
        .collect()
}

struct Fused {
    targets: Arc<Targets>,
    /// `Some` when a training step follows: the forward pass leaves here the gradients of
    /// `sum_r nll_r` (`dh`, `dW`, `db`), which the backward pass scales (module `ahead`).
    ahead: Option<Mutex<Option<[Tensor; 3]>>>,
}

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
        if e != e2 || b.len() != v || self.targets.ids.len() != n {
            bail!(
                "linear_xent: rows {n}x{e}, weight {e2}x{v}, bias {}, {} targets",
                b.len(),
                self.targets.ids.len()
            );
        }
        if let Some(&t) = self.targets.ids.iter().find(|&&t| t as usize >= v) {
            bail!("linear_xent: target {t} outside the {v} classes");
        }
        let d = Dims { n, e, v };
        // Counted here, on the calling thread (the counter is per thread): the products of
        // both halves.
        crate::flops::add_gemm(n, v, e);
        if let Some(stash) = &self.ahead {
            for _ in 0..2 {
                crate::flops::add_gemm(n, v, e);
            }
            let a = ahead::forward(&self.targets, h, w, b, d);
            let device = candle_core::Device::Cpu;
            *stash.lock().unwrap_or_else(|e| e.into_inner()) = Some([
                Tensor::from_vec(a.dh, (n, e), &device)?,
                Tensor::from_vec(a.dw, (e, v), &device)?,
                Tensor::from_vec(a.db, v, &device)?,
            ]);
            return Ok((T::to_cpu_storage_owned(a.nll), Shape::from(n)));
        }
        // Each half's normalizer per row over its classes.
        let parts = crate::spin::each_part(&halves(v), |&range| {
            let mut scratch = vec![T::zero(); ROWS * COLS];
            let mut part = vec![T::neg_infinity(); n];
            for t in tiles(d, range) {
                logits(&mut scratch, h, w, b, d, t);
                for (r, row) in scratch.chunks(t.cols).take(t.rows).enumerate() {
                    let p = &mut part[t.r0 + r];
                    *p = log_add_exp(*p, lse(row));
                }
            }
            part
        });
        let picked = target_logits(&self.targets, h, w, b, d);
        let out: Vec<T> = (0..n)
            .map(|r| match self.targets.kept(r) {
                Some(_) => {
                    let norm = parts
                        .iter()
                        .fold(T::neg_infinity(), |a, p| log_add_exp(a, p[r]));
                    norm - picked[r]
                }
                None => T::zero(),
            })
            .collect();
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
        let stashed = self
            .ahead
            .as_ref()
            .and_then(|s| s.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let (Some([dh, dw, db]), Some(g)) = (stashed, one_weight(&self.targets, grad)?) {
            return Ok((
                Some(dh.affine(g, 0.0)?),
                Some(dw.affine(g, 0.0)?),
                Some(db.affine(g, 0.0)?),
            ));
        }
        let (dh, dw, db) = match h.dtype() {
            candle_core::DType::F32 => backward::<f32>(&self.targets, h, w, b, res, grad)?,
            candle_core::DType::F64 => backward::<f64>(&self.targets, h, w, b, res, grad)?,
            d => bail!("linear_xent: {d:?} is not fused"),
        };
        Ok((Some(dh), Some(dw), Some(db)))
    }
}

/// The one weight every counted row's loss has in `grad`, if they share one (a mean's
/// `1/N`); `None` when they differ (then the gradients are made from the logits again).
fn one_weight(targets: &Targets, grad: &Tensor) -> Result<Option<f64>> {
    let g: Vec<f64> = grad.to_dtype(candle_core::DType::F64)?.to_vec1()?;
    let mut kept = (0..g.len())
        .filter(|&r| targets.kept(r).is_some())
        .map(|r| g[r]);
    let first = kept.next().unwrap_or(0.0);
    Ok(kept.all(|x| x == first).then_some(first))
}

/// One half's gradients: `dh` over its classes (`N x E`), and its columns of `dW`
/// (`E x width`) and `db`.
struct HalfGrads<T> {
    dh: Vec<T>,
    dw: Vec<T>,
    db: Vec<T>,
}

/// The three gradients: per tile, the logits again, `G = g (softmax - onehot)` in place,
/// then `dh += G W^T`, `dW += h^T G`, `db += colsum G`.
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
    let d = Dims { n, e, v };
    let vec = |t: &Tensor| -> Result<Vec<T>> { t.flatten_all()?.to_vec1::<T>() };
    let (hv, wv, bv, nll, g) = (vec(h)?, vec(w)?, vec(b)?, vec(res)?, vec(grad)?);
    // The logits again, dh and dW, counted on the calling thread.
    for _ in 0..3 {
        crate::flops::add_gemm(n, v, e);
    }
    // Each row's log-normalizer: its loss plus its target's logit.
    let norm: Vec<T> = target_logits(targets, &hv, &wv, &bv, d)
        .into_iter()
        .zip(&nll)
        .map(|(t, &l)| t + l)
        .collect();
    let ranges = halves(v);
    let halves = crate::spin::each_part(&ranges, |&(from, to)| {
        let width = to - from;
        let mut scratch = vec![T::zero(); ROWS * COLS];
        let mut out = HalfGrads {
            dh: vec![T::zero(); n * e],
            dw: vec![T::zero(); e * width],
            db: vec![T::zero(); width],
        };
        for t in tiles(d, (from, to)) {
            logits(&mut scratch, &hv, &wv, &bv, d, t);
            let gt = &mut scratch[..t.rows * t.cols];
            for (r, row) in gt.chunks_mut(t.cols).enumerate() {
                let i = t.r0 + r;
                let Some(target) = targets.kept(i) else {
                    row.iter_mut().for_each(|x| *x = T::zero());
                    continue;
                };
                let (shift, gr) = (norm[i], g[i]);
                let simd = super::as_f32(row).is_some().then(|| {
                    let (s, g32) = (shift.to_f32()?, gr.to_f32()?);
                    crate::fastmath_avx2::scaled_exp_in_place(super::as_f32_mut(row), s, g32)
                });
                if simd.flatten().is_none() {
                    row.iter_mut().for_each(|x| *x = gr * T::exp_k(*x - shift));
                }
                if (t.c0..t.c0 + t.cols).contains(&target) {
                    row[target - t.c0] -= gr;
                }
            }
            let gv = View::new(&*gt, t.cols);
            mm(
                &mut out.dh[t.r0 * e..],
                e,
                gv,
                View::new(&wv[t.c0..], v).t(),
                (t.rows, t.cols, e),
                true,
            );
            mm(
                &mut out.dw[t.c0 - from..],
                width,
                View::new(&hv[t.r0 * e..], e).t(),
                gv,
                (e, t.rows, t.cols),
                true,
            );
            let db = &mut out.db[t.c0 - from..t.c0 - from + t.cols];
            for row in gt.chunks(t.cols) {
                for (acc, &x) in db.iter_mut().zip(row) {
                    *acc += x;
                }
            }
        }
        out
    });
    // The halves' dh summed; their columns of dW and db put side by side.
    let mut dh = vec![T::zero(); n * e];
    let (mut dw, mut db) = (vec![T::zero(); e * v], vec![T::zero(); v]);
    for (part, &(from, to)) in halves.into_iter().zip(&ranges) {
        dh.iter_mut().zip(&part.dh).for_each(|(a, &x)| *a += x);
        let width = to - from;
        for (row, src) in dw.chunks_mut(v).zip(part.dw.chunks(width.max(1))) {
            row[from..to].copy_from_slice(src);
        }
        db[from..to].copy_from_slice(&part.db);
    }
    let device = h.device();
    Ok((
        Tensor::from_vec(dh, (n, e), device)?,
        Tensor::from_vec(dw, (e, v), device)?,
        Tensor::from_vec(db, v, device)?,
    ))
}

/// `-log softmax(h W + b)[target]` per row of `h` `(N, E)` with `W` `(E, V)`, `b` `(V,)`:
/// `(N,)`; rows whose target is `skip` cost 0 and pass no gradient. `training`: a backward
/// pass follows, so the forward pass makes the gradients as well (cheaper when the loss
/// weighs the rows alike, as a mean does; any other weighting still gets exact gradients,
/// made again from the logits).
pub fn linear_categorical_nll_rows(
    h: &Tensor,
    w: &Tensor,
    b: &Tensor,
    targets: Vec<u32>,
    skip: Option<u32>,
    training: bool,
) -> Result<Tensor> {
    let op = Fused {
        targets: Arc::new(Targets { ids: targets, skip }),
        ahead: training.then(|| Mutex::new(None)),
    };
    h.contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, op)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check, close, var};
    use super::*;
    use crate::testing::Rng;
    use candle_core::{DType, Device, D};

    /// Against the product, log-softmax, gather and mask composed from candle's ops, over
    /// more rows than a tile and more classes than two (so both threads and several tiles
    /// of each run, and the last of each is partial).
    #[test]
    fn matches_the_composition_values_and_gradients() {
        for (dtype, tol) in [(DType::F64, 1e-10), (DType::F32, 1e-4)] {
            let mut rng = Rng::new(11);
            let (n, e, v) = (ROWS + 7, 5, 2 * COLS + 9);
            let h = var(&mut rng, (n, e), 1.0, dtype);
            let w = var(&mut rng, (e, v), 1.0, dtype);
            let b = var(&mut rng, v, 1.0, dtype);
            let targets: Vec<u32> = (0..n as u32).map(|i| (i * 7) % v as u32).collect();
            for training in [false, true] {
                let t = targets.clone();
                let fused = move |x: &[Tensor]| {
                    linear_categorical_nll_rows(&x[0], &x[1], &x[2], t.clone(), Some(0), training)
                        .unwrap()
                };
                let inputs = [h.clone(), w.clone(), b.clone()];
                check(
                    dtype,
                    tol,
                    "linear_xent",
                    &inputs,
                    fused,
                    unfused(&targets, dtype),
                );
            }
        }
    }

    /// With `training`, a loss weighing the rows alike (a mean, padding rows left out by
    /// the op) takes the gradients the forward pass made: the backward pass runs no
    /// product (the flop count), and they equal the composition's. Rows are split between
    /// the threads and into blocks, the last one partial.
    #[test]
    fn gradients_made_ahead_match_the_composition() {
        for (dtype, tol) in [(DType::F64, 1e-10), (DType::F32, 1e-5)] {
            let mut rng = Rng::new(12);
            let (n, e, v) = (3 * ahead::BLOCK + 37, 6, 77);
            let h = var(&mut rng, (n, e), 1.0, dtype);
            let w = var(&mut rng, (e, v), 1.0, dtype);
            let b = var(&mut rng, v, 1.0, dtype);
            let targets: Vec<u32> = (0..n as u32).map(|i| (i * 5) % v as u32).collect();
            let t = targets.clone();
            let (hs, ws, bs) = (h.as_tensor(), w.as_tensor(), b.as_tensor());
            let fused = linear_categorical_nll_rows(hs, ws, bs, t, Some(0), true).unwrap();
            let want = unfused(&targets, dtype)(&[hs.clone(), ws.clone(), bs.clone()]);
            close(&fused, &want, tol, "value");
            let (ops, grads) = crate::flops::counted(|| fused.mean_all().unwrap().backward());
            assert_eq!(ops, 0, "the backward pass made the logits again");
            let want_grads = want.mean_all().unwrap().backward().unwrap();
            for (i, x) in [&h, &w, &b].into_iter().enumerate() {
                let (a, z) = (grads.as_ref().unwrap().get(x), want_grads.get(x));
                close(a.unwrap(), z.unwrap(), tol, &format!("grad {i}"));
            }
        }
    }

    /// The product, log-softmax, gather and mask composed from candle's ops.
    fn unfused(targets: &[u32], dtype: DType) -> impl Fn(&[Tensor]) -> Tensor {
        let t = targets.to_vec();
        move |x: &[Tensor]| {
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
        }
    }
}
