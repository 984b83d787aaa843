//! Live policy instances: one store and instance per node, re-created after any fault.
//!
//! A trap leaves a component instance in an undefined state, so a faulted instance is
//! dropped on the spot and never called again; the next call (if the caller makes one)
//! instantiates afresh and re-applies the configured parameters.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use wasmtime::component::Component;
use wasmtime::{Engine, Store, Trap};

use super::bindings::{self, attack::AttackPolicy, attack::AttackPolicyPre, defense::DefensePolicy, defense::DefensePolicyPre, v0_2};
use super::budget::MemoryBudget;
use super::fault::{first_non_finite, FaultKind, PolicyError, PolicyLabel};
use super::models;
use super::state::{HostState, LossOracle, NoLocalData};
use super::{text, Limits, LoadedPolicy, Sandbox};
use crate::policy::{AttackContext, Context, Crafted, ParamValue, PolicyInfo, PolicyKind, SendMode};

/// A component's imports resolved against the host's linker, once per loaded component;
/// every instance of it starts from this. One variant per world and WIT version: the host
/// dispatches on the version the component exports.
#[derive(Clone)]
pub(crate) enum Pre {
    Defense(DefensePre),
    Attack(AttackPre),
}

#[derive(Clone)]
pub(crate) enum DefensePre {
    V0_1(DefensePolicyPre<HostState>),
    V0_2(v0_2::defense::DefensePolicyPre<HostState>),
}

#[derive(Clone)]
pub(crate) enum AttackPre {
    V0_1(AttackPolicyPre<HostState>),
    V0_2(v0_2::attack::AttackPolicyPre<HostState>),
}

enum DefenseBound {
    V0_1(DefensePolicy),
    V0_2(v0_2::defense::DefensePolicy),
}

enum AttackBound {
    V0_1(AttackPolicy),
    V0_2(v0_2::attack::AttackPolicy),
}

impl Pre {
    /// `wit_version` is the `byz:policy` version the component exports (checked supported).
    pub(crate) fn new(sandbox: &Sandbox, component: &Component, kind: PolicyKind, wit_version: &str) -> Result<Pre> {
        let pre = sandbox.linker()?.instantiate_pre(component)?;
        let v0_2 = wit_version == "0.2.0";
        Ok(match (kind, v0_2) {
            (PolicyKind::Defense, false) => Pre::Defense(DefensePre::V0_1(DefensePolicyPre::new(pre)?)),
            (PolicyKind::Defense, true) => Pre::Defense(DefensePre::V0_2(v0_2::defense::DefensePolicyPre::new(pre)?)),
            (PolicyKind::Attack, false) => Pre::Attack(AttackPre::V0_1(AttackPolicyPre::new(pre)?)),
            (PolicyKind::Attack, true) => Pre::Attack(AttackPre::V0_2(v0_2::attack::AttackPolicyPre::new(pre)?)),
        })
    }
}

/// What differs between the two worlds: how to instantiate and how to call the common exports.
trait World {
    type Pre: Clone;
    type Bound;
    fn pre(pre: &Pre) -> Option<&Self::Pre>;
    fn instantiate(pre: &Self::Pre, store: &mut Store<HostState>) -> wasmtime::Result<Self::Bound>;
    fn info(b: &Self::Bound, s: &mut Store<HostState>) -> wasmtime::Result<bindings::wit::PolicyInfo>;
    fn configure(b: &Self::Bound, s: &mut Store<HostState>, p: &[bindings::wit::Param]) -> wasmtime::Result<Result<(), String>>;
}

