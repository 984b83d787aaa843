//! Guest SDK for byzhost policies.
//!
//! A policy author implements [`Defense`] or [`Attack`] on a plain Rust type and adds one
//! line, [`export_defense!`] or [`export_attack!`]; the crate then builds into a
//! `byz:policy@0.2.0` component. The SDK hides `wit-bindgen`: it checks parameters against
//! the declared [`ParamSpec`]s before `configure` sees them, keeps the policy instance alive
//! across calls (policies may hold state), and converts between the WIT types and the plain
//! types here. Everything except the export glue compiles natively, so policies are
//! unit-tested and benchmarked as ordinary Rust libraries.
//!
//! Models are [`Model`]s: in a component, handles to vectors the host keeps, read into the
//! guest only when the policy looks at their values; [`ops`] runs the usual vector kernels
//! on them in the host. [`kernels`] holds the same kernels on plain slices (the host runs
//! exactly these). The `byz-policy-sdk-v0-1` crate keeps the 0.1.0 contract, where every model is a copied slice.

mod glue;
pub mod kernels;
mod model;
pub mod ops;
mod params;
pub mod rng;

// Both worlds' bindings are always built, so a policy's bytes never depend on which
// other crates a cargo invocation builds beside it (features would unify across them).
pub mod attack;
pub mod defense;

pub use model::{Model, READ_BLOCK};
pub use params::{ParamSpec, ParamType, ParamValue, Params};

/// The WIT package version this SDK's [`Defense`] and [`Attack`] target.
pub const WIT_VERSION: &str = "0.2.0";

/// Whether a policy is a defense or an attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    Defense,
    Attack,
}

/// Self-description of a policy (see `policy-info` in the WIT).
#[derive(Clone, Debug)]
pub struct Info {
    pub name: String,
    pub version: String,
    pub kind: PolicyKind,
    pub description: String,
    pub params: Vec<ParamSpec>,
    /// True when the output depends only on the call's inputs.
    pub stateless: bool,
    /// Conformance properties this policy declares it cannot satisfy.
    pub opt_outs: Vec<String>,
}

/// What a regular node knows when it aggregates (see `context` in the WIT).
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub round: u64,
    pub epoch: u32,
    pub node: u32,
    pub neighbors: Vec<u32>,
    pub neighbor_degrees: Vec<u32>,
    pub lr: f32,
    pub dim: u32,
    pub seed: u64,
}

/// A Byzantine node and its regular neighbours.
#[derive(Clone, Debug, Default)]
pub struct ByzantineNode {
    pub id: u32,
    pub honest_neighbors: Vec<u32>,
}

/// What the adversary knows when it crafts messages (see `attack-context` in the WIT).
#[derive(Clone, Debug, Default)]
pub struct AttackContext {
    pub round: u64,
    pub epoch: u32,
    pub nodes: u32,
    pub regular: Vec<u32>,
    pub byzantine: Vec<ByzantineNode>,
    pub lr: f32,
    pub dim: u32,
    pub seed: u64,
}

/// How the vectors an attack returns are addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendMode {
    /// One vector per Byzantine node.
    Broadcast,
    /// One vector per (Byzantine node, honest neighbour) pair.
    PerReceiver,
}

/// Messages crafted by an attack: one model per Byzantine node ([`SendMode::Broadcast`]) or
/// per (Byzantine node, receiver) pair ([`SendMode::PerReceiver`]).
#[derive(Debug)]
pub struct Crafted {
    pub mode: SendMode,
    pub vectors: Vec<Model>,
}

impl Crafted {
    /// Every Byzantine node of `ctx` broadcasts `message` (in the host: one model, shared).
    pub fn broadcast_same(ctx: &AttackContext, message: Model) -> Crafted {
        let mut vectors = Vec::with_capacity(ctx.byzantine.len());
        if let Some((_, rest)) = ctx.byzantine.split_first() {
            vectors.extend(rest.iter().map(|_| message.share()));
            vectors.push(message);
        }
        Crafted { mode: SendMode::Broadcast, vectors }
    }
}

/// Severity of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
}

/// Services of the host a policy may use. Inside a component these are the WIT imports;
/// native tests pass [`NativeEnv`] or their own implementation.
pub trait Env {
    /// Write a line to the host's log.
    fn log(&mut self, level: LogLevel, message: &str);
    /// Next value of the instance's deterministic random stream.
    fn random_u64(&mut self) -> u64;
    /// Loss of each candidate model on the node's local batch (the candidates are lent to
    /// the host, not copied).
    fn evaluate_loss(&mut self, candidates: &[&Model]) -> Result<Vec<f32>, String>;
}

/// An aggregation rule run by every regular node.
pub trait Defense: Default {
    /// Describe the policy; `kind` must be [`PolicyKind::Defense`].
    fn info() -> Info;

    /// Apply parameters. Names and types were already checked against [`Defense::info`]
    /// and defaults filled in; return `Err` for values out of range.
    fn configure(&mut self, params: &Params) -> Result<(), String> {
        let _ = params;
        Ok(())
    }

    /// Combine what the node received into its next model (see `aggregate` in the WIT):
    /// `received` holds the `ctx.neighbors.len()` models, in `ctx.neighbors` order. Return
    /// `local.share()` to keep the local model, an [`ops`] result, or a [`Model::new`].
    fn aggregate(&mut self, ctx: &Context, prev: &Model, local: &Model, received: &[Model], env: &mut dyn Env) -> Result<Model, String>;
}

