//! `byzhost run`: real training on the embedded Fashion-MNIST subset with real components.
//! Runs are small (5 nodes, 5 rounds per epoch, 200 test images) to keep the suite fast.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{assert_no_host_panic, component, has_error_class, stderr_of, Scratch};

/// A small run: 5 nodes over the 5,000 embedded images → 1,000 each, batch 200 → 5 rounds.
fn small_run(s: &Scratch, out: &str, extra: &[&str]) -> std::process::Output {
    s.byzhost()
        .arg("run")
        .args(["--nodes", "5", "--byzantine", "1", "--topology", "complete", "--epochs", "2"])
        .args(["--batch-size", "200", "--eval-samples", "200", "--device", "cpu", "--seed", "7", "--quiet"])
        .arg("--defense")
        .arg(component("policies/dpsgd.wasm"))
        .arg("--out")
        .arg(s.path(out))
        .args(extra)
        .env_remove("BYZHOST_DATA")
        .output()
        .unwrap()
}

/// `byzhost run --resume --quiet --out <out>` in the scratch directory.
fn resume(s: &Scratch, out: &str) -> std::process::Output {
    s.byzhost().args(["run", "--resume", "--quiet", "--out"]).arg(s.path(out)).output().unwrap()
}

fn metrics(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The metrics that must be reproducible (timings are not).
fn outcome(dir: &Path) -> Vec<Value> {
    metrics(dir)
        .into_iter()
        .map(|m| {
            let keep = ["epoch", "round", "accuracy_mean", "accuracy_min", "accuracy_max", "consensus_error", "train_loss", "diverged"];
            Value::Object(keep.iter().map(|k| (k.to_string(), m[*k].clone())).collect())
        })
        .collect()
}

fn summary(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn same_seed_gives_identical_metrics() {
    let s = Scratch::new();
    let reverse = component("policies/reverse.wasm");
    for out in ["a", "b"] {
        let o = small_run(&s, out, &["--attack", reverse.to_str().unwrap(), "--topology", "static", "--nodes", "6", "--edge-prob", "0.9"]);
        assert!(o.status.success(), "{}", stderr_of(&o));
    }
    let (a, b) = (outcome(&s.path("a")), outcome(&s.path("b")));
    assert_eq!(a.len(), 2);
    assert_eq!(a, b);
    let o = small_run(
        &s,
        "c",
        &["--attack", reverse.to_str().unwrap(), "--topology", "static", "--nodes", "6", "--edge-prob", "0.9", "--seed", "8"],
    );
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert_ne!(a, outcome(&s.path("c")), "a different seed should change the run");
}

#[test]
fn results_do_not_depend_on_the_number_of_aggregation_threads() {
    let s = Scratch::new();
    let dlie = component("policies/dlie.wasm");
    // sim_reweight is stateless (instances shared by the nodes of a worker); mozi calls back
    // into each node's local data.
    for defense in ["sim_reweight", "mozi"] {
        for threads in ["1", "3"] {
            let out = format!("{defense}-{threads}");
            let policy = component(&format!("policies/{defense}.wasm"));
            let o = small_run(
                &s,
                &out,
                &[
                    "--nodes",
                    "8",
                    "--topology",
                    "static",
                    "--edge-prob",
                    "0.8",
                    "--attack",
                    dlie.to_str().unwrap(),
                    "--agg-threads",
                    threads,
                    "--defense",
                    policy.to_str().unwrap(),
                ],
            );
            assert!(o.status.success(), "{defense} --agg-threads {threads}: {}", stderr_of(&o));
        }
        let (one, three) = (outcome(&s.path(&format!("{defense}-1"))), outcome(&s.path(&format!("{defense}-3"))));
        assert_eq!(one.len(), 2);
        assert_eq!(one, three, "{defense}");
    }
}

#[test]
fn the_stacked_training_path_matches_the_per_node_path() {
    let s = Scratch::new();
    // A run that learns and keeps the models apart, so there is something to compare.
    let defense = component("policies/sim_reweight.wasm");
    for path in ["per-node", "stacked"] {
        let o = small_run(
            &s,
            path,
            &["--nodes", "6", "--topology", "static", "--edge-prob", "0.7", "--defense", defense.to_str().unwrap(), "--train-path", path],
        );
        assert!(o.status.success(), "--train-path {path}: {}", stderr_of(&o));
    }
    let (reference, stacked) = (metrics(&s.path("per-node")), metrics(&s.path("stacked")));
    assert_eq!(reference.len(), 2);
    for (a, b) in reference.iter().zip(&stacked) {
        // Same models up to float summation order (measured: losses agree to 1e-7,
        // consensus errors to 0.5 %), accuracies on 5 × 200 images to a prediction or two.
        let (la, lb) = (a["train_loss"].as_f64().unwrap(), b["train_loss"].as_f64().unwrap());
        assert!((la - lb).abs() < 1e-4 * la.abs().max(1.0), "train loss {la} vs {lb}");
        let (aa, ab) = (a["accuracy_mean"].as_f64().unwrap(), b["accuracy_mean"].as_f64().unwrap());
        assert!((aa - ab).abs() <= 0.011, "accuracy {aa} vs {ab}");
        let (ca, cb) = (a["consensus_error"].as_f64().unwrap(), b["consensus_error"].as_f64().unwrap());
        assert!(ca > 0.0 && (ca - cb).abs() <= 0.02 * ca, "consensus error {ca} vs {cb}");
    }
    let o = small_run(&s, "bad", &["--train-path", "vmap"]);
    assert!(!o.status.success() && stderr_of(&o).contains("--train-path must be auto, per-node or stacked"), "{}", stderr_of(&o));
}

#[test]
fn run_directory_holds_config_policies_metrics_summary_and_checkpoint() {
    let s = Scratch::new();
    let o = small_run(&s, "r", &[]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let dir = s.path("r");
    for f in ["config.toml", "policies.json", "metrics.jsonl", "summary.json", "checkpoint.bin"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(config.contains("nodes = 5") && config.contains("batch_size = 200"), "{config}");
    let m = metrics(&dir);
    for key in
        ["epoch", "round", "accuracy_mean", "accuracy_min", "accuracy_max", "consensus_error", "train_loss", "agg_ms_median", "agg_ms_p95"]
    {
        assert!(m[0].get(key).is_some(), "metrics lack {key}");
    }
    assert_eq!(m[1]["round"], 10);
    // Which regular node is weakest and strongest, by id: a node of the run, and the same
    // node when every model scores alike.
    for key in ["weakest_node", "strongest_node"] {
        assert!(m[1][key].as_u64().is_some_and(|id| id < 5), "{key}: {}", m[1]);
    }
    let acc = m[1]["accuracy_mean"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    let sm = summary(&dir);
    assert_eq!(sm["status"], "completed");
    for key in ["best_accuracy", "consensus_error_at_best", "rounds_to_target"] {
        assert!(sm.get(key).is_some(), "summary lacks {key}");
    }
    // The machine that computed it: metrics are bit-reproducible on one kind of CPU only.
    assert!(sm["machine"]["cpu"].as_str().is_some_and(|c| !c.is_empty()), "{sm}");
    assert!(sm["machine"]["logical_cores"].as_u64().is_some_and(|n| n >= 1), "{sm}");
    let policies: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("policies.json")).unwrap()).unwrap();
    assert_eq!(policies["defense"]["sha256"].as_str().unwrap().len(), 64);
    // The table on stdout.
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("best mean accuracy") && table.contains("consensus error at best"), "{table}");
    assert!(table.contains("computed on"), "{table}");
}

#[test]
fn dpsgd_on_a_complete_graph_without_attack_reaches_exact_consensus() {
    let s = Scratch::new();
    let o = small_run(&s, "r", &["--byzantine", "0"]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    for m in metrics(&s.path("r")) {
        assert_eq!(m["consensus_error"].as_f64(), Some(0.0), "{m}");
        assert_eq!(m["accuracy_min"], m["accuracy_max"]);
        assert_eq!(m["weakest_node"], m["strongest_node"], "ties go to the same node: {m}");
    }
}

#[test]
fn training_learns_something_on_the_embedded_subset() {
    let s = Scratch::new();
    let o = small_run(&s, "r", &["--byzantine", "0", "--epochs", "3", "--batch-size", "50"]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let m = metrics(&s.path("r"));
    let first = m[0]["train_loss"].as_f64().unwrap();
    let last = m[2]["train_loss"].as_f64().unwrap();
    assert!(last < first, "loss should fall: {first} -> {last}");
    assert!(m[2]["accuracy_mean"].as_f64().unwrap() > 0.5, "{}", m[2]);
}

#[test]
fn byzantine_nodes_without_an_attack_are_silent_and_b_zero_works() {
    let s = Scratch::new();
    let o = small_run(&s, "none", &["--attack", "none"]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let o = small_run(&s, "zero", &["--byzantine", "0", "--attack", component("policies/reverse.wasm").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert_eq!(summary(&s.path("zero"))["status"], "completed");
}

#[test]
fn resume_after_a_kill_ends_with_the_same_metrics() {
    let s = Scratch::new();
    let args = |out: &str| {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("byzhost"));
        c.env("BYZHOST_CACHE_DIR", s.path("cache"))
            .env_remove("BYZHOST_DATA")
            .args(["run", "--nodes", "5", "--byzantine", "1", "--topology", "complete", "--epochs", "4"])
            .args(["--batch-size", "200", "--eval-samples", "200", "--device", "cpu", "--quiet"])
            .arg("--attack")
            .arg(component("policies/reverse.wasm"))
            .arg("--defense")
            .arg(component("policies/dpsgd.wasm"))
            .arg("--out")
            .arg(s.path(out));
        c
    };
    assert!(args("full").status().unwrap().success());

    let mut child = args("cut").stderr(std::process::Stdio::null()).stdout(std::process::Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while !std::fs::read_to_string(s.path("cut/metrics.jsonl")).is_ok_and(|t| !t.is_empty()) {
        assert!(started.elapsed() < Duration::from_secs(120), "no epoch finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let resumed = resume(&s, "cut");
    assert!(resumed.status.success(), "{}", stderr_of(&resumed));
    assert_eq!(outcome(&s.path("cut")), outcome(&s.path("full")));
    assert_eq!(summary(&s.path("cut"))["best_accuracy"], summary(&s.path("full"))["best_accuracy"]);
    // The wall time covers the epochs the killed process computed too.
    let epochs_s: f64 = metrics(&s.path("cut")).iter().map(|m| m["time_epoch_s"].as_f64().expect("time_epoch_s")).sum();
    assert!(summary(&s.path("cut"))["wall_time_s"].as_f64().unwrap() >= epochs_s);
}

#[test]
fn resume_without_a_checkpoint_says_so_and_trains_again_to_the_same_metrics() {
    let s = Scratch::new();
    let o = small_run(&s, "r", &[]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let expected = outcome(&s.path("r"));
    // What a committed record of an interrupted run looks like on another machine.
    std::fs::remove_file(s.path("r/summary.json")).unwrap();
    std::fs::remove_file(s.path("r/checkpoint.bin")).unwrap();
    let resumed = resume(&s, "r");
    assert!(resumed.status.success(), "{}", stderr_of(&resumed));
    let err = stderr_of(&resumed);
    assert!(
        err.contains("metrics.jsonl holds 2 epochs but the checkpoint covers 0") && err.contains("training again from epoch 1"),
        "{err}"
    );
    assert_eq!(outcome(&s.path("r")), expected);
}

/// A checkpoint ahead of the record (one carried beside an older copy of metrics.jsonl)
/// cannot resume without a gap in the record: refused, and the way on it names works.
#[test]
fn resume_refuses_a_checkpoint_ahead_of_the_recorded_metrics() {
    let s = Scratch::new();
    let o = small_run(&s, "r", &[]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let expected = outcome(&s.path("r"));
    std::fs::remove_file(s.path("r/summary.json")).unwrap();
    let full = std::fs::read_to_string(s.path("r/metrics.jsonl")).unwrap();
    let first_epoch_only = format!("{}\n", full.lines().next().unwrap());
    std::fs::write(s.path("r/metrics.jsonl"), &first_epoch_only).unwrap();

    let o = resume(&s, "r");
    assert!(!o.status.success());
    let err = stderr_of(&o);
    assert_no_host_panic(&err);
    assert!(err.contains("saved after epoch 2") && err.contains("records only 1 epochs") && err.contains("delete checkpoint.bin"), "{err}");
    assert_eq!(std::fs::read_to_string(s.path("r/metrics.jsonl")).unwrap(), first_epoch_only);
    assert!(!s.path("r/summary.json").exists());

    std::fs::remove_file(s.path("r/checkpoint.bin")).unwrap();
    let o = resume(&s, "r");
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert_eq!(outcome(&s.path("r")), expected);
}

#[test]
fn resume_warns_when_the_libtorch_thread_count_differs_from_the_recorded_one() {
    let s = Scratch::new();
    let o = small_run(&s, "r", &[]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let path = s.path("r/summary.json");
    let mut recorded: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(recorded["machine"]["torch_threads"].as_u64().is_some_and(|t| t >= 1), "the count is recorded: {recorded}");
    let o = resume(&s, "r");
    assert!(!stderr_of(&o).contains("libtorch threads"), "same count, no warning: {}", stderr_of(&o));
    recorded["machine"]["torch_threads"] = 99.into();
    std::fs::write(&path, recorded.to_string()).unwrap();
    let o = resume(&s, "r");
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert!(stderr_of(&o).contains("trained with 99 libtorch threads"), "{}", stderr_of(&o));
}

#[test]
fn resume_refuses_other_settings() {
    let s = Scratch::new();
    assert!(small_run(&s, "r", &["--epochs", "1"]).status.success());
    let o = s.byzhost().args(["run", "--resume", "--nodes", "9", "--out"]).arg(s.path("r")).output().unwrap();
    assert!(!o.status.success());
    assert!(stderr_of(&o).contains("--resume takes every setting from"), "{}", stderr_of(&o));
}

/// A record must not mix two builds of a policy: `--resume` refuses a component whose
/// sha256 differs from the one `policies.json` recorded when the run started, and leaves the
/// run directory as it was.
#[test]
fn resume_refuses_a_policy_build_other_than_the_recorded_one() {
    let s = Scratch::new();
    assert!(small_run(&s, "r", &["--epochs", "1"]).status.success());
    std::fs::remove_file(s.path("r/summary.json")).unwrap();
    let recorded = std::fs::read_to_string(s.path("r/policies.json")).unwrap();
    let mut policies: Value = serde_json::from_str(&recorded).unwrap();
    let actual = policies["defense"]["sha256"].as_str().unwrap().to_string();
    let other = "0".repeat(64);
    policies["defense"]["sha256"] = Value::from(other.clone());
    std::fs::write(s.path("r/policies.json"), policies.to_string()).unwrap();
    let before = std::fs::read_to_string(s.path("r/metrics.jsonl")).unwrap();

    let o = resume(&s, "r");
    assert!(!o.status.success());
    let err = stderr_of(&o);
    assert_no_host_panic(&err);
    assert!(err.contains("--resume") && err.contains("defense") && err.contains("dpsgd.wasm"), "{err}");
    assert!(err.contains(&actual) && err.contains(&other) && err.contains("start the run over"), "{err}");
    assert_eq!(std::fs::read_to_string(s.path("r/metrics.jsonl")).unwrap(), before);
    assert!(!s.path("r/summary.json").exists());

    // With the recorded build back in place, the same command resumes.
    std::fs::write(s.path("r/policies.json"), recorded).unwrap();
    let o = resume(&s, "r");
    assert!(o.status.success(), "{}", stderr_of(&o));
}

#[test]
fn an_existing_run_directory_is_not_overwritten() {
    let s = Scratch::new();
    assert!(small_run(&s, "r", &["--epochs", "1"]).status.success());
    let o = small_run(&s, "r", &["--epochs", "1"]);
    assert!(!o.status.success());
    assert!(stderr_of(&o).contains("already holds a run"), "{}", stderr_of(&o));
}

/// A run directory another process is writing (here: this test holds its lock) is refused
/// with that process's pid, for `--resume` and for a new run, and left as it was; once the
/// lock is let go the directory is usable again.
#[test]
fn a_run_directory_another_process_is_writing_is_left_alone() {
    use byzhost::record::lock::RunLock;
    let s = Scratch::new();
    assert!(small_run(&s, "r", &["--epochs", "1"]).status.success());
    let before = std::fs::read_to_string(s.path("r/metrics.jsonl")).unwrap();
    let pid = format!("pid {}", std::process::id());

    let held = RunLock::acquire(&s.path("r")).unwrap();
    let o = s.byzhost().args(["run", "--resume", "--out"]).arg(s.path("r")).output().unwrap();
    assert!(!o.status.success());
    assert!(stderr_of(&o).contains(&pid) && stderr_of(&o).contains("--out"), "{}", stderr_of(&o));
    assert_eq!(std::fs::read_to_string(s.path("r/metrics.jsonl")).unwrap(), before);
    drop(held);

    std::fs::create_dir(s.path("n")).unwrap();
    let held = RunLock::acquire(&s.path("n")).unwrap();
    let o = small_run(&s, "n", &["--epochs", "1"]);
    assert!(!o.status.success());
    assert!(stderr_of(&o).contains(&pid), "{}", stderr_of(&o));
    assert!(!s.path("n/config.toml").exists(), "a refused run writes nothing");
    drop(held);
    let o = small_run(&s, "n", &["--epochs", "1"]);
    assert!(o.status.success(), "{}", stderr_of(&o));
}

#[test]
fn invalid_inputs_are_rejected_before_training_naming_the_value() {
    let s = Scratch::new();
    let cases: &[(&[&str], &str)] = &[
        (&["--byzantine", "5"], "--byzantine (5) must be less than --nodes (5)"),
        (&["--edge-prob", "1.5"], "--edge-prob must be in (0, 1]"),
        (&["--edge-prob", "0"], "--edge-prob must be in (0, 1]"),
        (&["--local-steps", "0"], "--local-steps"),
        (&["--batch-size", "5000"], "--batch-size 5000 is larger than a node's shard"),
        (&["--device", "tpu"], "--device must be auto, cpu or cuda"),
        (&["--defense", "no/such.wasm"], "--defense: policy file no/such.wasm does not exist"),
        (&["--attack", "no/such.wasm"], "--attack: policy file no/such.wasm does not exist"),
        (&["--data", "/no/such/dir"], "--data: /no/such/dir is not a directory"),
        (&["--topology", "star"], "--topology must be"),
        (&["--defense-param", "weights"], "NAME=VALUE"),
    ];
    for (i, (flags, expected)) in cases.iter().enumerate() {
        let out = format!("bad{i}");
        let o = small_run(&s, &out, flags);
        let err = stderr_of(&o);
        assert!(!o.status.success(), "{flags:?} should fail");
        assert!(err.contains(expected), "{flags:?}: expected `{expected}` in:\n{err}");
        assert!(!s.path(&out).join("metrics.jsonl").exists(), "{flags:?}: training started");
        assert_no_host_panic(&err);
    }
}

#[test]
fn unreadable_data_is_rejected_naming_the_file() {
    let s = Scratch::new();
    let data = s.path("data");
    std::fs::create_dir_all(&data).unwrap();
    for f in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
        std::fs::write(data.join(f), b"\x00\x00\x08\x01garbage").unwrap();
    }
    let o = small_run(&s, "r", &["--data", data.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr_of(&o).contains("train-images-idx3-ubyte: magic number"), "{}", stderr_of(&o));
}

#[test]
fn divergence_is_recorded_as_a_result_in_valid_json() {
    let s = Scratch::new();
    let o = small_run(&s, "r", &["--byzantine", "0", "--lr", "1e30"]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let sm = summary(&s.path("r"));
    assert_eq!(sm["status"], "diverged", "{sm}");
    assert_eq!(sm["diverged_at"]["epoch"], 1);
    let m = metrics(&s.path("r"));
    assert_eq!(m.len(), 1, "the run stops at the divergence by default");
    assert_eq!(m[0]["diverged"], true);
    let text = std::fs::read_to_string(s.path("r/metrics.jsonl")).unwrap();
    assert!(!text.contains("NaN") && !text.contains("inf"), "{text}");
}

#[test]
fn a_policy_fault_stops_the_run_naming_node_and_round_and_keeps_a_summary() {
    let s = Scratch::new();
    let o = small_run(&s, "r", &["--defense", component("tests/fixtures/hostile_trap.wasm").to_str().unwrap()]);
    assert!(!o.status.success());
    let err = stderr_of(&o);
    assert!(has_error_class(&err, "trap"), "{err}");
    assert!(err.contains("round 0") && err.contains("at node"), "{err}");
    assert_no_host_panic(&err);
    assert_eq!(summary(&s.path("r"))["status"], "policy-fault");
}

/// `--topology random-regular:DEGREE` runs, is recorded as given, says when the degree is
/// below 2b + 1, and refuses a degree no graph can have, naming the flag.
#[test]
fn a_random_regular_topology_runs_and_is_recorded() {
    let s = Scratch::new();
    let o = small_run(&s, "rr", &["--nodes", "12", "--byzantine", "2", "--topology", "random-regular:4", "--epochs", "1"]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert!(std::fs::read_to_string(s.path("rr/config.toml")).unwrap().contains("topology = \"random-regular:4\""));
    assert!(stderr_of(&o).contains("fewer than 2b + 1 = 5 neighbours"), "{}", stderr_of(&o));
    let o = small_run(&s, "odd", &["--nodes", "11", "--byzantine", "2", "--topology", "random-regular:3", "--epochs", "1"]);
    assert!(!o.status.success() && stderr_of(&o).contains("random-regular:3"), "{}", stderr_of(&o));
}

#[test]
fn a_config_file_supplies_settings_and_flags_override_it() {
    let s = Scratch::new();
    let cfg = s.path("exp.toml");
    std::fs::write(&cfg, "nodes = 4\nlr = 0.05\ntarget_accuracy = 0.5\n").unwrap();
    let o = small_run(&s, "r", &["--config", cfg.to_str().unwrap(), "--nodes", "5"]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let written = std::fs::read_to_string(s.path("r/config.toml")).unwrap();
    // small_run passes --nodes 5 --byzantine 1 --topology complete --epochs 2 --batch-size 200 too.
    assert!(written.contains("lr = 0.05") && written.contains("target_accuracy = 0.5"), "{written}");
    assert!(written.contains("nodes = 5"), "the flag overrides the file: {written}");
    std::fs::write(&cfg, "nodez = 4\n").unwrap();
    let o = small_run(&s, "r2", &["--config", cfg.to_str().unwrap()]);
    assert!(stderr_of(&o).contains("nodez"), "{}", stderr_of(&o));
}

#[test]
fn absurd_thread_and_node_counts_are_refused_naming_the_flag() {
    let s = Scratch::new();
    let cases = [
        ("--threads", "100000", "--threads must be between"),
        ("--agg-threads", "100000", "--agg-threads must be between"),
        ("--nodes", "1000000000", "--nodes must be between"),
        ("--policy-timeout-ms", "86400001", "--policy-timeout-ms must be between"),
        // Past what a TOML config can hold, so the run could not record it.
        ("--seed", "18446744073709551615", "--seed: 18446744073709551615 is out of range (at most 9223372036854775807)"),
        ("--policy-timeout-ms", "18446744073709551615", "--policy-timeout-ms: 18446744073709551615 is out of range"),
    ];
    for (flag, value, expected) in cases {
        let o = small_run(&s, "r", &[flag, value]);
        let err = stderr_of(&o);
        assert_eq!(o.status.code(), Some(1), "{flag} {value}: {err}");
        assert_no_host_panic(&err);
        assert!(err.contains(expected), "{flag} {value}: {err}");
        assert!(!s.path("r").exists(), "refused before any work");
    }
}

/// A component rebuilt since its run started: the run pinned its bytes in the policy store
/// (an OCI image layout in the cache), so `--resume` continues with the recorded build and
/// the record matches an uninterrupted run; without the stored copy it is refused.
#[test]
fn a_resumed_run_whose_component_was_rebuilt_gets_the_recorded_bytes() {
    let s = Scratch::new();
    let mine = s.path("mine.wasm");
    std::fs::copy(component("policies/dpsgd.wasm"), &mine).unwrap();
    let mine_flag = ["--defense", mine.to_str().unwrap()];
    assert!(small_run(&s, "full", &mine_flag).status.success());
    let o = small_run(&s, "cut", &[&mine_flag[..], &["--epochs", "1"]].concat());
    assert!(o.status.success(), "{}", stderr_of(&o));
    let policies: Value = serde_json::from_str(&std::fs::read_to_string(s.path("cut/policies.json")).unwrap()).unwrap();
    let defense = &policies["defense"];
    assert!(defense["manifest_digest"].as_str().unwrap().starts_with("sha256:"), "{policies}");
    assert_eq!(defense["world"], "byz:policy/defense-policy@0.2.0");
    assert_eq!(defense["size_bytes"].as_u64(), Some(std::fs::metadata(&mine).unwrap().len()));
    assert!(s.path("cache/oci/oci-layout").is_file() && s.path("cache/oci/index.json").is_file());
    let full: Value = serde_json::from_str(&std::fs::read_to_string(s.path("full/policies.json")).unwrap()).unwrap();
    assert_eq!(full["defense"]["manifest_digest"], defense["manifest_digest"], "the same bytes give the same manifest");
    // The run was cut after its first epoch: it is now asked for two.
    let config = std::fs::read_to_string(s.path("cut/config.toml")).unwrap().replace("epochs = 1\n", "epochs = 2\n");
    std::fs::write(s.path("cut/config.toml"), config).unwrap();
    std::fs::remove_file(s.path("cut/summary.json")).unwrap();
    // The file is rebuilt differently.
    std::fs::copy(component("policies/bridge.wasm"), &mine).unwrap();

    let resumed = resume(&s, "cut");
    assert!(resumed.status.success(), "{}", stderr_of(&resumed));
    assert!(stderr_of(&resumed).contains("continuing with the recorded build"), "{}", stderr_of(&resumed));
    assert_eq!(outcome(&s.path("cut")), outcome(&s.path("full")));

    // Without the stored copy, the rebuilt file is refused as before.
    std::fs::write(
        s.path("cut/config.toml"),
        std::fs::read_to_string(s.path("cut/config.toml")).unwrap().replace("epochs = 2\n", "epochs = 3\n"),
    )
    .unwrap();
    std::fs::remove_file(s.path("cut/summary.json")).unwrap();
    let sha = defense["sha256"].as_str().unwrap();
    std::fs::remove_file(s.path(&format!("cache/oci/blobs/sha256/{sha}"))).unwrap();
    let refused = resume(&s, "cut");
    assert!(!refused.status.success());
    assert!(stderr_of(&refused).contains("the policy store has no copy of that build"), "{}", stderr_of(&refused));
}

/// A defense that reads clocks and randomness through WASI trains the same twice.
#[test]
fn a_wasi_defense_gives_identical_runs() {
    let s = Scratch::new();
    let probe = component("tests/fixtures/wasi_probe.wasm");
    for out in ["a", "b"] {
        let o = small_run(&s, out, &["--defense", probe.to_str().unwrap(), "--epochs", "1"]);
        assert!(o.status.success(), "{}", stderr_of(&o));
    }
    assert_eq!(outcome(&s.path("a")), outcome(&s.path("b")));
}

/// A byz:policy@0.2.0 defense (models lent, host kernels) trains like any other, with
/// results independent of the number of aggregation threads.
#[test]
fn a_v0_2_defense_runs_with_results_independent_of_threads() {
    let s = Scratch::new();
    let v2 = component("tests/fixtures/kernels_v0_2.wasm");
    for threads in ["1", "3"] {
        let o = small_run(
            &s,
            threads,
            &["--defense", v2.to_str().unwrap(), "--defense-param", "kernel=combine", "--agg-threads", threads, "--epochs", "1"],
        );
        assert!(o.status.success(), "{}", stderr_of(&o));
    }
    assert_eq!(outcome(&s.path("1")), outcome(&s.path("3")));
    assert!(outcome(&s.path("1"))[0]["accuracy_mean"].as_f64().unwrap() > 0.0);
}

/// Every shipped policy's byz:policy@0.2.0 build (policies/NAME.wasm) gives, in a run, the
/// metrics of its 0.1.0 build (policies/v0.1.0/NAME.wasm) bit for bit: each defense against
/// D-LIE, each attack against similarity reweighting, 0.1.0 and 0.2.0 components in one run.
#[test]
fn every_shipped_policy_gives_the_metrics_of_its_v0_1_build() {
    let s = Scratch::new();
    let defenses = ["standalone", "dpsgd", "sim_reweight", "bridge", "tvnorm", "mozi"];
    let attacks = ["dlie", "alie", "ipm", "reverse", "random", "targeted"];
    let run = |out: &str, defense: &str, attack: &str| {
        let (defense, attack) = (component(defense), component(attack));
        let args = ["--defense", defense.to_str().unwrap(), "--attack", attack.to_str().unwrap(), "--epochs", "1", "--nodes", "6"];
        let o = small_run(&s, out, &args);
        assert!(o.status.success(), "{out}: {}", stderr_of(&o));
        outcome(&s.path(out))
    };
    for name in defenses {
        let v1 = run(&format!("{name}-v1"), &format!("policies/v0.1.0/{name}.wasm"), "policies/dlie.wasm");
        let v2 = run(&format!("{name}-v2"), &format!("policies/{name}.wasm"), "policies/v0.1.0/dlie.wasm");
        assert_eq!(v1, v2, "{name}");
    }
    for name in attacks {
        let v1 = run(&format!("{name}-v1"), "policies/sim_reweight.wasm", &format!("policies/v0.1.0/{name}.wasm"));
        let v2 = run(&format!("{name}-v2"), "policies/v0.1.0/sim_reweight.wasm", &format!("policies/{name}.wasm"));
        assert_eq!(v1, v2, "{name}");
    }
}

/// A run whose attack is D-LIE on the raw byz:policy@0.2.0 bindings (tests/fixtures) gives
/// the metrics of the run with the 0.1.0 build, bit for bit.
#[test]
fn an_attack_on_the_raw_v0_2_bindings_gives_the_metrics_of_the_v0_1_build() {
    let s = Scratch::new();
    for (out, attack) in [("v1", "policies/v0.1.0/dlie.wasm"), ("v2", "tests/fixtures/dlie_v0_2.wasm")] {
        let o = small_run(
            &s,
            out,
            &[
                "--attack",
                component(attack).to_str().unwrap(),
                "--epochs",
                "1",
                "--topology",
                "static",
                "--nodes",
                "6",
                "--edge-prob",
                "0.9",
            ],
        );
        assert!(o.status.success(), "{attack}: {}", stderr_of(&o));
    }
    assert_eq!(outcome(&s.path("v1")), outcome(&s.path("v2")));
}

/// One quick-profile Fig. 1 cell (n = 50, b = 10, p = 0.6, static, D-LIE with z = 2, two
/// epochs, 1,000 test images) defended by the Python similarity reweighting reaches the
/// best accuracy of the Rust one within half a point.
#[test]
fn the_python_sim_reweight_matches_the_rust_one_on_a_fig1_cell() {
    let s = Scratch::new();
    let cell = |out: &str, defense: &str| {
        let o = s
            .byzhost()
            .arg("run")
            .args(["--nodes", "50", "--byzantine", "10", "--edge-prob", "0.6", "--topology", "static", "--epochs", "2"])
            .args(["--eval-samples", "1000", "--seed", "1", "--device", "cpu", "--quiet"])
            .arg("--defense")
            .arg(component(defense))
            .args(["--defense-param", "c=5", "--attack-param", "z=2.0", "--attack"])
            .arg(component("policies/dlie.wasm"))
            .arg("--out")
            .arg(s.path(out))
            .env_remove("BYZHOST_DATA")
            .output()
            .unwrap();
        assert!(o.status.success(), "{defense}: {}", stderr_of(&o));
        summary(&s.path(out))["best_accuracy"].as_f64().unwrap()
    };
    let (rust, python) = (cell("rust", "policies/sim_reweight.wasm"), cell("python", "examples/python/sim_reweight.wasm"));
    assert!((rust - python).abs() <= 0.005, "best accuracy: Rust {rust}, Python {python}");
}
