//! The JAX peers, and pinning a process to the first N cores.

use super::workload::Workload;
use anyhow::{Context, Result};
use std::path::Path;
use std::process::Command;

/// samples/s of one run of `w`'s JAX peer through the launcher `setup`, on `threads` cores.
pub fn time(
    setup: &Path,
    w: Workload,
    b: usize,
    steps: usize,
    warmup: usize,
    threads: usize,
) -> Result<f64> {
    let (script, args) = w.peer(b, steps, warmup);
    let mut cmd = pinned(threads, setup)?;
    cmd.arg(script).args(args);
    let text = super::output(cmd, &format!("the peer {script}"))?;
    super::field(&text, "samples_per_s")
}

/// `program` under `taskset -c` on the first `threads` cores this process may use (XLA
/// sizes its pool from the cores it sees; gen's pool comes from RAYON_NUM_THREADS).
pub fn pinned(threads: usize, program: &Path) -> Result<Command> {
    let cores = crate::cores::allowed();
    if cores.len() < threads {
        anyhow::bail!(
            "--threads {threads}: this process may use {} cores ({})",
            cores.len(),
            cores
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
    }
    let list: Vec<String> = cores[..threads].iter().map(|c| c.to_string()).collect();
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", &list.join(",")]).arg(program);
    // Fail early, with the reason, if taskset is missing.
    Command::new("taskset")
        .arg("-V")
        .output()
        .context("gen bench pins its runs with `taskset` (util-linux), which is not installed")?;
    Ok(cmd)
}
