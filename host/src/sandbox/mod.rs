//! The wasmtime sandbox that runs policy components.
//!
//! - One engine per process, with epoch interruption: a ticker thread advances the epoch
//!   every [`TICK`], and each call gets a deadline of `timeout / TICK` ticks.
//! - Each node gets its own [`DefenseInstance`] (policies may keep state); no ambient
//!   authority — the only imports are the `byz:policy` host interfaces and, for components
//!   from other toolchains, WASI 0.2 granting nothing ([`wasi`]).
//! - Linear memory is capped per instance, and all live instances together share one
//!   budget ([`budget`]); a resource limiter records the hit, so the fault is reported as a
//!   memory-limit error, not a generic trap.
//! - What one call may do is bounded: its deadline covers host imports too, the data it may
//!   move out of the guest is capped, and `evaluate-loss` evaluates a bounded number of
//!   candidates.
//! - Component files are read only when regular and under a size cap; compiled components
//!   are cached on disk, checked against a recorded digest before they are loaded.
//! - A component built for another `byz:policy` version is refused before instantiation.

mod bindings;
pub mod budget;
mod cache;
pub mod fault;
mod instance;
mod models;
mod state;
pub mod text;
pub mod wasi;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Linker;
use wasmtime::{Config, Engine};

use budget::MemoryBudget;
pub use cache::LoadSource;
pub use fault::{error_class, FaultKind, PolicyError, PolicyLabel};
pub use instance::{AttackInstance, DefenseInstance, Received};
pub use state::{LossOracle, NoLocalData};

use crate::policy::{PolicyInfo, PolicyKind, SUPPORTED_WIT_VERSIONS};
use state::HostState;

/// Granularity of call deadlines.
pub const TICK: Duration = Duration::from_millis(5);

/// Resource limits of the sandbox.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Wall-clock deadline of one call, including the host imports it makes.
    pub timeout: Duration,
    /// Cap on one instance's linear memory, in bytes.
    pub memory_bytes: usize,
    /// Budget of all live instances' linear memories together, in bytes.
    pub total_memory_bytes: usize,
    /// Most bytes one call may move from the guest to the host (wasmtime's hostcall fuel).
    pub transfer_bytes: usize,
    /// Largest component file loaded, in bytes.
    pub component_bytes: u64,
    /// How long a first compile may take before the host gives up.
    pub compile_timeout: Duration,
}

/// Default deadline of one call: generous for the paper's largest setting.
pub const DEFAULT_POLICY_TIMEOUT_MS: u64 = 10_000;
/// Default cap on one instance's linear memory: the paper's largest setting (n = 300,
/// p = 0.6, about 180 neighbours of 80,202 floats, 58 MB per call) fits many times over.
pub const DEFAULT_POLICY_MEMORY_MB: usize = 2048;
/// Largest component loaded by default: componentize-py's Python components are about
/// 20 MB, so 64 MiB leaves them three times the room.
pub const DEFAULT_COMPONENT_MB: u64 = 64;
/// Default compile deadline: a 56 MB component was measured at 229 s.
pub const DEFAULT_COMPILE_TIMEOUT_S: u64 = 600;

impl Default for Limits {
    /// A call may move as much as its instance may hold, and all instances share half the
    /// machine's memory.
    fn default() -> Self {
        let memory_bytes = DEFAULT_POLICY_MEMORY_MB << 20;
        Limits {
            timeout: Duration::from_millis(DEFAULT_POLICY_TIMEOUT_MS),
            memory_bytes,
            total_memory_bytes: budget::default_limit().unwrap_or(8 << 30),
            transfer_bytes: memory_bytes,
            component_bytes: DEFAULT_COMPONENT_MB << 20,
            compile_timeout: Duration::from_secs(DEFAULT_COMPILE_TIMEOUT_S),
        }
    }
}

