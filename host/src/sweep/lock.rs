//! A sweep's registry policies, pinned: the first time a sweep resolves a tag it writes the
//! manifest digest to `policies.lock` in its folder, and every cell, and every later run of
//! the sweep, uses that digest; `--locked` instead checks each tag against the registry and
//! refuses one that moved.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Context as _, Result};

use super::grid::Cell;
use crate::cli::RegistryArgs;
use crate::registry::lock::{LockedPolicy, LOCK_FILE};
use crate::registry::{Lock, PolicyRef, Registry, Selector};
use crate::sandbox::DEFAULT_COMPONENT_MB;

/// The registry the sweep's cells fetch through, its lock resolved and written; `None` when
/// no cell names a registry policy. `dry_run` resolves nothing new
/// (except to check under `locked`) and writes nothing.
pub fn lock_policies(cells: &[Cell], out: &Path, args: &RegistryArgs, locked: bool, dry_run: bool) -> Result<Option<Registry>> {
    let named: BTreeSet<String> = cells
        .iter()
        .flat_map(|c| [Some(&c.experiment.defense), c.experiment.attack_ref()])
        .flatten()
        .filter(|r| r.file().is_none())
        .map(PolicyRef::to_string)
        .collect();
    if named.is_empty() {
        return Ok(None);
    }
    let mut registry = args.registry(DEFAULT_COMPONENT_MB << 20)?;
    let path = out.join(LOCK_FILE);
    let mut lock = Lock::read(&path)?;
    let before = lock.clone();
    for given in &named {
        let reference: PolicyRef = given.parse().map_err(anyhow::Error::msg)?;
        let oci = reference.to_oci()?.expect("a registry reference");
        if matches!(oci.selector, Selector::Digest(_)) || (lock.get(given).is_some() && !locked) || (dry_run && !locked) {
            continue;
        }
        let (_, pin) = registry.fetch(&oci, None, given).with_context(|| format!("resolving {given} for {}", path.display()))?;
        match lock.policies.get(given) {
            Some(old) if old.manifest_digest != pin.manifest_digest => bail!(
                "--locked: {given} now resolves to {}, but {} locked it to {}; drop --locked to keep the locked digest, or delete the entry to take the new one",
                pin.manifest_digest,
                path.display(),
                old.manifest_digest
            ),
            Some(_) => {}
            None if locked => bail!("--locked: {given} is not in {}; run the sweep once without --locked to lock it", path.display()),
            None => {
                eprintln!("locked {given} to {} in {}", pin.manifest_digest, path.display());
                lock.policies.insert(given.clone(), LockedPolicy { resolved: oci.to_string(), manifest_digest: pin.manifest_digest });
            }
        }
    }
    if lock != before && !dry_run {
        std::fs::create_dir_all(out).with_context(|| format!("--out: cannot create {}", out.display()))?;
        lock.write(&path)?;
    }
    registry.lock = Some(lock);
    Ok(Some(registry))
}
