//! Reverse attack (the paper's "Reverse"): every Byzantine node broadcasts −x̄, the
//! sign-flipped mean of the regular nodes' transmitted models, scaled by `scale`
//! (default 1).

use byz_policy_sdk::{ops, Attack, AttackContext, Crafted, Env, Info, Model, ParamSpec, Params, PolicyKind};

pub struct Reverse {
    scale: f32,
}

impl Default for Reverse {
    fn default() -> Self {
        Reverse { scale: 1.0 }
    }
}

impl Attack for Reverse {
    fn info() -> Info {
        Info {
            name: "reverse".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PolicyKind::Attack,
            description: "Reverse: each Byzantine node broadcasts -scale * (mean of the regular models).".into(),
            params: vec![ParamSpec::float("scale", 1.0, "magnitude of the reversed mean (1 = exactly -mean)")],
            stateless: true,
            opt_outs: vec![],
        }
    }

    fn configure(&mut self, params: &Params) -> Result<(), String> {
        self.scale = params.float("scale") as f32;
        Ok(())
    }

    fn craft(&mut self, ctx: &AttackContext, honest: &[Model], _env: &mut dyn Env) -> Result<Crafted, String> {
        let dim = ctx.dim as usize;
        if honest.len() != ctx.regular.len() || honest.iter().any(|m| m.len() != dim) {
            return Err(format!("expected {} honest models of {dim} values, got {}", ctx.regular.len(), honest.len()));
        }
        // With no regular models the mean is the zero vector, as a mean of nothing.
        let message = if honest.is_empty() {
            Model::new(vec![0.0; dim])
        } else {
            ops::scale(&ops::mean(&honest.iter().collect::<Vec<_>>())?, -self.scale)?
        };
        Ok(Crafted::broadcast_same(ctx, message))
    }
}

byz_policy_sdk::export_attack!(Reverse);

#[cfg(test)]
mod tests {
    use super::*;
    use byz_policy_sdk::{ByzantineNode, FlatAttack, NativeEnv, SendMode};

    #[test]
    fn every_byzantine_node_broadcasts_the_negated_mean() {
        let ctx = AttackContext {
            regular: vec![0, 1],
            byzantine: vec![ByzantineNode { id: 2, honest_neighbors: vec![0] }, ByzantineNode { id: 3, honest_neighbors: vec![1] }],
            dim: 3,
            ..Default::default()
        };
        let honest = [1.0, 2.0, 3.0, 3.0, 2.0, -1.0];
        let out = Reverse::default().craft_flat(&ctx, &honest, &mut NativeEnv::new(0)).unwrap();
        assert_eq!(out.mode, SendMode::Broadcast);
        assert_eq!(out.vectors, vec![-2.0, -2.0, -1.0, -2.0, -2.0, -1.0]);
    }

    #[test]
    fn wrong_honest_length_is_an_error() {
        let ctx = AttackContext { regular: vec![0, 1], dim: 3, ..Default::default() };
        assert!(Reverse::default().craft_flat(&ctx, &[0.0; 5], &mut NativeEnv::new(0)).is_err());
    }
}
