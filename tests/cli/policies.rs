//! The shipped policies through the real binary (`byzhost call`) on tiny inputs, against
//! values computed by hand. Each crate's unit tests cover the edge cases natively; these
//! check that the built components compute the same thing through the sandbox.

use crate::support::{assert_no_host_panic, component, stderr_of, Scratch};

/// Runs a defense on prev [5], local [5] and received [k, 5]; Ok(output) or Err(stderr).
fn defense(policy: &str, prev: &[f32], local: &[f32], received: &[f32], extra: &[&str]) -> Result<Vec<f32>, String> {
    let s = Scratch::new();
    s.npy("p.npy", &[5], prev);
    s.npy("l.npy", &[5], local);
    s.npy("r.npy", &[received.len() / 5, 5], received);
    let out = s
        .byzhost()
        .arg("call")
        .arg(component(policy))
        .args(["--prev", "p.npy", "--local", "l.npy", "--received", "r.npy", "--out", "o.npy"])
        .args(extra)
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    assert_no_host_panic(&stderr_of(&out));
    if !out.status.success() {
        return Err(stderr_of(&out));
    }
    let (shape, data) = s.read("o.npy");
    assert_eq!(shape, vec![5]);
    Ok(data)
}

/// Runs an attack on honest [m, 5] with `byzantine` Byzantine nodes; (shape, data).
fn attack(policy: &str, honest: &[f32], byzantine: u32, extra: &[&str]) -> (Vec<usize>, Vec<f32>) {
    let s = Scratch::new();
    s.npy("h.npy", &[honest.len() / 5, 5], honest);
    let out = s
        .byzhost()
        .arg("call")
        .arg(component(policy))
        .args(["--honest", "h.npy", "--byzantine", &byzantine.to_string(), "--out", "o.npy"])
        .args(extra)
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    s.read("o.npy")
}

fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "got {got:?}, want {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= tol, "got {got:?}, want {want:?}");
    }
}

// Defense inputs shared by BRIDGE, TV-norm and Stand-alone (3 neighbours × 5 coordinates).
const PREV: [f32; 5] = [1.0, 2.0, 3.0, 4.0, 5.0];
const LOCAL: [f32; 5] = [1.5, 2.0, 2.5, 4.0, 6.0];
const RECEIVED: [f32; 15] = [3.0, 2.0, 1.0, 0.0, -1.0, 5.0, 6.0, 7.0, 8.0, 9.0, -1.0, 0.0, 1.0, 4.0, 3.0];

/// sim-reweight's hand case: Δ_ii = δ = (2, −1, 0, 1, 2) (q = (0.6, 0.2, 0.2)); received
/// Δ = (1,1,1,1,1), 2δ, −δ. Relative weights: own 1; Δ_1 0.6^5 (KL = ln(1/0.6), c = 5)
/// × cos 4/√50; 2δ weight 1, clipped to δ; −δ cosine −1 → 0.
fn sim_reweight_inputs() -> ([f32; 5], Vec<f32>, Vec<f32>) {
    let delta = [2.0f32, -1.0, 0.0, 1.0, 2.0];
    let local: Vec<f32> = PREV.iter().zip(delta).map(|(p, d)| p + d).collect();
    let mut received: Vec<f32> = PREV.iter().map(|p| p + 1.0).collect();
    received.extend(PREV.iter().zip(delta).map(|(p, d)| p + 2.0 * d));
    received.extend(PREV.iter().zip(delta).map(|(p, d)| p - d));
    (PREV, local, received)
}

#[test]
fn sim_reweight_weights_by_sign_kl_and_cosine_and_clips() {
    let (prev, local, received) = sim_reweight_inputs();
    let delta = [2.0f32, -1.0, 0.0, 1.0, 2.0];
    let want = |w1: f32| -> Vec<f32> { (0..5).map(|c| PREV[c] + (2.0 * delta[c] + w1) / (2.0 + w1)).collect() };
    let cos1 = 4.0 / 50f32.sqrt();
    let out = defense("policies/sim_reweight.wasm", &prev, &local, &received, &[]).unwrap();
    assert_close(&out, &want(0.07776 * cos1), 2e-5);
    // Ablation: without the KL factor only the cosine weights Δ_1.
    let out = defense("policies/sim_reweight.wasm", &prev, &local, &received, &["--param", "use-kl=false"]).unwrap();
    assert_close(&out, &want(cos1), 2e-5);
}

