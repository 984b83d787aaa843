//! `byzhost conform`: every shipped policy conforms (a macro generates one test per
//! component, and a guard fails when a policy crate has no entry), every deliberately
//! non-conforming fixture is caught by exactly the property it violates, and the
//! "write your own policy" walk-through of examples/README.md works as written.

use std::path::Path;
use std::process::Command as Process;

use serde_json::Value;

use byzhost::conform::PropertyId;

use crate::registry_server::RegistryServer;
use crate::support::{assert_no_host_panic, component, repo_root, stderr_of, Scratch};

/// Runs `byzhost conform --json` on a component; (exit code, report).
fn conform(path: &Path) -> (Option<i32>, Value) {
    let s = Scratch::new();
    let out = s.byzhost().arg("conform").arg(path).arg("--json").timeout(std::time::Duration::from_secs(300)).output().unwrap();
    assert_no_host_panic(&stderr_of(&out));
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("conform {} printed no JSON report ({e}):\n{}", path.display(), stderr_of(&out)));
    (out.status.code(), report)
}

/// Names of the properties with `status` in a report.
fn with_status<'a>(report: &'a Value, status: &str) -> Vec<&'a str> {
    report["properties"].as_array().unwrap().iter().filter(|p| p["status"] == status).map(|p| p["name"].as_str().unwrap()).collect()
}

/// The component must fail exactly `expected_failures` (nothing else), with exit code 1
/// when that list is not empty; returns the report.
fn assert_fails_exactly(relative: &str, expected_failures: &[&str]) -> Value {
    let (code, report) = conform(&component(relative));
    let failed = with_status(&report, "fail");
    assert_eq!(failed, expected_failures, "{relative}: unexpected failures in\n{report:#}");
    assert_eq!(code, Some(if expected_failures.is_empty() { 0 } else { 1 }), "{relative}: exit code\n{report:#}");
    assert_eq!(report["passed"], expected_failures.is_empty());
    for p in report["properties"].as_array().unwrap() {
        let status = p["status"].as_str().unwrap();
        assert!(["pass", "fail", "opt-out", "not-applicable"].contains(&status), "{p}");
        if status == "fail" {
            assert!(!p["detail"].as_str().unwrap().is_empty(), "a failure must say why: {p}");
        }
    }
    report
}

/// One test per shipped policy: `crate directory => component, properties it is known to
/// fail` (each known failure is a gap its policy should fix or declare in `opt_outs`; the
/// list is exact, so fixing one makes the test say so).
macro_rules! shipped_policies {
    ($($test:ident: $dir:literal => $wasm:literal $(, known_failures: [$($known:literal),*])?;)*) => {
        /// Crate directories under policies/ with a conformance test.
        const COVERED_POLICY_CRATES: &[&str] = &[$($dir),*];
        $(
            #[test]
            fn $test() {
                let report = assert_fails_exactly($wasm, &[$($($known),*)?]);
                // One name: the crate's (docs/writing-policies.md, "Names").
                assert_eq!(report["name"], $dir, "{}: info().name must be the crate's name", $wasm);
            }
        )*
    };
}

shipped_policies! {
    conform_alie: "alie" => "policies/alie.wasm";
    // BRIDGE (trimmed mean with b = 1) refuses fewer than 2b + 1 neighbours, k = 0 included.
    conform_bridge: "bridge" => "policies/bridge.wasm";
    conform_dlie: "dlie" => "policies/dlie.wasm";
    conform_dpsgd: "dpsgd" => "policies/dpsgd.wasm";
    conform_ipm: "ipm" => "policies/ipm.wasm";
    conform_mozi: "mozi" => "policies/mozi.wasm";
    conform_random: "random" => "policies/random.wasm";
    conform_reverse: "reverse" => "policies/reverse.wasm";
    conform_sim_reweight: "sim-reweight" => "policies/sim_reweight.wasm";
    conform_standalone: "standalone" => "policies/standalone.wasm";
    // One message per (Byzantine node, receiver) at n = 300, b = 60: 8,640 rows of 80,202
    // floats (2.8 GB) do not fit a wasm32 address space.
    conform_targeted: "targeted" => "policies/targeted.wasm";
    conform_tvnorm: "tvnorm" => "policies/tvnorm.wasm";
}

/// The policies written in Python (examples/python, on policies/sdk-python) conform, as
/// their Rust counterparts do.
#[test]
fn the_python_policies_conform() {
    assert_fails_exactly("examples/python/sim_reweight.wasm", &[]);
    assert_fails_exactly("examples/python/bridge.wasm", &[]);
}

#[test]
fn every_policy_crate_has_a_conformance_test() {
    let dir = repo_root().join("policies");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // sdk and sdk-v0-1 are the SDKs, not policies.
        if path.join("Cargo.toml").is_file() && !name.starts_with("sdk") && !COVERED_POLICY_CRATES.contains(&name.as_str()) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "policy crates without an entry in shipped_policies! (tests/cli/conform.rs): {missing:?}");
    assert!(COVERED_POLICY_CRATES.len() >= 12, "the policies/ listing found too few crates: {COVERED_POLICY_CRATES:?}");
}