struct DefenseWorld;
impl World for DefenseWorld {
    type Pre = DefensePre;
    type Bound = DefenseBound;
    fn pre(pre: &Pre) -> Option<&Self::Pre> {
        match pre {
            Pre::Defense(pre) => Some(pre),
            Pre::Attack(_) => None,
        }
    }
    fn instantiate(pre: &Self::Pre, store: &mut Store<HostState>) -> wasmtime::Result<Self::Bound> {
        Ok(match pre {
            DefensePre::V0_1(pre) => DefenseBound::V0_1(pre.instantiate(store)?),
            DefensePre::V0_2(pre) => DefenseBound::V0_2(pre.instantiate(store)?),
        })
    }
    fn info(b: &Self::Bound, s: &mut Store<HostState>) -> wasmtime::Result<bindings::wit::PolicyInfo> {
        match b {
            DefenseBound::V0_1(b) => b.byz_policy_defense().call_info(s),
            DefenseBound::V0_2(b) => b.byz_policy_defense().call_info(s),
        }
    }
    fn configure(b: &Self::Bound, s: &mut Store<HostState>, p: &[bindings::wit::Param]) -> wasmtime::Result<Result<(), String>> {
        match b {
            DefenseBound::V0_1(b) => b.byz_policy_defense().call_configure(s, p),
            DefenseBound::V0_2(b) => b.byz_policy_defense().call_configure(s, p),
        }
    }
}

struct AttackWorld;
impl World for AttackWorld {
    type Pre = AttackPre;
    type Bound = AttackBound;
    fn pre(pre: &Pre) -> Option<&Self::Pre> {
        match pre {
            Pre::Attack(pre) => Some(pre),
            Pre::Defense(_) => None,
        }
    }
    fn instantiate(pre: &Self::Pre, store: &mut Store<HostState>) -> wasmtime::Result<Self::Bound> {
        Ok(match pre {
            AttackPre::V0_1(pre) => AttackBound::V0_1(pre.instantiate(store)?),
            AttackPre::V0_2(pre) => AttackBound::V0_2(pre.instantiate(store)?),
        })
    }
    fn info(b: &Self::Bound, s: &mut Store<HostState>) -> wasmtime::Result<bindings::wit::PolicyInfo> {
        match b {
            AttackBound::V0_1(b) => b.byz_policy_attack().call_info(s),
            AttackBound::V0_2(b) => b.byz_policy_attack().call_info(s),
        }
    }
    fn configure(b: &Self::Bound, s: &mut Store<HostState>, p: &[bindings::wit::Param]) -> wasmtime::Result<Result<(), String>> {
        match b {
            AttackBound::V0_1(b) => b.byz_policy_attack().call_configure(s, p),
            AttackBound::V0_2(b) => b.byz_policy_attack().call_configure(s, p),
        }
    }
}

/// The models a defense call receives, in neighbour order: end to end, or one slice each
/// (where they already are: a 0.2.0 policy is lent them without any copy), with a buffer to
/// lay them end to end in for a 0.1.0 policy.
pub enum Received<'a> {
    Flat(&'a [f32]),
    Rows { rows: Vec<&'a [f32]>, scratch: &'a mut Vec<f32> },
}

impl Received<'_> {
    /// The models end to end (0.1.0's `list<f32>`).
    fn end_to_end(&mut self) -> &[f32] {
        match self {
            Received::Flat(flat) => flat,
            Received::Rows { rows, scratch } => {
                scratch.clear();
                rows.iter().for_each(|r| scratch.extend_from_slice(r));
                scratch
            }
        }
    }

    /// One slice per model; a ragged last row (only the conformance suite sends one) stays
    /// as it is, shorter.
    fn rows(&self, dim: usize) -> Cow<'_, [&[f32]]> {
        match self {
            Received::Flat(flat) => Cow::Owned(flat.chunks(dim.max(1)).collect()),
            Received::Rows { rows, .. } => Cow::Borrowed(rows),
        }
    }
}

/// A call's `err` passed on, or its result taken out of the store by `take`.
fn taken<T, U>(
    result: wasmtime::Result<Result<T, String>>,
    take: impl FnOnce(T) -> wasmtime::Result<U>,
) -> wasmtime::Result<Result<U, String>> {
    match result? {
        Ok(value) => take(value).map(Ok),
        Err(e) => Ok(Err(e)),
    }
}

