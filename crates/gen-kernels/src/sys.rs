//! The two operating-system calls the binary makes outside the standard library, behind
//! safe functions: an exclusive, non-blocking lock on a file and the free space of a file
//! system.

use std::fs::File;
use std::path::Path;

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
        assert!(try_lock_exclusive(&b));
        assert!(free_space(&dir).unwrap() > 0);
        assert_eq!(free_space(&dir.join("no such directory")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
