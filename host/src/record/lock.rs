//! One writer per run directory. Two processes appending to the same `metrics.jsonl` and
//! overwriting each other's checkpoint (a sweep started twice on one folder, a `--resume`
//! typed while the run still trains) would leave a record that looks whole and is not, so
//! a run holds an exclusive lock on `<dir>/.lock` while it writes. The lock is the
//! operating system's (`flock`), released when the process ends however it ends, so a
//! killed run never leaves a stale lock behind; the file holds the holder's pid for the
//! error message. That pid is written just after the lock is taken, so for an instant the
//! file is empty or still names the previous holder: a pid is only reported when it names
//! a live process, and a holder whose pid is not known is still a holder.

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use serde::Serialize;

use super::files::LOCK as LOCK_FILE;

/// Held for as long as this process writes the run directory.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock of `dir` (which must exist), or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<RunLock> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("--out: cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => bail!("{}", busy_message(dir, Holder::named_in(&mut file))),
            Err(TryLockError::Error(e)) => return Err(e).with_context(|| format!("--out: cannot lock {}", path.display())),
        }
        // The previous holder's pid may still be there; replace it.
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| write!(file, "{}", std::process::id()))
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(RunLock { _file: file })
    }
}

/// The process writing a run directory now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Holder {
    /// None in the instant between its taking the lock and writing its pid.
    pub pid: Option<u32>,
}

impl Holder {
    fn named_in(file: &mut File) -> Holder {
        let mut text = String::new();
        let read = file.rewind().and_then(|()| file.read_to_string(&mut text));
        let pid = read.ok().and_then(|_| text.trim().parse().ok()).filter(|&pid| is_alive(pid));
        Holder { pid }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "pid {pid}"),
            None => f.write_str("pid not yet recorded"),
        }
    }
}

/// The process writing `dir` now, if one is (a process that exited holds nothing,
/// whatever its lock file says).
pub fn holder(dir: &Path) -> Option<Holder> {
    let mut file = File::open(dir.join(LOCK_FILE)).ok()?;
    match file.try_lock_shared() {
        Err(TryLockError::WouldBlock) => Some(Holder::named_in(&mut file)),
        Ok(()) | Err(TryLockError::Error(_)) => None,
    }
}

/// The error for a run directory another process is writing.
pub fn busy_message(dir: &Path, holder: Holder) -> String {
    format!(
        "--out {}: another process ({holder}) is running this run and writing its records now; wait for it to finish, or stop it and pass --resume to continue from its last epoch",
        dir.display()
    )
}

#[cfg(unix)]
fn is_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    if pid <= 0 {
        // 0 and negative pids address process groups, not one process.
        return false;
    }
    // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    alive || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn is_alive(pid: u32) -> bool {
    pid != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_with_the_holders_pid_until_the_first_lets_go() {
        let dir = std::env::temp_dir().join(format!("byzhost-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(holder(&dir), None, "no lock file yet");
        let first = RunLock::acquire(&dir).unwrap();
        assert_eq!(holder(&dir), Some(Holder { pid: Some(std::process::id()) }));
        let err = RunLock::acquire(&dir).unwrap_err().to_string();
        assert!(err.contains(&format!("pid {}", std::process::id())) && err.contains("--resume"), "{err}");
        drop(first);
        assert_eq!(holder(&dir), None, "the file stays, the lock does not");
        let again = RunLock::acquire(&dir);
        assert!(again.is_ok());
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_holder_whose_pid_is_missing_or_stale_is_still_a_holder_without_a_pid() {
        let dir = std::env::temp_dir().join(format!("byzhost-lock-stale-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lock = RunLock::acquire(&dir).unwrap();
        // What a reader sees between a new holder's flock and its pid write: an empty
        // file, or the pid of a holder that has exited (pid_max is at most 2^22).
        for stale in ["", "0", "4194305", "4294967295"] {
            std::fs::write(dir.join(LOCK_FILE), stale).unwrap();
            assert_eq!(holder(&dir), Some(Holder { pid: None }), "{stale:?}");
            let err = RunLock::acquire(&dir).unwrap_err().to_string();
            assert!(err.contains("another process (pid not yet recorded)"), "{err}");
        }
        drop(lock);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
