//! Command-line interface: typed arguments per command, validated before any work starts.

mod call;
mod conform;
mod data;
mod inspect;
mod policy;
mod report;
mod run;
mod sweep;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};

use crate::policy::PolicyKind;
use crate::registry::{PolicyRef, Registry, Resolved, Transport};
use crate::sandbox::{
    Limits, Sandbox, DEFAULT_COMPILE_TIMEOUT_S, DEFAULT_COMPONENT_MB, DEFAULT_POLICY_MEMORY_MB, DEFAULT_POLICY_TIMEOUT_MS,
};

/// `byzhost --version`: the release, and whether runs and sweeps can span MPI ranks.
#[cfg(feature = "mpi")]
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (MPI support: compiled in; mpirun -np K byzhost run|sweep …)");
#[cfg(not(feature = "mpi"))]
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (MPI support: not compiled in; build with --features mpi)");

/// Research host for Byzantine-resilient decentralized learning: trains one CNN per node,
/// runs gossip rounds, and loads attacks and defenses as sandboxed WebAssembly components.
#[derive(Parser, Debug)]
#[command(name = "byzhost", version = VERSION, about, max_term_width = 100, args_override_self = true)]
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
    /// Check a policy component against the conformance properties (contract, shapes,
    /// determinism, robustness, cost, state); exits 1 when any fails. See docs/conformance.md.
    Conform(conform::ConformArgs),
    /// Train one CNN per regular node and run the gossip rounds of decentralized SGD, with
    /// the attack and the defense loaded as components (Algorithm 1 of the reference paper).
    /// A flag given twice takes its last value, so scripts can append overrides.
    #[command(args_override_self = true)]
    Run(Box<run::RunArgs>),
    /// Run every cell of an experiment grid (e.g. a paper figure), resumably: complete cells
    /// are skipped and interrupted ones continue from their checkpoints.
    Sweep(sweep::SweepArgs),
    /// Render figures (PNG, SVG) and Markdown tables from sweep directories, with the
    /// reference paper's numbers beside the measured ones.
    Report(report::ReportArgs),
    /// Publish policies to OCI registries and fetch them: push, pull, tags. See
    /// docs/publishing.md.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Datasets: download the canonical Fashion-MNIST files.
    #[command(subcommand)]
    Data(data::DataCommand),
}

/// Sandbox limits, shared by every command that runs policies.
#[derive(Args, Debug, Clone)]
pub struct SandboxArgs {
    /// Wall-clock deadline of one policy call, in milliseconds; a call past it is stopped
    /// and reported as a timeout.
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_POLICY_TIMEOUT_MS, env = "BYZHOST_POLICY_TIMEOUT_MS",
          value_parser = clap::value_parser!(u64).range(1..=crate::settings::MAX_POLICY_TIMEOUT_MS))]
    pub policy_timeout_ms: u64,
    /// Cap on one policy instance's linear memory, in MiB; growing past it is reported as
    /// a memory-limit fault.
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_POLICY_MEMORY_MB, env = "BYZHOST_POLICY_MEMORY_MB")]
    pub policy_memory_mb: usize,
    #[command(flatten)]
    pub resources: ResourceArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// How policies named by reference (`oci://…`, `NS:NAME@VERSION`) are fetched.
#[derive(Args, Debug, Clone, Default)]
pub struct RegistryArgs {
    /// Never use the network: references resolve from the policy store (a tag from the
    /// last pull of it), and one it lacks is an error.
    #[arg(long, env = "BYZHOST_OFFLINE", value_parser = clap::builder::BoolishValueParser::new())]
    pub offline: bool,
    /// A registry (HOST[:PORT]) spoken to over plain HTTP; loopback registries always are
    /// (repeatable).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub insecure_registry: Vec<String>,
    /// Registry user name, with the password read from stdin; otherwise Docker's
    /// credentials (`docker login`), else anonymous.
    #[arg(long, value_name = "USER", requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the registry password (or token) from stdin; needs --username.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// The password once read: stdin is read once, however many policies a command fetches.
    #[arg(skip)]
    password: std::sync::OnceLock<String>,
}

impl RegistryArgs {
    /// The transport these flags describe (reads the password from stdin the first time).
    pub fn transport(&self) -> Result<Transport> {
        let credentials = match &self.username {
            Some(user) => Some((user.clone(), self.password()?)),
            None => None,
        };
        Ok(Transport { offline: self.offline, insecure: self.insecure_registry.clone(), credentials })
    }

    fn password(&self) -> Result<String> {
        if let Some(p) = self.password.get() {
            return Ok(p.clone());
        }
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(|e| anyhow::anyhow!("--password-stdin: {e}"))?;
        let password = line.trim_end_matches(['\n', '\r']).to_string();
        if password.is_empty() {
            anyhow::bail!("--password-stdin: stdin held no password");
        }
        Ok(self.password.get_or_init(|| password).clone())
    }

