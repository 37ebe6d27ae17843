//! Ctrl-C (SIGINT) and SIGTERM during training: the first one asks the loop to finish its
//! step, checkpoint and exit (130 / 143); a second one exits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct Interrupt {
    int: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
}

/// A signal the loop stopped for, as the error `gen train` ends with.
#[derive(Debug)]
pub struct Interrupted {
    /// 128 + the signal number, the shell's convention.
    pub code: i32,
    pub message: String,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Interrupted {}

impl Interrupt {
    /// Replaces the default handlers (which kill the process) for the training loop.
    pub fn install() -> anyhow::Result<Self> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        use signal_hook::flag;
        let (int, term) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        // Registered first, so it sees the flag as it was before this signal: set means
        // this is the second one.
        flag::register_conditional_shutdown(SIGINT, 130, Arc::clone(&int))?;
        flag::register(SIGINT, Arc::clone(&int))?;
        flag::register_conditional_shutdown(SIGTERM, 143, Arc::clone(&term))?;
        flag::register(SIGTERM, Arc::clone(&term))?;
        Ok(Interrupt { int, term })
    }

    /// The signal received since installation, if any: `(name, exit code)`.
    pub fn received(&self) -> Option<(&'static str, i32)> {
        if self.int.load(Ordering::Relaxed) {
            Some(("SIGINT", 130))
        } else if self.term.load(Ordering::Relaxed) {
            Some(("SIGTERM", 143))
        } else {
            None
        }
    }
}
