//! One writer per run directory: an advisory lock (`flock`) on `RUN_DIR/.lock`, held for
//! the life of the process. The OS releases it on any exit, a kill included, so a
//! stopped run never leaves a stale lock behind; the file itself only says who holds it.

use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;

const FILE: &str = ".lock";

/// A held lock; dropping it (or exiting) releases it.
pub struct RunLock {
    _file: File,
}

/// Locks an existing run directory (one with a `config.yaml`) for `what`, e.g.
/// `gen train --resume`; a directory that is no run is an error, not given a lock file.
pub fn acquire_run(dir: &Path, what: &str) -> Result<RunLock> {
    crate::run::setup::run_dir_config(dir)?;
    acquire(dir, what)
}

/// Locks `dir` for `what`, or fails naming the process that holds it.
pub fn acquire(dir: &Path, what: &str) -> Result<RunLock> {
    let path = dir.join(FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open the run's lock file {}", path.display()))?;
    if !gen_kernels::sys::try_lock_exclusive(&file) {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let mut lines = holder.lines();
        let who = match (lines.next(), lines.next()) {
            (Some(pid), Some(cmd)) => format!("pid {pid} (`{cmd}`)"),
            (Some(pid), None) => format!("pid {pid}"),
            _ => "another gen process".to_string(),
        };
        bail!(
            "{} is in use by {who}: a run directory has one writer at a time; wait for it to finish or stop it, then run {what} again",
            dir.display()
        );
    }
    let me = format!("{}\n{what}\n", std::process::id());
    let mut write = || -> std::io::Result<()> {
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(me.as_bytes())
    };
    write().with_context(|| format!("writing the run's lock file {}", path.display()))?;
    Ok(RunLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second lock on the same directory fails naming this process; dropping the first
    /// frees it.
    #[test]
    fn one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), "gen train").unwrap();
        let e = acquire(dir.path(), "gen eval").err().unwrap().to_string();
        assert!(
            e.contains(&format!(
                "in use by pid {} (`gen train`)",
                std::process::id()
            )),
            "{e}"
        );
        drop(first);
        acquire(dir.path(), "gen eval").unwrap();
    }
}
