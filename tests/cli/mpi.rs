//! `mpirun -np K byzhost run|sweep` (a build with the `mpi` feature): the real OpenMPI
//! launching the real binary on small runs. A run over K ranks must leave the record one
//! process leaves, bit for bit; a fault on any rank must end the job promptly with that
//! record intact; a sweep over ranks must equal the sequential sweep.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::Digest as _;

use crate::support::{assert_no_host_panic, component, has_error_class, stderr_of, Scratch};

/// `mpirun -np RANKS byzhost` with the scratch directory's component cache. Oversubscribed
/// (more ranks than this machine's cores), allowed as root (CI runs as root), and with
/// OpenMPI's shared-memory transport copying through a buffer instead of reading the peer's
/// memory directly, which containers forbid.
fn mpirun(s: &Scratch, ranks: usize) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::from_std(mpirun_process(s, ranks));
    cmd.timeout(Duration::from_secs(600));
    cmd
}

/// [`mpirun`] as a plain process, to start and stop.
fn mpirun_process(s: &Scratch, ranks: usize) -> std::process::Command {
    let mut cmd = std::process::Command::new("mpirun");
    cmd.args(["--oversubscribe", "-np", &ranks.to_string()])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
        .env("BYZHOST_CACHE_DIR", s.path("cache"))
        .env_remove("BYZHOST_DATA")
        .arg(assert_cmd::cargo::cargo_bin("byzhost"));
    cmd
}

/// `byzhost` alone (`ranks` = 1) or under `mpirun -np ranks`.
fn byzhost(s: &Scratch, ranks: usize) -> assert_cmd::Command {
    match ranks {
        1 => {
            let mut cmd = s.byzhost();
            cmd.env_remove("BYZHOST_DATA");
            cmd
        }
        k => mpirun(s, k),
    }
}

/// A small run: 10 nodes (2 Byzantine) over the 5,000 embedded images, batch 250 → 2 rounds
/// an epoch, 200 test images.
fn run_args(out: &Path, defense: &str, attack: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["run", "--nodes", "10", "--byzantine", "2", "--topology", "static", "--edge-prob", "0.8"]
        .iter()
        .chain(&["--epochs", "2", "--batch-size", "250", "--eval-samples", "200", "--device", "cpu", "--seed", "11", "--quiet"])
        .map(|a| a.to_string())
        .collect();
    args.extend(["--defense".into(), component(&format!("policies/{defense}.wasm")).display().to_string()]);
    args.extend(["--attack".into(), component(&format!("policies/{attack}.wasm")).display().to_string()]);
    args.extend(["--out".into(), out.display().to_string()]);
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

/// What must not depend on the number of ranks: the metrics and the summary without their
/// timings, machine and the ranks' own exchange figures, and the checkpoint's bytes (as
/// their sha256, empty without a checkpoint).
fn record(dir: &Path) -> (Vec<Value>, Value, String) {
    let untimed = |mut v: Value| {
        v.as_object_mut().unwrap().retain(|k, _| {
            !k.starts_with("time_")
                && !k.starts_with("agg_ms")
                && !k.starts_with("peak_rss")
                && !["attack_ms_total", "train_samples_per_s", "wall_time_s", "machine", "exchange"].contains(&k.as_str())
        });
        v
    };
    // A run that failed in its first epoch has no metrics yet.
    let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap_or_default();
    let metrics = metrics.lines().map(|l| untimed(serde_json::from_str(l).unwrap())).collect();
    let summary = untimed(serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap());
    let checkpoint = std::fs::read(dir.join("checkpoint.bin")).map(|bytes| format!("{:x}", sha2::Sha256::digest(bytes)));
    (metrics, summary, checkpoint.unwrap_or_default())
}

#[test]
fn version_says_mpi_is_compiled_in() {
    let o = Scratch::new().byzhost().arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("MPI support: compiled in"), "{o:?}");
}

