//! `byzhost policy push|pull|tags` and policies named by registry reference, against a real
//! registry (Debian's docker-registry on loopback) and, for interoperability, skopeo.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::registry_server::RegistryServer;
use crate::support::{assert_no_host_panic, component, stderr_of, Scratch};

/// `byzhost` with private Docker and wkg configurations (so nothing of the machine's leaks in).
fn byzhost(s: &Scratch) -> assert_cmd::Command {
    let mut cmd = s.byzhost();
    cmd.env("DOCKER_CONFIG", s.path("docker")).env("XDG_CONFIG_HOME", s.path("config")).env_remove("BYZHOST_OFFLINE");
    cmd
}

fn push(s: &Scratch, file: &str, reference: &str) -> Output {
    byzhost(s).args(["policy", "push"]).arg(component(file)).arg(reference).output().unwrap()
}

/// Pushes and returns the manifest digest it printed.
fn pushed(s: &Scratch, file: &str, reference: &str) -> String {
    let o = push(s, file, reference);
    assert!(o.status.success(), "push {file} {reference}: {}", stderr_of(&o));
    let digest = String::from_utf8(o.stdout).unwrap().trim().to_string();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
    digest
}

fn pull(s: &Scratch, reference: &str, extra: &[&str]) -> Output {
    byzhost(s).args(["policy", "pull", reference]).args(extra).output().unwrap()
}

/// The manifest digest `policy pull` printed.
fn pulled_digest(o: &Output) -> String {
    assert!(o.status.success(), "{}", stderr_of(o));
    let text = String::from_utf8_lossy(&o.stdout);
    text.lines().find_map(|l| l.strip_prefix("manifest   ")).unwrap().to_string()
}

/// Maps the `byz` namespace to the test registry, as a wkg user would.
fn configure_wkg(s: &Scratch, registry: &RegistryServer) {
    let dir = s.path("config/wasm-pkg");
    std::fs::create_dir_all(&dir).unwrap();
    let config = format!(
        "[namespace_registries]\nbyz = {{ registry = \"byz-tests\", metadata = {{ preferredProtocol = \"oci\", \"oci\" = {{ registry = \"{}\", namespacePrefix = \"\" }} }} }}\n",
        registry.addr
    );
    std::fs::write(dir.join("config.toml"), config).unwrap();
}

fn small_run(s: &Scratch, out: &str, defense: &str, attack: &str, extra: &[&str]) -> Output {
    byzhost(s)
        .arg("run")
        .args(["--nodes", "6", "--byzantine", "1", "--topology", "complete", "--epochs", "1"])
        .args(["--batch-size", "200", "--eval-samples", "200", "--device", "cpu", "--seed", "3", "--quiet"])
        .args(["--defense", defense, "--attack", attack, "--out"])
        .arg(s.path(out))
        .args(extra)
        .env_remove("BYZHOST_DATA")
        .output()
        .unwrap()
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// metrics.jsonl without the timings.
fn outcome(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let mut m: Value = serde_json::from_str(l).unwrap();
            let m = m.as_object_mut().unwrap();
            m.retain(|k, _| !k.contains("time") && !k.contains("_ms") && !k.ends_with("_s"));
            Value::Object(m.clone())
        })
        .collect()
}