/// 0.2.0's `aggregate`: the inputs lent as models for the call, the result taken back.
fn aggregate_v0_2(
    b: &v0_2::defense::DefensePolicy,
    s: &mut Store<HostState>,
    ctx: &bindings::wit::Context,
    prev: &[f32],
    local: &[f32],
    rows: &[&[f32]],
) -> wasmtime::Result<Result<Vec<f32>, String>> {
    let loan = models::lend(s.data_mut(), &[prev, local], rows)?;
    let result = b.byz_policy_defense().call_aggregate(&mut *s, ctx, loan.single(0), loan.single(1), loan.list());
    // The result is taken before the loan ends: it may be a model taken from the list.
    let output = taken(result, |model| models::take_owned(s.data_mut(), model));
    models::take_back(s.data_mut(), loan);
    output
}

/// 0.2.0's `craft`: the honest models lent for the call, the crafted models taken back and
/// laid end to end.
fn craft_v0_2(
    b: &v0_2::attack::AttackPolicy,
    s: &mut Store<HostState>,
    ctx: &bindings::wit::AttackContext,
    honest: &[f32],
    dim: usize,
) -> wasmtime::Result<Result<bindings::wit::Crafted, String>> {
    let rows: Vec<&[f32]> = honest.chunks_exact(dim.max(1)).collect();
    let loan = models::lend(s.data_mut(), &[], &rows)?;
    let result = b.byz_policy_attack().call_craft(&mut *s, ctx, loan.list());
    // The messages are taken before the loan ends: they may be models taken from the list.
    let output = taken(result, |crafted| take_crafted(s.data_mut(), crafted, dim));
    models::take_back(s.data_mut(), loan);
    output
}

/// The crafted models taken out of the table, laid end to end.
fn take_crafted(
    state: &mut HostState,
    crafted: v0_2::attack::exports::byz::policy::attack::Crafted,
    dim: usize,
) -> wasmtime::Result<bindings::wit::Crafted> {
    let mut vectors = Vec::with_capacity(crafted.vectors.len() * dim);
    for model in crafted.vectors {
        models::append_owned(state, model, &mut vectors)?;
    }
    Ok(bindings::wit::Crafted { mode: crafted.mode, vectors })
}

/// Lifecycle shared by both worlds: instantiate, call under a deadline, classify faults,
/// drop the instance on any fault.
struct Core<W: World> {
    pre: W::Pre,
    engine: Engine,
    label: Arc<PolicyLabel>,
    node: Option<u32>,
    seed: u64,
    limits: Limits,
    budget: Arc<MemoryBudget>,
    deadline_ticks: u64,
    params: Vec<(String, ParamValue)>,
    live: Option<(Store<HostState>, W::Bound)>,
    spare_oracle: Option<Box<dyn LossOracle>>,
    /// Whether the component imports WASI, so its instances get a fresh, seeded context each call.
    uses_wasi: bool,
}

impl<W: World> Core<W> {
    fn new(sandbox: &Sandbox, policy: &LoadedPolicy, node: Option<u32>, seed: u64, oracle: Box<dyn LossOracle>) -> Result<Self> {
        let pre = W::pre(&policy.pre).with_context(|| format!("{} is a {}, not the kind asked for", policy.path.display(), policy.kind))?;
        let mut core = Core {
            pre: pre.clone(),
            engine: sandbox.engine().clone(),
            label: Arc::new(policy.label()),
            uses_wasi: !super::wasi::wasi_imports(&policy.imports).is_empty(),
            node,
            seed,
            limits: sandbox.limits(),
            budget: sandbox.budget(),
            deadline_ticks: sandbox.deadline_ticks(),
            params: Vec::new(),
            live: None,
            spare_oracle: Some(oracle),
        };
        core.ensure_live("instantiate", None).map_err(anyhow::Error::new)?;
        Ok(core)
    }

