//! `weights.safetensors`: the final weights of a run's plastic projections, which a network
//! file loads again as initial weights (`initial_weights = "..."`) to resume or freeze
//! learning. Per projection three tensors: `<name>` (F64, one weight per synapse in the order
//! of the synapse table), `<name>.sources` and `<name>.targets` (U32), so that a file written
//! for other synapses is refused.

use std::collections::HashMap;
use std::path::Path;

/// One projection's synapses and weights as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredWeights {
    /// One weight per synapse.
    pub weights: Vec<f64>,
    /// The source of each synapse.
    pub sources: Vec<u32>,
    /// The target of each synapse.
    pub targets: Vec<u32>,
}

/// The file's bytes for `projections` (name and stored synapses each).
///
/// # Errors
/// A tensor too large for the format.
pub fn to_bytes(projections: &[(&str, StoredWeights)]) -> Result<Vec<u8>, String> {
    let mut buffers: Vec<(String, safetensors::Dtype, Vec<u8>)> = Vec::new();
    for (name, s) in projections {
        let f64s = s.weights.iter().flat_map(|w| w.to_le_bytes()).collect();
        buffers.push((name.to_string(), safetensors::Dtype::F64, f64s));
        for (suffix, column) in [("sources", &s.sources), ("targets", &s.targets)] {
            let bytes = column.iter().flat_map(|x| x.to_le_bytes()).collect();
            buffers.push((format!("{name}.{suffix}"), safetensors::Dtype::U32, bytes));
        }
    }
    let mut views = Vec::new();
    for (name, dtype, bytes) in &buffers {
        let n = bytes.len() * 8 / dtype.bitsize();
        let view = safetensors::tensor::TensorView::new(*dtype, vec![n], bytes)
            .map_err(|e| format!("tensor `{name}`: {e}"))?;
        views.push((name.clone(), view));
    }
    let info = HashMap::from([("format".to_string(), "synops weights".to_string())]);
    safetensors::serialize(views, Some(info)).map_err(|e| e.to_string())
}

/// Projection `name`'s stored synapses in the file at `path`.
///
/// # Errors
/// The file cannot be read, is not safetensors, or lacks the projection's tensors (the
/// message names what is wrong).
pub fn read(path: &Path, name: &str) -> Result<StoredWeights, String> {
    let bytes =
        crate::files::read(path, crate::files::InputKind::Model).map_err(|e| e.to_string())?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| format!("not a safetensors file ({e})"))?;
    let tensor = |key: &str, dtype: safetensors::Dtype| {
        let view = st.tensor(key).map_err(|_| {
            let mut names = st.names();
            names.sort();
            format!("no tensor `{key}` (it has: {})", names.join(", "))
        })?;
        if view.dtype() != dtype || view.shape().len() != 1 {
            return Err(format!(
                "tensor `{key}` is {:?} of shape {:?}; expected {dtype:?}, one dimension",
                view.dtype(),
                view.shape()
            ));
        }
        Ok(view.data().to_vec())
    };
    let weights = tensor(name, safetensors::Dtype::F64)?
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    let column = |suffix: &str| -> Result<Vec<u32>, String> {
        let bytes = tensor(&format!("{name}.{suffix}"), safetensors::Dtype::U32)?;
        let to_u32 = |c: &[u8]| u32::from_le_bytes(c.try_into().expect("4 bytes"));
        Ok(bytes.chunks_exact(4).map(to_u32).collect())
    };
    Ok(StoredWeights {
        weights,
        sources: column("sources")?,
        targets: column("targets")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_come_back_bit_for_bit() {
        let stored = StoredWeights {
            weights: vec![0.1, 1.0 / 3.0, 0.0],
            sources: vec![0, 0, 2],
            targets: vec![1, 4, 0],
        };
        let bytes = to_bytes(&[("a->b", stored.clone())]).unwrap();
        let dir = std::env::temp_dir().join(format!("synops-weights-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.safetensors");
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(read(&path, "a->b").unwrap(), stored);
        let missing = read(&path, "c->d").unwrap_err();
        assert!(missing.contains("no tensor `c->d`"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
