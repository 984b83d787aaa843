//! Stand-alone training (the paper's "Stand-alone" baseline): the node ignores what it
//! received and keeps its freshly trained model, x_i ← local. The reference a robust rule
//! must beat: collaboration is only worth it when it does better than this.

use byz_policy_sdk::{check_defense_shapes, Context, Defense, Env, Info, Model, PolicyKind};

#[derive(Default)]
pub struct Standalone;

impl Defense for Standalone {
    fn info() -> Info {
        Info {
            name: "standalone".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PolicyKind::Defense,
            description: "Stand-alone: keeps the node's own freshly trained model and ignores every received model.".into(),
            params: vec![],
            stateless: true,
            opt_outs: vec![],
        }
    }

    fn aggregate(&mut self, ctx: &Context, prev: &Model, local: &Model, received: &[Model], _env: &mut dyn Env) -> Result<Model, String> {
        check_defense_shapes(ctx, prev, local, received)?;
        // In a component: a new handle to the host's model, nothing read or copied here.
        Ok(local.share())
    }
}

byz_policy_sdk::export_defense!(Standalone);

#[cfg(test)]
mod tests {
    use super::*;
    use byz_policy_sdk::{FlatDefense, NativeEnv};

    fn ctx(k: usize) -> Context {
        Context { neighbors: (1..=k as u32).collect(), dim: 5, ..Default::default() }
    }

    #[test]
    fn returns_the_local_model_whatever_was_received() {
        let (prev, local) = ([0.0; 5], [1.0, -2.0, 3.0, 0.5, 0.0]);
        let received = [9.0; 15];
        let out = Standalone.aggregate_flat(&ctx(3), &prev, &local, &received, &mut NativeEnv::new(0)).unwrap();
        assert_eq!(out, local);
    }

    #[test]
    fn wrong_shapes_are_errors() {
        let e = Standalone.aggregate_flat(&ctx(3), &[0.0; 5], &[0.0; 5], &[0.0; 14], &mut NativeEnv::new(0));
        assert!(e.unwrap_err().contains("expected 3 (one per neighbour)"));
        assert!(Standalone::info().params.is_empty() && Standalone::info().stateless);
    }
}