    fn fault(&self, call: &'static str, round: Option<u64>, kind: FaultKind) -> PolicyError {
        self.fault_at(call, self.node, round, kind)
    }

    fn fault_at(&self, call: &'static str, node: Option<u32>, round: Option<u64>, kind: FaultKind) -> PolicyError {
        PolicyError { policy: self.label.clone(), call, node, round, kind }
    }

    /// Drops the live instance, keeping the oracle for the next one.
    fn poison(&mut self) {
        if let Some((store, _)) = self.live.take() {
            self.spare_oracle = Some(store.into_data().into_parts().0);
        }
    }

    /// Turns a failed call on `store`, which ran for `elapsed` and whose result should take
    /// `result_bytes`, into a fault class; the store is dropped with it.
    fn classify(&mut self, err: wasmtime::Error, store: Store<HostState>, elapsed: Duration, result_bytes: Option<usize>) -> FaultKind {
        let state = store.into_data();
        let (memory_refused, budget_refused, in_host) = (state.memory_refused, state.budget_refused, state.deadline_hit_in_host);
        let (oracle, last_log) = state.into_parts();
        self.spare_oracle = Some(oracle);
        if let Some(desired_total) = budget_refused {
            return FaultKind::MemoryBudget { desired_total, budget: self.budget.limit() };
        }
        if let Some(desired) = memory_refused {
            return FaultKind::MemoryLimit { desired, cap: self.limits.memory_bytes };
        }
        let timeout = || FaultKind::Timeout { deadline: self.limits.timeout, elapsed, in_host };
        if in_host {
            return timeout();
        }
        let chain = format!("{err:#}");
        // wasmtime's own words for its per-call limit on data lifted out of the guest.
        if chain.contains("fuel allocated for hostcalls has been exhausted") {
            return FaultKind::TransferLimit { limit: self.limits.transfer_bytes, expected: result_bytes };
        }
        match err.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => timeout(),
            Some(trap) => FaultKind::Trap(match last_log {
                Some(line) => format!("{trap} (last log line: {line})"),
                None => trap.to_string(),
            }),
            // An error a host import raised: its own words, not the backtrace heading.
            None => FaultKind::Trap(text::sanitize(err.root_cause().to_string().lines().next().unwrap_or_default(), text::LINE_MAX_BYTES)),
        }
    }

    fn ensure_live(&mut self, call: &'static str, round: Option<u64>) -> Result<(), PolicyError> {
        if self.live.is_some() {
            return Ok(());
        }
        let oracle = self.spare_oracle.take().unwrap_or_else(|| Box::new(NoLocalData));
        let state =
            HostState::new(self.label.name.clone(), self.node, self.seed, &self.limits, self.budget.clone(), oracle, self.uses_wasi);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| s);
        store.set_epoch_deadline(self.deadline_ticks);
        store.set_hostcall_fuel(self.limits.transfer_bytes);
        let started = Instant::now();
        match W::instantiate(&self.pre, &mut store) {
            Ok(bound) => self.live = Some((store, bound)),
            Err(e) => {
                let kind = self.classify(e, store, started.elapsed(), None);
                return Err(self.fault(call, round, kind));
            }
        }
        if !self.params.is_empty() {
            let params = std::mem::take(&mut self.params);
            let result = self.configure(&params, round);
            self.params = params;
            result?;
        }
        Ok(())
    }

    /// Runs one export under the deadline and classifies whatever goes wrong; `result_bytes`,
    /// what its result should take, is quoted when the call moves too much.
    fn call<R>(
        &mut self,
        call: &'static str,
        round: Option<u64>,
        result_bytes: Option<usize>,
        f: impl FnOnce(&W::Bound, &mut Store<HostState>) -> wasmtime::Result<Result<R, String>>,
    ) -> Result<R, PolicyError> {
        let node = self.node;
        self.call_for(call, node, round, result_bytes, f)
    }

    /// [`Core::call`] on behalf of `node` (an instance may serve several nodes).
    fn call_for<R>(
        &mut self,
        call: &'static str,
        node: Option<u32>,
        round: Option<u64>,
        result_bytes: Option<usize>,
        f: impl FnOnce(&W::Bound, &mut Store<HostState>) -> wasmtime::Result<Result<R, String>>,
    ) -> Result<R, PolicyError> {
        self.ensure_live(call, round)?;
        let (store, bound) = self.live.as_mut().expect("ensure_live leaves a live instance");
        store.data_mut().begin_call(node, round.unwrap_or(0));
        store.set_epoch_deadline(self.deadline_ticks);
        let started = Instant::now();
        let result = f(bound, store);
        store.data_mut().flush_output();
        match result {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(msg)) => Err(self.fault_at(call, node, round, FaultKind::Rejected(text::sanitize(&msg, text::LINE_MAX_BYTES)))),
            Err(e) => {
                let (store, _) = self.live.take().expect("the call ran on a live instance");
                let kind = self.classify(e, store, started.elapsed(), result_bytes);
                Err(self.fault_at(call, node, round, kind))
            }
        }
    }

    fn info(&mut self) -> Result<PolicyInfo, PolicyError> {
        self.call("info", None, None, |b, s| W::info(b, s).map(Ok)).map(bindings::info_from_wit)
    }

    fn configure(&mut self, params: &[(String, ParamValue)], round: Option<u64>) -> Result<(), PolicyError> {
        let wit = bindings::params_to_wit(params);
        self.call("configure", round, None, |b, s| W::configure(b, s, &wit))?;
        self.params = params.to_vec();
        Ok(())
    }
}

