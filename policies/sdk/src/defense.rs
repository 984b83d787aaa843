//! Bindings and export glue of the 0.2.0 `defense-policy` world. These bindings also own
//! the `types`, `models` and `host` interfaces the attack bindings reuse, so a [`Model`]
//! has one handle type in both worlds.
//!
//! [`Model`]: crate::Model

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/0.2.0",
        world: "defense-policy",
        pub_export_macro: true,
        export_macro_name: "__export_defense_policy",
        default_bindings_module: "byz_policy_sdk::defense::bindings",
    });
}

crate::__wit_types!();
crate::__wit_slot!();

/// The component's view of the host, through the WIT imports.
pub struct WasmEnv;

#[cfg(target_arch = "wasm32")]
impl crate::Env for WasmEnv {
    fn log(&mut self, level: crate::LogLevel, message: &str) {
        bindings::byz::policy::host::log(to_wit_level(level), message);
    }

    fn random_u64(&mut self) -> u64 {
        bindings::byz::policy::host::random_u64()
    }

    fn evaluate_loss(&mut self, candidates: &[&crate::Model]) -> Result<Vec<f32>, String> {
        let handles: Vec<_> = candidates.iter().map(|m| m.handle()).collect();
        bindings::byz::policy::local_data::evaluate_loss(&handles)
    }
}

#[doc(hidden)]
pub fn to_context(ctx: wit::Context) -> crate::Context {
    crate::Context {
        round: ctx.round,
        epoch: ctx.epoch,
        node: ctx.node,
        neighbors: ctx.neighbors,
        neighbor_degrees: ctx.neighbor_degrees,
        lr: ctx.lr,
        dim: ctx.dim,
        seed: ctx.seed,
    }
}

/// Runs `aggregate` of the component's instance on the call's lent models and hands the
/// result back as an owned handle.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub fn aggregate<T: crate::Defense>(
    slot: &Slot<T>,
    ctx: WitContext,
    prev: &WitModel,
    local: &WitModel,
    received: &WitModelList,
) -> Result<WitModel, String> {
    let ctx = to_context(ctx);
    let (prev, local) = (crate::Model::from_borrowed(prev), crate::Model::from_borrowed(local));
    let received = crate::model::host::rows_of(received);
    slot.with(|p| p.aggregate(&ctx, &prev, &local, &received, &mut WasmEnv)).map(crate::Model::into_host)
}

#[doc(hidden)]
pub use bindings::byz::policy::models::{Model as WitModel, ModelList as WitModelList};
#[doc(hidden)]
pub use bindings::exports::byz::policy::defense::Guest;
#[doc(hidden)]
pub use wit::{Context as WitContext, Param as WitParam, PolicyInfo as WitPolicyInfo};

/// Exports a [`crate::Defense`] implementation as the component's `defense` interface
/// (`byz:policy@0.2.0`). Expands to nothing outside wasm, so the crate stays a plain native
/// library there.
#[macro_export]
macro_rules! export_defense {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::defense as __d;
            static INSTANCE: __d::Slot<$ty> = __d::Slot::new();
            struct __Export;
            impl __d::Guest for __Export {
                fn info() -> __d::WitPolicyInfo {
                    __d::to_wit_info(<$ty as $crate::Defense>::info())
                }
                fn configure(params: Vec<__d::WitParam>) -> Result<(), String> {
                    let specs = <$ty as $crate::Defense>::info().params;
                    let params = __d::from_wit_params(&specs, params)?;
                    INSTANCE.with(|p| $crate::Defense::configure(p, &params))
                }
                fn aggregate(
                    ctx: __d::WitContext,
                    prev: &__d::WitModel,
                    local: &__d::WitModel,
                    received: &__d::WitModelList,
                ) -> Result<__d::WitModel, String> {
                    __d::aggregate(&INSTANCE, ctx, prev, local, received)
                }
            }
    $crate::defense::bindings::__export_defense_policy!(__Export with_types_in $crate::defense::bindings);
        };
    };
}