#[test]
fn sim_reweight_with_every_factor_off_is_the_plain_mean() {
    let (prev, local, received) = sim_reweight_inputs();
    let off = ["--param", "use-kl=false", "--param", "use-cos=false", "--param", "clip=false"];
    let out = defense("policies/sim_reweight.wasm", &prev, &local, &received, &off).unwrap();
    let mean: Vec<f32> = (0..5).map(|c| (local[c] + received[c] + received[5 + c] + received[10 + c]) / 4.0).collect();
    assert_close(&out, &mean, 1e-5);
}

#[test]
fn sim_reweight_keeps_local_when_the_own_update_is_zero_and_rejects_negative_c() {
    let (prev, _, received) = sim_reweight_inputs();
    assert_eq!(defense("policies/sim_reweight.wasm", &prev, &prev, &received, &[]).unwrap(), prev);
    let err = defense("policies/sim_reweight.wasm", &prev, &prev, &received, &["--param", "c=-1"]).unwrap_err();
    assert!(err.contains("`c` must be >= 0"), "{err}");
}

#[test]
fn bridge_averages_the_middle_received_value_with_local() {
    // Columns {3,5,−1} {2,6,0} {1,7,1} {0,8,4} {−1,9,3}: middles 3 2 1 4 3; plus local, halved.
    let out = defense("policies/bridge.wasm", &PREV, &LOCAL, &RECEIVED, &[]).unwrap();
    assert_eq!(out, vec![2.25, 2.0, 1.75, 4.0, 4.5]);
}

#[test]
fn bridge_with_too_few_neighbours_is_an_error_naming_b() {
    let err = defense("policies/bridge.wasm", &PREV, &LOCAL, &RECEIVED, &["--param", "b=2"]).unwrap_err();
    assert!(err.contains("b = 2") && err.contains("at least 2b + 1 = 5 neighbours") && err.contains("has 3"), "{err}");
}

#[test]
fn tvnorm_steps_by_lr_lambda_per_net_sign() {
    // Net signs of prev − x_j: (−1, 0, 1, 0, 1); lr·λ = 0.5 · 0.25.
    let out = defense("policies/tvnorm.wasm", &PREV, &LOCAL, &RECEIVED, &["--lr", "0.5", "--param", "lambda=0.25"]).unwrap();
    assert_eq!(out, vec![1.625, 2.0, 2.375, 4.0, 5.875]);
    // Default λ = 0.001 with lr 0.1: steps of 1e-4.
    let out = defense("policies/tvnorm.wasm", &PREV, &LOCAL, &RECEIVED, &[]).unwrap();
    assert_close(&out, &[1.5001, 2.0, 2.4999, 4.0, 5.9999], 1e-6);
}

#[test]
fn mozi_says_it_needs_local_data_and_keeps_local_without_neighbours() {
    // `byzhost call` has no training data, so stage 2 cannot run.
    let err = defense("policies/mozi.wasm", &PREV, &LOCAL, &RECEIVED, &[]).unwrap_err();
    assert!(err.contains("evaluate_loss failed") && err.contains("no local training data"), "{err}");
    assert_eq!(defense("policies/mozi.wasm", &PREV, &LOCAL, &[], &[]).unwrap(), LOCAL);
    let err = defense("policies/mozi.wasm", &PREV, &LOCAL, &RECEIVED, &["--param", "rho=0"]).unwrap_err();
    assert!(err.contains("`rho` must be in (0, 1]"), "{err}");
}

#[test]
fn standalone_returns_local() {
    assert_eq!(defense("policies/standalone.wasm", &PREV, &LOCAL, &RECEIVED, &[]).unwrap(), LOCAL);
}

// Attack inputs: 3 regular models. Columns {1,2,3} {0,0,0} {4,4,7} {−1,1,−3} {2,5,8}:
// μ = (2, 0, 5, −1, 5), population σ² = (2/3, 0, 2, 8/3, 6).
const HONEST: [f32; 15] = [1.0, 0.0, 4.0, -1.0, 2.0, 2.0, 0.0, 4.0, 1.0, 5.0, 3.0, 0.0, 7.0, -3.0, 8.0];
const MEAN: [f32; 5] = [2.0, 0.0, 5.0, -1.0, 5.0];
const VAR: [f32; 5] = [2.0 / 3.0, 0.0, 2.0, 8.0 / 3.0, 6.0];

fn mean_plus(z: f32) -> Vec<f32> {
    MEAN.iter().zip(VAR).map(|(m, v)| m + z * v.sqrt()).collect()
}

