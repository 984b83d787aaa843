//! `byzhost inspect`: describes components, caches compiled code, refuses non-policies.

use sha2::{Digest, Sha256};

use crate::support::{component, has_error_class, stderr_of, Scratch};

#[test]
fn inspect_shows_kind_name_wit_version_params_and_sha256() {
    let s = Scratch::new();
    let path = component("policies/dpsgd.wasm");
    let sha: String = Sha256::digest(std::fs::read(&path).unwrap()).iter().map(|b| format!("{b:02x}")).collect();
    let out = s.byzhost().arg("inspect").arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    for expected in ["dpsgd 0.1.0 (defense)", "byz:policy@0.1.0", &sha, "weights", "uniform"] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
}

#[test]
fn inspect_json_is_machine_readable() {
    let s = Scratch::new();
    let out = s.byzhost().args(["inspect", "--json"]).arg(component("policies/reverse.wasm")).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "attack");
    assert_eq!(v["name"], "reverse");
    assert_eq!(v["wit_version"], "byz:policy@0.1.0");
    assert_eq!(v["params"][0]["name"], "scale");
    assert_eq!(v["params"][0]["type"], "float");
    assert_eq!(v["params"][0]["default"], 1.0);
    assert_eq!(v["sha256"].as_str().unwrap().len(), 64);
    // No WASI or other ambient imports: only the byz:policy interfaces.
    for import in v["imports"].as_array().unwrap() {
        assert!(import.as_str().unwrap().starts_with("byz:policy/"), "{import}");
    }
}

#[test]
fn second_load_comes_from_the_compiled_component_cache() {
    let s = Scratch::new();
    let path = component("policies/dpsgd.wasm");
    let source = |s: &Scratch| {
        let out = s.byzhost().args(["inspect", "--json"]).arg(&path).output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["load"]["source"].as_str().unwrap().to_string()
    };
    assert_eq!(source(&s), "jit");
    assert_eq!(source(&s), "cache");
    let out = s.byzhost().args(["inspect", "--json", "--no-component-cache"]).arg(&path).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["load"]["source"], "jit");
}

#[test]
fn a_corrupt_cache_entry_falls_back_to_compiling() {
    let s = Scratch::new();
    let path = component("policies/dpsgd.wasm");
    s.byzhost().arg("inspect").arg(&path).assert().success();
    for entry in std::fs::read_dir(s.path("cache/components")).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let out = s.byzhost().args(["inspect", "--json"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["load"]["source"], "jit");
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let s = Scratch::new();
    let out = s.byzhost().args(["inspect", "no/such/policy.wasm"]).output().unwrap();
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("no/such/policy.wasm"), "{}", stderr_of(&out));
}

#[test]
fn a_file_that_is_not_a_component_is_refused() {
    let s = Scratch::new();
    let bogus = s.path("bogus.wasm");
    std::fs::write(&bogus, b"not wasm at all").unwrap();
    let out = s.byzhost().arg("inspect").arg(&bogus).output().unwrap();
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("is not a valid WebAssembly component"), "{}", stderr_of(&out));
}

#[test]
fn an_incompatible_wit_version_is_refused_naming_both_versions() {
    let s = Scratch::new();
    let out = s.byzhost().arg("inspect").arg(component("tests/fixtures/future_version.wasm")).output().unwrap();
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(has_error_class(&err, "incompatible-version"), "{err}");
    assert!(err.contains("byz:policy@9.0.0") && err.contains("supports byz:policy@0.1.0"), "{err}");
}
