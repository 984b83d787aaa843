//! Reverse attack (the paper's "Reverse"): every Byzantine node broadcasts −x̄, the
//! sign-flipped mean of the regular nodes' transmitted models, scaled by `scale`
//! (default 1).

use byz_policy_sdk::{kernels, Attack, AttackContext, Crafted, Env, Info, ParamSpec, Params, PolicyKind, SendMode};

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

    fn craft(&mut self, ctx: &AttackContext, honest: &[f32], _env: &mut dyn Env) -> Result<Crafted, String> {
        let dim = ctx.dim as usize;
        if honest.len() != ctx.regular.len() * dim {
            return Err(format!("honest has {} values, expected {} regular models x {dim}", honest.len(), ctx.regular.len()));
        }
        let mut message = kernels::mean_rows(honest, dim);
        kernels::scale(&mut message, -self.scale);
        let mut vectors = Vec::with_capacity(ctx.byzantine.len() * dim);
        for _ in &ctx.byzantine {
            vectors.extend_from_slice(&message);
        }
        Ok(Crafted { mode: SendMode::Broadcast, vectors })
    }
}

byz_policy_sdk::export_attack!(Reverse);

#[cfg(test)]
mod tests {
    use super::*;
    use byz_policy_sdk::{ByzantineNode, NativeEnv};

    #[test]
    fn every_byzantine_node_broadcasts_the_negated_mean() {
        let ctx = AttackContext {
            regular: vec![0, 1],
            byzantine: vec![ByzantineNode { id: 2, honest_neighbors: vec![0] }, ByzantineNode { id: 3, honest_neighbors: vec![1] }],
            dim: 3,
            ..Default::default()
        };
        let honest = [1.0, 2.0, 3.0, 3.0, 2.0, -1.0];
        let out = Reverse::default().craft(&ctx, &honest, &mut NativeEnv::new(0)).unwrap();
        assert_eq!(out.mode, SendMode::Broadcast);
        assert_eq!(out.vectors, vec![-2.0, -2.0, -1.0, -2.0, -2.0, -1.0]);
    }

    #[test]
    fn wrong_honest_length_is_an_error() {
        let ctx = AttackContext { regular: vec![0, 1], dim: 3, ..Default::default() };
        assert!(Reverse::default().craft(&ctx, &[0.0; 5], &mut NativeEnv::new(0)).is_err());
    }
}
