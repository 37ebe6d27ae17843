//! A dense f64 matrix product on plain slices, for the closed-form estimators (EM's
//! M-step), through the same `gemm` crate candle uses.

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
    if m == 0 || n == 0 {
        return;
    }
    let (a_rs, a_cs) = if a_transposed {
        (1, m as isize)
    } else {
        (k as isize, 1)
    };
    // SAFETY: the asserts above bound every index the strides reach; `out` is exclusive.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            1,
            n as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}
