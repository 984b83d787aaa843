//! BRIDGE (Yang & Bajwa, "BRIDGE: Byzantine-resilient decentralized gradient descent",
//! 2019), the coordinate-wise trimmed-mean variant the paper compares with:
//!
//! for every coordinate c, drop the `b` largest and the `b` smallest of the k received
//! values x_j[c], then x_i[c] ← (Σ of the k − 2b kept values + local[c]) / (k − 2b + 1).
//!
//! The node's own value is never trimmed. `b` is the number of Byzantine neighbours the
//! rule tolerates and must be set to it (default 1); a node with fewer than 2b + 1
//! neighbours cannot run the rule and the call is an error naming both numbers.

use byz_policy_sdk::{check_defense_shapes, ops, Context, Defense, Env, Info, Model, ParamSpec, Params, PolicyKind};

pub struct Bridge {
    b: usize,
}

impl Default for Bridge {
    fn default() -> Self {
        Bridge { b: 1 }
    }
}

impl Defense for Bridge {
    fn info() -> Info {
        Info {
            name: "bridge".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PolicyKind::Defense,
            description: "BRIDGE: per coordinate, drop the b largest and b smallest received values and average the \
                          rest with the node's own value (Yang & Bajwa 2019)."
                .into(),
            params: vec![ParamSpec::integer(
                "b",
                1,
                "values trimmed at each end per coordinate; set it to the number of Byzantine neighbours tolerated",
            )],
            stateless: true,
            // BRIDGE needs 2b + 1 neighbours by construction; with none it cannot trim.
            opt_outs: vec!["no-neighbors".into()],
        }
    }

    fn configure(&mut self, params: &Params) -> Result<(), String> {
        let b = params.integer("b");
        self.b = usize::try_from(b).map_err(|_| format!("parameter `b` must be >= 0, got {b}"))?;
        Ok(())
    }

    fn aggregate(&mut self, ctx: &Context, prev: &Model, local: &Model, received: &[Model], _env: &mut dyn Env) -> Result<Model, String> {
        let k = check_defense_shapes(ctx, prev, local, received)?;
        let b = self.b;
        if k < 2 * b + 1 {
            return Err(format!(
                "BRIDGE with b = {b} needs at least 2b + 1 = {} neighbours, but node {} has {k}; lower `b` or use a denser graph",
                2 * b + 1,
                ctx.node
            ));
        }
        // Three host kernels, each as the 0.1.0 build did it in the guest: the trimmed sum,
        // + local, × 1/(k − 2b + 1).
        let rows: Vec<&Model> = received.iter().collect();
        let sum = ops::trimmed_sum(&rows, None, b as u32)?;
        let with_own = ops::combine(&sum, 1.0, &[local], &[1.0])?;
        ops::scale(&with_own, 1.0 / (k - 2 * b + 1) as f32)
    }
}

byz_policy_sdk::export_defense!(Bridge);

#[cfg(test)]
mod tests {
    use super::*;
    use byz_policy_sdk::{FlatDefense, NativeEnv, ParamValue};

    const LOCAL: [f32; 5] = [1.0, 2.0, 3.0, 4.0, 5.0];
    const RECEIVED: [f32; 15] = [3.0, 2.0, 1.0, 0.0, -1.0, 5.0, 6.0, 7.0, 8.0, 9.0, -1.0, 0.0, 1.0, 0.0, 3.0];

    fn ctx(k: usize) -> Context {
        Context { neighbors: (1..=k as u32).collect(), dim: 5, node: 7, ..Default::default() }
    }

    fn with_b(b: i64) -> Result<Bridge, String> {
        let mut d = Bridge::default();
        d.configure(&Params::resolve(&Bridge::info().params, vec![("b".into(), ParamValue::Integer(b))]).unwrap())?;
        Ok(d)
    }

    #[test]
    fn b1_keeps_the_middle_received_value_and_averages_it_with_local() {
        // Columns {3,5,−1} {2,6,0} {1,7,1} {0,8,0} {−1,9,3}: middles 3 2 1 0 3, plus local, halved.
        let out = Bridge::default().aggregate_flat(&ctx(3), &LOCAL, &LOCAL, &RECEIVED, &mut NativeEnv::new(0)).unwrap();
        assert_eq!(out, vec![2.0, 2.0, 2.0, 2.0, 4.0]);
    }

    #[test]
    fn b0_is_the_plain_mean_of_local_and_received() {
        let out = with_b(0).unwrap().aggregate_flat(&ctx(3), &LOCAL, &LOCAL, &RECEIVED, &mut NativeEnv::new(0)).unwrap();
        assert_eq!(out, vec![2.0, 2.5, 3.0, 3.0, 4.0]);
    }

    #[test]
    fn an_outlier_cannot_move_the_result() {
        let mut r = RECEIVED;
        r[5..10].copy_from_slice(&[1e30; 5]);
        let out = Bridge::default().aggregate_flat(&ctx(3), &LOCAL, &LOCAL, &r, &mut NativeEnv::new(0)).unwrap();
        // Row 2 is the largest of every column, so inflating it changes nothing.
        assert_eq!(out, vec![2.0, 2.0, 2.0, 2.0, 4.0]);
    }

    #[test]
    fn too_few_neighbours_is_an_error_naming_b_and_the_count() {
        let e = with_b(2).unwrap().aggregate_flat(&ctx(3), &LOCAL, &LOCAL, &RECEIVED, &mut NativeEnv::new(0)).unwrap_err();
        assert!(e.contains("b = 2") && e.contains("2b + 1 = 5") && e.contains("node 7 has 3"), "{e}");
        let e = Bridge::default().aggregate_flat(&ctx(0), &LOCAL, &LOCAL, &[], &mut NativeEnv::new(0)).unwrap_err();
        assert!(e.contains("has 0"), "{e}");
    }

    #[test]
    fn negative_b_is_rejected_and_info_is_complete() {
        assert!(with_b(-1).err().unwrap().contains("`b` must be >= 0"));
        let info = Bridge::info();
        assert_eq!((info.name.as_str(), info.params[0].default.clone()), ("bridge", ParamValue::Integer(1)));
        assert!(info.stateless);
    }
}
