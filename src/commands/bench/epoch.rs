//! `gen bench --epoch`: three quick configs as `gen train` runs them, process start to
//! exit (the quick start's wall times for the rest come from whole runs).

use anyhow::{bail, Result};
use std::process::Command;
use std::time::Instant;

/// The configs `--epoch` times: one epoch of the VAE and of the ring GAN, the whole fit of
/// the ring EM (closed-form, so it has no epochs).
pub const EPOCH_CONFIGS: &[&str] = &[
    "configs/vae.yaml",
    "configs/em-gmm.yaml",
    "configs/gan-ring.yaml",
];

/// Runs `gen train CONFIG --set train.epochs=1` in a temporary directory and reports its
/// wall time (for EM, which ignores epochs, the whole fit).
pub fn time_epoch(config: &str) -> Result<()> {
    let tmp = std::env::temp_dir().join(format!("gen-bench-{}", std::process::id()));
    let t0 = Instant::now();
    let out = Command::new(std::env::current_exe()?)
        .args(["train", config, "--set", "train.epochs=1", "--run-dir"])
        .arg(&tmp)
        .output()?;
    let secs = t0.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&tmp);
    if !out.status.success() {
        bail!(
            "timing {config} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("epoch 1/1") || l.contains(" iterations (restart "))
        .unwrap_or("")
        .to_string();
    let what = if line.starts_with("epoch") {
        "one epoch"
    } else {
        "the whole fit"
    };
    println!("{config}: {what} in {secs:.1}s wall (process start to exit)\n  {line}");
    Ok(())
}
