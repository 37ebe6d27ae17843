//! A sweep directory: `sweep.json` (the manifest: job number -> overrides, written once and
//! never renumbered), `base.yaml` (the base config as it was), one run directory per job,
//! `jobs/N.json` (each job's state) and `logs/job-N.log` (each job's output).

use super::spec::{Job, Spec};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const MANIFEST: &str = "sweep.json";
pub const BASE_CONFIG: &str = "base.yaml";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    /// The base config's path as given (the sweep runs `base.yaml`, its copy).
    pub config: String,
    /// The directory jobs run in (relative paths in the config are read from there).
    pub workdir: PathBuf,
    /// `key=value` overrides of every job.
    pub sets: Vec<String>,
    /// The grid: each axis's key and values, seeds last as `train.seed`.
    pub grid: Vec<(String, Vec<String>)>,
    /// `gen eval`'s arguments after the run directory; absent: jobs are not evaluated.
    pub eval: Option<Vec<String>>,
    /// `local` or `slurm`: where the sweep was started, and where `--resume` continues it.
    #[serde(default = "local")]
    pub executor: String,
    pub jobs: Vec<Job>,
}

fn local() -> String {
    "local".into()
}

impl Manifest {
    pub fn new(spec: &Spec, jobs: Vec<Job>, executor: &str) -> Result<Self> {
        Ok(Manifest {
            name: spec.name.clone(),
            config: spec.config.display().to_string(),
            workdir: std::env::current_dir().context("the current directory")?,
            sets: spec.sets.clone(),
            grid: spec
                .axes
                .iter()
                .map(|a| (a.key.clone(), a.values.clone()))
                .collect(),
            eval: spec.eval.clone(),
            executor: executor.into(),
            jobs,
        })
    }

    /// Writes the manifest and the base config into a new sweep directory.
    pub fn create(&self, dir: &Path, config_text: &str) -> Result<()> {
        std::fs::create_dir_all(dir.join("jobs"))?;
        std::fs::create_dir_all(dir.join("logs"))?;
        std::fs::write(dir.join(BASE_CONFIG), config_text)
            .with_context(|| format!("writing {}", dir.join(BASE_CONFIG).display()))?;
        write_atomic(&dir.join(MANIFEST), &serde_json::to_string_pretty(self)?)
    }

    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{} is not a sweep directory (no {MANIFEST}; `gen sweep` writes one)",
                dir.display()
            )
        })?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid manifest", path.display()))
    }

    pub fn job(&self, i: usize) -> Result<&Job> {
        match self.jobs.get(i) {
            Some(j) => Ok(j),
            None => bail!(
                "job {i}: the sweep has jobs 0 to {}",
                self.jobs.len().saturating_sub(1)
            ),
        }
    }

    /// The overrides of a job that are not its seed: its grid point.
    pub fn point(job: &Job) -> Vec<String> {
        job.overrides
            .iter()
            .filter(|o| !o.starts_with(&format!("{}=", super::spec::SEED_KEY)))
            .cloned()
            .collect()
    }
}

pub fn run_dir(dir: &Path, job: &Job) -> PathBuf {
    dir.join(&job.name)
}

pub fn log_path(dir: &Path, job: usize) -> PathBuf {
    dir.join("logs").join(format!("job-{job}.log"))
}

/// Whether `dir` is a sweep directory.
pub fn is_sweep(dir: &Path) -> bool {
    dir.join(MANIFEST).is_file()
}

/// Writes through a temporary file and a rename, so a reader never sees half a file.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}
