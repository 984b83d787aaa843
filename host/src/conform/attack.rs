//! Properties of attacks, checked through `craft` on fresh instances (except
//! `stateless-honest`, which is about one instance's history). The sandbox's own checks of
//! `craft` (one row per Byzantine node when broadcasting, per (node, receiver) pair
//! otherwise; every value finite) are what `output-shape` exercises.

use std::time::Instant;

use super::inputs::{AttackCase, PAPER_DIM};
use super::{first_bit_difference, history, CheckResult, Failure, Probe, Verdict};
use crate::policy::Crafted;
use crate::sandbox::AttackInstance;

/// (regular m, Byzantine b, d, edge probability) from the smallest up; partial adjacency
/// makes a per-receiver layout differ from b × m.
const LADDER: &[(usize, usize, usize, f64)] = &[(1, 1, 1, 1.0), (3, 2, 4, 0.6), (10, 3, 64, 0.6), (30, 3, 4096, 1.0)];

/// `bounded-cost` settings (regular m, Byzantine b, edge probability) on the paper's CNN:
/// its default graph (n = 50, b = 0.2·n, p = 0.6) and its largest (n = 300, b = 60,
/// p = 0.6: each Byzantine node reaches about 144 of the 240 regular nodes).
const COST_SETTINGS: &[(usize, usize, f64)] = &[(40, 10, 0.6), (240, 60, 0.6)];

fn seed_of(m: usize, b: usize, dim: usize) -> u64 {
    (m as u64) << 40 | (b as u64) << 32 | dim as u64
}

pub fn output_shape(probe: &Probe) -> CheckResult {
    on_ladder(|m, b, d, p| craft_fresh(probe, &AttackCase::near(m, b, d, p, 0, seed_of(m, b, d))).map(drop))
}

pub fn deterministic(probe: &Probe) -> CheckResult {
    on_ladder(|m, b, d, p| deterministic_at(probe, m, b, d, p))
}

pub fn stateless_honest(probe: &Probe) -> CheckResult {
    on_ladder(|m, b, d, p| stateless_honest_at(probe, m, b, d, p))
}

fn on_ladder(mut f: impl FnMut(usize, usize, usize, f64) -> Result<(), Failure>) -> CheckResult {
    for &(m, b, d, p) in LADDER {
        f(m, b, d, p)?;
    }
    let sizes: Vec<String> = LADDER.iter().map(|(m, b, d, _)| format!("m {m}, b {b}, d {d}")).collect();
    Ok(Verdict::Checked(sizes.join("; ")))
}

fn craft(inst: &mut AttackInstance, case: &AttackCase) -> Result<Crafted, Failure> {
    inst.craft(&case.ctx, &case.honest).map_err(|e| Failure::call(e, Some(case.describe())))
}

fn craft_fresh(probe: &Probe, case: &AttackCase) -> Result<Crafted, Failure> {
    craft(&mut probe.attack(case.ctx.seed)?, case)
}

/// How attack calls are made and compared, for [`history`].
struct AttackCalls<'a, 'p>(&'a Probe<'p>);

impl history::Calls for AttackCalls<'_, '_> {
    type Instance = AttackInstance;
    type Case = AttackCase;
    type Output = Crafted;
    fn fresh(&self, seed: u64) -> Result<AttackInstance, Failure> {
        self.0.attack(seed)
    }
    fn call(&self, instance: &mut AttackInstance, case: &AttackCase) -> Result<Crafted, Failure> {
        craft(instance, case)
    }
    fn difference(&self, a: &Crafted, b: &Crafted) -> Option<String> {
        if a.mode != b.mode {
            return Some(format!("send modes differ: {:?} vs {:?}", a.mode, b.mode));
        }
        first_bit_difference(&a.vectors, &b.vectors)
    }
    fn describe(&self, case: &AttackCase) -> String {
        case.describe()
    }
}

fn deterministic_at(probe: &Probe, m: usize, b: usize, d: usize, p: f64) -> Result<(), Failure> {
    let seed = seed_of(m, b, d);
    let calls = [AttackCase::near(m, b, d, p, 0, seed), AttackCase::near(m, b, d, p, 1, seed + 1)];
    history::deterministic(&AttackCalls(probe), seed, &calls)
}

pub fn bounded_cost(probe: &Probe) -> CheckResult {
    let mut timings = Vec::new();
    for &(m, b, p) in COST_SETTINGS {
        let case = AttackCase::near(m, b, PAPER_DIM, p, 0, seed_of(m, b, PAPER_DIM));
        let mut inst = probe.attack(case.ctx.seed)?;
        let started = Instant::now();
        craft(&mut inst, &case)?;
        timings.push(format!("m = {m}, b = {b}: {:.2} s", started.elapsed().as_secs_f64()));
    }
    Ok(Verdict::Checked(format!("d = {PAPER_DIM}, {}", timings.join(", "))))
}

fn stateless_honest_at(probe: &Probe, m: usize, b: usize, d: usize, p: f64) -> Result<(), Failure> {
    let seed = seed_of(m, b, d);
    let (a, other) = (AttackCase::near(m, b, d, p, 0, seed), AttackCase::near(m, b, d, p, 1, seed + 7));
    history::stateless_honest(&AttackCalls(probe), seed, &a, &other)
}
