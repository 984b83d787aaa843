//! TV-norm penalized update (Peng & Ling, "Byzantine-robust decentralized stochastic
//! optimization", ICASSP 2020), as the paper uses it as a baseline:
//!
//! x_i ← local − lr · λ · Σ_{j ∈ N_i} sign(x_i^t − x_j),
//!
//! with x_i^t = `prev`, x_j the received models, lr = `ctx.lr`, sign(0) = 0. Each
//! neighbour moves every coordinate by at most lr·λ whatever it sends, which bounds a
//! Byzantine node's influence. A NaN difference counts as sign 0 (it is neither > 0 nor
//! < 0), so a non-finite message cannot make the result non-finite.

use byz_policy_sdk::{check_defense_shapes, ops, Context, Defense, Env, Info, Model, ParamSpec, Params, PolicyKind};

pub struct TvNorm {
    lambda: f32,
}

impl Default for TvNorm {
    fn default() -> Self {
        TvNorm { lambda: 0.001 }
    }
}

impl Defense for TvNorm {
    fn info() -> Info {
        Info {
            name: "tvnorm".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PolicyKind::Defense,
            description: "TV-norm penalty: local - lr*lambda*sum_j sign(prev - x_j) (Peng & Ling 2020).".into(),
            params: vec![ParamSpec::float("lambda", 0.001, "weight of the total-variation penalty; lambda >= 0")],
            stateless: true,
            opt_outs: vec![],
        }
    }

    fn configure(&mut self, params: &Params) -> Result<(), String> {
        self.lambda = params.non_negative_float("lambda")? as f32;
        Ok(())
    }

    fn aggregate(&mut self, ctx: &Context, prev: &Model, local: &Model, received: &[Model], _env: &mut dyn Env) -> Result<Model, String> {
        check_defense_shapes(ctx, prev, local, received)?;
        // Net sign per coordinate, counted exactly (in integers), then one step:
        // local + (−step)·net, which is local − step·net bit for bit.
        let rows: Vec<&Model> = received.iter().collect();
        let net = ops::sign_sum(&rows, prev)?;
        let step = ctx.lr * self.lambda;
        ops::combine(local, 1.0, &[&net], &[-step])
    }
}

byz_policy_sdk::export_defense!(TvNorm);

#[cfg(test)]
mod tests {
    use super::*;
    use byz_policy_sdk::{FlatDefense, NativeEnv, ParamValue};

    const PREV: [f32; 5] = [1.0, 2.0, 3.0, 4.0, 5.0];
    const LOCAL: [f32; 5] = [1.5, 2.0, 2.5, 4.0, 6.0];
    const RECEIVED: [f32; 15] = [3.0, 2.0, 1.0, 0.0, -1.0, 5.0, 6.0, 7.0, 8.0, 9.0, -1.0, 0.0, 1.0, 4.0, 3.0];

    fn ctx(k: usize, lr: f32) -> Context {
        Context { neighbors: (1..=k as u32).collect(), dim: 5, lr, ..Default::default() }
    }

    fn with_lambda(l: f64) -> Result<TvNorm, String> {
        let mut d = TvNorm::default();
        d.configure(&Params::resolve(&TvNorm::info().params, vec![("lambda".into(), ParamValue::Float(l))]).unwrap())?;
        Ok(d)
    }

    #[test]
    fn moves_each_coordinate_by_lr_lambda_per_net_sign() {
        // sign(prev − x_j) per coordinate:
        //   row 1: (−, 0, +, +, +); row 2: (−, −, −, −, −); row 3: (+, +, +, 0, +)
        //   sums:  (−1, 0, 1, 0, 1)
        // lr·λ = 0.5 · 0.25 = 0.125.
        let out = with_lambda(0.25).unwrap().aggregate_flat(&ctx(3, 0.5), &PREV, &LOCAL, &RECEIVED, &mut NativeEnv::new(0));
        assert_eq!(out.unwrap(), vec![1.625, 2.0, 2.375, 4.0, 5.875]);
    }

    #[test]
    fn a_huge_or_nan_message_moves_by_at_most_one_step() {
        let mut r = RECEIVED;
        r[5..10].copy_from_slice(&[1e30, f32::NAN, -1e30, f32::INFINITY, 5.0]);
        // Row 2 now signs (−, 0, +, −, 0): sums (−1, 1, 3, 0, 2).
        let out = with_lambda(0.25).unwrap().aggregate_flat(&ctx(3, 0.5), &PREV, &LOCAL, &r, &mut NativeEnv::new(0));
        assert_eq!(out.unwrap(), vec![1.625, 1.875, 2.125, 4.0, 5.75]);
    }

    #[test]
    fn no_neighbours_or_zero_lambda_keep_local() {
        let out = TvNorm::default().aggregate_flat(&ctx(0, 0.1), &PREV, &LOCAL, &[], &mut NativeEnv::new(0)).unwrap();
        assert_eq!(out, LOCAL);
        let out = with_lambda(0.0).unwrap().aggregate_flat(&ctx(3, 0.1), &PREV, &LOCAL, &RECEIVED, &mut NativeEnv::new(0));
        assert_eq!(out.unwrap(), LOCAL);
    }

    #[test]
    fn negative_lambda_and_bad_shapes_are_errors() {
        assert!(with_lambda(-0.1).err().unwrap().contains("`lambda` must be >= 0"));
        let e = TvNorm::default().aggregate_flat(&ctx(3, 0.1), &PREV, &LOCAL, &RECEIVED[..10], &mut NativeEnv::new(0));
        assert!(e.unwrap_err().contains("expected 3 (one per neighbour)"));
        assert_eq!(TvNorm::info().params[0].default, ParamValue::Float(0.001));
    }
}
