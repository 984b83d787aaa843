//! Host bindings of the `byz:policy@0.1.0` and `@0.2.0` worlds, and conversions between
//! their types and the plain types of [`crate::policy`]. The two versions share the
//! `types` interface's Rust types (0.2.0's are 0.1.0's minus `crafted`), so conversions
//! and `info` handling exist once.

use anyhow::Result;
use wasmtime::component::{HasSelf, Linker};

use super::state::HostState;
use super::text;
use crate::policy as p;

pub mod defense {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "defense-policy",
        // evaluate-loss may trap: the host checks the call's deadline inside it.
        imports: { "byz:policy/local-data.evaluate-loss": trappable },
    });
}

pub mod attack {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "attack-policy",
        // Share the interfaces both worlds import, so the host implements them once.
        with: {
            "byz:policy/types": super::defense::byz::policy::types,
            "byz:policy/host": super::defense::byz::policy::host,
        },
    });
}

/// `byz:policy@0.2.0`: models lent as resources, host kernels ([`super::models`]).
pub mod v0_2 {
    pub mod defense {
        wasmtime::component::bindgen!({
            path: "../wit/0.2.0",
            world: "defense-policy",
            // Every import may trap: the host checks the call's deadline before its work.
            imports: { default: trappable },
            with: {
                "byz:policy/types": crate::sandbox::bindings::wit,
                "byz:policy/models.model": crate::sandbox::models::Model,
                "byz:policy/models.model-list": crate::sandbox::models::ModelList,
            },
        });
    }

    pub mod attack {
        wasmtime::component::bindgen!({
            path: "../wit/0.2.0",
            world: "attack-policy",
            imports: { default: trappable },
            with: {
                "byz:policy/types": crate::sandbox::bindings::wit,
                "byz:policy/host": super::defense::byz::policy::host,
                "byz:policy/models": super::defense::byz::policy::models,
            },
        });
    }
}

pub use defense::byz::policy::types as wit;

/// Adds every host import the worlds of either version may use.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    defense::DefensePolicy::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    v0_2::defense::DefensePolicy::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

/// What a policy says about itself, with every text capped and escaped (see [`text`]):
/// it is printed by `inspect` and quoted in every fault report.
pub fn info_from_wit(info: wit::PolicyInfo) -> p::PolicyInfo {
    let short = |t: String| text::sanitize(&t, text::NAME_MAX_BYTES);
    p::PolicyInfo {
        name: short(info.name),
        version: short(info.version),
        kind: match info.kind {
            wit::PolicyKind::Defense => p::PolicyKind::Defense,
            wit::PolicyKind::Attack => p::PolicyKind::Attack,
        },
        description: text::sanitize(&info.description, text::DESCRIPTION_MAX_BYTES),
        params: info
            .params
            .into_iter()
            .take(text::LIST_MAX)
            .map(|s| p::ParamSpec {
                name: short(s.name),
                ty: match s.ty {
                    wit::ParamType::Boolean => p::ParamType::Boolean,
                    wit::ParamType::Integer => p::ParamType::Integer,
                    wit::ParamType::Float => p::ParamType::Float,
                    wit::ParamType::Text => p::ParamType::Text,
                },
                default: value_from_wit(s.default),
                description: text::sanitize(&s.description, text::LINE_MAX_BYTES),
            })
            .collect(),
        stateless: info.stateless,
        opt_outs: info.opt_outs.into_iter().take(text::LIST_MAX).map(short).collect(),
    }
}

fn value_from_wit(v: wit::ParamValue) -> p::ParamValue {
    match v {
        wit::ParamValue::Boolean(b) => p::ParamValue::Boolean(b),
        wit::ParamValue::Integer(i) => p::ParamValue::Integer(i),
        wit::ParamValue::Float(f) => p::ParamValue::Float(f),
        wit::ParamValue::Text(t) => p::ParamValue::Text(text::sanitize(&t, text::LINE_MAX_BYTES)),
    }
}

pub fn params_to_wit(params: &[(String, p::ParamValue)]) -> Vec<wit::Param> {
    params
        .iter()
        .map(|(name, v)| wit::Param {
            name: name.clone(),
            value: match v {
                p::ParamValue::Boolean(b) => wit::ParamValue::Boolean(*b),
                p::ParamValue::Integer(i) => wit::ParamValue::Integer(*i),
                p::ParamValue::Float(f) => wit::ParamValue::Float(*f),
                p::ParamValue::Text(t) => wit::ParamValue::Text(t.clone()),
            },
        })
        .collect()
}

pub fn context_to_wit(c: &p::Context) -> wit::Context {
    wit::Context {
        round: c.round,
        epoch: c.epoch,
        node: c.node,
        neighbors: c.neighbors.clone(),
        neighbor_degrees: c.neighbor_degrees.clone(),
        lr: c.lr,
        dim: c.dim,
        seed: c.seed,
    }
}

pub fn attack_context_to_wit(c: &p::AttackContext) -> wit::AttackContext {
    wit::AttackContext {
        round: c.round,
        epoch: c.epoch,
        nodes: c.nodes,
        regular: c.regular.clone(),
        byzantine: c.byzantine.iter().map(|b| wit::ByzantineNode { id: b.id, honest_neighbors: b.honest_neighbors.clone() }).collect(),
        lr: c.lr,
        dim: c.dim,
        seed: c.seed,
    }
}

pub fn crafted_from_wit(c: wit::Crafted) -> p::Crafted {
    p::Crafted {
        mode: match c.mode {
            wit::SendMode::Broadcast => p::SendMode::Broadcast,
            wit::SendMode::PerReceiver => p::SendMode::PerReceiver,
        },
        vectors: c.vectors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_text_and_lists_are_capped_and_escaped() {
        let spec = |i: usize| wit::ParamSpec {
            name: format!("p{i}\n"),
            ty: wit::ParamType::Integer,
            default: wit::ParamValue::Integer(0),
            description: "\x1b[2J".repeat(1000),
        };
        let info = info_from_wit(wit::PolicyInfo {
            name: "n\x1b".into(),
            version: "v".repeat(10_000),
            kind: wit::PolicyKind::Defense,
            description: "d".into(),
            params: (0..10_000).map(spec).collect(),
            stateless: true,
            opt_outs: vec!["o".into(); 10_000],
        });
        assert_eq!(info.name, "n\\u{1b}");
        assert!(info.version.len() <= text::NAME_MAX_BYTES + 4);
        assert_eq!((info.params.len(), info.opt_outs.len()), (text::LIST_MAX, text::LIST_MAX));
        assert_eq!(info.params[0].name, "p0\\n");
        assert!(!info.params[0].description.contains('\x1b') && info.params[0].description.len() <= text::LINE_MAX_BYTES + 4);
    }
}
