//! The operating-system calls the workspace makes outside the standard library, behind
//! safe functions: for the binary an exclusive, non-blocking lock on a file and the free
//! space of a file system; for its tests a signal to a process and a file-size limit on a
//! child process.

use std::fs::File;
use std::path::Path;
use std::process::Command;

/// Takes an exclusive `flock` on `file` without waiting: `false` if another process holds
/// it. The lock lasts as long as the file stays open. Elsewhere than Unix: always `true`.
pub fn try_lock_exclusive(file: &File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock on a file descriptor the caller owns; no memory is passed.
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        true
    }
}

/// Free bytes on the file system holding `dir`, where the platform tells.
pub fn free_space(dir: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
        // SAFETY: statvfs is plain old data, so all-zero is a valid value to overwrite.
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a valid NUL-terminated path and `s` a properly sized out-parameter.
        if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
            return None;
        }
        Some(s.f_bavail as u64 * s.f_frsize as u64)
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

/// Sends signal `sig` (e.g. `libc::SIGINT`) to process `pid`: `false` if it could not be
/// delivered (no such process, or no permission). Elsewhere than Unix: `false`.
pub fn send_signal(pid: u32, sig: i32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = i32::try_from(pid) else {
            return false;
        };
        // SAFETY: kill(2) takes two integers; no memory is passed.
        unsafe { libc::kill(pid, sig) == 0 }
    }
    #[cfg(not(unix))]
    {
        let _ = (pid, sig);
        false
    }
}

/// Restores the default action of SIGPIPE (which Rust's runtime ignores), so that `gen
/// compare ... | head` ends quietly when `head` has read enough instead of panicking on
/// the next write. For command-line programs only.
pub fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: signal(2) with a constant handler; nothing else runs yet (called first in main).
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Makes the process `cmd` starts unable to write a file past `bytes`: such a write fails
/// with EFBIG (SIGXFSZ is ignored, so the process is not killed), as on a full disk.
#[cfg(unix)]
pub fn limit_file_size(cmd: &mut Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec the hook calls only setrlimit and signal, which are
    // async-signal-safe, and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            let r = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &r);
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN); // inherited across exec
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second open file on the same path cannot take the lock while the first holds it,
    /// and can once the first is closed.
    #[cfg(unix)]
    #[test]
    fn the_lock_is_exclusive_while_the_file_is_open() {
        let dir = std::env::temp_dir().join(format!("gen-kernels-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lock");
        let a = File::create(&path).unwrap();
        assert!(try_lock_exclusive(&a));
        let b = File::open(&path).unwrap();
        assert!(!try_lock_exclusive(&b));
        drop(a);
        // A child forked by a test running beside this one holds a copy of every open fd
        // between fork and exec (CLOEXEC takes effect only at exec), and with it the lock on
        // `a`'s open file description; so the release may lag `drop` by that window.
        use std::time::{Duration, Instant};
        let deadline = Instant::now() + Duration::from_secs(5);
        while !try_lock_exclusive(&b) {
            assert!(
                Instant::now() < deadline,
                "the lock outlived its file by 5 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(free_space(&dir).unwrap() > 0);
        assert_eq!(free_space(&dir.join("no such directory")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A child limited to 1,000 bytes writes 1,000 and fails on more, without dying of
    /// SIGXFSZ; a signal reaches a child that is waiting, and no process far past the
    /// kernel's pid range.
    #[cfg(unix)]
    #[test]
    fn a_child_is_limited_and_signalled() {
        let dir = std::env::temp_dir().join(format!("gen-kernels-fsize-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("head -c 1000 /dev/zero > ok && head -c 1001 /dev/zero > big; echo $?")
            .current_dir(&dir);
        limit_file_size(&mut cmd, 1000);
        let out = cmd.output().unwrap();
        assert!(out.status.success());
        assert_ne!(String::from_utf8_lossy(&out.stdout).trim(), "0");
        assert_eq!(std::fs::metadata(dir.join("ok")).unwrap().len(), 1000);
        assert_eq!(std::fs::metadata(dir.join("big")).unwrap().len(), 1000);
        std::fs::remove_dir_all(&dir).unwrap();

        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        assert!(send_signal(child.id(), libc::SIGTERM));
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGTERM));
        assert!(!send_signal(u32::MAX, libc::SIGTERM));
    }
}
