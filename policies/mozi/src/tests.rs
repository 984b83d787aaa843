//! Hand-computed cases: local = 0, neighbours r1 = e1 (distance² 1), r2 = 2·e2 (4),
//! r3 = (10, …, 10) (500); the loss is the squared distance to a target vector.

use super::*;
use byz_policy_sdk::{kernels, FlatDefense, LogLevel, NativeEnv, ParamValue};

const LOCAL: [f32; 5] = [0.0; 5];
const RECEIVED: [f32; 15] = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 10.0, 10.0, 10.0, 10.0, 10.0];

fn ctx(k: usize) -> Context {
    Context { neighbors: (1..=k as u32).collect(), dim: 5, node: 4, ..Default::default() }
}

fn configured(rho: f64, alpha: f64) -> Result<Mozi, String> {
    let given = vec![("rho".into(), ParamValue::Float(rho)), ("alpha".into(), ParamValue::Float(alpha))];
    let mut d = Mozi::default();
    d.configure(&Params::resolve(&Mozi::info().params, given).unwrap())?;
    Ok(d)
}

fn env_with_target(target: [f32; 5]) -> NativeEnv {
    let mut env = NativeEnv::new(0);
    env.loss = Some(Box::new(move |m: &[f32]| kernels::distance_sq(m, &target)));
    env
}

#[test]
fn keeps_the_closest_half_then_those_not_worse_than_own() {
    // ρ = 0.5, k = 3 → ⌈1.5⌉ = 2 survivors: r1, r2. Target e1: own loss 1, r1 0 (kept),
    // r2 1 + 4 = 5 (dropped). Result ½·0 + ½·r1.
    let out = Mozi::default().aggregate_flat(&ctx(3), &LOCAL, &LOCAL, &RECEIVED, &mut env_with_target([1.0, 0.0, 0.0, 0.0, 0.0]));
    assert_eq!(out.unwrap(), vec![0.5, 0.0, 0.0, 0.0, 0.0]);
}

#[test]
fn equal_loss_is_kept_and_alpha_weights_the_mix() {
    // Target (0.5, 1, 0, 0, 0): own 1.25, r1 0.25 + 1 = 1.25 (equal, kept), r2 0.25 + 1 = 1.25 (kept).
    let out =
        configured(0.5, 0.25).unwrap().aggregate_flat(&ctx(3), &LOCAL, &LOCAL, &RECEIVED, &mut env_with_target([0.5, 1.0, 0.0, 0.0, 0.0]));
    // 0.25·0 + 0.75·(r1 + r2)/2 = (0.375, 0.75, 0, 0, 0).
    assert_eq!(out.unwrap(), vec![0.375, 0.75, 0.0, 0.0, 0.0]);
}

#[test]
fn the_distance_filter_drops_the_far_model_even_if_its_loss_is_best() {
    // Target = r3: r3 would win on loss, but ρ = 0.5 drops it first. Losses: own 500,
    // r1 81 + 400 = 481, r2 100 + 64 + 300 = 464, both ≤ 500 → both kept.
    let out = Mozi::default().aggregate_flat(&ctx(3), &LOCAL, &LOCAL, &RECEIVED, &mut env_with_target([10.0; 5]));
    assert_eq!(out.unwrap(), vec![0.25, 0.5, 0.0, 0.0, 0.0]);
    // With ρ = 1 r3 survives stage 1 and joins: ½·0 + ½·(r1 + r2 + r3)/3.
    let out = configured(1.0, 0.5).unwrap().aggregate_flat(&ctx(3), &LOCAL, &LOCAL, &RECEIVED, &mut env_with_target([10.0; 5]));
    let want = [11.0f32, 12.0, 10.0, 10.0, 10.0].map(|s| 0.5 * s / 3.0);
    for (g, w) in out.unwrap().iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{g} vs {w}");
    }
}

#[test]
fn nothing_survives_the_loss_filter_so_local_is_kept() {
    let local = [0.0, 0.0, 0.0, 0.0, -1.0];
    let out = Mozi::default().aggregate_flat(&ctx(3), &LOCAL, &local, &RECEIVED, &mut env_with_target(local));
    assert_eq!(out.unwrap(), local);
}

/// Records every `evaluate_loss` call; losses are the candidates' first coordinates.
#[derive(Default)]
struct Recorder {
    calls: Vec<(usize, Vec<f32>)>,
}

impl Env for Recorder {
    fn log(&mut self, _: LogLevel, _: &str) {}
    fn random_u64(&mut self) -> u64 {
        0
    }
    fn evaluate_loss(&mut self, candidates: &[&Model]) -> Result<Vec<f32>, String> {
        self.calls.push((candidates.len(), candidates.iter().flat_map(|c| c.values().to_vec()).collect()));
        Ok(candidates.iter().map(|c| c[0]).collect())
    }
}

#[test]
fn survivors_and_own_model_are_evaluated_in_one_batched_call_own_first() {
    let mut env = Recorder::default();
    configured(1.0, 0.5).unwrap().aggregate_flat(&ctx(3), &LOCAL, &LOCAL, &RECEIVED, &mut env).unwrap();
    assert_eq!(env.calls.len(), 1);
    let (count, candidates) = &env.calls[0];
    assert_eq!(*count, 4);
    // Own model, then survivors nearest first: r1, r2, r3.
    let mut want = LOCAL.to_vec();
    want.extend_from_slice(&RECEIVED);
    assert_eq!(candidates, &want);
}

#[test]
fn no_neighbours_returns_local_without_evaluating() {
    // NativeEnv without a loss function errs if called.
    let local = [1.0, 2.0, 3.0, 4.0, 5.0];
    let out = Mozi::default().aggregate_flat(&ctx(0), &LOCAL, &local, &[], &mut NativeEnv::new(0));
    assert_eq!(out.unwrap(), local);
}

#[test]
fn a_failing_loss_oracle_is_an_error_that_says_so() {
    let e = Mozi::default().aggregate_flat(&ctx(3), &LOCAL, &LOCAL, &RECEIVED, &mut NativeEnv::new(0)).unwrap_err();
    assert!(e.contains("evaluate_loss failed") && e.contains("node 4") && e.contains("no loss function"), "{e}");
}

#[test]
fn stage1_rounds_up_with_a_float_tolerance() {
    assert_eq!(stage1_count(0.5, 3), 2);
    assert_eq!(stage1_count(0.1, 30), 3);
    assert_eq!(stage1_count(0.01, 5), 1);
    assert_eq!(stage1_count(1.0, 7), 7);
    assert_eq!(stage1_count(0.5, 0), 0);
}

#[test]
fn out_of_range_parameters_are_rejected_by_name() {
    assert!(configured(0.0, 0.5).err().unwrap().contains("`rho` must be in (0, 1]"));
    assert!(configured(1.5, 0.5).err().unwrap().contains("`rho`"));
    assert!(configured(0.5, -0.1).err().unwrap().contains("`alpha` must be in [0, 1]"));
    let names: Vec<String> = Mozi::info().params.into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["rho", "alpha"]);
}
