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
    let cores = allowed_cores();
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

/// The cores in this process's affinity mask (`Cpus_allowed_list`), else 0..cores.
fn allowed_cores() -> Vec<usize> {
    let listed = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|l| parse_cpu_list(l.trim()))
        })
        .unwrap_or_default();
    if listed.is_empty() {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        (0..n).collect()
    } else {
        listed
    }
}

/// `0-3,6,8-9` -> [0, 1, 2, 3, 6, 8, 9].
fn parse_cpu_list(s: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.trim().parse::<usize>(), b.trim().parse::<usize>()) {
            out.extend(a..=b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_lists_parse() {
        assert_eq!(super::parse_cpu_list("0-3,6,8-9"), [0, 1, 2, 3, 6, 8, 9]);
        assert_eq!(super::parse_cpu_list("1"), [1]);
        assert!(super::parse_cpu_list("").is_empty());
    }
}
