//! The layer's gradients made in its forward pass, for a training step.
//!
//! A training loss weighs every row alike (a mean over the batch), so the gradient of row
//! `r` is `g (softmax_r - onehot_r)` with one `g` for all rows, known up to that factor
//! before the backward pass asks. Made here while a block of rows' logits is still in
//! cache, it costs three products instead of four (the backward pass would make the
//! logits again) and one exponential per logit instead of two; the backward pass only
//! scales. The two threads take every other block of whole rows (so a row's normalizer
//! needs no exchange), each with its own `dW` and `db`, summed at the end.

use super::{mm, Dims, Targets, View};
use crate::fastmath::KernelMath;
use candle_core::WithDType;

/// Rows of `h` per block; the threads take every other block (a fixed share, so each
/// thread's `dW` sums the same blocks in the same order every run, and training on two
/// threads repeats itself to the bit). Each block's products pack `W` again.
/// `gen bench --worker --model poem-vae` (a batch of 64 couplets, 640 rows), 2 threads,
/// medians of 3 runs, samples/s, with blocks taken from a shared counter: 64 rows 1,970,
/// 80 1,967, 160 2,205, one block per thread (320) 1,852.
pub(super) const BLOCK: usize = 160;

/// The loss per row and the gradients of `sum_r nll_r` (every row's weight 1).
pub(super) struct Ahead<T> {
    pub nll: Vec<T>,
    pub dh: Vec<T>,
    pub dw: Vec<T>,
    pub db: Vec<T>,
}

/// [`Ahead`] for the rows of `h` (`N x E`), `W` (`E x V`), `b` (`V`).
pub(super) fn forward<T: WithDType + KernelMath + 'static>(
    targets: &Targets,
    h: &[T],
    w: &[T],
    b: &[T],
    d: Dims,
) -> Ahead<T> {
    let blocks: Vec<(usize, usize)> = (0..d.n)
        .step_by(BLOCK)
        .map(|r0| (r0, (r0 + BLOCK).min(d.n)))
        .collect();
    let threads = match crate::spin::two_threads() && blocks.len() >= 2 {
        true => 2,
        false => 1,
    };
    let shares: Vec<Vec<(usize, usize)>> = (0..threads)
        .map(|t| blocks.iter().copied().skip(t).step_by(threads).collect())
        .collect();
    let parts = crate::spin::each_part(&shares, |share| worker(targets, (h, w, b), d, share));
    let (mut nll, mut dh) = (vec![T::zero(); d.n], vec![T::zero(); d.n * d.e]);
    // The first thread's dW and db start the sum (no zeroed copy to add them into).
    let mut sums: Option<(Vec<T>, Vec<T>)> = None;
    for p in parts {
        for (r0, l, g) in p.rows {
            nll[r0..r0 + l.len()].copy_from_slice(&l);
            dh[r0 * d.e..r0 * d.e + g.len()].copy_from_slice(&g);
        }
        match &mut sums {
            None => sums = Some((p.dw, p.db)),
            Some((dw, db)) => {
                dw.iter_mut().zip(&p.dw).for_each(|(a, &x)| *a += x);
                db.iter_mut().zip(&p.db).for_each(|(a, &x)| *a += x);
            }
        }
    }
    let (dw, db) = sums.expect("one thread at least");
    Ahead { nll, dh, dw, db }
}

/// What one thread made: for each block it took, its first row, losses and `dh` rows; its
/// sums into `dW` and `db`.
struct Worked<T> {
    rows: Vec<(usize, Vec<T>, Vec<T>)>,
    dw: Vec<T>,
    db: Vec<T>,
}

/// The blocks of rows `share`, in order, each: the logits, each row's softmax in place (its
/// normalizer gives the loss), the target's 1 taken off, then `dh = G W^T` for the block's
/// rows, `dW += h^T G`, `db += colsum G`.
fn worker<T: WithDType + KernelMath + 'static>(
    targets: &Targets,
    (h, w, b): (&[T], &[T], &[T]),
    d: Dims,
    share: &[(usize, usize)],
) -> Worked<T> {
    let Dims { e, v, .. } = d;
    let mut out = Worked {
        rows: Vec::new(),
        dw: vec![T::zero(); e * v],
        db: vec![T::zero(); v],
    };
    let mut scratch = Vec::new();
    for &(r0, r1) in share {
        let rows = r1 - r0;
        scratch.resize(rows * v, T::zero());
        let g = &mut scratch[..rows * v];
        for row in g.chunks_mut(v) {
            row.copy_from_slice(b);
        }
        let hb = View::new(&h[r0 * e..], e);
        mm(g, v, hb, View::new(w, v), (rows, e, v), true);
        let mut nll = vec![T::zero(); rows];
        for (i, row) in g.chunks_mut(v).enumerate() {
            let Some(t) = targets.kept(r0 + i) else {
                row.iter_mut().for_each(|x| *x = T::zero());
                continue;
            };
            let picked = row[t];
            nll[i] = softmax_in_place(row) - picked;
            row[t] -= T::one();
        }
        let gv = View::new(&*g, v);
        let mut dh = vec![T::zero(); rows * e];
        mm(&mut dh, e, gv, View::new(w, v).t(), (rows, v, e), false);
        mm(&mut out.dw, v, hb.t(), gv, (e, rows, v), true);
        for row in g.chunks(v) {
            out.db.iter_mut().zip(row).for_each(|(a, &x)| *a += x);
        }
        out.rows.push((r0, nll, dh));
    }
    out
}

/// `row = softmax(row)` in place, returning `ln sum exp(row)` (the AVX2 path for f32).
fn softmax_in_place<T: WithDType + KernelMath>(row: &mut [T]) -> T {
    if T::DTYPE == candle_core::DType::F32 {
        if let Some(lse) = crate::fastmath_avx2::softmax_in_place(crate::fused::as_f32_mut(row)) {
            return T::from(lse).unwrap_or(T::zero());
        }
    }
    let max = row
        .iter()
        .copied()
        .fold(T::neg_infinity(), num_traits::Float::max);
    let mut sum = T::zero();
    for x in row.iter_mut() {
        *x = T::exp_k(*x - max);
        sum += *x;
    }
    row.iter_mut().for_each(|x| *x /= sum);
    max + T::ln_k(sum)
}
