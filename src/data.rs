//! Data sets for evaluating converted networks: MNIST in its original IDX format.
//!
//! Images are scaled to `[0, 1]` (pixel / 255), as PyTorch's `ToTensor` does, and flattened
//! row-major (784 values).

use crate::error::{Error, Result};
use crate::files::{self, InputKind};
use std::path::{Path, PathBuf};

/// Images and labels.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Flattened images, `len * pixels` values in `[0, 1]`.
    pub images: Vec<f32>,
    /// One label per image.
    pub labels: Vec<u8>,
    /// Values per image.
    pub pixels: usize,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Sample `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        &self.images[i * self.pixels..(i + 1) * self.pixels]
    }
    /// The first `n` samples (all if fewer).
    pub fn truncate(mut self, n: usize) -> Self {
        let n = n.min(self.len());
        self.labels.truncate(n);
        self.images.truncate(n * self.pixels);
        self
    }
}

/// Which MNIST split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// 60,000 training images (`train-*`).
    Train,
    /// 10,000 test images (`t10k-*`).
    Test,
}

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

/// Read an MNIST split from `dir` (IDX files, gzipped or not).
pub fn load_mnist(dir: &Path, split: Split) -> Result<Dataset> {
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
    if images.len() != 16 + n * pixels {
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
    Ok(Dataset {
        images: images[16..].iter().map(|&p| f32::from(p) / 255.0).collect(),
        labels: labels[8..].to_vec(),
        pixels,
    })
}

/// Parse a data argument `mnist:DIR`.
pub fn parse_data_arg(arg: &str) -> Result<PathBuf> {
    match arg.split_once(':') {
        Some(("mnist", dir)) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => Err(Error::Data {
            path: PathBuf::from(arg),
            message: "data must be given as mnist:DIR (a folder with the MNIST IDX files)".into(),
        }),
    }
}
