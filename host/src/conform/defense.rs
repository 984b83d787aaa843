//! Properties of defenses, checked through `aggregate` on fresh instances (except
//! `stateless-honest`, which is about one instance's history).
//!
//! Exact properties (determinism, statelessness) compare outputs bit for bit. Properties
//! that a correct rule satisfies only up to float rounding (identity on agreement, order
//! independence) allow `TOLERANCE` relative error: summing k + 1 values of magnitude ≤ 1
//! in another order moves the result by at most about k · 2⁻²⁴ ≈ 2·10⁻⁶ at k = 30, while
//! the violations these properties are about (a shrink, a positional weight) are orders of
//! magnitude larger.

use std::time::Instant;

use super::inputs::{DefenseCase, PAPER_DIM};
use super::{first_bit_difference, history, CheckResult, Failure, Probe, Verdict};
use crate::sandbox::{DefenseInstance, FaultKind};

/// Relative tolerance of `identity-on-agreement` and `order-independent`:
/// |a − b| ≤ TOLERANCE · max(1, |a|, |b|) per coordinate.
pub const TOLERANCE: f32 = 1e-5;

/// (k, d) sizes tried from the smallest up, so a failure is reported on the smallest input
/// that shows it; the last is a realistic neighbourhood on a mid-sized model. k starts at
/// 3, the fewest neighbours a trimming rule with its usual b = 1 needs (2b + 1).
const LADDER: &[(usize, usize)] = &[(3, 1), (4, 4), (5, 16), (10, 256), (30, 4096)];

/// The neighbourhood sizes of `bounded-cost`: the paper's usual k = 30 and its largest
/// setting (n = 300, p = 0.6 → k ≈ 180), both on the paper's CNN.
pub const COST_SIZES: &[usize] = &[30, 180];

fn seed_of(k: usize, dim: usize) -> u64 {
    (k as u64) << 32 | dim as u64
}

pub fn output_shape(probe: &Probe) -> CheckResult {
    on_ladder(|k, d| aggregate_fresh(probe, &DefenseCase::near(k, d, 0, seed_of(k, d))).map(drop))
}

pub fn deterministic(probe: &Probe) -> CheckResult {
    on_ladder(|k, d| deterministic_at(probe, k, d))
}

pub fn identity_on_agreement(probe: &Probe) -> CheckResult {
    on_ladder(|k, d| identity_on_agreement_at(probe, k, d))
}

pub fn order_independent(probe: &Probe) -> CheckResult {
    on_ladder(|k, d| order_independent_at(probe, k, d))
}

pub fn stateless_honest(probe: &Probe) -> CheckResult {
    on_ladder(|k, d| stateless_honest_at(probe, k, d))
}

/// Runs `f` on every ladder size, stopping at the first failure.
fn on_ladder(mut f: impl FnMut(usize, usize) -> Result<(), Failure>) -> CheckResult {
    for &(k, d) in LADDER {
        f(k, d)?;
    }
    let sizes: Vec<String> = LADDER.iter().map(|(k, d)| format!("{k}x{d}")).collect();
    Ok(Verdict::Checked(format!("k x d = {}", sizes.join(", "))))
}

fn aggregate(inst: &mut DefenseInstance, case: &DefenseCase) -> Result<Vec<f32>, Failure> {
    inst.aggregate(&case.ctx, &case.prev, &case.local, &case.received).map_err(|e| Failure::call(e, Some(case.describe())))
}

fn aggregate_fresh(probe: &Probe, case: &DefenseCase) -> Result<Vec<f32>, Failure> {
    aggregate(&mut probe.defense(case.ctx.seed)?, case)
}

/// The first coordinate where `got` and `want` differ by more than [`TOLERANCE`].
fn first_far(got: &[f32], want: &[f32]) -> Option<String> {
    got.iter().zip(want).enumerate().find_map(|(i, (&g, &w))| {
        let bound = TOLERANCE * 1f32.max(g.abs()).max(w.abs());
        ((g - w).abs() > bound || !g.is_finite()).then(|| format!("index {i}: {g:e} vs {w:e} (|diff| {:e} > {bound:e})", (g - w).abs()))
    })
}

/// How defense calls are made and compared, for [`history`].
struct DefenseCalls<'a, 'p>(&'a Probe<'p>);

impl history::Calls for DefenseCalls<'_, '_> {
    type Instance = DefenseInstance;
    type Case = DefenseCase;
    type Output = Vec<f32>;
    fn fresh(&self, seed: u64) -> Result<DefenseInstance, Failure> {
        self.0.defense(seed)
    }
    fn call(&self, instance: &mut DefenseInstance, case: &DefenseCase) -> Result<Vec<f32>, Failure> {
        aggregate(instance, case)
    }
    fn difference(&self, a: &Vec<f32>, b: &Vec<f32>) -> Option<String> {
        first_bit_difference(a, b)
    }
    fn describe(&self, case: &DefenseCase) -> String {
        case.describe()
    }
}

