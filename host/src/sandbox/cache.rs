//! Compiling components, and the on-disk cache of compiled ones.
//!
//! Loading a compiled artifact runs its machine code, so an entry is trusted only after it
//! is checked. An entry is one file, `<component sha256>-<engine hash>.cwasm`: a magic line,
//! a JSON header naming the component's sha256, the engine's compatibility hash and the
//! sha256 of the artifact, then the artifact. An entry whose header does not name this
//! component and this engine, or whose artifact does not hash to the recorded digest (a
//! corrupted file, another component's entry copied in its place, a half-written file), is
//! compiled again with a one-line warning. Entries are written to a unique temporary file
//! and renamed, so readers see a whole entry or none. No cache problem is more than a
//! recompile.
//!
//! The digest guards against accidents and against an entry moved under another name; it is
//! not a signature. Whoever can write the cache directory can rewrite an entry and its digest
//! together, so keep the cache in a directory only its user can write (the default is).
//!
//! Compilation runs on its own thread so the caller can say what is being compiled when it
//! takes long, and give up at the compile deadline (wasmtime cannot interrupt Cranelift).

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

use super::hex;

const MAGIC: &[u8] = b"byzhost compiled component v2\n";
/// When a compile has run this long, the user is told what is being compiled.
const SLOW_COMPILE_NOTICE: Duration = Duration::from_secs(2);

/// How the compiled code was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadSource {
    Jit,
    Cache,
}

impl std::fmt::Display for LoadSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LoadSource::Jit => "jit",
            LoadSource::Cache => "cache",
        })
    }
}

/// What an entry claims to be, checked before its artifact is deserialized.
#[derive(Serialize, Deserialize, Debug)]
struct EntryHeader {
    component_sha256: String,
    engine: String,
    artifact_sha256: String,
}

/// The component being compiled, for messages.
pub struct Subject<'a> {
    pub path: &'a Path,
    pub bytes: &'a [u8],
    pub sha256: &'a str,
}

/// Compiles the component, or loads its compiled code from `cache_dir`.
pub fn compile(engine: &Engine, cache_dir: Option<&Path>, subject: &Subject, deadline: Duration) -> Result<(Component, LoadSource)> {
    let Some(dir) = cache_dir else {
        return Ok((compile_watched(engine, subject, deadline, false)?, LoadSource::Jit));
    };
    let engine_hash = engine_hash(engine);
    let entry = dir.join(format!("{}-{engine_hash}.cwasm", subject.sha256));
    if entry.exists() {
        match load_entry(engine, &entry, subject.sha256, &engine_hash) {
            Ok(component) => return Ok((component, LoadSource::Cache)),
            Err(why) => eprintln!("warning: compiled-component cache entry {} {why:#}; compiling again", entry.display()),
        }
    }
    let component = compile_watched(engine, subject, deadline, true)?;
    if let Ok(artifact) = component.serialize() {
        let header =
            EntryHeader { component_sha256: subject.sha256.into(), engine: engine_hash, artifact_sha256: hex(&Sha256::digest(&artifact)) };
        if let Err(e) = write_entry(dir, &entry, &header, &artifact) {
            eprintln!("warning: cannot write compiled-component cache entry {}: {e:#}; the next run compiles again", entry.display());
        }
    }
    Ok((component, LoadSource::Jit))
}

/// The engine's compatibility hash (wasmtime version, target, compiler settings) as hex.
fn engine_hash(engine: &Engine) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// Reads an entry and checks it was written for `component_sha256` by an engine with
/// `engine_hash`, and that its artifact is intact; the error says what is wrong with it.
fn load_entry(engine: &Engine, entry: &Path, component_sha256: &str, engine_hash: &str) -> Result<Component> {
    // Far above any artifact of a component under the size cap (a 20 MB Python component
    // compiles to 33 MB), and a bound on what a planted file can make the host read.
    const MAX_ENTRY_BYTES: u64 = 2 << 30;
    let bytes = byzhost_train::files::read_regular(entry, MAX_ENTRY_BYTES, "cache entry", "")?;
    let rest = bytes.strip_prefix(MAGIC).context("is not a byzhost cache entry (no magic line)")?;
    let (len, rest) = rest.split_first_chunk::<4>().context("is truncated")?;
    let len = u32::from_le_bytes(*len) as usize;
    let (header, artifact) = (rest.get(..len).context("is truncated")?, &rest[len.min(rest.len())..]);
    let header: EntryHeader = serde_json::from_slice(header).context("has a corrupt header")?;
    if header.component_sha256 != component_sha256 || header.engine != engine_hash {
        bail!("was written for component {} by engine {}, not for this one", header.component_sha256, header.engine);
    }
    if hex(&Sha256::digest(artifact)) != header.artifact_sha256 {
        bail!("does not match its recorded digest (corrupt or altered)");
    }
    // SAFETY: the artifact hashes to the digest recorded beside it by this host, for this
    // component and this engine's compatibility hash, in the user's own cache directory;
    // wasmtime checks its header and refuses artefacts of another engine or version.
    unsafe { Component::deserialize(engine, artifact) }.map_err(anyhow::Error::from).context("is refused by wasmtime")
}

/// Writes an entry atomically, so readers see a whole entry or none.
fn write_entry(dir: &Path, entry: &Path, header: &EntryHeader, artifact: &[u8]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let header = serde_json::to_vec(header)?;
    let mut bytes = Vec::with_capacity(MAGIC.len() + 4 + header.len() + artifact.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(artifact);
    byzhost_train::files::write_atomically(entry, &bytes).with_context(|| format!("writing {}", entry.display()))
}

/// Compiles on a worker thread: after [`SLOW_COMPILE_NOTICE`] says what is being compiled
/// and how big it is, and gives up at `deadline` (the thread is left to finish on its own;
/// the commands end right after such an error).
fn compile_watched(engine: &Engine, subject: &Subject, deadline: Duration, cached: bool) -> Result<Component> {
    let (sender, receiver) = mpsc::channel();
    let (engine, bytes) = (engine.clone(), subject.bytes.to_vec());
    std::thread::Builder::new()
        .name("byzhost-compile".into())
        .spawn(move || {
            let _ = sender.send(Component::new(&engine, &bytes));
        })
        .context("starting the compile thread")?;
    let size_mb = subject.bytes.len() as f64 / 1e6;
    let notice = SLOW_COMPILE_NOTICE.min(deadline);
    let outcome = match receiver.recv_timeout(notice) {
        Ok(outcome) => Some(outcome),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            eprintln!(
                "compiling {} ({size_mb:.1} MB, sha256 {}…): components this size take a while{}; giving up after {} s \
                 (--compile-timeout-s)",
                subject.path.display(),
                &subject.sha256[..12],
                if cached { ", and the compiled code is cached for later runs" } else { "" },
                deadline.as_secs()
            );
            receiver.recv_timeout(deadline.saturating_sub(notice)).ok()
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => bail!("the compile thread ended without a result"),
    };
    match outcome {
        Some(result) => Ok(result?),
        None => bail!(
            "compiling {} ({size_mb:.1} MB) did not finish within the compile deadline of {} s; raise it with \
             --compile-timeout-s, or make the component smaller",
            subject.path.display(),
            deadline.as_secs()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_source_prints_as_recorded() {
        assert_eq!(LoadSource::Jit.to_string(), "jit");
        assert_eq!(serde_json::to_string(&LoadSource::Cache).unwrap(), "\"cache\"");
    }
}
