//! A dense f64 matrix product on plain slices, for the closed-form estimators (EM's
//! M-step), through the same `gemm` crate candle uses.

use crate::tile::{mm, View};

/// `out (m x n) = [out +] op(a) b` for row-major matrices, where `op(a)` is `a` (`m x k`)
/// or, with `a_transposed`, the transpose of `a` stored as `k x m`; `b` is `k x n`.
pub fn matmul_f64(
    out: &mut [f64],
    a: &[f64],
    a_transposed: bool,
    b: &[f64],
    (m, k, n): (usize, usize, usize),
    accumulate: bool,
) {
    assert!(out.len() == m * n && a.len() >= m * k && b.len() >= k * n);
    let a = match a_transposed {
        true => View::new(a, m).t(),
        false => View::new(a, k),
    };
    mm(out, n, a, View::new(b, n), (m, k, n), accumulate);
}
