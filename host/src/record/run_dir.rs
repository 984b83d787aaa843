//! A run directory, written by one process at a time (see [`super::lock`]): the writer
//! [`RunDir`], which also decides where an interrupted run resumes, and the readers every
//! other command uses.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use super::checkpoint::Checkpoint;
use super::lock::RunLock;
use super::schema::{EpochMetrics, RecordedPolicies, Status, Summary};
use super::{files, read_json, write_atomically};
use crate::settings::Experiment;

pub struct RunDir {
    pub path: PathBuf,
    _lock: RunLock,
}

/// Where a run continues: the checkpoint's models (if any) and the epochs it covers.
pub struct ResumePoint {
    pub checkpoint: Option<Checkpoint>,
    /// The recorded epochs the checkpoint covers, in order.
    pub history: Vec<EpochMetrics>,
}

impl ResumePoint {
    /// Epochs already done, so the next one to train is this (counted from 0).
    pub fn epochs_done(&self) -> u32 {
        self.checkpoint.as_ref().map_or(0, |c| c.epochs_completed)
    }
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

    /// Writes `config.toml` and `policies.json`, once, when the run starts.
    pub fn start(&self, exp: &Experiment, policies: &RecordedPolicies) -> Result<()> {
        write_atomically(&self.file(files::CONFIG), exp.to_toml().as_bytes())?;
        write_atomically(&self.file(files::POLICIES), serde_json::to_string_pretty(policies)?.as_bytes())
    }

    pub fn append_metrics(&self, m: &EpochMetrics) -> Result<()> {
        let path = self.file(files::METRICS);
        let mut f =
            std::fs::OpenOptions::new().create(true).append(true).open(&path).with_context(|| format!("opening {}", path.display()))?;
        writeln!(f, "{}", serde_json::to_string(m)?).with_context(|| format!("writing {}", path.display()))
    }

    fn rewrite_metrics(&self, history: &[EpochMetrics]) -> Result<()> {
        let mut text = String::new();
        for m in history {
            text.push_str(&serde_json::to_string(m)?);
            text.push('\n');
        }
        write_atomically(&self.file(files::METRICS), text.as_bytes())
    }

    /// Rewritten after every epoch (status `running`) and when the run ends, whole or not at
    /// all, so a run killed mid-write still leaves the last one.
    pub fn write_summary(&self, s: &Summary) -> Result<()> {
        write_atomically(&self.file(files::SUMMARY), serde_json::to_string_pretty(s)?.as_bytes())
    }

    pub fn save_checkpoint(&self, c: &Checkpoint) -> Result<()> {
        c.save(&self.file(files::CHECKPOINT))
    }

    fn checkpoint(&self) -> Result<Option<Checkpoint>> {
        let path = self.file(files::CHECKPOINT);
        path.is_file().then(|| Checkpoint::load(&path)).transpose()
    }

    /// Where the run continues, with `metrics.jsonl` cut back to what the checkpoint covers.
    /// Metrics are appended before each checkpoint is saved, so after a crash the metrics may
    /// run one epoch ahead of the checkpoint; more means the checkpoint is missing or older
    /// (run records are committed, checkpoints are not), said with a warning. A checkpoint
    /// ahead of the metrics is refused: the epochs between would be missing from the record.
    pub fn resume_point(&self) -> Result<ResumePoint> {
        let mut history = read_metrics(&self.path)?;
        let checkpoint = self.checkpoint()?;
        let done = checkpoint.as_ref().map_or(0, |c| c.epochs_completed) as usize;
        if history.len() < done {
            bail!(
                "--resume: {}: checkpoint.bin was saved after epoch {done} but metrics.jsonl records only {} epochs, so the \
                 epochs between would be missing from the record. Put back the metrics.jsonl written with this checkpoint, \
                 or delete checkpoint.bin to train the run again from epoch 1",
                self.path.display(),
                history.len()
            );
        }
        if history.len() > done + 1 {
            eprintln!(
                "warning: {}: metrics.jsonl holds {} epochs but the checkpoint covers {done}{}; training again from epoch {}",
                self.path.display(),
                history.len(),
                if done == 0 { " (there is no checkpoint.bin: checkpoints stay on the machine that ran the run)" } else { "" },
                done + 1
            );
        }
        if history.len() != done {
            history.truncate(done);
            self.rewrite_metrics(&history)?;
        }
        Ok(ResumePoint { checkpoint, history })
    }
}

