//! `gen sweep` through the binary: a 2x2x2 grid with the local executor and its table,
//! a failing job among good ones, a sweep killed with SIGKILL and resumed, the same
//! sweep on a real Slurm cluster (Debian's slurm-wlm, started by scripts/slurm-local.sh),
//! a requeued Slurm task, and bad sweep files.

use crate::support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use support::{gen, gen_in, ok, repo, stderr, stdout};

/// A sweep file over configs/vae.yaml, small enough to train in a second per job.
fn sweep_file(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    let text = format!(
        "config: {}\n{body}",
        repo().join("configs/vae.yaml").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

const TINY: &str = "grid:
  model.latent: [2, 3]
  train.optimizer.lr: [1e-3, 2e-3]
seeds: [0, 1]
set:
  model.hidden: [32]
  data.train_subset: 300
  data.test_subset: 100
  train.epochs: 1
  train.batch_size: 50
eval:
  importance_samples: 10
  quality_samples: 0
";

/// Kept for the whole test binary.
fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// The 2x2x2 sweep, run once with the local executor, two jobs at a time.
fn local_sweep() -> &'static Path {
    static SWEEP: OnceLock<PathBuf> = OnceLock::new();
    SWEEP.get_or_init(|| {
        let file = sweep_file(scratch(), "tiny", TINY);
        let dir = scratch().join("local");
        let o = gen(&[
            "sweep",
            file.to_str().unwrap(),
            "--jobs",
            "2",
            "--run-dir",
            dir.to_str().unwrap(),
        ]);
        ok(&o);
        dir
    })
}

fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

fn manifest_jobs(sweep: &Path) -> Vec<Value> {
    read_json(&sweep.join("sweep.json"))["jobs"]
        .as_array()
        .unwrap()
        .clone()
}

/// Each job's eval.json figures, by job name.
fn figures(sweep: &Path) -> BTreeMap<String, Value> {
    manifest_jobs(sweep)
        .iter()
        .map(|j| {
            let name = j["name"].as_str().unwrap().to_string();
            let eval = read_json(&sweep.join(&name).join("eval.json"));
            (name, eval["metrics"].clone())
        })
        .collect()
}

fn state(sweep: &Path, job: usize) -> Value {
    read_json(&sweep.join("jobs").join(format!("{job}.json")))
}

#[test]
fn a_2x2x2_sweep_has_its_jobs_runs_and_one_table_of_them() {
    let dir = local_sweep();
    let jobs = manifest_jobs(dir);
    assert_eq!(jobs.len(), 8);
    assert_eq!(jobs[5]["name"], "05-latent=3-lr=0.001-seed=1");
    assert_eq!(
        jobs[5]["overrides"],
        serde_json::json!(["model.latent=3", "train.optimizer.lr=0.001", "train.seed=1"])
    );
    for (i, j) in jobs.iter().enumerate() {
        assert_eq!(state(dir, i)["state"], "done", "job {i}");
        let run = dir.join(j["name"].as_str().unwrap());
        assert!(run.join("eval.json").is_file(), "{}", run.display());
        // The job trained what its overrides say.
        let cfg = std::fs::read_to_string(run.join("config.yaml")).unwrap();
        let latent = if i < 4 { "latent: 2" } else { "latent: 3" };
        assert!(cfg.contains(latent), "job {i}: {cfg}");
        assert!(cfg.contains(&format!("seed: {}", i % 2)), "job {i}: {cfg}");
    }

    // gen compare's mean and sample sd per grid point, against the jobs' own files.
    let o = gen(&["compare", dir.to_str().unwrap(), "--format", "json"]);
    ok(&o);
    let table: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let groups = table.as_array().unwrap();
    assert_eq!(groups.len(), 4);
    let figs = figures(dir);
    for (g, group) in groups.iter().enumerate() {
        assert_eq!(group["n"], 2);
        let a = &figs[jobs[2 * g]["name"].as_str().unwrap()];
        let b = &figs[jobs[2 * g + 1]["name"].as_str().unwrap()];
        for fig in ["loss/test", "nll/importance", "joint_kl/latent_kl"] {
            let (x, y) = (a[fig].as_f64().unwrap(), b[fig].as_f64().unwrap());
            let m = &group["metrics"][fig];
            assert!(
                (m["mean"].as_f64().unwrap() - (x + y) / 2.0).abs() < 1e-9,
                "{fig}: {m}"
            );
            // Two values: the sample sd is |x - y| / sqrt(2).
            let sd = (x - y).abs() / 2f64.sqrt();
            assert!((m["sd"].as_f64().unwrap() - sd).abs() < 1e-9, "{fig}: {m}");
            assert_eq!(m["n"], 2);
        }
    }
    assert_eq!(groups[1]["point"]["train.optimizer.lr"], "0.002");
    let o = gen(&["compare", dir.to_str().unwrap()]);
    ok(&o);
    let text = stdout(&o);
    assert!(text.contains("latent=3 lr=0.002  2 "), "{text}");
    assert!(text.contains(" ± "), "{text}");

    // TensorBoard's HParams tab: a point's seeds are one group, other points another.
    let group = |i: usize| {
        let run = dir.join(jobs[i]["name"].as_str().unwrap());
        support::tensorboard_view(&run)["hparams"]["group"].clone()
    };
    assert_eq!(group(0), group(1));
    assert_ne!(group(0), group(2));
    assert_ne!(group(0), group(4));
}

#[test]
fn a_failing_job_is_recorded_and_the_others_finish() {
    let file = sweep_file(scratch(), "failing", TINY);
    let dir = scratch().join("failing");
    // lr 1e6 diverges at once: a value the config accepts and training does not.
    let o = gen(&[
        "sweep",
        file.to_str().unwrap(),
        "--grid",
        "train.optimizer.lr=1e-3,1e6",
        "--grid",
        "model.latent=2",
        "--seeds",
        "0",
        "--jobs",
        "2",
        "--run-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("1 of the sweep's jobs failed"),
        "{}",
        stderr(&o)
    );
    assert_eq!(state(&dir, 0)["state"], "done");
    assert_eq!(read_json(&dir.join("sweep.json"))["executor"], "local");
    assert!(dir.join("00-latent=2-lr=1e-3-seed=0/eval.json").is_file());
    let failed = state(&dir, 1);
    assert_eq!(failed["state"], "failed");
    assert!(
        failed["error"].as_str().unwrap().contains("diverged"),
        "{failed}"
    );
    let o = gen(&["sweep", "--status", dir.to_str().unwrap()]);
    ok(&o);
    assert!(
        stdout(&o).contains("2 jobs: 1 done, 1 failed"),
        "{}",
        stdout(&o)
    );
    // A resume leaves the failed job alone unless asked.
    let o = gen(&["sweep", "--resume", dir.to_str().unwrap()]);
    ok(&o);
    assert!(
        stdout(&o).contains("leaving 1 failed job as it is (add --retry-failed"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("every job of"), "{}", stdout(&o));
}

/// Long enough to be killed mid-training: checkpoints every 10 steps of 40 per epoch.
const KILLABLE: &str = "grid:
  model.latent: [2]
seeds: [0, 1]
set:
  model.hidden: [64]
  data.train_subset: 2000
  data.test_subset: 200
  train.epochs: 8
  train.batch_size: 50
  checkpoint.every_steps: 10
  log.pictures_every: 0
eval:
  importance_samples: 10
  quality_samples: 0
";

#[test]
fn a_sweep_killed_with_sigkill_resumes_to_the_results_of_an_uninterrupted_one() {
    let file = sweep_file(scratch(), "killable", KILLABLE);
    let whole = scratch().join("whole");
    ok(&gen(&[
        "sweep",
        file.to_str().unwrap(),
        "--jobs",
        "2",
        "--run-dir",
        whole.to_str().unwrap(),
    ]));

    let killed = scratch().join("killed");
    let mut sweep = Command::new(env!("CARGO_BIN_EXE_gen"))
        .args([
            "sweep",
            file.to_str().unwrap(),
            "--jobs",
            "2",
            "--run-dir",
            killed.to_str().unwrap(),
        ])
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until a job is mid-training with a checkpoint behind it.
    let start = Instant::now();
    let job_dir = killed.join("00-latent=2-seed=0");
    while !job_dir.join("checkpoint.safetensors").is_file() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGKILL to the sweep and to its jobs: nothing gets to clean up.
    sweep.kill().unwrap();
    sweep.wait().unwrap();
    for i in 0..2 {
        if let Some(pid) = state(&killed, i)["pid"].as_i64() {
            gen_kernels::sys::send_signal(pid as u32, libc::SIGKILL);
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !killed.join("00-latent=2-seed=0/eval.json").is_file(),
        "killed too late to test a resume"
    );
    let o = gen(&["sweep", "--resume", killed.to_str().unwrap(), "--jobs", "2"]);
    ok(&o);
    let log = std::fs::read_to_string(killed.join("logs/job-0.log")).unwrap();
    assert!(
        log.contains("resuming "),
        "job 0 started over instead of resuming:\n{log}"
    );
    assert_eq!(state(&killed, 0)["attempts"], 2);
    assert_eq!(
        figures(&killed),
        figures(&whole),
        "resumed figures differ from uninterrupted ones"
    );
}

/// The one-node Slurm cluster, started once per test binary by the repository's script
/// (which installs slurm-wlm and munge when missing; CI runs as root).
fn slurm() {
    static UP: OnceLock<()> = OnceLock::new();
    UP.get_or_init(|| {
        let o = Command::new(repo().join("scripts/slurm-local.sh"))
            .output()
            .expect("scripts/slurm-local.sh runs");
        assert!(
            o.status.success(),
            "the local Slurm cluster did not start (scripts/slurm-local.sh needs root and Debian's packages):\n{}",
            stderr(&o)
        );
    });
}

/// Waits until every job of `sweep` is done (or one failed), showing --status if not.
fn wait_done(sweep: &Path, jobs: usize, limit: Duration) {
    let start = Instant::now();
    loop {
        let states: Vec<String> = (0..jobs)
            .map(|i| {
                std::fs::read_to_string(sweep.join("jobs").join(format!("{i}.json")))
                    .ok()
                    .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                    .and_then(|v| v["state"].as_str().map(String::from))
                    .unwrap_or_default()
            })
            .collect();
        if states.iter().all(|s| s == "done") {
            return;
        }
        let status = || stdout(&gen(&["sweep", "--status", sweep.to_str().unwrap()]));
        assert!(!states.iter().any(|s| s == "failed"), "{}", status());
        assert!(
            start.elapsed() < limit,
            "not done within {limit:?}:\n{}",
            status()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn the_same_sweep_on_slurm_finishes_with_the_local_figures() {
    slurm();
    let local = local_sweep();
    let file = sweep_file(scratch(), "tiny-slurm", TINY);
    let dir = scratch().join("on-slurm");
    let o = gen(&[
        "sweep",
        file.to_str().unwrap(),
        "--executor",
        "slurm",
        "--run-dir",
        dir.to_str().unwrap(),
    ]);
    ok(&o);
    assert!(stdout(&o).contains("submitted job array"), "{}", stdout(&o));
    let script = std::fs::read_to_string(dir.join("slurm/sweep-0.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=0-7\n"), "{script}");
    wait_done(&dir, 8, Duration::from_secs(300));
    let on_slurm = figures(&dir);
    assert_eq!(on_slurm.len(), 8);
    assert_eq!(
        on_slurm,
        figures(local),
        "Slurm's figures differ from the local executor's"
    );
    // Each task ran under Slurm.
    assert!(
        state(&dir, 3)["slurm_job"]
            .as_str()
            .is_some_and(|j| j.ends_with("_3")),
        "{}",
        state(&dir, 3)
    );
    let o = gen(&["sweep", "--status", dir.to_str().unwrap()]);
    assert!(stdout(&o).contains("8 jobs: 8 done"), "{}", stdout(&o));
    // A resume goes back to Slurm, where the sweep was started, with only what is left.
    assert_eq!(read_json(&dir.join("sweep.json"))["executor"], "slurm");
    let run7 = dir.join("07-latent=3-lr=0.002-seed=1");
    std::fs::remove_dir_all(&run7).unwrap();
    std::fs::remove_file(dir.join("jobs/7.json")).unwrap();
    let o = gen(&["sweep", "--resume", dir.to_str().unwrap()]);
    ok(&o);
    assert!(
        stdout(&o).contains("submitted job array") && stdout(&o).contains("(1 task,"),
        "{}",
        stdout(&o)
    );
    let script = std::fs::read_to_string(dir.join("slurm/sweep-1.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=7\n"), "{script}");
    wait_done(&dir, 8, Duration::from_secs(300));
    assert_eq!(figures(&dir), figures(local));
}

#[test]
fn a_requeued_slurm_task_resumes_from_its_checkpoint() {
    slurm();
    let body = KILLABLE
        .replace("seeds: [0, 1]", "seeds: [0]")
        .replace("epochs: 8", "epochs: 30");
    let file = sweep_file(scratch(), "requeue", &body);
    let dir = scratch().join("requeued");
    ok(&gen(&[
        "sweep",
        file.to_str().unwrap(),
        "--executor",
        "slurm",
        "--run-dir",
        dir.to_str().unwrap(),
    ]));
    let run = dir.join("00-latent=2-seed=0");
    let start = Instant::now();
    while !run.join("checkpoint.safetensors").is_file() {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "the task never checkpointed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let task = state(&dir, 0)["slurm_job"].as_str().unwrap().to_string();
    let o = Command::new("scontrol")
        .args(["requeue", &task])
        .output()
        .unwrap();
    assert!(o.status.success(), "scontrol requeue: {}", stderr(&o));
    // A requeued job waits two minutes before it may start again; once it is back in the
    // queue (an update before that is overwritten by the requeue), let it start now.
    let start = Instant::now();
    loop {
        let q = Command::new("squeue")
            .args(["-h", "-j", &task, "-o", "%T"])
            .output()
            .unwrap();
        if stdout(&q).trim() == "PENDING" {
            // slurmd refuses a launch whose credential is not newer than the revocation
            // of the old one (cred_revoked: `ctime <= revoked`, whole seconds), so a start
            // in the requeue's second fails the task ("Job credential revoked"): wait.
            std::thread::sleep(Duration::from_secs(2));
            let o = Command::new("scontrol")
                .args(["update", &format!("jobid={task}"), "starttime=now"])
                .output()
                .unwrap();
            assert!(o.status.success(), "scontrol update: {}", stderr(&o));
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the task did not return to the queue"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_done(&dir, 1, Duration::from_secs(300));
    let log = std::fs::read_to_string(dir.join("logs/job-0.log")).unwrap();
    assert!(log.contains("SIGTERM: stopped after step"), "{log}");
    assert!(log.contains("resuming "), "{log}");
    assert_eq!(state(&dir, 0)["attempts"], 2);
    // The same job run through without a stop: the same figures.
    let whole = scratch().join("requeue-whole");
    ok(&gen(&[
        "sweep",
        file.to_str().unwrap(),
        "--jobs",
        "2",
        "--run-dir",
        whole.to_str().unwrap(),
    ]));
    assert_eq!(figures(&dir), figures(&whole));
}

#[test]
fn bad_sweeps_get_clear_errors() {
    let dir = scratch().join("bad");
    std::fs::create_dir_all(&dir).unwrap();
    let try_file = |body: &str| {
        let f = sweep_file(&dir, "bad", body);
        let o = gen(&["sweep", f.to_str().unwrap(), "--dry-run"]);
        assert_eq!(o.status.code(), Some(1), "{body}: {}", stdout(&o));
        stderr(&o)
    };
    let e = try_file("grid:\n  model.latnet: [2, 3]\n");
    assert!(
        e.contains("bad.yaml:3: grid key `model.latnet`") && e.contains("did you mean `latent`?"),
        "{e}"
    );
    let e = try_file("grid:\n  model.latent: []\n");
    assert!(
        e.contains("bad.yaml:3: grid `model.latent` is an empty list"),
        "{e}"
    );
    let e = try_file("grid:\n  model.latent: [2, two]\n");
    assert!(
        e.contains("bad.yaml:3: grid `model.latent`, value `two`")
            && e.contains("expected a whole number >= 0, got the text \"two\""),
        "{e}"
    );
    let e = try_file("grid:\n  train.optimizer.lr: [1e-3, fast]\n");
    assert!(
        e.contains("value `fast`") && e.contains("expected a number"),
        "{e}"
    );
    let e = try_file("grids:\n  model.latent: [2]\n");
    assert!(
        e.contains("bad.yaml:2: unknown key `grids`; did you mean `grid`?"),
        "{e}"
    );
    let e = try_file("grid:\n  model.latent: 2\n");
    assert!(
        e.contains("expected a list of values, written [a, b], got 2"),
        "{e}"
    );

    let cfg = repo().join("configs/vae.yaml");
    let o = gen(&["sweep", cfg.to_str().unwrap(), "--jobs", "0"]);
    assert!(
        stderr(&o).contains("--jobs 0: at least one job runs at a time"),
        "{}",
        stderr(&o)
    );
    let o = gen(&[
        "sweep",
        cfg.to_str().unwrap(),
        "--grid",
        "model.latent=2,,3",
        "--dry-run",
    ]);
    assert!(
        stderr(&o).contains("--grid model.latent=2,,3: value 2 is empty"),
        "{}",
        stderr(&o)
    );

    // No sbatch: the packages to install, and no sweep directory left behind.
    let empty = dir.join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let made = dir.join("never-made");
    let o = Command::new(env!("CARGO_BIN_EXE_gen"))
        .args([
            "sweep",
            cfg.to_str().unwrap(),
            "--executor",
            "slurm",
            "--run-dir",
            made.to_str().unwrap(),
        ])
        .env("PATH", &empty)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("`sbatch` is not on PATH") && e.contains("apt-get install slurm-client"),
        "{e}"
    );
    assert!(!made.exists());

    let o = gen(&["sweep", "--resume", dir.to_str().unwrap()]);
    assert!(
        stderr(&o).contains("is not a sweep directory (no sweep.json"),
        "{}",
        stderr(&o)
    );
}

/// Every sweep file shipped lists its jobs: as many as the product of its lists.
#[test]
fn the_shipped_sweep_files_list_their_jobs() {
    let mut n = 0;
    for path in yaml_files("sweeps") {
        n += 1;
        let doc: serde_norway::Value =
            serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut jobs = doc["seeds"].as_sequence().map_or(1, |s| s.len());
        if let Some(grid) = doc["grid"].as_mapping() {
            for (_, values) in grid {
                jobs *= values.as_sequence().unwrap().len();
            }
        }
        let o = gen_in(&repo(), &["sweep", path.to_str().unwrap(), "--dry-run"]);
        ok(&o);
        let text = stdout(&o);
        let listed = text.lines().filter(|l| l.starts_with("  ")).count();
        assert_eq!(listed, jobs, "{}:\n{text}", path.display());
        assert!(text.contains(&format!(": {jobs} job")), "{text}");
    }
    assert!(n >= 3, "sweeps/ holds {n} files");
}

/// Every shipped config is read and its model built as `gen train` would (through a
/// one-job sweep's dry run, which checks before anything trains): a config whose keys,
/// values or data a change of the code no longer accepts fails here, not on a user's
/// first command. Reads the real data sets (`GEN_DATA_DIR`).
#[test]
fn every_shipped_config_builds_its_model() {
    let mut names = Vec::new();
    for path in yaml_files("configs") {
        let o = gen(&["sweep", path.to_str().unwrap(), "--seeds", "0", "--dry-run"]);
        ok(&o);
        assert!(stdout(&o).contains(": 1 job"), "{}", stdout(&o));
        names.push(path.file_stem().unwrap().to_string_lossy().into_owned());
    }
    for shipped in [
        "vae",
        "vae-vamp",
        "vae-binarized-vamp",
        "vae-conv-16",
        "dcgan",
        "gan",
    ] {
        assert!(
            names.iter().any(|n| n == shipped),
            "configs/{shipped}.yaml in {names:?}"
        );
    }
}

/// The `.yaml` files of the repository's directory `dir`, in name order.
fn yaml_files(dir: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(repo().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}
