//! The run record's schema: every file of a run or sweep directory as a typed serde struct,
//! read and written only through [`super`]. Every number that can be non-finite is an
//! `Option`, so the JSON files never hold a bare NaN; fields added after the first records
//! were committed are `#[serde(default)]`, so every committed record still reads.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::machine::{peak_rss_mib, Machine};

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochMetrics {
    /// Epoch counted from 1.
    pub epoch: u32,
    /// Communication rounds completed so far.
    pub round: u64,
    /// Test accuracy over regular nodes (fractions); `None` when not evaluated this epoch.
    pub accuracy_mean: Option<f64>,
    pub accuracy_min: Option<f64>,
    pub accuracy_max: Option<f64>,
    /// Ids of the regular nodes holding the lowest and highest accuracy (the lowest id on
    /// ties), so an outlier can be followed from epoch to epoch; absent in records written
    /// before they were recorded.
    #[serde(default)]
    pub weakest_node: Option<u32>,
    #[serde(default)]
    pub strongest_node: Option<u32>,
    /// Eq. (3) over regular nodes: mean of ‖x_i − x̄‖² / ‖x̄‖².
    pub consensus_error: Option<f64>,
    /// Mean training loss of the epoch's mini-batches over regular nodes.
    pub train_loss: Option<f64>,
    /// Host-side time of one defense call, including the boundary copies.
    pub agg_ms_median: f64,
    pub agg_ms_p95: f64,
    pub attack_ms_total: f64,
    pub time_train_s: f64,
    pub time_aggregate_s: f64,
    pub time_eval_s: f64,
    /// Time rank 0 spent in exchanges with the other ranks, outside the three phases above
    /// (runs over MPI ranks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_exchange_s: Option<f64>,
    /// Wall time of the whole epoch: training, aggregation, evaluation and the statistics
    /// (absent in records written before it was recorded).
    #[serde(default)]
    pub time_epoch_s: Option<f64>,
    /// Training samples processed per second of training time, over all regular nodes.
    pub train_samples_per_s: f64,
    pub diverged: bool,
}

/// Where a run stands, as `summary.json` records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Still training, or killed while training: the summary covers the epochs recorded so
    /// far, and `--resume` continues the run.
    Running,
    Completed,
    /// Training produced non-finite weights.
    Diverged,
    /// A policy failed; `error` says how.
    PolicyFault,
}

impl Status {
    /// Whether the run has ended (whatever the outcome).
    pub fn is_final(self) -> bool {
        self != Status::Running
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Diverged => "diverged",
            Status::PolicyFault => "policy-fault",
        })
    }
}

/// `summary.json`, written after every epoch (status `running`) and when the run ends.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub status: Status,
    pub error: Option<String>,
    pub epochs_completed: u32,
    pub rounds_completed: u64,
    pub best_accuracy: Option<f64>,
    pub best_epoch: Option<u32>,
    pub consensus_error_at_best: Option<f64>,
    pub final_accuracy: Option<f64>,
    pub final_consensus_error: Option<f64>,
    pub target_accuracy: f64,
    pub rounds_to_target: Option<u64>,
    pub diverged_at: Option<DivergedAt>,
    /// Wall time of the run. A resumed run adds its earlier processes' epochs (their
    /// `time_epoch_s`, or the three phase times in older records) but not their start-up.
    pub wall_time_s: f64,
    /// Peak resident memory of the process (VmHWM), when the OS reports it.
    pub peak_rss_mib: Option<f64>,
    /// Peak resident memory of each MPI rank, in rank order (runs over MPI ranks only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peak_rss_mib_ranks: Vec<f64>,
    /// What the ranks exchanged each round (runs over MPI ranks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<Exchange>,
    /// The machine that computed the run (absent in summaries written before it was
    /// recorded).
    #[serde(default)]
    pub machine: Option<Machine>,
}

/// What the ranks of a run over MPI exchanged each round, per rank in rank order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Exchange {
    /// Regular nodes each rank trains, evaluates and aggregates.
    pub nodes_per_rank: Vec<usize>,
    /// Bytes of trained models each rank sends per round: its rows to every other rank
    /// (an all-gather).
    pub model_bytes_sent_per_round: Vec<u64>,
    /// The least any exchange could send for the graph of the last epoch: each row only to the
    /// ranks with a node that reads it (a neighbour, or rank 0's attack).
    pub model_bytes_needed_per_round: Vec<u64>,
    /// Bytes of attack messages a rank other than 0 received from rank 0 per round, on
    /// average.
    pub attack_bytes_per_round: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DivergedAt {
    pub epoch: u32,
    pub round: u64,
    pub node: u32,
}

