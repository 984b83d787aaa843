//! `byzhost call`: one invocation on .npy vectors, exact results, clear input errors.

use crate::support::{assert_no_host_panic, component, has_error_class, stderr_of, Scratch};

/// 3 neighbours x 5 coordinates, hand-checked.
const LOCAL: [f32; 5] = [1.0, 2.0, 3.0, 4.0, 5.0];
const RECEIVED: [f32; 15] = [3.0, 2.0, 1.0, 0.0, -1.0, 5.0, 6.0, 7.0, 8.0, 9.0, -1.0, 0.0, 1.0, 0.0, 3.0];

fn defense_inputs(s: &Scratch) {
    s.npy("p.npy", &[5], &LOCAL);
    s.npy("l.npy", &[5], &LOCAL);
    s.npy("r.npy", &[3, 5], &RECEIVED);
}

/// A seeded stream of values uniform in [−0.5, 0.5) (a 64-bit LCG's top 24 bits).
fn uniform_values(seed: u64) -> impl FnMut() -> f32 {
    let mut state = seed;
    move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }
}

fn call_defense(s: &Scratch, policy: &str, extra: &[&str]) -> std::process::Output {
    s.byzhost()
        .arg("call")
        .arg(component(policy))
        .args(["--prev", "p.npy", "--local", "l.npy", "--received", "r.npy", "--out", "o.npy"])
        .args(extra)
        .current_dir(s.dir.path())
        .output()
        .unwrap()
}

#[test]
fn dpsgd_with_three_neighbours_gives_the_exact_mean() {
    let s = Scratch::new();
    defense_inputs(&s);
    let out = call_defense(&s, "policies/dpsgd.wasm", &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(s.read("o.npy"), (vec![5], vec![2.0, 2.5, 3.0, 3.0, 4.0]));
}

#[test]
fn parameters_reach_configure() {
    let s = Scratch::new();
    defense_inputs(&s);
    // Metropolis with k = 3 neighbours of degree 3: w = 1/4 each, self 1/4 — the mean again.
    let out = call_defense(&s, "policies/dpsgd.wasm", &["--param", "weights=metropolis"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(s.read("o.npy").1, vec![2.0, 2.5, 3.0, 3.0, 4.0]);
    let out = call_defense(&s, "policies/dpsgd.wasm", &["--param", "weights=bogus"]);
    assert!(!out.status.success());
    assert!(has_error_class(&stderr_of(&out), "policy-error"), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("`weights`"), "{}", stderr_of(&out));
}

#[test]
fn an_unknown_parameter_is_rejected_by_the_policy_naming_it() {
    let s = Scratch::new();
    defense_inputs(&s);
    let out = call_defense(&s, "policies/dpsgd.wasm", &["--param", "temperature=3"]);
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(err.contains("unknown parameter `temperature`") && err.contains("in `configure`"), "{err}");
}

#[test]
fn an_ill_typed_parameter_is_an_error_before_the_call() {
    let s = Scratch::new();
    defense_inputs(&s);
    let out = s
        .byzhost()
        .arg("call")
        .arg(component("policies/reverse.wasm"))
        .args(["--honest", "r.npy", "--out", "o.npy", "--param", "scale=big"])
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("`scale` must be Float, got `big`"), "{}", stderr_of(&out));
}

#[test]
fn reverse_sends_the_negated_mean_from_every_byzantine_node() {
    let s = Scratch::new();
    s.npy("h.npy", &[3, 5], &RECEIVED);
    let out = s
        .byzhost()
        .arg("call")
        .arg(component("policies/reverse.wasm"))
        .args(["--honest", "h.npy", "--byzantine", "2", "--out", "o.npy"])
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let neg_mean = [-7.0 / 3.0, -8.0 / 3.0, -3.0, -8.0 / 3.0, -11.0 / 3.0];
    let (shape, data) = s.read("o.npy");
    assert_eq!(shape, vec![2, 5]);
    for (row, got) in data.chunks(5).enumerate() {
        for (g, e) in got.iter().zip(neg_mean) {
            assert!((g - e).abs() < 1e-6, "row {row}: {got:?}");
        }
    }
}

#[test]
fn mismatched_shapes_are_errors_naming_the_flag() {
    let s = Scratch::new();
    defense_inputs(&s);
    s.npy("r.npy", &[3, 4], &RECEIVED[..12]);
    let out = call_defense(&s, "policies/dpsgd.wasm", &[]);
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("--received has rows of 4 values but --prev has 5"), "{}", stderr_of(&out));
    s.npy("r.npy", &[15], &RECEIVED);
    let out = call_defense(&s, "policies/dpsgd.wasm", &[]);
    assert!(stderr_of(&out).contains("--received") && stderr_of(&out).contains("2-dimensional"), "{}", stderr_of(&out));
    assert_no_host_panic(&stderr_of(&out));
}

#[test]
fn a_float64_array_is_an_error_naming_the_dtype() {
    use npyz::WriterBuilder;
    let s = Scratch::new();
    defense_inputs(&s);
    let mut w = npyz::WriteOptions::<f64>::new()
        .default_dtype()
        .shape(&[5])
        .writer(std::fs::File::create(s.path("p.npy")).unwrap())
        .begin_nd()
        .unwrap();
    w.extend([1.0f64; 5]).unwrap();
    w.finish().unwrap();
    let out = call_defense(&s, "policies/dpsgd.wasm", &[]);
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("--prev") && stderr_of(&out).contains("float32 is expected"), "{}", stderr_of(&out));
}

