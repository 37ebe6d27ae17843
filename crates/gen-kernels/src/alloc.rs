//! The process's allocator: mimalloc (candle allocates a fresh tensor per op, and
//! mimalloc makes that 2.5x cheaper than glibc), able to count the bytes held while a
//! piece of work runs, so that a command can measure its peak (the activations of a
//! batch) before committing to a larger one. Outside a measurement the only cost is one
//! relaxed load per call (the reference VAE step at batch 32, 300 steps under callgrind:
//! 6.22e9 instructions against 6.31e9 with mimalloc bare).

use mimalloc::MiMalloc;
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};

pub struct Counting;

/// mimalloc's `mi_option_purge_delay` (the 16th entry of `mi_option_e` in the v3 header
/// libmimalloc-sys builds; the crate names its neighbours 14 and 16, not this one).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory in the process instead of handing it back to the OS a second later
/// (mimalloc's default), unless MIMALLOC_PURGE_DELAY says otherwise. A training step
/// frees and allocates the same large tensors every time; each hand-back cost a page
/// fault and the zeroing of every page at the next allocation (`clear_page_erms`: 10% of
/// a one-thread DCGAN profile, 23% with another process on the other core).
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option; mimalloc reads options at any time.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
}

/// Whether a measurement is running.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Bytes allocated minus bytes freed since the measurement started (negative when it
/// frees what was there before), and the most it reached.
static HELD: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(by: usize) {
    if ACTIVE.load(Relaxed) {
        let now = HELD.fetch_add(by as isize, Relaxed) + by as isize;
        PEAK.fetch_max(now, Relaxed);
    }
}

fn shrank(by: usize) {
    if ACTIVE.load(Relaxed) {
        HELD.fetch_sub(by as isize, Relaxed);
    }
}

// SAFETY: every call is forwarded to mimalloc unchanged; the counters are only read.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = MiMalloc.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = MiMalloc.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        MiMalloc.dealloc(ptr, layout);
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = MiMalloc.realloc(ptr, layout, new_size);
        if !p.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        p
    }
}

/// The most bytes held at once while `work` ran, above what was held when it started
/// (measurements do not nest).
pub fn peak_of<T>(work: impl FnOnce() -> T) -> (T, u64) {
    HELD.store(0, Relaxed);
    PEAK.store(0, Relaxed);
    ACTIVE.store(true, Relaxed);
    let out = work();
    ACTIVE.store(false, Relaxed);
    (out, PEAK.load(Relaxed).max(0) as u64)
}

#[cfg(test)]
mod tests {
    /// Index 15 is the purge delay: its default in mimalloc v3's options.c (1000 ms)
    /// before, -1 after.
    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads one integer option.
        let get = || unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(get(), 1000);
        super::keep_freed_memory();
        assert_eq!(get(), -1);
    }

    use super::*;

    // This test binary counts with the allocator it measures, as `gen` does.
    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Measured against allocations of known size (the test binary uses this allocator
    /// too). Other test threads allocate and free meanwhile: they may move the figure by
    /// what they free (kilobytes here), hence the 1 MiB of slack.
    #[test]
    fn peak_counts_what_the_work_held() {
        let (v, peak) = peak_of(|| {
            let a = vec![1u8; 8 << 20];
            let b = vec![2u8; 4 << 20];
            a.len() + b.len()
        });
        assert_eq!(v, 12 << 20);
        assert!(peak >= (12 << 20) - (1 << 20), "{peak}");
        let (_, peak) = peak_of(|| {
            for _ in 0..4 {
                std::hint::black_box(vec![0u8; 2 << 20]);
            }
        });
        assert!(peak >= (2 << 20) - (1 << 20), "{peak}");
        assert!(
            peak < 8 << 20,
            "the four 2 MiB vectors were never held at once: {peak}"
        );
    }
}
