//! Each job's state, `jobs/N.json`: written by the process running the job (a local
//! worker or a Slurm task) as it goes, read by the executors, `--resume` and `--status`.

use super::manifest::write_atomic;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Not started (or submitted to Slurm and not running yet).
    Pending,
    /// Training or evaluating; a process that was killed leaves this behind.
    Running,
    /// Stopped by a signal after checkpointing; resumes from the checkpoint.
    Interrupted,
    Failed,
    Done,
}

impl Phase {
    pub fn word(self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Running => "running",
            Phase::Interrupted => "interrupted",
            Phase::Failed => "failed",
            Phase::Done => "done",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobState {
    pub state: Phase,
    /// Times the job was started (a resume or a Slurm requeue adds one).
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `JOBID_TASK` when Slurm runs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_job: Option<String>,
    /// Seconds since the epoch when the current attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<f64>,
    /// Wall seconds of the attempt that finished (done or failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// The last lines of the error a failed job ended with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Default for JobState {
    fn default() -> Self {
        JobState {
            state: Phase::Pending,
            attempts: 0,
            pid: None,
            host: None,
            slurm_job: None,
            started: None,
            seconds: None,
            error: None,
        }
    }
}

pub fn path(dir: &Path, job: usize) -> PathBuf {
    dir.join("jobs").join(format!("{job}.json"))
}

/// The job's state; a job never started is pending.
pub fn read(dir: &Path, job: usize) -> JobState {
    std::fs::read_to_string(path(dir, job))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

pub fn write(dir: &Path, job: usize, s: &JobState) -> Result<()> {
    write_atomic(&path(dir, job), &serde_json::to_string_pretty(s)?)
}

pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The last `n` non-empty lines of a text, for a failed job's record.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_never_started_is_pending_and_states_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("jobs")).unwrap();
        assert_eq!(read(tmp.path(), 3).state, Phase::Pending);
        let s = JobState {
            state: Phase::Failed,
            attempts: 2,
            error: Some("boom".into()),
            ..JobState::default()
        };
        write(tmp.path(), 3, &s).unwrap();
        let back = read(tmp.path(), 3);
        assert_eq!(
            (back.state, back.attempts, back.error.as_deref()),
            (Phase::Failed, 2, Some("boom"))
        );
    }

    #[test]
    fn last_lines_skip_blanks() {
        assert_eq!(last_lines("a\n\nb\nc\n\n", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
    }
}
