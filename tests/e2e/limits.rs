//! Runs that respect the machine: a model or a sample count too big for it is refused
//! before it is allocated (peak RSS measured), the memory estimate is close to what a run
//! really holds, `.npy` samples stream, a run directory has one writer, and a write that
//! fails mid-run (a file-size limit standing in for a full disk) stops the run with the
//! path and the OS error, its last good checkpoint intact.

#![forbid(unsafe_code)]

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use support::*;

/// What a finished child did, with its own peak resident set.
struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    max_rss_mb: f64,
}

impl Finished {
    fn failed_cleanly(&self, what: &str) {
        assert_eq!(self.code, Some(1), "{what}: exit code\n{}", self.stderr);
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("RUST_BACKTRACE"),
            "{what}: panicked\n{}",
            self.stderr
        );
        assert!(
            self.stderr.lines().any(|l| l.starts_with("error: ")),
            "{what}: {}",
            self.stderr
        );
    }
}

/// Runs `gen` to its end with `env` set and, if given, a file-size limit (bytes) under
/// which writes past the limit fail with EFBIG instead of killing the process.
fn measured(args: &[&str], env: &[(&str, &str)], file_limit: Option<u64>) -> Finished {
    let out = tempfile::tempdir().unwrap();
    let (so, se) = (out.path().join("stdout"), out.path().join("stderr"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gen"));
    cmd.args(args)
        .current_dir(repo())
        .env("RAYON_NUM_THREADS", "1")
        .env_remove("RUST_BACKTRACE")
        .envs(env.iter().copied())
        .stdout(std::fs::File::create(&so).unwrap())
        .stderr(std::fs::File::create(&se).unwrap())
        .stdin(Stdio::null());
    if let Some(limit) = file_limit {
        gen_kernels::sys::limit_file_size(&mut cmd, limit);
    }
    let mut child = cmd.spawn().expect("the gen binary starts");
    // The child's own high-water mark, polled until it exits: `wait4`'s ru_maxrss would
    // also count this test process's memory at the fork.
    let status_file = format!("/proc/{}/status", child.id());
    let mut hwm_kb = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            {
                hwm_kb = hwm_kb.max(kb);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    assert!(hwm_kb > 0, "no VmHWM read");
    Finished {
        code: status.code(),
        stdout: std::fs::read_to_string(so).unwrap(),
        stderr: std::fs::read_to_string(se).unwrap(),
        max_rss_mb: hwm_kb as f64 / 1024.0,
    }
}

/// A small trained VAE run (2,000 training images, one epoch), shared by the tests that
/// only read it.
fn small_run() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep().join("small");
        ok(&gen(&strs(&small_args(dir.to_str().unwrap(), 1))));
        dir
    })
}