#[test]
fn push_then_pull_round_trips_with_equal_digests_and_tags_list_it() {
    let registry = RegistryServer::start();
    let s = Scratch::new();
    let reference = registry.reference("byz/dpsgd:0.1.0");
    let digest = pushed(&s, "policies/dpsgd.wasm", &reference);
    assert_eq!(pushed(&s, "policies/dpsgd.wasm", &reference), digest, "the same bytes give the same manifest");
    let fresh = Scratch::new();
    let o = pull(&fresh, &reference, &[]);
    assert_eq!(pulled_digest(&o), digest);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let cached = text.lines().find_map(|l| l.strip_prefix("cached     ")).unwrap();
    assert_eq!(std::fs::read(cached).unwrap(), std::fs::read(component("policies/dpsgd.wasm")).unwrap());
    assert!(text.contains("byz:policy/defense-policy@0.2.0"), "{text}");
    // The store is an OCI image layout that names the pulled tag.
    let index = json(&fresh.path("cache/oci/index.json"));
    assert!(index.to_string().contains(&format!("{}/byz/dpsgd:0.1.0", registry.addr)), "{index}");
    let tags = byzhost(&s).args(["policy", "tags", &registry.reference("byz/dpsgd")]).output().unwrap();
    assert!(tags.status.success(), "{}", stderr_of(&tags));
    assert_eq!(String::from_utf8_lossy(&tags.stdout).trim(), "0.1.0");
    let inspect = byzhost(&fresh).args(["inspect", &reference]).output().unwrap();
    assert!(String::from_utf8_lossy(&inspect.stdout).contains(&format!("(manifest {digest})")), "{}", stderr_of(&inspect));
    // The manifest carries the conformance summary.
    let manifest = json(&registry.blob_file(&digest));
    let annotations = &manifest["annotations"];
    assert_eq!(annotations["dev.byzhost.conformance.passed"], "true", "{manifest}");
    assert_eq!(annotations["org.opencontainers.image.title"], "dpsgd");
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
}

#[test]
fn a_run_by_reference_matches_the_run_by_file_and_pins_both_digests() {
    let registry = RegistryServer::start();
    let s = Scratch::new();
    configure_wkg(&s, &registry);
    let defense_digest = pushed(&s, "policies/sim_reweight.wasm", &registry.reference("byz/sim-reweight:0.1.0"));
    let attack_digest = pushed(&s, "policies/dlie.wasm", &registry.reference("byz/dlie:0.1.0"));
    let by_ref = Scratch::new();
    configure_wkg(&by_ref, &registry);
    let defense = registry.reference("byz/sim-reweight:0.1.0");
    let o = small_run(&by_ref, "r", &defense, "byz:dlie@0.1.0", &[]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let files = small_run(
        &s,
        "f",
        component("policies/sim_reweight.wasm").to_str().unwrap(),
        component("policies/dlie.wasm").to_str().unwrap(),
        &[],
    );
    assert!(files.status.success(), "{}", stderr_of(&files));
    assert_eq!(outcome(&by_ref.path("r")), outcome(&s.path("f")), "the same bytes train the same");
    let policies = json(&by_ref.path("r/policies.json"));
    assert_eq!(policies["defense"]["manifest_digest"], defense_digest.as_str());
    assert_eq!(policies["defense"]["file"], defense.as_str());
    assert_eq!(policies["defense"]["registry"], registry.addr.as_str());
    assert_eq!(policies["defense"]["repository"], "byz/sim-reweight");
    assert_eq!(policies["attack"]["manifest_digest"], attack_digest.as_str());
    assert_eq!(policies["attack"]["file"], "byz:dlie@0.1.0");
    assert_eq!(policies["attack"]["world"], "byz:policy/attack-policy@0.2.0");
    let file_sha = json(&s.path("f/policies.json"))["defense"]["sha256"].clone();
    assert_eq!(policies["defense"]["sha256"], file_sha, "the layer is the file's bytes");
}

#[test]
fn a_digest_is_served_from_the_store_with_the_registry_stopped_and_offline_resolves_tags_there() {
    let mut registry = RegistryServer::start();
    let s = Scratch::new();
    let tag = registry.reference("byz/dpsgd:0.1.0");
    let digest = pushed(&s, "policies/dpsgd.wasm", &tag);
    let fresh = Scratch::new();
    assert_eq!(pulled_digest(&pull(&fresh, &tag, &[])), digest);
    // A corrupt store entry is detected and fetched again.
    let by_digest = registry.reference(&format!("byz/dpsgd@{digest}"));
    let blobs = fresh.path("cache/oci/blobs/sha256");
    let manifest = json(&blobs.join(digest.trim_start_matches("sha256:")));
    let layer = blobs.join(manifest["layers"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:"));
    std::fs::write(&layer, b"corrupt").unwrap();
    let o = pull(&fresh, &by_digest, &[]);
    assert_eq!(pulled_digest(&o), digest);
    assert!(stderr_of(&o).contains("is corrupt") && stderr_of(&o).contains("fetching it again"), "{}", stderr_of(&o));
    assert_eq!(std::fs::read(&layer).unwrap(), std::fs::read(component("policies/dpsgd.wasm")).unwrap());
    registry.stop();
    assert_eq!(pulled_digest(&pull(&fresh, &by_digest, &[])), digest, "from the store, no network");
    let o = pull(&fresh, &tag, &[]);
    let err = stderr_of(&o);
    assert!(!o.status.success() && err.contains("cannot reach registry") && err.contains("is it running?"), "{err}");
    assert_no_host_panic(&err);
    let o = pull(&fresh, &tag, &["--offline"]);
    assert_eq!(pulled_digest(&o), digest);
    assert!(stderr_of(&o).contains("--offline"), "says it resolved the tag from the store");
    let o = pull(&Scratch::new(), &tag, &["--offline"]);
    assert!(!o.status.success() && stderr_of(&o).contains("never pulled this tag"), "{}", stderr_of(&o));
}

/// A Wasm OCI config for `layers`, targeting `target`.
fn wasm_config(target: &str, layer_digests: &[String]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "created": "1970-01-01T00:00:00Z", "architecture": "wasm", "os": "wasip2",
        "layerDigests": layer_digests, "component": {"exports": [], "imports": [], "target": target},
    }))
    .unwrap()
}

