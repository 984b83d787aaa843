//! Settings: every setting of a run as a type, parsed once (from flags or TOML, with the
//! same spelling), each with one default, [`Experiment::default`], from which the flags'
//! help text is generated.

pub mod choices;
mod experiment;

pub use choices::{Attack, Device, OnDivergence, Partition, Topology, TrainPath};
pub use experiment::{Experiment, MAX_NODES, MAX_POLICY_TIMEOUT_MS, MAX_THREADS};