/// What a run directory holds, as far as a sweep is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunState {
    /// The run ended (completed or diverged): nothing to do.
    Done,
    /// The run stopped on a policy fault.
    Failed,
    /// A run was started (config.toml exists) but has no final summary: resume it.
    Interrupted,
    /// Nothing there yet.
    New,
}

pub fn run_state(dir: &Path) -> RunState {
    match read_summary(dir).ok().flatten().map(|s| s.status) {
        Some(Status::Completed | Status::Diverged) => RunState::Done,
        Some(Status::PolicyFault) => RunState::Failed,
        // A summary that is still `running` was left by a process that stopped mid-run.
        Some(Status::Running) | None if dir.join(files::CONFIG).is_file() => RunState::Interrupted,
        Some(Status::Running) | None => RunState::New,
    }
}

/// The epochs recorded in `dir`'s `metrics.jsonl` (none when it has no such file), read
/// without taking the directory's lock. One rule for every reader: a line that does not
/// parse is an error naming the file and line, except a last line without its newline,
/// which is an append cut short by a crash and is left out with a warning.
pub fn read_metrics(dir: &Path) -> Result<Vec<EpochMetrics>> {
    let path = dir.join(files::METRICS);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let complete = text.ends_with('\n');
    let lines: Vec<(usize, &str)> = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).collect();
    let mut metrics = Vec::with_capacity(lines.len());
    for (k, &(i, line)) in lines.iter().enumerate() {
        match serde_json::from_str(line) {
            Ok(m) => metrics.push(m),
            Err(_) if k + 1 == lines.len() && !complete => {
                eprintln!("warning: {}:{}: an epoch's line was cut short (a crash while writing); left out", path.display(), i + 1);
            }
            Err(e) => return Err(e).with_context(|| format!("{}:{}: not a metrics line", path.display(), i + 1)),
        }
    }
    Ok(metrics)
}

/// `dir`'s `summary.json`; `None` when the run has written none.
pub fn read_summary(dir: &Path) -> Result<Option<Summary>> {
    read_json(&dir.join(files::SUMMARY))
}

/// `dir`'s `policies.json`, the builds the run started with; `None` when it has none.
pub fn read_policies(dir: &Path) -> Result<Option<RecordedPolicies>> {
    read_json(&dir.join(files::POLICIES))
}

/// `dir`'s `config.toml`.
pub fn read_config(dir: &Path) -> Result<Experiment> {
    Experiment::from_file(&dir.join(files::CONFIG))
}

/// Checks that `dir` may hold a new run (or, with `resume`, an interrupted one) and that
/// no other process is writing it.
pub fn check_out_dir(dir: &Path, resume: bool) -> Result<()> {
    if let Some(holder) = super::lock::holder(dir) {
        bail!("{}", super::lock::busy_message(dir, holder));
    }
    check_out_contents(dir, resume)
}

/// The part of [`check_out_dir`] that reads what `dir` holds, for a process that holds its
/// lock (and so would see itself as the other writer).
pub fn check_out_contents(dir: &Path, resume: bool) -> Result<()> {
    if resume {
        if !dir.join(files::CONFIG).is_file() {
            bail!("--resume: {} holds no run (config.toml is missing)", dir.display());
        }
    } else if dir.join(files::METRICS).exists() {
        bail!("--out {} already holds a run; pass --resume to continue it or choose another directory", dir.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_last_line_is_left_out_and_any_other_bad_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let line = r#"{"epoch":1,"round":5,"accuracy_mean":0.5,"accuracy_min":0.4,"accuracy_max":0.6,"consensus_error":0.1,"train_loss":1.0,"agg_ms_median":1.0,"agg_ms_p95":1.0,"attack_ms_total":0.0,"time_train_s":1.0,"time_aggregate_s":1.0,"time_eval_s":1.0,"train_samples_per_s":1.0,"diverged":false}"#;
        let metrics = dir.path().join(files::METRICS);
        std::fs::write(&metrics, format!("{line}\n{}", &line[..40])).unwrap();
        assert_eq!(read_metrics(dir.path()).unwrap().len(), 1);
        std::fs::write(&metrics, format!("{}\n{line}\n", &line[..40])).unwrap();
        let err = format!("{:#}", read_metrics(dir.path()).unwrap_err());
        assert!(err.contains("metrics.jsonl:1: not a metrics line"), "{err}");
    }
}
