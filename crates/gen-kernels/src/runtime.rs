//! Process-wide CPU settings for training: flush-to-zero for subnormal floats on every
//! compute thread, and the thread pool.
//!
//! Late in training, Adam's second moments and small gradients drift into the subnormal
//! range, where x86 arithmetic is up to ~100x slower; JAX/XLA flushes them to zero, and
//! so do we (results stay deterministic for a fixed seed and thread count).

use std::sync::Once;

/// Sets FTZ and DAZ on the calling thread (x86_64; a no-op elsewhere).
pub fn flush_subnormals_on_this_thread() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: only sets the FTZ (bit 15) and DAZ (bit 6) flags of this thread's MXCSR.
    unsafe {
        let mut csr: u32 = 0;
        std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack));
        csr |= 0x8040;
        std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack));
    }
}

/// Whether FTZ is on for the calling thread.
pub fn subnormals_flushed() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let mut csr: u32 = 0;
        // SAFETY: reads this thread's MXCSR.
        unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack)) };
        csr & 0x8040 == 0x8040
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Call once at start-up, before any tensor work and any other thread: flushes subnormals on this thread and
/// on every thread of rayon's global pool (which candle's matmul uses). The pool's size
/// follows `RAYON_NUM_THREADS`, else the number of cores.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // candle's element-wise worker pool spins 25,000 rounds after each op; on 2 cores it
        // then fights the matrix-product helper (crate::spin) for the second core (measured:
        // 1,000,000 rounds halves throughput). A short spin unless the user chose one.
        if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
            // SAFETY of set_var: called first thing in main, before any thread exists.
            std::env::set_var("CANDLE_BARRIER_POOL_SPIN_LIMIT", "1000");
        }
        // Nor does that pool get threads of its own: the second core's work goes through
        // the one helper (crate::spin), which the fused kernels keep busy; two pools on two
        // cores took turns descheduling each other (measured: the DCGAN iteration slower
        // on 2 threads than on 1).
        if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
            std::env::set_var("CANDLE_NUM_THREADS", "1");
        }
        flush_subnormals_on_this_thread();
        // Fails only if the pool already exists; then its threads keep their settings.
        let _ = pool_builder().build_global();
    });
}

/// A rayon pool whose threads flush subnormals.
pub fn pool_builder() -> rayon::ThreadPoolBuilder {
    rayon::ThreadPoolBuilder::new().start_handler(|_| flush_subnormals_on_this_thread())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnormals_flush_to_zero_on_flagged_threads() {
        if !cfg!(target_arch = "x86_64") {
            return;
        }
        std::thread::spawn(|| {
            let tiny = std::hint::black_box(1e-39f32); // subnormal in f32
            assert_ne!(
                std::hint::black_box(tiny) * std::hint::black_box(1.0f32),
                0.0
            );
            flush_subnormals_on_this_thread();
            assert!(subnormals_flushed());
            assert_eq!(
                std::hint::black_box(tiny) * std::hint::black_box(1.0f32),
                0.0,
                "DAZ reads it as zero"
            );
        })
        .join()
        .unwrap();
        let pool = pool_builder().num_threads(2).build().unwrap();
        let flags = pool.broadcast(|_| subnormals_flushed());
        assert_eq!(flags, vec![true, true], "every pool thread flushes");
    }
}
