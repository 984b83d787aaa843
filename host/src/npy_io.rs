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

/// Reads `path` (given with `flag`) as a float32 array of `ndim` dimensions.
pub fn read_f32(path: &Path, flag: &str, ndim: usize) -> Result<Array> {
    let bytes = std::fs::read(path).with_context(|| format!("{flag}: cannot read {}", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..]).with_context(|| format!("{flag}: {} is not a valid .npy file", path.display()))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
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
