//! Policies as shareable, content-addressed artifacts: [`reference`]s name them (a file, an
//! `oci://` reference, or a wkg package name), [`artifact`] builds and verifies the Wasm OCI
//! artifact, [`remote`] speaks to registries, [`store`] keeps every artifact used in an
//! OCI image layout, and [`lock`] pins a sweep's tags. [`Registry::fetch`] puts them
//! together: cache first, then the network, verified before any byte reaches wasmtime.

pub mod artifact;
pub mod lock;
pub mod reference;
pub mod remote;
pub mod store;

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};

use crate::policy::PolicyKind;
use crate::sandbox::{LoadedPolicy, Sandbox};
pub use artifact::{Artifact, Pinned};
pub use lock::Lock;
pub use reference::{OciRef, PolicyRef, Selector};
pub use remote::Transport;
pub use store::Store;

/// Where a policy fetched from a registry came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub registry: String,
    pub repository: String,
}

/// A policy loaded from a reference: the component, and for one from a registry, where it
/// came from and what it pins.
pub struct Resolved {
    pub policy: Arc<LoadedPolicy>,
    pub origin: Option<Origin>,
    pub pin: Option<Pinned>,
}

/// Fetches verified artifacts: from the store when it has them, else from their registry.
pub struct Registry {
    pub store: Store,
    pub transport: Transport,
    /// Tags pinned by a sweep's `policies.lock` (`BYZHOST_POLICIES_LOCK` in a cell).
    pub lock: Option<Lock>,
    /// Largest component accepted, in bytes (`--max-component-mb`).
    pub max_component: u64,
}

impl Registry {
    /// The default store, with `transport`, and the lock a sweep passed to its cells.
    pub fn open(transport: Transport, max_component: u64) -> Result<Registry> {
        let lock = match std::env::var_os(lock::LOCK_ENV) {
            Some(path) => Some(Lock::read(Path::new(&path))?),
            None => None,
        };
        Ok(Registry { store: Store::open_default()?, transport, lock, max_component })
    }

    /// Loads the registry policy `reference` names (a file is its caller's to load), as the
    /// `role` asked for (any policy when `None`). `flag` names where the reference came from
    /// in errors (`--defense`, say).
    pub fn load(&self, sandbox: &Sandbox, reference: &PolicyRef, role: Option<PolicyKind>, flag: &str) -> Result<Resolved> {
        let oci = reference
            .to_oci()
            .with_context(|| flag.to_string())?
            .with_context(|| format!("{flag} {reference} is a file, not a registry reference"))?;
        let (bytes, pin) = self.fetch(&oci, role, &reference.to_string()).with_context(|| flag.to_string())?;
        let policy = sandbox.load_bytes(Path::new(&reference.to_string()), bytes).with_context(|| format!("{flag} {reference}"))?;
        let world = artifact::world_of(&policy);
        if world != pin.world {
            bail!("{flag} {reference}: the manifest says the component targets {}, but it exports {world}", pin.world);
        }
        Ok(Resolved { policy, origin: Some(Origin { registry: oci.registry.clone(), repository: oci.repository.clone() }), pin: Some(pin) })
    }

    /// The verified component `oci` names and what it pins. `given` is the reference as the
    /// user wrote it (the key of a sweep's lock).
    pub fn fetch(&self, oci: &OciRef, role: Option<PolicyKind>, given: &str) -> Result<(Vec<u8>, Pinned)> {
        let what = oci.to_string();
        let digest = match &oci.selector {
            Selector::Digest(d) => Some(d.clone()),
            Selector::Tag(_) => {
                self.lock.as_ref().and_then(|l| l.get(given)).or(if self.transport.offline { Some(self.offline_tag(oci)?) } else { None })
            }
        };
        if let Some(digest) = &digest {
            match self.cached(&what, digest, role) {
                Ok(Some(found)) => return Ok(found),
                Ok(None) => {}
                Err(e) => eprintln!("warning: {e:#}; fetching it again"),
            }
        }
        let at = digest.as_ref().map_or_else(|| oci.clone(), |d| oci.at_digest(d));
        self.pull(&at, oci, role)
    }

    /// A tag resolved from the store's index, for `--offline`.
    fn offline_tag(&self, oci: &OciRef) -> Result<String> {
        match self.store.tagged(&oci.whole())? {
            Some(digest) => {
                eprintln!("--offline: {oci} resolved from the policy store's index to {digest} (the registry may have moved the tag since)");
                Ok(digest)
            }
            None => bail!("{oci}: --offline, and the policy store has never pulled this tag; run once without --offline, or name the policy by digest"),
        }
    }

    /// The artifact with manifest `digest` from the store, checked as a pull is; `None`
    /// when any blob is missing.
    fn cached(&self, what: &str, digest: &str, role: Option<PolicyKind>) -> Result<Option<(Vec<u8>, Pinned)>> {
        let Some(manifest_bytes) = self.store.get_blob(digest)? else { return Ok(None) };
        let manifest = artifact::check_manifest(what, &manifest_bytes, Some(digest), self.max_component)?;
        let Some(config) = self.store.get_blob(&manifest.config.digest)? else { return Ok(None) };
        let world = artifact::check_config(what, &manifest, &config, role)?;
        let layer = &manifest.layers[0];
        let Some(bytes) = self.store.get_blob(&layer.digest)? else { return Ok(None) };
        artifact::check_blob(what, "component", layer, &bytes)?;
        Ok(Some((bytes, pin(digest, &manifest, world))))
    }

    /// Pulls `at` (a tag or a digest of `named`'s repository) from its registry, verifies
    /// every blob, and stores the artifact (under its tag when `named` has one).
    fn pull(&self, at: &OciRef, named: &OciRef, role: Option<PolicyKind>) -> Result<(Vec<u8>, Pinned)> {
        let what = named.to_string();
        let remote = remote::Remote::connect(at, &self.transport, oci_client::RegistryOperation::Pull)?;
        let manifest_bytes = remote.manifest()?;
        let expected = match &at.selector {
            Selector::Digest(d) => Some(d.as_str()),
            Selector::Tag(_) => None,
        };
        let manifest = artifact::check_manifest(&what, &manifest_bytes, expected, self.max_component)?;
        let ref_name = matches!(named.selector, Selector::Tag(_)).then(|| named.whole());
        if let Ok(Some(found)) = self.cached(&what, &artifact::sha256_digest(&manifest_bytes), role) {
            // The tag names an artifact the store already has: only the tag is news.
            self.store.put_manifest(&manifest_bytes, ref_name.as_deref())?;
            return Ok(found);
        }
        let config = remote.blob(&manifest.config)?;
        let world = artifact::check_config(&what, &manifest, &config, role)?;
        let layer = remote.blob(&manifest.layers[0])?;
        artifact::check_blob(&what, "component", &manifest.layers[0], &layer)?;
        let digest = self
            .store
            .put_artifact(&Artifact { manifest: manifest_bytes, config, layer: layer.clone() }, ref_name.as_deref())
            .with_context(|| format!("{what}: storing the pulled artifact"))?;
        Ok((layer, pin(&digest, &manifest, world)))
    }
}

fn pin(digest: &str, manifest: &artifact::Manifest, world: String) -> Pinned {
    let layer = &manifest.layers[0];
    Pinned {
        manifest_digest: digest.to_string(),
        layer_sha256: layer.digest.trim_start_matches("sha256:").to_string(),
        size: layer.size,
        world,
    }
}
