//! Sweeps: expanding an experiment grid into cells and running them resumably.

pub mod grid;
pub mod lock;
pub mod ranks;
pub mod reuse;
pub mod runner;

pub use grid::{Cell, Grid};
