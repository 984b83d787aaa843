//! Per-instance host state: the resource limiter, the seeded random stream, the log, and
//! the calling node's loss oracle behind the `local-data` import.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wasmtime::ResourceLimiter;

use super::bindings::{defense::byz::policy as iface, wit};

/// Evaluates candidate models on a node's current local training batch (the `local-data`
/// import). The simulation engine implements it with the node's data; `byzhost call` has
/// none.
pub trait LossOracle: Send {
    /// Mean loss of each of `count` candidates, laid out row after row in `candidates`.
    fn evaluate_loss(&mut self, candidates: &[f32], count: usize) -> Result<Vec<f32>, String>;
}

/// The oracle of a context without training data.
pub struct NoLocalData;

impl LossOracle for NoLocalData {
    fn evaluate_loss(&mut self, _: &[f32], _: usize) -> Result<Vec<f32>, String> {
        Err("no local training data is available here (byzhost call has none; use byzhost run)".into())
    }
}

/// Log lines a policy may write per call; the rest are counted and dropped so that a
/// chatty policy cannot flood the terminal or slow a run down.
const LOG_LINES_PER_CALL: usize = 20;
const LOG_LINE_MAX_BYTES: usize = 2048;

pub struct HostState {
    policy: String,
    node: Option<u32>,
    seed: u64,
    memory_cap: usize,
    /// Set when the limiter refused a growth, so the resulting trap is reported as such.
    pub memory_refused: Option<usize>,
    rng: ChaCha8Rng,
    oracle: Box<dyn LossOracle>,
    logs_this_call: usize,
    /// The last line the policy logged in the current call: a panicking guest logs its
    /// panic message before it traps, and the fault report quotes it.
    pub last_log: Option<String>,
    pub(crate) verbose: bool,
}

impl HostState {
    pub fn new(policy: String, node: Option<u32>, seed: u64, memory_cap: usize, oracle: Box<dyn LossOracle>) -> Self {
        HostState {
            policy,
            node,
            seed,
            memory_cap,
            memory_refused: None,
            rng: ChaCha8Rng::seed_from_u64(seed),
            oracle,
            logs_this_call: 0,
            last_log: None,
            verbose: std::env::var_os("BYZHOST_POLICY_DEBUG").is_some(),
        }
    }

    /// Prepares a call on behalf of `node` in `round`. The random stream is reseeded from
    /// (instance seed, node, round), so what a policy draws does not depend on which
    /// instance serves the node, on earlier calls, or on a resume in between.
    pub fn begin_call(&mut self, node: Option<u32>, round: u64) {
        self.node = node;
        self.logs_this_call = 0;
        self.last_log = None;
        let node_part = node.map_or(u64::MAX, u64::from).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.rng = ChaCha8Rng::seed_from_u64(self.seed ^ node_part ^ round.wrapping_mul(0xD1B5_4A32_D192_ED03));
    }

    /// Replaces the loss oracle, returning the previous one.
    pub fn swap_oracle(&mut self, oracle: Box<dyn LossOracle>) -> Box<dyn LossOracle> {
        std::mem::replace(&mut self.oracle, oracle)
    }

    /// Takes the state apart into its oracle and the call's last log line.
    pub fn into_parts(self) -> (Box<dyn LossOracle>, Option<String>) {
        (self.oracle, self.last_log)
    }
}

impl ResourceLimiter for HostState {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.memory_refused = Some(desired);
            return Err(wasmtime::Error::msg(format!("linear memory of {desired} bytes is over the cap of {} bytes", self.memory_cap)));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

impl wit::Host for HostState {}

impl iface::host::Host for HostState {
    fn log(&mut self, level: wit::LogLevel, message: String) {
        if !matches!(level, wit::LogLevel::Debug) {
            let line: String = message.chars().take(LOG_LINE_MAX_BYTES).collect();
            self.last_log = Some(line.replace('\n', " "));
        }
        if matches!(level, wit::LogLevel::Debug) && !self.verbose {
            return;
        }
        self.logs_this_call += 1;
        if self.logs_this_call > LOG_LINES_PER_CALL {
            if self.logs_this_call == LOG_LINES_PER_CALL + 1 {
                eprintln!("[{}] further log lines of this call dropped", self.policy);
            }
            return;
        }
        let mut message = message;
        if message.len() > LOG_LINE_MAX_BYTES {
            let mut cut = LOG_LINE_MAX_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" …");
        }
        let node = self.node.map(|n| format!(" node {n}")).unwrap_or_default();
        let level = match level {
            wit::LogLevel::Debug => "debug",
            wit::LogLevel::Info => "info",
            wit::LogLevel::Warn => "warn",
        };
        eprintln!("[{}{node}] {level}: {message}", self.policy);
    }

    fn random_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }
}

impl iface::local_data::Host for HostState {
    fn evaluate_loss(&mut self, candidates: Vec<f32>, count: u32) -> Result<Vec<f32>, String> {
        let count = count as usize;
        if count == 0 && candidates.is_empty() {
            return Ok(Vec::new());
        }
        if count == 0 || !candidates.len().is_multiple_of(count) {
            return Err(format!("{} values do not split into {count} candidate models", candidates.len()));
        }
        self.oracle.evaluate_loss(&candidates, count)
    }
}
