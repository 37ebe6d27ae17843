//! The Slurm executor: one job array per submission, one array task per job, each running
//! `gen sweep --task $SLURM_ARRAY_TASK_ID SWEEP_DIR`; the cluster needs the gen binary and
//! a file system its nodes share with this one, nothing else. `--requeue` with SIGTERM
//! handled as `gen train` does: a preempted or requeued task checkpoints, and the next
//! attempt continues from it.

use super::manifest::{self, Manifest};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `#SBATCH` options gen sets unless `--slurm-opt` gives them.
pub struct Request {
    pub cpus_per_task: usize,
    /// Megabytes per task.
    pub mem_mb: u64,
    /// At most this many tasks at once (`%K`).
    pub max_running: Option<usize>,
    /// `key=value` or `key` from `--slurm-opt`, written as `#SBATCH --key=value`.
    pub extra: Vec<String>,
}

/// The commands the executor uses, with what to install when they are missing.
pub fn require(cmd: &str) -> Result<()> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        .unwrap_or(false);
    if !found {
        bail!(
            "`{cmd}` is not on PATH: --executor slurm submits with Slurm's client commands. On Debian \
             or Ubuntu install them with `apt-get install slurm-client` (a cluster's login node has \
             them); to try it on this machine, scripts/slurm-local.sh installs slurm-wlm and munge and \
             starts a one-node cluster"
        );
    }
    Ok(())
}

