//! `gen bench`: samples/s of a model's training step (the reference MLP VAE, the conv VAE,
//! the DCGAN) on 1 and 2 threads, the JAX peer on the same step alternating with it, the
//! achieved GFLOP/s against the machine's large-product rate, and full-epoch times.
//!
//! Every timed run is a child process (`gen bench --worker`) with `RAYON_NUM_THREADS` set
//! and pinned to that many cores, so that one invocation measures both thread counts, and
//! gen and the peer see the same cores.

mod epoch;
mod peer;
mod workload;

use crate::cli::BenchArgs;
use anyhow::{bail, Context, Result};
use std::process::Command;
use workload::Workload;

pub fn run(args: BenchArgs) -> Result<()> {
    let models = args
        .model
        .iter()
        .map(|m| Workload::parse(m))
        .collect::<Result<Vec<_>>>()?;
    if args.batch.contains(&0) {
        bail!("--batch sizes must be at least 1");
    }
    if args.threads.contains(&0) {
        bail!("--threads must be at least 1");
    }
    if args.worker {
        return worker(&args, models[0]);
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; benchmark figures come from `cargo build --release`"
        );
    }
    let threads = if args.threads.is_empty() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cores > 1 {
            vec![1, cores]
        } else {
            vec![1]
        }
    } else {
        args.threads.clone()
    };
    let mut peaks = Vec::new();
    for &w in &models {
        let (default_batch, default_steps, default_warmup) = w.defaults();
        let steps = args.steps.unwrap_or(default_steps).max(1);
        let warmup = args.warmup.unwrap_or(default_warmup);
        let batches = if args.batch.is_empty() {
            vec![default_batch]
        } else {
            args.batch.clone()
        };
        println!(
            "{}, f32; median of {} runs x {steps} steps after {warmup}, each run a process on the first N cores",
            w.describe(),
            args.runs.max(1)
        );
        println!(
            "{:>7} {:>6} {:>14} {:>14} {:>6} {:>11} {:>10} {:>7}",
            "threads",
            "batch",
            "gen samples/s",
            "peer samples/s",
            "ratio",
            "gen GFLOP/s",
            "gemm peak",
            "of peak"
        );
        let (mut flops, mut rss_kib) = (0.0, 0.0f64);
        for &t in &threads {
            for &b in &batches {
                let (mut ours, mut theirs) = (Vec::new(), Vec::new());
                for _ in 0..args.runs.max(1) {
                    let run = child(w, b, steps, warmup, t)?;
                    ours.push(run.samples_per_s);
                    flops = run.flops_per_sample;
                    rss_kib = rss_kib.max(run.rss_kib);
                    record_peak(&mut peaks, t, run.peak_gflops);
                    if let Some(setup) = &args.peer {
                        theirs.push(peer::time(setup, w, b, steps, warmup, t)?);
                    }
                }
                let peak = peaks
                    .iter()
                    .find(|(n, _)| *n == t)
                    .map_or(f64::NAN, |p| p.1);
                let ours = median(ours);
                let gflops = ours * flops / 1e9;
                let (peer, ratio) = if theirs.is_empty() {
                    ("-".to_string(), "-".to_string())
                } else {
                    let p = median(theirs);
                    (format!("{p:.0}"), format!("{:.2}", ours / p))
                };
                println!(
                    "{t:>7} {b:>6} {ours:>14.0} {peer:>14} {ratio:>6} {gflops:>11.1} {peak:>10.1} {:>6.0}%",
                    100.0 * gflops / peak
                );
            }
        }
        println!(
            "({:.4} GFLOP per sample in the products of one step; GFLOP/s = samples/s x that; peak RSS of a timed run {:.1} MiB)\n",
            flops / 1e9,
            rss_kib / 1024.0
        );
    }
    if args.epoch {
        for cfg in epoch::EPOCH_CONFIGS {
            epoch::time_epoch(cfg)?;
        }
    }
    Ok(())
}

/// Keeps the best large-product rate seen on `threads` threads: every run measures it, and
/// the best is the closest to what the machine can do (this VM's rate moves by a third
/// with its neighbours' load).
fn record_peak(peaks: &mut Vec<(usize, f64)>, threads: usize, peak: f64) {
    match peaks.iter_mut().find(|(n, _)| *n == threads) {
        Some(p) => p.1 = p.1.max(peak),
        None => peaks.push((threads, peak)),
    }
}

/// In the child: one timed run, the process's peak RSS after it and the large-product
/// rate, as `key=value` for the parent.
fn worker(args: &BenchArgs, w: Workload) -> Result<()> {
    let (b, steps, warmup) = w.defaults();
    let b = args.batch.first().copied().unwrap_or(b);
    let t = workload::time(
        w,
        b,
        args.steps.unwrap_or(steps),
        args.warmup.unwrap_or(warmup),
    )?;
    let rss_kib = peak_rss_kib().unwrap_or(0);
    println!(
        "samples_per_s={} flops_per_sample={} rss_kib={rss_kib} peak_gflops={}",
        t.samples_per_s,
        t.flops_per_sample,
        workload::gemm_peak()?
    );
    Ok(())
}

/// What a child reports of its run.
struct Run {
    samples_per_s: f64,
    flops_per_sample: f64,
    rss_kib: f64,
    peak_gflops: f64,
}

/// Runs `gen bench --worker` on `threads` threads pinned to as many cores.
fn child(w: Workload, b: usize, steps: usize, warmup: usize, threads: usize) -> Result<Run> {
    let exe = std::env::current_exe()?;
    let mut cmd = peer::pinned(threads, &exe)?;
    cmd.args(["bench", "--worker", "--model", w.name()])
        .args(["--batch", &b.to_string(), "--steps", &steps.to_string()])
        .args(["--warmup", &warmup.to_string()])
        .env("RAYON_NUM_THREADS", threads.to_string());
    let text = output(cmd, "gen bench --worker")?;
    Ok(Run {
        samples_per_s: field(&text, "samples_per_s")?,
        flops_per_sample: field(&text, "flops_per_sample")?,
        rss_kib: field(&text, "rss_kib")?,
        peak_gflops: field(&text, "peak_gflops")?,
    })
}

/// A command's stdout, or an error with both its streams.
fn output(mut cmd: Command, what: &str) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("running {what} ({cmd:?})"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "{what} failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(text)
}

/// The number after `key=` in a line of `key=value` pairs.
fn field(text: &str, key: &str) -> Result<f64> {
    text.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {key} in: {text}"))
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

/// Peak resident set size (VmHWM) in KiB, on Linux.
fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
