//! Data sets for calibrating and evaluating converted networks: MNIST's IDX files
//! (`mnist:DIR`) or any data in a NumPy archive (`npz:FILE`).
//!
//! A data set is a list of samples of one shape (`[channels, rows, cols]`, or `[features]`),
//! flattened row-major, with one integer label each, and the number of classes it has.

pub mod mnist;
pub mod npz;
pub mod spikes;

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Samples and labels.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Flattened samples, `len * pixels` values.
    pub images: Vec<f32>,
    /// One label per sample, each below `classes`.
    pub labels: Vec<u32>,
    /// Values per sample.
    pub pixels: usize,
    /// The shape of one sample (its product is `pixels`).
    pub shape: Vec<usize>,
    /// Classes of the data set (largest label + 1 over the whole file, or the format's own
    /// number): what a model's number of outputs must be.
    pub classes: usize,
}

impl Dataset {
    /// Samples of `shape` with their labels. `classes` at least the largest label + 1.
    pub fn new(images: Vec<f32>, labels: Vec<u32>, shape: Vec<usize>, classes: usize) -> Self {
        let pixels = shape.iter().product();
        let largest = labels.iter().max().map_or(0, |&l| l as usize + 1);
        Dataset {
            images,
            labels,
            pixels,
            shape,
            classes: classes.max(largest),
        }
    }
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
    /// The first `n` samples (all if fewer); the number of classes stays the file's.
    pub fn truncate(mut self, n: usize) -> Self {
        let n = n.min(self.len());
        self.labels.truncate(n);
        self.images.truncate(n * self.pixels);
        self
    }
    /// Without the first `n` samples (none left if fewer); the number of classes stays the
    /// file's.
    pub fn skip(mut self, n: usize) -> Self {
        let n = n.min(self.len());
        self.labels.drain(..n);
        self.images.drain(..n * self.pixels);
        self
    }
}

/// Which part of a data set that has a training and a test part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The training part (MNIST: 60,000 images, `train-*`): for calibration.
    Train,
    /// The test part (MNIST: 10,000 images, `t10k-*`): for evaluation.
    Test,
}

/// Where a data set is, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    /// `mnist:DIR`: a folder with MNIST's IDX files (gzipped or not).
    Mnist(PathBuf),
    /// `npz:FILE[,x=NAME][,y=NAME]`: a NumPy archive with samples `x` (float, `[N, ...]`,
    /// already scaled as the ANN's input) and integer labels `y` (`[N]`). It is used whole,
    /// for calibration and evaluation alike.
    Npz {
        /// The archive.
        file: PathBuf,
        /// The samples' array (default `x`).
        x: String,
        /// The labels' array (default `y`).
        y: String,
    },
}

/// What a data argument looks like, for error messages.
const DATA_FORMS: &str = "mnist:DIR (a folder with the MNIST IDX files) or npz:FILE[,x=NAME][,y=NAME] (a NumPy archive with samples x [N, ...] and integer labels y [N])";

impl DataSource {
    /// Parse `mnist:DIR` or `npz:FILE[,x=NAME][,y=NAME]`.
    pub fn parse(arg: &str) -> Result<Self> {
        let fail = |m: String| Error::Data {
            path: PathBuf::from(arg),
            message: m,
        };
        match arg.split_once(':') {
            Some(("mnist", dir)) if !dir.is_empty() => Ok(DataSource::Mnist(PathBuf::from(dir))),
            Some(("npz", rest)) if !rest.is_empty() => {
                let mut parts: Vec<&str> = rest.split(',').collect();
                let (mut x, mut y) = ("x".to_string(), "y".to_string());
                // Array names are the trailing `x=`/`y=` parts; the rest is the file name.
                while let Some((key, value)) = parts.last().and_then(|p| p.split_once('=')) {
                    match key {
                        "x" => x = value.to_string(),
                        "y" => y = value.to_string(),
                        other => {
                            return Err(fail(format!(
                                "unknown npz option `{other}=`: the options are x=ARRAY and y=ARRAY"
                            )));
                        }
                    }
                    if value.is_empty() {
                        return Err(fail(format!("npz option `{key}=` needs an array name")));
                    }
                    parts.pop();
                }
                let file = parts.join(",");
                if file.is_empty() {
                    return Err(fail(format!(
                        "no file name; data must be given as {DATA_FORMS}"
                    )));
                }
                Ok(DataSource::Npz {
                    file: PathBuf::from(file),
                    x,
                    y,
                })
            }
            _ => Err(fail(format!("data must be given as {DATA_FORMS}"))),
        }
    }