impl Summary {
    /// Builds the summary from every epoch's metrics.
    pub fn from_epochs(epochs: &[EpochMetrics], target: f64) -> Summary {
        let best =
            epochs.iter().filter_map(|m| m.accuracy_mean.map(|a| (a, m))).fold(None::<(f64, &EpochMetrics)>, |best, (a, m)| match best {
                Some((b, _)) if b >= a => best,
                _ => Some((a, m)),
            });
        let last = epochs.last();
        Summary {
            status: Status::Completed,
            error: None,
            epochs_completed: last.map_or(0, |m| m.epoch),
            rounds_completed: last.map_or(0, |m| m.round),
            best_accuracy: best.map(|(a, _)| a),
            best_epoch: best.map(|(_, m)| m.epoch),
            consensus_error_at_best: best.and_then(|(_, m)| m.consensus_error),
            final_accuracy: epochs.iter().rev().find_map(|m| m.accuracy_mean),
            final_consensus_error: last.and_then(|m| m.consensus_error),
            target_accuracy: target,
            rounds_to_target: epochs.iter().find(|m| m.accuracy_mean.is_some_and(|a| a >= target)).map(|m| m.round),
            diverged_at: None,
            wall_time_s: 0.0,
            peak_rss_mib: peak_rss_mib(),
            peak_rss_mib_ranks: Vec::new(),
            exchange: None,
            machine: Some(Machine::this()),
        }
    }
}

// Fields are in alphabetical order, the order of the records written before these types.

/// `policies.json`: the component builds a run started with, written once.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RecordedPolicies {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attack: Option<RecordedPolicy>,
    pub defense: RecordedPolicy,
}

/// One component build: how it was named, what it says it is, and its sha256; from runs
/// that pinned it in the policy store (`crate::registry::store`), also its manifest digest,
/// size and target world, and for one fetched from a registry, the registry and repository.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RecordedPolicy {
    /// The policy as named: a file path, or a reference (`oci://…`, `NS:NAME@VERSION`) as given.
    pub file: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    pub name: String,
    /// `HOST[:PORT]` of the registry it was fetched from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The sha256 of the component's bytes (the artifact's layer).
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub world: Option<String>,
}

impl RecordedPolicies {
    /// The build recorded for `role`.
    pub fn get(&self, role: Role) -> Option<&RecordedPolicy> {
        match role {
            Role::Defense => Some(&self.defense),
            Role::Attack => self.attack.as_ref(),
        }
    }
}

/// The two policies of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Defense,
    Attack,
}

impl Role {
    pub fn kind(self) -> crate::policy::PolicyKind {
        match self {
            Role::Defense => crate::policy::PolicyKind::Defense,
            Role::Attack => crate::policy::PolicyKind::Attack,
        }
    }

    /// The flag that names this role's policy.
    pub fn flag(self) -> &'static str {
        match self {
            Role::Defense => "--defense",
            Role::Attack => "--attack",
        }
    }
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Defense, Role::Attack];
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Defense => "defense",
            Role::Attack => "attack",
        })
    }
}

/// `reused.json`: the finished run a sweep cell's results were copied from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReuseOrigin {
    pub from: PathBuf,
    pub why: String,
}

/// `sweep.json`: the grid a sweep directory holds, and its cells in grid order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SweepIndex {
    pub artefact: String,
    pub cells: Vec<IndexedCell>,
    pub description: String,
    pub grid: String,
    pub profile: String,
    /// The grid file the sweep was started from.
    pub source: PathBuf,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct IndexedCell {
    pub coordinates: BTreeMap<String, String>,
    pub label: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_finds_best_epoch_and_rounds_to_target() {
        let m = |epoch, acc: Option<f64>| EpochMetrics {
            epoch,
            round: epoch as u64 * 20,
            accuracy_mean: acc,
            accuracy_min: acc,
            accuracy_max: acc,
            weakest_node: None,
            strongest_node: None,
            consensus_error: Some(epoch as f64),
            train_loss: Some(1.0),
            agg_ms_median: 0.0,
            agg_ms_p95: 0.0,
            attack_ms_total: 0.0,
            time_train_s: 0.0,
            time_aggregate_s: 0.0,
            time_eval_s: 0.0,
            time_exchange_s: None,
            time_epoch_s: None,
            train_samples_per_s: 0.0,
            diverged: false,
        };
        let s = Summary::from_epochs(&[m(1, Some(0.5)), m(2, Some(0.86)), m(3, None), m(4, Some(0.84))], 0.85);
        assert_eq!((s.best_accuracy, s.best_epoch, s.consensus_error_at_best), (Some(0.86), Some(2), Some(2.0)));
        assert_eq!(s.rounds_to_target, Some(40));
        assert_eq!(s.final_accuracy, Some(0.84));
    }
}
