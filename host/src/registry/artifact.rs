//! The Wasm OCI artifact (CNCF TAG Runtime's layout, what `wkg oci` and wasmCloud write):
//! an image manifest, an `application/vnd.wasm.config.v0+json` config naming the
//! component's imports, exports and target world, and one `application/wasm` layer. Built
//! here for `push` and the local store; verified here, before wasmtime sees a byte, for
//! everything pulled.

use std::collections::BTreeMap;

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::policy::PolicyKind;
use crate::sandbox::{hex, LoadedPolicy};

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";
/// The WIT package every policy world belongs to.
const POLICY_PACKAGE: &str = "byz:policy/";
/// Largest manifest or config accepted: real ones are under 2 KiB.
pub const MAX_METADATA_BYTES: u64 = 1 << 20;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct WasmConfig {
    created: String,
    architecture: String,
    os: String,
    layer_digests: Vec<String>,
    component: ComponentInfo,
}

#[derive(Serialize, Deserialize, Debug)]
struct ComponentInfo {
    exports: Vec<String>,
    imports: Vec<String>,
    target: String,
}

/// An artifact's three blobs, serialized.
pub struct Artifact {
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
}

/// What a verified artifact pins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pinned {
    /// `sha256:…` of the manifest: what `oci://…@sha256:…` names.
    pub manifest_digest: String,
    /// Hex sha256 of the component's bytes (the layer), as records have always named it.
    pub layer_sha256: String,
    pub size: u64,
    /// The WIT world the component targets, e.g. `byz:policy/defense-policy@0.1.0`.
    pub world: String,
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// The world a loaded policy targets.
pub fn world_of(policy: &LoadedPolicy) -> String {
    format!("{POLICY_PACKAGE}{}-policy@{}", policy.kind, policy.wit_version)
}

impl Artifact {
    /// The artifact of `policy`, whose bytes are `bytes`, with `extra` annotations beside
    /// the title, version, description and creation time. Deterministic: equal inputs give
    /// an equal manifest digest.
    pub fn build(policy: &LoadedPolicy, bytes: &[u8], extra: BTreeMap<String, String>) -> Result<Artifact> {
        let created = created();
        let layer_digest = sha256_digest(bytes);
        let config = WasmConfig {
            created: created.clone(),
            architecture: "wasm".into(),
            os: "wasip2".into(),
            layer_digests: vec![layer_digest.clone()],
            component: ComponentInfo { exports: policy.exports.clone(), imports: policy.imports.clone(), target: world_of(policy) },
        };
        let config_bytes = serde_json::to_vec(&config)?;
        let descriptor = |media_type: &str, digest: String, size: usize| Descriptor {
            media_type: media_type.into(),
            digest,
            size: size as u64,
            annotations: BTreeMap::new(),
        };
        let mut annotations = BTreeMap::from([
            ("org.opencontainers.image.created".to_string(), created),
            ("org.opencontainers.image.title".to_string(), policy.info.name.clone()),
            ("org.opencontainers.image.version".to_string(), policy.info.version.clone()),
            ("org.opencontainers.image.description".to_string(), policy.info.description.clone()),
        ]);
        annotations.extend(extra);
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MANIFEST_MEDIA_TYPE.into()),
            config: descriptor(CONFIG_MEDIA_TYPE, sha256_digest(&config_bytes), config_bytes.len()),
            layers: vec![descriptor(LAYER_MEDIA_TYPE, layer_digest, bytes.len())],
            annotations,
        };
        Ok(Artifact { manifest: serde_json::to_vec(&manifest)?, config: config_bytes, layer: bytes.to_vec() })
    }

    pub fn manifest_digest(&self) -> String {
        sha256_digest(&self.manifest)
    }
}

/// Checks a manifest before anything it names is fetched: its digest (against the one
/// asked for, when a digest was), schema and media types, exactly one `application/wasm`
/// layer no larger than `max_layer` bytes. Errors name `what` (the reference).
pub fn check_manifest(what: &str, bytes: &[u8], expected: Option<&str>, max_layer: u64) -> Result<Manifest> {
    let digest = sha256_digest(bytes);
    if let Some(expected) = expected {
        if digest != expected {
            bail!("{what}: the manifest's bytes hash to {digest}, not the {expected} asked for; the registry or cache is corrupt or was tampered with");
        }
    }
    let manifest: Manifest = serde_json::from_slice(bytes).with_context(|| format!("{what}: the manifest is not an OCI image manifest"))?;
    if manifest.schema_version != 2 {
        bail!("{what}: manifest schemaVersion {} (an OCI image manifest has 2)", manifest.schema_version);
    }
    if let Some(mt) = manifest.media_type.as_deref().filter(|mt| *mt != MANIFEST_MEDIA_TYPE) {
        bail!("{what}: manifest media type `{mt}`, not `{MANIFEST_MEDIA_TYPE}`");
    }
    if manifest.config.media_type != CONFIG_MEDIA_TYPE {
        bail!(
            "{what}: config media type `{}`, not `{CONFIG_MEDIA_TYPE}`: this is not a Wasm OCI artifact (a container image, say)",
            manifest.config.media_type
        );
    }
    if manifest.config.size > MAX_METADATA_BYTES {
        bail!("{what}: the config is {} bytes, past the {MAX_METADATA_BYTES}-byte limit", manifest.config.size);
    }
    let [layer] = manifest.layers.as_slice() else {
        bail!("{what}: the manifest has {} layers; a Wasm OCI artifact has exactly one", manifest.layers.len());
    };
    if layer.media_type != LAYER_MEDIA_TYPE {
        bail!("{what}: layer media type `{}`, not `{LAYER_MEDIA_TYPE}`", layer.media_type);
    }
    crate::registry::reference::check_digest(&layer.digest).map_err(|e| anyhow::anyhow!("{what}: layer: {e}"))?;
    if layer.size > max_layer {
        bail!("{what}: the component is {} bytes, past the {max_layer}-byte limit (raise it with --max-component-mb)", layer.size);
    }
    Ok(manifest)
}

