//! Bindings and export glue of the 0.2.0 `attack-policy` world; its `types`, `models` and
//! `host` interfaces are the defense bindings' own.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/0.2.0",
        world: "attack-policy",
        pub_export_macro: true,
        export_macro_name: "__export_attack_policy",
        default_bindings_module: "byz_policy_sdk::attack::bindings",
        with: {
            "byz:policy/types@0.2.0": crate::defense::bindings::byz::policy::types,
            "byz:policy/models@0.2.0": crate::defense::bindings::byz::policy::models,
            "byz:policy/host@0.2.0": crate::defense::bindings::byz::policy::host,
        },
    });
}

use crate::defense::bindings::byz::policy::types as wit;
#[doc(hidden)]
pub use crate::defense::{from_wit_params, to_wit_info, Slot, WasmEnv, WitModelList};

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

/// Runs `craft` of the component's instance on the lent honest models and hands the
/// messages back as owned handles.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub fn craft<T: crate::Attack>(slot: &Slot<T>, ctx: wit::AttackContext, honest: &WitModelList) -> Result<WitCrafted, String> {
    let ctx = to_context(ctx);
    let honest = crate::model::host::rows_of(honest);
    let crafted = slot.with(|p| p.craft(&ctx, &honest, &mut WasmEnv))?;
    let mode = match crafted.mode {
        crate::SendMode::Broadcast => wit::SendMode::Broadcast,
        crate::SendMode::PerReceiver => wit::SendMode::PerReceiver,
    };
    Ok(WitCrafted { mode, vectors: crafted.vectors.into_iter().map(crate::Model::into_host).collect() })
}

#[doc(hidden)]
pub use bindings::exports::byz::policy::attack::{Crafted as WitCrafted, Guest};
#[doc(hidden)]
pub use wit::{AttackContext as WitAttackContext, Param as WitParam, PolicyInfo as WitPolicyInfo};

/// Exports an [`crate::Attack`] implementation as the component's `attack` interface
/// (`byz:policy@0.2.0`). Expands to nothing outside wasm, so the crate stays a plain native
/// library there.
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
                fn craft(ctx: __a::WitAttackContext, honest: &__a::WitModelList) -> Result<__a::WitCrafted, String> {
                    __a::craft(&INSTANCE, ctx, honest)
                }
            }
    $crate::attack::bindings::__export_attack_policy!(__Export with_types_in $crate::attack::bindings);
        };
    };
}
