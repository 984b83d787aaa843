//! A template defense: the coordinate-wise median of the node's own fresh model and every
//! model it received. Copy this crate, rename it, and replace `aggregate` with your rule;
//! examples/README.md walks through building, checking (`byzhost conform`) and running it.
//!
//! The median of k + 1 values ignores up to ⌊k/2⌋ arbitrary ones per coordinate, which is
//! why it is a classic Byzantine-robust baseline; it is exact on agreeing inputs and does
//! not depend on the order of neighbours, so it passes every conformance property.

use byz_policy_sdk::{check_defense_shapes, ops, Context, Defense, Env, Info, Model, PolicyKind};

#[derive(Default)]
pub struct CoordinateMedian;

impl Defense for CoordinateMedian {
    fn info() -> Info {
        Info {
            // The package name, so a renamed copy reports its own name.
            name: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PolicyKind::Defense,
            description: "Coordinate-wise median of the node's own model and every received model.".into(),
            params: vec![],
            stateless: true,
            opt_outs: vec![],
        }
    }

    fn aggregate(&mut self, ctx: &Context, prev: &Model, local: &Model, received: &[Model], _env: &mut dyn Env) -> Result<Model, String> {
        // Malformed lengths become an `err`, never a panic (a panic traps the instance).
        check_defense_shapes(ctx, prev, local, received)?;
        // The host computes the median on its own copies of the models; nothing is copied
        // into the component. With no neighbours the median of `local` alone is `local`.
        ops::median(&received.iter().collect::<Vec<_>>(), Some(local))
    }
}

byz_policy_sdk::export_defense!(CoordinateMedian);

#[cfg(test)]
mod tests {
    use super::*;
    use byz_policy_sdk::{FlatDefense, NativeEnv};

    fn ctx(k: usize, dim: usize) -> Context {
        Context { neighbors: (1..=k as u32).collect(), neighbor_degrees: vec![k as u32; k], dim: dim as u32, ..Default::default() }
    }

    #[test]
    fn one_outlier_per_coordinate_is_ignored() {
        let local = [1.0, 10.0];
        let received = [2.0, 11.0, 1e6, 12.0, 3.0, -1e6];
        let out = CoordinateMedian.aggregate_flat(&ctx(3, 2), &local, &local, &received, &mut NativeEnv::new(0)).unwrap();
        assert_eq!(out, vec![2.5, 11.5]);
    }

    #[test]
    fn no_neighbours_keeps_the_local_model() {
        let out = CoordinateMedian.aggregate_flat(&ctx(0, 2), &[0.0; 2], &[4.0, 5.0], &[], &mut NativeEnv::new(0)).unwrap();
        assert_eq!(out, vec![4.0, 5.0]);
    }

    #[test]
    fn a_short_received_is_an_error() {
        let err = CoordinateMedian.aggregate_flat(&ctx(2, 2), &[0.0; 2], &[0.0; 2], &[0.0; 3], &mut NativeEnv::new(0));
        assert!(err.is_err());
    }
}