/// Checks the config blob against the manifest: its digest and size, `layerDigests`
/// naming the one layer, and a target world that is a byzhost policy of the `role` asked
/// for (any policy when `None`). Returns the target world.
pub fn check_config(what: &str, manifest: &Manifest, bytes: &[u8], role: Option<PolicyKind>) -> Result<String> {
    check_blob(what, "config", &manifest.config, bytes)?;
    let config: WasmConfig =
        serde_json::from_slice(bytes).with_context(|| format!("{what}: the config is not a Wasm OCI config ({CONFIG_MEDIA_TYPE})"))?;
    let layer = &manifest.layers[0].digest;
    if config.layer_digests.first() != Some(layer) || config.layer_digests.len() != 1 {
        bail!("{what}: the config's layerDigests {:?} do not name the manifest's one layer {layer}", config.layer_digests);
    }
    let target = &config.component.target;
    let Some(world) = target.strip_prefix(POLICY_PACKAGE) else {
        bail!("{what}: the component targets `{target}`, not a byzhost policy world ({POLICY_PACKAGE}defense-policy or attack-policy)");
    };
    let kind = match world.split('@').next() {
        Some("defense-policy") => PolicyKind::Defense,
        Some("attack-policy") => PolicyKind::Attack,
        _ => bail!("{what}: the component targets `{target}`, which is not a policy world this host runs"),
    };
    if let Some(role) = role.filter(|r| *r != kind) {
        bail!("{what} is {} ({target}), not {}", article(kind), article(role));
    }
    Ok(target.clone())
}

fn article(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::Defense => "a defense",
        PolicyKind::Attack => "an attack",
    }
}

/// A blob's bytes against its descriptor: size, then digest.
pub fn check_blob(what: &str, name: &str, descriptor: &Descriptor, bytes: &[u8]) -> Result<()> {
    if bytes.len() as u64 != descriptor.size {
        bail!("{what}: the {name} is {} bytes, but the manifest says {}", bytes.len(), descriptor.size);
    }
    let digest = sha256_digest(bytes);
    if digest != descriptor.digest {
        bail!(
            "{what}: the {name}'s bytes hash to {digest}, not the manifest's {}; the registry or cache is corrupt or was tampered with",
            descriptor.digest
        );
    }
    Ok(())
}

/// The artifact's creation time: `SOURCE_DATE_EPOCH` when set (reproducible builds'
/// convention), else the epoch itself, so equal bytes give equal manifests.
fn created() -> String {
    let secs: i64 = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's civil-from-days.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(layers: &[(&str, u64)], config_type: &str) -> Vec<u8> {
        let d = |mt: &str, size: u64| serde_json::json!({"mediaType": mt, "digest": format!("sha256:{}", "a".repeat(64)), "size": size});
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": d(config_type, 10),
            "layers": layers.iter().map(|(mt, s)| d(mt, *s)).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    #[test]
    fn manifests_are_checked_before_any_blob_is_fetched() {
        let check = |bytes: &[u8]| check_manifest("oci://r/x:1", bytes, None, 1000).map(drop).unwrap_err().to_string();
        assert!(check(&manifest(&[(LAYER_MEDIA_TYPE, 1), (LAYER_MEDIA_TYPE, 1)], CONFIG_MEDIA_TYPE)).contains("2 layers"));
        assert!(check(&manifest(&[("application/vnd.oci.image.layer.v1.tar+gzip", 1)], CONFIG_MEDIA_TYPE)).contains("layer media type"));
        assert!(check(&manifest(&[(LAYER_MEDIA_TYPE, 1)], "application/vnd.oci.image.config.v1+json")).contains("not a Wasm OCI artifact"));
        assert!(check(&manifest(&[(LAYER_MEDIA_TYPE, 5000)], CONFIG_MEDIA_TYPE)).contains("--max-component-mb"));
        let good = manifest(&[(LAYER_MEDIA_TYPE, 1)], CONFIG_MEDIA_TYPE);
        assert!(check_manifest("r", &good, Some(&sha256_digest(&good)), 1000).is_ok());
        let err = check_manifest("r", &good, Some(&sha256_digest(b"other")), 1000).unwrap_err().to_string();
        assert!(err.contains("tampered"), "{err}");
    }

    #[test]
    fn creation_times_are_rfc3339_days_from_the_epoch() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_428), (2025, 12, 6));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
