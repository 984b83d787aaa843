//! The policy store: every component a run has used, content-addressed, as an OCI image
//! layout (`oci-layout`, `index.json`, `blobs/sha256/…`) under the byzhost cache directory.
//! Each component is kept as a Wasm OCI artifact (the CNCF TAG Runtime layout that `wkg oci`
//! and wasmCloud write): an image manifest, a `application/vnd.wasm.config.v0+json` config
//! naming the component's imports, exports and target world, and one `application/wasm`
//! layer holding the bytes. The manifest is deterministic (a fixed `created`, from
//! `SOURCE_DATE_EPOCH` when set), so the same bytes always get the same manifest digest.
//!
//! A run records each policy's layer sha256 and manifest digest, and stores its bytes here
//! when it starts; `--resume` loads the recorded bytes from here when the file at the
//! recorded path has been rebuilt since. Blobs are re-hashed when read, written to a
//! temporary file and renamed, so a corrupt or half-written blob is never used.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::record::write_atomically;
use crate::sandbox::{hex, LoadedPolicy};

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";
/// Largest blob read back: the component size cap's ceiling, with room for manifests.
const MAX_BLOB_BYTES: u64 = 4 << 30;

/// A component pinned in the store.
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

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    media_type: String,
    config: Descriptor,
    layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
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

#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    manifests: Vec<Descriptor>,
}

pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The default store: `$BYZHOST_CACHE_DIR/oci`, else under the user's cache directory.
    pub fn default_dir() -> Option<PathBuf> {
        crate::sandbox::cache_base().map(|base| base.join("oci"))
    }

    /// Opens (creating when needed) the image layout at `dir`.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir.join("blobs/sha256")).with_context(|| format!("creating the policy store {}", dir.display()))?;
        let layout = dir.join("oci-layout");
        if !layout.is_file() {
            write_atomically(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        Ok(Store { dir: dir.to_path_buf() })
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        let hex_part = digest.strip_prefix("sha256:").unwrap_or(digest);
        if hex_part.len() != 64 || !hex_part.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            bail!("`{digest}` is not a sha256 digest (sha256: and 64 lowercase hex digits)");
        }
        Ok(self.dir.join("blobs/sha256").join(hex_part))
    }

    /// Stores `bytes`; returns `sha256:…`.
    fn put_blob(&self, bytes: &[u8]) -> Result<String> {
        let digest = format!("sha256:{}", hex(&Sha256::digest(bytes)));
        let path = self.blob_path(&digest)?;
        if self.get_blob(&digest).ok().flatten().is_none() {
            write_atomically(&path, bytes)?;
        }
        Ok(digest)
    }

    /// The blob with `digest` (`sha256:…` or bare hex), re-hashed; `None` when absent. A blob
    /// whose bytes do not hash to its name is an error naming it.
    pub fn get_blob(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        let path = self.blob_path(digest)?;
        if !path.exists() {
            return Ok(None);
        }
        let bytes = byzhost_train::files::read_regular(&path, MAX_BLOB_BYTES, "policy store", "")?;
        let actual = hex(&Sha256::digest(&bytes));
        if !path.ends_with(&actual) {
            bail!("policy store blob {} is corrupt: its bytes hash to sha256:{actual}; delete it", path.display());
        }
        Ok(Some(bytes))
    }

    /// Stores `bytes`, the component `policy` was loaded from, as a Wasm OCI artifact.
    pub fn put_component(&self, policy: &LoadedPolicy, bytes: &[u8]) -> Result<Pinned> {
        let created = created();
        let world = format!("byz:policy/{}-policy@{}", policy.kind, policy.wit_version);
        let layer = self.put_blob(bytes)?;
        let config = WasmConfig {
            created: created.clone(),
            architecture: "wasm".into(),
            os: "wasip2".into(),
            layer_digests: vec![layer.clone()],
            component: ComponentInfo { exports: policy.exports.clone(), imports: policy.imports.clone(), target: world.clone() },
        };
        let config_bytes = serde_json::to_vec(&config)?;
        let descriptor = |media_type: &str, digest: String, size: usize| Descriptor {
            media_type: media_type.into(),
            digest,
            size: size as u64,
            annotations: BTreeMap::new(),
        };
        let annotations = BTreeMap::from([
            ("org.opencontainers.image.created".to_string(), created),
            ("org.opencontainers.image.title".to_string(), policy.info.name.clone()),
            ("org.opencontainers.image.version".to_string(), policy.info.version.clone()),
            ("org.opencontainers.image.description".to_string(), policy.info.description.clone()),
        ]);
        let manifest = Manifest {
            schema_version: 2,
            media_type: MANIFEST_MEDIA_TYPE.into(),
            config: descriptor(CONFIG_MEDIA_TYPE, self.put_blob(&config_bytes)?, config_bytes.len()),
            layers: vec![descriptor(LAYER_MEDIA_TYPE, layer.clone(), bytes.len())],
            annotations,
        };
        let manifest_bytes = serde_json::to_vec(&manifest)?;
        let manifest_digest = self.put_blob(&manifest_bytes)?;
        self.index(descriptor(MANIFEST_MEDIA_TYPE, manifest_digest.clone(), manifest_bytes.len()))?;
        let layer_sha256 = layer.trim_start_matches("sha256:").to_string();
        Ok(Pinned { manifest_digest, layer_sha256, size: bytes.len() as u64, world })
    }

    /// Adds a manifest to `index.json` (once).
    fn index(&self, manifest: Descriptor) -> Result<()> {
        let path = self.dir.join("index.json");
        let mut index: Index = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("{} is not an OCI index", path.display()))?,
            Err(_) => Index { schema_version: 2, manifests: Vec::new() },
        };
        if !index.manifests.iter().any(|m| m.digest == manifest.digest) {
            index.manifests.push(manifest);
            write_atomically(&path, &serde_json::to_vec_pretty(&index)?)?;
        }
        Ok(())
    }
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

    #[test]
    fn blobs_round_trip_and_a_corrupt_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(dir.path().join("oci-layout").is_file());
        let digest = store.put_blob(b"component bytes").unwrap();
        assert_eq!(store.get_blob(&digest).unwrap().unwrap(), b"component bytes");
        assert_eq!(store.get_blob(&"0".repeat(64)).unwrap(), None);
        let path = store.blob_path(&digest).unwrap();
        std::fs::write(&path, b"tampered").unwrap();
        let err = store.get_blob(&digest).unwrap_err().to_string();
        assert!(err.contains("is corrupt") && err.contains(&path.display().to_string()), "{err}");
        assert!(store.get_blob("sha256:../../etc/passwd").is_err(), "a digest is never a path");
    }

    #[test]
    fn creation_times_are_rfc3339_days_from_the_epoch() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_428), (2025, 12, 6));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
