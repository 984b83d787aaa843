//! Per-instance host state: the resource limiter (the instance's cap and its share of the
//! process-wide budget), the seeded random stream, the log, the calling node's loss
//! oracle behind the `local-data` import, with the call's deadline checked inside it, and
//! the WASI context that grants nothing ([`super::wasi`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wasmtime::ResourceLimiter;

use super::bindings::{defense::byz::policy as iface, wit};
use super::budget::MemoryBudget;
use super::{text, wasi, Limits};

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

/// Candidate models one `evaluate-loss` call may ask for: MOZI at the paper's largest
/// setting (n = 300, p = 0.6) asks for about 180 at once.
pub const MAX_CANDIDATES_PER_CALL: usize = 512;
/// Candidate models all `evaluate-loss` calls of one policy call may ask for together, so
/// a policy cannot turn one call into unbounded host work by asking again and again.
pub const MAX_CANDIDATES_PER_POLICY_CALL: usize = 1024;

pub struct HostState {
    policy: String,
    node: Option<u32>,
    seed: u64,
    memory_cap: usize,
    /// Set when the limiter refused a growth, so the resulting trap is reported as such.
    pub memory_refused: Option<usize>,
    budget: Arc<MemoryBudget>,
    /// What this instance holds of the shared budget, given back when it is dropped.
    charged: usize,
    last_charge: usize,
    /// Set when a growth was refused by the shared budget: the total it asked for.
    pub budget_refused: Option<usize>,
    timeout: Duration,
    /// When the current call must end, host work included.
    deadline: Instant,
    /// Set when the deadline passed inside a host import, so the trap is a timeout.
    pub deadline_hit_in_host: bool,
    candidates_this_call: usize,
    rng: ChaCha8Rng,
    oracle: Option<Box<dyn LossOracle>>,
    logs_this_call: usize,
    /// The last line the policy logged in the current call: a panicking guest logs its
    /// panic message before it traps, and the fault report quotes it.
    pub last_log: Option<String>,
    pub(crate) verbose: bool,
    wasi: wasmtime_wasi::WasiCtx,
    table: wasmtime::component::ResourceTable,
    /// Models the guest took from the current call's lent list, expired when it returns.
    pub(super) rows_lent: Vec<u32>,
    output: wasi::Output,
    /// Whether the component imports WASI (its context is then reseeded every call).
    uses_wasi: bool,
}

impl wasmtime_wasi::WasiView for HostState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl HostState {
    pub fn new(
        policy: String,
        node: Option<u32>,
        seed: u64,
        limits: &Limits,
        budget: Arc<MemoryBudget>,
        oracle: Box<dyn LossOracle>,
        uses_wasi: bool,
    ) -> Self {
        let output = wasi::Output::default();
        HostState {
            policy,
            node,
            seed,
            memory_cap: limits.memory_bytes,
            memory_refused: None,
            budget,
            charged: 0,
            last_charge: 0,
            budget_refused: None,
            timeout: limits.timeout,
            deadline: Instant::now() + limits.timeout,
            deadline_hit_in_host: false,
            candidates_this_call: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            oracle: Some(oracle),
            logs_this_call: 0,
            last_log: None,
            verbose: std::env::var_os("BYZHOST_POLICY_DEBUG").is_some(),
            wasi: wasi::context(seed, &output),
            table: wasmtime::component::ResourceTable::new(),
            rows_lent: Vec::new(),
            output,
            uses_wasi,
        }
    }

    /// Prepares a call on behalf of `node` in `round`. The random stream is reseeded from
    /// (instance seed, node, round), so what a policy draws does not depend on which
    /// instance serves the node, on earlier calls, or on a resume in between.
    pub fn begin_call(&mut self, node: Option<u32>, round: u64) {
        self.node = node;
        self.logs_this_call = 0;
        self.last_log = None;
        self.candidates_this_call = 0;
        self.deadline = Instant::now() + self.timeout;
        let node_part = node.map_or(u64::MAX, u64::from).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let call_seed = self.seed ^ node_part ^ round.wrapping_mul(0xD1B5_4A32_D192_ED03);
        self.rng = ChaCha8Rng::seed_from_u64(call_seed);
        if self.uses_wasi {
            // WASI randomness follows the same rule; the context is otherwise the same.
            self.wasi = wasi::context(call_seed, &self.output);
        }
    }

    /// The resource table: WASI's handles and the models of byz:policy@0.2.0.
    pub(super) fn table(&mut self) -> &mut wasmtime::component::ResourceTable {
        &mut self.table
    }

    pub(super) fn table_ref(&self) -> &wasmtime::component::ResourceTable {
        &self.table
    }

    /// Sends what the component printed (WASI stdout and stderr) during the call to the
    /// policy log, line by line, under the same limits as the `log` import.
    pub fn flush_output(&mut self) {
        if !self.uses_wasi {
            return;
        }
        let (bytes, dropped) = self.output.take();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            iface::host::Host::log(self, wit::LogLevel::Info, line.to_string());
        }
        if dropped > 0 {
            eprintln!("[{}] {dropped} further bytes of output of this call dropped", self.policy);
        }
    }

    /// Replaces the loss oracle, returning the previous one.
    pub fn swap_oracle(&mut self, oracle: Box<dyn LossOracle>) -> Box<dyn LossOracle> {
        self.oracle.replace(oracle).expect("the state holds an oracle until taken apart")
    }

    /// Takes the state apart into its oracle and the call's last log line.
    pub fn into_parts(mut self) -> (Box<dyn LossOracle>, Option<String>) {
        (self.oracle.take().expect("the state holds an oracle until taken apart"), self.last_log.take())
    }

    /// Ends the call with a timeout when its deadline has passed during host work.
    pub(super) fn check_deadline(&mut self, import: &str) -> wasmtime::Result<()> {
        if Instant::now() >= self.deadline {
            self.deadline_hit_in_host = true;
            wasmtime::bail!("the call's deadline passed inside the host import `{import}`");
        }
        Ok(())
    }
}

