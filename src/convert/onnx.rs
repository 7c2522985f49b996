//! Dense layers from an ONNX graph exported by `torch.onnx.export` (TorchScript or dynamo
//! exporter), parsed in pure Rust: a minimal protobuf wire-format reader for the few messages
//! involved (ModelProto.graph, GraphProto nodes and initializers, NodeProto, AttributeProto,
//! TensorProto). No code generation, no `protoc`.
//!
//! Supported operators: Gemm, MatMul followed by Add, Relu, Flatten, Reshape, Identity, Dropout
//! and Constant. Anything else is refused with the operator and node named.

use super::ann::DenseLayer;
use super::tensors::{Tensor, Tensors};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::Path;

enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    /// The next field, `None` at the end, `Some(Err)` on malformed input.
    fn field(&mut self) -> Option<std::result::Result<(u64, Value<'a>), ()>> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let parsed = (|| {
            let key = self.varint()?;
            let value = match key & 7 {
                0 => Value::Varint(self.varint()?),
                1 => Value::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().ok()?)),
                2 => {
                    let n = usize::try_from(self.varint()?).ok()?;
                    Value::Bytes(self.take(n)?)
                }
                5 => Value::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().ok()?)),
                _ => return None,
            };
            Some((key >> 3, value))
        })();
        Some(parsed.ok_or(()))
    }
}

/// Iterate the fields of a message, failing on malformed bytes.
fn fields<'a>(buf: &'a [u8], what: &str, path: &Path) -> Result<Vec<(u64, Value<'a>)>> {
    let mut r = Reader::new(buf);
    let mut out = Vec::new();
    while let Some(f) = r.field() {
        out.push(f.map_err(|()| malformed(path, what))?);
    }
    Ok(out)
}

fn malformed(path: &Path, what: &str) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        message: format!("malformed ONNX protobuf in {what} (truncated or not an ONNX file)"),
    }
}

fn bad(path: &Path, message: impl Into<String>) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn string(v: &Value) -> String {
    match v {
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

/// Packed or unpacked repeated varints.
fn push_varints(v: &Value, out: &mut Vec<i64>) {
    match v {
        Value::Varint(x) => out.push(*x as i64),
        Value::Bytes(b) => {
            let mut r = Reader::new(b);
            while let Some(x) = r.varint() {
                out.push(x as i64);
            }
        }
        _ => {}
    }
}

#[derive(Default)]
struct Node {
    op: String,
    name: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
    ints: HashMap<String, i64>,
    floats: HashMap<String, f32>,
    tensor: Option<(String, Tensor)>,
}

fn parse_tensor(buf: &[u8], path: &Path) -> Result<(String, Tensor)> {
    let mut dims = Vec::new();
    let mut data_type = 0;
    let mut name = String::new();
    let mut floats = Vec::new();
    let mut doubles = Vec::new();
    let mut int64s = Vec::new();
    let mut raw: Option<&[u8]> = None;
    let mut external = false;
    for (num, v) in fields(buf, "a tensor", path)? {
        match (num, &v) {
            (1, _) => push_varints(&v, &mut dims),
            (2, Value::Varint(t)) => data_type = *t,
            (4, Value::Bytes(b)) => floats.extend(
                b.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
            (4, Value::Fixed32(x)) => floats.push(f32::from_bits(*x)),
            (7, _) => push_varints(&v, &mut int64s),
            (8, _) => name = string(&v),
            (9, Value::Bytes(b)) => raw = Some(b),
            (10, Value::Bytes(b)) => doubles.extend(
                b.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))),
            ),
            (10, Value::Fixed64(x)) => doubles.push(f64::from_bits(*x)),
            (13, _) => external = true,
            (14, Value::Varint(1)) => external = true,
            _ => {}
        }
    }
    if external {
        return Err(bad(
            path,
            format!(
                "initializer `{name}` is stored in an external data file; export with the weights inside the .onnx file"
            ),
        ));
    }
    let shape: Vec<usize> = dims.iter().map(|&d| d.max(0) as usize).collect();
    let data: Vec<f32> = match (data_type, raw) {
        (1, Some(b)) => b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        (1, None) => floats,
        (11, Some(b)) => b
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect(),
        (11, None) => doubles.into_iter().map(|x| x as f32).collect(),
        (7, Some(b)) => b
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect(),
        (7, None) => int64s.into_iter().map(|x| x as f32).collect(),
        (t, _) => {
            return Err(bad(
                path,
                format!(
                    "initializer `{name}` has ONNX data type {t}; synops reads float, double and int64"
                ),
            ));
        }
    };
    let count: usize = shape.iter().product();
    if data.len() != count {
        return Err(bad(
            path,
            format!(
                "initializer `{name}` has shape {shape:?} ({count} values) but holds {} values",
                data.len()
            ),
        ));
    }
    Ok((name, Tensor { shape, data }))
}

