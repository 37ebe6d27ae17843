//! The process's allocator: mimalloc (candle allocates a fresh tensor per op, and
//! mimalloc makes that 2.5x cheaper than glibc), counting the bytes held so that a
//! command can measure the peak of a piece of work (the activations of a batch) before
//! committing to a larger one.

use mimalloc::MiMalloc;
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

pub struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = HELD.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
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
        HELD.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = MiMalloc.realloc(ptr, layout, new_size);
        if !p.is_null() {
            HELD.fetch_sub(layout.size(), Relaxed);
            grew(new_size);
        }
        p
    }
}

/// The most bytes held at once while `work` ran, above what was held when it started.
pub fn peak_of<T>(work: impl FnOnce() -> T) -> (T, u64) {
    let before = HELD.load(Relaxed);
    PEAK.store(before, Relaxed);
    let out = work();
    let peak = PEAK.load(Relaxed);
    (out, peak.saturating_sub(before) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Measured against allocations of known size (the test binary uses this allocator
    /// too); other test threads can only add to the peak, never hide these bytes.
    #[test]
    fn peak_counts_what_the_work_held() {
        let (v, peak) = peak_of(|| {
            let a = vec![1u8; 8 << 20];
            let b = vec![2u8; 4 << 20];
            a.len() + b.len()
        });
        assert_eq!(v, 12 << 20);
        assert!(peak >= 12 << 20, "{peak}");
        let (_, peak) = peak_of(|| {
            for _ in 0..4 {
                std::hint::black_box(vec![0u8; 2 << 20]);
            }
        });
        assert!(peak >= 2 << 20, "{peak}");
    }
}
