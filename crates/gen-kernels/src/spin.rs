//! A two-way fork-join with a spinning helper thread.
//!
//! Training alternates short parallel sections (matrix products of ~0.2-1 ms) with serial
//! element-wise work. Waking a sleeping rayon worker for each product cost as much as the
//! product saved on this 2-core VM (measured: 2 threads no faster than 1), so, like
//! XLA/Eigen's thread pool, the helper here spins for a while after each job before it
//! parks, and stays hot across a training step.

use std::any::Any;
use std::cell::UnsafeCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock, TryLockError};
use std::thread::Thread;

const IDLE: u8 = 0;
const READY: u8 = 1;
const DONE: u8 = 2;

/// Spin iterations (each a `pause`, tens of ns) before the helper parks: about a millisecond.
const SPIN_LIMIT: u32 = 40_000;

type Job = *const (dyn Fn() + Sync);

struct Helper {
    state: AtomicU8,
    sleeping: AtomicBool,
    job: UnsafeCell<Option<Job>>,
    thread: OnceLock<Thread>,
    /// One caller at a time; others run both halves themselves.
    caller: Mutex<()>,
    /// A panic of the helper's job, carried to the caller.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

// SAFETY: `job` is written by the caller only while `state` is IDLE and read by the helper
// only after it observes READY (Release/Acquire on `state`); the pointee outlives the call
// because the caller waits for DONE before returning.
unsafe impl Sync for Helper {}
unsafe impl Send for Helper {}

/// Whether a second thread may be used: `RAYON_NUM_THREADS` (else the core count) is at
/// least 2. Unit tests always split, so the two-thread paths are tested on any machine.
pub fn two_threads() -> bool {
    cfg!(test) || rayon::current_num_threads() >= 2
}

fn helper() -> Option<&'static Helper> {
    static HELPER: OnceLock<Option<&'static Helper>> = OnceLock::new();
    *HELPER.get_or_init(|| {
        if !two_threads() {
            return None;
        }
        let h: &'static Helper = Box::leak(Box::new(Helper {
            state: AtomicU8::new(IDLE),
            sleeping: AtomicBool::new(false),
            job: UnsafeCell::new(None),
            thread: OnceLock::new(),
            caller: Mutex::new(()),
            panic: Mutex::new(None),
        }));
        let handle = std::thread::Builder::new()
            .name("gen-spin-helper".into())
            .spawn(move || run_helper(h))
            .ok()?;
        let _ = h.thread.set(handle.thread().clone());
        Some(h)
    })
}

fn run_helper(h: &'static Helper) {
    crate::runtime::flush_subnormals_on_this_thread();
    loop {
        let mut spins = 0;
        while h.state.load(Ordering::Acquire) != READY {
            if spins < SPIN_LIMIT {
                std::hint::spin_loop();
                spins += 1;
            } else {
                h.sleeping.store(true, Ordering::SeqCst);
                if h.state.load(Ordering::SeqCst) != READY {
                    std::thread::park();
                }
                h.sleeping.store(false, Ordering::SeqCst);
                spins = 0;
            }
        }
        // SAFETY: READY was published after `job` was written (see the Sync impl).
        if let Some(job) = unsafe { *h.job.get() } {
            // SAFETY: the caller keeps the closure alive until it sees DONE. A panic is
            // caught so that DONE is still published (else the caller would wait forever)
            // and handed to the caller, who resumes it.
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| unsafe { (*job)() })) {
                *lock(&h.panic) = Some(payload);
            }
        }
        h.state.store(DONE, Ordering::Release);
    }
}

