//! Per-epoch checkpoints: the regular nodes' models after the last completed epoch.
//!
//! Everything else a run needs to continue (graph, batch order, policy seeds) is derived
//! from the seed and the epoch, so the models are the whole state. Policies that keep
//! state between calls restart it on resume. Format: the magic `BYZCKPT1`, the completed
//! epoch count (u32 LE), the value count (u64 LE), then the f32 LE values. Written to a
//! temporary file and renamed, so a crash leaves the previous checkpoint intact.

use std::path::Path;

use anyhow::{bail, Context as _, Result};

const MAGIC: &[u8; 8] = b"BYZCKPT1";

#[derive(Debug)]
pub struct Checkpoint {
    pub epochs_completed: u32,
    pub models: Vec<f32>,
}

impl Checkpoint {
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut bytes = Vec::with_capacity(20 + self.models.len() * 4);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&self.epochs_completed.to_le_bytes());
        bytes.extend_from_slice(&(self.models.len() as u64).to_le_bytes());
        for v in &self.models {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        byzhost_train::files::write_atomically(path, &bytes).with_context(|| format!("writing checkpoint {}", path.display()))
    }

    pub fn load(path: &Path) -> Result<Checkpoint> {
        // The largest run (n = 10,000 nodes of 80,202 floats) checkpoints 3.2 GB.
        let bytes = byzhost_train::files::read_regular(path, 4 << 30, "checkpoint", "")?;
        if bytes.len() < 20 || &bytes[..8] != MAGIC {
            bail!("{} is not a byzhost checkpoint", path.display());
        }
        let epochs_completed = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        let n = u64::from_le_bytes(bytes[12..20].try_into().unwrap());
        if n.checked_mul(4).and_then(|b| b.checked_add(20)) != Some(bytes.len() as u64) {
            bail!("checkpoint {} is truncated: {} bytes for {n} values", path.display(), bytes.len());
        }
        let models = bytes[20..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        Ok(Checkpoint { epochs_completed, models })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_detects_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.bin");
        Checkpoint { epochs_completed: 3, models: vec![1.5, -2.0, f32::MIN_POSITIVE] }.save(&p).unwrap();
        let c = Checkpoint::load(&p).unwrap();
        assert_eq!((c.epochs_completed, c.models), (3, vec![1.5, -2.0, f32::MIN_POSITIVE]));
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
        assert!(Checkpoint::load(&p).unwrap_err().to_string().contains("truncated"));
    }
}
