//! Integration tests: the real `byzhost` binary, the real wasmtime, real components built
//! from the policy and fixture crates (`scripts/build-policies.sh`). One module per command.

mod call;
mod conform;
mod data;
mod hostile;
mod inspect;
#[cfg(feature = "mpi")]
mod mpi;
mod policies;
mod policy;
mod registry_server;
mod run;
mod support;
mod sweep;