fn assert_rows(shape: &[usize], data: &[f32], rows: usize, row: &[f32]) {
    assert_eq!(shape, [rows, 5]);
    for got in data.chunks(5) {
        assert_close(got, row, 1e-5);
    }
}

#[test]
fn random_is_seeded_finite_and_scaled_to_the_mean_norm() {
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let (shape, a) = attack("policies/random.wasm", &HONEST, 2, &["--seed", "7", "--param", "scale=2"]);
    assert_eq!(shape, vec![2, 5]);
    assert!(a.iter().all(|x| x.is_finite()));
    for row in a.chunks(5) {
        // ‖μ‖ = √55; scale 2.
        assert!((norm(row) - 2.0 * 55f32.sqrt()).abs() < 1e-4, "{row:?}");
    }
    assert_ne!(a[..5], a[5..], "each Byzantine node sends its own vector");
    let (_, again) = attack("policies/random.wasm", &HONEST, 2, &["--seed", "7", "--param", "scale=2"]);
    assert_eq!(a, again);
    let (_, other) = attack("policies/random.wasm", &HONEST, 2, &["--seed", "8", "--param", "scale=2"]);
    assert_ne!(a, other);
}

#[test]
fn dlie_sends_mean_plus_two_population_stds() {
    let (shape, data) = attack("policies/dlie.wasm", &HONEST, 2, &[]);
    assert_rows(&shape, &data, 2, &mean_plus(2.0));
    let (shape, data) = attack("policies/dlie.wasm", &HONEST, 1, &["--param", "z=0.5"]);
    assert_rows(&shape, &data, 1, &mean_plus(0.5));
}

#[test]
fn alie_derives_z_from_the_node_counts() {
    // n = 3 + 2 = 5, b = 2: s = ⌊5/2 + 1⌋ − 2 = 1, z = Φ⁻¹(4/5) = 0.841621.
    let (shape, data) = attack("policies/alie.wasm", &HONEST, 2, &[]);
    assert_rows(&shape, &data, 2, &mean_plus(0.841621));
}

#[test]
fn ipm_sends_a_tenth_of_the_negated_mean() {
    let (shape, data) = attack("policies/ipm.wasm", &HONEST, 2, &[]);
    assert_rows(&shape, &data, 2, &MEAN.map(|m| -0.1 * m));
}

#[test]
fn targeted_sends_each_receiver_its_own_model_pushed_from_the_mean() {
    // `byzhost call` connects every Byzantine node to every regular node: 2 × 3 rows,
    // row (b, r) = 2·x_r − μ.
    let (shape, data) = attack("policies/targeted.wasm", &HONEST, 2, &[]);
    assert_eq!(shape, vec![6, 5]);
    let pushed: Vec<f32> = HONEST.chunks(5).flat_map(|x| x.iter().zip(MEAN).map(|(x, m)| 2.0 * x - m)).collect();
    assert_close(&data, &[pushed.clone(), pushed].concat(), 1e-5);
}

/// Every shipped policy built in one cargo invocation, in a target directory of its own,
/// gives the very bytes `scripts/build-policies.sh` builds one crate at a time: a policy's
/// bytes depend on its own source, never on what is built beside it.
#[test]
fn a_policys_bytes_do_not_depend_on_what_is_built_beside_it() {
    let root = crate::support::repo_root();
    let crates: Vec<String> = std::fs::read_dir(root.join("policies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        // sdk and sdk-v0-1 are the SDKs, not policies.
        .filter(|name| !name.starts_with("sdk"))
        .collect();
    assert!(crates.len() >= 12, "{crates:?}");
    let target_dir = root.join("target/joint-policy-build");
    let mut build = std::process::Command::new(env!("CARGO"));
    build.args(["build", "--quiet", "--profile", "policy", "--target", "wasm32-unknown-unknown"]).current_dir(&root);
    for name in &crates {
        build.args(["-p", name]);
    }
    let out = build.env("CARGO_TARGET_DIR", &target_dir).env_remove("RUSTFLAGS").env_remove("CARGO_ENCODED_RUSTFLAGS").output().unwrap();
    assert!(out.status.success(), "joint build failed:\n{}", stderr_of(&out));
    for name in &crates {
        let file = format!("{}.wasm", name.replace('-', "_"));
        let joint = std::fs::read(target_dir.join("wasm32-unknown-unknown/policy").join(&file)).unwrap();
        let alone = std::fs::read(component(&format!("policies/{file}"))).unwrap();
        assert!(joint == alone, "{name}: built beside the other policies it differs from its build alone");
    }
}