/// One constant per `tests/fixtures/nonconform-<property>/` crate, generated by host/build.rs.
mod nonconform {
    include!(concat!(env!("OUT_DIR"), "/nonconform_fixtures.rs"));
}

/// How each property is shown to catch what it is about. The generated `witness` matches
/// every [`PropertyId`] without a wildcard, and a fixture entry names a constant that exists
/// only when its crate does: a property without a fixture (or a stated reason) does not
/// build.
macro_rules! conformance_matrix {
    (
        fixtures { $($fixture_property:ident => $fixture_test:ident: $fixture:expr;)* }
        among_others { $($among_property:ident => $among_test:ident: $among:literal, $among_why:literal;)* }
        impossible { $($impossible_property:ident: $impossible_why:literal;)* }
    ) => {
        /// The component that fails `p`, if one can exist.
        #[allow(dead_code)]
        fn witness(p: PropertyId) -> Result<&'static str, &'static str> {
            match p {
                $(PropertyId::$fixture_property => Ok($fixture),)*
                $(PropertyId::$among_property => Ok($among),)*
                $(PropertyId::$impossible_property => Err($impossible_why),)*
            }
        }
        $(
            /// The fixture fails this property and nothing else.
            #[test]
            fn $fixture_test() {
                assert_fails_exactly($fixture, &[PropertyId::$fixture_property.name()]);
            }
        )*
        $(
            #[doc = $among_why]
            #[test]
            fn $among_test() {
                let (code, report) = conform(&component($among));
                assert_eq!(code, Some(1));
                let property = PropertyId::$among_property.name();
                assert!(with_status(&report, "fail").contains(&property), "{} does not fail {property}:\n{report:#}", $among);
            }
        )*
    };
}

conformance_matrix! {
    fixtures {
        InfoWellFormed => catches_an_unknown_opt_out: nonconform::INFO_WELL_FORMED;
        DefaultsConfigure => catches_a_refused_explicit_default: nonconform::DEFAULTS_CONFIGURE;
        RejectsUnknownParam => catches_a_trap_on_an_unknown_parameter: nonconform::REJECTS_UNKNOWN_PARAM;
        RejectsIllTypedParam => catches_a_trap_on_an_ill_typed_parameter: nonconform::REJECTS_ILL_TYPED_PARAM;
        OrderIndependent => catches_order_dependent_output: nonconform::ORDER_INDEPENDENT;
        IdentityOnAgreement => catches_a_shrink_of_agreeing_models: nonconform::IDENTITY_ON_AGREEMENT;
        NoNeighbors => catches_an_error_without_neighbours: nonconform::NO_NEIGHBORS;
        RejectsMalformedInput => catches_a_trap_on_malformed_input: nonconform::REJECTS_MALFORMED_INPUT;
        BoundedCost => catches_cubic_cost_at_the_largest_setting: nonconform::BOUNDED_COST;
        StatelessHonest => catches_hidden_state_behind_stateless: nonconform::STATELESS_HONEST;
    }
    among_others {
        OutputShape => catches_a_wrong_output_length: "tests/fixtures/hostile_length.wasm",
            "Every property that calls `aggregate` or `craft` needs a well-shaped output to compare, so a policy with a wrong \
             shape fails those too; `output-shape` is the one that names the cause.";
    }
    impossible {
        Deterministic: "The sandbox leaves a policy nothing to be nondeterministic with: no clock, no threads, no \
            unseeded randomness, and fresh instances get the same seeds, so no component can fail it; it guards the \
            contract should a later version grant any of these.";
    }
}

#[test]
fn text_report_names_the_policy_the_property_and_a_minimal_input() {
    let s = Scratch::new();
    let out = s.byzhost().arg("conform").arg(component("tests/fixtures/nonconform_order_independent.wasm")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("conformance of `nonconform-order-independent` 0.1.0 (defense"), "{text}");
    let fail = text.lines().find(|l| l.starts_with("FAIL")).unwrap();
    assert!(fail.contains("order-independent") && fail.contains("permuting the received models changed the output"), "{text}");
    // The smallest ladder size already shows it: k = 3, d = 1, printed in full.
    assert!(text.contains("minimal failing input: k = 3, d = 1") && text.contains("permutation [2, 1, 0]"), "{text}");
    assert!(text.contains("PASS     identity-on-agreement"), "{text}");
    assert!(text.contains("fails 1 property: order-independent"), "{text}");
}

#[test]
fn a_component_that_does_not_load_fails_the_contract() {
    let (code, report) = conform(&component("tests/fixtures/future_version.wasm"));
    assert_eq!(code, Some(1));
    assert_eq!(with_status(&report, "fail"), ["info-well-formed"]);
    assert!(report["properties"][0]["detail"].as_str().unwrap().contains("byz:policy@9.0.0"), "{report:#}");
}

