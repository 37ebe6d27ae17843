//! `gen sweep`: many runs from one file. A sweep is a base config, a grid and seeds
//! ([`spec`]); its directory holds a manifest that numbers the jobs once and for all, a
//! run directory and a state per job ([`manifest`], [`state`]). Every job is run by
//! `gen sweep --task` ([`task`]), started by the local executor ([`local`]) or as a
//! Slurm array task ([`slurm`]); `gen compare SWEEP_DIR` makes one table of it.

pub mod check;
pub mod local;
pub mod manifest;
pub mod slurm;
pub mod spec;
pub mod state;
pub mod task;

use crate::cli::{Executor, SweepArgs};
use anyhow::{bail, Context, Result};
use manifest::Manifest;
use spec::Spec;
use state::Phase;
use std::path::{Path, PathBuf};

pub fn run(args: SweepArgs) -> Result<()> {
    if let [i, dir] = &args.task[..] {
        let i: usize = i
            .parse()
            .with_context(|| format!("--task {i}: a job number"))?;
        return task::run(Path::new(dir), i);
    }
    if let Some(dir) = &args.status {
        return status(dir);
    }
    if args.jobs == Some(0) {
        bail!("--jobs 0: at least one job runs at a time; give --jobs 1 or more");
    }
    if args.executor == Some(Executor::Slurm) && !args.dry_run {
        slurm::require("sbatch")?; // before a directory is made for nothing
    }
    let (dir, m, todo) = match &args.resume {
        Some(dir) => resume(dir, &args)?,
        None => match create(&args)? {
            Some(created) => created,
            None => return Ok(()), // --dry-run
        },
    };
    if todo.is_empty() {
        println!(
            "every job of {} is done; see: gen compare {}",
            dir.display(),
            dir.display()
        );
        return Ok(());
    }
    // A resumed sweep continues where it was started unless told otherwise.
    let executor = args.executor.unwrap_or(match m.executor.as_str() {
        "slurm" => Executor::Slurm,
        _ => Executor::Local,
    });
    match executor {
        Executor::Local => {
            let jobs = args
                .jobs
                .unwrap_or_else(|| crate::cores::allowed().len())
                .max(1);
            let tally = local::run(&dir, &m, todo, jobs)?;
            println!(
                "sweep finished: {} done, {} failed -> {}",
                tally.done,
                tally.failed.len(),
                dir.display()
            );
            if !tally.failed.is_empty() {
                for j in &tally.failed {
                    let s = state::read(&dir, *j);
                    eprintln!(
                        "  job {j} ({}) failed: {} (log: {})",
                        m.jobs[*j].name,
                        s.error
                            .as_deref()
                            .unwrap_or("")
                            .lines()
                            .last()
                            .unwrap_or(""),
                        manifest::log_path(&dir, *j).display()
                    );
                }
                eprintln!(
                    "once the cause is fixed: gen sweep --resume {} --retry-failed",
                    dir.display()
                );
            }
            if m.eval.is_some() {
                println!("table: gen compare {}", dir.display());
            }
            if !tally.failed.is_empty() {
                bail!("{} of the sweep's jobs failed", tally.failed.len());
            }
            Ok(())
        }
        Executor::Slurm => {
            let req = slurm_request(&dir, &m, &todo, &args)?;
            for j in &todo {
                let mut s = state::read(&dir, *j);
                if s.state != Phase::Pending {
                    s.state = Phase::Pending;
                    state::write(&dir, *j, &s)?;
                }
            }
            let id = slurm::submit(&dir, &m, &todo, &req)?;
            println!(
                "submitted job array {id} ({} task{}, {} CPU{} and {} MB each) to Slurm; logs in {}",
                todo.len(),
                if todo.len() == 1 { "" } else { "s" },
                req.cpus_per_task,
                if req.cpus_per_task == 1 { "" } else { "s" },
                req.mem_mb,
                slurm::logs(&dir).display()
            );
            println!("follow it with: gen sweep --status {}", dir.display());
            Ok(())
        }
    }
}

/// A new sweep: reads the spec, checks every job's config, writes the directory.
fn create(args: &SweepArgs) -> Result<Option<(PathBuf, Manifest, Vec<usize>)>> {
    let file = args
        .file
        .as_ref()
        .expect("clap requires it without --resume/--status/--task");
    let spec = Spec::read(
        file,
        &spec::CommandLine {
            grid: &args.grid,
            seeds: &args.seeds,
            sets: &args.sets,
            no_eval: args.no_eval,
        },
    )?;
    let jobs = spec.jobs();
    if let Some(eval) = &spec.eval {
        task::eval_args(Path::new("RUN_DIR"), eval)?;
    }
    let mut checker = check::Checker::default();
    let mut checked = std::collections::HashSet::new();
    for j in &jobs {
        // Seeds do not change what is checked.
        if checked.insert(Manifest::point(j)) {
            checker.check(&spec, &j.overrides, false)?;
        }
    }
    if args.dry_run {
        println!(
            "{}: {} job{} of {} ({})",
            spec.name,
            jobs.len(),
            if jobs.len() == 1 { "" } else { "s" },
            spec.config.display(),
            match spec.sets.is_empty() {
                true => "no other overrides".to_string(),
                false => format!("every job with {}", spec.sets.join(" ")),
            }
        );
        for j in &jobs {
            println!("  {}  {}", j.name, j.overrides.join(" "));
        }
        match &spec.eval {
            Some(e) if e.is_empty() => println!("each evaluated with gen eval's defaults"),
            Some(e) => println!("each evaluated with: gen eval RUN_DIR {}", e.join(" ")),
            None => println!("not evaluated"),
        }
        return Ok(None);
    }
    let dir = crate::run::dir::create(&args.runs, &spec.name, args.run_dir.as_deref())?;
    let executor = match args.executor {
        Some(Executor::Slurm) => "slurm",
        _ => "local",
    };
    let m = Manifest::new(&spec, jobs, executor)?;
    m.create(&dir, &spec.config_text)?;
    let todo = (0..m.jobs.len()).collect();
    Ok(Some((dir, m, todo)))
}

