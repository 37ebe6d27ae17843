//! `gen sweep --task I SWEEP_DIR`: one job, start to finish, wherever it runs (a local
//! worker process or a Slurm array task). It trains (or continues from the job's
//! checkpoint, as `gen train --resume` does), evaluates, and records its state, so that
//! running it again after any stop, a kill included, picks up where it was.

use super::manifest::{self, Manifest, BASE_CONFIG};
use super::state::{self, Phase};
use crate::cli::{Cli, Command, TrainArgs};
use crate::train::interrupt::Interrupted;
use anyhow::{Context, Result};
use clap::Parser;
use std::path::Path;

pub fn run(dir: &Path, index: usize) -> Result<()> {
    let dir = std::path::absolute(dir).with_context(|| format!("{}", dir.display()))?;
    let m = Manifest::read(&dir)?;
    let job = m.job(index)?.clone();
    // Relative paths in the config (data.dir, init_from) mean what they meant where the
    // sweep was started.
    if m.workdir.is_dir() {
        std::env::set_current_dir(&m.workdir)
            .with_context(|| format!("entering {}", m.workdir.display()))?;
    }
    let mut s = state::read(&dir, index);
    s.state = Phase::Running;
    s.attempts += 1;
    s.pid = Some(std::process::id());
    s.host = hostname();
    s.slurm_job = slurm_job();
    s.started = Some(state::now());
    s.seconds = None;
    s.error = None;
    state::write(&dir, index, &s)?;
    println!(
        "== job {index} ({}), attempt {}: {}",
        job.name,
        s.attempts,
        if job.overrides.is_empty() {
            "the base config".to_string()
        } else {
            job.overrides.join(" ")
        }
    );

    let result = train_and_eval(&dir, &m, &job);
    s.seconds = s.started.map(|t| state::now() - t);
    s.pid = None;
    match &result {
        Ok(()) => s.state = Phase::Done,
        Err(e) if e.downcast_ref::<Interrupted>().is_some() => s.state = Phase::Interrupted,
        Err(e) => {
            s.state = Phase::Failed;
            s.error = Some(state::last_lines(&format!("{e:#}"), 8));
        }
    }
    state::write(&dir, index, &s)?;
    if s.state == Phase::Done {
        println!("== job {index} done in {:.1}s", s.seconds.unwrap_or(0.0));
    }
    result
}

fn train_and_eval(dir: &Path, m: &Manifest, job: &super::spec::Job) -> Result<()> {
    let run = manifest::run_dir(dir, job);
    match trained(&run)? {
        Trained::Yes => println!("{} is trained; evaluating", run.display()),
        Trained::Partly => crate::train::run(TrainArgs {
            config: None,
            sets: vec![],
            run_dir: None,
            resume: Some(run.clone()),
            runs: dir.to_path_buf(),
        })?,
        Trained::No => {
            // Left by a job stopped before its first checkpoint: nothing to keep.
            if run.exists() {
                std::fs::remove_dir_all(&run).with_context(|| {
                    format!("clearing {} to start the job again", run.display())
                })?;
            }
            let sets = m.sets.iter().chain(&job.overrides).cloned().collect();
            crate::train::run(TrainArgs {
                config: Some(dir.join(BASE_CONFIG)),
                sets,
                run_dir: Some(run.clone()),
                resume: None,
                runs: dir.to_path_buf(),
            })?
        }
    }
    if let Some(eval) = &m.eval {
        let args = eval_args(&run, eval)?;
        crate::commands::eval::run(args)?;
    }
    Ok(())
}

/// `gen eval RUN_DIR ARGS...` as the command line would parse it.
pub fn eval_args(run: &Path, eval: &[String]) -> Result<crate::cli::EvalArgs> {
    let argv = ["gen".to_string(), "eval".into(), run.display().to_string()]
        .into_iter()
        .chain(eval.iter().cloned());
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Command::Eval(a),
        }) => Ok(a),
        Ok(_) => unreachable!("parsed as eval"),
        Err(e) => anyhow::bail!(
            "the sweep's eval arguments `{}` are not gen eval's: {}",
            eval.join(" "),
            e.to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
        ),
    }
}

enum Trained {
    No,
    Partly,
    Yes,
}

/// How far the job's run got, from its checkpoint: a closed-form fit writes one only when
/// it is done; a gradient-trained run's records its epochs.
fn trained(run: &Path) -> Result<Trained> {
    if !run.join(crate::run::checkpoint::FILE).is_file() || !run.join("config.yaml").is_file() {
        return Ok(Trained::No);
    }
    let config: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(run.join("config.yaml"))?)?;
    let family = config["model"]["family"].as_str().unwrap_or_default();
    let fit = matches!(
        crate::registry::find(family).map(|e| e.build),
        Some(gen_core::model::Build::Fit(_))
    );
    if fit {
        return Ok(Trained::Yes);
    }
    let epochs = config["train"]["epochs"].as_u64().unwrap_or(u64::MAX) as usize;
    let pos = crate::run::checkpoint::load(run)?.pos;
    Ok(if pos.epoch >= epochs {
        Trained::Yes
    } else {
        Trained::Partly
    })
}

/// This machine's name, as job states record it.
pub fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .or_else(|| std::env::var("HOSTNAME").ok())
}

/// `JOBID_TASK` of the Slurm array task this is, if it is one.
fn slurm_job() -> Option<String> {
    let job = std::env::var("SLURM_ARRAY_JOB_ID").ok()?;
    let task = std::env::var("SLURM_ARRAY_TASK_ID").ok()?;
    Some(format!("{job}_{task}"))
}
