//! Hostile fixtures through `byzhost call`: each misbehaviour becomes its own error class,
//! the process exits cleanly, and never later than the deadline allows.

use std::time::{Duration, Instant};

use crate::support::{assert_no_host_panic, component, has_error_class, stderr_of, Scratch};

/// Runs a fixture defense on small inputs with a 500 ms deadline and a 128 MiB cap;
/// returns stderr and the wall time.
fn run_fixture(name: &str) -> (String, Duration) {
    let s = Scratch::new();
    s.npy("p.npy", &[4], &[1.0, 2.0, 3.0, 4.0]);
    s.npy("r.npy", &[2, 4], &[0.0; 8]);
    let started = Instant::now();
    let out = s
        .byzhost()
        .arg("call")
        .arg(component(&format!("tests/fixtures/{name}.wasm")))
        .args(["--prev", "p.npy", "--local", "p.npy", "--received", "r.npy", "--out", "o.npy"])
        .args(["--policy-timeout-ms", "500", "--policy-memory-mb", "128"])
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{name} should fail cleanly with exit code 1:\n{err}");
    assert_no_host_panic(&err);
    assert!(!s.path("o.npy").exists(), "{name}: no output may be written on a fault");
    (err, elapsed)
}

fn assert_names_policy_node_round(err: &str, policy: &str) {
    assert!(err.contains(&format!("policy `{policy}` 0.1.0 (")), "{err}");
    assert!(err.contains(".wasm)") && err.contains("at node 0, round 0"), "{err}");
}

#[test]
fn an_endless_loop_is_stopped_at_the_deadline() {
    let (err, elapsed) = run_fixture("hostile_loop");
    assert!(has_error_class(&err, "timeout"), "{err}");
    assert!(err.contains("deadline of 500ms"), "{err}");
    assert_names_policy_node_round(&err, "hostile-loop");
    // Generous bound: process start + JIT + 500 ms deadline, on a loaded 2-core machine.
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
}

#[test]
fn unbounded_memory_growth_hits_the_cap() {
    let (err, _) = run_fixture("hostile_memory");
    assert!(has_error_class(&err, "memory-limit"), "{err}");
    assert!(err.contains("over the cap of 134217728 bytes"), "{err}");
    assert_names_policy_node_round(&err, "hostile-memory");
}

#[test]
fn a_trap_is_reported_with_the_policys_panic_message() {
    let (err, _) = run_fixture("hostile_trap");
    assert!(has_error_class(&err, "trap"), "{err}");
    assert!(err.contains("hostile-trap panics on purpose"), "{err}");
    assert_names_policy_node_round(&err, "hostile-trap");
}

#[test]
fn a_wrong_output_length_is_reported_with_both_lengths() {
    let (err, _) = run_fixture("hostile_length");
    assert!(has_error_class(&err, "wrong-length"), "{err}");
    assert!(err.contains("returned 5 values, expected 4"), "{err}");
}

#[test]
fn non_finite_output_from_finite_input_is_a_policy_fault() {
    let (err, _) = run_fixture("hostile_nan");
    assert!(has_error_class(&err, "non-finite"), "{err}");
    assert!(err.contains("NaN at index 0"), "{err}");
}

#[test]
fn an_unsupported_wit_version_is_refused_before_running() {
    let (err, _) = run_fixture("future_version");
    assert!(has_error_class(&err, "incompatible-version"), "{err}");
}