fn parse_node(buf: &[u8], path: &Path) -> Result<Node> {
    let mut node = Node::default();
    for (num, v) in fields(buf, "a node", path)? {
        match num {
            1 => node.inputs.push(string(&v)),
            2 => node.outputs.push(string(&v)),
            3 => node.name = string(&v),
            4 => node.op = string(&v),
            5 => {
                let Value::Bytes(attr) = v else { continue };
                let mut name = String::new();
                let (mut i, mut f, mut t) = (None, None, None);
                for (an, av) in fields(attr, "an attribute", path)? {
                    match (an, &av) {
                        (1, _) => name = string(&av),
                        (2, Value::Fixed32(x)) => f = Some(f32::from_bits(*x)),
                        (3, Value::Varint(x)) => i = Some(*x as i64),
                        (5, Value::Bytes(b)) => t = Some(parse_tensor(b, path)?),
                        _ => {}
                    }
                }
                if let Some(i) = i {
                    node.ints.insert(name.clone(), i);
                }
                if let Some(f) = f {
                    node.floats.insert(name.clone(), f);
                }
                if let Some(t) = t {
                    node.tensor = Some(t);
                }
            }
            _ => {}
        }
    }
    Ok(node)
}

/// The 2-D weight matrix a Gemm or MatMul node takes as its second input.
fn weight_input<'t>(
    node: &'t Node,
    constants: &'t Tensors,
) -> std::result::Result<(&'t str, &'t Tensor), String> {
    let name = node.inputs.get(1).ok_or("no weight input")?;
    let w = constants
        .get(name)
        .ok_or_else(|| format!("weight `{name}` is not an initializer"))?;
    if w.shape.len() != 2 {
        return Err(format!(
            "weight `{name}` has shape {:?}, expected 2-D",
            w.shape
        ));
    }
    Ok((name, w))
}

/// The bias vector `name` of a layer with `n_out` outputs (Gemm's third input, Add's second).
fn bias_input<'t>(
    name: &str,
    constants: &'t Tensors,
    n_out: usize,
) -> std::result::Result<&'t Tensor, String> {
    let b = constants
        .get(name)
        .ok_or_else(|| format!("bias `{name}` is not an initializer"))?;
    if b.data.len() != n_out {
        return Err(format!(
            "bias `{name}` has {} values for {n_out} outputs",
            b.data.len()
        ));
    }
    Ok(b)
}

