//! Similarity reweighting of cross-update vectors — the method of "Byzantine-Resilient
//! Decentralized Collaborative Learning" (Section 3, Eq. 5–8, Algorithm 1).
//!
//! For node i with start-of-round model x_i^t (`prev`) and fresh model x_i^{t+1} (`local`):
//!
//! - Δ_ji = x_j^{t+1} − x_i^t for every j ∈ N_i ∪ {i} (Eq. 5; x_j^{t+1} are the received rows);
//! - ω_ji,1 = softmax_j(−c·KL(p_j‖q_i)), p_j and q_i the sign distributions (fractions of
//!   +, 0, − coordinates) of Δ_ji and Δ_ii, the softmax over N_i ∪ {i} (Eq. 6–7);
//! - ω_ji,2 = max(0, Δ_ji·Δ_ii / (‖Δ_ji‖‖Δ_ii‖)) (Eq. 8 — the paper prints ‖Δ_ii‖‖Δ_ii‖);
//! - Δ̄_ji = Δ_ji · min(1, ‖Δ_ii‖/‖Δ_ji‖), and x_i ← x_i^t + Σ ω_ji Δ̄_ji / Σ ω_ji.
//!
//! The rule never knows which neighbours are honest: every received row is weighed the
//! same way. Two passes over the data, both blocked by columns so that prev, Δ_ii and the
//! output stay in L1 ([`kernels::cross_stats_rows`]: Δ·Δ_ii, ‖Δ‖² and sign counts of every
//! row with no Δ written; then [`kernels::combine`]), using
//! x_i^t + Σ a_j (x_j − x_i^t) = (1 − Σ a_j)·x_i^t + Σ a_j x_j.
//!
//! Edge cases: no neighbours → `local`; all weights zero (only when Δ_ii = 0 with the
//! cosine factor on, since the own row otherwise has cosine 1) → `local`, with a debug
//! log line; a neighbour with non-finite statistics → weight 0; zero probabilities in
//! the KL → [`weights::SMOOTHING`].

pub mod weights;

use byz_policy_sdk::kernels::CrossStats;
use byz_policy_sdk::{check_defense_shapes, ops, Context, Defense, Env, Info, LogLevel, Model, ParamSpec, Params, PolicyKind};
use weights::Factors;

pub struct SimReweight {
    factors: Factors,
}

impl Default for SimReweight {
    fn default() -> Self {
        SimReweight { factors: Factors { c: 5.0, use_kl: true, use_cos: true, clip: true } }
    }
}

impl Defense for SimReweight {
    fn info() -> Info {
        Info {
            name: "sim-reweight".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PolicyKind::Defense,
            description: "Similarity reweighting (the paper's method): cross-update vectors x_j - x_i^t weighted by \
                          softmax(-c KL of sign distributions) x ReLU(cosine with the node's own update), clipped to \
                          the own update's norm, averaged."
                .into(),
            params: vec![
                ParamSpec::float("c", 5.0, "softmax temperature of -c*KL(p_j||q_i), Eq. (7); c >= 0"),
                ParamSpec::boolean("use-kl", true, "weight by the sign-distribution KL softmax, Eq. (7); off = factor 1"),
                ParamSpec::boolean("use-cos", true, "weight by ReLU(cosine) with the own update, Eq. (8); off = factor 1"),
                ParamSpec::boolean("clip", true, "clip each update to the norm of the own update (Alg. 1, line 10)"),
            ],
            stateless: true,
            opt_outs: vec![],
        }
    }

    fn configure(&mut self, params: &Params) -> Result<(), String> {
        self.factors = Factors {
            c: params.non_negative_float("c")?,
            use_kl: params.boolean("use-kl"),
            use_cos: params.boolean("use-cos"),
            clip: params.boolean("clip"),
        };
        Ok(())
    }

    fn aggregate(&mut self, ctx: &Context, prev: &Model, local: &Model, received: &[Model], env: &mut dyn Env) -> Result<Model, String> {
        let k = check_defense_shapes(ctx, prev, local, received)?;
        if k == 0 || ctx.dim == 0 {
            return Ok(local.share());
        }
        // Δ_ii = local − prev (1·local + (−1)·prev: the same bits as a subtraction).
        let reference = ops::combine(local, 1.0, &[prev], &[-1.0])?;
        // Row 0 is the node itself (Δ_ii against itself), rows 1..=k the neighbours.
        let rows: Vec<&Model> = std::iter::once(local).chain(received).collect();
        let stats: Vec<CrossStats> = ops::cross_stats(&rows, prev, &reference)?;
        if !stats[0].norm_sq.is_finite() {
            return Err(format!("the node's own update local - prev is not finite (|Δ_ii|² = {})", stats[0].norm_sq));
        }
        let omega = weights::similarity_weights(&stats, self.factors);
        let clip = weights::clip_factors(&stats, self.factors.clip);
        let total: f64 = omega.iter().sum();
        if !(total > 0.0 && total.is_finite()) {
            env.log(
                LogLevel::Debug,
                &format!("all {} similarity weights are zero (|Δ_ii|² = {}); keeping the local model", k + 1, stats[0].norm_sq),
            );
            return Ok(local.share());
        }
        // x_i^t + Σ a_j Δ_ji = (1 − Σ a_j)·x_i^t + Σ a_j x_j with a_j = ω_j·clip_j / Σ ω.
        let coefs: Vec<f32> = omega.iter().zip(&clip).map(|(w, s)| (w * s / total) as f32).collect();
        let own_share = 1.0 - coefs.iter().sum::<f32>();
        // Rows with coefficient 0 are never read: a rejected row holding non-finite
        // values cannot poison the result through 0·∞.
        ops::combine(prev, own_share, &rows, &coefs)
    }
}

byz_policy_sdk::export_defense!(SimReweight);

#[cfg(test)]
mod tests;
