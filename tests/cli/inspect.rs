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
    for expected in ["dpsgd 0.2.0 (defense)", "byz:policy@0.2.0", &sha, "weights", "uniform"] {
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
    assert_eq!(v["wit_version"], "byz:policy@0.2.0");
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

#[test]
fn paths_that_are_not_regular_files_are_refused_without_reading() {
    let s = Scratch::new();
    for (path, kind) in [("/dev/zero", "a character device"), ("/dev/urandom", "a character device"), ("/tmp", "a directory")] {
        for command in ["inspect", "conform"] {
            let out = s.byzhost().args([command, path]).timeout(std::time::Duration::from_secs(60)).output().unwrap();
            // conform reports a component that does not load in its report, on stdout.
            let err = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr_of(&out));
            assert!(!out.status.success(), "{command} {path}");
            assert!(err.contains(&format!("{path} is {kind}, not a regular file")), "{command} {path}: {err}");
            assert!(!err.contains("does not exist"), "{err}");
        }
    }
}

#[test]
fn a_component_over_the_size_cap_is_refused_naming_the_flag() {
    let s = Scratch::new();
    let big = s.path("big.wasm");
    std::fs::write(&big, vec![0u8; 2 << 20]).unwrap();
    let out = s.byzhost().args(["inspect", "--max-component-mb", "1"]).arg(&big).output().unwrap();
    let err = stderr_of(&out);
    assert!(!out.status.success());
    assert!(err.contains("is 2097152 bytes, over the cap of 1048576 bytes (raise it with --max-component-mb)"), "{err}");
}

/// The one cache entry in `s`'s cache directory after loading `policy`.
fn cache_entry(s: &Scratch, policy: &str) -> std::path::PathBuf {
    let path = component(policy);
    let sha: String = Sha256::digest(std::fs::read(&path).unwrap()).iter().map(|b| format!("{b:02x}")).collect();
    s.byzhost().arg("inspect").arg(&path).assert().success();
    std::fs::read_dir(s.path("cache/components"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with(&sha))
        .expect("an entry named by the component's sha256")
}

/// `inspect --json` of `policy`: the report and stderr.
fn inspect_json(s: &Scratch, policy: &str) -> (serde_json::Value, String) {
    let out = s.byzhost().args(["inspect", "--json"]).arg(component(policy)).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    (serde_json::from_slice(&out.stdout).unwrap(), stderr_of(&out))
}

#[test]
fn a_cache_entry_with_altered_code_is_recompiled_not_run() {
    let s = Scratch::new();
    let entry = cache_entry(&s, "policies/dpsgd.wasm");
    // Flip the bytes of the artifact's second half (its code): loading them unchecked
    // can run garbage as machine code.
    let mut bytes = std::fs::read(&entry).unwrap();
    let half = bytes.len() / 2;
    bytes[half..].iter_mut().for_each(|b| *b = !*b);
    std::fs::write(&entry, &bytes).unwrap();
    let (v, err) = inspect_json(&s, "policies/dpsgd.wasm");
    assert_eq!(v["load"]["source"], "jit");
    assert_eq!(err.lines().count(), 1, "one warning line: {err}");
    assert!(err.contains("does not match its recorded digest") && err.contains("compiling again"), "{err}");
    // The recompiled entry replaced the altered one.
    assert_eq!(inspect_json(&s, "policies/dpsgd.wasm").0["load"]["source"], "cache");
}

#[test]
fn another_components_entry_in_its_place_is_recompiled_not_run() {
    let s = Scratch::new();
    let dpsgd = cache_entry(&s, "policies/dpsgd.wasm");
    let bridge = cache_entry(&s, "policies/bridge.wasm");
    std::fs::copy(&bridge, &dpsgd).unwrap();
    let (v, err) = inspect_json(&s, "policies/dpsgd.wasm");
    assert_eq!((v["name"].as_str(), v["load"]["source"].as_str()), (Some("dpsgd"), Some("jit")), "{err}");
    assert!(err.contains("was written for component") && err.contains("not for this one"), "{err}");
}

#[test]
fn a_policys_info_text_is_capped_and_escaped() {
    let s = Scratch::new();
    let out = s.byzhost().arg("inspect").arg(component("tests/fixtures/hostile_info.wasm")).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\x1b') && !text.contains('\r'), "raw control characters reached the terminal");
    assert!(!text.lines().any(|l| l.starts_with("error[")), "a policy forged a line");
    assert!(text.contains("\\u{1b}[31mforged line\\nerror[trap]"), "{}", &text[..400]);
    assert!(text.len() < 10_000, "the 100 KB description and 10 KB parameter text are capped: {} bytes", text.len());
    assert!(text.contains(" …"), "a capped text is marked");
}

/// A valid component of about 16 MB whose one core module holds 16 long functions that
/// Cranelift cannot optimize away (about 10 s and 0.5 GB to compile on 2 cores).
fn slow_to_compile_component() -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            out.push(if n == 0 { byte } else { byte | 0x80 });
            if n == 0 {
                return;
            }
        }
    }
    fn section(id: u8, content: &[u8], out: &mut Vec<u8>) {
        out.push(id);
        leb(content.len(), out);
        out.extend_from_slice(content);
    }
    let (functions, steps) = (16, 100_000);
    // One i32 local; x = x * 3 + 1, `steps` times; return x.
    let mut body = vec![0x01, 0x01, 0x7f];
    for _ in 0..steps {
        body.extend_from_slice(&[0x20, 0x00, 0x41, 0x03, 0x6c, 0x41, 0x01, 0x6a, 0x21, 0x00]);
    }
    body.extend_from_slice(&[0x20, 0x00, 0x0b]);
    let mut code = Vec::new();
    leb(functions, &mut code);
    for _ in 0..functions {
        leb(body.len(), &mut code);
        code.extend_from_slice(&body);
    }
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[0x01, 0x60, 0x00, 0x01, 0x7f], &mut module);
    let mut declarations = Vec::new();
    leb(functions, &mut declarations);
    declarations.extend(std::iter::repeat_n(0u8, functions));
    section(3, &declarations, &mut module);
    section(10, &code, &mut module);
    let mut component = b"\0asm\x0d\x00\x01\x00".to_vec();
    section(1, &module, &mut component);
    component
}

#[test]
fn a_long_compile_says_what_it_compiles_and_stops_at_its_deadline() {
    let s = Scratch::new();
    let big = s.path("big.wasm");
    std::fs::write(&big, slow_to_compile_component()).unwrap();
    let started = std::time::Instant::now();
    let out = s.byzhost().args(["inspect", "--compile-timeout-s", "3"]).arg(&big).output().unwrap();
    let err = stderr_of(&out);
    assert!(!out.status.success());
    assert!(err.contains("big.wasm (16.0 MB, sha256 ") && err.contains("components this size take a while"), "{err}");
    assert!(err.contains("did not finish within the compile deadline of 3 s") && err.contains("--compile-timeout-s"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "the command ends at the deadline, not after the compile");
}