#[test]
fn a_defense_without_its_inputs_names_the_missing_flag() {
    let s = Scratch::new();
    let out = s.byzhost().arg("call").arg(component("policies/dpsgd.wasm")).args(["--out", "o.npy"]).output().unwrap();
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("--prev is required"), "{}", stderr_of(&out));
}

/// A version-1.0 `.npy` file with `header` as its dictionary and `body` as its data.
fn raw_npy(header: &str, body: &[u8]) -> Vec<u8> {
    let mut dict = header.to_string();
    // Magic (6) + version (2) + length (2) + dictionary + newline, padded to 64 bytes.
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    bytes.extend_from_slice(dict.as_bytes());
    bytes.extend_from_slice(body);
    bytes
}

#[test]
fn a_shape_larger_than_the_file_is_refused_before_allocating() {
    let s = Scratch::new();
    defense_inputs(&s);
    let cases = [
        // The element count overflows 64 bits; the body is empty.
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 8), }", &[][..]),
        // The element count fits, but the file holds far fewer bytes than it declares.
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 5), }", &[0u8; 8][..]),
        // More data than the shape declares.
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 5), }", &[0u8; 24][..]),
    ];
    for (header, body) in cases {
        std::fs::write(s.path("r.npy"), raw_npy(header, body)).unwrap();
        let out = call_defense(&s, "policies/dpsgd.wasm", &[]);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{header}: {err}");
        assert_no_host_panic(&err);
        assert!(err.contains("--received") && err.contains("declares shape") && err.contains("header is corrupt"), "{err}");
    }
}

#[test]
fn a_device_given_as_an_input_is_refused_without_reading_it() {
    let s = Scratch::new();
    defense_inputs(&s);
    let out = s
        .byzhost()
        .arg("call")
        .arg(component("policies/dpsgd.wasm"))
        .args(["--prev", "/dev/zero", "--local", "l.npy", "--received", "r.npy", "--out", "o.npy"])
        .current_dir(s.dir.path())
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--prev: /dev/zero is a character device, not a regular file"), "{err}");
}