/// A defense instance serving one regular node.
pub struct DefenseInstance(Core<DefenseWorld>);

impl DefenseInstance {
    /// Instantiates `policy` for `node`, with `oracle` behind the `local-data` import.
    pub fn new(sandbox: &Sandbox, policy: &LoadedPolicy, node: Option<u32>, oracle: Box<dyn LossOracle>) -> Result<Self> {
        Ok(DefenseInstance(Core::new(sandbox, policy, node, 0, oracle)?))
    }

    /// Like [`DefenseInstance::new`], with the run seed behind the `random-u64` import.
    pub fn with_seed(sandbox: &Sandbox, policy: &LoadedPolicy, node: u32, seed: u64, oracle: Box<dyn LossOracle>) -> Result<Self> {
        Ok(DefenseInstance(Core::new(sandbox, policy, Some(node), seed, oracle)?))
    }

    pub fn info(&mut self) -> Result<PolicyInfo, PolicyError> {
        self.0.info()
    }

    pub fn configure(&mut self, params: &[(String, ParamValue)]) -> Result<(), PolicyError> {
        self.0.configure(params, None)
    }

    /// Replaces the loss oracle behind the `local-data` import, returning the previous one.
    fn swap_oracle(&mut self, oracle: Box<dyn LossOracle>) -> Box<dyn LossOracle> {
        match (&mut self.0.live, &mut self.0.spare_oracle) {
            (Some((store, _)), _) => store.data_mut().swap_oracle(oracle),
            (None, Some(o)) => std::mem::replace(o, oracle),
            (None, None) => unreachable!("an instance always holds its oracle"),
        }
    }

    /// [`DefenseInstance::aggregate`] with `oracle` behind the `local-data` import for this
    /// call only: an instance shared by several nodes answers each with that node's data.
    pub fn aggregate_with(
        &mut self,
        oracle: &mut Box<dyn LossOracle>,
        ctx: &Context,
        prev: &[f32],
        local: &[f32],
        received: Received<'_>,
    ) -> Result<Vec<f32>, PolicyError> {
        let own = self.swap_oracle(std::mem::replace(oracle, Box::new(NoLocalData)));
        let out = self.aggregate_received(ctx, prev, local, received);
        *oracle = self.swap_oracle(own);
        out
    }

