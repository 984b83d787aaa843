//! Hand-computed cases on 3 neighbours × 5 coordinates.
//!
//! The main case: Δ_ii = δ = (2, −1, 0, 1, 2), so q = (0.6, 0.2, 0.2) and ‖δ‖² = 10;
//! neighbours Δ_1 = (1, 1, 1, 1, 1), Δ_2 = 2δ, Δ_3 = −δ. Then
//! KL(p_1‖q) = ln(1/0.6) → softmax factor 0.6^5 (relative to the own row's 1), cos = 4/√50;
//! KL(p_2‖q) = 0, cos 1, clipped by ½ back to δ; KL(p_3‖q) = 0.4 ln 3 → factor 3^−2, cos −1 → 0.
//! The softmax denominator cancels in Σ ω Δ̄ / Σ ω, so the relative factors suffice.

use super::*;
use byz_policy_sdk::{FlatDefense, NativeEnv, ParamValue};

const PREV: [f32; 5] = [0.5, -1.0, 2.0, 0.25, 1.0];
const DELTA: [f32; 5] = [2.0, -1.0, 0.0, 1.0, 2.0];
const ONES: [f32; 5] = [1.0; 5];

fn plus(base: &[f32], d: &[f32], s: f32) -> Vec<f32> {
    base.iter().zip(d).map(|(b, x)| b + s * x).collect()
}

/// prev, local = prev + δ, received = prev + (Δ_1, Δ_2, Δ_3).
fn inputs() -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let local = plus(&PREV, &DELTA, 1.0);
    let mut received = plus(&PREV, &ONES, 1.0);
    received.extend(plus(&PREV, &DELTA, 2.0));
    received.extend(plus(&PREV, &DELTA, -1.0));
    (PREV.to_vec(), local, received)
}

fn ctx(k: usize) -> Context {
    Context { neighbors: (1..=k as u32).collect(), neighbor_degrees: vec![k as u32; k], dim: 5, ..Default::default() }
}

fn configured(params: &[(&str, ParamValue)]) -> SimReweight {
    let given = params.iter().map(|(n, v)| (n.to_string(), v.clone())).collect();
    let mut d = SimReweight::default();
    d.configure(&Params::resolve(&SimReweight::info().params, given).unwrap()).unwrap();
    d
}

fn run(d: &mut SimReweight, prev: &[f32], local: &[f32], received: &[f32]) -> Vec<f32> {
    d.aggregate_flat(&ctx(received.len() / 5), prev, local, received, &mut NativeEnv::new(0)).unwrap()
}

/// prev + (Σ w_j Δ_j) / Σ w_j over (weight, Δ) pairs.
fn expected(terms: &[(f64, Vec<f32>)]) -> Vec<f32> {
    let total: f64 = terms.iter().map(|(w, _)| w).sum();
    (0..5).map(|c| PREV[c] + (terms.iter().map(|(w, d)| w * d[c] as f64).sum::<f64>() / total) as f32).collect()
}

fn assert_close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 2e-5, "got {got:?}, want {want:?}");
    }
}

const KL1_FACTOR: f64 = 0.07776; // 0.6^5 = exp(−5 ln(1/0.6))
const KL3_FACTOR: f64 = 1.0 / 9.0; // exp(−5 · 0.4 ln 3)
fn cos1() -> f64 {
    4.0 / 50f64.sqrt()
}

#[test]
fn full_method_weights_by_kl_and_cosine_and_clips() {
    let (p, l, r) = inputs();
    let out = run(&mut SimReweight::default(), &p, &l, &r);
    let d = DELTA.to_vec();
    // own δ (weight 1), Δ_1 (0.6^5 · 4/√50), Δ_2 clipped to δ (1), Δ_3 (0).
    assert_close(&out, &expected(&[(1.0, d.clone()), (KL1_FACTOR * cos1(), ONES.to_vec()), (1.0, d)]));
    // Coordinate 0 by hand: (4 + 0.043988) / 2.043988.
    assert!((out[0] - (PREV[0] + 1.978477)).abs() < 2e-5, "{out:?}");
}

#[test]
fn without_kl_only_the_cosine_weights() {
    let (p, l, r) = inputs();
    let out = run(&mut configured(&[("use-kl", ParamValue::Boolean(false))]), &p, &l, &r);
    let d = DELTA.to_vec();
    assert_close(&out, &expected(&[(1.0, d.clone()), (cos1(), ONES.to_vec()), (1.0, d)]));
}

#[test]
fn without_cosine_only_the_kl_softmax_weights_and_the_reversed_update_counts() {
    let (p, l, r) = inputs();
    let out = run(&mut configured(&[("use-cos", ParamValue::Boolean(false))]), &p, &l, &r);
    let d = DELTA.to_vec();
    let neg: Vec<f32> = DELTA.iter().map(|x| -x).collect();
    // Δ_3 = −δ has the same norm as δ: not clipped.
    let want = expected(&[(1.0, d.clone()), (KL1_FACTOR, ONES.to_vec()), (1.0, d), (KL3_FACTOR, neg)]);
    assert_close(&out, &want);
}