fn deterministic_at(probe: &Probe, k: usize, d: usize) -> Result<(), Failure> {
    let calls = [DefenseCase::near(k, d, 0, seed_of(k, d)), DefenseCase::near(k, d, 1, seed_of(k, d) + 1)];
    history::deterministic(&DefenseCalls(probe), seed_of(k, d), &calls)
}

fn identity_on_agreement_at(probe: &Probe, k: usize, d: usize) -> Result<(), Failure> {
    let case = DefenseCase::agreement(k, d, seed_of(k, d));
    let out = aggregate_fresh(probe, &case)?;
    match first_far(&out, &case.local) {
        None => Ok(()),
        Some(diff) => Err(Failure::new(format!("the output is not the agreed model: {diff}"), Some(case.describe()))),
    }
}

fn order_independent_at(probe: &Probe, k: usize, d: usize) -> Result<(), Failure> {
    let case = DefenseCase::near(k, d, 0, seed_of(k, d));
    let reference = aggregate_fresh(probe, &case)?;
    // The reverse order and a rotation by one between them move every row.
    let orders = [(0..k).rev().collect::<Vec<_>>(), (1..k).chain([0]).collect()];
    for order in orders {
        let out = aggregate_fresh(probe, &case.permuted(&order))?;
        if let Some(diff) = first_far(&out, &reference) {
            let input = format!("{}; permutation {order:?}", case.describe());
            return Err(Failure::new(format!("permuting the received models changed the output at {diff}"), Some(input)));
        }
    }
    Ok(())
}

pub fn no_neighbors(probe: &Probe) -> CheckResult {
    for d in [1, 16, 4096] {
        aggregate_fresh(probe, &DefenseCase::near(0, d, 0, seed_of(0, d)))?;
    }
    Ok(Verdict::Checked("k = 0 at d = 1, 16, 4096".into()))
}

pub fn rejects_malformed(probe: &Probe) -> CheckResult {
    let case = DefenseCase::near(3, 4, 0, seed_of(3, 4));
    let mut short_received = case.clone();
    short_received.received.pop();
    let mut short_prev = case.clone();
    short_prev.prev.pop();
    for (what, bad) in [("received has 11 values for 3 neighbours x 4", short_received), ("prev has 3 values, dim is 4", short_prev)] {
        let input = Some(format!("{what}; {}", bad.describe()));
        match probe.defense(bad.ctx.seed)?.aggregate(&bad.ctx, &bad.prev, &bad.local, &bad.received) {
            Err(e) if matches!(e.kind, FaultKind::Rejected(_)) => {}
            Err(e) => return Err(Failure::call(e, input)),
            Ok(_) => return Err(Failure::new("malformed input was accepted; `aggregate` must return `err`", input)),
        }
    }
    Ok(Verdict::Checked("short received and short prev are both refused".into()))
}

pub fn bounded_cost(probe: &Probe) -> CheckResult {
    let mut timings = Vec::new();
    for &k in COST_SIZES {
        let case = DefenseCase::near(k, PAPER_DIM, 0, seed_of(k, PAPER_DIM));
        let mut inst = probe.defense(case.ctx.seed)?;
        let started = Instant::now();
        aggregate(&mut inst, &case)?;
        timings.push(format!("k = {k}: {:.2} s", started.elapsed().as_secs_f64()));
    }
    Ok(Verdict::Checked(format!("d = {PAPER_DIM}, {}", timings.join(", "))))
}

fn stateless_honest_at(probe: &Probe, k: usize, d: usize) -> Result<(), Failure> {
    let (a, b) = (DefenseCase::near(k, d, 0, seed_of(k, d)), DefenseCase::near(k, d, 1, seed_of(k, d) + 7));
    history::stateless_honest(&DefenseCalls(probe), seed_of(k, d), &a, &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_within_tolerance_and_a_shrink_is_not() {
        let x = [0.3f32, -0.45, 1e-3];
        let rounded: Vec<f32> = x.iter().map(|v| v * (1.0 + 4e-7)).collect();
        assert_eq!(first_far(&rounded, &x), None);
        let shrunk: Vec<f32> = x.iter().map(|v| v * 0.999).collect();
        assert!(first_far(&shrunk, &x).unwrap().starts_with("index 0"));
        assert!(first_far(&[f32::NAN], &[0.0]).is_some());
    }
}
