//! Inverse of the standard normal CDF, Φ⁻¹(p), by Acklam's rational approximation
//! (P. J. Acklam, 2003): relative error below 1.15e-9 over (0, 1), no special functions,
//! so it compiles to plain wasm. Rust's std has no erf/erfc to refine it further, and
//! ALIE needs far less precision than that. The coefficients are Acklam's, digit for digit.
#![allow(clippy::excessive_precision)]

const A: [f64; 6] = [
    -3.969683028665376e+01,
    2.209460984245205e+02,
    -2.759285104469687e+02,
    1.383577518672690e+02,
    -3.066479806614716e+01,
    2.506628277459239e+00,
];
const B: [f64; 5] = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
const C: [f64; 6] = [
    -7.784894002430293e-03,
    -3.223964580411365e-01,
    -2.400758277161838e+00,
    -2.549732539343734e+00,
    4.374664141464968e+00,
    2.938163982698783e+00,
];
const D: [f64; 4] = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];

/// Below this (and above 1 − this) the tail formula is used.
const P_LOW: f64 = 0.02425;

/// Φ⁻¹(p) for p in (0, 1); −∞ at 0, +∞ at 1, NaN outside [0, 1].
pub fn inverse_cdf(p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_tabulated_quantiles_in_the_centre_and_both_tails() {
        // Reference quantiles of N(0, 1) (standard tables / scipy.stats.norm.ppf).
        let cases = [
            (0.5, 0.0),
            (0.975, 1.959963985),
            (0.68, 0.467698799),
            (0.8, 0.841621234),
            (0.01, -2.326347874),
            (0.999, 3.090232306),
            (1e-6, -4.753424309),
        ];
        for (p, want) in cases {
            let got = inverse_cdf(p);
            assert!((got - want).abs() < 1e-8 * want.abs().max(1.0), "Φ⁻¹({p}) = {got}, want {want}");
        }
    }

    #[test]
    fn is_antisymmetric_and_handles_the_ends() {
        for p in [0.001, 0.02, 0.1, 0.3] {
            assert!((inverse_cdf(p) + inverse_cdf(1.0 - p)).abs() < 1e-8);
        }
        assert_eq!(inverse_cdf(0.0), f64::NEG_INFINITY);
        assert_eq!(inverse_cdf(1.0), f64::INFINITY);
        assert!(inverse_cdf(1.5).is_nan());
    }
}
