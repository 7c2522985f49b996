//! MNIST (and Fashion-MNIST, which has the same files) in its original IDX format.
//!
//! Images are scaled to `[0, 1]` (pixel / 255), as PyTorch's `ToTensor` does, and flattened
//! row-major: one sample has shape `[1, rows, cols]` (one channel).

use super::{Dataset, Split};
use crate::error::{Error, Result};
use crate::files::{self, InputKind};
use std::path::{Path, PathBuf};

fn read_maybe_gz(dir: &Path, stem: &str) -> Result<(PathBuf, Vec<u8>)> {
    for (name, gz) in [(format!("{stem}.gz"), true), (stem.to_string(), false)] {
        let path = dir.join(&name);
        if !path.exists() {
            continue;
        }
        let raw = files::read(&path, InputKind::Dataset)?;
        if !gz {
            return Ok((path, raw));
        }
        // Decompressed within the same limit (a small file can decompress to any size).
        let out = files::read_at_most(
            flate2::read::GzDecoder::new(&raw[..]),
            &path,
            InputKind::Dataset,
        )
        .map_err(|e| match e {
            Error::Io { cause, .. } => Error::io(&path, "cannot decompress", cause),
            other => other,
        })?;
        return Ok((path, out));
    }
    Err(Error::io(
        dir.join(format!("{stem}.gz")),
        "cannot read (nor the uncompressed file)",
        std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
    ))
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn bad(path: &Path, message: String) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        message,
    }
}

/// Read an MNIST split from `dir` (IDX files, gzipped or not). Ten classes.
pub fn load(dir: &Path, split: Split) -> Result<Dataset> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let (ipath, images) = read_maybe_gz(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let (lpath, labels) = read_maybe_gz(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    if images.len() < 16 || be_u32(&images, 0) != 2051 {
        return Err(bad(
            &ipath,
            "not an IDX image file (magic number 2051 expected)".into(),
        ));
    }
    if labels.len() < 8 || be_u32(&labels, 0) != 2049 {
        return Err(bad(
            &lpath,
            "not an IDX label file (magic number 2049 expected)".into(),
        ));
    }
    let (n, rows, cols) = (
        be_u32(&images, 4) as usize,
        be_u32(&images, 8) as usize,
        be_u32(&images, 12) as usize,
    );
    let pixels = rows * cols;
    if n.checked_mul(pixels).and_then(|b| b.checked_add(16)) != Some(images.len()) {
        return Err(bad(
            &ipath,
            format!(
                "header says {n} images of {rows}x{cols} but the file holds {} bytes of pixels",
                images.len() - 16
            ),
        ));
    }
    let nl = be_u32(&labels, 4) as usize;
    if nl != n || labels.len() != 8 + n {
        return Err(bad(
            &lpath,
            format!("{nl} labels for {n} images, or truncated file"),
        ));
    }
    if let Some(&l) = labels[8..].iter().find(|&&l| l > 9) {
        return Err(bad(&lpath, format!("label {l} is not a digit")));
    }
    Ok(Dataset::new(
        images[16..].iter().map(|&p| f32::from(p) / 255.0).collect(),
        labels[8..].iter().map(|&l| u32::from(l)).collect(),
        vec![1, rows, cols],
        10,
    ))
}
