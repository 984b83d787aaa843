//! `policies.lock`: the digest each registry reference of a sweep resolved to the first time,
//! so every cell, and every later run of the sweep, uses the same bytes even when a tag
//! moves. Sweeps hand it to their cells through `BYZHOST_POLICIES_LOCK`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::record::write_atomically;

pub const LOCK_FILE: &str = "policies.lock";
pub const LOCK_ENV: &str = "BYZHOST_POLICIES_LOCK";

#[derive(Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
pub struct Lock {
    /// Reference as written in the grid → manifest digest.
    pub policies: BTreeMap<String, LockedPolicy>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct LockedPolicy {
    /// The `oci://HOST/REPO:TAG` it resolved through (a package name's mapping, say).
    pub resolved: String,
    pub manifest_digest: String,
}

impl Lock {
    /// Reads a lock; a missing file is an empty lock.
    pub fn read(path: &Path) -> Result<Lock> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("{} is not a policies lock", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lock::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        write_atomically(path, &serde_json::to_vec_pretty(self)?)
    }

    /// The manifest digest locked for `reference`.
    pub fn get(&self, reference: &str) -> Option<String> {
        self.policies.get(reference).map(|p| p.manifest_digest.clone())
    }
}