/// Writes `slurm/sweep-K.sbatch` for the jobs `todo` and submits it; returns the array's
/// job id.
pub fn submit(dir: &Path, m: &Manifest, todo: &[usize], req: &Request) -> Result<String> {
    require("sbatch")?;
    let dir = std::path::absolute(dir)?;
    let exe = std::env::current_exe().context("finding the gen binary for the tasks")?;
    let slurm_dir = dir.join("slurm");
    std::fs::create_dir_all(&slurm_dir)?;
    let n = std::fs::read_dir(&slurm_dir)?
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sbatch"))
        })
        .count();
    let script_path = slurm_dir.join(format!("sweep-{n}.sbatch"));
    let script = script(&dir, m, todo, req, &exe);
    std::fs::write(&script_path, &script)
        .with_context(|| format!("writing {}", script_path.display()))?;
    let out = Command::new("sbatch")
        .arg("--parsable")
        .arg(&script_path)
        .output()
        .context("running sbatch")?;
    if !out.status.success() {
        bail!(
            "sbatch {} failed: {}",
            script_path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let id = String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    if id.is_empty() {
        bail!("sbatch printed no job id");
    }
    let mut ids = submitted(&dir);
    ids.push(id.clone());
    manifest::write_atomic(&slurm_dir.join("jobs.json"), &serde_json::to_string(&ids)?)?;
    Ok(id)
}

/// The job ids of the sweep's submissions, oldest first.
pub fn submitted(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("slurm").join("jobs.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn script(dir: &Path, m: &Manifest, todo: &[usize], req: &Request, exe: &Path) -> String {
    let mut opts: Vec<(String, Option<String>)> = vec![
        ("job-name".into(), Some(format!("gen-{}", m.name))),
        ("array".into(), Some(array_spec(todo, req.max_running))),
        (
            "output".into(),
            Some(dir.join("logs").join("job-%a.log").display().to_string()),
        ),
        ("open-mode".into(), Some("append".into())),
        ("requeue".into(), None),
        ("chdir".into(), Some(m.workdir.display().to_string())),
        ("cpus-per-task".into(), Some(req.cpus_per_task.to_string())),
        ("mem".into(), Some(format!("{}M", req.mem_mb))),
    ];
    for e in &req.extra {
        let (k, v) = match e.split_once('=') {
            Some((k, v)) => (
                k.trim().trim_start_matches('-').to_string(),
                Some(v.trim().to_string()),
            ),
            None => (e.trim().trim_start_matches('-').to_string(), None),
        };
        match opts.iter_mut().find(|(o, _)| *o == k) {
            Some(o) => o.1 = v,
            None => opts.push((k, v)),
        }
    }
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!(
        "# gen sweep {}: jobs {} of {} (written by gen; the manifest is {})\n",
        m.name,
        todo.len(),
        m.jobs.len(),
        dir.join(manifest::MANIFEST).display()
    ));
    for (k, v) in &opts {
        match v {
            Some(v) => s.push_str(&format!("#SBATCH --{k}={v}\n")),
            None => s.push_str(&format!("#SBATCH --{k}\n")),
        }
    }
    s.push_str("\n# One thread pool per task, the size of its allocation.\n");
    s.push_str("export RAYON_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"\n");
    s.push_str("# exec: Slurm's SIGTERM (preemption, requeue, time limit) reaches gen, which checkpoints.\n");
    s.push_str(&format!(
        "exec {} sweep --task \"$SLURM_ARRAY_TASK_ID\" {}\n",
        shell_word(&exe.display().to_string()),
        shell_word(&dir.display().to_string())
    ));
    s
}

/// `0-7%2`, or `1,3,5` when only some jobs are left.
fn array_spec(todo: &[usize], max_running: Option<usize>) -> String {
    let mut parts: Vec<String> = vec![];
    let mut i = 0;
    while i < todo.len() {
        let mut j = i;
        while j + 1 < todo.len() && todo[j + 1] == todo[j] + 1 {
            j += 1;
        }
        parts.push(match j > i {
            true => format!("{}-{}", todo[i], todo[j]),
            false => todo[i].to_string(),
        });
        i = j + 1;
    }
    let mut s = parts.join(",");
    if let Some(k) = max_running {
        s.push_str(&format!("%{k}"));
    }
    s
}

fn shell_word(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Slurm's view of the sweep's array tasks: array task id -> state (`PENDING`,
/// `RUNNING`, ... from squeue; finished ones from sacct where accounting is on).
pub fn queue_states(dir: &Path) -> std::collections::HashMap<usize, String> {
    let mut out = std::collections::HashMap::new();
    let ids = submitted(dir);
    if ids.is_empty() {
        return out;
    }
    // Older submissions first, so that a later one's state wins.
    if let Ok(o) = Command::new("sacct")
        .args(["-n", "-P", "-X", "-o", "JobID,State", "-j", &ids.join(",")])
        .output()
    {
        if o.status.success() {
            parse_states(&String::from_utf8_lossy(&o.stdout), '|', &mut out);
        }
    }
    if let Ok(o) = Command::new("squeue")
        .args(["-h", "-r", "-o", "%i %T", "-j", &ids.join(",")])
        .output()
    {
        if o.status.success() {
            parse_states(&String::from_utf8_lossy(&o.stdout), ' ', &mut out);
        }
    }
    out
}

fn parse_states(text: &str, sep: char, out: &mut std::collections::HashMap<usize, String>) {
    for line in text.lines() {
        let Some((id, state)) = line.trim().split_once(sep) else {
            continue;
        };
        if let Some(task) = id
            .split_once('_')
            .and_then(|(_, t)| t.parse::<usize>().ok())
        {
            out.insert(
                task,
                state.split_whitespace().next().unwrap_or(state).to_string(),
            );
        }
    }
}

/// The directory the script's logs go to, for messages.
pub fn logs(dir: &Path) -> PathBuf {
    dir.join("logs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_compress_runs_of_jobs() {
        assert_eq!(array_spec(&[0, 1, 2, 3], Some(2)), "0-3%2");
        assert_eq!(array_spec(&[1, 3, 4, 5, 7], None), "1,3-5,7");
        assert_eq!(array_spec(&[6], None), "6");
    }

    #[test]
    fn squeue_and_sacct_lines_parse() {
        let mut m = std::collections::HashMap::new();
        parse_states("12_0|COMPLETED\n12_1|CANCELLED by 0\n", '|', &mut m);
        parse_states("12_1 PENDING\n13_4 RUNNING\n", ' ', &mut m);
        assert_eq!(m[&0], "COMPLETED");
        assert_eq!(m[&1], "PENDING");
        assert_eq!(m[&4], "RUNNING");
    }

    #[test]
    fn the_script_runs_the_task_with_the_options_given() {
        let m = Manifest {
            name: "s".into(),
            config: "c.yaml".into(),
            workdir: "/w".into(),
            sets: vec![],
            grid: vec![],
            eval: None,
            executor: "slurm".into(),
            jobs: vec![],
        };
        let req = Request {
            cpus_per_task: 1,
            mem_mb: 900,
            max_running: Some(2),
            extra: vec!["partition=gpu".into(), "mem=4G".into(), "exclusive".into()],
        };
        let s = script(
            Path::new("/runs/s-1"),
            &m,
            &[0, 1],
            &req,
            Path::new("/bin/gen"),
        );
        assert!(s.contains("#SBATCH --array=0-1%2\n"), "{s}");
        assert!(s.contains("#SBATCH --mem=4G\n"), "{s}");
        assert!(!s.contains("900M"), "{s}");
        assert!(
            s.contains("#SBATCH --partition=gpu\n#SBATCH --exclusive\n"),
            "{s}"
        );
        assert!(
            s.contains("#SBATCH --output=/runs/s-1/logs/job-%a.log\n"),
            "{s}"
        );
        assert!(
            s.ends_with("exec /bin/gen sweep --task \"$SLURM_ARRAY_TASK_ID\" /runs/s-1\n"),
            "{s}"
        );
    }
}