/// Puts an artifact into the registry as raw blobs and a manifest, however malformed.
fn raw_artifact(registry: &RegistryServer, repo: &str, config_type: &str, config: &[u8], layers: &[(&str, Vec<u8>)]) -> String {
    let descriptor = |media_type: &str, bytes: &[u8]| serde_json::json!({"mediaType": media_type, "digest": registry.put_blob(repo, bytes), "size": bytes.len()});
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor(config_type, config),
        "layers": layers.iter().map(|(mt, bytes)| descriptor(mt, bytes)).collect::<Vec<_>>(),
    });
    registry.put_manifest(repo, "1", "application/vnd.oci.image.manifest.v1+json", &serde_json::to_vec(&manifest).unwrap());
    registry.reference(&format!("{repo}:1"))
}

fn digest_of(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{:x}", sha2::Sha256::digest(bytes))
}

#[test]
fn malformed_artifacts_are_refused_before_wasmtime_and_name_the_reference() {
    let registry = RegistryServer::start();
    let s = Scratch::new();
    let dpsgd = std::fs::read(component("policies/dpsgd.wasm")).unwrap();
    let defense = "byz:policy/defense-policy@0.2.0";
    let wasm = "application/wasm";
    let config_type = "application/vnd.wasm.config.v0+json";
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    let future = std::fs::read(component("tests/fixtures/future_version.wasm")).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "two-layers",
            raw_artifact(
                &registry,
                "bad/two-layers",
                config_type,
                &wasm_config(defense, &[digest_of(&dpsgd)]),
                &[(wasm, dpsgd.clone()), (wasm, core_module.clone())],
            ),
            "has 2 layers",
        ),
        (
            "media-type",
            raw_artifact(
                &registry,
                "bad/media-type",
                config_type,
                &wasm_config(defense, &[digest_of(&dpsgd)]),
                &[("application/vnd.oci.image.layer.v1.tar", dpsgd.clone())],
            ),
            "layer media type",
        ),
        (
            "container",
            raw_artifact(&registry, "bad/container", "application/vnd.oci.image.config.v1+json", b"{}", &[(wasm, dpsgd.clone())]),
            "not a Wasm OCI artifact",
        ),
        (
            "layer-digests",
            raw_artifact(
                &registry,
                "bad/layer-digests",
                config_type,
                &wasm_config(defense, &[digest_of(b"other")]),
                &[(wasm, dpsgd.clone())],
            ),
            "layerDigests",
        ),
        (
            "not-a-policy-world",
            raw_artifact(
                &registry,
                "bad/world",
                config_type,
                &wasm_config("wasi:cli/command@0.2.0", &[digest_of(&dpsgd)]),
                &[(wasm, dpsgd.clone())],
            ),
            "not a byzhost policy world",
        ),
        (
            "core-module",
            raw_artifact(
                &registry,
                "bad/core",
                config_type,
                &wasm_config(defense, &[digest_of(&core_module)]),
                &[(wasm, core_module.clone())],
            ),
            "not a valid WebAssembly component",
        ),
        (
            "not-a-policy-component",
            raw_artifact(&registry, "bad/future", config_type, &wasm_config(defense, &[digest_of(&future)]), &[(wasm, future.clone())]),
            "",
        ),
    ];
    for (case, reference, expected) in cases {
        let o = byzhost(&s).args(["inspect", &reference]).output().unwrap();
        let err = stderr_of(&o);
        assert!(!o.status.success(), "{case}: accepted\n{err}");
        assert!(err.contains(&reference) && err.contains(expected), "{case}: {err}");
        assert_no_host_panic(&err);
    }
    // The target world is checked against the role: a defense named as the attack.
    let defense_ref = registry.reference("byz/dpsgd:0.1.0");
    pushed(&s, "policies/dpsgd.wasm", &defense_ref);
    let o = small_run(&s, "r", component("policies/dpsgd.wasm").to_str().unwrap(), &defense_ref, &[]);
    let err = stderr_of(&o);
    assert!(!o.status.success() && err.contains("--attack") && err.contains("is a defense") && err.contains("not an attack"), "{err}");
    assert!(!s.path("r/metrics.jsonl").exists());
}

