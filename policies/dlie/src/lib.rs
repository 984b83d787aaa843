//! D-LIE, the paper's decentralized "little is enough" attack (Eq. 4): every Byzantine
//! node broadcasts μ + z·σ, the coordinate-wise mean and population standard deviation of
//! the regular nodes' transmitted models. The paper uses z = 2.0 (the default). A
//! negative z shifts the message the other way; with one regular model σ = 0 and the
//! message is that model.

use byz_policy_sdk::{check_attack_shapes, ops, Attack, AttackContext, Crafted, Env, Info, Model, ParamSpec, Params, PolicyKind};

pub struct Dlie {
    z: f32,
}

impl Default for Dlie {
    fn default() -> Self {
        Dlie { z: 2.0 }
    }
}

impl Attack for Dlie {
    fn info() -> Info {
        Info {
            name: "dlie".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PolicyKind::Attack,
            description: "D-LIE: each Byzantine node broadcasts mean + z * std of the regular models, coordinate-wise \
                          (population std), the paper's Eq. (4)."
                .into(),
            params: vec![ParamSpec::float("z", 2.0, "standard deviations added to the mean (any finite value)")],
            stateless: true,
            opt_outs: vec![],
        }
    }

    fn configure(&mut self, params: &Params) -> Result<(), String> {
        // Params::resolve already rejects non-finite floats; every finite z is meaningful.
        self.z = params.float("z") as f32;
        Ok(())
    }

    fn craft(&mut self, ctx: &AttackContext, honest: &[Model], _env: &mut dyn Env) -> Result<Crafted, String> {
        check_attack_shapes(ctx, honest)?;
        let message = ops::mean_plus_z_std(&honest.iter().collect::<Vec<_>>(), self.z)?;
        Ok(Crafted::broadcast_same(ctx, message))
    }
}

byz_policy_sdk::export_attack!(Dlie);

#[cfg(test)]
mod tests {
    use super::*;
    use byz_policy_sdk::{ByzantineNode, FlatAttack, NativeEnv, ParamValue, SendMode};

    fn ctx() -> AttackContext {
        AttackContext {
            regular: vec![0, 1, 2],
            byzantine: vec![ByzantineNode { id: 3, honest_neighbors: vec![0, 2] }, ByzantineNode { id: 4, honest_neighbors: vec![1] }],
            dim: 5,
            ..Default::default()
        }
    }

    // Columns {1,2,3} {0,0,0} {−1,1,−3} {4,4,7} {2,5,8}: means 2, 0, −1, 5, 5; population
    // variances 2/3, 0, 8/3, 2, 6.
    const HONEST: [f32; 15] = [1.0, 0.0, -1.0, 4.0, 2.0, 2.0, 0.0, 1.0, 4.0, 5.0, 3.0, 0.0, -3.0, 7.0, 8.0];

    fn want(z: f32) -> Vec<f32> {
        let (mean, var) = ([2.0f32, 0.0, -1.0, 5.0, 5.0], [2.0f32 / 3.0, 0.0, 8.0 / 3.0, 2.0, 6.0]);
        mean.iter().zip(var).map(|(m, v)| m + z * v.sqrt()).collect()
    }

    fn assert_rows(got: &[f32], row: &[f32], rows: usize) {
        assert_eq!(got.len(), row.len() * rows);
        for (g, w) in got.iter().zip(row.iter().cycle()) {
            assert!((g - w).abs() < 1e-5, "got {got:?}, want {row:?} x {rows}");
        }
    }

    #[test]
    fn broadcasts_mean_plus_two_population_stds() {
        let out = Dlie::default().craft_flat(&ctx(), &HONEST, &mut NativeEnv::new(0)).unwrap();
        assert_eq!(out.mode, SendMode::Broadcast);
        assert_rows(&out.vectors, &want(2.0), 2);
        // Coordinate 4 by hand: 5 + 2·√6 = 9.898979.
        assert!((out.vectors[4] - 9.898979).abs() < 1e-5);
    }

    #[test]
    fn z_is_configurable() {
        let mut a = Dlie::default();
        a.configure(&Params::resolve(&Dlie::info().params, vec![("z".into(), ParamValue::Float(-1.0))]).unwrap()).unwrap();
        assert_rows(&a.craft_flat(&ctx(), &HONEST, &mut NativeEnv::new(0)).unwrap().vectors, &want(-1.0), 2);
    }

    #[test]
    fn wrong_honest_length_is_an_error() {
        assert!(Dlie::default().craft_flat(&ctx(), &HONEST[..12], &mut NativeEnv::new(0)).unwrap_err().contains("expected 3"));
    }
}
