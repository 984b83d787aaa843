//! The experiment: every setting of a run, as read from a TOML file and overridden by
//! flags, validated before any training starts, and written back as `config.toml`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use super::choices::{Attack, Device, OnDivergence, Partition, Topology, TrainPath};
use crate::registry::PolicyRef;
use crate::sandbox::{DEFAULT_POLICY_MEMORY_MB, DEFAULT_POLICY_TIMEOUT_MS};

/// Most nodes a run may have: the graph and the per-node state grow with n², and the
/// paper's largest setting is n = 300.
pub const MAX_NODES: usize = 10_000;
/// Most libtorch or aggregation threads: more than any machine here has cores, and far
/// below the count at which creating them brings the process down.
pub const MAX_THREADS: usize = 1024;
/// Longest policy deadline, one day: past it, deadline arithmetic would overflow.
pub const MAX_POLICY_TIMEOUT_MS: u64 = 86_400_000;

/// Largest experiment file read: a config is a few hundred bytes.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// All settings of one run. Field names are the flag names with `_` for `-`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Experiment {
    /// Total nodes, regular and Byzantine.
    pub nodes: usize,
    /// Byzantine nodes, chosen at random.
    pub byzantine: usize,
    /// Edge probability of the Erdős–Rényi graph.
    pub edge_prob: f64,
    pub topology: Topology,
    pub epochs: u32,
    /// Local SGD steps per communication round (τ).
    pub local_steps: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub seed: u64,
    /// Defense component: a .wasm file, an `oci://` reference or a package name.
    pub defense: PolicyRef,
    pub attack: Attack,
    /// `NAME=VALUE` parameters for the defense's `configure`.
    pub defense_param: Vec<String>,
    /// `NAME=VALUE` parameters for the attack's `configure`.
    pub attack_param: Vec<String>,
    /// Directory of IDX files; empty for the embedded subset.
    pub data: Option<PathBuf>,
    pub partition: Partition,
    pub device: Device,
    /// Evaluate test accuracy every this many epochs (and always after the last).
    pub eval_every: u32,
    /// Test images per evaluation; 0 means the whole test set (the paper's protocol).
    pub eval_samples: usize,
    /// Mean accuracy that `rounds_to_target` refers to.
    pub target_accuracy: f64,
    pub on_divergence: OnDivergence,
    /// libtorch intra-op threads; 0 leaves libtorch's default.
    pub threads: usize,
    pub train_path: TrainPath,
    /// Threads running the regular nodes' defense calls of a round side by side, each with
    /// its own sandboxed instance; 0 means one per core. Results do not depend on it.
    pub agg_threads: usize,
    pub policy_timeout_ms: u64,
    pub policy_memory_mb: usize,
}

impl Default for Experiment {
    /// The paper's settings (Section 4.1), with D-PSGD and no attack.
    fn default() -> Self {
        Experiment {
            nodes: 50,
            byzantine: 10,
            edge_prob: 0.6,
            topology: Topology::Static,
            epochs: 80,
            local_steps: 1,
            batch_size: 60,
            lr: 0.1,
            weight_decay: 5e-4,
            seed: 0,
            defense: PolicyRef::File(PathBuf::from("policies/dpsgd.wasm")),
            attack: Attack::None,
            defense_param: Vec::new(),
            attack_param: Vec::new(),
            data: None,
            partition: Partition::Iid,
            device: Device::Auto,
            eval_every: 1,
            eval_samples: 0,
            target_accuracy: 0.85,
            on_divergence: OnDivergence::Stop,
            threads: 0,
            agg_threads: 0,
            train_path: TrainPath::Auto,
            policy_timeout_ms: DEFAULT_POLICY_TIMEOUT_MS,
            policy_memory_mb: DEFAULT_POLICY_MEMORY_MB,
        }
    }
}

impl Experiment {
    /// Reads a TOML experiment file; unknown keys are errors naming the key.
    pub fn from_file(path: &Path) -> Result<Experiment> {
        let bytes = byzhost_train::files::read_regular(path, MAX_CONFIG_BYTES, "--config", "")?;
        let text = String::from_utf8(bytes).with_context(|| format!("--config: {} is not UTF-8 text", path.display()))?;
        toml::from_str(&text).with_context(|| format!("--config: {} is not a valid experiment file", path.display()))
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("an experiment serializes to TOML")
    }

    /// The attack's reference, or `None` for `none`.
    pub fn attack_ref(&self) -> Option<&PolicyRef> {
        self.attack.reference()
    }

