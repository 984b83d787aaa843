//! The policy store: every component a run has used or a pull has fetched, content-addressed,
//! as an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`) under the byzhost
//! cache directory, so `skopeo` and other OCI tools can read it. Each component is kept as
//! a Wasm OCI artifact ([`Artifact`]); `index.json` lists every manifest, and names a
//! pulled tag (`org.opencontainers.image.ref.name` = `HOST/REPO:TAG`) so `--offline` can
//! resolve it.
//!
//! Blobs are written to a temporary file and renamed, and re-hashed when read, so a corrupt
//! or half-written blob is never used; the index names a manifest only after all its blobs
//! are stored, so an interrupted pull leaves nothing that looks complete.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use super::artifact::{sha256_digest, world_of, Artifact, Descriptor, Pinned, MANIFEST_MEDIA_TYPE};
use crate::record::write_atomically;
use crate::sandbox::LoadedPolicy;

/// Largest blob read back: the component size cap's ceiling, with room for manifests.
const MAX_BLOB_BYTES: u64 = 4 << 30;
/// The OCI image layout's annotation naming a manifest in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

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

    /// The default store, opened.
    pub fn open_default() -> Result<Store> {
        let dir = Store::default_dir().context("no cache directory: set BYZHOST_CACHE_DIR (or HOME)")?;
        Store::open(&dir)
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

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blob `digest` lives (present or not).
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        let hex_part = digest.strip_prefix("sha256:").unwrap_or(digest);
        if hex_part.len() != 64 || !hex_part.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            bail!("`{digest}` is not a sha256 digest (sha256: and 64 lowercase hex digits)");
        }
        Ok(self.dir.join("blobs/sha256").join(hex_part))
    }

    /// Stores `bytes` (unless a sound copy is there); returns `sha256:…`.
    fn put_blob(&self, bytes: &[u8]) -> Result<String> {
        let digest = sha256_digest(bytes);
        if !matches!(self.get_blob(&digest), Ok(Some(_))) {
            write_atomically(&self.blob_path(&digest)?, bytes)?;
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
        let actual = sha256_digest(&bytes);
        if !path.ends_with(actual.trim_start_matches("sha256:")) {
            bail!("policy store blob {} is corrupt: its bytes hash to {actual}", path.display());
        }
        Ok(Some(bytes))
    }

    /// Stores an artifact's blobs, then lists its manifest in `index.json`, under
    /// `ref_name` (`HOST/REPO:TAG`) when given; returns the manifest digest.
    pub fn put_artifact(&self, artifact: &Artifact, ref_name: Option<&str>) -> Result<String> {
        self.put_blob(&artifact.layer)?;
        self.put_blob(&artifact.config)?;
        self.put_manifest(&artifact.manifest, ref_name)
    }

    /// Stores the manifest of an artifact whose other blobs are stored, and lists it in
    /// `index.json` (under `ref_name` when given); returns its digest.
    pub fn put_manifest(&self, manifest: &[u8], ref_name: Option<&str>) -> Result<String> {
        let digest = self.put_blob(manifest)?;
        let mut entry = Descriptor {
            media_type: MANIFEST_MEDIA_TYPE.into(),
            digest: digest.clone(),
            size: manifest.len() as u64,
            annotations: Default::default(),
        };
        if let Some(name) = ref_name {
            entry.annotations.insert(REF_NAME.into(), name.into());
        }
        self.index(entry)?;
        Ok(digest)
    }

    /// Stores `bytes`, the component `policy` was loaded from, as a Wasm OCI artifact.
    pub fn put_component(&self, policy: &LoadedPolicy, bytes: &[u8]) -> Result<Pinned> {
        let artifact = Artifact::build(policy, bytes, Default::default())?;
        let manifest_digest = self.put_artifact(&artifact, None)?;
        let layer_sha256 = sha256_digest(bytes).trim_start_matches("sha256:").to_string();
        Ok(Pinned { manifest_digest, layer_sha256, size: bytes.len() as u64, world: world_of(policy) })
    }

    /// The manifest digest `index.json` lists under `ref_name`, if any.
    pub fn tagged(&self, ref_name: &str) -> Result<Option<String>> {
        let index = self.read_index()?;
        let named = |m: &&Descriptor| m.annotations.get(REF_NAME).is_some_and(|n| n == ref_name);
        Ok(index.manifests.iter().find(named).map(|m| m.digest.clone()))
    }

    fn read_index(&self) -> Result<Index> {
        let path = self.dir.join("index.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("{} is not an OCI index; delete it", path.display())),
            Err(_) => Ok(Index { schema_version: 2, manifests: Vec::new() }),
        }
    }

    /// Adds a manifest to `index.json`; a named entry replaces the entry of that name (a
    /// tag that moved). Processes that share the store (a sweep's cells, MPI ranks) take
    /// turns: each reads, changes and writes the index under an exclusive lock, so no one
    /// drops another's entry.
    fn index(&self, entry: Descriptor) -> Result<()> {
        let lock_path = self.dir.join("index.json.lock");
        let lock = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("opening {}", lock_path.display()))?;
        lock.lock().with_context(|| format!("locking {}", lock_path.display()))?;
        let mut index = self.read_index()?;
        let name = entry.annotations.get(REF_NAME).cloned();
        let same = |m: &Descriptor| match &name {
            Some(n) => m.annotations.get(REF_NAME) == Some(n),
            None => m.digest == entry.digest && m.annotations.get(REF_NAME).is_none(),
        };
        if index.manifests.iter().any(|m| same(m) && *m == entry) {
            return Ok(());
        }
        index.manifests.retain(|m| !same(m));
        index.manifests.push(entry);
        write_atomically(&self.dir.join("index.json"), &serde_json::to_vec_pretty(&index)?)
    }
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
        store.put_blob(b"component bytes").unwrap();
        assert_eq!(store.get_blob(&digest).unwrap().unwrap(), b"component bytes", "a corrupt blob is rewritten");
        assert!(store.get_blob("sha256:../../etc/passwd").is_err(), "a digest is never a path");
    }

    #[test]
    fn a_tag_names_one_manifest_and_moves() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let artifact = |layer: &[u8]| Artifact { manifest: [b"m", layer].concat(), config: b"c".to_vec(), layer: layer.to_vec() };
        let first = store.put_artifact(&artifact(b"one"), Some("h/r:1")).unwrap();
        assert_eq!(store.tagged("h/r:1").unwrap(), Some(first));
        let second = store.put_artifact(&artifact(b"two"), Some("h/r:1")).unwrap();
        assert_eq!(store.tagged("h/r:1").unwrap(), Some(second));
        assert_eq!(store.read_index().unwrap().manifests.len(), 1);
        assert_eq!(store.tagged("h/r:2").unwrap(), None);
    }

    #[test]
    fn writers_sharing_the_store_keep_every_entry() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path()).unwrap();
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let dir = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    // Each writer its own store handle, as separate processes have.
                    let store = Store::open(&dir).unwrap();
                    for i in 0..10 {
                        let layer = format!("writer {w} layer {i}").into_bytes();
                        let artifact = Artifact { manifest: [b"m".as_slice(), &layer].concat(), config: b"c".to_vec(), layer };
                        store.put_artifact(&artifact, Some(&format!("h/r:{w}-{i}"))).unwrap();
                    }
                })
            })
            .collect();
        writers.into_iter().for_each(|w| w.join().unwrap());
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.read_index().unwrap().manifests.len(), 80, "no writer dropped another's entry");
    }
}
