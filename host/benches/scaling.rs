//! Table 3's "Time" column: aggregation time per node-round of the similarity defense for
//! n ∈ {50, 100, 200, 300} (k = round(0.6·(n − 1)) neighbours, the mean degree of the
//! paper's Erdős–Rényi graph with p = 0.6), as a component through the real sandbox and as
//! native Rust, beside the memory-bandwidth bound: the bytes the rule must read
//! ((k + 2) models of d = 80,202 floats: received, prev, local) divided by this machine's
//! measured copy bandwidth. The no-op `standalone` component at the same k shows what the
//! host↔guest copy alone costs. Run with `cargo bench -p byzhost --bench scaling` after
//! `scripts/build-policies.sh`; prints a markdown table and writes it to
//! `target/bench-scaling.md`.

use std::time::{Duration, Instant};

mod common;
use common::ms;

use byz_policy_sdk::rng::SplitMix64;
use byz_policy_sdk::{Defense, Model, NativeEnv};
use byzhost::policy::Context;
use byzhost::sandbox::{DefenseInstance, Limits, NoLocalData, Sandbox};

const D: usize = 80_202;
const WARMUP: usize = 3;
const CALLS: usize = 25;
/// Table 3 of the paper (RTX 3090), ms per node-round.
const PAPER_MS: [(usize, f64); 4] = [(50, 1.83), (100, 2.41), (200, 3.22), (300, 3.95)];

struct Inputs {
    prev: Vec<f32>,
    local: Vec<f32>,
    received: Vec<f32>,
}

/// Honest-like rows (prev + shared update + noise) and, for a fifth of them, reversed
/// updates, as in a round under attack.
fn inputs(k: usize) -> Inputs {
    let mut rng = SplitMix64::new(7);
    let mut draw = |sd: f64, n: usize| -> Vec<f32> { (0..n).map(|_| (sd * rng.normal()) as f32).collect() };
    let prev = draw(0.05, D);
    let update = draw(0.01, D);
    let noise = draw(0.002, 4 * D + 64);
    let target: Vec<f32> = prev.iter().zip(&update).map(|(p, u)| p + u).collect();
    let local: Vec<f32> = target.iter().zip(&noise).map(|(t, n)| t + n).collect();
    let mut received = Vec::with_capacity(k * D);
    for j in 0..k {
        if j < k - k / 5 {
            // A different window of the noise per row, so rows differ.
            let off = (j * 4099) % (3 * D);
            received.extend(target.iter().zip(&noise[off..off + D]).map(|(t, n)| t + n));
        } else {
            received.extend(prev.iter().zip(&update).map(|(p, u)| p - u));
        }
    }
    Inputs { prev, local, received }
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

fn time(call: impl FnMut() -> Vec<f32>) -> (Duration, Duration, Vec<f32>) {
    let (t, out) = common::time(WARMUP, CALLS, call);
    (t.median, t.min, out)
}

fn component(sandbox: &Sandbox, file: &str, k: usize, x: &Inputs) -> (Duration, Duration, Vec<f32>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies").join(file);
    assert!(path.is_file(), "{} is missing: run scripts/build-policies.sh first", path.display());
    let policy = sandbox.load(&path).unwrap();
    let mut inst = DefenseInstance::with_seed(sandbox, &policy, 0, 0, Box::new(NoLocalData)).unwrap();
    inst.configure(&[]).unwrap();
    let ctx = context(k);
    time(|| inst.aggregate(&ctx, &x.prev, &x.local, &x.received).unwrap())
}

/// Best copy bandwidth over a buffer far larger than the caches, in bytes copied per second.
fn copy_bandwidth() -> f64 {
    let n = 64 << 20; // 256 MiB of f32
    let src: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let mut dst = vec![0.0f32; n];
    let best = (0..5)
        .map(|_| {
            let t = Instant::now();
            dst.copy_from_slice(std::hint::black_box(&src));
            std::hint::black_box(&dst);
            t.elapsed()
        })
        .min()
        .unwrap();
    (n * 4) as f64 / best.as_secs_f64()
}

fn main() {
    let bandwidth = copy_bandwidth();
    let sandbox = Sandbox::new(Limits::default(), None).unwrap();
    let mut table = String::from(
        "| n | k | sim-reweight component, median / min (ms) | native, median / min (ms) | standalone (copy only), median (ms) | bandwidth bound (ms) | component ÷ bound | paper, RTX 3090 (ms) |\n|---|---|---|---|---|---|---|---|\n",
    );
    for (n, paper) in PAPER_MS {
        let k = (0.6 * (n - 1) as f64).round() as usize;
        let x = inputs(k);
        let (c_med, c_min, c_out) = component(&sandbox, "sim_reweight.wasm", k, &x);
        let (s_med, _, _) = component(&sandbox, "standalone.wasm", k, &x);
        let mut policy = sim_reweight::SimReweight::default();
        policy.configure(&byz_policy_sdk::Params::resolve(&sim_reweight::SimReweight::info().params, Vec::new()).unwrap()).unwrap();
        let sdk_ctx = {
            let c = context(k);
            byz_policy_sdk::Context {
                round: 0,
                epoch: 0,
                node: 0,
                neighbors: c.neighbors,
                neighbor_degrees: c.neighbor_degrees,
                lr: 0.1,
                dim: D as u32,
                seed: 0,
            }
        };
        let mut env = NativeEnv::new(0);
        let (prev, local) = (Model::new(x.prev.clone()), Model::new(x.local.clone()));
        let received = Model::split(&x.received, D);
        let (n_med, n_min, n_out) = time(|| policy.aggregate(&sdk_ctx, &prev, &local, &received, &mut env).unwrap().into_vec());
        assert_eq!(c_out, n_out, "component and native disagree at n = {n}");
        let bound = ((k + 2) * D * 4) as f64 / bandwidth * 1e3;
        let row = format!(
            "| {n} | {k} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} | {bound:.2} | {:.2} | {paper:.2} |\n",
            ms(c_med),
            ms(c_min),
            ms(n_med),
            ms(n_min),
            ms(s_med),
            ms(c_med) / bound
        );
        eprint!("{row}");
        table.push_str(&row);
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?").to_string();
    let text = format!(
        "copy bandwidth {:.1} GB/s (best of 5 copies of 256 MiB); {CALLS} calls after {WARMUP} warm-up calls; 1-minute load average at the end: {load}\n\n{table}",
        bandwidth / 1e9
    );
    println!("\n{text}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-scaling.md");
    std::fs::write(&out, &text).unwrap();
    println!("wrote {}", out.display());
}
