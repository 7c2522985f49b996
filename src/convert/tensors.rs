//! Named tensors from the files users export: safetensors (`state_dict`), NumPy `.npz`, and
//! the initializers of an ONNX graph (see [`super::onnx`]). Everything is converted to `f32`.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// A dense tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Values in row-major order.
    pub data: Vec<f32>,
}

/// Tensors by name (sorted, so iteration order does not depend on the file).
pub type Tensors = BTreeMap<String, Tensor>;

fn bad(path: &Path, message: impl Into<String>) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// What a safetensors reading error means, in the words of a user holding the file.
fn safetensors_message(e: &safetensors::SafeTensorError, file_bytes: usize) -> String {
    use safetensors::SafeTensorError as E;
    let what = match e {
        E::HeaderTooSmall | E::InvalidHeaderLength | E::MetadataIncompleteBuffer => format!(
            "the file is truncated or damaged: its header announces more data than its {file_bytes} bytes hold"
        ),
        E::HeaderTooLarge => {
            "its first 8 bytes announce a header of over 100 MB (is it another format?)".into()
        }
        E::InvalidHeader(_) | E::InvalidHeaderDeserialization(_) => {
            "it does not start with a safetensors header (is it another format?)".into()
        }
        other => other.to_string(),
    };
    format!("not a valid safetensors file: {what}")
}

/// Read every tensor of a safetensors file.
pub fn read_safetensors(path: &Path) -> Result<Tensors> {
    let bytes = crate::files::read(path, crate::files::InputKind::Model)?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(path, safetensors_message(&e, bytes.len())))?;
    let mut out = Tensors::new();
    for (name, view) in st.tensors() {
        let raw = view.data();
        let data: Vec<f32> = match view.dtype() {
            safetensors::Dtype::F32 => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            safetensors::Dtype::F64 => raw
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                .collect(),
            other => {
                return Err(bad(
                    path,
                    format!("tensor `{name}` has dtype {other:?}; synops reads F32 and F64"),
                ));
            }
        };
        out.insert(
            name,
            Tensor {
                shape: view.shape().to_vec(),
                data,
            },
        );
    }
    Ok(out)
}

/// Parse one `.npy` array (format versions 1 to 3, little-endian `f4`/`f8`, C or Fortran order).
pub fn parse_npy(bytes: &[u8], path: &Path, name: &str) -> Result<Tensor> {
    let fail = |m: String| bad(path, format!("array `{name}`: {m}"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(fail("not a .npy array (bad magic)".into()));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(fail(format!("unsupported .npy version {v}"))),
    };
    let header = bytes
        .get(start..start + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| fail("truncated header".into()))?;
    let field = |key: &str| -> Option<&str> {
        let i = header.find(&format!("'{key}'"))?;
        Some(header[i + key.len() + 2..].trim_start_matches([':', ' ']))
    };
    let descr = field("descr").ok_or_else(|| fail("header has no 'descr'".into()))?;
    let size = if descr.starts_with("'<f4'") {
        4
    } else if descr.starts_with("'<f8'") {
        8
    } else {
        return Err(fail(format!(
            "dtype {} is not supported (little-endian float32 or float64)",
            descr.split(',').next().unwrap_or(descr)
        )));
    };
    let fortran = field("fortran_order").is_some_and(|f| f.starts_with("True"));
    let shape_text = field("shape").ok_or_else(|| fail("header has no 'shape'".into()))?;
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| fail("malformed 'shape'".into()))?;
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| fail(format!("malformed shape entry `{s}`")))
        })
        .collect::<Result<_>>()?;
    let count: usize = shape.iter().product();
    let body = &bytes[start + header_len..];
    if body.len() != count * size {
        return Err(fail(format!(
            "shape {shape:?} needs {} bytes of data, the file holds {} (truncated?)",
            count * size,
            body.len()
        )));
    }
    let mut data: Vec<f32> = if size == 4 {
        body.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    } else {
        body.chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect()
    };
    if fortran && shape.len() == 2 {
        let (r, c) = (shape[0], shape[1]);
        let mut t = vec![0.0; data.len()];
        for i in 0..r {
            for j in 0..c {
                t[i * c + j] = data[j * r + i];
            }
        }
        data = t;
    } else if fortran && shape.len() > 2 {
        return Err(fail(
            "Fortran-ordered arrays of more than 2 dimensions are not supported".into(),
        ));
    }
    Ok(Tensor { shape, data })
}

/// Read every array of a NumPy `.npz` archive (`np.savez` or `np.savez_compressed`).
pub fn read_npz(path: &Path) -> Result<Tensors> {
    let (file, _) = crate::files::open(path, crate::files::InputKind::Model)?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| bad(path, format!("not a valid .npz (zip) archive: {e}")))?;
    let mut out = Tensors::new();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| bad(path, format!("entry {i}: {e}")))?;
        let name = entry
            .name()
            .map_err(|e| bad(path, format!("entry {i}: {e}")))?
            .trim_end_matches(".npy")
            .to_string();
        // (Not sized from the archive's header, which a damaged file can make huge.)
        let bytes = crate::files::read_at_most(&mut entry, path, crate::files::InputKind::Model)
            .map_err(|e| match e {
                Error::Io { cause, .. } => bad(path, format!("array `{name}`: {cause}")),
                other => other,
            })?;
        out.insert(name.clone(), parse_npy(&bytes, path, &name)?);
    }
    Ok(out)
}
