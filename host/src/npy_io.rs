//! Reading and writing float32 `.npy` arrays for `byzhost call`, with errors that name the
//! file, the flag it came from, and the shape or dtype that was expected.

use std::io::BufWriter;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use npyz::WriterBuilder;

/// A float32 array read from a `.npy` file, row-major.
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Largest `.npy` file read: far above what a call needs (the honest models of n = 1000
/// nodes are 0.3 GB), and below what would exhaust a workstation's memory.
pub const MAX_NPY_BYTES: u64 = 8 << 30;

/// Reads `path` (given with `flag`) as a float32 array of `ndim` dimensions. The shape in the
/// header is checked against the file's size with checked arithmetic before anything is
/// allocated for it, so a header cannot make the reader allocate more than the file holds.
pub fn read_f32(path: &Path, flag: &str, ndim: usize) -> Result<Array> {
    let bytes = byzhost_train::files::read_regular(path, MAX_NPY_BYTES, flag, "")?;
    let mut body: &[u8] = &bytes;
    let header = npyz::NpyHeader::from_reader(&mut body).with_context(|| format!("{flag}: {} is not a valid .npy file", path.display()))?;
    let npy = npyz::NpyFile::with_header(header, body);
    let shape: Vec<usize> = npy.shape().iter().map(|&d| usize::try_from(d).unwrap_or(usize::MAX)).collect();
    if shape.len() != ndim {
        bail!("{flag}: {} has shape {shape:?}, but a {ndim}-dimensional float32 array is expected", path.display());
    }
    if npy.order() != npyz::Order::C {
        bail!("{flag}: {} is Fortran-ordered; save it C-ordered (numpy's default)", path.display());
    }
    let dtype = npy.dtype();
    let is_f32 = matches!(&dtype, npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 4);
    if !is_f32 {
        bail!("{flag}: {} has dtype {}, but float32 is expected (use arr.astype(np.float32))", path.display(), dtype.descr());
    }
    let data_bytes = body.len();
    let declared = shape.iter().try_fold(4usize, |acc, &d| acc.checked_mul(d));
    if declared != Some(data_bytes) {
        let declared = declared.map_or("more than fit in memory".to_string(), |b| format!("{b}"));
        bail!(
            "{flag}: {} declares shape {shape:?} ({declared} bytes of float32) but holds {data_bytes} bytes of data; \
             the file is truncated or its header is corrupt",
            path.display()
        );
    }
    let data = npy.into_vec::<f32>().with_context(|| format!("{flag}: {} is truncated or corrupt", path.display()))?;
    Ok(Array { shape, data })
}

/// Writes `data` with `shape` as a float32 `.npy` file.
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("--out: cannot create {}", path.display()))?;
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(BufWriter::new(file))
        .begin_nd()
        .with_context(|| format!("--out: writing {}", path.display()))?;
    writer.extend(data.iter().copied())?;
    writer.finish().with_context(|| format!("--out: writing {}", path.display()))?;
    Ok(())
}
