//! On-disk cache of compiled components.
//!
//! The key is the component's sha256 plus a hash of the engine's compatibility settings
//! (wasmtime version, target, compiler flags), so a cache entry is only ever loaded by an
//! engine that could have produced it. Entries are written to a temporary file and renamed,
//! so a crash never leaves a half-written entry behind.

use std::hash::{Hash, Hasher};
use std::path::Path;

use anyhow::Result;
use wasmtime::component::Component;
use wasmtime::Engine;

/// Compiles `bytes`, or loads the compiled code from `cache_dir`. Returns the component and
/// `"cache"` or `"jit"`. Cache problems (unwritable directory, stale entry) fall back to JIT.
pub fn compile(engine: &Engine, cache_dir: Option<&Path>, bytes: &[u8], sha256: &str) -> Result<(Component, &'static str)> {
    let Some(dir) = cache_dir else {
        return Ok((Component::new(engine, bytes)?, "jit"));
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let entry = dir.join(format!("{sha256}-{:016x}.cwasm", hasher.finish()));
    if entry.is_file() {
        // SAFETY: the entry was written by `Component::serialize` of an engine with the same
        // compatibility hash, in a directory owned by this user; wasmtime still checks the
        // header and refuses mismatched artefacts.
        if let Ok(component) = unsafe { Component::deserialize_file(engine, &entry) } {
            return Ok((component, "cache"));
        }
    }
    let component = Component::new(engine, bytes)?;
    if let Ok(serialized) = component.serialize() {
        let _ = std::fs::create_dir_all(dir);
        let tmp = entry.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, serialized).is_ok() {
            let _ = std::fs::rename(&tmp, &entry);
        }
        let _ = std::fs::remove_file(&tmp);
    }
    Ok((component, "jit"))
}