/// The engine, its epoch ticker, and the compiled-component cache.
pub struct Sandbox {
    engine: Engine,
    limits: Limits,
    budget: Arc<MemoryBudget>,
    cache_dir: Option<PathBuf>,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// A loaded, version-checked component and what it says about itself.
pub struct LoadedPolicy {
    pub path: PathBuf,
    pub sha256: String,
    pub size_bytes: usize,
    pub wit_version: String,
    pub kind: PolicyKind,
    pub info: PolicyInfo,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// How the compiled code was obtained.
    pub load_source: LoadSource,
    pub load_time: Duration,
    /// The component's bytes, as loaded (so a run can pin exactly what it runs).
    pub bytes: Vec<u8>,
    pre: instance::Pre,
}

impl LoadedPolicy {
    pub fn label(&self) -> PolicyLabel {
        PolicyLabel { name: self.info.name.clone(), version: self.info.version.clone(), file: self.path.clone() }
    }
}

impl Sandbox {
    /// Creates the engine. `cache_dir` of `None` disables the on-disk cache.
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> Result<Self> {
        if limits.timeout.is_zero() {
            bail!("the policy deadline must be positive (--policy-timeout-ms)");
        }
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&config).map_err(anyhow::Error::from).context("creating the wasmtime engine")?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let (weak, stop) = (engine.weak(), ticker_stop.clone());
        std::thread::Builder::new()
            .name("byzhost-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .context("starting the epoch ticker thread")?;
        Ok(Sandbox { engine, limits, budget: MemoryBudget::new(limits.total_memory_bytes), cache_dir, ticker_stop })
    }

    /// The default cache directory: `$BYZHOST_CACHE_DIR`, else `$XDG_CACHE_HOME/byzhost`,
    /// else `~/.cache/byzhost`, each with `/components` appended.
    pub fn default_cache_dir() -> Option<PathBuf> {
        cache_base().map(|base| base.join("components"))
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The memory budget every instance of this sandbox charges.
    pub fn budget(&self) -> Arc<MemoryBudget> {
        self.budget.clone()
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Reads, checks, compiles (or loads from cache) and describes a policy component.
    pub fn load(&self, path: &Path) -> Result<Arc<LoadedPolicy>> {
        let bytes = read_component(path, self.limits.component_bytes)?;
        self.load_bytes(path, bytes)
    }

    /// [`Sandbox::load`] of bytes already read (from the policy store, say), named `path`.
    pub fn load_bytes(&self, path: &Path, bytes: Vec<u8>) -> Result<Arc<LoadedPolicy>> {
        let started = Instant::now();
        let sha256 = hex(&Sha256::digest(&bytes));
        let subject = cache::Subject { path, bytes: &bytes, sha256: &sha256 };
        let (component, load_source) = cache::compile(&self.engine, self.cache_dir.as_deref(), &subject, self.limits.compile_timeout)
            .with_context(|| format!("{} is not a valid WebAssembly component", path.display()))?;
        let ty = component.component_type();
        let imports: Vec<String> = ty.imports(&self.engine).map(|(n, _)| n.to_string()).collect();
        let exports: Vec<String> = ty.exports(&self.engine).map(|(n, _)| n.to_string()).collect();
        let (kind, wit_version) =
            policy_interface(&exports, &imports).with_context(|| format!("{} is not a byzhost policy", path.display()))?;
        let pre = instance::Pre::new(self, &component, kind, &wit_version)
            .with_context(|| format!("{}: its imports do not match what this host provides", path.display()))?;
        let mut loaded = LoadedPolicy {
            path: path.to_path_buf(),
            sha256,
            size_bytes: bytes.len(),
            wit_version,
            kind,
            info: placeholder_info(path, kind),
            imports,
            exports,
            load_source,
            load_time: Duration::ZERO,
            bytes,
            pre,
        };
        loaded.info = self.read_info(&loaded)?;
        if loaded.info.kind != kind {
            bail!("{}: `info` says kind {} but the component exports the {kind} interface", path.display(), loaded.info.kind);
        }
        loaded.load_time = started.elapsed();
        Ok(Arc::new(loaded))
    }

    /// Calls `info` on a throwaway instance.
    fn read_info(&self, policy: &LoadedPolicy) -> Result<PolicyInfo> {
        let info = match policy.kind {
            PolicyKind::Defense => {
                let mut inst = DefenseInstance::new(self, policy, None, Box::new(NoLocalData))?;
                inst.info()
            }
            PolicyKind::Attack => AttackInstance::new(self, policy, 0)?.info(),
        };
        info.map_err(|e| anyhow::anyhow!(e)).with_context(|| format!("reading `info` of {}", policy.path.display()))
    }

    pub(crate) fn linker(&self) -> Result<Linker<HostState>> {
        let mut linker = Linker::new(&self.engine);
        bindings::add_to_linker(&mut linker)?;
        // Components from other toolchains import WASI 0.2; the context grants nothing.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        Ok(linker)
    }

    pub(crate) fn deadline_ticks(&self) -> u64 {
        (self.limits.timeout.as_nanos() / TICK.as_nanos()).max(1) as u64 + 1
    }
}

/// The root of byzhost's caches: `$BYZHOST_CACHE_DIR`, else `$XDG_CACHE_HOME/byzhost`, else
/// `~/.cache/byzhost`.
pub fn cache_base() -> Option<PathBuf> {
    std::env::var_os("BYZHOST_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("byzhost")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/byzhost")))
}

/// Reads a component file: a regular file no larger than `cap` bytes.
fn read_component(path: &Path, cap: u64) -> Result<Vec<u8>> {
    use byzhost_train::files::{read_regular, FileError};
    read_regular(path, cap, "policy file", " (raise it with --max-component-mb)").map_err(|e| match e {
        FileError::Missing { .. } => anyhow::anyhow!("{e} (build the policies with scripts/setup.sh)"),
        e => e.into(),
    })
}

fn placeholder_info(path: &Path, kind: PolicyKind) -> PolicyInfo {
    PolicyInfo {
        name: path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        version: "?".into(),
        kind,
        description: String::new(),
        params: Vec::new(),
        stateless: false,
        opt_outs: Vec::new(),
    }
}

/// A component built against a `byz:policy` version this host cannot run.
#[derive(Debug, thiserror::Error)]
#[error(
    "it was built for byz:policy@{found}, but this host supports byz:policy@{}; rebuild the policy against a supported version of the WIT package",
    SUPPORTED_WIT_VERSIONS.join(", byz:policy@")
)]
pub struct IncompatibleVersion {
    pub found: String,
}

