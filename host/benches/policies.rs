//! Per-call time of every shipped defense at the paper's scale (d = 80,202 parameters) for
//! n = 50 (k = 29 neighbours) and n = 300 (k = 179), side by side: its `byz:policy@0.1.0`
//! build (policies/v0.1.0, every model copied into the instance), its 0.2.0 build
//! (policies/, models lent, host kernels) and native Rust in the same process; then the
//! Python policies (examples/python) beside the Rust 0.2.0 components. Run with
//! `cargo bench -p byzhost --bench policies` after `scripts/build-policies.sh`; prints
//! markdown tables and writes them to `target/bench-policies.md` for BENCHMARKS.md.
//! Arguments after `--` keep only the rows whose names contain one of them.
//!
//! Inputs are synthetic but shaped like a round of training: prev ~ N(0, 0.05²), a shared
//! update u ~ N(0, 0.01²), local = prev + u + noise, two thirds of the received rows
//! prev + u + noise (honest-like), the rest prev − u (reversed updates), noise
//! N(0, 0.002²). MOZI needs a loss: both sides use the same deterministic stand-in,
//! loss(x) = mean squared distance from x to prev + u, so its filter does real work.
//! Component times include moving the inputs into the instance (0.1.0) or lending them
//! (0.2.0) and the host's output checks — what a simulation round pays per node. The
//! builds a row compares are called in turn, one call each per round, so that a slow
//! stretch of a shared machine slows them alike.

use std::time::Duration;

mod common;
use common::{ms, time_interleaved, Call, Timing};

use byz_policy_sdk::rng::SplitMix64;
use byz_policy_sdk::{Defense, Model, NativeEnv};
use byzhost::policy::Context;
use byzhost::sandbox::{DefenseInstance, Limits, LossOracle, Sandbox};

const D: usize = 80_202;
const WARMUP: usize = 3;
/// (n, k): the paper's n = 50 and Table 3's n = 300 at p = 0.6, k ≈ 0.6·(n − 1).
const SIZES: [(usize, usize); 2] = [(50, 29), (300, 179)];

struct Inputs {
    k: usize,
    prev: Vec<f32>,
    local: Vec<f32>,
    received: Vec<f32>,
    /// The loss stand-in's minimum, prev + u.
    target: Vec<f32>,
}

fn inputs(k: usize) -> Inputs {
    let mut rng = SplitMix64::new(2024);
    let mut draw = |sd: f64, n: usize| -> Vec<f32> { (0..n).map(|_| (sd * rng.normal()) as f32).collect() };
    let prev = draw(0.05, D);
    let update = draw(0.01, D);
    let target: Vec<f32> = prev.iter().zip(&update).map(|(p, u)| p + u).collect();
    let local: Vec<f32> = target.iter().zip(draw(0.002, D)).map(|(t, n)| t + n).collect();
    let mut received = Vec::with_capacity(k * D);
    for j in 0..k {
        if 3 * j < 2 * k {
            received.extend(target.iter().zip(draw(0.002, D)).map(|(t, n)| t + n));
        } else {
            received.extend(prev.iter().zip(&update).map(|(p, u)| p - u));
        }
    }
    Inputs { k, prev, local, received, target }
}

/// Fewer timed calls at k = 179, where one call takes up to ~150 ms.
fn calls(k: usize) -> usize {
    if k > 100 {
        25
    } else {
        100
    }
}

fn loss(model: &[f32], target: &[f32]) -> f32 {
    model.iter().zip(target).map(|(m, t)| (m - t) * (m - t)).sum::<f32>() / model.len() as f32
}

/// The sandbox-side loss stand-in (see the header).
struct DistanceOracle(Vec<f32>);

impl LossOracle for DistanceOracle {
    fn evaluate_loss(&mut self, candidates: &[f32], count: usize) -> Result<Vec<f32>, String> {
        Ok(candidates.chunks_exact(candidates.len() / count).map(|c| loss(c, &self.0)).collect())
    }
}

fn context(k: usize) -> Context {
    Context {
        round: 0,
        epoch: 0,
        node: 0,
        neighbors: (1..=k as u32).collect(),
        neighbor_degrees: vec![k as u32; k],
        lr: 0.1,
        dim: D as u32,
        seed: 0,
    }
}

fn sdk_context(k: usize) -> byz_policy_sdk::Context {
    let c = context(k);
    byz_policy_sdk::Context {
        round: c.round,
        epoch: c.epoch,
        node: c.node,
        neighbors: c.neighbors,
        neighbor_degrees: c.neighbor_degrees,
        lr: c.lr,
        dim: c.dim,
        seed: c.seed,
    }
}

/// Integer parameters of one benchmark row (only BRIDGE's `b` so far).
type IntParams = &'static [(&'static str, i64)];

/// The component at `relative` (to the repository root), configured with `params`, as a
/// call on `x`.
fn component<'a>(sandbox: &Sandbox, relative: &str, params: IntParams, x: &'a Inputs) -> Call<'a> {
    let params: Vec<(String, byzhost::policy::ParamValue)> =
        params.iter().map(|(n, v)| (n.to_string(), byzhost::policy::ParamValue::Integer(*v))).collect();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative);
    assert!(path.is_file(), "{} is missing: run scripts/build-policies.sh first", path.display());
    let policy = sandbox.load(&path).unwrap();
    let oracle = Box::new(DistanceOracle(x.target.clone()));
    let mut inst = DefenseInstance::with_seed(sandbox, &policy, 0, 0, oracle).unwrap();
    inst.configure(&params).unwrap();
    let ctx = context(x.k);
    Box::new(move || inst.aggregate(&ctx, &x.prev, &x.local, &x.received).unwrap())
}