/// The jobs of an existing sweep still to run: all but the done ones (and the failed
/// ones unless `--retry-failed`).
fn resume(dir: &Path, args: &SweepArgs) -> Result<(PathBuf, Manifest, Vec<usize>)> {
    let m = Manifest::read(dir)?;
    if !args.grid.is_empty() || !args.seeds.is_empty() || !args.sets.is_empty() {
        bail!(
            "--resume continues the sweep as its manifest ({}) says; --grid, --seeds and --set would change its jobs (start a new sweep for that)",
            dir.join(manifest::MANIFEST).display()
        );
    }
    let mut todo = vec![];
    let mut failed = vec![];
    for j in &m.jobs {
        match state::read(dir, j.job).state {
            Phase::Done => {}
            Phase::Failed if !args.retry_failed => failed.push(j.job),
            _ => todo.push(j.job),
        }
    }
    if !failed.is_empty() {
        println!(
            "leaving {} failed job{} as {} (add --retry-failed to run them again): {}",
            failed.len(),
            if failed.len() == 1 { "" } else { "s" },
            if failed.len() == 1 {
                "it is"
            } else {
                "they are"
            },
            failed
                .iter()
                .map(|j| j.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let done = m.jobs.len() - todo.len() - failed.len();
    println!(
        "resuming {}: {done} of {} jobs done, {} to run",
        dir.display(),
        m.jobs.len(),
        todo.len()
    );
    Ok((dir.to_path_buf(), m, todo))
}

/// What each Slurm task asks for: 1 CPU (these models train fastest on one thread, and
/// the grid runs side by side) and the memory gen estimates for the largest job.
fn slurm_request(
    dir: &Path,
    m: &Manifest,
    todo: &[usize],
    args: &SweepArgs,
) -> Result<slurm::Request> {
    slurm::require("sbatch")?;
    let spec = Spec {
        name: m.name.clone(),
        config: dir.join(manifest::BASE_CONFIG),
        config_text: std::fs::read_to_string(dir.join(manifest::BASE_CONFIG))?,
        sets: m.sets.clone(),
        axes: vec![],
        eval: m.eval.clone(),
    };
    let mut checker = check::Checker::default();
    let mut bytes = 0u64;
    let mut seen = std::collections::HashSet::new();
    for j in todo {
        let job = &m.jobs[*j];
        if seen.insert(Manifest::point(job)) {
            bytes = bytes.max(checker.check(&spec, &job.overrides, true)?.unwrap_or(0));
        }
    }
    // The estimate covers tensors; the process itself, the data's decoding and the
    // evaluation's samples come on top.
    let mem_mb = (bytes as f64 * 1.5 / 1e6).ceil() as u64 + 512;
    Ok(slurm::Request {
        cpus_per_task: 1,
        mem_mb,
        max_running: args.jobs,
        extra: args.slurm_opts.clone(),
    })
}

/// `gen sweep --status DIR`: each job's state, with Slurm's where it has one.
fn status(dir: &Path) -> Result<()> {
    let m = Manifest::read(dir)?;
    let queue = slurm::queue_states(dir);
    let mut counts = std::collections::BTreeMap::new();
    let width = m
        .jobs
        .iter()
        .map(|j| j.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:>4}  {:width$}  {:11}  {:>8}  {:>3}  note",
        "job", "name", "state", "time", "try"
    );
    for j in &m.jobs {
        let s = state::read(dir, j.job);
        let mut word = s.state.word().to_string();
        let mut note = String::new();
        if let Some(q) = queue.get(&j.job) {
            if matches!(
                s.state,
                Phase::Pending | Phase::Running | Phase::Interrupted
            ) {
                note = format!("slurm: {}", q.to_lowercase());
            }
        }
        if s.state == Phase::Running {
            let alive = s
                .pid
                .is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
            let here = s.host == task::hostname();
            if here && !alive && note.is_empty() {
                word = "stopped".into();
                note = "its process is gone; gen sweep --resume continues it".into();
            }
        }
        if let Some(e) = &s.error {
            note = e.lines().last().unwrap_or_default().to_string();
        }
        let time = match (s.state, s.seconds, s.started) {
            (Phase::Running, _, Some(t)) => format!("{:.0}s", state::now() - t),
            (_, Some(secs), _) => format!("{secs:.0}s"),
            _ => String::new(),
        };
        *counts.entry(word.clone()).or_insert(0) += 1;
        println!(
            "{:>4}  {:width$}  {:11}  {:>8}  {:>3}  {note}",
            j.job, j.name, word, time, s.attempts
        );
    }
    let summary: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    println!("{} jobs: {}", m.jobs.len(), summary.join(", "));
    Ok(())
}
