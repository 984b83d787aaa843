//! A tiny seeded random generator for policies that must be reproducible from a seed
//! alone (attacks get `ctx.seed`, not a host stream they could share with other calls).
//!
//! SplitMix64 (Steele, Lea & Flood 2014) for the integers: one u64 of state, passes
//! BigCrush, and needs no dependency, so it compiles for `wasm32-unknown-unknown` without
//! `getrandom`. Normal deviates come from the Box–Muller transform, both halves used.

/// Seeded SplitMix64 stream with a standard-normal sampler.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
    /// The second deviate of the last Box–Muller pair, not yet returned.
    spare: Option<f64>,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed, spare: None }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal deviate, N(0, 1).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        // 1 − U lies in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u2;
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // First outputs of the reference C implementation seeded with 1234567.
        let mut g = SplitMix64::new(1234567);
        assert_eq!(g.next_u64(), 6457827717110365317);
        assert_eq!(g.next_u64(), 3203168211198807973);
        assert_eq!(g.next_u64(), 9817491932198370423);
    }

    #[test]
    fn same_seed_same_stream_and_different_seed_different_stream() {
        let a: Vec<f64> = {
            let mut g = SplitMix64::new(7);
            (0..5).map(|_| g.normal()).collect()
        };
        let b: Vec<f64> = {
            let mut g = SplitMix64::new(7);
            (0..5).map(|_| g.normal()).collect()
        };
        let c = SplitMix64::new(8).normal();
        assert_eq!(a, b);
        assert_ne!(a[0], c);
    }

    #[test]
    fn uniform_and_normal_moments_are_right() {
        let mut g = SplitMix64::new(42);
        let n = 200_000;
        let u: Vec<f64> = (0..n).map(|_| g.next_f64()).collect();
        assert!(u.iter().all(|&x| (0.0..1.0).contains(&x)));
        let mean_u = u.iter().sum::<f64>() / n as f64;
        assert!((mean_u - 0.5).abs() < 0.005, "{mean_u}");
        let z: Vec<f64> = (0..n).map(|_| g.normal()).collect();
        let mean = z.iter().sum::<f64>() / n as f64;
        let var = z.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        // Standard errors: 1/sqrt(n) ≈ 0.0022 for the mean, sqrt(2/n) ≈ 0.0032 for the variance.
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.015, "{var}");
    }
}
