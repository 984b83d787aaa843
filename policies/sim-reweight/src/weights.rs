//! The weights of Eq. (6)–(8) and the clipping factors of Algorithm 1, line 10, computed
//! from per-row statistics alone ([`CrossStats`]), so the caller never materializes a Δ.

use byz_policy_sdk::kernels::CrossStats;

/// Added to each of the three sign probabilities before renormalizing, so that
/// KL(p‖q) stays finite when q has a zero where p has mass. With no zero coordinates in
/// Δ_ii, a neighbour whose Δ has a fraction f of zeros pays about f·ln(f/ε) nats.
pub const SMOOTHING: f64 = 1e-6;

/// Which factors of the similarity are on (the paper's ablation, Table 1).
#[derive(Clone, Copy, Debug)]
pub struct Factors {
    /// Temperature of the softmax of −c·KL, Eq. (7).
    pub c: f64,
    /// Eq. (7) on; off means the KL factor is 1 for every row.
    pub use_kl: bool,
    /// Eq. (8) on; off means the cosine factor is 1 for every row.
    pub use_cos: bool,
    /// Algorithm 1, line 10 on.
    pub clip: bool,
}

/// Sign distribution of a row with [`SMOOTHING`] applied: (f + ε) / (1 + 3ε).
pub fn smoothed(stats: &CrossStats) -> [f64; 3] {
    stats.sign_fractions().map(|f| (f + SMOOTHING) / (1.0 + 3.0 * SMOOTHING))
}

/// KL(p‖q) of two smoothed distributions, Eq. (6).
pub fn kl(p: &[f64; 3], q: &[f64; 3]) -> f64 {
    p.iter().zip(q).map(|(pi, qi)| pi * (pi / qi).ln()).sum()
}

/// Numerically stable softmax: the maximum logit is subtracted before exponentiating,
/// so the largest term is exactly 1 and nothing overflows.
pub fn softmax(logits: &[f64]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / total).collect()
}

/// A row whose statistics overflowed f32 (non-finite values in it, or a norm beyond
/// ~1.8e19) cannot be compared with the reference; it gets weight 0.
fn usable(s: &CrossStats) -> bool {
    s.dot.is_finite() && s.norm_sq.is_finite()
}

/// Weight ω_j = softmax_j(−c·KL(p_j‖q_i)) · max(0, cos(Δ_ji, Δ_ii)) of every row.
/// `rows[0]` must be the node's own Δ_ii (its statistics against itself), the rest the
/// neighbours'; the softmax runs over all of them, j ∈ N_i ∪ {i}.
pub fn similarity_weights(rows: &[CrossStats], f: Factors) -> Vec<f64> {
    let own = &rows[0];
    let kl_factor: Vec<f64> = if f.use_kl {
        let q = smoothed(own);
        // An unusable row gets logit −∞ (weight 0) so it cannot shift the softmax.
        let logits: Vec<f64> = rows.iter().map(|s| if usable(s) { -f.c * kl(&smoothed(s), &q) } else { f64::NEG_INFINITY }).collect();
        softmax(&logits)
    } else {
        vec![1.0; rows.len()]
    };
    let own_norm = (own.norm_sq as f64).sqrt();
    rows.iter()
        .zip(kl_factor)
        .map(|(s, w_kl)| {
            if !usable(s) {
                return 0.0;
            }
            let w_cos = if f.use_cos {
                let denom = (s.norm_sq as f64).sqrt() * own_norm;
                // A zero vector on either side has no direction: cosine 0, as in the SDK.
                if denom > 0.0 {
                    (s.dot as f64 / denom).max(0.0)
                } else {
                    0.0
                }
            } else {
                1.0
            };
            w_kl * w_cos
        })
        .collect()
}

/// Clipping factor min(1, ‖Δ_ii‖ / ‖Δ_ji‖) of every row (1 when clipping is off or Δ_ji = 0).
pub fn clip_factors(rows: &[CrossStats], clip: bool) -> Vec<f64> {
    let own_sq = rows[0].norm_sq as f64;
    rows.iter()
        .map(|s| {
            let sq = s.norm_sq as f64;
            if clip && sq > own_sq {
                (own_sq / sq).sqrt()
            } else {
                1.0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_of_equal_distributions_is_zero_and_smoothing_keeps_it_finite() {
        let a = CrossStats { pos: 3, neg: 2, len: 5, ..Default::default() };
        assert_eq!(kl(&smoothed(&a), &smoothed(&a)), 0.0);
        // q = all positive; p = 3 positive, 2 zero. Without smoothing KL would be ∞.
        let q = smoothed(&CrossStats { pos: 5, len: 5, ..Default::default() });
        let p = smoothed(&CrossStats { pos: 3, len: 5, ..Default::default() });
        let e = SMOOTHING;
        let hand = (0.6 + e) / (1.0 + 3.0 * e) * ((0.6 + e) / (1.0 + e)).ln() + (0.4 + e) / (1.0 + 3.0 * e) * ((0.4 + e) / e).ln();
        assert!((kl(&p, &q) - hand).abs() < 1e-12);
        // ≈ 0.6 ln 0.6 + 0.4 ln 400001 = −0.3065 + 5.1597 = 4.8532.
        assert!((kl(&p, &q) - 4.8532).abs() < 1e-3, "{}", kl(&p, &q));
    }

    #[test]
    fn softmax_is_stable_for_huge_logits() {
        let w = softmax(&[1000.0, 1000.0 + 2f64.ln(), f64::NEG_INFINITY]);
        assert!((w[0] - 1.0 / 3.0).abs() < 1e-12 && (w[1] - 2.0 / 3.0).abs() < 1e-12 && w[2] == 0.0);
    }

    #[test]
    fn non_finite_rows_get_zero_weight_without_disturbing_the_others() {
        let own = CrossStats { dot: 4.0, norm_sq: 4.0, pos: 1, neg: 0, len: 1 };
        let bad = CrossStats { dot: f32::NAN, norm_sq: f32::INFINITY, pos: 0, neg: 0, len: 1 };
        let f = Factors { c: 5.0, use_kl: true, use_cos: true, clip: true };
        let w = similarity_weights(&[own, bad, own], f);
        assert_eq!(w, vec![0.5, 0.0, 0.5]);
    }
}