/// Runs `a` on this thread and `b` on the helper (when there is one and it is free),
/// returning when both are done. A panic in either is resumed on this thread after both
/// have finished.
pub fn join(a: impl FnOnce(), b: impl Fn() + Sync) {
    let Some(h) = helper() else {
        a();
        b();
        return;
    };
    // A panic resumed by an earlier call poisons the lock; the helper is idle again by
    // then (WaitForHelper), so poisoning means nothing here.
    let _guard = match h.caller.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(e)) => e.into_inner(),
        Err(TryLockError::WouldBlock) => {
            a();
            b();
            return;
        }
    };
    let b_ref: &(dyn Fn() + Sync) = &b;
    // SAFETY: erases the lifetime of `b_ref`; we wait for DONE below before `b` is dropped.
    let job: Job = unsafe { std::mem::transmute::<&(dyn Fn() + Sync), Job>(b_ref) };
    // SAFETY: the helper is IDLE (we hold the caller lock and reset to IDLE before releasing it).
    unsafe { *h.job.get() = Some(job) };
    h.state.store(READY, Ordering::SeqCst);
    if h.sleeping.load(Ordering::SeqCst) {
        if let Some(t) = h.thread.get() {
            t.unpark();
        }
    }
    // Declared after the caller lock, so dropped (waiting for the helper) before it.
    let wait = WaitForHelper(h);
    a();
    drop(wait);
    if let Some(payload) = lock(&h.panic).take() {
        resume_unwind(payload);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits for the helper to finish its job and makes it idle again, on every way out of
/// [`join`]: if `a` panics, unwinding drops `b` only after the helper is done with it.
struct WaitForHelper(&'static Helper);

impl Drop for WaitForHelper {
    fn drop(&mut self) {
        let h = self.0;
        // Spin for the helper; yield once it takes long (an oversubscribed machine may
        // have descheduled it, and spinning would only keep it off the core).
        let mut spins = 0u32;
        while h.state.load(Ordering::Acquire) != DONE {
            if spins < SPIN_LIMIT {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
        // SAFETY: the helper finished the job; nothing reads `job` until the next READY.
        unsafe { *h.job.get() = None };
        if std::thread::panicking() {
            // `a`'s panic is already on its way; a second one from `b` is dropped.
            lock(&h.panic).take();
        }
        h.state.store(IDLE, Ordering::Release);
    }
}

/// Runs `f(first)` on this thread and `f(second)` on the helper.
pub fn join_parts<P: Send>(first: P, second: P, f: impl Fn(P) + Sync) {
    let second = Mutex::new(Some(second));
    join(
        || f(first),
        || {
            let taken = lock(&second).take();
            if let Some(p) = taken {
                f(p)
            }
        },
    );
}

/// `f` on each part, the first two on the two threads (the rest after them, in turn), and
/// what each returned, in the parts' order.
pub fn each_part<P: Sync, R: Send>(parts: &[P], f: impl Fn(&P) -> R + Sync) -> Vec<R> {
    match parts {
        [a, b] => {
            let (first, second) = (Mutex::new(None), Mutex::new(None));
            join(
                || *lock(&first) = Some(f(a)),
                || *lock(&second) = Some(f(b)),
            );
            [first, second]
                .into_iter()
                .filter_map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
                .collect()
        }
        _ => parts.iter().map(f).collect(),
    }
}

/// Element-wise work smaller than this stays on one thread.
pub const SPLIT_MIN_ELEMENTS: usize = 32 * 1024;

/// Fills `out`, made of rows of `row_len` values, with `fill(first_row, rows)`: in two
/// halves on two threads when the `work` (in elements touched) is big enough and a
/// helper exists, else in one call.
pub fn fill_rows<T: Send>(
    out: &mut [T],
    row_len: usize,
    work: usize,
    fill: impl Fn(usize, &mut [T]) + Sync,
) {
    let rows = out.len().checked_div(row_len).unwrap_or(0);
    if rows < 2 || work < SPLIT_MIN_ELEMENTS || helper().is_none() {
        return fill(0, out);
    }
    let half = rows / 2;
    let (a, b) = out.split_at_mut(half * row_len);
    join_parts((0, a), (half, b), |(first, part)| fill(first, part));
}

#[cfg(test)]
mod tests {
    use std::panic::catch_unwind;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    /// Runs `f` on its own thread and fails the test if it does not finish in 20 s, so a
    /// hang shows as a failure instead of a stuck test run.
    fn within_deadline(f: impl FnOnce() + Send + 'static) {
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            f();
            let _ = done.send(());
        });
        finished
            .recv_timeout(Duration::from_secs(20))
            .expect("join hung (or the test body panicked)");
    }

    /// Tries until `b` really ran on the helper (another test may hold it for a moment).
    fn on_helper(run: impl Fn(&AtomicBool)) {
        for _ in 0..1000 {
            let on_helper = AtomicBool::new(false);
            run(&on_helper);
            if on_helper.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("the helper never took the job");
    }

    fn is_helper() -> bool {
        std::thread::current().name() == Some("gen-spin-helper")
    }

    #[test]
    fn panic_in_first_half_waits_for_the_helper() {
        within_deadline(|| {
            on_helper(|took| {
                // `b` owns a buffer it writes to after a delay; if unwinding from `a`
                // dropped it while the helper still ran, this would be a use after free
                // (and `finished` would still be false when join unwinds).
                let finished = AtomicBool::new(false);
                let buffer = vec![0u8; 1 << 16];
                let r = catch_unwind(std::panic::AssertUnwindSafe(|| {
                    super::join(
                        || panic!("first half"),
                        || {
                            took.store(is_helper(), Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(20));
                            assert_eq!(buffer.iter().map(|&b| b as usize).sum::<usize>(), 0);
                            finished.store(true, Ordering::SeqCst);
                        },
                    )
                }));
                assert!(r.is_err(), "the first half's panic reaches the caller");
                // (When the helper was busy, `a` ran first on this thread and `b` never ran.)
                if took.load(Ordering::SeqCst) {
                    assert!(
                        finished.load(Ordering::SeqCst),
                        "join unwound before `b` finished"
                    );
                }
            });
        });
    }

    #[test]
    fn panic_on_the_helper_reaches_the_caller_and_the_helper_survives() {
        within_deadline(|| {
            on_helper(|took| {
                let r = catch_unwind(|| {
                    super::join(
                        || {},
                        || {
                            took.store(is_helper(), Ordering::SeqCst);
                            panic!("second half");
                        },
                    )
                });
                let payload = r.expect_err("the helper's panic reaches the caller");
                assert_eq!(payload.downcast_ref::<&str>(), Some(&"second half"));
            });
            // The helper still takes jobs afterwards.
            on_helper(|took| super::join(|| {}, || took.store(is_helper(), Ordering::SeqCst)));
        });
    }

    #[test]
    fn both_halves_panicking_resume_the_first() {
        within_deadline(|| {
            for _ in 0..50 {
                let r = catch_unwind(|| super::join(|| panic!("first"), || panic!("second")));
                let payload = r.expect_err("a panic reaches the caller");
                assert_eq!(payload.downcast_ref::<&str>(), Some(&"first"));
            }
            // Nothing stale is left for the next call.
            super::join(|| {}, || {});
        });
    }

    #[test]
    fn fill_rows_fills_every_row_once() {
        let mut out = vec![0usize; 3 * 40_000];
        super::fill_rows(&mut out, 3, 120_000, |first, part| {
            for (i, row) in part.chunks_mut(3).enumerate() {
                row.iter_mut().for_each(|v| *v += first + i);
            }
        });
        assert!(out.chunks(3).enumerate().all(|(i, r)| r == [i, i, i]));
    }

    #[test]
    fn both_halves_run_every_time() {
        let count = AtomicUsize::new(0);
        for i in 0..2000 {
            let mut a_done = false;
            super::join(
                || a_done = true,
                || {
                    count.fetch_add(1, Ordering::Relaxed);
                },
            );
            assert!(a_done);
            assert_eq!(count.load(Ordering::Relaxed), i + 1);
            if i % 500 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(3)); // let the helper park
            }
        }
    }

    #[test]
    fn concurrent_callers_are_safe() {
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..500 {
                        super::join(
                            || {
                                total.fetch_add(1, Ordering::Relaxed);
                            },
                            || {
                                total.fetch_add(1, Ordering::Relaxed);
                            },
                        );
                    }
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), 4 * 500 * 2);
    }
}