#[test]
fn without_clipping_the_long_update_keeps_its_norm() {
    let (p, l, r) = inputs();
    let out = run(&mut configured(&[("clip", ParamValue::Boolean(false))]), &p, &l, &r);
    let two_d: Vec<f32> = DELTA.iter().map(|x| 2.0 * x).collect();
    let want = expected(&[(1.0, DELTA.to_vec()), (KL1_FACTOR * cos1(), ONES.to_vec()), (1.0, two_d)]);
    assert_close(&out, &want);
}

#[test]
fn with_every_factor_off_it_is_the_plain_mean_of_local_and_received() {
    let (p, l, r) = inputs();
    let off = ParamValue::Boolean(false);
    let mut d = configured(&[("use-kl", off.clone()), ("use-cos", off.clone()), ("clip", off)]);
    let out = run(&mut d, &p, &l, &r);
    let mean: Vec<f32> = (0..5).map(|c| (l[c] + r[c] + r[5 + c] + r[10 + c]) / 4.0).collect();
    assert_close(&out, &mean);
}

#[test]
fn zero_probabilities_are_smoothed_not_infinite() {
    // δ has no zero coordinate (q = (1, 0, 0)); Δ_1 has two (p = (0.6, 0.4, 0)).
    let prev = PREV.to_vec();
    let local = plus(&PREV, &ONES, 1.0);
    let received = plus(&PREV, &[1.0, 1.0, 1.0, 0.0, 0.0], 1.0);
    let out = run(&mut configured(&[("c", ParamValue::Float(0.1))]), &prev, &local, &received);
    let e = weights::SMOOTHING;
    let kl = (0.6 + e) / (1.0 + 3.0 * e) * ((0.6 + e) / (1.0 + e)).ln() + (0.4 + e) / (1.0 + 3.0 * e) * ((0.4 + e) / e).ln();
    let w = (-0.1 * kl).exp() * 3.0 / (3f64.sqrt() * 5f64.sqrt());
    assert!(w > 0.4 && w < 0.5, "{w}"); // exp(−0.1 · 4.8532) · 3/√15 ≈ 0.6155 · 0.7746 ≈ 0.4768
    assert_close(&out, &expected(&[(1.0, ONES.to_vec()), (w, vec![1.0, 1.0, 1.0, 0.0, 0.0])]));
}

/// An [`Env`] that keeps the log lines.
#[derive(Default)]
struct Recorder(Vec<(LogLevel, String)>);

impl Env for Recorder {
    fn log(&mut self, level: LogLevel, message: &str) {
        self.0.push((level, message.to_string()));
    }
    fn random_u64(&mut self) -> u64 {
        0
    }
    fn evaluate_loss(&mut self, _: &[&Model]) -> Result<Vec<f32>, String> {
        Err("unused".into())
    }
}

#[test]
fn zero_own_update_makes_all_weights_zero_and_keeps_local_with_a_debug_line() {
    let (p, _, r) = inputs();
    let mut log = Recorder::default();
    let out = SimReweight::default().aggregate_flat(&ctx(3), &p, &p, &r, &mut log).unwrap();
    assert_eq!(out, p);
    assert_eq!(log.0.len(), 1);
    assert_eq!(log.0[0].0, LogLevel::Debug);
    assert!(log.0[0].1.contains("all 4 similarity weights are zero"), "{:?}", log.0);
}

#[test]
fn zero_own_update_without_cosine_clips_everything_to_zero() {
    let (p, _, r) = inputs();
    let out = run(&mut configured(&[("use-cos", ParamValue::Boolean(false))]), &p, &p, &r);
    assert_close(&out, &p);
}

#[test]
fn only_opposed_neighbours_leave_exactly_the_local_model() {
    let (p, l, _) = inputs();
    let neg = plus(&PREV, &DELTA, -3.0);
    let out = run(&mut SimReweight::default(), &p, &l, &neg);
    assert_eq!(out, l);
}

#[test]
fn no_neighbours_returns_local() {
    let (p, l, _) = inputs();
    assert_eq!(run(&mut SimReweight::default(), &p, &l, &[]), l);
}

#[test]
fn a_non_finite_neighbour_is_ignored() {
    let (p, l, r) = inputs();
    let mut poisoned = r.clone();
    poisoned.extend([f32::NAN, 0.0, f32::INFINITY, 1.0, 2.0]);
    let d = &mut SimReweight::default();
    let clean = run(d, &p, &l, &r);
    let out = d.aggregate_flat(&ctx(4), &p, &l, &poisoned, &mut NativeEnv::new(0)).unwrap();
    assert_close(&out, &clean);
}

#[test]
fn negative_temperature_and_bad_shapes_are_errors() {
    let p = Params::resolve(&SimReweight::info().params, vec![("c".into(), ParamValue::Float(-1.0))]).unwrap();
    assert!(SimReweight::default().configure(&p).unwrap_err().contains("`c` must be >= 0"));
    let e = SimReweight::default().aggregate_flat(&ctx(2), &[0.0; 5], &[0.0; 5], &[0.0; 9], &mut NativeEnv::new(0));
    assert!(e.unwrap_err().contains("expected 2 (one per neighbour)"));
}

#[test]
fn info_declares_every_parameter_with_its_default() {
    let info = SimReweight::info();
    assert_eq!(info.name, "sim-reweight");
    let names: Vec<&str> = info.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["c", "use-kl", "use-cos", "clip"]);
    assert_eq!(info.params[0].default, ParamValue::Float(5.0));
    assert!(info.stateless);
}