    /// The default of `key` (a field name) as its flag's help text shows it; `None` for a
    /// setting without one (`data`).
    pub fn default_text(key: &str) -> Option<String> {
        let defaults = toml::Table::try_from(Experiment::default()).expect("an experiment serializes to TOML");
        defaults.get(key).map(|v| match v {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// Checks every value that can be checked without data or policies.
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_NODES).contains(&self.nodes) {
            bail!("--nodes must be between 1 and {MAX_NODES}, got {}", self.nodes);
        }
        if self.threads > MAX_THREADS {
            bail!("--threads must be between 0 (libtorch's default) and {MAX_THREADS}, got {}", self.threads);
        }
        if self.agg_threads > MAX_THREADS {
            bail!("--agg-threads must be between 0 (one per core) and {MAX_THREADS}, got {}", self.agg_threads);
        }
        if !(1..=MAX_POLICY_TIMEOUT_MS).contains(&self.policy_timeout_ms) {
            bail!("--policy-timeout-ms must be between 1 and {MAX_POLICY_TIMEOUT_MS} (one day), got {}", self.policy_timeout_ms);
        }
        if self.byzantine >= self.nodes {
            bail!("--byzantine ({}) must be less than --nodes ({}): at least one node must be regular", self.byzantine, self.nodes);
        }
        if !(self.edge_prob > 0.0 && self.edge_prob <= 1.0) {
            bail!("--edge-prob must be in (0, 1], got {}", self.edge_prob);
        }
        if self.epochs == 0 {
            bail!("--epochs must be at least 1");
        }
        if self.local_steps == 0 {
            bail!("--local-steps (τ) must be at least 1, got 0");
        }
        if self.batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!("--lr must be positive and finite, got {}", self.lr);
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            bail!("--weight-decay must be non-negative and finite, got {}", self.weight_decay);
        }
        if self.eval_every == 0 {
            bail!("--eval-every must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.target_accuracy) {
            bail!("--target-accuracy is a fraction in [0, 1], got {}", self.target_accuracy);
        }
        check_policy_file(&self.defense, "--defense", "build the policies with scripts/setup.sh")?;
        if let Some(a) = self.attack_ref() {
            check_policy_file(a, "--attack", "or pass --attack none")?;
        }
        if let Some(d) = &self.data {
            if !d.is_dir() {
                bail!("--data: {} is not a directory of IDX files", d.display());
            }
        }
        Ok(())
    }
}

/// A policy named by a file must be a regular file that exists; references are checked
/// when they are fetched.
fn check_policy_file(reference: &PolicyRef, flag: &str, hint: &str) -> Result<()> {
    use byzhost_train::files::{regular_file_size, FileError};
    let Some(path) = reference.file() else { return Ok(()) };
    match regular_file_size(path, flag) {
        Err(FileError::Missing { .. }) => bail!("{flag}: policy file {} does not exist ({hint})", path.display()),
        other => other.map(drop).map_err(Into::into),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_papers_settings_and_round_trip_through_toml() {
        let e = Experiment::default();
        assert_eq!((e.nodes, e.byzantine, e.edge_prob, e.batch_size, e.epochs), (50, 10, 0.6, 60, 80));
        assert_eq!(toml::from_str::<Experiment>(&e.to_toml()).unwrap(), e);
    }

    #[test]
    fn defaults_are_shown_as_flags_spell_them() {
        assert_eq!(Experiment::default_text("topology").as_deref(), Some("static"));
        assert_eq!(Experiment::default_text("attack").as_deref(), Some("none"));
        assert_eq!(Experiment::default_text("edge_prob").as_deref(), Some("0.6"));
        assert_eq!(Experiment::default_text("data"), None);
    }

    #[test]
    fn wrong_spellings_in_a_file_name_the_setting() {
        let e = toml::from_str::<Experiment>("device = \"tpu\"").unwrap_err().to_string();
        assert!(e.contains("--device must be auto, cpu or cuda, got `tpu`"), "{e}");
    }

    #[test]
    fn unknown_keys_in_a_file_are_rejected() {
        let e = toml::from_str::<Experiment>("nodez = 3").unwrap_err().to_string();
        assert!(e.contains("nodez"), "{e}");
    }

    #[test]
    fn invalid_values_name_the_flag() {
        let check = |f: fn(&mut Experiment), flag: &str| {
            let mut e = Experiment::default();
            f(&mut e);
            let msg = e.validate().unwrap_err().to_string();
            assert!(msg.contains(flag), "{msg}");
        };
        check(|e| e.byzantine = 50, "--byzantine");
        check(|e| e.edge_prob = 0.0, "--edge-prob");
        check(|e| e.edge_prob = 1.5, "--edge-prob");
        check(|e| e.local_steps = 0, "--local-steps");
        check(|e| e.defense = "missing.wasm".parse().unwrap(), "--defense");
        check(|e| e.threads = 100_000, "--threads");
        check(|e| e.agg_threads = 100_000, "--agg-threads");
        check(|e| e.nodes = 1_000_000_000, "--nodes");
        check(|e| e.policy_timeout_ms = u64::MAX, "--policy-timeout-ms");
    }

    #[test]
    fn a_device_given_as_a_policy_is_not_called_missing() {
        let mut e = Experiment::default();
        e.defense = "/dev/zero".parse().unwrap();
        let msg = e.validate().unwrap_err().to_string();
        assert!(msg.contains("--defense: /dev/zero is a character device, not a regular file"), "{msg}");
    }
}
