//! byzhost's training side, independent of the sandbox: IDX data, node partitions, the
//! paper's CNN in libtorch with flat parameter vectors, and evaluation.
//!
//! It depends on `tch` but not on wasmtime, so it builds and benchmarks alone (for example
//! on a GPU machine with libtorch but no package registry).

pub mod batched;
pub mod data;
pub mod files;
pub mod model;
pub mod partition;
pub mod tensors;
pub mod trainer;

pub use batched::StackedNets;
pub use model::{initial_params, Net, DIM, EVAL_CHUNK};
pub use tch::Device;
pub use trainer::{BatchLoss, Steps, Trainer};

/// libtorch's intra-op threads now.
pub fn threads() -> usize {
    tch::get_num_threads().max(1) as usize
}

/// Pins libtorch's intra-op threads (results on the CPU are reproducible for a fixed count).
pub fn set_threads(n: usize) {
    tch::set_num_threads(n.max(1) as i32);
}
