//! Runs that survive: a SIGKILLed run resumes bit for bit, SIGINT / SIGTERM leave a
//! loadable checkpoint and say how to resume, and a non-finite loss stops the run with
//! the step and the term (or skips the batch).

#![forbid(unsafe_code)]

use crate::support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_gen"))
        .args(args)
        .current_dir(repo())
        .env("RAYON_NUM_THREADS", "1")
        .env_remove("RUST_BACKTRACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the gen binary starts")
}

fn signal(child: &Child, sig: i32) {
    assert!(gen_kernels::sys::send_signal(child.id(), sig));
}

/// The steps of the older checkpoints a run keeps (`checkpoint-step-<step>.safetensors`).
fn kept_steps(dir: &Path) -> Vec<u64> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| {
                let n = e.ok()?.file_name().into_string().ok()?;
                n.strip_prefix("checkpoint-step-")?
                    .strip_suffix(".safetensors")?
                    .parse()
                    .ok()
            })
            .collect()
        })
        .unwrap_or_default()
}

/// Waits (at most 5 minutes) until `ready` holds, failing if the child exits first.
fn wait_until(child: &mut Child, what: &str, ready: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before {what}");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn step_losses(run: &Path) -> Vec<(i64, u32)> {
    scalars(run)
        .into_iter()
        .filter(|(_, t, _)| t == "train/step_loss")
        .map(|(s, _, v)| (s, v.to_bits()))
        .collect()
}

