//! Bindings and export glue of the `defense-policy` world.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/0.1.0",
        world: "defense-policy",
        pub_export_macro: true,
        export_macro_name: "__export_defense_policy",
        default_bindings_module: "byz_policy_sdk_v0_1::defense::bindings",
    });
}

crate::wit_glue!();

fn evaluate_loss_import(candidates: &[f32], count: usize) -> Result<Vec<f32>, String> {
    bindings::byz::policy::local_data::evaluate_loss(candidates, count as u32)
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

#[doc(hidden)]
pub use bindings::exports::byz::policy::defense::Guest;
#[doc(hidden)]
pub use wit::{Context as WitContext, Param as WitParam, PolicyInfo as WitPolicyInfo};

/// Exports a [`crate::Defense`] implementation as the component's `defense` interface.
/// Expands to nothing outside wasm, so the crate stays a plain native library there.
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
                fn aggregate(ctx: __d::WitContext, prev: Vec<f32>, local: Vec<f32>, received: Vec<f32>) -> Result<Vec<f32>, String> {
                    let ctx = __d::to_context(ctx);
                    INSTANCE.with(|p| $crate::Defense::aggregate(p, &ctx, &prev, &local, &received, &mut __d::WasmEnv))
                }
            }
    $crate::defense::bindings::__export_defense_policy!(__Export with_types_in $crate::defense::bindings);
        };
    };
}
