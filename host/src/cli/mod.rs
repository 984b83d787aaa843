//! Command-line interface: typed arguments per command, validated before any work starts.

mod call;
mod inspect;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::sandbox::{Limits, Sandbox};

/// Research host for Byzantine-resilient decentralized learning: trains one CNN per node,
/// runs gossip rounds, and loads attacks and defenses as sandboxed WebAssembly components.
#[derive(Parser, Debug)]
#[command(name = "byzhost", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show what a policy component is: kind, name, version, WIT version, parameters,
    /// sha256 and imports.
    Inspect(inspect::InspectArgs),
    /// Invoke a policy once on vectors from .npy files, for debugging and for comparing
    /// it with other implementations.
    Call(call::CallArgs),
}

/// Sandbox limits, shared by every command that runs policies.
#[derive(Args, Debug, Clone)]
pub struct SandboxArgs {
    /// Wall-clock deadline of one policy call, in milliseconds; a call past it is stopped
    /// and reported as a timeout.
    #[arg(long, value_name = "MS", default_value_t = 10_000, env = "BYZHOST_POLICY_TIMEOUT_MS")]
    pub policy_timeout_ms: u64,
    /// Cap on one policy instance's linear memory, in MiB; growing past it is reported as
    /// a memory-limit fault.
    #[arg(long, value_name = "MIB", default_value_t = 2048, env = "BYZHOST_POLICY_MEMORY_MB")]
    pub policy_memory_mb: usize,
    /// Directory of compiled components, so later runs skip compilation
    /// [default: $BYZHOST_CACHE_DIR/components, else ~/.cache/byzhost/components].
    #[arg(long, value_name = "DIR")]
    pub component_cache: Option<PathBuf>,
    /// Compile components afresh every time instead of using the on-disk cache.
    #[arg(long)]
    pub no_component_cache: bool,
}

impl SandboxArgs {
    pub fn sandbox(&self) -> Result<Sandbox> {
        if self.policy_memory_mb == 0 || self.policy_memory_mb > 4096 {
            anyhow::bail!(
                "--policy-memory-mb must be between 1 and 4096 (a wasm32 memory holds at most 4 GiB), got {}",
                self.policy_memory_mb
            );
        }
        let limits = Limits {
            timeout: Duration::from_millis(self.policy_timeout_ms),
            memory_bytes: self.policy_memory_mb << 20,
        };
        let cache = if self.no_component_cache {
            None
        } else {
            self.component_cache.clone().or_else(Sandbox::default_cache_dir)
        };
        Sandbox::new(limits, cache)
    }
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Call(args) => call::run(args),
    }
}
