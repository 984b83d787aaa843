//! Reading a file a user named, bounded: only regular files (a device such as `/dev/zero`,
//! a FIFO or a directory is refused before any byte is read), and never more than a stated
//! cap, so no input can make the host read until memory runs out.

use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a file could not be read; every message starts with what the file is for (a flag or
/// a role) and its path.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{what}: {path} does not exist")]
    Missing { what: String, path: String },
    #[error("{what}: {path} is {kind}, not a regular file; pass the path of a file")]
    NotRegular { what: String, path: String, kind: &'static str },
    #[error("{what}: {path} is {size} bytes, over the cap of {cap} bytes{hint}")]
    TooLarge { what: String, path: String, size: u64, cap: u64, hint: String },
    #[error("{what}: cannot read {path}: {source}")]
    Io { what: String, path: String, source: std::io::Error },
}

/// What a path names, in words, for a path that is not a regular file.
fn kind_of(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Checks that `path` is a regular file (following symlinks) and returns its size.
pub fn regular_file_size(path: &Path, what: &str) -> Result<u64, FileError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => FileError::Missing { what: what.into(), path: shown.clone() },
        _ => FileError::Io { what: what.into(), path: shown.clone(), source },
    })?;
    if !meta.file_type().is_file() {
        return Err(FileError::NotRegular { what: what.into(), path: shown, kind: kind_of(meta.file_type()) });
    }
    Ok(meta.len())
}

/// Reads the regular file `path` whole, refusing it when it is larger than `cap` bytes.
/// `hint` follows the size error (say, the flag that raises the cap).
pub fn read_regular(path: &Path, cap: u64, what: &str, hint: &str) -> Result<Vec<u8>, FileError> {
    let shown = path.display().to_string();
    let too_large = |size| FileError::TooLarge { what: what.into(), path: shown.clone(), size, cap, hint: hint.into() };
    let size = regular_file_size(path, what)?;
    if size > cap {
        return Err(too_large(size));
    }
    let io = |source| FileError::Io { what: what.into(), path: shown.clone(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    // The file may have been replaced or grown since the check: never read past the cap.
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(cap + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > cap {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Writes `path` whole or not at all: a temporary file beside it, named for this process and
/// write, then a rename. Readers see the old file or the new one, never a part, and two
/// processes writing the same path at once cannot interleave their bytes.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}-{}.tmp", std::process::id(), WRITES.fetch_add(1, Ordering::Relaxed)));
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_directories_are_refused_without_reading() {
        for (path, kind) in [("/dev/zero", "a character device"), ("/dev/urandom", "a character device"), ("/tmp", "a directory")] {
            let err = read_regular(Path::new(path), u64::MAX, "--policy", "").unwrap_err().to_string();
            assert_eq!(err, format!("--policy: {path} is {kind}, not a regular file; pass the path of a file"));
            assert!(!err.contains("does not exist"), "{err}");
        }
    }

    #[test]
    fn a_missing_file_says_so_and_a_large_one_names_the_cap() {
        let err = read_regular(Path::new("/no/such/file"), 10, "--config", "").unwrap_err().to_string();
        assert_eq!(err, "--config: /no/such/file does not exist");
        let dir = tempfile_dir();
        let path = dir.join("big");
        std::fs::write(&path, [0u8; 11]).unwrap();
        let err = read_regular(&path, 10, "--config", " (raise it with --x)").unwrap_err().to_string();
        assert!(err.ends_with("is 11 bytes, over the cap of 10 bytes (raise it with --x)"), "{err}");
        assert_eq!(read_regular(&path, 11, "--config", "").unwrap().len(), 11);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile_dir().join("atomic");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file is left behind");
        assert!(write_atomically(&dir.join("no/such/dir/f"), b"x").is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("byzhost-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
