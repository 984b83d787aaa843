//! Targeted (topology-aware) attack: each Byzantine node sends each of its regular
//! neighbours r its own tailored message
//!
//! m_r = x_r + s·(x_r − x̄),
//!
//! x_r the receiver's transmitted model, x̄ the mean of all regular models, s = `strength`
//! (default 1). The message agrees with the receiver's own model up to an amplified copy
//! of the receiver's disagreement with the consensus: close to x_r (distance s·‖x_r − x̄‖),
//! so distance, cosine and loss filters that compare with the receiver's own model tend
//! to accept it, yet every accepted message pulls the receiver further from the others and
//! so works against consensus. s = 0 sends x_r itself (harmless echo).
//!
//! Rows are ordered Byzantine node by Byzantine node (`ctx.byzantine` order), receivers in
//! `honest_neighbors` order; receiver ids map to rows of `honest` through `ctx.regular`.
//! A receiver id that is not a regular node is an error.

use byz_policy_sdk::{check_attack_shapes, ops, Attack, AttackContext, Crafted, Env, Info, Model, ParamSpec, Params, PolicyKind, SendMode};

pub struct Targeted {
    strength: f32,
}

impl Default for Targeted {
    fn default() -> Self {
        Targeted { strength: 1.0 }
    }
}

impl Attack for Targeted {
    fn info() -> Info {
        Info {
            name: "targeted".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PolicyKind::Attack,
            description: "Targeted, per receiver: x_r + strength * (x_r - mean of the regular models), the receiver's own \
                          model pushed away from the consensus."
                .into(),
            params: vec![ParamSpec::float(
                "strength",
                1.0,
                "how far past the receiver's own model to push, in units of its distance to the mean; >= 0",
            )],
            stateless: true,
            // One message per (Byzantine node, receiver): at n = 300, p = 0.6 that is ~8,640
            // rows of 80,202 floats (2.8 GB), more than a wasm32 memory can hold.
            opt_outs: vec!["bounded-cost".into()],
        }
    }

    fn configure(&mut self, params: &Params) -> Result<(), String> {
        self.strength = params.non_negative_float("strength")? as f32;
        Ok(())
    }

    fn craft(&mut self, ctx: &AttackContext, honest: &[Model], _env: &mut dyn Env) -> Result<Crafted, String> {
        check_attack_shapes(ctx, honest)?;
        let mean = ops::mean(&honest.iter().collect::<Vec<_>>())?;
        let s = self.strength;
        let pairs: usize = ctx.byzantine.iter().map(|b| b.honest_neighbors.len()).sum();
        let mut vectors = Vec::with_capacity(pairs);
        for byz in &ctx.byzantine {
            for &r in &byz.honest_neighbors {
                let idx =
                    ctx.regular.iter().position(|&id| id == r).ok_or_else(|| {
                        format!("Byzantine node {} lists receiver {r}, which is not a regular node (ctx.regular)", byz.id)
                    })?;
                vectors.push(ops::extrapolate(&honest[idx], &mean, s)?);
            }
        }
        Ok(Crafted { mode: SendMode::PerReceiver, vectors })
    }
}

byz_policy_sdk::export_attack!(Targeted);

#[cfg(test)]
mod tests {
    use super::*;
    use byz_policy_sdk::{ByzantineNode, FlatAttack, NativeEnv, ParamValue};

    // Regular ids 10, 11, 12 with models a, b, c; mean (2, 3, 3, 3, 3).
    const HONEST: [f32; 15] = [3.0, 2.0, 1.0, 0.0, -1.0, 5.0, 6.0, 7.0, 8.0, 9.0, -2.0, 1.0, 1.0, 1.0, 1.0];

    fn ctx(receivers: Vec<Vec<u32>>) -> AttackContext {
        AttackContext {
            regular: vec![10, 11, 12],
            byzantine: receivers.into_iter().enumerate().map(|(i, h)| ByzantineNode { id: 20 + i as u32, honest_neighbors: h }).collect(),
            dim: 5,
            ..Default::default()
        }
    }

    #[test]
    fn one_row_per_byzantine_receiver_pair_each_the_receivers_model_pushed_from_the_mean() {
        // 2a − mean = (4, 1, −1, −3, −5); 2c − mean = (−6, −1, −1, −1, −1); 2b − mean = (8, 9, 11, 13, 15).
        let out = Targeted::default().craft_flat(&ctx(vec![vec![10, 12], vec![11]]), &HONEST, &mut NativeEnv::new(0)).unwrap();
        assert_eq!(out.mode, SendMode::PerReceiver);
        let want = [[4.0, 1.0, -1.0, -3.0, -5.0], [-6.0, -1.0, -1.0, -1.0, -1.0], [8.0, 9.0, 11.0, 13.0, 15.0]].concat();
        assert_eq!(out.vectors, want);
    }

    #[test]
    fn strength_scales_the_push_and_zero_echoes_the_receiver() {
        let mut a = Targeted::default();
        let p = |s: f64| Params::resolve(&Targeted::info().params, vec![("strength".into(), ParamValue::Float(s))]).unwrap();
        a.configure(&p(0.5)).unwrap();
        let out = a.craft_flat(&ctx(vec![vec![10]]), &HONEST, &mut NativeEnv::new(0)).unwrap();
        // a + ½(a − mean) = (3.5, 1.5, 0, −1.5, −3).
        assert_eq!(out.vectors, vec![3.5, 1.5, 0.0, -1.5, -3.0]);
        a.configure(&p(0.0)).unwrap();
        assert_eq!(a.craft_flat(&ctx(vec![vec![11]]), &HONEST, &mut NativeEnv::new(0)).unwrap().vectors, HONEST[5..10]);
        assert!(a.configure(&p(-1.0)).unwrap_err().contains("`strength` must be >= 0"));
    }

    #[test]
    fn an_unknown_receiver_or_bad_shape_is_an_error() {
        let e = Targeted::default().craft_flat(&ctx(vec![vec![99]]), &HONEST, &mut NativeEnv::new(0)).unwrap_err();
        assert!(e.contains("receiver 99") && e.contains("node 20"), "{e}");
        assert!(Targeted::default().craft_flat(&ctx(vec![vec![10]]), &HONEST[..5], &mut NativeEnv::new(0)).is_err());
    }

    #[test]
    fn a_byzantine_node_without_regular_neighbours_sends_nothing() {
        let out = Targeted::default().craft_flat(&ctx(vec![vec![], vec![12]]), &HONEST, &mut NativeEnv::new(0)).unwrap();
        assert_eq!(out.vectors, vec![-6.0, -1.0, -1.0, -1.0, -1.0]);
    }
}
