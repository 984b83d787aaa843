//! The run directory: `config.toml`, `policies.json`, `metrics.jsonl` (one object per
//! epoch, appended as produced), `summary.json` and `checkpoint.bin`, written by one
//! process at a time (see [`super::lock`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::checkpoint::Checkpoint;
use super::lock::RunLock;
use super::metrics::{EpochMetrics, Summary};

pub struct RunDir {
    pub path: PathBuf,
    _lock: RunLock,
}

impl RunDir {
    /// Creates the directory if needed and takes its lock, which the value holds.
    pub fn create(path: &Path) -> Result<RunDir> {
        std::fs::create_dir_all(path).with_context(|| format!("--out: cannot create {}", path.display()))?;
        Ok(RunDir { path: path.to_path_buf(), _lock: RunLock::acquire(path)? })
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `name` whole or not at all (a temporary file, then a rename): `summary.json` is
    /// rewritten after every epoch, and a run killed mid-write must leave the last one.
    pub fn write(&self, name: &str, contents: &str) -> Result<()> {
        let (path, tmp) = (self.file(name), self.file(&format!(".{name}.tmp")));
        std::fs::write(&tmp, contents).and_then(|()| std::fs::rename(&tmp, &path)).with_context(|| format!("writing {}", path.display()))
    }

    pub fn append_metrics(&self, m: &EpochMetrics) -> Result<()> {
        let path = self.file("metrics.jsonl");
        let mut f =
            std::fs::OpenOptions::new().create(true).append(true).open(&path).with_context(|| format!("opening {}", path.display()))?;
        writeln!(f, "{}", serde_json::to_string(m)?).with_context(|| format!("writing {}", path.display()))
    }

    pub fn previous_metrics(&self) -> Result<Vec<EpochMetrics>> {
        read_metrics(&self.path)
    }

    pub fn rewrite_metrics(&self, history: &[EpochMetrics]) -> Result<()> {
        let mut text = String::new();
        for m in history {
            text.push_str(&serde_json::to_string(m)?);
            text.push('\n');
        }
        self.write("metrics.jsonl", &text)
    }

    pub fn write_summary(&self, s: &Summary) -> Result<()> {
        self.write("summary.json", &serde_json::to_string_pretty(s)?)
    }

    pub fn save_checkpoint(&self, c: &Checkpoint) -> Result<()> {
        c.save(&self.file("checkpoint.bin"))
    }

    pub fn checkpoint(&self) -> Result<Option<Checkpoint>> {
        let path = self.file("checkpoint.bin");
        path.is_file().then(|| Checkpoint::load(&path)).transpose()
    }
}

/// The epochs recorded in `dir`'s `metrics.jsonl` (none when it has no such file), read
/// without taking the directory's lock.
pub fn read_metrics(dir: &Path) -> Result<Vec<EpochMetrics>> {
    let path = dir.join("metrics.jsonl");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(Vec::new()) };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("{}:{}: not a metrics line", path.display(), i + 1)))
        .collect()
}

/// `dir`'s `policies.json`, the defense and attack builds the run started with (written
/// once, at the start); `None` when the run never wrote one.
pub fn read_policies(dir: &Path) -> Result<Option<serde_json::Value>> {
    let path = dir.join("policies.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    serde_json::from_str(&text).map(Some).with_context(|| format!("{} is not valid JSON", path.display()))
}

/// The sha256 `policies.json` (as [`read_policies`] returns it) records for `role`
/// (`"defense"` or `"attack"`); `None` when it records no such policy.
pub fn recorded_sha256<'a>(policies: &'a serde_json::Value, role: &str) -> Option<&'a str> {
    policies[role]["sha256"].as_str()
}