impl Drop for HostState {
    fn drop(&mut self) {
        self.budget.release(self.charged);
    }
}

impl ResourceLimiter for HostState {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.memory_refused = Some(desired);
            return Err(wasmtime::Error::msg(format!("linear memory of {desired} bytes is over the cap of {} bytes", self.memory_cap)));
        }
        let growth = desired.saturating_sub(current);
        if let Err(total) = self.budget.charge(growth) {
            self.budget_refused = Some(total);
            return Err(wasmtime::Error::msg(format!(
                "linear memory growth to {desired} bytes would bring all instances to {total} bytes, over the budget of {} bytes",
                self.budget.limit()
            )));
        }
        self.charged += growth;
        self.last_charge = growth;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        // The growth was charged but did not happen.
        self.budget.release(self.last_charge);
        self.charged -= self.last_charge;
        self.last_charge = 0;
        Ok(())
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

impl wit::Host for HostState {}

impl iface::host::Host for HostState {
    fn log(&mut self, level: wit::LogLevel, message: String) {
        let message = text::sanitize(&message, text::LINE_MAX_BYTES);
        if !matches!(level, wit::LogLevel::Debug) {
            self.last_log = Some(message.clone());
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
    /// Bounded host work: at most [`MAX_CANDIDATES_PER_CALL`] candidates per call and
    /// [`MAX_CANDIDATES_PER_POLICY_CALL`] per policy call (an `err` past either, which the
    /// policy may handle), and the deadline checked before every candidate (a timeout past
    /// it, ending the policy call).
    fn evaluate_loss(&mut self, candidates: Vec<f32>, count: u32) -> wasmtime::Result<Result<Vec<f32>, String>> {
        self.check_deadline("evaluate-loss")?;
        let count = count as usize;
        if count == 0 && candidates.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        // Empty candidates with a count would split into models of no values at all.
        if count == 0 || candidates.is_empty() || !candidates.len().is_multiple_of(count) {
            return Ok(Err(format!("{} values do not split into {count} candidate models", candidates.len())));
        }
        if count > MAX_CANDIDATES_PER_CALL {
            return Ok(Err(format!("{count} candidates in one evaluate-loss call; the host evaluates at most {MAX_CANDIDATES_PER_CALL}")));
        }
        if self.candidates_this_call + count > MAX_CANDIDATES_PER_POLICY_CALL {
            return Ok(Err(format!(
                "this call has already evaluated {} candidates, and {count} more would pass the budget of \
                 {MAX_CANDIDATES_PER_POLICY_CALL} per policy call",
                self.candidates_this_call
            )));
        }
        self.candidates_this_call += count;
        let dim = candidates.len() / count;
        let mut losses = Vec::with_capacity(count);
        for candidate in candidates.chunks_exact(dim) {
            self.check_deadline("evaluate-loss")?;
            let oracle = self.oracle.as_mut().expect("the state holds an oracle until taken apart");
            match oracle.evaluate_loss(candidate, 1) {
                Ok(loss) => losses.extend(loss),
                Err(message) => return Ok(Err(message)),
            }
        }
        Ok(Ok(losses))
    }
}

#[cfg(test)]
mod tests {
    use super::iface::local_data::Host as _;
    use super::*;

    /// An oracle that answers every candidate with its first value.
    struct FirstValue;

    impl LossOracle for FirstValue {
        fn evaluate_loss(&mut self, candidates: &[f32], count: usize) -> Result<Vec<f32>, String> {
            Ok(candidates.chunks_exact(candidates.len() / count).map(|c| c[0]).collect())
        }
    }

    fn state() -> HostState {
        HostState::new("p".into(), Some(0), 0, &Limits::default(), MemoryBudget::new(1 << 30), Box::new(FirstValue), false)
    }

    #[test]
    fn candidates_that_do_not_split_into_models_are_an_err_not_a_panic() {
        let mut s = state();
        for (values, count) in [(vec![], 3), (vec![1.0; 5], 2), (vec![1.0; 4], 0)] {
            let out = s.evaluate_loss(values, count).expect("no trap");
            assert!(out.unwrap_err().contains("do not split"));
        }
        assert_eq!(s.evaluate_loss(vec![], 0).unwrap(), Ok(vec![]));
        assert_eq!(s.evaluate_loss(vec![1.0, 2.0, 3.0, 4.0], 2).unwrap(), Ok(vec![1.0, 3.0]));
    }

    #[test]
    fn host_work_is_capped_per_call_and_per_policy_call() {
        let mut s = state();
        let err = s.evaluate_loss(vec![0.0; MAX_CANDIDATES_PER_CALL + 1], (MAX_CANDIDATES_PER_CALL + 1) as u32).unwrap().unwrap_err();
        assert!(err.contains("at most 512"), "{err}");
        for _ in 0..MAX_CANDIDATES_PER_POLICY_CALL / MAX_CANDIDATES_PER_CALL {
            assert!(s.evaluate_loss(vec![0.0; MAX_CANDIDATES_PER_CALL], MAX_CANDIDATES_PER_CALL as u32).unwrap().is_ok());
        }
        assert!(s.evaluate_loss(vec![0.0], 1).unwrap().unwrap_err().contains("budget of 1024"));
        s.begin_call(Some(0), 1);
        assert!(s.evaluate_loss(vec![0.0], 1).unwrap().is_ok(), "the budget is per policy call");
    }
}