#[test]
fn runs_over_2_and_4_ranks_leave_the_record_of_one_process() {
    let s = Scratch::new();
    // Stateless defense shared per worker, broadcast attack; a stateful defense with an
    // instance and a loss oracle per node, per-receiver attack, and a new graph each epoch.
    let cases: [(&str, &str, &[&str], &[usize]); 2] =
        [("sim_reweight", "dlie", &[], &[2, 4]), ("mozi", "targeted", &["--topology", "time-varying"], &[2])];
    for (defense, attack, extra, ranks) in cases {
        let one = s.path(&format!("{defense}-1"));
        let o = byzhost(&s, 1).args(run_args(&one, defense, attack, extra)).output().unwrap();
        assert!(o.status.success(), "{}", stderr_of(&o));
        let reference = record(&one);
        assert_eq!(reference.0.len(), 2);
        assert!(!reference.2.is_empty(), "a checkpoint");
        for &k in ranks {
            let dir = s.path(&format!("{defense}-{k}"));
            let o = byzhost(&s, k).args(run_args(&dir, defense, attack, extra)).output().unwrap();
            assert!(o.status.success(), "{defense}, {k} ranks: {}", stderr_of(&o));
            assert_eq!(record(&dir), reference, "{defense} vs {attack}, {k} ranks");
            let summary: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
            assert_eq!(summary["machine"]["mpi_ranks"], k, "the summary says how many ranks computed it");
            assert_eq!(summary["peak_rss_mib_ranks"].as_array().map(Vec::len), Some(k));
            let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
            assert!(metrics.contains("\"time_exchange_s\""), "the exchange time is recorded: {metrics}");
        }
    }
}