#[test]
fn a_tampered_blob_in_the_registry_is_refused_and_nothing_is_stored() {
    let registry = RegistryServer::start();
    let s = Scratch::new();
    let reference = registry.reference("byz/dpsgd:0.1.0");
    let digest = pushed(&s, "policies/dpsgd.wasm", &reference);
    let manifest = json(&registry.blob_file(&digest));
    let layer = registry.blob_file(manifest["layers"][0]["digest"].as_str().unwrap());
    let mut bytes = std::fs::read(&layer).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&layer, bytes).unwrap();
    let fresh = Scratch::new();
    let o = pull(&fresh, &reference, &[]);
    let err = stderr_of(&o);
    assert!(!o.status.success() && err.contains(&reference), "{err}");
    assert!(err.contains("hash") || err.contains("digest") || err.contains("Digest"), "{err}");
    assert_no_host_panic(&err);
    let index = fresh.path("cache/oci/index.json");
    assert!(!index.exists() || !std::fs::read_to_string(&index).unwrap().contains("dpsgd"), "nothing half-pulled is listed");
}

#[test]
fn an_auth_registry_takes_given_or_docker_credentials_and_says_how_to_log_in() {
    let registry = RegistryServer::start_with_auth("alice", "s3cret");
    let s = Scratch::new();
    let reference = registry.reference("byz/dpsgd:0.1.0");
    let o = push(&s, "policies/dpsgd.wasm", &reference);
    let err = stderr_of(&o);
    assert!(!o.status.success() && err.contains("docker login") && err.contains("--username"), "{err}");
    let with_password = |password: &str| {
        byzhost(&s)
            .args(["policy", "push", "--username", "alice", "--password-stdin"])
            .arg(component("policies/dpsgd.wasm"))
            .arg(&reference)
            .write_stdin(format!("{password}\n"))
            .output()
            .unwrap()
    };
    let wrong = with_password("wrong");
    assert!(!wrong.status.success() && stderr_of(&wrong).contains("refused access"), "{}", stderr_of(&wrong));
    let o = with_password("s3cret");
    assert!(o.status.success(), "{}", stderr_of(&o));
    let digest = String::from_utf8(o.stdout).unwrap().trim().to_string();
    // Anonymous pull is refused; Docker's config.json is read.
    let fresh = Scratch::new();
    let o = pull(&fresh, &reference, &[]);
    assert!(!o.status.success() && stderr_of(&o).contains("docker login"), "{}", stderr_of(&o));
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    std::fs::create_dir_all(fresh.path("docker")).unwrap();
    std::fs::write(fresh.path("docker/config.json"), format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, registry.addr)).unwrap();
    assert_eq!(pulled_digest(&pull(&fresh, &reference, &[])), digest);
}

