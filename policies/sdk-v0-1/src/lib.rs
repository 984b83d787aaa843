//! The `byz:policy@0.1.0` contract of `byz-policy-sdk`: every model crosses the boundary as
//! a copied slice.
//!
//! Kept so components built for 0.1.0 can still be written and rebuilt (the host runs both
//! versions); new policies use `byz-policy-sdk` itself, which targets 0.2.0. Everything but
//! the traits and the export glue is re-exported from there, so a 0.1.0 policy depends on
//! this crate under the name `byz-policy-sdk` and reads as it always did.

/// Expands, inside a module that holds `bindings` and an `evaluate_loss_import`, to the
/// SDK's type conversions and instance cell and the `WasmEnv` that forwards [`Env`] to the
/// bindings' imports.
macro_rules! wit_glue {
    () => {
        byz_policy_sdk::__wit_types!();
        byz_policy_sdk::__wit_slot!();

        /// The component's view of the host, through the WIT imports.
        pub struct WasmEnv;

        impl crate::Env for WasmEnv {
            fn log(&mut self, level: crate::LogLevel, message: &str) {
                bindings::byz::policy::host::log(to_wit_level(level), message);
            }

            fn random_u64(&mut self) -> u64 {
                bindings::byz::policy::host::random_u64()
            }

            fn evaluate_loss(&mut self, candidates: &[f32], count: usize) -> Result<Vec<f32>, String> {
                evaluate_loss_import(candidates, count)
            }
        }
    };
}
pub(crate) use wit_glue;

pub mod attack;
pub mod defense;

pub use byz_policy_sdk::{
    kernels, rng, AttackContext, ByzantineNode, Context, Info, LogLevel, NativeEnv, ParamSpec, ParamType, ParamValue, Params, PolicyKind,
    SendMode,
};

/// The WIT package version of this module's bindings.
pub const WIT_VERSION: &str = "0.1.0";

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

/// Services of the host a 0.1.0 policy may use: the WIT imports inside a component,
/// [`NativeEnv`] or a test's own implementation natively.
pub trait Env {
    /// Write a line to the host's log.
    fn log(&mut self, level: LogLevel, message: &str);
    /// Next value of the instance's deterministic random stream.
    fn random_u64(&mut self) -> u64;
    /// Loss of each of `count` candidate models, laid end to end, on the node's local batch.
    fn evaluate_loss(&mut self, candidates: &[f32], count: usize) -> Result<Vec<f32>, String>;
}

/// An aggregation rule of the 0.1.0 contract.
pub trait Defense: Default {
    /// Describe the policy; `kind` must be [`PolicyKind::Defense`].
    fn info() -> Info;

    /// Apply parameters (already checked against [`Defense::info`], defaults filled in).
    fn configure(&mut self, params: &Params) -> Result<(), String> {
        let _ = params;
        Ok(())
    }

    /// Combine what the node received into its next model; `received` holds
    /// `ctx.neighbors.len()` rows of `ctx.dim` values.
    fn aggregate(&mut self, ctx: &Context, prev: &[f32], local: &[f32], received: &[f32], env: &mut dyn Env) -> Result<Vec<f32>, String>;
}

/// An attack of the 0.1.0 contract.
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

/// Checks that `honest` holds `ctx.regular.len()` rows of `ctx.dim` values, at least one.
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

impl Env for NativeEnv {
    fn log(&mut self, level: LogLevel, message: &str) {
        byz_policy_sdk::Env::log(self, level, message)
    }

    fn random_u64(&mut self) -> u64 {
        byz_policy_sdk::Env::random_u64(self)
    }

    fn evaluate_loss(&mut self, candidates: &[f32], count: usize) -> Result<Vec<f32>, String> {
        let loss = self.loss.as_mut().ok_or("no loss function in this NativeEnv")?;
        if count == 0 {
            return Ok(Vec::new());
        }
        Ok(candidates.chunks_exact(candidates.len() / count).map(|c| loss(c)).collect())
    }
}
