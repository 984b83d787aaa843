//! Shared helpers: paths of built components, .npy files in temporary directories, and a
//! `byzhost` command with an isolated component cache.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Path of a built component, e.g. `policies/dpsgd.wasm`; fails with the command to run
/// when it has not been built.
pub fn component(relative: &str) -> PathBuf {
    let path = repo_root().join(relative);
    assert!(path.is_file(), "{} is missing: run scripts/build-policies.sh (the README's test command does)", path.display());
    path
}

/// A scratch directory holding the test's .npy files and a private component cache.
pub struct Scratch {
    pub dir: TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch { dir: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a float32 array and returns its path.
    pub fn npy(&self, name: &str, shape: &[usize], data: &[f32]) -> PathBuf {
        let path = self.path(name);
        byzhost::npy_io::write_f32(&path, shape, data).unwrap();
        path
    }

    pub fn read(&self, name: &str) -> (Vec<usize>, Vec<f32>) {
        // read_f32 checks the dimension count; read 1-d or 2-d as found.
        for ndim in [1, 2] {
            if let Ok(arr) = byzhost::npy_io::read_f32(&self.path(name), "test", ndim) {
                return (arr.shape, arr.data);
            }
        }
        panic!("{name} is not a 1-d or 2-d float32 .npy file");
    }

    /// `byzhost` with this scratch directory's component cache.
    pub fn byzhost(&self) -> Command {
        let mut cmd = Command::cargo_bin("byzhost").unwrap();
        cmd.env("BYZHOST_CACHE_DIR", self.path("cache"));
        // A safety net against hangs, generous for a loaded 2-core machine.
        cmd.timeout(std::time::Duration::from_secs(900));
        cmd
    }
}

pub fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The host itself must never panic, whatever a policy does.
pub fn assert_no_host_panic(stderr: &str) {
    assert!(!stderr.contains("thread 'main' panicked"), "the host panicked:\n{stderr}");
    assert!(!stderr.contains("RUST_BACKTRACE"), "the host panicked:\n{stderr}");
}

/// True when stderr has the CLI's `error[CLASS]: ...` line for `class`.
pub fn has_error_class(stderr: &str, class: &str) -> bool {
    stderr.lines().any(|l| l.starts_with(&format!("error[{class}]: ")))
}