/// The adversary controlling the Byzantine nodes.
pub trait Attack: Default {
    /// Describe the policy; `kind` must be [`PolicyKind::Attack`].
    fn info() -> Info;

    /// Apply parameters (already checked against [`Attack::info`], defaults filled in).
    fn configure(&mut self, params: &Params) -> Result<(), String> {
        let _ = params;
        Ok(())
    }

    /// Decide what the Byzantine nodes send; `honest` holds the `ctx.regular.len()` regular
    /// models, in `ctx.regular` order.
    fn craft(&mut self, ctx: &AttackContext, honest: &[Model], env: &mut dyn Env) -> Result<Crafted, String>;
}

/// Checks the shapes every defense relies on: `prev`, `local` and each received model of
/// length `ctx.dim`, one received model per neighbour. Returns the number of received models.
pub fn check_defense_shapes(ctx: &Context, prev: &Model, local: &Model, received: &[Model]) -> Result<usize, String> {
    let dim = ctx.dim as usize;
    let k = ctx.neighbors.len();
    if prev.len() != dim || local.len() != dim {
        return Err(format!("prev has {} values and local {}, but ctx.dim is {dim}", prev.len(), local.len()));
    }
    if received.len() != k {
        return Err(format!("received holds {} models, expected {k} (one per neighbour)", received.len()));
    }
    if let Some(j) = received.iter().position(|r| r.len() != dim) {
        return Err(format!("received model {j} has {} values, but ctx.dim is {dim}", received[j].len()));
    }
    Ok(k)
}

/// Checks that `honest` holds `ctx.regular.len()` models of `ctx.dim` values, and that there
/// is at least one (an attack built on statistics of the regular models needs one).
/// Returns the number of regular models.
pub fn check_attack_shapes(ctx: &AttackContext, honest: &[Model]) -> Result<usize, String> {
    let (m, dim) = (ctx.regular.len(), ctx.dim as usize);
    if honest.len() != m {
        return Err(format!("honest holds {} models, expected {m} (one per regular node)", honest.len()));
    }
    if let Some(j) = honest.iter().position(|r| r.len() != dim) {
        return Err(format!("honest model {j} has {} values, but ctx.dim is {dim}", honest[j].len()));
    }
    if m == 0 {
        return Err("there are no regular models to build the attack from (ctx.regular is empty)".into());
    }
    Ok(m)
}

/// A native stand-in for the host: a seeded SplitMix64 stream, logs to stderr, and a
/// caller-supplied loss function (none by default).
pub struct NativeEnv {
    state: u64,
    pub loss: Option<Box<dyn FnMut(&[f32]) -> f32>>,
}

impl NativeEnv {
    pub fn new(seed: u64) -> Self {
        NativeEnv { state: seed, loss: None }
    }
}

impl NativeEnv {
    fn next(&mut self) -> u64 {
        // SplitMix64: tiny, well-known, and enough for a native test double.
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn losses<'a>(&mut self, candidates: impl Iterator<Item = &'a [f32]>) -> Result<Vec<f32>, String> {
        let loss = self.loss.as_mut().ok_or("no loss function in this NativeEnv")?;
        Ok(candidates.map(|c| loss(c)).collect())
    }
}

impl Env for NativeEnv {
    fn log(&mut self, level: LogLevel, message: &str) {
        eprintln!("[{level:?}] {message}");
    }

    fn random_u64(&mut self) -> u64 {
        self.next()
    }

    fn evaluate_loss(&mut self, candidates: &[&Model]) -> Result<Vec<f32>, String> {
        self.losses(candidates.iter().map(|m| m.values()))
    }
}

/// Runs policies natively on flat row-major slices (the 0.1.0 layout), for unit tests and
/// benchmarks that hold their models that way.
pub trait FlatDefense: Defense {
    /// [`Defense::aggregate`] with `received` split into rows of `ctx.dim` values.
    fn aggregate_flat(
        &mut self,
        ctx: &Context,
        prev: &[f32],
        local: &[f32],
        received: &[f32],
        env: &mut dyn Env,
    ) -> Result<Vec<f32>, String> {
        let received = Model::split(received, ctx.dim as usize);
        let out = self.aggregate(ctx, &prev.to_vec().into(), &local.to_vec().into(), &received, env)?;
        Ok(out.into_vec())
    }
}

impl<T: Defense> FlatDefense for T {}

/// Runs attacks natively on flat row-major slices; the crafted models come back end to end.
pub trait FlatAttack: Attack {
    /// [`Attack::craft`] with `honest` split into rows of `ctx.dim` values.
    fn craft_flat(&mut self, ctx: &AttackContext, honest: &[f32], env: &mut dyn Env) -> Result<FlatCrafted, String> {
        let honest = Model::split(honest, ctx.dim as usize);
        let crafted = self.craft(ctx, &honest, env)?;
        Ok(FlatCrafted { mode: crafted.mode, vectors: crafted.vectors.into_iter().flat_map(Model::into_vec).collect() })
    }
}

/// What [`FlatAttack::craft_flat`] returns: the crafted models end to end.
#[derive(Clone, Debug, PartialEq)]
pub struct FlatCrafted {
    pub mode: SendMode,
    pub vectors: Vec<f32>,
}

impl<T: Attack> FlatAttack for T {}
