//! Random attack (the paper's "Random", Section 4.2): every Byzantine node broadcasts a
//! Gaussian vector g ~ N(0, I) rescaled to `scale`·‖x̄‖, x̄ the mean of the regular nodes'
//! models — the same norm as an honest model, so norm-based filters alone cannot spot it.
//!
//! Randomness comes from a SplitMix64 stream seeded with `ctx.seed` mixed with `ctx.round`:
//! the same seed and round give the same messages, a new round gives new ones (even if a
//! host passed the same seed), and each Byzantine node draws its own vector in turn.
//! When x̄ = 0 the messages are zero vectors (a norm of 0 scaled to 0).

use byz_policy_sdk::rng::SplitMix64;
use byz_policy_sdk::{
    check_attack_shapes, kernels, ops, Attack, AttackContext, Crafted, Env, Info, Model, ParamSpec, Params, PolicyKind, SendMode,
};

pub struct RandomAttack {
    scale: f32,
}

impl Default for RandomAttack {
    fn default() -> Self {
        RandomAttack { scale: 1.0 }
    }
}

impl Attack for RandomAttack {
    fn info() -> Info {
        Info {
            name: "random".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PolicyKind::Attack,
            description: "Random: each Byzantine node broadcasts its own Gaussian vector rescaled to scale * |mean of \
                          the regular models|, fresh every round, reproducible from the seed."
                .into(),
            params: vec![ParamSpec::float("scale", 1.0, "norm of the messages relative to the regular mean's norm; >= 0")],
            stateless: true,
            opt_outs: vec![],
        }
    }

    fn configure(&mut self, params: &Params) -> Result<(), String> {
        self.scale = params.non_negative_float("scale")? as f32;
        Ok(())
    }

    fn craft(&mut self, ctx: &AttackContext, honest: &[Model], _env: &mut dyn Env) -> Result<Crafted, String> {
        check_attack_shapes(ctx, honest)?;
        let dim = ctx.dim as usize;
        let honest: Vec<&Model> = honest.iter().collect();
        // ‖mean‖ computed in the host; the Gaussian draws are the guest's own.
        let target = self.scale * ops::norm_sq(&ops::mean(&honest)?).sqrt();
        let mut rng = SplitMix64::new(ctx.seed ^ ctx.round.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let mut vectors = Vec::with_capacity(ctx.byzantine.len());
        for _ in &ctx.byzantine {
            let mut g: Vec<f32> = (0..dim).map(|_| rng.normal() as f32).collect();
            let norm = kernels::norm(&g);
            kernels::scale(&mut g, if norm > 0.0 { target / norm } else { 0.0 });
            vectors.push(Model::new(g));
        }
        Ok(Crafted { mode: SendMode::Broadcast, vectors })
    }
}

byz_policy_sdk::export_attack!(RandomAttack);

#[cfg(test)]
mod tests {
    use super::*;
    use byz_policy_sdk::{ByzantineNode, FlatAttack, NativeEnv, ParamValue};

    const HONEST: [f32; 15] = [3.0, 2.0, 1.0, 0.0, -1.0, 5.0, 6.0, 7.0, 8.0, 9.0, -2.0, 1.0, 1.0, 1.0, 1.0];

    fn ctx(seed: u64, round: u64) -> AttackContext {
        AttackContext {
            regular: vec![0, 1, 2],
            byzantine: vec![ByzantineNode { id: 3, honest_neighbors: vec![0, 1] }, ByzantineNode { id: 4, honest_neighbors: vec![2] }],
            dim: 5,
            seed,
            round,
            ..Default::default()
        }
    }

    fn craft(a: &mut RandomAttack, c: &AttackContext) -> Vec<f32> {
        a.craft_flat(c, &HONEST, &mut NativeEnv::new(0)).unwrap().vectors
    }

    #[test]
    fn each_message_has_the_norm_of_the_regular_mean_times_scale() {
        // Mean (2, 3, 3, 3, 3): norm √40.
        let mut a = RandomAttack::default();
        let out = a.craft_flat(&ctx(1, 0), &HONEST, &mut NativeEnv::new(0)).unwrap();
        assert_eq!(out.mode, SendMode::Broadcast);
        assert_eq!(out.vectors.len(), 10);
        for row in out.vectors.chunks(5) {
            assert!((kernels::norm(row) - 40f32.sqrt()).abs() < 1e-4, "{row:?}");
        }
        assert_ne!(out.vectors[..5], out.vectors[5..], "each Byzantine node draws its own vector");
        let mut half = RandomAttack::default();
        half.configure(&Params::resolve(&RandomAttack::info().params, vec![("scale".into(), ParamValue::Float(0.5))]).unwrap()).unwrap();
        let scaled = craft(&mut half, &ctx(1, 0));
        // Same seed, same Gaussian draws: exactly half of the scale-1 messages.
        for (s, f) in scaled.iter().zip(&out.vectors) {
            assert!((s - 0.5 * f).abs() < 1e-6);
        }
    }

    #[test]
    fn same_seed_and_round_repeat_other_seed_or_round_differ() {
        let mut a = RandomAttack::default();
        assert_eq!(craft(&mut a, &ctx(9, 2)), craft(&mut a, &ctx(9, 2)));
        assert_ne!(craft(&mut a, &ctx(9, 2)), craft(&mut a, &ctx(10, 2)));
        assert_ne!(craft(&mut a, &ctx(9, 2)), craft(&mut a, &ctx(9, 3)));
    }

    #[test]
    fn the_draws_are_the_seeded_gaussian_stream() {
        let c = ctx(5, 0);
        let mut rng = SplitMix64::new(5);
        let g: Vec<f32> = (0..5).map(|_| rng.normal() as f32).collect();
        let k = 40f32.sqrt() / kernels::norm(&g);
        let first = &craft(&mut RandomAttack::default(), &c)[..5];
        for (x, y) in first.iter().zip(&g) {
            assert!((x - k * y).abs() < 1e-5);
        }
    }

    #[test]
    fn bad_inputs_and_parameters_are_errors() {
        let mut a = RandomAttack::default();
        assert!(a.craft_flat(&ctx(0, 0), &HONEST[..14], &mut NativeEnv::new(0)).unwrap_err().contains("expected 3 (one per regular node)"));
        let p = Params::resolve(&RandomAttack::info().params, vec![("scale".into(), ParamValue::Float(-1.0))]).unwrap();
        assert!(a.configure(&p).unwrap_err().contains("`scale` must be >= 0"));
    }
}