#[test]
fn limit_flags_apply_to_the_bounded_cost_property() {
    let s = Scratch::new();
    let out = s
        .byzhost()
        .args(["conform", "--json", "--policy-timeout-ms", "5000", "--policy-memory-mb", "32"])
        .arg(component("policies/v0.1.0/dpsgd.wasm"))
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["timeout_ms"].as_u64(), report["memory_mb"].as_u64()), (Some(5000), Some(32)));
    // The 0.1.0 build copies the received models into its memory: 32 MiB holds the k = 30
    // call (9.6 MB) but not k = 180 (58 MB); every smaller call still passes.
    assert_eq!(with_status(&report, "fail"), ["bounded-cost"], "{report:#}");
    let cost = report["properties"].as_array().unwrap().iter().find(|p| p["name"] == "bounded-cost").unwrap();
    assert!(cost["detail"].as_str().unwrap().contains("[memory-limit]"), "{cost}");
    // The 0.2.0 build is lent the models: the same limits hold it at every size.
    let out = s.byzhost().args(["conform", "--json", "--policy-memory-mb", "32"]).arg(component("policies/dpsgd.wasm")).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(with_status(&report, "fail").is_empty(), "{report:#}");
}

/// examples/README.md, step by step: copy the template, point it at this SDK, build it
/// with cargo for wasm32, conform it, run it, push it to a registry, run it by reference.
#[test]
fn the_template_walkthrough_builds_conforms_pushes_and_runs_by_reference() {
    let s = Scratch::new();
    let crate_dir = s.path("my-median");
    copy_dir(&repo_root().join("examples/template-median"), &crate_dir);
    let manifest = crate_dir.join("Cargo.toml");
    let sdk = repo_root().join("policies/sdk");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains("path = \"../../policies/sdk\""), "the template must depend on the SDK by that path:\n{text}");
    std::fs::write(
        &manifest,
        text.replace("../../policies/sdk", sdk.to_str().unwrap()).replace("name = \"template-median\"", "name = \"my-median\""),
    )
    .unwrap();

    // The crate's own .cargo/config.toml supplies the wasm rustflags; a shared target dir
    // under the workspace's keeps reruns incremental.
    let target_dir = repo_root().join("target/walkthrough");
    let build = Process::new(env!("CARGO"))
        .args(["build", "--release", "--target", "wasm32-unknown-unknown"])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .current_dir(&crate_dir)
        .output()
        .unwrap();
    assert!(build.status.success(), "cargo build of the template failed:\n{}", stderr_of(&build));
    let wasm = s.path("my_median.wasm");
    std::fs::copy(target_dir.join("wasm32-unknown-unknown/release/my_median.wasm"), &wasm).unwrap();

    let (code, report) = conform(&wasm);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["name"], "my-median");

    let run = s
        .byzhost()
        .arg("run")
        .arg("--defense")
        .arg(&wasm)
        .args(["--nodes", "5", "--byzantine", "1", "--topology", "complete", "--epochs", "1"])
        .args(["--batch-size", "200", "--eval-samples", "200", "--device", "cpu", "--quiet", "--out"])
        .arg(s.path("run"))
        .env_remove("BYZHOST_DATA")
        .output()
        .unwrap();
    assert!(run.status.success(), "byzhost run with the template failed:\n{}", stderr_of(&run));
    assert!(s.path("run/summary.json").is_file());

    // 8. Publish it (to a registry on loopback, as the walk-through starts one).
    let registry = RegistryServer::start();
    let reference = registry.reference("lab/my-median:0.1.0");
    let push = s.byzhost().args(["policy", "push"]).arg(&wasm).arg(&reference).env("DOCKER_CONFIG", s.path("docker")).output().unwrap();
    assert!(push.status.success(), "byzhost policy push failed:\n{}", stderr_of(&push));
    let digest = String::from_utf8(push.stdout).unwrap().trim().to_string();

    // 9. Run it by reference, from a machine that has never seen the file.
    let colleague = Scratch::new();
    let run = colleague
        .byzhost()
        .args(["run", "--defense", &reference])
        .args(["--nodes", "5", "--byzantine", "1", "--topology", "complete", "--epochs", "1"])
        .args(["--batch-size", "200", "--eval-samples", "200", "--device", "cpu", "--quiet", "--out"])
        .arg(colleague.path("run"))
        .env("DOCKER_CONFIG", colleague.path("docker"))
        .env_remove("BYZHOST_DATA")
        .output()
        .unwrap();
    assert!(run.status.success(), "byzhost run by reference failed:\n{}", stderr_of(&run));
    let policies: Value = serde_json::from_str(&std::fs::read_to_string(colleague.path("run/policies.json")).unwrap()).unwrap();
    assert_eq!(policies["defense"]["manifest_digest"], digest.as_str());
    assert_eq!(policies["defense"]["file"], reference.as_str());
    let summaries = [s.path("run/summary.json"), colleague.path("run/summary.json")]
        .map(|p| serde_json::from_str::<Value>(&std::fs::read_to_string(p).unwrap()).unwrap()["best_accuracy"].clone());
    assert_eq!(summaries[0], summaries[1], "the same bytes, the same result");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}
