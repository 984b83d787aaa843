//! byzhost: a research host for Byzantine-resilient decentralized learning.
//!
//! The pieces meet at plain `&[f32]` vectors: [`sandbox`] runs policy components under
//! wasmtime and knows nothing of training; [`policy`] holds the plain types both sides use;
//! [`settings`] are the typed settings of a run; [`sim`] trains and runs the rounds;
//! [`record`] owns what a run leaves on disk, which [`sweep`] and [`report`] only read;
//! [`cli`] turns typed arguments into validated work.

pub mod cli;
pub mod conform;
pub mod npy_io;
pub mod policy;
pub mod ranks;
pub mod record;
pub mod registry;
pub mod report;
pub mod sandbox;
pub mod settings;
pub mod sim;

pub mod sweep;
