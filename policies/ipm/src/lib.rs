//! Inner-product manipulation (Xie, Koyejo & Gupta, "Fall of empires: breaking Byzantine-
//! tolerant SGD by inner product manipulation", UAI 2019): every Byzantine node broadcasts
//! −ε·x̄, x̄ the mean of the regular models. A small ε (default 0.1) keeps the message
//! close to the honest cloud while making its inner product with the true mean negative.

use byz_policy_sdk::{check_attack_shapes, ops, Attack, AttackContext, Crafted, Env, Info, Model, ParamSpec, Params, PolicyKind};

pub struct Ipm {
    epsilon: f32,
}

impl Default for Ipm {
    fn default() -> Self {
        Ipm { epsilon: 0.1 }
    }
}

impl Attack for Ipm {
    fn info() -> Info {
        Info {
            name: "ipm".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PolicyKind::Attack,
            description: "Inner-product manipulation: each Byzantine node broadcasts -epsilon * (mean of the regular \
                          models) (Xie et al. 2019)."
                .into(),
            params: vec![ParamSpec::float("epsilon", 0.1, "magnitude of the negated mean; >= 0")],
            stateless: true,
            opt_outs: vec![],
        }
    }

    fn configure(&mut self, params: &Params) -> Result<(), String> {
        self.epsilon = params.non_negative_float("epsilon")? as f32;
        Ok(())
    }

    fn craft(&mut self, ctx: &AttackContext, honest: &[Model], _env: &mut dyn Env) -> Result<Crafted, String> {
        check_attack_shapes(ctx, honest)?;
        let mean = ops::mean(&honest.iter().collect::<Vec<_>>())?;
        Ok(Crafted::broadcast_same(ctx, ops::scale(&mean, -self.epsilon)?))
    }
}

byz_policy_sdk::export_attack!(Ipm);

#[cfg(test)]
mod tests {
    use super::*;
    use byz_policy_sdk::{ByzantineNode, FlatAttack, NativeEnv, ParamValue, SendMode};

    fn ctx() -> AttackContext {
        AttackContext {
            regular: vec![0, 1, 2],
            byzantine: vec![ByzantineNode { id: 3, honest_neighbors: vec![0] }, ByzantineNode { id: 4, honest_neighbors: vec![1, 2] }],
            dim: 5,
            ..Default::default()
        }
    }

    const HONEST: [f32; 15] = [3.0, 2.0, 1.0, 0.0, -1.0, 5.0, 6.0, 7.0, 8.0, 9.0, -2.0, 1.0, 1.0, 1.0, 1.0];

    #[test]
    fn broadcasts_minus_epsilon_times_the_mean() {
        // Mean (2, 3, 3, 3, 3); ε = 0.5 → (−1, −1.5, −1.5, −1.5, −1.5) from both nodes.
        let mut a = Ipm::default();
        a.configure(&Params::resolve(&Ipm::info().params, vec![("epsilon".into(), ParamValue::Float(0.5))]).unwrap()).unwrap();
        let out = a.craft_flat(&ctx(), &HONEST, &mut NativeEnv::new(0)).unwrap();
        assert_eq!(out.mode, SendMode::Broadcast);
        let m = [-1.0, -1.5, -1.5, -1.5, -1.5];
        assert_eq!(out.vectors, [m, m].concat());
    }

    #[test]
    fn default_epsilon_is_a_tenth() {
        let out = Ipm::default().craft_flat(&ctx(), &HONEST, &mut NativeEnv::new(0)).unwrap();
        let want = [-0.2f32, -0.3, -0.3, -0.3, -0.3];
        for (g, w) in out.vectors.iter().zip(want.iter().cycle()) {
            assert!((g - w).abs() < 1e-6, "{:?}", out.vectors);
        }
    }

    #[test]
    fn bad_inputs_and_parameters_are_errors() {
        assert!(Ipm::default().craft_flat(&ctx(), &HONEST[..10], &mut NativeEnv::new(0)).is_err());
        let p = Params::resolve(&Ipm::info().params, vec![("epsilon".into(), ParamValue::Float(-0.1))]).unwrap();
        assert!(Ipm::default().configure(&p).unwrap_err().contains("`epsilon` must be >= 0"));
    }
}
