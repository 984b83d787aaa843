//! D-PSGD (Lian et al., 2017): the node replaces its model by an average of its own fresh
//! model and the models its neighbours sent. No defense at all; the baseline every robust
//! rule is compared with.
//!
//! - `weights = "uniform"` (default): x_i ← (x_i + Σ_j x_j) / (|N_i| + 1).
//! - `weights = "metropolis"`: Metropolis–Hastings weights from the degrees in the context,
//!   w_ij = 1 / (1 + max(d_i, d_j)), and w_ii = 1 − Σ_j w_ij; doubly stochastic on an
//!   undirected graph, so honest nodes converge to the exact average.

use byz_policy_sdk::{check_defense_shapes, ops, Context, Defense, Env, Info, Model, ParamSpec, Params, PolicyKind};

#[derive(Default)]
pub struct Dpsgd {
    metropolis: bool,
}

impl Defense for Dpsgd {
    fn info() -> Info {
        Info {
            name: "dpsgd".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PolicyKind::Defense,
            description: "D-PSGD: average of the node's fresh model and every received model (no defense).".into(),
            params: vec![ParamSpec::text(
                "weights",
                "uniform",
                "mixing weights: `uniform` (1/(k+1) each) or `metropolis` (Metropolis-Hastings from degrees)",
            )],
            stateless: true,
            opt_outs: vec![],
        }
    }

    fn configure(&mut self, params: &Params) -> Result<(), String> {
        self.metropolis = match params.text("weights") {
            "uniform" => false,
            "metropolis" => true,
            other => return Err(format!("parameter `weights` must be `uniform` or `metropolis`, got `{other}`")),
        };
        Ok(())
    }

    fn aggregate(&mut self, ctx: &Context, prev: &Model, local: &Model, received: &[Model], _env: &mut dyn Env) -> Result<Model, String> {
        let k = check_defense_shapes(ctx, prev, local, received)?;
        let weights: Vec<f32> = if self.metropolis {
            if ctx.neighbor_degrees.len() != k {
                return Err(format!("metropolis weights need {k} neighbour degrees, got {}", ctx.neighbor_degrees.len()));
            }
            ctx.neighbor_degrees.iter().map(|&d| 1.0 / (1.0 + d.max(k as u32) as f32)).collect()
        } else {
            vec![1.0 / (k + 1) as f32; k]
        };
        // Uniform weights give the node's own model exactly the neighbours' weight (not
        // 1 − Σw, which rounds differently), so every node weighs every model alike.
        let own = if self.metropolis { 1.0 - weights.iter().sum::<f32>() } else { 1.0 / (k + 1) as f32 };
        // Accumulate in node-id order, the node's own model in its place among its
        // neighbours: on a complete graph every node then sums the same terms in the same
        // order and the results are bit-identical (consensus error exactly 0).
        let own_slot = ctx.neighbors.iter().take_while(|&&j| j < ctx.node).count();
        let mut rows: Vec<&Model> = received.iter().collect();
        let mut coefs = weights;
        rows.insert(own_slot, local);
        coefs.insert(own_slot, own);
        // The first term is the base (w·x rather than 0 + w·x: the same value, except that
        // a coordinate whose every term is −0 stays −0 instead of becoming +0).
        ops::combine(rows[0], coefs[0], &rows[1..], &coefs[1..])
    }
}

byz_policy_sdk::export_defense!(Dpsgd);

#[cfg(test)]
mod tests {
    use super::*;
    use byz_policy_sdk::{FlatDefense, NativeEnv, ParamValue};

    fn ctx(k: usize, dim: usize, degrees: Vec<u32>) -> Context {
        Context { neighbors: (1..=k as u32).collect(), neighbor_degrees: degrees, dim: dim as u32, ..Default::default() }
    }

    fn configured(weights: &str) -> Dpsgd {
        let mut d = Dpsgd::default();
        let p = Params::resolve(&Dpsgd::info().params, vec![("weights".into(), ParamValue::Text(weights.into()))]).unwrap();
        d.configure(&p).unwrap();
        d
    }

    #[test]
    fn uniform_weights_give_the_exact_mean_of_self_and_neighbours() {
        let local = [1.0, 2.0, 3.0, 4.0, 5.0];
        let received = [3.0, 2.0, 1.0, 0.0, -1.0, 5.0, 6.0, 7.0, 8.0, 9.0, -1.0, 0.0, 1.0, 0.0, 3.0];
        let out = configured("uniform").aggregate_flat(&ctx(3, 5, vec![3; 3]), &local, &local, &received, &mut NativeEnv::new(0)).unwrap();
        assert_eq!(out, vec![2.0, 2.5, 3.0, 3.0, 4.0]);
    }

    #[test]
    fn metropolis_weights_follow_the_degrees() {
        // Node with k = 2 neighbours of degrees 2 and 4: w = 1/3 and 1/5, self 1 - 8/15.
        let local = [15.0];
        let received = [0.0, 30.0];
        let out =
            configured("metropolis").aggregate_flat(&ctx(2, 1, vec![2, 4]), &local, &local, &received, &mut NativeEnv::new(0)).unwrap();
        assert!((out[0] - (7.0 + 6.0)).abs() < 1e-5, "{out:?}");
    }

    #[test]
    fn nodes_of_a_complete_graph_get_bit_identical_results() {
        // Five nodes with awkward values (1/5 is inexact in binary): each sums the same
        // terms in id order with the same weights.
        let x = [[0.1f32, 1e-3, 3.3], [7.7, -0.2, 1e5], [0.3, 0.7, -2.9], [1.1, 2.2, 3.3], [-4.4, 5.5, 6.6]];
        let out = |node: usize| {
            let others: Vec<u32> = (0..5).filter(|&j| j != node as u32).collect();
            let received: Vec<f32> = others.iter().flat_map(|&j| x[j as usize]).collect();
            let ctx = Context { node: node as u32, neighbors: others, neighbor_degrees: vec![4; 4], dim: 3, ..Default::default() };
            Dpsgd::default().aggregate_flat(&ctx, &x[node], &x[node], &received, &mut NativeEnv::new(0)).unwrap()
        };
        for node in 1..5 {
            assert_eq!(out(0), out(node), "node {node}");
        }
    }

    #[test]
    fn no_neighbours_keeps_the_local_model() {
        let local = [1.0, -2.0];
        let out = Dpsgd::default().aggregate_flat(&ctx(0, 2, vec![]), &local, &local, &[], &mut NativeEnv::new(0)).unwrap();
        assert_eq!(out, local);
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let e = Dpsgd::default().aggregate_flat(&ctx(2, 2, vec![]), &[0.0; 2], &[0.0; 2], &[0.0; 3], &mut NativeEnv::new(0));
        assert!(e.unwrap_err().contains("expected 2 (one per neighbour)"));
    }

    #[test]
    fn unknown_weights_value_is_rejected() {
        let p = Params::resolve(&Dpsgd::info().params, vec![("weights".into(), ParamValue::Text("x".into()))]).unwrap();
        assert!(Dpsgd::default().configure(&p).unwrap_err().contains("`weights`"));
    }
}
