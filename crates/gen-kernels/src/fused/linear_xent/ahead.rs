//! The layer's gradients made in its forward pass, for a training step.
//!
//! A training loss weighs every row alike (a mean over the batch), so the gradient of row
//! `r` is `g (softmax_r - onehot_r)` with one `g` for all rows, known up to that factor
//! before the backward pass asks. Made here while a block of rows' logits is still in
//! cache, it costs three products instead of four (the backward pass would make the
//! logits again) and one exponential per logit instead of two; the backward pass only
//! scales. Rows are split between the two threads (each makes whole rows, so a row's
//! normalizer needs no exchange), each with its own `dW` and `db`, summed at the end.

use super::{mm, Dims, Targets, View};
use crate::fastmath::KernelMath;
use candle_core::WithDType;

/// Rows of `h` per block: a block's logits over 6,745 classes are 1.7 MB, in L2.
const BLOCK: usize = 64;

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
    let parts = match crate::spin::two_threads() && d.n >= 2 * BLOCK {
        true => vec![(0, d.n / 2), (d.n / 2, d.n)],
        false => vec![(0, d.n)],
    };
    let mut parts =
        crate::spin::each_part(&parts, |&rows| part(targets, h, w, b, d, rows)).into_iter();
    let mut all = parts.next().expect("one part at least");
    for p in parts {
        all.nll.extend(p.nll);
        all.dh.extend(p.dh);
        all.dw.iter_mut().zip(&p.dw).for_each(|(a, &x)| *a += x);
        all.db.iter_mut().zip(&p.db).for_each(|(a, &x)| *a += x);
    }
    all
}

/// Rows `from..to`, a block at a time: the logits, each row's softmax in place (its
/// normalizer gives the loss), the target's 1 taken off, then `dh = G W^T` for the block's
/// rows, `dW += h^T G`, `db += colsum G`.
fn part<T: WithDType + KernelMath + 'static>(
    targets: &Targets,
    h: &[T],
    w: &[T],
    b: &[T],
    d: Dims,
    (from, to): (usize, usize),
) -> Ahead<T> {
    let Dims { e, v, .. } = d;
    let mut out = Ahead {
        nll: vec![T::zero(); to - from],
        dh: vec![T::zero(); (to - from) * e],
        dw: vec![T::zero(); e * v],
        db: vec![T::zero(); v],
    };
    let mut scratch = vec![T::zero(); BLOCK.min(to - from) * v];
    for r0 in (from..to).step_by(BLOCK) {
        let rows = BLOCK.min(to - r0);
        let g = &mut scratch[..rows * v];
        for row in g.chunks_mut(v) {
            row.copy_from_slice(b);
        }
        let hb = View::new(&h[r0 * e..], e);
        mm(g, v, hb, View::new(w, v), (rows, e, v), true);
        for (i, row) in g.chunks_mut(v).enumerate() {
            let Some(t) = targets.kept(r0 + i) else {
                row.iter_mut().for_each(|x| *x = T::zero());
                continue;
            };
            let picked = row[t];
            out.nll[r0 + i - from] = softmax_in_place(row) - picked;
            row[t] -= T::one();
        }
        let gv = View::new(&*g, v);
        let dh = &mut out.dh[(r0 - from) * e..];
        mm(dh, e, gv, View::new(w, v).t(), (rows, v, e), false);
        mm(&mut out.dw, v, hb.t(), gv, (e, rows, v), true);
        for row in g.chunks(v) {
            out.db.iter_mut().zip(row).for_each(|(a, &x)| *a += x);
        }
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
