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

pub use batched::StackedNets;
pub use model::{initial_params, Net, DIM, EVAL_CHUNK};
pub use tch::Device;

/// Resolves `auto|cpu|cuda` to a device; `auto` is CUDA when available.
pub fn device(name: &str) -> anyhow::Result<Device> {
    match name {
        "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        "cuda" => {
            if tch::Cuda::is_available() {
                Ok(Device::Cuda(0))
            } else {
                anyhow::bail!("--device cuda: no CUDA device is available here; use --device cpu or auto")
            }
        }
        other => anyhow::bail!("--device must be auto, cpu or cuda, got `{other}`"),
    }
}

/// Pins libtorch's intra-op threads (results on the CPU are reproducible for a fixed count).
pub fn set_threads(n: usize) {
    tch::set_num_threads(n.max(1) as i32);
}
