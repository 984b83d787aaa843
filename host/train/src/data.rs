//! IDX image/label files (the format of MNIST and Fashion-MNIST), plain or gzip'd, and the
//! small stratified Fashion-MNIST subset embedded in the binary as the default dataset.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use flate2::read::GzDecoder;

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Problems with an IDX file, each naming the file.
#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    #[error("{file}: magic number {found:#010x}, expected {expected:#010x} ({what}); is this the right file?")]
    WrongMagic { file: String, found: u32, expected: u32, what: &'static str },
    #[error("{file}: truncated: the header promises {expected} bytes of data, the file has {got}")]
    Truncated { file: String, expected: usize, got: usize },
    #[error("{images_file} holds {images} images but {labels_file} holds {labels} labels")]
    CountMismatch { images_file: String, images: usize, labels_file: String, labels: usize },
    #[error("{file}: label {label} at index {index} is not a class in 0..10")]
    BadLabel { file: String, label: u8, index: usize },
}

/// Images (row-major u8 pixels) and their labels.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn pixels(&self) -> usize {
        self.rows * self.cols
    }
}

/// A training and a test set, and where they came from.
#[derive(Clone, Debug)]
pub struct DataSplit {
    pub train: Dataset,
    pub test: Dataset,
    pub source: String,
}

const EMBEDDED_TRAIN_IMAGES: &[u8] = include_bytes!("../data/fashion-mnist-small/train-images-idx3-ubyte.gz");
const EMBEDDED_TRAIN_LABELS: &[u8] = include_bytes!("../data/fashion-mnist-small/train-labels-idx1-ubyte.gz");
const EMBEDDED_TEST_IMAGES: &[u8] = include_bytes!("../data/fashion-mnist-small/t10k-images-idx3-ubyte.gz");
const EMBEDDED_TEST_LABELS: &[u8] = include_bytes!("../data/fashion-mnist-small/t10k-labels-idx1-ubyte.gz");

/// The embedded default: a stratified subset of Fashion-MNIST (see
/// `host/train/data/fashion-mnist-small/README.md`), so that a run needs no download.
pub fn embedded() -> DataSplit {
    let set = |images: &[u8], labels: &[u8], split: &str| {
        parse_pair(
            &gunzip(images, "embedded").expect("embedded data is valid gzip"),
            &format!("embedded {split} images"),
            &gunzip(labels, "embedded").expect("embedded data is valid gzip"),
            &format!("embedded {split} labels"),
        )
        .expect("embedded data is valid IDX")
    };
    DataSplit {
        train: set(EMBEDDED_TRAIN_IMAGES, EMBEDDED_TRAIN_LABELS, "train"),
        test: set(EMBEDDED_TEST_IMAGES, EMBEDDED_TEST_LABELS, "test"),
        source: "embedded Fashion-MNIST subset".into(),
    }
}

/// Loads `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and
/// `t10k-labels-idx1-ubyte` from `dir`, each plain or with a `.gz` suffix.
pub fn load_dir(dir: &Path) -> Result<DataSplit> {
    if !dir.is_dir() {
        anyhow::bail!("data directory {} does not exist (--data / BYZHOST_DATA)", dir.display());
    }
    let read = |stem: &str| -> Result<(Vec<u8>, String)> {
        let candidates = [dir.join(stem), dir.join(format!("{stem}.gz"))];
        let path: &PathBuf = candidates
            .iter()
            .find(|p| p.is_file())
            .with_context(|| format!("{} has no {stem} or {stem}.gz (expected the four standard IDX files)", dir.display()))?;
        let raw = crate::files::read_regular(path, MAX_IDX_BYTES, "--data", "")?;
        let name = path.display().to_string();
        let bytes = if path.extension().is_some_and(|e| e == "gz") { gunzip(&raw, &name)? } else { raw };
        Ok((bytes, name))
    };
    let set = |images: &str, labels: &str| -> Result<Dataset> {
        let (img, img_name) = read(images)?;
        let (lbl, lbl_name) = read(labels)?;
        Ok(parse_pair(&img, &img_name, &lbl, &lbl_name)?)
    };
    Ok(DataSplit {
        train: set("train-images-idx3-ubyte", "train-labels-idx1-ubyte")?,
        test: set("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")?,
        source: dir.display().to_string(),
    })
}

/// Largest IDX file read, compressed or not: Fashion-MNIST's largest is 47 MB unpacked, so
/// this leaves ten times the room while a gzip bomb or a wrong path stops here.
pub const MAX_IDX_BYTES: u64 = 512 << 20;

fn gunzip(bytes: &[u8], name: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    GzDecoder::new(bytes)
        .take(MAX_IDX_BYTES + 1)
        .read_to_end(&mut out)
        .with_context(|| format!("{name}: not a valid gzip file (truncated download?)"))?;
    if out.len() as u64 > MAX_IDX_BYTES {
        anyhow::bail!("{name}: unpacks to more than {MAX_IDX_BYTES} bytes, far more than any IDX dataset this host trains on");
    }
    Ok(out)
}