#[test]
fn a_run_cut_under_4_ranks_resumes_under_2_to_the_record_of_one_process() {
    let s = Scratch::new();
    let args = |out: &Path| run_args(out, "sim_reweight", "dlie", &["--epochs", "3"]);
    let o = byzhost(&s, 1).args(args(&s.path("full"))).output().unwrap();
    assert!(o.status.success(), "{}", stderr_of(&o));

    let cut = s.path("cut");
    let mut launcher = mpirun_process(&s, 4);
    launcher.args(args(&cut));
    let mut child = launcher.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while !std::fs::read_to_string(cut.join("metrics.jsonl")).is_ok_and(|t| !t.is_empty()) {
        assert!(started.elapsed() < Duration::from_secs(300), "no epoch finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGTERM: mpirun ends every rank before it exits (SIGKILL would leave them running).
    assert!(std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    child.wait().unwrap();

    let o = byzhost(&s, 2).args(["run", "--resume", "--quiet", "--out"]).arg(&cut).output().unwrap();
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert_eq!(record(&cut), record(&s.path("full")));
}

#[test]
fn a_fault_on_the_last_rank_ends_the_job_with_the_record_of_one_process() {
    let s = Scratch::new();
    // From round 2 (the first of epoch 2) at nodes 7 and up: regular rows 5 and later,
    // which rank 1 of 2 owns; epoch 1 is complete.
    let trap = component("tests/fixtures/hostile_trap.wasm").display().to_string();
    let args = |out: &Path| {
        let mut a = run_args(out, "dpsgd", "dlie", &["--defense-param", "from-node=7", "--defense-param", "from-round=2"]);
        let at = a.iter().position(|x| x == "--defense").unwrap();
        a[at + 1] = trap.clone();
        a
    };
    let one = byzhost(&s, 1).args(args(&s.path("one"))).output().unwrap();
    assert!(!one.status.success());
    let started = Instant::now();
    let two = byzhost(&s, 2).args(args(&s.path("two"))).output().unwrap();
    let took = started.elapsed();
    let err = stderr_of(&two);
    assert!(!two.status.success(), "{err}");
    assert_no_host_panic(&err);
    assert!(has_error_class(&err, "trap"), "{err}");
    assert_eq!(err.matches("error[trap]").count(), 1, "one message for the job:\n{err}");
    assert!(err.contains(" at node ") && err.contains(", round 2"), "names node and round: {err}");
    assert!(took < Duration::from_secs(300), "the job ended promptly ({took:?})");
    let (metrics, summary, checkpoint) = record(&s.path("two"));
    assert_eq!(metrics.len(), 1, "the complete epoch is kept");
    assert_eq!(summary["status"], "policy-fault");
    assert!(!checkpoint.is_empty(), "the checkpoint of the complete epoch is kept");
    assert_eq!((metrics, summary, checkpoint), record(&s.path("one")), "the record one process leaves");
}

#[test]
fn a_divergence_is_recorded_over_ranks_as_one_process_records_it() {
    let s = Scratch::new();
    // No attack: D-LIE would fault on the huge models before the divergence shows.
    let args = |out: &Path| run_args(out, "dpsgd", "dlie", &["--lr", "1e30", "--attack", "none"]);
    for k in [1, 2] {
        let o = byzhost(&s, k).args(args(&s.path(&format!("k{k}")))).output().unwrap();
        assert!(o.status.success(), "{k} ranks: {}", stderr_of(&o));
    }
    let (one, two) = (record(&s.path("k1")), record(&s.path("k2")));
    assert_eq!(one.1["status"], "diverged");
    assert_eq!(one, two);
}

#[test]
fn an_attack_fault_on_rank_0_ends_every_rank_with_the_record_of_one_process() {
    let s = Scratch::new();
    // Huge models: D-LIE's μ + zσ overflows to infinity in round 0.
    let args = |out: &Path| run_args(out, "dpsgd", "dlie", &["--lr", "1e30"]);
    let one = byzhost(&s, 1).args(args(&s.path("k1"))).output().unwrap();
    let two = byzhost(&s, 2).args(args(&s.path("k2"))).output().unwrap();
    for o in [&one, &two] {
        assert!(!o.status.success());
        assert_no_host_panic(&stderr_of(o));
        assert!(has_error_class(&stderr_of(o), "non-finite"), "{}", stderr_of(o));
    }
    assert_eq!(stderr_of(&two).matches("error[").count(), 1, "{}", stderr_of(&two));
    assert_eq!(record(&s.path("k1")), record(&s.path("k2")));
}

#[test]
fn a_bad_input_is_refused_on_every_rank_with_one_message() {
    let s = Scratch::new();
    let o = mpirun(&s, 2).args(run_args(&s.path("bad"), "dpsgd", "dlie", &["--byzantine", "10"])).output().unwrap();
    let err = stderr_of(&o);
    assert!(!o.status.success());
    assert_no_host_panic(&err);
    assert_eq!(err.lines().filter(|l| l.starts_with("error")).count(), 1, "one message:\n{err}");
    assert!(err.contains("--byzantine"), "{err}");
    assert!(!s.path("bad").join("metrics.jsonl").exists());
}

#[test]
fn a_sweep_over_ranks_equals_the_sequential_sweep_and_restarts_under_another_count() {
    let s = Scratch::new();
    let grid = crate::sweep::grid(&s);
    let sweep = |ranks: usize, out: &str, extra: &[&str]| {
        let o = byzhost(&s, ranks).arg("sweep").arg(&grid).args(extra).arg("--out").arg(s.path(out)).output().unwrap();
        assert!(o.status.success(), "{ranks} ranks: {}", stderr_of(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    sweep(1, "seq", &[]);
    // Two cells under 2 ranks, then the whole grid under 3: the two are not run again.
    let first = crate::sweep::CELLS[..2].join(",");
    sweep(2, "par", &["--only", &first]);
    let out = sweep(3, "par", &[]);
    assert!(out.contains("4 cells: 2 already complete, 0 reused, 2 run, 0 failed"), "{out}");
    assert_eq!(crate::sweep::results(&s.path("par")), crate::sweep::results(&s.path("seq")));
}