    /// The policy registry client over the default store, accepting components up to
    /// `max_component` bytes.
    pub fn registry(&self, max_component: u64) -> Result<Registry> {
        Registry::open(self.transport()?, max_component)
    }

    /// These flags as arguments of another byzhost command (a sweep's cells).
    pub fn as_args(&self) -> Vec<String> {
        let mut args: Vec<String> = Vec::new();
        if self.offline {
            args.push("--offline".into());
        }
        for host in &self.insecure_registry {
            args.extend(["--insecure-registry".into(), host.clone()]);
        }
        args
    }
}

/// Bounds on what components and their calls may take from the machine, shared by every
/// command that loads policies. They never change results, only whether a misbehaving
/// policy is stopped, so runs do not record them.
#[derive(Args, Debug, Clone)]
pub struct ResourceArgs {
    /// Budget of all live policy instances' linear memories together in this process, in
    /// MiB; a growth past it is a memory-limit fault [default: half the machine's memory].
    /// `sweep --jobs N` runs N processes, each with this budget.
    #[arg(long, value_name = "MIB", env = "BYZHOST_POLICY_MEMORY_TOTAL_MB", value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    pub policy_memory_total_mb: Option<u64>,
    /// Most data one policy call may move from the component to the host, in MiB; past it
    /// the call is a transfer-limit fault [default: the per-instance cap, --policy-memory-mb].
    #[arg(long, value_name = "MIB", env = "BYZHOST_POLICY_TRANSFER_MB", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub policy_transfer_mb: Option<u64>,
    /// Largest component file loaded, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_COMPONENT_MB, env = "BYZHOST_MAX_COMPONENT_MB",
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_component_mb: u64,
    /// Seconds a first compile of a component may take before the host gives up.
    #[arg(long, value_name = "S", default_value_t = DEFAULT_COMPILE_TIMEOUT_S, env = "BYZHOST_COMPILE_TIMEOUT_S",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub compile_timeout_s: u64,
}

/// Where compiled components are cached.
#[derive(Args, Debug, Clone)]
pub struct CacheArgs {
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
        build_sandbox(self.policy_timeout_ms, self.policy_memory_mb, &self.resources, &self.cache)
    }

    /// Loads the policy `reference` names, any kind.
    pub fn load(&self, sandbox: &Sandbox, reference: &PolicyRef) -> Result<std::sync::Arc<crate::sandbox::LoadedPolicy>> {
        Ok(load_policy(sandbox, reference, None, "policy", &self.registry, &self.resources)?.policy)
    }
}

/// Loads the policy `reference` names as `role`: a file directly, anything else through
/// the policy store and its registry. `flag` names the reference's origin in errors.
pub fn load_policy(
    sandbox: &Sandbox,
    reference: &PolicyRef,
    role: Option<PolicyKind>,
    flag: &str,
    registry: &RegistryArgs,
    resources: &ResourceArgs,
) -> Result<Resolved> {
    match reference {
        PolicyRef::File(path) => {
            let policy = sandbox.load(path).with_context(|| flag.to_string())?;
            Ok(Resolved { policy, origin: None, pin: None })
        }
        _ => registry.registry(resources.max_component_mb << 20)?.load(sandbox, reference, role, flag),
    }
}

/// Creates the sandbox after checking the limits.
pub fn build_sandbox(timeout_ms: u64, memory_mb: usize, resources: &ResourceArgs, cache: &CacheArgs) -> Result<Sandbox> {
    if memory_mb == 0 || memory_mb > 4096 {
        anyhow::bail!("--policy-memory-mb must be between 1 and 4096 (a wasm32 memory holds at most 4 GiB), got {memory_mb}");
    }
    let mib = |v: u64| usize::try_from(v << 20).unwrap_or(usize::MAX);
    let defaults = Limits::default();
    let limits = Limits {
        timeout: Duration::from_millis(timeout_ms),
        memory_bytes: memory_mb << 20,
        total_memory_bytes: resources.policy_memory_total_mb.map_or(defaults.total_memory_bytes, mib),
        transfer_bytes: resources.policy_transfer_mb.map_or(memory_mb << 20, mib),
        component_bytes: resources.max_component_mb << 20,
        compile_timeout: Duration::from_secs(resources.compile_timeout_s),
    };
    let dir = if cache.no_component_cache { None } else { cache.component_cache.clone().or_else(Sandbox::default_cache_dir) };
    Sandbox::new(limits, dir)
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Call(args) => call::run(args),
        Command::Conform(args) => conform::run(args),
        Command::Run(args) => run::run(*args),
        Command::Data(cmd) => data::run(cmd),
        Command::Policy(cmd) => policy::run(cmd),
        Command::Sweep(args) => sweep::run(args),
        Command::Report(args) => report::run(args),
    }
}