/// Read the initializers and the dense layers of an ONNX model, in graph order.
pub fn read_onnx(path: &Path) -> Result<(Tensors, Vec<DenseLayer>)> {
    let bytes = crate::files::read(path, crate::files::InputKind::Model)?;
    let graph = fields(&bytes, "the model", path)?
        .into_iter()
        .find_map(|(n, v)| match (n, v) {
            (7, Value::Bytes(g)) => Some(g),
            _ => None,
        })
        .ok_or_else(|| bad(path, "no graph in the file (not an ONNX model?)"))?;
    let mut nodes = Vec::new();
    let mut initializers = Tensors::new();
    let mut graph_inputs = Vec::new();
    let mut graph_outputs = Vec::new();
    for (num, v) in fields(graph, "the graph", path)? {
        let Value::Bytes(b) = v else { continue };
        match num {
            1 => nodes.push(parse_node(b, path)?),
            5 => {
                let (name, t) = parse_tensor(b, path)?;
                initializers.insert(name, t);
            }
            11 | 12 => {
                let name = fields(b, "a value info", path)?
                    .iter()
                    .find(|(n, _)| *n == 1)
                    .map(|(_, v)| string(v))
                    .unwrap_or_default();
                if num == 11 {
                    graph_inputs.push(name)
                } else {
                    graph_outputs.push(name)
                }
            }
            _ => {}
        }
    }
    // Older exporters list initializers among the inputs: the data input is the other one.
    let input = graph_inputs
        .iter()
        .find(|n| !initializers.contains_key(*n))
        .cloned()
        .ok_or_else(|| bad(path, "the graph has no data input"))?;
    let mut constants = initializers.clone();
    let mut activation = input;
    let mut layers: Vec<DenseLayer> = Vec::new();
    let op_error =
        |node: &Node, what: &str| bad(path, format!("node `{}` ({}): {what}", node.name, node.op));
    for node in &nodes {
        let uses_activation = node.inputs.first() == Some(&activation);
        match node.op.as_str() {
            "Constant" => {
                if let (Some(out), Some((_, t))) = (node.outputs.first(), &node.tensor) {
                    constants.insert(out.clone(), t.clone());
                }
                continue;
            }
            _ if !uses_activation => {
                return Err(op_error(
                    node,
                    "does not act on the network's activation; only a chain of dense layers is supported",
                ));
            }
            "Gemm" => {
                if node.ints.get("transA").copied().unwrap_or(0) != 0 {
                    return Err(op_error(node, "transA = 1 is not supported"));
                }
                let (w_name, w) = weight_input(node, &constants).map_err(|m| op_error(node, &m))?;
                let alpha = node.floats.get("alpha").copied().unwrap_or(1.0);
                let beta = node.floats.get("beta").copied().unwrap_or(1.0);
                let trans_b = node.ints.get("transB").copied().unwrap_or(0) != 0;
                let mut layer = if trans_b {
                    DenseLayer::from_out_in(w_name, w.shape[1], w.shape[0], w.data.clone())
                } else {
                    DenseLayer::from_in_out(w_name, w.shape[0], w.shape[1], &w.data)
                };
                layer.weight.iter_mut().for_each(|x| *x *= alpha);
                if let Some(b_name) = node.inputs.get(2).filter(|n| !n.is_empty()) {
                    let b = bias_input(b_name, &constants, layer.n_out)
                        .map_err(|m| op_error(node, &m))?;
                    layer.bias = b.data.iter().map(|x| x * beta).collect();
                }
                layers.push(layer);
            }
            "MatMul" => {
                let (w_name, w) = weight_input(node, &constants).map_err(|m| op_error(node, &m))?;
                layers.push(DenseLayer::from_in_out(
                    w_name, w.shape[0], w.shape[1], &w.data,
                ));
            }
            "Add" => {
                let layer = layers
                    .last_mut()
                    .ok_or_else(|| op_error(node, "Add before any dense layer"))?;
                let b_name = node
                    .inputs
                    .get(1)
                    .ok_or_else(|| op_error(node, "no second input"))?;
                let b =
                    bias_input(b_name, &constants, layer.n_out).map_err(|m| op_error(node, &m))?;
                for (x, &y) in layer.bias.iter_mut().zip(&b.data) {
                    *x += y;
                }
            }
            "Relu" => {
                let layer = layers
                    .last_mut()
                    .ok_or_else(|| op_error(node, "Relu on the input is not supported"))?;
                layer.relu = true;
            }
            "Flatten" | "Reshape" | "Identity" | "Dropout" => {}
            other => {
                return Err(op_error(
                    node,
                    &format!(
                        "operator {other} is not supported (supported: Gemm, MatMul, Add, Relu, Flatten, Reshape, Identity, Dropout)"
                    ),
                ));
            }
        }
        activation = node.outputs.first().cloned().unwrap_or_default();
    }
    if !graph_outputs.contains(&activation) {
        return Err(bad(
            path,
            format!(
                "the graph output is not produced by the chain of dense layers (last value `{activation}`)"
            ),
        ));
    }
    if layers.is_empty() {
        return Err(bad(path, "the graph has no dense layer"));
    }
    Ok((initializers, layers))
}
