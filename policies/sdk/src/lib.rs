//! Guest SDK for byzhost policies.
//!
//! A policy author implements [`Defense`] or [`Attack`] on a plain Rust type and adds one
//! line, [`export_defense!`] or [`export_attack!`]. The SDK hides `wit-bindgen`: it checks
//! parameters against the declared [`ParamSpec`]s before `configure` sees them, keeps the
//! policy instance alive across calls (policies may hold state), and converts between the
//! WIT types and the plain types here. Everything except the export glue compiles natively,
//! so policies are unit-tested and benchmarked as ordinary Rust libraries.
//!
//! [`kernels`] holds the vector operations aggregation rules share, written so that they
//! vectorize under wasm `simd128`.

mod glue;
pub mod kernels;
mod params;
pub mod rng;

// Both worlds' bindings are always built, so a policy's bytes never depend on which
// other crates a cargo invocation builds beside it (features would unify across them).
pub mod attack;
pub mod defense;

pub use params::{ParamSpec, ParamType, ParamValue, Params};

/// The WIT package version this SDK targets.
pub const WIT_VERSION: &str = "0.1.0";

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

/// Messages crafted by an attack, row after row.
#[derive(Clone, Debug)]
pub struct Crafted {
    pub mode: SendMode,
    pub vectors: Vec<f32>,
}

impl Crafted {
    /// Every Byzantine node of `ctx` broadcasts the same `message`.
    pub fn broadcast_same(ctx: &AttackContext, message: &[f32]) -> Crafted {
        let mut vectors = Vec::with_capacity(ctx.byzantine.len() * message.len());
        for _ in &ctx.byzantine {
            vectors.extend_from_slice(message);
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
    /// Loss of each of `count` candidate models on the node's local batch.
    fn evaluate_loss(&mut self, candidates: &[f32], count: usize) -> Result<Vec<f32>, String>;
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

    /// Combine what the node received into its next model (see `aggregate` in the WIT).
    /// `received` holds `ctx.neighbors.len()` rows of `ctx.dim` values.
    fn aggregate(&mut self, ctx: &Context, prev: &[f32], local: &[f32], received: &[f32], env: &mut dyn Env) -> Result<Vec<f32>, String>;
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

    /// Decide what the Byzantine nodes send; `honest` holds `ctx.regular.len()` rows.
    fn craft(&mut self, ctx: &AttackContext, honest: &[f32], env: &mut dyn Env) -> Result<Crafted, String>;
}

/// Checks the shapes every defense relies on: `prev` and `local` of length `dim`,
/// `received` of `neighbors × dim`. Returns the number of received models.
pub fn check_defense_shapes(ctx: &Context, prev: &[f32], local: &[f32], received: &[f32]) -> Result<usize, String> {
    let dim = ctx.dim as usize;
    let k = ctx.neighbors.len();
    if prev.len() != dim || local.len() != dim {
        return Err(format!("prev has {} values and local {}, but ctx.dim is {dim}", prev.len(), local.len()));
    }
    if received.len() != k * dim {
        return Err(format!("received has {} values, expected {k} neighbours x {dim} = {}", received.len(), k * dim));
    }
    Ok(k)
}

/// Checks that `honest` holds `ctx.regular.len()` rows of `ctx.dim` values, and that there
/// is at least one (an attack built on statistics of the regular models needs one).
/// Returns the number of regular models.
pub fn check_attack_shapes(ctx: &AttackContext, honest: &[f32]) -> Result<usize, String> {
    let (m, dim) = (ctx.regular.len(), ctx.dim as usize);
    if honest.len() != m * dim {
        return Err(format!("honest has {} values, expected {m} regular models x {dim} = {}", honest.len(), m * dim));
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

impl Env for NativeEnv {
    fn log(&mut self, level: LogLevel, message: &str) {
        eprintln!("[{level:?}] {message}");
    }

    fn random_u64(&mut self) -> u64 {
        // SplitMix64: tiny, well-known, and enough for a native test double.
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn evaluate_loss(&mut self, candidates: &[f32], count: usize) -> Result<Vec<f32>, String> {
        let loss = self.loss.as_mut().ok_or("no loss function in this NativeEnv")?;
        if count == 0 {
            return Ok(Vec::new());
        }
        let dim = candidates.len() / count;
        Ok(candidates.chunks_exact(dim).map(|c| loss(c)).collect())
    }
}