    /// Calls `aggregate` on behalf of `ctx.node` with the received models end to end.
    pub fn aggregate(&mut self, ctx: &Context, prev: &[f32], local: &[f32], received: &[f32]) -> Result<Vec<f32>, PolicyError> {
        self.aggregate_received(ctx, prev, local, Received::Flat(received))
    }

    /// Calls `aggregate` on behalf of `ctx.node` and checks the output: `dim` values, all
    /// finite when the inputs were.
    pub fn aggregate_received(
        &mut self,
        ctx: &Context,
        prev: &[f32],
        local: &[f32],
        mut received: Received<'_>,
    ) -> Result<Vec<f32>, PolicyError> {
        let wctx = bindings::context_to_wit(ctx);
        let (node, round) = (Some(ctx.node), Some(ctx.round));
        let dim = ctx.dim as usize;
        let result_bytes = Some(dim * 4);
        let out = self.0.call_for("aggregate", node, round, result_bytes, |b, s| match b {
            DefenseBound::V0_1(b) => b.byz_policy_defense().call_aggregate(s, &wctx, prev, local, received.end_to_end()),
            DefenseBound::V0_2(b) => aggregate_v0_2(b, s, &wctx, prev, local, &received.rows(dim)),
        })?;
        if out.len() != dim {
            self.0.poison();
            return Err(self.0.fault_at("aggregate", node, round, FaultKind::WrongLength { expected: dim, got: out.len() }));
        }
        if let Some((index, value)) = first_non_finite(&out) {
            let inputs_finite = [prev, local].into_iter().chain(received.rows(dim).iter().copied()).all(|v| first_non_finite(v).is_none());
            if inputs_finite {
                return Err(self.0.fault_at("aggregate", node, round, FaultKind::NonFinite { index, value }));
            }
        }
        Ok(out)
    }
}

/// The attack instance of a run.
pub struct AttackInstance(Core<AttackWorld>);

impl AttackInstance {
    pub fn new(sandbox: &Sandbox, policy: &LoadedPolicy, seed: u64) -> Result<Self> {
        Ok(AttackInstance(Core::new(sandbox, policy, None, seed, Box::new(NoLocalData))?))
    }

    pub fn info(&mut self) -> Result<PolicyInfo, PolicyError> {
        self.0.info()
    }

    pub fn configure(&mut self, params: &[(String, ParamValue)]) -> Result<(), PolicyError> {
        self.0.configure(params, None)
    }

    /// Calls `craft` and checks the output: one row per Byzantine node (broadcast) or per
    /// (Byzantine node, receiver) pair, every value finite.
    pub fn craft(&mut self, ctx: &AttackContext, honest: &[f32]) -> Result<Crafted, PolicyError> {
        let wctx = bindings::attack_context_to_wit(ctx);
        let round = Some(ctx.round);
        let result_bytes = Some(ctx.pair_count().max(ctx.byzantine.len()) * ctx.dim as usize * 4);
        let dim = ctx.dim as usize;
        let out = self.0.call("craft", round, result_bytes, |b, s| match b {
            AttackBound::V0_1(b) => b.byz_policy_attack().call_craft(s, &wctx, honest),
            AttackBound::V0_2(b) => craft_v0_2(b, s, &wctx, honest, dim),
        })?;
        let crafted = bindings::crafted_from_wit(out);
        let rows = match crafted.mode {
            SendMode::Broadcast => ctx.byzantine.len(),
            SendMode::PerReceiver => ctx.pair_count(),
        };
        let expected = rows * ctx.dim as usize;
        if crafted.vectors.len() != expected {
            self.0.poison();
            return Err(self.0.fault("craft", round, FaultKind::WrongLength { expected, got: crafted.vectors.len() }));
        }
        if let Some((index, value)) = first_non_finite(&crafted.vectors) {
            return Err(self.0.fault("craft", round, FaultKind::NonFinite { index, value }));
        }
        Ok(crafted)
    }
}