/// The policy as native Rust on models built once, outside the timed calls.
fn native<T: Defense + 'static>(params: IntParams, x: &Inputs) -> Call<'_> {
    let mut policy = T::default();
    let given = params.iter().map(|(n, v)| (n.to_string(), byz_policy_sdk::ParamValue::Integer(*v))).collect();
    policy.configure(&byz_policy_sdk::Params::resolve(&T::info().params, given).unwrap()).unwrap();
    let ctx = sdk_context(x.k);
    let target = x.target.clone();
    let mut env = NativeEnv::new(0);
    env.loss = Some(Box::new(move |m: &[f32]| loss(m, &target)));
    let (prev, local) = (Model::new(x.prev.clone()), Model::new(x.local.clone()));
    let received = Model::split(&x.received, D);
    Box::new(move || policy.aggregate(&ctx, &prev, &local, &received, &mut env).unwrap().into_vec())
}

type Native = for<'a> fn(IntParams, &'a Inputs) -> Call<'a>;

/// Every shipped defense: (row name, file stem, parameters, native build). BRIDGE also with
/// b = 10, the paper's setting.
const DEFENSES: [(&str, &str, IntParams, Native); 7] = [
    ("dpsgd", "dpsgd", &[], native::<dpsgd::Dpsgd>),
    ("sim-reweight", "sim_reweight", &[], native::<sim_reweight::SimReweight>),
    ("bridge", "bridge", &[], native::<bridge::Bridge>),
    ("bridge (b = 10)", "bridge", &[("b", 10)], native::<bridge::Bridge>),
    ("tvnorm", "tvnorm", &[], native::<tvnorm::TvNorm>),
    ("mozi", "mozi", &[], native::<mozi::Mozi>),
    ("standalone", "standalone", &[], native::<standalone::Standalone>),
];

/// The Python policies beside their Rust 0.2.0 builds: (row name, Python file, Rust stem).
const PYTHON: [(&str, &str, &str, IntParams); 2] = [
    ("sim-reweight", "examples/python/sim_reweight.wasm", "sim_reweight", &[]),
    ("bridge (b = 10)", "examples/python/bridge.wasm", "bridge", &[("b", 10)]),
];

fn main() {
    let sandbox = Sandbox::new(Limits::default(), None).unwrap();
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let wanted = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    let mut versions = String::from(
        "| defense | n | k | 0.1.0 component (ms) | 0.2.0 component (ms) | native (ms) | 0.2.0 ÷ native | 0.1.0 ÷ 0.2.0 | max abs difference 0.2.0 vs 0.1.0 / native |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut python = String::from(
        "| defense | n | k | Python component (ms) | Rust 0.2.0 component (ms) | Python ÷ Rust | max abs difference |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for (n, k) in SIZES {
        let x = inputs(k);
        for (name, stem, params, run_native) in DEFENSES.iter().filter(|d| wanted(d.0)) {
            let v1 = component(&sandbox, &format!("policies/v0.1.0/{stem}.wasm"), params, &x);
            let v2 = component(&sandbox, &format!("policies/{stem}.wasm"), params, &x);
            let mut timed = time_interleaved(WARMUP, calls(k), &mut [v1, v2, run_native(params, &x)]).into_iter();
            let (v1, v2, native) = (timed.next().unwrap(), timed.next().unwrap(), timed.next().unwrap());
            let row = versions_row(name, n, k, v1, v2, native);
            eprint!("{row}");
            versions.push_str(&row);
        }
        for (name, file, stem, params) in PYTHON.iter().filter(|p| wanted(&format!("python {}", p.0))) {
            let py = component(&sandbox, file, params, &x);
            let rust = component(&sandbox, &format!("policies/{stem}.wasm"), params, &x);
            let mut timed = time_interleaved(WARMUP, calls(k), &mut [py, rust]).into_iter();
            let row = python_row(name, n, k, timed.next().unwrap(), timed.next().unwrap());
            eprint!("{row}");
            python.push_str(&row);
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?");
    let report = format!(
        "d = {D}; median of {} calls (n = 50) or {} (n = 300) after {WARMUP} warm-up calls; 1-minute load average at the end: {load}\n\n{versions}\n{python}",
        calls(29),
        calls(179)
    );
    println!("\n{report}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-policies.md");
    std::fs::write(&out, &report).unwrap();
    println!("wrote {}", out.display());
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "outputs of different lengths");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// One row of the 0.1.0 / 0.2.0 / native table (medians).
fn versions_row(name: &str, n: usize, k: usize, v1: (Timing, Vec<f32>), v2: (Timing, Vec<f32>), native: (Timing, Vec<f32>)) -> String {
    let (d1, dn) = (max_difference(&v2.1, &v1.1), max_difference(&v2.1, &native.1));
    let (t1, t2, tn) = (v1.0.median, v2.0.median, native.0.median);
    format!(
        "| {name} | {n} | {k} | {:.3} | {:.3} | {:.3} | {:.2} | {:.2} | {d1:.1e} / {dn:.1e} |\n",
        ms(t1),
        ms(t2),
        ms(tn),
        ratio(t2, tn),
        ratio(t1, t2)
    )
}

/// One row of the Python / Rust table (medians).
fn python_row(name: &str, n: usize, k: usize, py: (Timing, Vec<f32>), rust: (Timing, Vec<f32>)) -> String {
    let diff = max_difference(&py.1, &rust.1);
    format!(
        "| {name} | {n} | {k} | {:.3} | {:.3} | {:.2} | {diff:.1e} |\n",
        ms(py.0.median),
        ms(rust.0.median),
        ratio(py.0.median, rust.0.median)
    )
}
