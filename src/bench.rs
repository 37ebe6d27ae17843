//! `gen bench`: samples/s of the reference VAE step (median of several runs after a
//! warm-up), peak RSS, the JAX peer on the same step back to back, and full-epoch times.

use crate::cli::BenchArgs;
use crate::registry;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use gen_core::config::ConfigSource;
use gen_core::model::{Batch, BuildContext, DataInfo, DataKind};
use gen_core::optim::OptimizerConfig;
use gen_core::Rng;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// The reference step's model, as a config the registry builds.
const REFERENCE: &str =
    "model:\n  family: vae\n  hidden: [400]\n  latent: 20\n  decoder: bernoulli\n  kl: analytic\n";

/// The main config of each family, timed by `--epoch`: one epoch of a gradient-trained
/// family, the whole fit of a closed-form one (EM).
const MAIN_CONFIGS: &[&str] = &[
    "configs/vae.yaml",
    "configs/em-gmm.yaml",
    "configs/gan-ring.yaml",
];

pub fn run(args: BenchArgs) -> Result<()> {
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; benchmark figures come from `cargo build --release`"
        );
    }
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into());
    println!(
        "reference VAE step (784-400-20, BCE + analytic KL, Adam), f32, {} timed runs x {} steps after {} warm-up, RAYON_NUM_THREADS={threads}",
        args.runs, args.steps, args.warmup
    );
    println!(
        "{:>6} {:>14} {:>14} {:>8}",
        "batch", "gen samples/s", "peer samples/s", "ratio"
    );
    for &b in &args.batch {
        if b == 0 {
            bail!("--batch sizes must be at least 1");
        }
        let ours = median(time_reference(b, &args)?);
        let peer = match &args.peer {
            Some(p) => Some(median(time_peer(p, b, &args)?)),
            None => None,
        };
        match peer {
            Some(p) => println!("{b:>6} {ours:>14.0} {p:>14.0} {:>8.2}", ours / p),
            None => println!("{b:>6} {ours:>14.0} {:>14} {:>8}", "-", "-"),
        }
    }
    if let Some(kb) = peak_rss_kib() {
        println!("peak RSS of gen: {:.1} MiB", kb as f64 / 1024.0);
    }
    if args.epoch {
        for cfg in MAIN_CONFIGS {
            time_epoch(cfg)?;
        }
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// samples/s of each timed run of the reference step at batch size `b`.
fn time_reference(b: usize, args: &BenchArgs) -> Result<Vec<f64>> {
    let entry = registry::find("vae").context("the vae family is not registered")?;
    let src = ConfigSource::new("<reference step>", REFERENCE);
    let data = DataInfo {
        name: "random-binary".into(),
        kind: DataKind::Image {
            channels: 1,
            height: 28,
            width: 28,
        },
        classes: None,
        modes: None,
        train_size: 1000,
        targets: None,
    };
    let mut rng = Rng::new(0);
    let gen_core::Build::Steps(build) = entry.build else {
        anyhow::bail!("the reference VAE is not a step-trained family");
    };
    let mut model = build(BuildContext {
        config: &src,
        data: &data,
        device: Device::Cpu,
        dtype: DType::F32,
        optimizer: &OptimizerConfig::default(),
        rng: &mut rng,
    })?;
    // A pool of 10 fixed batches of random 0/1 pixels, as the peer uses.
    let pool: Vec<Batch> = (0..10)
        .map(|_| {
            let x: Vec<f32> = (0..b * 784)
                .map(|_| (rng.uniform() > 0.5) as u8 as f32)
                .collect();
            Ok(Batch::inputs(Tensor::from_vec(x, (b, 784), &Device::Cpu)?))
        })
        .collect::<Result<_>>()?;
    let mut noise = Rng::new(1);
    let mut step = 0usize;
    let mut go = |n: usize| -> Result<()> {
        for _ in 0..n {
            model.train_step(&pool[step % pool.len()], &mut noise)?;
            step += 1;
        }
        Ok(())
    };
    go(args.warmup)?;
    (0..args.runs.max(1))
        .map(|_| {
            let t0 = Instant::now();
            go(args.steps)?;
            Ok((args.steps * b) as f64 / t0.elapsed().as_secs_f64())
        })
        .collect()
}

/// samples/s of each run of the JAX peer at batch size `b`.
fn time_peer(setup: &Path, b: usize, args: &BenchArgs) -> Result<Vec<f64>> {
    (0..args.runs.max(1))
        .map(|_| {
            let out = Command::new(setup)
                .args([
                    "peer_vae_jax.py",
                    "--batch",
                    &b.to_string(),
                    "--steps",
                    &args.steps.to_string(),
                ])
                .args(["--warmup", &args.warmup.to_string()])
                .output()
                .with_context(|| format!("running the peer {}", setup.display()))?;
            let text = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() {
                bail!(
                    "the peer failed: {}{}",
                    text,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            text.split_whitespace()
                .find_map(|kv| kv.strip_prefix("samples_per_s="))
                .and_then(|v| v.parse().ok())
                .with_context(|| format!("no samples_per_s in the peer's output: {text}"))
        })
        .collect()
}

/// Runs `gen train CONFIG --set train.epochs=1` in a temporary directory and reports its
/// wall time (for EM, which ignores epochs, the whole fit).
fn time_epoch(config: &str) -> Result<()> {
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

/// Peak resident set size (VmHWM) in KiB, on Linux.
fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
