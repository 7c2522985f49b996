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

/// An attribute of an ONNX node.
pub enum Attr<'a> {
    /// `INT`.
    Int(&'a str, i64),
    /// `INTS`.
    Ints(&'a str, Vec<i64>),
    /// `FLOAT`.
    Float(&'a str, f32),
    /// `STRING`.
    Str(&'a str, &'a str),
}

/// An ONNX model written field by field (opset-free: synops does not read the opset).
#[derive(Default)]
pub struct OnnxGraph {
    graph: Vec<u8>,
}

impl OnnxGraph {
    /// A node `op(inputs) -> output` named `name`.
    pub fn node(&mut self, name: &str, op: &str, inputs: &[&str], output: &str, attrs: &[Attr]) {
        let mut n = Vec::new();
        for i in inputs {
            bytes_field(1, i.as_bytes(), &mut n);
        }
        bytes_field(2, output.as_bytes(), &mut n);
        bytes_field(3, name.as_bytes(), &mut n);
        bytes_field(4, op.as_bytes(), &mut n);
        for a in attrs {
            let mut b = Vec::new();
            let (key, kind) = match a {
                Attr::Int(k, v) => {
                    varint(3 << 3, &mut b);
                    varint(*v as u64, &mut b);
                    (k, 2)
                }
                Attr::Ints(k, v) => {
                    for x in v {
                        varint(8 << 3, &mut b);
                        varint(*x as u64, &mut b);
                    }
                    (k, 7)
                }
                Attr::Float(k, v) => {
                    varint(2 << 3 | 5, &mut b);
                    b.extend(v.to_le_bytes());
                    (k, 1)
                }
                Attr::Str(k, v) => {
                    bytes_field(4, v.as_bytes(), &mut b);
                    (k, 3)
                }
            };
            bytes_field(1, key.as_bytes(), &mut b);
            varint(20 << 3, &mut b);
            varint(kind, &mut b);
            bytes_field(5, &b, &mut n);
        }
        bytes_field(1, &n, &mut self.graph);
    }

    /// A float initializer.
    pub fn tensor(&mut self, name: &str, dims: &[u64], values: &[f32]) {
        let mut t = Vec::new();
        for &d in dims {
            varint(1 << 3, &mut t);
            varint(d, &mut t);
        }
        varint(2 << 3, &mut t);
        varint(1, &mut t); // FLOAT
        bytes_field(8, name.as_bytes(), &mut t);
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        bytes_field(9, &raw, &mut t);
        bytes_field(5, &t, &mut self.graph);
    }

    /// An int64 initializer (a Reshape's target shape).
    pub fn int_tensor(&mut self, name: &str, values: &[i64]) {
        let mut t = Vec::new();
        varint(1 << 3, &mut t);
        varint(values.len() as u64, &mut t);
        varint(2 << 3, &mut t);
        varint(7, &mut t); // INT64
        bytes_field(8, name.as_bytes(), &mut t);
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        bytes_field(9, &raw, &mut t);
        bytes_field(5, &t, &mut self.graph);
    }

    /// The data input with its dimensions (batch first).
    pub fn input(&mut self, name: &str, dims: &[u64]) {
        let mut shape = Vec::new();
        for &d in dims {
            let mut dim = Vec::new();
            varint(1 << 3, &mut dim);
            varint(d, &mut dim);
            bytes_field(1, &dim, &mut shape);
        }
        let mut tensor_type = Vec::new();
        varint(1 << 3, &mut tensor_type);
        varint(1, &mut tensor_type);
        bytes_field(2, &shape, &mut tensor_type);
        let mut type_proto = Vec::new();
        bytes_field(1, &tensor_type, &mut type_proto);
        let mut value = Vec::new();
        bytes_field(1, name.as_bytes(), &mut value);
        bytes_field(2, &type_proto, &mut value);
        bytes_field(11, &value, &mut self.graph);
    }

    /// A data input from its encoded value info (for inputs without a type).
    pub fn raw_input(&mut self, value: &[u8]) {
        bytes_field(11, value, &mut self.graph);
    }

    /// A graph output.
    pub fn output(&mut self, name: &str) {
        let mut value = Vec::new();
        bytes_field(1, name.as_bytes(), &mut value);
        bytes_field(12, &value, &mut self.graph);
    }

    /// The model file's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut model = Vec::new();
        varint(1 << 3, &mut model);
        varint(8, &mut model);
        bytes_field(7, &self.graph, &mut model);
        model
    }
}

/// A network with subset drives, a current switched on and off, a run of delays, two models
/// and traces: the shapes of input that parts, threads and ranks must treat alike.
pub const MIXED_NETWORK: &str = r#"version = 1
name = "mixed"
[simulation]
dt_ms = 0.1
duration_ms = 300.0
seed = 8
[[population]]
name = "a"
size = 5000
model = "lif_exp"
tau_m_ms = 20.0
tau_syn_exc_ms = 5.0
tau_syn_inh_ms = 10.0
v_th_mv = 15.0
t_ref_ms = 2.0
bias_mv = 10.0
v_init_mv = { uniform = [0.0, 15.0] }
[[population]]
name = "b"
size = 3000
model = "lif_delta"
tau_m_ms = 10.0
v_th_mv = 10.0
[[projection]]
source = "a"
target = "b"
connectivity = { rule = "fixed_indegree", indegree = 50 }
weight_mv = { uniform = [0.5, 1.5] }
delay_ms = { uniform = [0.5, 2.0] }
[[projection]]
source = "b"
target = "a"
connectivity = { rule = "fixed_probability", p = 0.01 }
weight_mv = -2.0
delay_ms = 1.0
[[input]]
kind = "poisson"
target = "b"
rate_hz = 2000.0
weight_mv = 0.4
indices = [0, 5, 1500, 2999]
[[input]]
kind = "poisson"
target = "a"
rate_hz = 300.0
weight_mv = 1.0
[[input]]
kind = "current"
target = "a"
amplitude_mv = 3.0
start_ms = 100.0
stop_ms = 200.0
indices = [0, 1, 2, 4000]
[[record.spikes]]
population = "a"
[[record.spikes]]
population = "b"
[[record.traces]]
population = "a"
indices = [0, 4000]
every_steps = 5
"#;
