//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use synops::network::{CompileOptions, CompiledNetwork, compile, parse_spec};
use synops::{Engine, Simulation};

/// Compile network text as if it were a file at `path`.
pub fn compile_text(text: &str, path: &Path) -> synops::Result<CompiledNetwork> {
    compile(&parse_spec(text, path)?, path, &CompileOptions::default())
}

/// Compile network text that must be valid.
pub fn net(text: &str) -> CompiledNetwork {
    compile_text(text, Path::new("test.toml")).unwrap_or_else(|e| panic!("{e}"))
}

/// Run a network and return its recorded spikes `(step, population, index)` and the simulation
/// counts.
pub fn run(net: &CompiledNetwork, engine: Engine) -> (Vec<(u32, u32, u32)>, synops::sim::Counts) {
    let mut sim = Simulation::new(net, engine);
    sim.run(|_| {}).unwrap();
    (sim.recorded.spikes.clone(), sim.counts.clone())
}

/// The shipped networks folder.
pub fn networks() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("networks")
}

/// Write tensors `(name, shape, values)` as a float32 safetensors file.
pub fn write_safetensors(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, d)| {
            (
                n.to_string(),
                s.clone(),
                d.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .unwrap(),
            )
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

/// Protobuf, enough to write an ONNX graph by hand: a varint.
pub fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Protobuf: a length-delimited field `num`.
pub fn bytes_field(num: u64, bytes: &[u8], out: &mut Vec<u8>) {
    varint(num << 3 | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// An `.npy` array (format 1.0) of `dtype` (e.g. `<f4`) with the given little-endian bytes.
pub fn npy(dtype: &str, shape: &[usize], bytes: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(bytes);
    out
}

/// An `.npy` array of float32 values.
pub fn npy_f32(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy("<f4", shape, &bytes)
}

/// An `.npy` array of int64 values.
pub fn npy_i64(shape: &[usize], values: &[i64]) -> Vec<u8> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy("<i8", shape, &bytes)
}

/// A NumPy `.npz` archive of named `.npy` arrays (as `np.savez` writes it).
pub fn npz(arrays: &[(String, Vec<u8>)]) -> Vec<u8> {
    use std::io::Write;
    let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in arrays {
        archive
            .start_file(
                format!("{name}.npy"),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
        archive.write_all(bytes).unwrap();
    }
    archive.finish().unwrap().into_inner()
}
