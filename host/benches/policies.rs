//! Per-call time of every shipped defense at the paper's scale (k = 30 neighbours,
//! d = 80,202 parameters), as a component through the real sandbox and as native Rust in
//! the same process, with the ratio. Run with `cargo bench -p byzhost --bench policies`
//! after `scripts/build-policies.sh`; prints a markdown table and writes it to
//! `target/bench-policies.md` for BENCHMARKS.md. Arguments after `--` keep only the
//! defenses whose names contain one of them (`-- sim-reweight`), for profiling.
//!
//! Inputs are synthetic but shaped like a round of training: prev ~ N(0, 0.05²), a shared
//! update u ~ N(0, 0.01²), local = prev + u + noise, the first 20 received rows
//! prev + u + noise (honest-like), the last 10 prev − u (reversed updates), noise
//! N(0, 0.002²). MOZI needs a loss: both sides use the same deterministic stand-in,
//! loss(x) = mean squared distance from x to prev + u, so its filter does real work.
//! Component times include copying the k·d inputs into the instance and the host's
//! output checks — what a simulation round pays per node.
//!
//! Two more rows measure `byz:policy@0.2.0`, where the models are lent instead of copied,
//! with the fixture `tests/fixtures/kernels-v0-2`: returning `local` unchanged (0.1.0's
//! `standalone` copies k + 2 models in to do that) and the mean of `local` and the received
//! models with the host kernel `combine`, each beside the same work in native Rust.

use std::time::Duration;

mod common;
use common::{ms, Timing};

use byz_policy_sdk::rng::SplitMix64;
use byz_policy_sdk::{Defense, NativeEnv};
use byzhost::policy::Context;
use byzhost::sandbox::{DefenseInstance, Limits, LossOracle, Sandbox};

const K: usize = 30;
const D: usize = 80_202;
const WARMUP: usize = 5;
const CALLS: usize = 60;

struct Inputs {
    prev: Vec<f32>,
    local: Vec<f32>,
    received: Vec<f32>,
    /// The loss stand-in's minimum, prev + u.
    target: Vec<f32>,
}

fn inputs() -> Inputs {
    let mut rng = SplitMix64::new(2024);
    let mut draw = |sd: f64, n: usize| -> Vec<f32> { (0..n).map(|_| (sd * rng.normal()) as f32).collect() };
    let prev = draw(0.05, D);
    let update = draw(0.01, D);
    let target: Vec<f32> = prev.iter().zip(&update).map(|(p, u)| p + u).collect();
    let local: Vec<f32> = target.iter().zip(draw(0.002, D)).map(|(t, n)| t + n).collect();
    let mut received = Vec::with_capacity(K * D);
    for j in 0..K {
        if j < 20 {
            received.extend(target.iter().zip(draw(0.002, D)).map(|(t, n)| t + n));
        } else {
            received.extend(prev.iter().zip(&update).map(|(p, u)| p - u));
        }
    }
    Inputs { prev, local, received, target }
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

fn context() -> Context {
    Context {
        round: 0,
        epoch: 0,
        node: 0,
        neighbors: (1..=K as u32).collect(),
        neighbor_degrees: vec![K as u32; K],
        lr: 0.1,
        dim: D as u32,
        seed: 0,
    }
}

fn sdk_context() -> byz_policy_sdk::Context {
    let c = context();
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

fn time(call: impl FnMut() -> Vec<f32>) -> (Timing, Vec<f32>) {
    common::time(WARMUP, CALLS, call)
}

/// Integer parameters of one benchmark row (only BRIDGE's `b` so far).
type IntParams = &'static [(&'static str, i64)];

fn component(sandbox: &Sandbox, file: &str, params: IntParams, x: &Inputs) -> (Timing, Vec<f32>) {
    let params: Vec<(String, byzhost::policy::ParamValue)> =
        params.iter().map(|(n, v)| (n.to_string(), byzhost::policy::ParamValue::Integer(*v))).collect();
    component_at(sandbox, &format!("policies/{file}"), &params, x)
}

/// [`component`] of the component at `relative` (to the repository root), with `params`.
fn component_at(sandbox: &Sandbox, relative: &str, params: &[(String, byzhost::policy::ParamValue)], x: &Inputs) -> (Timing, Vec<f32>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative);
    assert!(path.is_file(), "{} is missing: run scripts/build-policies.sh first", path.display());
    let policy = sandbox.load(&path).unwrap();
    let oracle = Box::new(DistanceOracle(x.target.clone()));
    let mut inst = DefenseInstance::with_seed(sandbox, &policy, 0, 0, oracle).unwrap();
    inst.configure(params).unwrap();
    let ctx = context();
    time(|| inst.aggregate(&ctx, &x.prev, &x.local, &x.received).unwrap())
}

