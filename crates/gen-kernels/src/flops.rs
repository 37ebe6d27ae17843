//! A count of the floating-point operations the matrix products run, per thread: every
//! gemm of the fused kernels adds `2 m n k` on the thread that called it (its halves on
//! the helper included). `gen bench` reads it around a training step to report GFLOP/s;
//! element-wise work is not counted (the papers' convention: multiply-adds of the products).

use std::cell::Cell;

thread_local! {
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

/// Adds the `2 m n k` operations of an `m x k` by `k x n` product.
pub(crate) fn add_gemm(m: usize, n: usize, k: usize) {
    let ops = 2 * (m as u64) * (n as u64) * (k as u64);
    COUNT.with(|c| c.set(c.get().wrapping_add(ops)));
}

/// The operations counted on this thread since it started.
pub fn count() -> u64 {
    COUNT.with(|c| c.get())
}

/// The operations `f` runs on this thread, and its result.
pub fn counted<R>(f: impl FnOnce() -> R) -> (u64, R) {
    let before = count();
    let r = f();
    (count().wrapping_sub(before), r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_runs_on_this_thread_only() {
        let (n, ()) = counted(|| add_gemm(3, 4, 5));
        assert_eq!(n, 120);
        let other = std::thread::spawn(|| counted(|| add_gemm(10, 10, 10)).0);
        assert_eq!(other.join().unwrap(), 2000);
        assert_eq!(counted(|| ()).0, 0);
    }
}