/// Every tensor of a checkpoint as raw bytes.
fn tensors(run: &Path) -> HashMap<String, Vec<u8>> {
    let bytes = std::fs::read(run.join("checkpoint.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(k, v)| (k, v.data().to_vec()))
        .collect()
}

fn args<'a>(config: &'a str, dir: &'a str, sets: &'a [&'a str]) -> Vec<&'a str> {
    let mut a = vec!["train", config, "--run-dir", dir];
    for s in sets {
        a.extend(["--set", s]);
    }
    a
}

/// Trains `config` straight through, and again killed with SIGKILL once a checkpoint
/// at or after `kill_after` is kept, then resumed: every step's loss and the final
/// tensors must be identical.
fn killed_run_matches(config: &str, sets: &[&str], kill_after: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("straight"), tmp.path().join("killed"));
    let (sa, sb) = (a.to_str().unwrap(), b.to_str().unwrap());
    ok(&gen(&args(config, sa, sets)));

    let mut child = spawn(&args(config, sb, sets));
    wait_until(&mut child, "a kept checkpoint", || {
        kept_steps(&b).iter().any(|&s| s >= kill_after)
    });
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let o = gen(&["train", "--resume", sb]);
    ok(&o);
    let resumed_at: u64 = stdout(&o)
        .split("(step ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no resume line in {}", stdout(&o)));
    assert!(resumed_at > kill_after, "resumed at step {resumed_at}");

    let straight: HashMap<i64, u32> = step_losses(&a).into_iter().collect();
    let killed = step_losses(&b);
    assert!(
        straight.len() as u64 > resumed_at + 10,
        "a short run: {}",
        straight.len()
    );
    // Steps between the checkpoint and the kill were trained twice: both times must agree.
    for (step, bits) in &killed {
        assert_eq!(
            straight.get(step),
            Some(bits),
            "step {step}: the killed-and-resumed run differs from the straight one"
        );
    }
    let steps: std::collections::HashSet<i64> = killed.iter().map(|(s, _)| *s).collect();
    assert_eq!(steps.len(), straight.len(), "every step is logged");
    let (ta, tb) = (tensors(&a), tensors(&b));
    assert_eq!(ta.len(), tb.len());
    for (k, v) in &ta {
        assert!(tb[k] == *v, "tensor {k} differs after resuming");
    }
}

#[test]
fn a_killed_adversarial_run_with_dropout_resumes_bit_for_bit() {
    // ALI on the grid: two players, two optimizers, dropout, prior and encoder noise.
    killed_run_matches(
        "configs/ali-grid.yaml",
        &[
            "model.dropout=0.2",
            "train.epochs=3",
            "train.lr_schedule=constant",
            "checkpoint.every_steps=20",
            "log.loss_every=1",
            "log.pictures_every=0",
        ],
        250, // inside epoch 2 (196 steps per epoch)
    );
}

#[test]
fn a_killed_vae_on_dynamically_binarized_mnist_resumes_bit_for_bit() {
    // Fresh Bernoulli pixels each batch and reparameterization noise.
    killed_run_matches(
        "configs/vae-binarized.yaml",
        &[
            "model.hidden=[64]",
            "model.latent=8",
            "train.epochs=2",
            "checkpoint.every_steps=25",
            "log.loss_every=1",
            "log.pictures_every=0",
        ],
        700, // inside epoch 2 (600 steps per epoch)
    );
}

fn interrupted(sig: i32, code: i32, name: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let sd = dir.to_str().unwrap();
    let sets = ["train.epochs=50", "log.pictures_every=0"];
    let mut child = spawn(&args("configs/ali-grid.yaml", sd, &sets));
    let first = dir.join("checkpoint.safetensors");
    wait_until(&mut child, "the first checkpoint", || first.exists());
    std::thread::sleep(Duration::from_millis(300)); // into the next epoch
    signal(&child, sig);
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "{name}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let line = format!("{name}: stopped after step ");
    assert!(err.contains(&line), "{err}");
    assert!(err.contains(&format!("gen train --resume {sd}")), "{err}");
    let step: u64 = err
        .split(&line)
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    // The checkpoint it wrote is the one a resume continues from.
    let o = gen(&["train", "--resume", sd, "--set", "train.epochs=3"]);
    ok(&o);
    assert!(
        stdout(&o).contains(&format!("(step {})", step + 1)),
        "{name}: {}",
        stdout(&o)
    );
}

#[test]
fn sigint_checkpoints_and_exits_130() {
    interrupted(libc::SIGINT, 130, "SIGINT");
}

#[test]
fn sigterm_checkpoints_and_exits_143() {
    interrupted(libc::SIGTERM, 143, "SIGTERM");
}

/// 999 points near the origin and one at 1e30: its batch's loss overflows.
fn outlier_csv(dir: &Path) -> PathBuf {
    let mut rng = 12345u64;
    let mut rows = vec!["x,y".to_string()];
    for i in 0..1000 {
        if i == 500 {
            rows.push("1e30,1e30".into());
            continue;
        }
        let mut u = || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (rng >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        rows.push(format!("{},{}", u(), u()));
    }
    let p = dir.join("points.csv");
    std::fs::write(&p, rows.join("\n")).unwrap();
    p
}

fn outlier_run(dir: &Path, extra: &str) -> std::process::Output {
    let data = outlier_csv(dir);
    let train = format!("data.train={}", data.display());
    let run = dir.join("run");
    gen(&args(
        "configs/vae.yaml",
        run.to_str().unwrap(),
        &[
            "data.name=file",
            &train,
            "model.decoder=gaussian",
            "model.hidden=[16]",
            "model.latent=2",
            "train.epochs=3",
            "train.batch_size=10",
            "checkpoint.every_steps=1",
            "log.loss_every=1",
            extra,
        ],
    ))
}

#[test]
fn a_non_finite_loss_stops_the_run_naming_step_and_term() {
    let tmp = tempfile::tempdir().unwrap();
    let o = outlier_run(tmp.path(), "train.on_nonfinite=stop");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("`joint_kl/reconstruction` is"), "{err}");
    let step: u64 = err
        .split("diverged at step ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    assert!(step > 1, "the outlier came first; pick another row");
    assert!(
        err.contains(&format!(
            "the last good checkpoint, step {}, is kept",
            step - 1
        )),
        "{err}"
    );
    // That checkpoint is good: it resumes (and stops at the same batch again).
    let run = tmp.path().join("run");
    let o = gen(&["train", "--resume", run.to_str().unwrap()]);
    assert!(
        stdout(&o).contains(&format!("(step {step})")),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains(&format!("diverged at step {step} ")),
        "{}",
        stderr(&o)
    );
}

#[test]
fn skip_batch_steps_over_the_bad_batch_and_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let o = outlier_run(tmp.path(), "train.on_nonfinite=skip_batch");
    ok(&o);
    let skipped = stderr(&o).matches("batch skipped").count();
    assert_eq!(skipped, 3, "once per epoch: {}", stderr(&o));
    let run = tmp.path().join("run");
    let losses = step_losses(&run);
    assert!(losses.iter().all(|(_, b)| f32::from_bits(*b).is_finite()));
    assert_eq!(losses.len(), 3 * 100 - 3, "every good step is logged");
}

#[test]
fn a_second_sigint_exits_at_once() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    // DCGAN steps on batches of 256 take seconds: long enough to interrupt one twice.
    let sets = ["train.batch_size=256", "log.pictures_every=0"];
    let mut child = spawn(&args("configs/dcgan.yaml", dir.to_str().unwrap(), &sets));
    let out = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(out).lines();
    // The handlers are installed once training starts, right after this line.
    while let Some(Ok(l)) = lines.next() {
        if l.starts_with("objective:") {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(100));
    let second = Instant::now();
    signal(&child, libc::SIGINT);
    let status = child.wait().unwrap();
    let waited = second.elapsed();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(
        waited < Duration::from_millis(500),
        "took {waited:?} after the second SIGINT"
    );
    assert!(
        !err.contains("stopped after step"),
        "it finished the step: {err}"
    );
}