fn be_u32(bytes: &[u8], at: usize, file: &str) -> Result<u32, IdxError> {
    bytes.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])).ok_or(IdxError::Truncated {
        file: file.to_string(),
        expected: at + 4,
        got: bytes.len(),
    })
}

/// Parses an IDX image file and its label file, checking magic numbers, sizes and counts.
pub fn parse_pair(images: &[u8], images_file: &str, labels: &[u8], labels_file: &str) -> Result<Dataset, IdxError> {
    let magic = be_u32(images, 0, images_file)?;
    if magic != IMAGES_MAGIC {
        return Err(IdxError::WrongMagic { file: images_file.into(), found: magic, expected: IMAGES_MAGIC, what: "images" });
    }
    let n = be_u32(images, 4, images_file)? as usize;
    let rows = be_u32(images, 8, images_file)? as usize;
    let cols = be_u32(images, 12, images_file)? as usize;
    let pixels = &images[16..];
    // The counts come from the file: multiply without overflow before trusting them.
    let need = n.checked_mul(rows).and_then(|v| v.checked_mul(cols)).unwrap_or(usize::MAX);
    if pixels.len() < need {
        return Err(IdxError::Truncated { file: images_file.into(), expected: need, got: pixels.len() });
    }
    let magic = be_u32(labels, 0, labels_file)?;
    if magic != LABELS_MAGIC {
        return Err(IdxError::WrongMagic { file: labels_file.into(), found: magic, expected: LABELS_MAGIC, what: "labels" });
    }
    let m = be_u32(labels, 4, labels_file)? as usize;
    let label_bytes = &labels[8..];
    if label_bytes.len() < m {
        return Err(IdxError::Truncated { file: labels_file.into(), expected: m, got: label_bytes.len() });
    }
    if m != n {
        return Err(IdxError::CountMismatch { images_file: images_file.into(), images: n, labels_file: labels_file.into(), labels: m });
    }
    if let Some((index, &label)) = label_bytes[..m].iter().enumerate().find(|(_, &l)| l >= 10) {
        return Err(IdxError::BadLabel { file: labels_file.into(), label, index });
    }
    Ok(Dataset { images: pixels[..need].to_vec(), labels: label_bytes[..m].to_vec(), rows, cols })
}

/// Writes a dataset as the two IDX files (used to build the embedded subset and in tests).
pub fn to_idx(set: &Dataset) -> (Vec<u8>, Vec<u8>) {
    let mut images = Vec::with_capacity(16 + set.images.len());
    for v in [IMAGES_MAGIC, set.len() as u32, set.rows as u32, set.cols as u32] {
        images.extend_from_slice(&v.to_be_bytes());
    }
    images.extend_from_slice(&set.images);
    let mut labels = Vec::with_capacity(8 + set.len());
    for v in [LABELS_MAGIC, set.len() as u32] {
        labels.extend_from_slice(&v.to_be_bytes());
    }
    labels.extend_from_slice(&set.labels);
    (images, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Dataset {
        Dataset { images: (0..12).collect(), labels: vec![3, 7, 9], rows: 2, cols: 2 }
    }

    #[test]
    fn round_trips_through_idx() {
        let (i, l) = to_idx(&tiny());
        let back = parse_pair(&i, "i", &l, "l").unwrap();
        assert_eq!(back.images, tiny().images);
        assert_eq!(back.labels, vec![3, 7, 9]);
    }

    #[test]
    fn wrong_magic_names_the_file() {
        let (i, l) = to_idx(&tiny());
        let e = parse_pair(&l, "labels-as-images", &i, "x").unwrap_err().to_string();
        assert!(e.contains("labels-as-images: magic number 0x00000801, expected 0x00000803"), "{e}");
    }

    #[test]
    fn truncated_file_is_detected() {
        let (i, l) = to_idx(&tiny());
        let e = parse_pair(&i[..20], "short", &l, "l").unwrap_err().to_string();
        assert!(e.contains("short: truncated"), "{e}");
        let e = parse_pair(&i[..6], "tiny", &l, "l").unwrap_err().to_string();
        assert!(e.contains("tiny: truncated"), "{e}");
    }

    #[test]
    fn mismatched_counts_are_an_error() {
        let (i, _) = to_idx(&tiny());
        let mut t = tiny();
        t.labels.pop();
        t.images.truncate(8);
        let (_, l) = to_idx(&t);
        let e = parse_pair(&i, "i", &l, "l").unwrap_err().to_string();
        assert!(e.contains("i holds 3 images but l holds 2 labels"), "{e}");
    }

    #[test]
    fn embedded_subset_is_stratified_fashion_mnist() {
        let d = embedded();
        assert_eq!((d.train.rows, d.train.cols), (28, 28));
        let mut counts = [0usize; 10];
        for &l in &d.train.labels {
            counts[l as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c == counts[0]), "{counts:?}");
        assert_eq!(d.test.len(), 1000);
    }
}
