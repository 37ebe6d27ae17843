//! Run directories: `runs/<config-name>-<UTC timestamp>/`, never reused.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// `YYYYMMDD-HHMMSS` in UTC.
pub fn timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil-from-days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Creates a fresh run directory: `explicit` if given (it must not exist or be empty),
/// else `<runs>/<name>-<timestamp>[-k]`. Checks that it is writable.
pub fn create(runs: &Path, name: &str, explicit: Option<&Path>) -> Result<PathBuf> {
    let dir = match explicit {
        Some(d) => {
            if d.exists() && d.read_dir().map(|mut r| r.next().is_some()).unwrap_or(true) {
                bail!("run directory {} already exists and is not empty; runs are never overwritten (choose another --run-dir, or continue it with --resume)", d.display());
            }
            d.to_path_buf()
        }
        None => {
            let base = format!("{name}-{}", timestamp());
            let mut dir = runs.join(&base);
            let mut k = 2;
            while dir.exists() {
                dir = runs.join(format!("{base}-{k}"));
                k += 1;
            }
            dir
        }
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the run directory {}", dir.display()))?;
    check_writable(&dir)?;
    Ok(dir)
}

/// Fails early, before any training, if `dir` cannot be written.
pub fn check_writable(dir: &Path) -> Result<()> {
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"ok")
        .with_context(|| format!("the run directory {} is not writable", dir.display()))?;
    std::fs::remove_file(&probe).ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_shape() {
        let t = timestamp();
        assert_eq!(t.len(), 15);
        assert_eq!(&t[8..9], "-");
        assert!(t.starts_with("20"));
    }

    #[test]
    fn never_overwrites() {
        let tmp = tempfile::tempdir().unwrap();
        let a = create(tmp.path(), "x", None).unwrap();
        let b = create(tmp.path(), "x", None).unwrap();
        assert_ne!(a, b);
        std::fs::write(a.join("f"), "1").unwrap();
        assert!(create(tmp.path(), "x", Some(&a)).is_err());
    }
}
