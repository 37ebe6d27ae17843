//! One product on the calling thread over strided views of row-major storage (no copy
//! for a transpose): the one call into `gemm` of this crate's kernels (those that split
//! their own work between the threads multiply within each part) and of `dense`.

use candle_core::WithDType;

/// A matrix in row-major storage: element `(i, j)` of the `rows x cols` operand is
/// `data[i * stride + j]`, or `data[j * stride + i]` when `transposed`.
#[derive(Clone, Copy)]
pub(crate) struct View<'a, T> {
    data: &'a [T],
    stride: usize,
    transposed: bool,
}

impl<'a, T> View<'a, T> {
    pub(crate) fn new(data: &'a [T], stride: usize) -> Self {
        View {
            data,
            stride,
            transposed: false,
        }
    }

    pub(crate) fn t(self) -> Self {
        View {
            transposed: !self.transposed,
            ..self
        }
    }

    /// Strides (row, column) of the operand, and whether a `rows x cols` operand fits.
    fn strides(&self, rows: usize, cols: usize) -> (isize, isize, bool) {
        let (rs, cs) = if self.transposed {
            (1, self.stride)
        } else {
            (self.stride, 1)
        };
        let last = (rows.max(1) - 1) * rs + (cols.max(1) - 1) * cs;
        (rs as isize, cs as isize, last < self.data.len())
    }
}

/// `c (m x n, row stride ldc) = [c +] a b` with `a` `m x k` and `b` `k x n`, on this thread.
pub(crate) fn mm<T: WithDType + 'static>(
    c: &mut [T],
    ldc: usize,
    a: View<T>,
    b: View<T>,
    (m, k, n): (usize, usize, usize),
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    let (a_rs, a_cs, a_fits) = a.strides(m, k);
    let (b_rs, b_cs, b_fits) = b.strides(k, n);
    assert!(a_fits && b_fits && (m - 1) * ldc + n <= c.len() && n <= ldc);
    // SAFETY: the assert bounds every element the strides reach; `c` is exclusive.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            ldc as isize,
            accumulate,
            a.data.as_ptr(),
            a_cs,
            a_rs,
            b.data.as_ptr(),
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
