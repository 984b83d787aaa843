//! MOZI (Guo et al., "Towards Byzantine-resilient learning in decentralized systems",
//! 2020): two filters, then a mix with the local model.
//!
//! 1. Distance: keep the m = ⌈ρ·k⌉ received models closest (Euclidean) to the node's own
//!    `local` model — at least one whenever there are neighbours. ρ·k is rounded up after
//!    subtracting 1e-9, so that ρ·k = 3.0000000000000004 (ρ = 0.1, k = 30) keeps 3, not 4.
//!    Ties keep the earlier neighbour; a NaN distance counts as +∞.
//! 2. Performance: the node's own model and the m survivors are evaluated on the node's
//!    current local batch in ONE `evaluate_loss` call (own model first); a survivor is kept
//!    when its loss ≤ the own loss (a NaN loss is never ≤, so it is dropped).
//!
//! x_i ← α·local + (1 − α)·mean(kept), or `local` when nothing is kept or there are no
//! neighbours (then `evaluate_loss` is not called). When the host cannot evaluate losses
//! (for example under `byzhost call`) the call is an error saying so.

use byz_policy_sdk::{check_defense_shapes, ops, Context, Defense, Env, Info, Model, ParamSpec, Params, PolicyKind};

pub struct Mozi {
    rho: f64,
    alpha: f32,
}

impl Default for Mozi {
    fn default() -> Self {
        Mozi { rho: 0.5, alpha: 0.5 }
    }
}

/// Number of neighbours stage 1 keeps: ⌈ρ·k⌉ with a tolerance for float error, ≥ 1 if k ≥ 1.
pub fn stage1_count(rho: f64, k: usize) -> usize {
    if k == 0 {
        return 0;
    }
    ((rho * k as f64 - 1e-9).ceil() as usize).clamp(1, k)
}

impl Defense for Mozi {
    fn info() -> Info {
        Info {
            name: "mozi".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PolicyKind::Defense,
            description: "MOZI: keep the ceil(rho*k) received models closest to the local one, then those whose loss on \
                          the node's batch is <= its own; mix alpha*local + (1-alpha)*mean(kept) (Guo et al. 2020)."
                .into(),
            params: vec![
                ParamSpec::float("rho", 0.5, "fraction of neighbours kept by the distance filter, in (0, 1]"),
                ParamSpec::float("alpha", 0.5, "weight of the node's own model in the final mix, in [0, 1]"),
            ],
            stateless: true,
            opt_outs: vec![],
        }
    }

    fn configure(&mut self, params: &Params) -> Result<(), String> {
        let (rho, alpha) = (params.float("rho"), params.float("alpha"));
        if !(rho > 0.0 && rho <= 1.0) {
            return Err(format!("parameter `rho` must be in (0, 1], got {rho}"));
        }
        if !(0.0..=1.0).contains(&alpha) {
            return Err(format!("parameter `alpha` must be in [0, 1], got {alpha}"));
        }
        *self = Mozi { rho, alpha: alpha as f32 };
        Ok(())
    }

    fn aggregate(&mut self, ctx: &Context, prev: &Model, local: &Model, received: &[Model], env: &mut dyn Env) -> Result<Model, String> {
        let k = check_defense_shapes(ctx, prev, local, received)?;
        if k == 0 || ctx.dim == 0 {
            return Ok(local.share());
        }
        let rows: Vec<&Model> = received.iter().collect();
        let distance: Vec<f32> = ops::distances_sq(&rows, local)?.into_iter().map(|d| if d.is_nan() { f32::INFINITY } else { d }).collect();
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&a, &b| distance[a].total_cmp(&distance[b])); // stable: ties keep neighbour order
        let survivors = &order[..stage1_count(self.rho, k)];

        let candidates: Vec<&Model> = std::iter::once(local).chain(survivors.iter().map(|&j| rows[j])).collect();
        let count = candidates.len();
        let losses = env.evaluate_loss(&candidates).map_err(|e| {
            format!("MOZI needs the loss of candidate models on node {}'s local batch, but evaluate_loss failed: {e}", ctx.node)
        })?;
        if losses.len() != count {
            return Err(format!("evaluate_loss returned {} losses for {count} candidates", losses.len()));
        }
        let own_loss = losses[0];
        let kept: Vec<usize> = survivors.iter().zip(&losses[1..]).filter(|(_, &l)| l <= own_loss).map(|(&j, _)| j).collect();
        if kept.is_empty() {
            return Ok(local.share());
        }
        let share = (1.0 - self.alpha) / kept.len() as f32;
        let kept_rows: Vec<&Model> = kept.iter().map(|&j| rows[j]).collect();
        ops::combine(local, self.alpha, &kept_rows, &vec![share; kept.len()])
    }
}

byz_policy_sdk::export_defense!(Mozi);

#[cfg(test)]
mod tests;
