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
            // Integer tensors (a quantized layer's weights) hold whole numbers that f32 keeps
            // exactly up to 2^24.
            safetensors::Dtype::I8 => raw.iter().map(|&b| f32::from(b as i8)).collect(),
            safetensors::Dtype::I16 => raw
                .chunks_exact(2)
                .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])))
                .collect(),
            safetensors::Dtype::I32 => {
                let values: Vec<i32> = raw
                    .chunks_exact(4)
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                if let Some(v) = values.iter().find(|v| v.unsigned_abs() > 1 << 24) {
                    return Err(bad(
                        path,
                        format!(
                            "tensor `{name}` (I32) holds {v}, beyond ±2^24, the whole numbers synops keeps exactly"
                        ),
                    ));
                }
                values.iter().map(|&v| v as f32).collect()
            }
            other => {
                return Err(bad(
                    path,
                    format!(
                        "tensor `{name}` has dtype {other:?}; synops reads F32, F64, I8, I16 and I32"
                    ),
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

/// The values of a `.npy` array, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyValues {
    /// `f4` or `f8` (converted to `f32`).
    Float(Vec<f32>),
    /// Signed or unsigned integers of 1 to 8 bytes, or booleans.
    Integer(Vec<i64>),
}

/// One `.npy` array of any of the dtypes synops reads.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Values in row-major (C) order.
    pub values: NpyValues,
}

/// An element type of a `.npy` header: float or integer, its size, whether it is signed.
#[derive(Debug, Clone, Copy)]
struct Dtype {
    float: bool,
    signed: bool,
    size: usize,
}

/// The dtype of a `descr` such as `'<f4'`, `'|u1'` or `'<i8'` (little-endian or one byte).
fn dtype(descr: &str) -> Option<Dtype> {
    let code = descr.strip_prefix('\'')?.split('\'').next()?;
    let (order, kind) = (code.get(..1)?, code.get(1..2)?);
    let size: usize = code.get(2..)?.parse().ok()?;
    let little = order == "<"
        || (order == "|" && size == 1)
        || (order == "=" && cfg!(target_endian = "little"));
    let d = match kind {
        "f" if size == 4 || size == 8 => Dtype {
            float: true,
            signed: true,
            size,
        },
        "i" if [1, 2, 4, 8].contains(&size) => Dtype {
            float: false,
            signed: true,
            size,
        },
        "u" | "b" if [1, 2, 4, 8].contains(&size) => Dtype {
            float: false,
            signed: false,
            size,
        },
        _ => return None,
    };
    little.then_some(d)
}

/// One element of `d` from its little-endian bytes.
fn element(bytes: &[u8], d: Dtype) -> (f32, i64) {
    let mut b = [0u8; 8];
    b[..d.size].copy_from_slice(bytes);
    if d.float {
        let x = if d.size == 4 {
            f32::from_le_bytes([b[0], b[1], b[2], b[3]])
        } else {
            f64::from_le_bytes(b) as f32
        };
        return (x, 0);
    }
    let raw = u64::from_le_bytes(b);
    let bits = 8 * d.size as u32;
    let value = if d.signed && bits < 64 {
        // Sign extension from the element's width.
        ((raw << (64 - bits)) as i64) >> (64 - bits)
    } else {
        raw as i64
    };
    (0.0, value)
}

/// Parse one `.npy` array (format versions 1 to 3; little-endian floats of 4 or 8 bytes,
/// integers of 1 to 8 bytes, booleans; C order, or Fortran order for 2 dimensions).
pub fn parse_npy_array(bytes: &[u8], path: &Path, name: &str) -> Result<NpyArray> {
    let fail = |m: String| bad(path, format!("array `{name}`: {m}"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(fail("not a .npy array (bad magic)".into()));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(fail(format!("unsupported .npy version {v}"))),
    };
    let header = bytes
        .get(start..start.saturating_add(header_len))
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| fail("truncated header".into()))?;
    let field = |key: &str| -> Option<&str> {
        let i = header.find(&format!("'{key}'"))?;
        Some(header[i + key.len() + 2..].trim_start_matches([':', ' ']))
    };
    let descr = field("descr").ok_or_else(|| fail("header has no 'descr'".into()))?;
    let d = dtype(descr).ok_or_else(|| {
        fail(format!(
            "dtype {} is not supported (little-endian floats, integers or booleans)",
            descr.split(',').next().unwrap_or(descr)
        ))
    })?;
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
    let body = &bytes[start + header_len..];
    let count = shape.iter().try_fold(1usize, |n, &k| n.checked_mul(k));
    let needed = count.and_then(|c| c.checked_mul(d.size));
    if needed != Some(body.len()) {
        return Err(fail(format!(
            "shape {shape:?} of {}-byte values does not match the {} bytes of data the file holds (truncated?)",
            d.size,
            body.len()
        )));
    }
    let elements = body.chunks_exact(d.size).map(|c| element(c, d));
    let mut values = if d.float {
        NpyValues::Float(elements.map(|e| e.0).collect())
    } else {
        NpyValues::Integer(elements.map(|e| e.1).collect())
    };
    if fortran && shape.len() == 2 {
        let (r, c) = (shape[0], shape[1]);
        fn transpose<T: Copy>(v: &mut Vec<T>, r: usize, c: usize) {
            *v = (0..r * c).map(|k| v[(k % c) * r + k / c]).collect();
        }
        match &mut values {
            NpyValues::Float(v) => transpose(v, r, c),
            NpyValues::Integer(v) => transpose(v, r, c),
        }
    } else if fortran && shape.len() > 2 {
        return Err(fail(
            "Fortran-ordered arrays of more than 2 dimensions are not supported".into(),
        ));
    }
    Ok(NpyArray { shape, values })
}

/// Parse one `.npy` array of floats (a model's weights).
pub fn parse_npy(bytes: &[u8], path: &Path, name: &str) -> Result<Tensor> {
    let array = parse_npy_array(bytes, path, name)?;
    match array.values {
        NpyValues::Float(data) => Ok(Tensor {
            shape: array.shape,
            data,
        }),
        NpyValues::Integer(_) => Err(bad(
            path,
            format!("array `{name}`: holds integers; weights must be float32 or float64"),
        )),
    }
}

/// Every array of a NumPy `.npz` archive, raw, by name; `kind` sets the size limit.
pub fn read_npz_arrays(
    path: &Path,
    kind: crate::files::InputKind,
) -> Result<BTreeMap<String, Vec<u8>>> {
    let (file, _) = crate::files::open(path, kind)?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| bad(path, format!("not a valid .npz (zip) archive: {e}")))?;
    let mut out = BTreeMap::new();
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
        let bytes = crate::files::read_at_most(&mut entry, path, kind).map_err(|e| match e {
            Error::Io { cause, .. } => bad(path, format!("array `{name}`: {cause}")),
            other => other,
        })?;
        out.insert(name, bytes);
    }
    Ok(out)
}

/// Read every array of a NumPy `.npz` archive (`np.savez` or `np.savez_compressed`).
pub fn read_npz(path: &Path) -> Result<Tensors> {
    let mut out = Tensors::new();
    for (name, bytes) in read_npz_arrays(path, crate::files::InputKind::Model)? {
        let tensor = parse_npy(&bytes, path, &name)?;
        out.insert(name, tensor);
    }
    Ok(out)
}
