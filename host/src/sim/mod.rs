//! The simulation: graphs, rounds, metrics, checkpoints and the run directory. It meets
//! the sandbox only through plain vectors and the policy types of [`crate::policy`].

pub mod checkpoint;
pub mod config;
pub mod engine;
pub mod graph;
pub mod lock;
pub mod machine;
pub mod metrics;
pub mod output;
pub mod progress;
pub mod seeds;

pub use config::Experiment;
