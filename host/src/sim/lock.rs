//! One writer per run directory. Two processes appending to the same `metrics.jsonl` and
//! overwriting each other's checkpoint (a sweep started twice on one folder, a `--resume`
//! typed while the run still trains) would leave a record that looks whole and is not, so
//! a run holds an exclusive lock on `<dir>/.lock` while it writes. The lock is the
//! operating system's (`flock`), released when the process ends however it ends, so a
//! killed run never leaves a stale lock behind; the file holds the holder's pid for the
//! error message.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use anyhow::{bail, Context as _, Result};

/// Name of the lock file inside a run directory; it is neither committed nor copied.
pub const LOCK_FILE: &str = ".lock";

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
            Err(TryLockError::WouldBlock) => bail!("{}", busy_message(dir, pid_in(&mut file))),
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

/// The pid of the process writing `dir` now, if one is (a process that exited holds
/// nothing, whatever its lock file says).
pub fn holder(dir: &Path) -> Option<u32> {
    let mut file = File::open(dir.join(LOCK_FILE)).ok()?;
    match file.try_lock_shared() {
        Err(TryLockError::WouldBlock) => Some(pid_in(&mut file).unwrap_or(0)),
        Ok(()) | Err(TryLockError::Error(_)) => None,
    }
}

/// The error for a run directory another process is writing.
pub fn busy_message(dir: &Path, pid: Option<u32>) -> String {
    let who = pid.filter(|&p| p != 0).map_or("another process".to_string(), |p| format!("another process (pid {p})"));
    format!(
        "--out {}: {who} is running this run and writing its records now; wait for it to finish, or stop it and pass --resume to continue from its last epoch",
        dir.display()
    )
}

fn pid_in(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
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
        assert_eq!(holder(&dir), Some(std::process::id()));
        let err = RunLock::acquire(&dir).unwrap_err().to_string();
        assert!(err.contains(&format!("pid {}", std::process::id())) && err.contains("--resume"), "{err}");
        drop(first);
        assert_eq!(holder(&dir), None, "the file stays, the lock does not");
        let again = RunLock::acquire(&dir);
        assert!(again.is_ok());
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