#[test]
fn skopeo_copies_a_pushed_policy_with_its_digest_and_byzhost_pulls_what_skopeo_pushed() {
    let registry = RegistryServer::start();
    let s = Scratch::new();
    let digest = pushed(&s, "policies/bridge.wasm", &registry.reference("byz/bridge:0.1.0"));
    let layout = s.path("layout");
    let skopeo = |args: &[String]| {
        let o = std::process::Command::new("skopeo").args(args).output().expect("skopeo is installed by scripts/setup.sh");
        assert!(o.status.success(), "skopeo {args:?}: {}", stderr_of(&o));
    };
    let src = format!("docker://{}/byz/bridge:0.1.0", registry.addr);
    skopeo(&["copy".into(), "--src-tls-verify=false".into(), src, format!("oci:{}:0.1.0", layout.display())]);
    let index = json(&layout.join("index.json"));
    assert_eq!(index["manifests"][0]["digest"], digest.as_str(), "skopeo keeps the manifest digest");
    let dest = format!("docker://{}/mirror/bridge:copied", registry.addr);
    skopeo(&["copy".into(), "--dest-tls-verify=false".into(), format!("oci:{}:0.1.0", layout.display()), dest]);
    let o = pull(&Scratch::new(), &registry.reference("mirror/bridge:copied"), &[]);
    assert_eq!(pulled_digest(&o), digest);
}

/// A one-cell grid naming its defense by tag.
fn tagged_grid(s: &Scratch, reference: &str) -> std::path::PathBuf {
    let grid = s.path("grid.toml");
    let text = format!(
        "name = \"locked\"\n[base]\nnodes = 4\nbyzantine = 1\ntopology = \"complete\"\nepochs = 1\nbatch_size = 250\neval_samples = 100\ndevice = \"cpu\"\n[profiles.quick]\n[[axis]]\nname = \"defense\"\nvalues = [{{ label = \"tagged\", defense = \"{reference}\" }}]\n"
    );
    std::fs::write(&grid, text).unwrap();
    grid
}

#[test]
fn a_sweep_locks_its_tags_and_locked_refuses_a_moved_one() {
    let registry = RegistryServer::start();
    let s = Scratch::new();
    let reference = registry.reference("byz/defense:latest");
    let first = pushed(&s, "policies/dpsgd.wasm", &reference);
    let grid = tagged_grid(&s, &reference);
    let sweep = |extra: &[&str]| {
        byzhost(&s).arg("sweep").arg(&grid).arg("--out").arg(s.path("sweep")).args(extra).env_remove("BYZHOST_DATA").output().unwrap()
    };
    let o = sweep(&[]);
    assert!(o.status.success(), "{}\n{}", stderr_of(&o), std::fs::read_to_string(s.path("sweep/tagged/log.txt")).unwrap_or_default());
    let lock = json(&s.path("sweep/policies.lock"));
    assert_eq!(lock["policies"][&reference]["manifest_digest"], first.as_str());
    assert_eq!(json(&s.path("sweep/tagged/policies.json"))["defense"]["manifest_digest"], first.as_str());
    let moved = pushed(&s, "policies/standalone.wasm", &reference);
    assert_ne!(moved, first);
    let o = sweep(&["--dry-run"]);
    assert!(o.status.success(), "without --locked the lock holds: {}", stderr_of(&o));
    assert_eq!(json(&s.path("sweep/policies.lock"))["policies"][&reference]["manifest_digest"], first.as_str());
    let o = sweep(&["--locked", "--dry-run"]);
    let err = stderr_of(&o);
    assert!(!o.status.success() && err.contains("--locked") && err.contains(&first) && err.contains(&moved), "{err}");
}

