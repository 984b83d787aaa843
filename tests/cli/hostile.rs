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

// Through `byzhost run`: host imports, the memory budget across instances, and the record a
// faulted or killed run leaves.

/// A small run (5 nodes, no Byzantine node, 5 rounds an epoch) of a fixture defense.
fn run_fixture_defense(s: &Scratch, fixture: &str, epochs: &str, extra: &[&str]) -> std::process::Output {
    s.byzhost()
        .arg("run")
        .args(["--nodes", "5", "--byzantine", "0", "--topology", "complete", "--epochs", epochs, "--batch-size", "200"])
        .args(["--eval-samples", "100", "--device", "cpu", "--quiet", "--out"])
        .arg(s.path("run"))
        .arg("--defense")
        .arg(component(&format!("tests/fixtures/{fixture}.wasm")))
        .args(extra)
        .env_remove("BYZHOST_DATA")
        .output()
        .unwrap()
}

fn summary(s: &Scratch) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(s.path("run/summary.json")).unwrap()).unwrap()
}

/// The milliseconds after which a timeout fault says the call was stopped.
fn stopped_after_ms(err: &str) -> u64 {
    let rest = &err[err.find("stopped after ").expect(err) + "stopped after ".len()..];
    rest.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn the_deadline_holds_inside_host_calls() {
    let s = Scratch::new();
    let out = run_fixture_defense(&s, "hostile_oracle", "1", &["--policy-timeout-ms", "300"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_no_host_panic(&err);
    assert!(has_error_class(&err, "timeout") && err.contains("inside a host call it made"), "{err}");
    // One candidate takes a few milliseconds; the margin is for a loaded 2-core machine.
    let stopped = stopped_after_ms(&err);
    assert!((300..1300).contains(&stopped), "stopped after {stopped} ms for a 300 ms deadline:\n{err}");
    assert_eq!(summary(&s)["status"], "policy-fault");
}

#[test]
fn host_work_per_policy_call_is_budgeted() {
    let s = Scratch::new();
    let out = run_fixture_defense(&s, "hostile_oracle", "1", &["--policy-timeout-ms", "600000"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(has_error_class(&err, "policy-error") && err.contains("budget of 1024 per policy call"), "{err}");
    let s = Scratch::new();
    let out = run_fixture_defense(&s, "hostile_oracle", "1", &["--defense-param", "count=1000"]);
    let err = stderr_of(&out);
    assert!(has_error_class(&err, "policy-error") && err.contains("the host evaluates at most 512"), "{err}");
}

#[test]
fn instances_together_stay_within_the_total_memory_budget() {
    let s = Scratch::new();
    // Four regular nodes keep 16 MiB each, one instance per node: 64 MiB and more, over 40.
    let out = run_fixture_defense(&s, "hostile_hoard", "1", &["--policy-memory-total-mb", "40"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_no_host_panic(&err);
    assert!(has_error_class(&err, "memory-limit"), "{err}");
    assert!(err.contains("over their total budget of 41943040 bytes") && err.contains("--policy-memory-total-mb"), "{err}");
    assert!(err.contains("policy `hostile-hoard` 0.1.0") && err.contains("at node "), "{err}");
    let summary = summary(&s);
    assert_eq!(summary["status"], "policy-fault");
    assert!(summary["error"].as_str().unwrap().contains("total budget"), "{summary}");
    // The same run fits a budget that holds every instance.
    let s = Scratch::new();
    let out = run_fixture_defense(&s, "hostile_hoard", "1", &["--policy-memory-total-mb", "512"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
}

#[test]
fn a_killed_run_leaves_a_readable_record_that_resume_completes() {
    let s = Scratch::new();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("byzhost"))
        .env("BYZHOST_CACHE_DIR", s.path("cache"))
        .env_remove("BYZHOST_DATA")
        .args(["run", "--nodes", "5", "--byzantine", "0", "--topology", "complete", "--epochs", "40", "--batch-size", "200"])
        .args(["--eval-samples", "100", "--device", "cpu", "--quiet", "--out"])
        .arg(s.path("run"))
        .arg("--defense")
        .arg(component("policies/dpsgd.wasm"))
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let metrics = s.path("run/metrics.jsonl");
    let started = Instant::now();
    while std::fs::read_to_string(&metrics).map_or(0, |t| t.lines().count()) < 2 {
        assert!(started.elapsed() < Duration::from_secs(300), "no two epochs within 300 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Killed as the kernel's out-of-memory killer would: no chance to write anything.
    child.kill().unwrap();
    child.wait().unwrap();
    let record = summary(&s);
    assert_eq!(record["status"], "running", "{record}");
    let epochs = record["epochs_completed"].as_u64().unwrap();
    assert!(epochs >= 1 && record["best_accuracy"].as_f64().is_some(), "{record}");
    let out = s.byzhost().args(["run", "--resume", "--quiet", "--out"]).arg(s.path("run")).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let record = summary(&s);
    assert_eq!((record["status"].as_str(), record["epochs_completed"].as_u64()), (Some("completed"), Some(40)), "{record}");
}

/// A byz:policy@0.2.0 defense that keeps a lent model past its call and reads it in the
/// next one traps there, named as such; the run records the fault and keeps its record.
#[test]
fn a_lent_model_kept_past_its_call_traps_when_used() {
    let s = Scratch::new();
    let out = s
        .byzhost()
        .arg("run")
        .args(["--nodes", "4", "--byzantine", "0", "--topology", "complete", "--epochs", "1", "--batch-size", "250"])
        .args(["--eval-samples", "100", "--device", "cpu", "--quiet", "--defense"])
        .arg(component("tests/fixtures/hostile_stale_model.wasm"))
        .arg("--out")
        .arg(s.path("r"))
        .env_remove("BYZHOST_DATA")
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert!(!out.status.success(), "{err}");
    assert_no_host_panic(&err);
    assert!(has_error_class(&err, "trap") && err.contains("lent to an earlier call"), "{err}");
    assert!(err.contains("round 1"), "the first call succeeds, the second traps: {err}");
    let summary = std::fs::read_to_string(s.path("r/summary.json")).unwrap();
    assert!(summary.contains("policy-fault"), "{summary}");
}
