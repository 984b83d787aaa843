//! The simulation: graphs, rounds and the statistics of each epoch, handed to
//! [`crate::record`]. It meets the sandbox only through plain vectors and the policy types
//! of [`crate::policy`].

pub mod defenses;
pub mod engine;
pub mod exchange;
pub mod graph;
pub mod metrics;
pub mod progress;
pub mod seeds;