fn small_args(dir: &str, epochs: u32) -> Vec<String> {
    let mut a: Vec<String> = ["train", "configs/vae.yaml", "--run-dir", dir]
        .map(String::from)
        .to_vec();
    for s in [
        format!("train.epochs={epochs}"),
        "data.train_subset=2000".into(),
        "data.test_subset=500".into(),
    ] {
        a.extend(["--set".to_string(), s]);
    }
    a
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn a_model_too_big_for_the_machine_is_refused_before_it_is_allocated() {
    let runs = tempfile::tempdir().unwrap();
    let f = measured(
        &[
            "train",
            "configs/vae.yaml",
            "--set",
            "model.hidden=[100000000]",
            "--runs",
            runs.path().to_str().unwrap(),
        ],
        &[],
        None,
    );
    f.failed_cleanly("huge model");
    // 784 x 1e8 + 2 x 1e8 x 20 + 20 x 1e8 + 1e8 x 784 weights, 2 x 1e8 + 2 x 20 + 784 biases.
    let count = 784u64 * 100_000_000 * 2 + 3 * 20 * 100_000_000 + 2 * 100_000_000 + 2 * 20 + 784;
    let said: u64 = f
        .stderr
        .split("its ")
        .nth(1)
        .and_then(|s| s.split(" parameters").next())
        .map(|s| s.replace(',', ""))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no parameter count in {}", f.stderr));
    assert_eq!(said, count);
    for want in [
        "not enough memory for this model",
        "`encoder.0.weight` (784 x 100000000) alone is 292.1 GiB",
        "GEN_MEMORY_LIMIT",
    ] {
        assert!(f.stderr.contains(want), "expected `{want}` in {}", f.stderr);
    }
    assert!(f.max_rss_mb < 200.0, "peak RSS {:.0} MB", f.max_rss_mb);
    assert_eq!(std::fs::read_dir(runs.path()).unwrap().count(), 0);
}

/// The estimate `gen train` prints is within 0.9x to 2x of the peak the run really holds,
/// and a limit below it is an error that names the limit.
#[test]
fn the_memory_estimate_is_close_to_the_real_peak() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let args = small_args(dir.to_str().unwrap(), 1);
    let f = measured(&strs(&args), &[], None);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let line = f
        .stdout
        .lines()
        .find(|l| l.starts_with("memory: about "))
        .unwrap_or_else(|| panic!("no memory line in {}", f.stdout));
    let total = line["memory: about ".len()..].split(" (").next().unwrap();
    let (v, unit) = total.split_once(' ').unwrap();
    let mb = v.parse::<f64>().unwrap()
        * match unit {
            "MiB" => 1.0,
            "GiB" => 1024.0,
            u => panic!("unit {u}"),
        };
    let ratio = mb / f.max_rss_mb;
    assert!(
        (0.9..2.0).contains(&ratio),
        "estimate {mb:.0} MiB, peak {:.0} MiB: {line}",
        f.max_rss_mb
    );
    // Each limit fails before a run directory is created, saying what is short.
    let runs = tmp.path().join("runs");
    let cases: [(&[&str], &str, &[&str]); 3] = [
        // Too little for the data set.
        (
            &[],
            "100M",
            &[
                "not enough memory for the data set",
                "GEN_MEMORY_LIMIT=100M is 100.0 MiB",
                "use a smaller data set",
            ],
        ),
        // Room for the data but not for a batch of 60,000 images' activations.
        (
            &["--set", "train.batch_size=60000"],
            "1G",
            &[
                "not enough memory: this needs about",
                "activations at batch 60000",
                "lower train.batch_size (now 60000)",
            ],
        ),
        (&[], "lots", &["GEN_MEMORY_LIMIT=lots: not a size"]),
    ];
    for (sets, limit, wants) in cases {
        let mut args = vec![
            "train",
            "configs/vae.yaml",
            "--runs",
            runs.to_str().unwrap(),
        ];
        args.extend(sets);
        let f = measured(&args, &[("GEN_MEMORY_LIMIT", limit)], None);
        f.failed_cleanly(limit);
        for want in wants {
            assert!(f.stderr.contains(want), "{limit}: `{want}` in {}", f.stderr);
        }
        assert!(!runs.exists(), "{limit}: a run directory was created");
    }
}

#[test]
fn samples_stream_to_npy_and_a_huge_count_is_refused() {
    let run = small_run().to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    let f = measured(
        &["sample", run, "-n", "100000000000", "-o", &out("huge.npy")],
        &[],
        None,
    );
    f.failed_cleanly("huge sample count");
    assert!(
        f.stderr
            .contains("100000000000 samples of 784 values take 285.2 TiB on disk"),
        "{}",
        f.stderr
    );
    assert!(f.max_rss_mb < 200.0, "peak RSS {:.0} MB", f.max_rss_mb);
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "left a file"
    );
    // 25,000 samples are drawn and written in batches: memory stays small, and the first
    // thousand are the ones a 1,000-sample call draws.
    let f = measured(
        &["sample", run, "-n", "25000", "-o", &out("many.npy")],
        &[],
        None,
    );
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert!(f.max_rss_mb < 200.0, "peak RSS {:.0} MB", f.max_rss_mb);
    ok(&gen(&["sample", run, "-n", "1000", "-o", &out("few.npy")]));
    let many = gen_data::npy::read(Path::new(&out("many.npy"))).unwrap();
    let few = gen_data::npy::read(Path::new(&out("few.npy"))).unwrap();
    assert_eq!((many.rows, many.cols), (25_000, 784));
    assert_eq!(&many.data[..few.data.len()], &few.data[..]);
    // So are the samples of `gen eval`'s quality figures, and its eval.json is not written.
    let o = gen(&[
        "eval",
        run,
        "--importance-samples",
        "1",
        "--quality-samples",
        "100000000",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("(samples 292.1 GiB, their features 140.1 GiB)")
            && stderr(&o).contains("lower --quality-samples (now 100000000)"),
        "{}",
        stderr(&o)
    );
    assert!(!small_run().join("eval.json").exists());
    // A picture has a sensible bound.
    let f = measured(
        &["sample", run, "-n", "20000", "-o", &out("grid.png")],
        &[],
        None,
    );
    f.failed_cleanly("a 20,000-image grid");
    assert!(
        f.stderr.contains("a PNG shows at most 10000 samples"),
        "{}",
        f.stderr
    );
}