    /// Read the data set (`split` chooses MNIST's part; an npz archive is read whole).
    pub fn load(&self, split: Split) -> Result<Dataset> {
        match self {
            DataSource::Mnist(dir) => mnist::load(dir, split),
            DataSource::Npz { file, x, y } => npz::load(file, x, y),
        }
    }

    /// The file or folder, for messages.
    pub fn path(&self) -> &Path {
        match self {
            DataSource::Mnist(dir) => dir,
            DataSource::Npz { file, .. } => file,
        }
    }
}

/// Check that samples of `shape` fit a model taking `input` (its input shape without the batch
/// dimension, or just its number of inputs): the same number of values, and where both give
/// several dimensions, the same ones once dimensions of size 1 are dropped (so
/// `[784]`, `[28, 28]` and `[1, 28, 28]` all fit a `[1, 28, 28]` model, `[3, 32, 32]` does not).
pub fn check_shape(data: &Dataset, input: &[usize], model: &Path) -> Result<()> {
    let squeeze = |s: &[usize]| -> Vec<usize> { s.iter().copied().filter(|&d| d != 1).collect() };
    let count: usize = input.iter().product();
    let (a, b) = (squeeze(&data.shape), squeeze(input));
    let fits = data.pixels == count && (a.len() < 2 || b.len() < 2 || a == b);
    if fits {
        return Ok(());
    }
    Err(Error::Data {
        path: model.to_path_buf(),
        message: format!(
            "the model takes inputs of shape {input:?} ({count} values) but the samples have shape {:?} ({} values)",
            data.shape, data.pixels
        ),
    })
}

/// Refuse a model whose number of outputs is not the data set's number of classes.
pub fn check_classes(data: &Dataset, outputs: usize, model: &Path) -> Result<()> {
    if outputs == data.classes {
        return Ok(());
    }
    Err(Error::Data {
        path: model.to_path_buf(),
        message: format!(
            "the model has {outputs} outputs but the data has {} classes (labels 0 to {}): a model for this data set is needed",
            data.classes,
            data.classes.saturating_sub(1)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_arguments_parse() {
        assert_eq!(
            DataSource::parse("mnist:d").unwrap(),
            DataSource::Mnist("d".into())
        );
        let npz = |f: &str, x: &str, y: &str| DataSource::Npz {
            file: f.into(),
            x: x.into(),
            y: y.into(),
        };
        assert_eq!(
            DataSource::parse("npz:a.npz").unwrap(),
            npz("a.npz", "x", "y")
        );
        assert_eq!(
            DataSource::parse("npz:a,b.npz,y=labels,x=images").unwrap(),
            npz("a,b.npz", "images", "labels")
        );
        for bad in [
            "npz:",
            "npz:f.npz,z=1",
            "npz:f.npz,x=",
            "cifar:d",
            "mnist:",
            "f.npz",
        ] {
            assert!(DataSource::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shapes_fit_when_their_dimensions_agree() {
        let d = |shape: Vec<usize>| Dataset::new(vec![], vec![], shape, 10);
        let m = Path::new("m");
        assert!(check_shape(&d(vec![784]), &[1, 28, 28], m).is_ok());
        assert!(check_shape(&d(vec![1, 28, 28]), &[784], m).is_ok());
        assert!(check_shape(&d(vec![28, 28]), &[1, 28, 28], m).is_ok());
        let e = check_shape(&d(vec![3, 32, 32]), &[1, 28, 28], m).unwrap_err();
        assert!(
            e.to_string().contains("shape [3, 32, 32] (3072 values)"),
            "{e}"
        );
        assert!(check_shape(&d(vec![28, 28]), &[4, 196], m).is_err());
        assert!(check_classes(&d(vec![1]), 10, m).is_ok());
        assert!(check_classes(&d(vec![1]), 9, m).is_err());
    }
}
