//! Data sets in a NumPy archive (`np.savez(file, x=samples, y=labels)`): samples `[N, ...]`
//! as floats already in the ANN's input scaling, labels `[N]` as non-negative integers.

use super::Dataset;
use crate::convert::tensors::{NpyValues, parse_npy_array, read_npz_arrays};
use crate::error::{Error, Result};
use crate::files::InputKind;
use std::path::Path;

/// Read samples `x` and labels `y` from the archive `file`.
pub fn load(file: &Path, x: &str, y: &str) -> Result<Dataset> {
    let fail = |m: String| Error::Data {
        path: file.to_path_buf(),
        message: m,
    };
    let mut arrays = read_npz_arrays(file, InputKind::Dataset)?;
    let names = arrays.keys().cloned().collect::<Vec<_>>().join(", ");
    let mut take = |name: &str, what: &str| {
        let bytes = arrays.remove(name).ok_or_else(|| {
            fail(format!(
                "no array `{name}` ({what}); the archive holds: {names} (choose with npz:FILE,x=NAME,y=NAME)"
            ))
        })?;
        parse_npy_array(&bytes, file, name)
    };
    let samples = take(x, "the samples")?;
    let labels = take(y, "the labels")?;
    let NpyValues::Float(images) = samples.values else {
        return Err(fail(format!(
            "array `{x}` (the samples) holds integers; give them as float32, scaled as the model's input (e.g. pixels / 255)"
        )));
    };
    let NpyValues::Integer(raw_labels) = labels.values else {
        return Err(fail(format!(
            "array `{y}` (the labels) holds floats; give the class indices as integers"
        )));
    };
    let n = samples.shape.first().copied().unwrap_or(0);
    if samples.shape.len() < 2 {
        return Err(fail(format!(
            "array `{x}` has shape {:?}; samples must be [N, ...] (one row per sample)",
            samples.shape
        )));
    }
    if labels.shape != [n] {
        return Err(fail(format!(
            "array `{y}` has shape {:?}; {n} samples need labels of shape [{n}]",
            labels.shape
        )));
    }
    if let Some(i) = images.iter().position(|v| !v.is_finite()) {
        let per = images.len() / n.max(1);
        return Err(fail(format!(
            "array `{x}`: sample {} has a non-finite value ({})",
            i / per.max(1),
            images[i]
        )));
    }
    const MAX_CLASSES: i64 = 1 << 24;
    if let Some(i) = raw_labels
        .iter()
        .position(|&l| !(0..MAX_CLASSES).contains(&l))
    {
        return Err(fail(format!(
            "array `{y}`: label {} of sample {i} is not a class index (0 to {})",
            raw_labels[i],
            MAX_CLASSES - 1
        )));
    }
    let labels: Vec<u32> = raw_labels.iter().map(|&l| l as u32).collect();
    Ok(Dataset::new(images, labels, samples.shape[1..].to_vec(), 0))
}