/// Finds the exported `byz:policy/{defense,attack}@VERSION` interface and checks its version.
/// A WASI 0.2 interface (`wasi:io/poll@0.2.6`), which the host links with nothing granted.
fn is_wasi_0_2(import: &str) -> bool {
    import.starts_with("wasi:") && import.rsplit_once('@').is_some_and(|(_, version)| version.starts_with("0.2."))
}

fn policy_interface(exports: &[String], imports: &[String]) -> Result<(PolicyKind, String)> {
    for name in exports {
        let Some(rest) = name.strip_prefix("byz:policy/") else { continue };
        let (iface, version) = rest.split_once('@').unwrap_or((rest, "(unversioned)"));
        let kind = match iface {
            "defense" => PolicyKind::Defense,
            "attack" => PolicyKind::Attack,
            _ => continue,
        };
        if !SUPPORTED_WIT_VERSIONS.contains(&version) {
            return Err(IncompatibleVersion { found: version.to_string() }.into());
        }
        for import in imports {
            if !import.starts_with("byz:policy/") && !is_wasi_0_2(import) {
                bail!("it imports `{import}`; policies may only import the byz:policy host interfaces and WASI 0.2 (wasi:*@0.2.x, granted nothing)");
            }
        }
        return Ok((kind, version.to_string()));
    }
    bail!(
        "it exports neither byz:policy/defense nor byz:policy/attack (exports: {})",
        if exports.is_empty() { "none".to_string() } else { exports.join(", ") }
    )
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
