//! Bindings and export glue of the `attack-policy` world.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/0.1.0",
        world: "attack-policy",
        pub_export_macro: true,
        export_macro_name: "__export_attack_policy",
        default_bindings_module: "byz_policy_sdk_v0_1::attack::bindings",
    });
}

crate::wit_glue!();

fn evaluate_loss_import(_candidates: &[f32], _count: usize) -> Result<Vec<f32>, String> {
    Err("attacks have no local data to evaluate losses on".to_string())
}

#[doc(hidden)]
pub fn to_context(ctx: wit::AttackContext) -> crate::AttackContext {
    crate::AttackContext {
        round: ctx.round,
        epoch: ctx.epoch,
        nodes: ctx.nodes,
        regular: ctx.regular,
        byzantine: ctx.byzantine.into_iter().map(|b| crate::ByzantineNode { id: b.id, honest_neighbors: b.honest_neighbors }).collect(),
        lr: ctx.lr,
        dim: ctx.dim,
        seed: ctx.seed,
    }
}

#[doc(hidden)]
pub fn to_wit_crafted(c: crate::Crafted) -> wit::Crafted {
    wit::Crafted {
        mode: match c.mode {
            crate::SendMode::Broadcast => wit::SendMode::Broadcast,
            crate::SendMode::PerReceiver => wit::SendMode::PerReceiver,
        },
        vectors: c.vectors,
    }
}

#[doc(hidden)]
pub use bindings::exports::byz::policy::attack::Guest;
#[doc(hidden)]
pub use wit::{AttackContext as WitAttackContext, Crafted as WitCrafted, Param as WitParam, PolicyInfo as WitPolicyInfo};

/// Exports an [`crate::Attack`] implementation as the component's `attack` interface.
/// Expands to nothing outside wasm, so the crate stays a plain native library there.
#[macro_export]
macro_rules! export_attack {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::attack as __a;
            static INSTANCE: __a::Slot<$ty> = __a::Slot::new();
            struct __Export;
            impl __a::Guest for __Export {
                fn info() -> __a::WitPolicyInfo {
                    __a::to_wit_info(<$ty as $crate::Attack>::info())
                }
                fn configure(params: Vec<__a::WitParam>) -> Result<(), String> {
                    let specs = <$ty as $crate::Attack>::info().params;
                    let params = __a::from_wit_params(&specs, params)?;
                    INSTANCE.with(|p| $crate::Attack::configure(p, &params))
                }
                fn craft(ctx: __a::WitAttackContext, honest: Vec<f32>) -> Result<__a::WitCrafted, String> {
                    let ctx = __a::to_context(ctx);
                    INSTANCE.with(|p| $crate::Attack::craft(p, &ctx, &honest, &mut __a::WasmEnv)).map(__a::to_wit_crafted)
                }
            }
    $crate::attack::bindings::__export_attack_policy!(__Export with_types_in $crate::attack::bindings);
        };
    };
}
