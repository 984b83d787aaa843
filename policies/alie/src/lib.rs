//! ALIE, "A Little Is Enough" (Baruch, Baruch & Goldberg, NeurIPS 2019), Algorithm 1
//! ("preventing convergence"): with n nodes of which b are Byzantine,
//!
//! s = ⌊n/2 + 1⌋ − b,  z_max = Φ⁻¹((n − s)/n),  message = μ + z_max·σ,
//!
//! μ and σ the coordinate-wise mean and population standard deviation of the regular
//! models, n = `ctx.nodes`, b = the number of Byzantine nodes in `ctx.byzantine`. The sign
//! follows the paper's listing, (p_mal)_j = μ_j + z_max·σ_j (some re-implementations use
//! μ − z·σ; for convergence prevention the direction is immaterial, the size is the point),
//! and matches the paper's own D-LIE, Eq. (4). Unlike D-LIE's fixed z, z_max is the largest
//! shift for which the Byzantine message still looks more "central" than enough honest
//! ones to sway a majority. When s ≤ 0 (the Byzantine nodes already hold a majority) or
//! (n − s)/n is not in (0, 1), z_max is undefined and the call is an error naming n and b.

pub mod normal;

use byz_policy_sdk::{check_attack_shapes, ops, Attack, AttackContext, Crafted, Env, Info, Model, PolicyKind};

#[derive(Default)]
pub struct Alie;

/// z_max of Baruch et al. for `n` nodes of which `b` are Byzantine.
pub fn z_max(n: u32, b: usize) -> Result<f64, String> {
    let s = (n as i64 / 2 + 1) - b as i64;
    let p = (n as i64 - s) as f64 / n as f64;
    if s <= 0 || !(p > 0.0 && p < 1.0) {
        return Err(format!(
            "ALIE's z_max = inv_cdf((n - s)/n) with s = floor(n/2 + 1) - b is undefined for n = {n} nodes and b = {b} \
             Byzantine nodes (s = {s}); it needs 1 <= s < n"
        ));
    }
    Ok(normal::inverse_cdf(p))
}

impl Attack for Alie {
    fn info() -> Info {
        Info {
            name: "alie".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PolicyKind::Attack,
            description: "ALIE (A Little Is Enough, Baruch et al. 2019): each Byzantine node broadcasts mean + z_max * \
                          std of the regular models, z_max = inv_cdf((n - s)/n), s = floor(n/2 + 1) - b."
                .into(),
            params: vec![],
            stateless: true,
            opt_outs: vec![],
        }
    }

    fn craft(&mut self, ctx: &AttackContext, honest: &[Model], _env: &mut dyn Env) -> Result<Crafted, String> {
        check_attack_shapes(ctx, honest)?;
        let z = z_max(ctx.nodes, ctx.byzantine.len())?;
        let message = ops::mean_plus_z_std(&honest.iter().collect::<Vec<_>>(), z as f32)?;
        Ok(Crafted::broadcast_same(ctx, message))
    }
}

byz_policy_sdk::export_attack!(Alie);

#[cfg(test)]
mod tests {
    use super::*;
    use byz_policy_sdk::{ByzantineNode, FlatAttack, NativeEnv, SendMode};

    #[test]
    fn z_max_for_the_papers_setting_and_small_cases() {
        // n = 50, b = 10: s = 26 − 10 = 16, Φ⁻¹(34/50 = 0.68) = 0.467699.
        assert!((z_max(50, 10).unwrap() - 0.467699).abs() < 1e-5);
        // n = 5, b = 2: s = 3 − 2 = 1, Φ⁻¹(0.8) = 0.841621.
        assert!((z_max(5, 2).unwrap() - 0.841621).abs() < 1e-5);
        // n = 4, b = 0: s = 3, Φ⁻¹(0.25) = −0.674490.
        assert!((z_max(4, 0).unwrap() + 0.674490).abs() < 1e-5);
    }

    #[test]
    fn a_byzantine_majority_leaves_z_max_undefined() {
        let e = z_max(5, 3).unwrap_err();
        assert!(e.contains("n = 5") && e.contains("b = 3") && e.contains("s = 0"), "{e}");
        assert!(z_max(1, 0).is_err());
    }

    #[test]
    fn broadcasts_mean_plus_z_max_stds() {
        // 3 regular + 2 Byzantine: n = 5, b = 2, z = Φ⁻¹(0.8) = 0.841621.
        // Columns {1,2,3} {0,0,0} {4,4,7} {−1,1,−3} {2,5,8}: μ = (2, 0, 5, −1, 5),
        // σ² = (2/3, 0, 2, 8/3, 6).
        let ctx = AttackContext {
            nodes: 5,
            regular: vec![0, 1, 2],
            byzantine: vec![ByzantineNode { id: 3, honest_neighbors: vec![0] }, ByzantineNode { id: 4, honest_neighbors: vec![1] }],
            dim: 5,
            ..Default::default()
        };
        let honest = [1.0, 0.0, 4.0, -1.0, 2.0, 2.0, 0.0, 4.0, 1.0, 5.0, 3.0, 0.0, 7.0, -3.0, 8.0];
        let out = Alie.craft_flat(&ctx, &honest, &mut NativeEnv::new(0)).unwrap();
        assert_eq!(out.mode, SendMode::Broadcast);
        let z = 0.841621f32;
        let row: Vec<f32> =
            [2.0f32, 0.0, 5.0, -1.0, 5.0].iter().zip([2.0f32 / 3.0, 0.0, 2.0, 8.0 / 3.0, 6.0]).map(|(m, v)| m + z * v.sqrt()).collect();
        assert_eq!(out.vectors.len(), 10);
        for (g, w) in out.vectors.iter().zip(row.iter().cycle()) {
            assert!((g - w).abs() < 1e-5, "{:?} vs {row:?}", out.vectors);
        }
        assert!(Alie.craft_flat(&ctx, &honest[..5], &mut NativeEnv::new(0)).is_err());
    }
}