fn native<T: Defense>(params: IntParams, x: &Inputs) -> (Timing, Vec<f32>) {
    let mut policy = T::default();
    let given = params.iter().map(|(n, v)| (n.to_string(), byz_policy_sdk::ParamValue::Integer(*v))).collect();
    policy.configure(&byz_policy_sdk::Params::resolve(&T::info().params, given).unwrap()).unwrap();
    let ctx = sdk_context();
    let target = x.target.clone();
    let mut env = NativeEnv::new(0);
    env.loss = Some(Box::new(move |m: &[f32]| loss(m, &target)));
    time(|| policy.aggregate(&ctx, &x.prev, &x.local, &x.received, &mut env).unwrap())
}

fn main() {
    let x = inputs();
    let sandbox = Sandbox::new(Limits::default(), None).unwrap();
    type Native = fn(IntParams, &Inputs) -> (Timing, Vec<f32>);
    // Defaults, plus BRIDGE with b = 10, the paper's setting (b = 10 Byzantine nodes,
    // every regular node with at least 2b + 1 = 21 neighbours).
    let defenses: [(&str, &str, IntParams, Native); 7] = [
        ("dpsgd", "dpsgd.wasm", &[], native::<dpsgd::Dpsgd>),
        ("sim-reweight", "sim_reweight.wasm", &[], native::<sim_reweight::SimReweight>),
        ("bridge", "bridge.wasm", &[], native::<bridge::Bridge>),
        ("bridge (b = 10)", "bridge.wasm", &[("b", 10)], native::<bridge::Bridge>),
        ("tvnorm", "tvnorm.wasm", &[], native::<tvnorm::TvNorm>),
        ("mozi", "mozi.wasm", &[], native::<mozi::Mozi>),
        ("standalone", "standalone.wasm", &[], native::<standalone::Standalone>),
    ];
    let mut table = String::from(
        "| defense | component, median (ms) | native, median (ms) | ratio of medians | component, min (ms) | native, min (ms) | ratio of minima | max abs difference |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    for (name, file, params, run_native) in defenses {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let row = table_row(name, component(&sandbox, file, params, &x), run_native(params, &x));
        eprint!("{row}");
        table.push_str(&row);
    }
    if filters.is_empty() || filters.iter().any(|f| f.contains("0.2.0")) {
        for row in v0_2_rows(&sandbox, &x) {
            eprint!("{row}");
            table.push_str(&row);
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?");
    println!("\nk = {K}, d = {D}, {CALLS} calls after {WARMUP} warm-up calls; 1-minute load average at the end: {load}\n\n{table}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-policies.md");
    std::fs::write(&out, &table).unwrap();
    println!("wrote {}", out.display());
}

/// The 0.2.0 rows (see the header), formatted as the others.
fn v0_2_rows(sandbox: &Sandbox, x: &Inputs) -> Vec<String> {
    use byz_policy_sdk::kernels;
    let kernel = |k: &str| vec![("kernel".to_string(), byzhost::policy::ParamValue::Text(k.into()))];
    let w = 1.0 / (K as f32 + 1.0);
    let mean = || {
        let terms: Vec<(&[f32], f32)> = x.received.chunks_exact(D).map(|r| (r, w)).collect();
        kernels::combine(&x.local, w, &terms)
    };
    let rows = [
        (
            "standalone, byz:policy@0.2.0 (models lent)",
            component_at(sandbox, "tests/fixtures/kernels_v0_2.wasm", &kernel("share"), x),
            time(|| x.local.clone()),
        ),
        (
            "mean of k + 1 by host kernel, 0.2.0",
            component_at(sandbox, "tests/fixtures/kernels_v0_2.wasm", &kernel("combine"), x),
            time(mean),
        ),
    ];
    rows.into_iter().map(|(name, wasm, native)| table_row(name, wasm, native)).collect()
}

/// One markdown row: component and native timings, their ratios, and the largest difference
/// between the two outputs.
fn table_row(name: &str, (wasm_t, wasm_out): (Timing, Vec<f32>), (native_t, native_out): (Timing, Vec<f32>)) -> String {
    let diff = wasm_out.iter().zip(&native_out).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    format!(
        "| {name} | {:.3} | {:.3} | {:.2} | {:.3} | {:.3} | {:.2} | {diff:.1e} |\n",
        ms(wasm_t.median),
        ms(native_t.median),
        ratio(wasm_t.median, native_t.median),
        ms(wasm_t.min),
        ms(native_t.min),
        ratio(wasm_t.min, native_t.min),
    )
}