#[test]
fn a_result_over_the_transfer_limit_is_its_own_fault_class() {
    let s = Scratch::new();
    // 300,000 floats: 1.2 MB of result, over a 1 MiB limit.
    let d = 300_000;
    s.npy("p.npy", &[d], &vec![1.0; d]);
    s.npy("l.npy", &[d], &vec![1.0; d]);
    s.npy("r.npy", &[1, d], &vec![1.0; d]);
    // The 0.1.0 build returns its result as a list of floats (a 0.2.0 one returns a handle).
    let out = call_defense(&s, "policies/v0.1.0/dpsgd.wasm", &["--policy-transfer-mb", "1"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(has_error_class(&err, "transfer-limit"), "{err}");
    assert!(err.contains("more than 1048576 bytes") && err.contains("--policy-transfer-mb"), "{err}");
    assert!(err.contains("this call's result should be 1200000 bytes"), "{err}");
    // The default limit (the instance's memory cap) lets the same call through.
    let out = call_defense(&s, "policies/v0.1.0/dpsgd.wasm", &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
}

/// Components built for WASI 0.2, one in Rust (tests/fixtures/wasi-probe, wasm32-wasip2)
/// and one in Python (tests/fixtures/python-probe, componentize-py), try files, environment,
/// arguments, stdin, sockets, clocks and randomness from inside `aggregate`: they observe
/// nothing, their randomness is seeded by the host, and what they print reaches the log.
#[test]
fn wasi_components_observe_nothing_and_their_results_are_deterministic() {
    let s = Scratch::new();
    let d = 16;
    s.npy("p.npy", &[d], &vec![0.0; d]);
    s.npy("l.npy", &[d], &vec![1.0; d]);
    s.npy("r.npy", &[2, d], &vec![2.0; 2 * d]);
    // The Python component takes ~20 s to compile: a cache shared across test runs.
    let cache = crate::support::repo_root().join("target/test-component-cache");
    let cache = cache.to_str().unwrap();
    for (file, name) in [("tests/fixtures/wasi_probe.wasm", "wasi-probe"), ("tests/fixtures/python_probe.wasm", "python-probe")] {
        let probe = component(file);
        let call = |seed: &str| {
            let o = call_defense(&s, file, &["--seed", seed, "--component-cache", cache]);
            assert!(o.status.success(), "{name}: {}", stderr_of(&o));
            (s.read("o.npy").1, stderr_of(&o))
        };
        let (first, log) = call("1");
        // Listing `/`: refused; environment, arguments, stdin: empty; TCP and /etc/passwd:
        // refused; the wall clock at 2000-01-01; the monotonic clock frozen.
        assert_eq!(&first[..8], &[-1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 10957.0, 0.0], "{name}: {log}");
        assert!(log.contains(&format!("[{name} node 0] info: probe saw")) && log.contains("probe stderr line"), "{name}: {log}");
        let (again, _) = call("1");
        assert_eq!(first, again, "{name}: the same seed gives the same random draws");
        let (other, _) = call("2");
        assert_ne!(first[8], other[8], "{name}: randomness follows the seed");
        let inspect = s.byzhost().arg("inspect").arg(&probe).args(["--component-cache", cache]).output().unwrap();
        let text = String::from_utf8_lossy(&inspect.stdout);
        assert!(text.contains("granted nothing") && text.contains("wasi:filesystem/preopens@0.2"), "{name}: {text}");
    }
}

/// A `byz:policy@0.2.0` component (tests/fixtures/kernels-v0-2) gets the models lent as
/// resources and the host kernels on them: every kernel's answer equals, bit for bit, the
/// same kernel of `byz-policy-sdk` run natively on the same values.
#[test]
fn a_v0_2_component_gets_the_sdk_kernels_bits_on_lent_models() {
    use byz_policy_sdk::kernels;
    let s = Scratch::new();
    // d not a multiple of the 8 lanes, so the tails count too; some zeros for the signs.
    let (d, k) = (1003, 5);
    let mut uniform = uniform_values(0x2545_f491_4f6c_dd1d);
    let mut next = move || match uniform() {
        x if x.abs() < 0.02 => 0.0,
        x => x,
    };
    let prev: Vec<f32> = (0..d).map(|_| next()).collect();
    let local: Vec<f32> = (0..d).map(|_| next()).collect();
    let received: Vec<f32> = (0..k * d).map(|_| next()).collect();
    s.npy("p.npy", &[d], &prev);
    s.npy("l.npy", &[d], &local);
    s.npy("r.npy", &[k, d], &received);
    let rows: Vec<&[f32]> = received.chunks_exact(d).collect();
    let w = 1.0 / (k as f32 + 1.0);
    let with_local = [received.as_slice(), local.as_slice()].concat();
    let sign_sum: Vec<f32> = (0..d)
        .map(|j| rows.iter().map(|r| i32::from(prev[j] - r[j] > 0.0) - i32::from(prev[j] - r[j] < 0.0)).sum::<i32>() as f32)
        .collect();
    let mut stats = local.clone();
    let reference = kernels::combine(&local, 1.0, &[(&prev, -1.0)]);
    let mut values = Vec::new();
    for (st, r) in kernels::cross_stats_rows(&rows, &prev, &reference).iter().zip(&rows) {
        values.extend([st.dot, st.norm_sq, st.pos as f32, st.neg as f32, kernels::distance_sq(r, &local)]);
    }
    values.extend([kernels::dot(&local, &prev), kernels::norm_sq(&local)]);
    stats[..values.len()].copy_from_slice(&values);
    let expected: Vec<(&str, Vec<f32>)> = vec![
        ("share", local.clone()),
        ("read", local.clone()),
        ("combine", kernels::combine(&local, w, &rows.iter().map(|r| (*r, w)).collect::<Vec<_>>())),
        ("median", kernels::median(&received, Some(&local), d)),
        ("trimmed-sum", kernels::trimmed_sum(&with_local, d, 1).unwrap()),
        ("sign-sum", sign_sum),
        ("mean-plus-z-std", kernels::mean_plus_z_std(&received, d, 2.0)),
        ("extrapolate", local.iter().zip(&prev).map(|(x, p)| x + 0.5 * (x - p)).collect()),
        ("stats", stats),
    ];
    for (kernel, want) in expected {
        let out = call_defense(&s, "tests/fixtures/kernels_v0_2.wasm", &["--param", &format!("kernel={kernel}")]);
        assert!(out.status.success(), "{kernel}: {}", stderr_of(&out));
        let got = s.read("o.npy").1;
        let same_bits = got.len() == want.len() && got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same_bits, "{kernel}: the host kernel differs from the SDK's");
    }
    let inspect = s.byzhost().arg("inspect").arg(component("tests/fixtures/kernels_v0_2.wasm")).output().unwrap();
    assert!(String::from_utf8_lossy(&inspect.stdout).contains("byz:policy@0.2.0"), "{}", stderr_of(&inspect));
    let conform = s.byzhost().arg("conform").arg(component("tests/fixtures/kernels_v0_2.wasm")).output().unwrap();
    assert!(conform.status.success(), "{}", String::from_utf8_lossy(&conform.stdout));
}

/// The Python policies (examples/python, on the Python SDK and the host kernels) answer as
/// the Rust ones: BRIDGE bit for bit (the same three kernels), similarity reweighting within
/// 1e-5 (its O(k) weight arithmetic runs in Python), both with parameters reaching
/// `configure` and bad parameters refused by name.
#[test]
fn python_policies_answer_as_their_rust_builds() {
    let s = Scratch::new();
    let (k, d) = (9, 1003);
    let mut next = uniform_values(0x5851_f42d_4c95_7f2d);
    let prev: Vec<f32> = (0..d).map(|_| next()).collect();
    // local and the received models near prev, one of them far off (a Byzantine one).
    let near = |next: &mut dyn FnMut() -> f32, scale: f32| prev.iter().map(|p| p + scale * next()).collect::<Vec<f32>>();
    let local = near(&mut next, 0.01);
    let mut received: Vec<f32> = (0..k).flat_map(|j| near(&mut next, if j == 3 { 5.0 } else { 0.02 })).collect();
    received[5] = -received[5];
    s.npy("p.npy", &[d], &prev);
    s.npy("l.npy", &[d], &local);
    s.npy("r.npy", &[k, d], &received);
    let answer = |file: &str, params: &[&str]| {
        let out = call_defense(&s, file, params);
        assert!(out.status.success(), "{file} {params:?}: {}", stderr_of(&out));
        s.read("o.npy").1
    };
    for params in [&[][..], &["--param", "c=2", "--param", "use-kl=false"], &["--param", "clip=false", "--param", "use-cos=false"]] {
        let (rust, python) = (answer("policies/sim_reweight.wasm", params), answer("examples/python/sim_reweight.wasm", params));
        let worst = rust.iter().zip(&python).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(rust.len() == python.len() && worst <= 1e-5, "sim_reweight {params:?}: largest difference {worst}");
    }
    let bridge = ["--param", "b=2"];
    assert_eq!(answer("policies/bridge.wasm", &bridge), answer("examples/python/bridge.wasm", &bridge));
    for (param, named) in [("nope=1", "unknown parameter `nope`"), ("c=high", "parameter `c` must be Float"), ("c=-1", "`c` must be >= 0")]
    {
        let out = call_defense(&s, "examples/python/sim_reweight.wasm", &["--param", param]);
        assert!(!out.status.success() && stderr_of(&out).contains(named), "{param}: {}", stderr_of(&out));
    }
}

/// D-LIE on the raw byz:policy@0.2.0 bindings (tests/fixtures/dlie-v0-2: honest models lent,
/// μ + 2σ by the host kernel) sends exactly the bytes of the 0.1.0 build
/// policies/v0.1.0/dlie.wasm.
#[test]
fn an_attack_on_v0_2_kernels_sends_the_bytes_of_its_v0_1_build() {
    let s = Scratch::new();
    let (m, d) = (7, 1003);
    let honest: Vec<f32> = (0..m * d).map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0).collect();
    let h = s.npy("h.npy", &[m, d], &honest);
    let craft = |policy: &str, out: &str| {
        let o = s
            .byzhost()
            .arg("call")
            .arg(component(policy))
            .arg("--honest")
            .arg(&h)
            .args(["--byzantine", "3", "--out"])
            .arg(s.path(out))
            .output()
            .unwrap();
        assert!(o.status.success(), "{policy}: {}", stderr_of(&o));
        std::fs::read(s.path(out)).unwrap()
    };
    assert_eq!(craft("policies/v0.1.0/dlie.wasm", "v1.npy"), craft("tests/fixtures/dlie_v0_2.wasm", "v2.npy"));
}

/// Every shipped policy, rebuilt on byz-policy-sdk 0.2 (byz:policy@0.2.0, host kernels),
/// answers a call with the bytes of its 0.1.0 build (policies/v0.1.0). MOZI needs a node's
/// data, which `call` does not have; the run test covers it.
#[test]
fn every_shipped_policy_answers_a_call_with_the_bytes_of_its_v0_1_build() {
    let s = Scratch::new();
    let (k, d) = (7, 1003);
    let mut next = uniform_values(0x9e37_79b9_7f4a_7c15);
    let values: Vec<f32> = (0..(k + 2) * d).map(|_| next()).collect();
    s.npy("p.npy", &[d], &values[..d]);
    s.npy("l.npy", &[d], &values[d..2 * d]);
    s.npy("r.npy", &[k, d], &values[2 * d..]);
    s.npy("h.npy", &[k, d], &values[2 * d..]);
    let defenses = ["standalone", "dpsgd", "sim_reweight", "bridge", "tvnorm"];
    let attacks = ["dlie", "alie", "ipm", "reverse", "random", "targeted"];
    let answer = |file: &str, role_args: &[&str]| {
        let o = s.byzhost().arg("call").arg(component(file)).args(role_args).current_dir(s.dir.path()).output().unwrap();
        assert!(o.status.success(), "{file}: {}", stderr_of(&o));
        std::fs::read(s.path("o.npy")).unwrap()
    };
    let defense_args = ["--prev", "p.npy", "--local", "l.npy", "--received", "r.npy", "--lr", "0.1", "--out", "o.npy"];
    let attack_args = ["--honest", "h.npy", "--byzantine", "3", "--out", "o.npy"];
    for name in defenses.iter().chain(&attacks) {
        let args: &[&str] = if defenses.contains(name) { &defense_args } else { &attack_args };
        let (v1, v2) = (answer(&format!("policies/v0.1.0/{name}.wasm"), args), answer(&format!("policies/{name}.wasm"), args));
        assert!(v1 == v2, "{name}: the 0.2.0 build answers differently from its 0.1.0 build");
    }
}
