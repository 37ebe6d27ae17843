//! The local executor: `--jobs N` worker processes at a time (`gen sweep --task I DIR`),
//! each pinned to its own share of the cores with `RAYON_NUM_THREADS` set to it. A
//! failure is recorded and the rest go on; Ctrl-C (or SIGTERM) is passed to the running
//! jobs once, they checkpoint and stop, and the sweep says how to resume.

use super::manifest::{self, Manifest};
use super::state::{self, Phase};
use crate::train::interrupt::Interrupted;
use anyhow::{Context, Result};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Running {
    job: usize,
    slot: usize,
    child: Child,
    started: Instant,
}

/// Counts for the progress line and the closing summary.
#[derive(Default)]
pub struct Tally {
    pub done: usize,
    pub failed: Vec<usize>,
    pub interrupted: usize,
}

/// Runs `todo` (job numbers) `jobs` at a time.
pub fn run(dir: &Path, m: &Manifest, todo: Vec<usize>, jobs: usize) -> Result<Tally> {
    let cores = crate::cores::allowed();
    let threads = (cores.len() / jobs).max(1);
    let exe = std::env::current_exe().context("finding the gen binary to run jobs with")?;
    let taskset = crate::cores::has_taskset();
    let caught: Vec<(Arc<AtomicBool>, i32)> = [
        (signal_hook::consts::SIGINT, 130),
        (signal_hook::consts::SIGTERM, 143),
    ]
    .into_iter()
    .map(|(sig, code)| {
        let flag = Arc::new(AtomicBool::new(false));
        // A second signal of the same kind ends the sweep at once (its jobs go on to
        // their checkpoints on their own).
        signal_hook::flag::register_conditional_shutdown(sig, code, Arc::clone(&flag))?;
        signal_hook::flag::register(sig, Arc::clone(&flag))?;
        Ok((flag, code))
    })
    .collect::<Result<_>>()?;
    println!(
        "{} job{} in {}, {} at a time, {} thread{} each{}",
        todo.len(),
        if todo.len() == 1 { "" } else { "s" },
        dir.display(),
        jobs.min(todo.len().max(1)),
        threads,
        if threads == 1 { "" } else { "s" },
        if taskset {
            " (pinned with taskset)"
        } else {
            ""
        }
    );
    let total = todo.len();
    let mut queue: VecDeque<usize> = todo.into();
    let mut running: Vec<Running> = vec![];
    let mut tally = Tally::default();
    let mut finished_secs: Vec<f64> = vec![];
    let mut free_slots: Vec<usize> = (0..jobs).rev().collect();
    let mut exit_code = None;
    loop {
        if exit_code.is_none() {
            if let Some((_, code)) = caught.iter().find(|(f, _)| f.load(Ordering::Relaxed)) {
                exit_code = Some(*code);
                match running.len() {
                    1 => println!(
                        "stopping: the running job checkpoints and stops; no new ones start"
                    ),
                    n => println!(
                        "stopping: the {n} running jobs checkpoint and stop; no new ones start"
                    ),
                }
                for r in &running {
                    interrupt(&r.child);
                }
            }
        }
        while exit_code.is_none() && !free_slots.is_empty() && !queue.is_empty() {
            let job = queue.pop_front().expect("not empty");
            let slot = free_slots.pop().expect("not empty");
            let slot_cores: Vec<usize> = (0..threads)
                .map(|t| cores[(slot * threads + t) % cores.len()])
                .collect();
            let child = spawn(&exe, dir, job, threads, taskset.then_some(&slot_cores[..]))?;
            let name = &m.jobs[job].name;
            println!("job {job} ({name}) started");
            running.push(Running {
                job,
                slot,
                child,
                started: Instant::now(),
            });
        }
        if running.is_empty() && (queue.is_empty() || exit_code.is_some()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut i = 0;
        while i < running.len() {
            let Some(status) = running[i].child.try_wait()? else {
                i += 1;
                continue;
            };
            let r = running.swap_remove(i);
            free_slots.push(r.slot);
            let secs = r.started.elapsed().as_secs_f64();
            let mut s = state::read(dir, r.job);
            // A worker that died (killed, out of memory) could not record it.
            if s.state == Phase::Running {
                let log =
                    std::fs::read_to_string(manifest::log_path(dir, r.job)).unwrap_or_default();
                s.state = Phase::Failed;
                s.pid = None;
                s.error = Some(format!(
                    "the job's process ended with {status}; its log ends:\n{}",
                    state::last_lines(&log, 6)
                ));
                state::write(dir, r.job, &s)?;
            }
            let name = &m.jobs[r.job].name;
            match s.state {
                Phase::Done => {
                    tally.done += 1;
                    finished_secs.push(secs);
                }
                Phase::Interrupted => tally.interrupted += 1,
                _ => tally.failed.push(r.job),
            }
            let left = queue.len() + running.len();
            let eta = match (finished_secs.is_empty(), exit_code.is_some()) {
                (false, false) => {
                    let mean = finished_secs.iter().sum::<f64>() / finished_secs.len() as f64;
                    let waves = left.div_ceil(jobs) as f64;
                    format!(", ~{} left", crate::run::progress::duration(mean * waves))
                }
                _ => String::new(),
            };
            let how = match s.state {
                Phase::Done => format!("done in {secs:.1}s"),
                Phase::Interrupted => "stopped after checkpointing".to_string(),
                _ => format!(
                    "FAILED: {}",
                    s.error
                        .as_deref()
                        .unwrap_or("")
                        .lines()
                        .last()
                        .unwrap_or("")
                ),
            };
            println!(
                "job {} ({name}) {how} [{}/{total} done, {} failed, {} running{eta}]",
                r.job,
                tally.done,
                tally.failed.len(),
                running.len()
            );
        }
    }
    if let Some(code) = exit_code {
        return Err(Interrupted {
            code,
            message: format!(
                "sweep stopped ({} done, {} failed, {} stopped with a checkpoint, {} not started); continue with: gen sweep --resume {}",
                tally.done,
                tally.failed.len(),
                tally.interrupted,
                queue.len(),
                dir.display()
            ),
        }
        .into());
    }
    Ok(tally)
}

fn spawn(
    exe: &Path,
    dir: &Path,
    job: usize,
    threads: usize,
    cores: Option<&[usize]>,
) -> Result<Child> {
    let log_path = manifest::log_path(dir, job);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let mut cmd = match cores {
        Some(c) => {
            let mut cmd = Command::new("taskset");
            let list: Vec<String> = c.iter().map(|c| c.to_string()).collect();
            cmd.args(["-c", &list.join(",")]).arg(exe);
            cmd
        }
        None => Command::new(exe),
    };
    let dir: PathBuf = std::path::absolute(dir)?;
    cmd.args(["sweep", "--task", &job.to_string()])
        .arg(&dir)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Its own process group: a Ctrl-C at the terminal reaches the sweep alone, which
    // passes it on once (a second one would stop a job without its checkpoint).
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.spawn().with_context(|| format!("starting job {job}"))
}

fn interrupt(child: &Child) {
    gen_kernels::sys::send_signal(child.id(), signal_hook::consts::SIGINT);
}