/// A run started by tag resumes with the digest it recorded, even after the tag moved and
/// with the registry stopped (the store has the bytes).
#[test]
fn a_resumed_run_fetches_its_recorded_digest_not_the_moved_tag() {
    let mut registry = RegistryServer::start();
    let s = Scratch::new();
    let tag = registry.reference("byz/defense:latest");
    let first = pushed(&s, "policies/dpsgd.wasm", &tag);
    let o = small_run(&s, "cut", &tag, "none", &[]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let config = std::fs::read_to_string(s.path("cut/config.toml")).unwrap().replace("epochs = 1\n", "epochs = 2\n");
    std::fs::write(s.path("cut/config.toml"), config).unwrap();
    std::fs::remove_file(s.path("cut/summary.json")).unwrap();
    pushed(&s, "policies/bridge.wasm", &tag);
    registry.stop();
    let o = byzhost(&s).args(["run", "--resume", "--quiet", "--out"]).arg(s.path("cut")).output().unwrap();
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert_eq!(outcome(&s.path("cut")).len(), 2);
    assert_eq!(json(&s.path("cut/policies.json"))["defense"]["manifest_digest"], first.as_str());
    assert!(!stderr_of(&o).contains("changed since the run started"), "{}", stderr_of(&o));
}

#[test]
fn push_refuses_a_nonconforming_component_unless_told_and_says_so_in_the_manifest() {
    let registry = RegistryServer::start();
    let s = Scratch::new();
    let file = "tests/fixtures/nonconform_identity_on_agreement.wasm";
    let reference = registry.reference("lab/broken:0.1.0");
    let o = push(&s, file, &reference);
    let err = stderr_of(&o);
    assert!(!o.status.success() && err.contains("fails conformance") && err.contains("identity-on-agreement"), "{err}");
    assert!(err.contains("--allow-nonconforming"), "{err}");
    let o = byzhost(&s).args(["policy", "push", "--allow-nonconforming"]).arg(component(file)).arg(&reference).output().unwrap();
    assert!(o.status.success(), "{}", stderr_of(&o));
    let digest = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let annotations = json(&registry.blob_file(&digest))["annotations"].clone();
    assert_eq!(annotations["dev.byzhost.conformance.passed"], "false");
    assert!(annotations["dev.byzhost.conformance.fail"].as_str().unwrap().contains("identity-on-agreement"), "{annotations}");
}

/// scripts/publish-policies.sh pushes every shipped policy as byz/<kebab-name>:<version>,
/// and what it pushed runs by package name.
#[test]
fn the_publish_script_pushes_every_shipped_policy_under_its_package_name() {
    let registry = RegistryServer::start();
    let s = Scratch::new();
    let o = std::process::Command::new(crate::support::repo_root().join("scripts/publish-policies.sh"))
        .arg(&registry.addr)
        .env("BYZHOST", assert_cmd::cargo::cargo_bin("byzhost"))
        .env("BYZHOST_CACHE_DIR", s.path("cache"))
        .env("DOCKER_CONFIG", s.path("docker"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr_of(&o));
    let lines = String::from_utf8(o.stdout).unwrap();
    assert_eq!(lines.lines().count(), 12, "{lines}");
    let sim = format!("oci://{}/byz/sim-reweight:0.2.0 ", registry.addr);
    assert!(lines.lines().any(|l| l.starts_with(&sim) && l.contains(" sha256:")), "{lines}");
    configure_wkg(&s, &registry);
    let o = byzhost(&s).args(["inspect", "byz:sim-reweight@0.2.0"]).output().unwrap();
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("sim-reweight 0.2.0 (defense)"), "{}", stderr_of(&o));
}