/// A second writer on a run directory is refused naming the first; a killed holder
/// leaves no stale lock.
#[test]
fn a_run_directory_has_one_writer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let args = small_args(dir.to_str().unwrap(), 50);
    let mut child = Command::new(env!("CARGO_BIN_EXE_gen"))
        .args(&args)
        .current_dir(repo())
        .env("RAYON_NUM_THREADS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let t0 = Instant::now();
    while !dir.join("checkpoint.safetensors").exists() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        assert!(t0.elapsed() < Duration::from_secs(300), "no checkpoint");
        std::thread::sleep(Duration::from_millis(20));
    }
    let d = dir.to_str().unwrap();
    for (args, what) in [
        (vec!["eval", d, "--importance-samples", "1"], "gen eval"),
        (vec!["train", "--resume", d], "gen train --resume"),
    ] {
        let o = gen(&args);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", stderr(&o));
        let want = format!("is in use by pid {pid} (`gen train`)");
        assert!(stderr(&o).contains(&want), "{what}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
    assert!(!dir.join("eval.json").exists());
    child.kill().unwrap(); // SIGKILL: the OS drops the lock
    child.wait().unwrap();
    ok(&gen(&[
        "eval",
        d,
        "--importance-samples",
        "1",
        "--quality-samples",
        "0",
    ]));
    assert!(dir.join("eval.json").exists());
}

/// Every `.safetensors` and temporary file in a run directory.
fn checkpoint_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".safetensors") || n.ends_with(".tmp"))
        .collect();
    v.sort();
    v
}

#[test]
fn a_failed_write_stops_the_run_with_the_path_and_keeps_the_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    // The event file outgrows a 1 MB limit in the third epoch of a tiny model, after two
    // checkpoints (315 KB each) were written.
    let dir = tmp.path().join("events");
    let mut args = small_args(dir.to_str().unwrap(), 6);
    args.extend(["--set", "model.hidden=[16]", "--set", "model.latent=2"].map(String::from));
    let f = measured(&strs(&args), &[], Some(1 << 20));
    f.failed_cleanly("event file past the limit");
    assert!(
        f.stderr.contains(&format!("event file {}", dir.display()))
            && f.stderr.contains("File too large (os error 27)")
            && f.stderr
                .contains("The run stopped; its last good checkpoint (step ")
            && f.stderr
                .contains(&format!("gen train --resume {}", dir.display())),
        "{}",
        f.stderr
    );
    let step: u64 = f.stderr.split("checkpoint (step ").nth(1).unwrap()[..f
        .stderr
        .split("checkpoint (step ")
        .nth(1)
        .unwrap()
        .find(')')
        .unwrap()]
        .parse()
        .unwrap();
    let st = std::fs::read(dir.join("checkpoint.safetensors")).unwrap();
    let header = safetensors::SafeTensors::read_metadata(&st).unwrap().1;
    let meta = header.metadata().clone().unwrap();
    assert_eq!(meta["step"], step.to_string());

    // The checkpoint (7.5 MB for the default VAE) cannot be written under a 4 MB limit:
    // the run stops at the end of its second epoch, the first epoch's checkpoint intact.
    let dir = tmp.path().join("checkpoint");
    let d = dir.to_str().unwrap();
    ok(&gen(&strs(&small_args(d, 1))));
    let before = std::fs::read(dir.join("checkpoint.safetensors")).unwrap();
    let files = checkpoint_files(&dir);
    let f = measured(
        &["train", "--resume", d, "--set", "train.epochs=2"],
        &[],
        Some(4 << 20),
    );
    f.failed_cleanly("checkpoint past the limit");
    assert!(
        f.stderr.contains(&format!(
            "writing {} (the previous checkpoint, if any, is intact): File too large (os error 27)",
            dir.join("checkpoint.safetensors").display()
        )) && f.stderr.contains("its last good checkpoint (step 16)"),
        "{}",
        f.stderr
    );
    assert_eq!(
        std::fs::read(dir.join("checkpoint.safetensors")).unwrap(),
        before
    );
    assert_eq!(checkpoint_files(&dir), files, "leftovers");
    // With the cause gone, the run continues from it.
    let o = gen(&["train", "--resume", d, "--set", "train.epochs=2"]);
    ok(&o);
    assert!(stdout(&o).contains("epoch 2/2"), "{}", stdout(&o));
}
