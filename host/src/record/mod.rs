//! The run record: what a run or a sweep leaves on disk, its file names, its schema, and the
//! only code that reads or writes it. The engine produces epochs and hands them here; `cli`,
//! `sweep` and `report` only read records through this module.
//!
//! A run directory holds [`files::CONFIG`], [`files::POLICIES`], [`files::METRICS`] (one
//! line per epoch), [`files::SUMMARY`], [`files::CHECKPOINT`] and the writer's
//! [`files::LOCK`]; a sweep cell also holds [`files::LOG`], and an adopted one
//! [`files::REUSED`]. A sweep directory holds [`files::SWEEP_INDEX`] and one run directory
//! per cell.

pub mod checkpoint;
pub mod lock;
pub mod machine;
mod run_dir;
pub mod schema;

use std::path::Path;

use anyhow::{Context as _, Result};
use serde::de::DeserializeOwned;

pub use run_dir::{
    check_out_contents, check_out_dir, read_config, read_metrics, read_policies, read_summary, run_state, ResumePoint, RunDir, RunState,
};
pub use schema::{
    DivergedAt, EpochMetrics, Exchange, IndexedCell, RecordedPolicies, RecordedPolicy, ReuseOrigin, Role, Status, Summary, SweepIndex,
};

/// Every file name of the record, in one place.
pub mod files {
    /// Every setting of the run, as `byzhost run --config` reads it.
    pub const CONFIG: &str = "config.toml";
    /// The component builds the run started with.
    pub const POLICIES: &str = "policies.json";
    /// One JSON object per epoch, appended as produced.
    pub const METRICS: &str = "metrics.jsonl";
    /// Where the run stands, rewritten after every epoch.
    pub const SUMMARY: &str = "summary.json";
    /// The models after the last completed epoch; never committed or copied.
    pub const CHECKPOINT: &str = "checkpoint.bin";
    /// Held by the process writing the directory; never committed or copied.
    pub const LOCK: &str = ".lock";
    /// A sweep cell's output.
    pub const LOG: &str = "log.txt";
    /// Where an adopted sweep cell's results came from.
    pub const REUSED: &str = "reused.json";
    /// A sweep directory's index of cells.
    pub const SWEEP_INDEX: &str = "sweep.json";
}

/// Reads a JSON file of the record; `None` when it does not exist.
fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    serde_json::from_str(&text).map(Some).with_context(|| format!("{} does not hold what byzhost records there", path.display()))
}

/// Writes `path` whole or not at all ([`byzhost_train::files::write_atomically`]).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    byzhost_train::files::write_atomically(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Where an adopted sweep cell's results came from; `None` when it was not adopted (or the
/// note is unreadable, which the report treats alike).
pub fn read_reuse_origin(dir: &Path) -> Option<ReuseOrigin> {
    read_json(&dir.join(files::REUSED)).ok().flatten()
}

pub fn write_reuse_origin(dir: &Path, origin: &ReuseOrigin) -> Result<()> {
    write_atomically(&dir.join(files::REUSED), serde_json::to_string_pretty(origin)?.as_bytes())
}

/// A sweep directory's index; an error names the directory when it is not a sweep.
pub fn read_sweep_index(dir: &Path) -> Result<SweepIndex> {
    read_json(&dir.join(files::SWEEP_INDEX))?.with_context(|| format!("{} is not a sweep directory (no sweep.json)", dir.display()))
}

pub fn write_sweep_index(dir: &Path, index: &SweepIndex) -> Result<()> {
    write_atomically(&dir.join(files::SWEEP_INDEX), serde_json::to_string_pretty(index)?.as_bytes())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// Every committed record under `runs/` reads through the types above, with no field
    /// lost: each file read back and written again holds the same JSON.
    #[test]
    fn every_committed_record_reads_through_the_schema() {
        let runs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../runs");
        let mut sweeps = 0;
        let mut cells = 0;
        for sweep in std::fs::read_dir(&runs).unwrap().map(|e| e.unwrap().path()).filter(|p| p.join(files::SWEEP_INDEX).is_file()) {
            let index = read_sweep_index(&sweep).unwrap();
            sweeps += 1;
            for cell in &index.cells {
                let dir = sweep.join(&cell.label);
                if !dir.join(files::CONFIG).is_file() {
                    continue;
                }
                read_config(&dir).unwrap_or_else(|e| panic!("{}: {e:#}", dir.display()));
                let policies = read_policies(&dir).unwrap().unwrap_or_else(|| panic!("{}: no policies.json", dir.display()));
                let summary = read_summary(&dir).unwrap().unwrap_or_else(|| panic!("{}: no summary.json", dir.display()));
                let metrics = read_metrics(&dir).unwrap();
                assert_eq!(metrics.len() as u32, summary.epochs_completed, "{}", dir.display());
                assert_round_trips(&dir.join(files::POLICIES), &policies);
                assert_round_trips(&dir.join(files::SUMMARY), &summary);
                if dir.join(files::REUSED).is_file() {
                    assert!(read_reuse_origin(&dir).is_some(), "{}: reused.json does not read", dir.display());
                }
                cells += 1;
            }
        }
        assert!(sweeps >= 12 && cells >= 100, "{sweeps} sweeps, {cells} cells");
    }

    fn assert_round_trips<T: serde::Serialize>(path: &Path, value: &T) {
        let on_disk: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let strip_nulls = |v: serde_json::Value| -> serde_json::Value {
            match v {
                serde_json::Value::Object(m) => m.into_iter().filter(|(_, v)| !v.is_null()).collect(),
                other => other,
            }
        };
        assert_eq!(strip_nulls(serde_json::to_value(value).unwrap()), strip_nulls(on_disk), "{}", path.display());
    }
}
