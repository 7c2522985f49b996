//! Dense layers from an ONNX graph exported by `torch.onnx.export` (TorchScript or dynamo
//! exporter), parsed in pure Rust: a minimal protobuf wire-format reader for the few messages
//! involved (ModelProto.graph, GraphProto nodes and initializers, NodeProto, AttributeProto,
//! TensorProto). No code generation, no `protoc`.
//!
//! Supported operators: Conv (strides, pads, auto_pad, dilations, groups), BatchNormalization
//! (folded into the Conv or dense layer before it), AveragePool, GlobalAveragePool, Relu,
//! Flatten and Reshape to `[batch, values]`, Gemm, MatMul followed by Add, Identity, Dropout
//! and Constant. MaxPool is refused with advice; anything else is refused with the operator and
//! node named. Weights may be in an external data file beside the model (the dynamo
//! exporter's `model.onnx.data`).

use super::ann::{Ann, DenseLayer};
use super::features::{AvgPool2d, Conv2d, FeatureLayer};
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
    int_lists: HashMap<String, Vec<i64>>,
    strings: HashMap<String, String>,
    floats: HashMap<String, f32>,
    tensor: Option<(String, Tensor)>,
}

/// Where the tensors stored outside the model file are: the model's folder, and the data
/// files read so far.
struct External<'p> {
    model: &'p Path,
    files: std::cell::RefCell<HashMap<String, std::rc::Rc<Vec<u8>>>>,
}

impl External<'_> {
    /// The bytes `[offset, offset + length)` (to the end without a length) of the data file
    /// `location`, a plain relative name beside the model (as `torch.onnx.export` writes it).
    fn bytes(
        &self,
        tensor: &str,
        location: &str,
        offset: u64,
        length: Option<u64>,
    ) -> Result<Vec<u8>> {
        let path = self.model;
        let relative = Path::new(location);
        let plain = relative
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if location.is_empty() || !plain {
            return Err(bad(
                path,
                format!(
                    "initializer `{tensor}`: external data location `{location}` is not a file name beside the model"
                ),
            ));
        }
        let file = path.parent().unwrap_or(Path::new("")).join(relative);
        let data = {
            let mut files = self.files.borrow_mut();
            match files.get(location) {
                Some(d) => d.clone(),
                None => {
                    let d = std::rc::Rc::new(crate::files::read(
                        &file,
                        crate::files::InputKind::Model,
                    )?);
                    files.insert(location.to_string(), d.clone());
                    d
                }
            }
        };
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = match length {
            Some(n) => start.checked_add(usize::try_from(n).unwrap_or(usize::MAX)),
            None => Some(data.len()),
        };
        match end.and_then(|end| data.get(start..end)) {
            Some(b) => Ok(b.to_vec()),
            None => Err(bad(
                &file,
                format!(
                    "initializer `{tensor}` of {} is at offset {offset} length {} but the file holds {} bytes (truncated?)",
                    path.display(),
                    length.map_or("to the end".to_string(), |n| n.to_string()),
                    data.len()
                ),
            )),
        }
    }
}

fn parse_tensor(buf: &[u8], external: &External) -> Result<(String, Tensor)> {
    let path = external.model;
    let mut dims = Vec::new();
    let mut data_type = 0;
    let mut name = String::new();
    let mut floats = Vec::new();
    let mut doubles = Vec::new();
    let mut int64s = Vec::new();
    let mut raw: Option<&[u8]> = None;
    let mut is_external = false;
    let mut entries: Vec<(String, String)> = Vec::new();
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
            (13, Value::Bytes(b)) => {
                let entry = fields(b, "an external data entry", path)?;
                let get = |k: u64| entry.iter().find(|(n, _)| *n == k).map(|(_, v)| string(v));
                entries.push((get(1).unwrap_or_default(), get(2).unwrap_or_default()));
            }
            (14, Value::Varint(1)) => is_external = true,
            _ => {}
        }
    }
    let outside: Vec<u8>;
    if is_external || !entries.is_empty() {
        let entry = |k: &str| {
            entries
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let number = |k: &str| -> Result<Option<u64>> {
            entry(k)
                .map(|v| {
                    v.parse().map_err(|_| {
                        bad(
                            path,
                            format!(
                                "initializer `{name}`: external data {k} `{v}` is not a number"
                            ),
                        )
                    })
                })
                .transpose()
        };
        let location = entry("location").unwrap_or("");
        outside = external.bytes(
            &name,
            location,
            number("offset")?.unwrap_or(0),
            number("length")?,
        )?;
        raw = Some(&outside);
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

fn parse_node(buf: &[u8], external: &External) -> Result<Node> {
    let path = external.model;
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
                let (mut i, mut f, mut t, mut text) = (None, None, None, None);
                let mut list = Vec::new();
                for (an, av) in fields(attr, "an attribute", path)? {
                    match (an, &av) {
                        (1, _) => name = string(&av),
                        (2, Value::Fixed32(x)) => f = Some(f32::from_bits(*x)),
                        (3, Value::Varint(x)) => i = Some(*x as i64),
                        (4, Value::Bytes(_)) => text = Some(string(&av)),
                        (5, Value::Bytes(b)) => t = Some(parse_tensor(b, external)?),
                        (8, _) => push_varints(&av, &mut list),
                        _ => {}
                    }
                }
                if !list.is_empty() {
                    node.int_lists.insert(name.clone(), list);
                }
                if let Some(text) = text {
                    node.strings.insert(name.clone(), text);
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

/// The dimensions of a graph input's tensor type (symbolic dimensions as `None`).
fn value_dims(b: &[u8], path: &Path) -> Result<(String, Vec<Option<usize>>)> {
    let mut name = String::new();
    let mut dims = Vec::new();
    for (n, v) in fields(b, "a value info", path)? {
        match (n, &v) {
            (1, _) => name = string(&v),
            (2, Value::Bytes(type_proto)) => {
                for (tn, tv) in fields(type_proto, "a type", path)? {
                    let (1, Value::Bytes(tensor_type)) = (tn, tv) else {
                        continue;
                    };
                    for (sn, sv) in fields(tensor_type, "a tensor type", path)? {
                        let (2, Value::Bytes(shape)) = (sn, sv) else {
                            continue;
                        };
                        for (dn, dv) in fields(shape, "a shape", path)? {
                            let (1, Value::Bytes(dim)) = (dn, dv) else {
                                continue;
                            };
                            let value =
                                fields(dim, "a dimension", path)?
                                    .iter()
                                    .find_map(|(k, x)| match (k, x) {
                                        (1, Value::Varint(d)) => usize::try_from(*d).ok(),
                                        _ => None,
                                    });
                            dims.push(value);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok((name, dims))
}

/// The nodes, initializers, data input (name and dimensions) and outputs of a model's graph.
struct Graph {
    nodes: Vec<Node>,
    initializers: Tensors,
    input: (String, Vec<Option<usize>>),
    outputs: Vec<String>,
}

fn parse_graph(bytes: &[u8], external: &External) -> Result<Graph> {
    let path = external.model;
    let graph = fields(bytes, "the model", path)?
        .into_iter()
        .find_map(|(n, v)| match (n, v) {
            (7, Value::Bytes(g)) => Some(g),
            _ => None,
        })
        .ok_or_else(|| bad(path, "no graph in the file (not an ONNX model?)"))?;
    let mut nodes = Vec::new();
    let mut initializers = Tensors::new();
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    for (num, v) in fields(graph, "the graph", path)? {
        let Value::Bytes(b) = v else { continue };
        match num {
            1 => nodes.push(parse_node(b, external)?),
            5 => {
                let (name, t) = parse_tensor(b, external)?;
                initializers.insert(name, t);
            }
            11 => inputs.push(value_dims(b, path)?),
            12 => outputs.push(value_dims(b, path)?.0),
            _ => {}
        }
    }
    // Older exporters list initializers among the inputs: the data input is the other one.
    let input = inputs
        .into_iter()
        .find(|(n, _)| !initializers.contains_key(n))
        .ok_or_else(|| bad(path, "the graph has no data input"))?;
    Ok(Graph {
        nodes,
        initializers,
        input,
        outputs,
    })
}

/// The operators synops imports, for the message that refuses the others.
const SUPPORTED: &str = "Conv, BatchNormalization, Relu, AveragePool, GlobalAveragePool, Flatten, Reshape, Gemm, MatMul, Add, Identity, Dropout, Constant";

/// What the last node made of the activation: where a BatchNormalization can fold.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Last {
    Input,
    Conv,
    Dense,
    Other,
}

/// The network as the nodes build it, with the activation's current shape.
struct Builder<'a> {
    path: &'a Path,
    constants: Tensors,
    shape: Vec<usize>,
    features: Vec<FeatureLayer>,
    layers: Vec<DenseLayer>,
    last: Last,
}

/// `[rows, cols]` of an int-list attribute, or `default`; anything but two positive values is
/// refused.
fn pair(node: &Node, key: &str, default: [usize; 2]) -> std::result::Result<[usize; 2], String> {
    match node.int_lists.get(key) {
        None => Ok(default),
        Some(v) if v.len() == 2 && v.iter().all(|&x| (1..=1 << 20).contains(&x)) => {
            Ok([v[0] as usize, v[1] as usize])
        }
        Some(v) => Err(format!(
            "{key} = {v:?}: two values from 1 to 1048576 expected (2-D layers)"
        )),
    }
}

/// The zero padding `[top, left, bottom, right]` of a Conv or pooling node: `pads`, or what
/// `auto_pad` (`SAME_UPPER`, `SAME_LOWER`, `VALID`) makes of the input size.
fn padding(
    node: &Node,
    input: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
) -> std::result::Result<[usize; 4], String> {
    let auto = node
        .strings
        .get("auto_pad")
        .map_or("NOTSET", String::as_str);
    match auto {
        "NOTSET" => match node.int_lists.get("pads") {
            None => Ok([0; 4]),
            Some(p) if p.len() == 4 && p.iter().all(|&x| (0..=1 << 20).contains(&x)) => {
                Ok([p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize])
            }
            Some(p) => Err(format!(
                "pads = {p:?}: four values from 0 to 1048576 expected (top, left, bottom, right)"
            )),
        },
        "VALID" => Ok([0; 4]),
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut pads = [0; 4];
            for axis in 0..2 {
                let out = input[axis].div_ceil(stride[axis]);
                let span = dilation[axis] * (kernel[axis] - 1) + 1;
                let total = ((out - 1) * stride[axis] + span).saturating_sub(input[axis]);
                let (small, large) = (total / 2, total - total / 2);
                let (begin, end) = if auto == "SAME_UPPER" {
                    (small, large)
                } else {
                    (large, small)
                };
                pads[axis] = begin;
                pads[axis + 2] = end;
            }
            Ok(pads)
        }
        other => Err(format!(
            "auto_pad = {other} is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER"
        )),
    }
}

/// An error about `node` of the model at `path`.
fn node_error(path: &Path, node: &Node, what: &str) -> Error {
    bad(path, format!("node `{}` ({}): {what}", node.name, node.op))
}

impl Builder<'_> {
    fn error(&self, node: &Node, what: &str) -> Error {
        node_error(self.path, node, what)
    }

    /// The activation as `[channels, rows, cols]`, for a 2-D layer.
    fn image(&self, node: &Node) -> Result<[usize; 3]> {
        match (self.layers.is_empty(), self.shape.as_slice()) {
            (true, &[c, h, w]) => Ok([c, h, w]),
            _ => Err(self.error(
                node,
                &format!("needs a [channels, rows, cols] input before any dense layer; the activation here has shape {:?}", self.shape),
            )),
        }
    }

    fn push_feature(&mut self, layer: FeatureLayer) {
        self.shape = layer.out_shape().to_vec();
        self.features.push(layer);
    }

    fn conv(&mut self, node: &Node) -> Result<()> {
        let [c_in, h, w] = self.image(node)?;
        let path = self.path;
        let fail = |m: String| node_error(path, node, &m);
        let w_name = node
            .inputs
            .get(1)
            .ok_or_else(|| fail("no weight input".into()))?;
        let weight = self
            .constants
            .get(w_name)
            .ok_or_else(|| fail(format!("weight `{w_name}` is not an initializer")))?;
        let &[c_out, per_group, kh, kw] = weight.shape.as_slice() else {
            return Err(fail(format!(
                "weight `{w_name}` has shape {:?}, expected [out, in / groups, rows, cols]",
                weight.shape
            )));
        };
        let groups = usize::try_from(node.ints.get("group").copied().unwrap_or(1)).unwrap_or(0);
        if groups == 0
            || per_group == 0
            || c_out == 0
            || per_group * groups != c_in
            || c_out % groups != 0
        {
            return Err(fail(format!(
                "weight `{w_name}` of shape {:?} with group = {groups} does not fit {c_in} input channels",
                weight.shape
            )));
        }
        let kernel = pair(node, "kernel_shape", [kh, kw]).map_err(&fail)?;
        if kernel != [kh, kw] {
            return Err(fail(format!(
                "kernel_shape {kernel:?} differs from the weight's {:?}",
                [kh, kw]
            )));
        }
        let stride = pair(node, "strides", [1, 1]).map_err(&fail)?;
        let dilation = pair(node, "dilations", [1, 1]).map_err(&fail)?;
        let pads = padding(node, [h, w], kernel, stride, dilation).map_err(&fail)?;
        let mut bias = vec![0.0; c_out];
        if let Some(b_name) = node.inputs.get(2).filter(|n| !n.is_empty()) {
            bias = bias_input(b_name, &self.constants, c_out)
                .map_err(&fail)?
                .data
                .clone();
        }
        let layer = Conv2d {
            name: w_name.clone(),
            in_shape: [c_in, h, w],
            out_channels: c_out,
            kernel,
            stride,
            pads,
            dilation,
            groups,
            weight: weight.data.clone(),
            bias,
            relu: false,
        };
        if layer.out_shape().contains(&0) {
            return Err(fail(format!(
                "a {kernel:?} kernel (dilation {dilation:?}, padding {pads:?}) does not fit the {h} x {w} input"
            )));
        }
        self.push_feature(FeatureLayer::Conv(layer));
        self.last = Last::Conv;
        Ok(())
    }

    fn pool(&mut self, node: &Node, global: bool) -> Result<()> {
        let [c, h, w] = self.image(node)?;
        let path = self.path;
        let fail = |m: String| node_error(path, node, &m);
        let (kernel, stride, pads, include) = if global {
            ([h, w], [1, 1], [0; 4], false)
        } else {
            if node.ints.get("ceil_mode").copied().unwrap_or(0) != 0 {
                return Err(fail(
                    "ceil_mode = 1 is not supported (export with ceil_mode = False)".into(),
                ));
            }
            let kernel = pair(node, "kernel_shape", [0, 0]).map_err(&fail)?;
            if kernel.contains(&0) {
                return Err(fail("no kernel_shape".into()));
            }
            let stride = pair(node, "strides", [1, 1]).map_err(&fail)?;
            let pads = padding(node, [h, w], kernel, stride, [1, 1]).map_err(&fail)?;
            (
                kernel,
                stride,
                pads,
                node.ints.get("count_include_pad").copied().unwrap_or(0) != 0,
            )
        };
        let layer = AvgPool2d {
            name: if node.name.is_empty() {
                node.outputs.first().cloned().unwrap_or_default()
            } else {
                node.name.clone()
            },
            in_shape: [c, h, w],
            kernel,
            stride,
            pads,
            count_include_pad: include,
        };
        if layer.out_shape().contains(&0) {
            return Err(fail(format!(
                "a {kernel:?} window does not fit the {h} x {w} input"
            )));
        }
        self.push_feature(FeatureLayer::AvgPool(layer));
        self.last = Last::Other;
        Ok(())
    }

    /// Folds `y = scale (x - mean) / sqrt(var + eps) + shift` into the layer before it.
    fn batch_norm(&mut self, node: &Node) -> Result<()> {
        let path = self.path;
        let fail = |m: String| node_error(path, node, &m);
        let channels = match self.last {
            Last::Conv => self.shape[0],
            Last::Dense => self.shape[0],
            _ => {
                return Err(fail(
                    "follows neither a Conv nor a dense layer directly, so it cannot be folded into one".into(),
                ));
            }
        };
        let mut params = Vec::new();
        for (k, what) in ["scale", "bias", "mean", "variance"].iter().enumerate() {
            let name = node
                .inputs
                .get(k + 1)
                .ok_or_else(|| fail(format!("no {what} input")))?;
            let t = bias_input(name, &self.constants, channels).map_err(&fail)?;
            params.push(t.data.clone());
        }
        let eps = f64::from(node.floats.get("epsilon").copied().unwrap_or(1e-5));
        let factor: Vec<f64> = (0..channels)
            .map(|c| f64::from(params[0][c]) / (f64::from(params[3][c]) + eps).sqrt())
            .collect();
        if let Some(c) = factor.iter().position(|f| !f.is_finite()) {
            return Err(fail(format!(
                "channel {c}: variance + epsilon is not positive"
            )));
        }
        let fold = |weight: &mut [f32], bias: &mut [f32]| {
            let per = weight.len() / channels;
            for c in 0..channels {
                for w in &mut weight[c * per..(c + 1) * per] {
                    *w = (f64::from(*w) * factor[c]) as f32;
                }
                let b = (f64::from(bias[c]) - f64::from(params[2][c])) * factor[c]
                    + f64::from(params[1][c]);
                bias[c] = b as f32;
            }
        };
        match self.features.last_mut() {
            Some(FeatureLayer::Conv(conv)) if self.last == Last::Conv => {
                fold(&mut conv.weight, &mut conv.bias)
            }
            _ => {
                let dense = self
                    .layers
                    .last_mut()
                    .expect("the last node made a dense layer");
                fold(&mut dense.weight, &mut dense.bias);
            }
        }
        Ok(())
    }

    fn relu(&mut self, node: &Node) -> Result<()> {
        let done = match (self.last, self.layers.last_mut(), self.features.last_mut()) {
            (Last::Dense, Some(dense), _) => {
                dense.relu = true;
                true
            }
            (Last::Conv, _, Some(feature)) => feature.set_relu(),
            // The mean of ReLU outputs is never negative: ReLU after their pooling is a no-op.
            (Last::Other, None, Some(FeatureLayer::AvgPool(_))) => {
                self.features.iter().rev().find_map(|f| match f {
                    FeatureLayer::Conv(c) => Some(c.relu),
                    FeatureLayer::AvgPool(_) => None,
                }) == Some(true)
            }
            _ => false,
        };
        if !done {
            return Err(self.error(
                node,
                "Relu must follow a Conv, Gemm or MatMul (with its bias and batch normalization)",
            ));
        }
        Ok(())
    }

    /// Flatten, or a Reshape to `[batch, values]`: `[channels, rows, cols]` in C, H, W order.
    fn flatten(&mut self, node: &Node) -> Result<()> {
        if node.op == "Reshape" {
            let target = node.inputs.get(1).and_then(|n| self.constants.get(n));
            let flat = target.is_some_and(|t| t.data.len() == 2);
            if !flat {
                return Err(self.error(
                    node,
                    &format!(
                        "only a Reshape to [batch, values] (a flatten) is supported; its target shape is {:?}",
                        target.map(|t| t.data.clone())
                    ),
                ));
            }
        }
        if node.op == "Flatten" && node.ints.get("axis").copied().unwrap_or(1) != 1 {
            return Err(self.error(node, "only Flatten with axis = 1 is supported"));
        }
        if !self.shape.is_empty() {
            self.shape = vec![self.shape.iter().product()];
        }
        self.last = Last::Other;
        Ok(())
    }

    fn dense(&mut self, node: &Node) -> Result<()> {
        let path = self.path;
        let fail = |m: String| node_error(path, node, &m);
        let (w_name, w) = weight_input(node, &self.constants).map_err(&fail)?;
        let layer = if node.op == "MatMul" {
            DenseLayer::from_in_out(w_name, w.shape[0], w.shape[1], &w.data)
        } else {
            if node.ints.get("transA").copied().unwrap_or(0) != 0 {
                return Err(fail("transA = 1 is not supported".into()));
            }
            let alpha = node.floats.get("alpha").copied().unwrap_or(1.0);
            let beta = node.floats.get("beta").copied().unwrap_or(1.0);
            let mut layer = if node.ints.get("transB").copied().unwrap_or(0) != 0 {
                DenseLayer::from_out_in(w_name, w.shape[1], w.shape[0], w.data.clone())
            } else {
                DenseLayer::from_in_out(w_name, w.shape[0], w.shape[1], &w.data)
            };
            layer.weight.iter_mut().for_each(|x| *x *= alpha);
            if let Some(b_name) = node.inputs.get(2).filter(|n| !n.is_empty()) {
                let b = bias_input(b_name, &self.constants, layer.n_out).map_err(&fail)?;
                layer.bias = b.data.iter().map(|x| x * beta).collect();
            }
            layer
        };
        let inputs: usize = self.shape.iter().product();
        // (Empty only before any layer, when the graph gave no input type.)
        let unknown = self.shape.is_empty();
        if !unknown && (self.shape.len() != 1 || inputs != layer.n_in) {
            return Err(fail(format!(
                "weight `{w_name}` takes {} inputs but the activation here has shape {:?} (flatten it first)",
                layer.n_in, self.shape
            )));
        }
        self.shape = vec![layer.n_out];
        self.layers.push(layer);
        self.last = Last::Dense;
        Ok(())
    }

    fn add_bias(&mut self, node: &Node) -> Result<()> {
        let path = self.path;
        let fail = |m: String| node_error(path, node, &m);
        if self.last != Last::Dense {
            return Err(fail(
                "only an Add of a bias right after MatMul is supported".into(),
            ));
        }
        let layer = self
            .layers
            .last_mut()
            .expect("the last node made a dense layer");
        let b_name = node
            .inputs
            .get(1)
            .ok_or_else(|| fail("no second input".into()))?;
        let b = bias_input(b_name, &self.constants, layer.n_out).map_err(&fail)?;
        for (x, &y) in layer.bias.iter_mut().zip(&b.data) {
            *x += y;
        }
        Ok(())
    }

    fn node(&mut self, node: &Node) -> Result<()> {
        match node.op.as_str() {
            "Conv" => self.conv(node),
            "BatchNormalization" => self.batch_norm(node),
            "AveragePool" => self.pool(node, false),
            "GlobalAveragePool" => self.pool(node, true),
            "MaxPool" | "GlobalMaxPool" => Err(self.error(
                node,
                "max pooling is not converted to spikes (a spiking max needs gating, which synops does not do); train the model with average pooling (nn.AvgPool2d) instead",
            )),
            "Relu" => self.relu(node),
            "Flatten" | "Reshape" => self.flatten(node),
            "Gemm" | "MatMul" => self.dense(node),
            "Add" => self.add_bias(node),
            "Identity" | "Dropout" => Ok(()),
            other => Err(self.error(node, &format!("operator {other} is not supported (supported: {SUPPORTED})"))),
        }
    }
}

/// Read an ONNX model (`torch.onnx.export`, either exporter; weights inside the file or in
/// an external data file beside it): its initializers and the network, in graph order.
pub fn read_onnx(path: &Path) -> Result<(Tensors, Ann)> {
    let bytes = crate::files::read(path, crate::files::InputKind::Model)?;
    let external = External {
        model: path,
        files: Default::default(),
    };
    let graph = parse_graph(&bytes, &external)?;
    let (input, dims) = graph.input.clone();
    // The batch dimension first, then one sample's shape.
    let sample: Option<Vec<usize>> = dims.iter().skip(1).copied().collect();
    let shape = match sample {
        // No type given (hand-written graphs): the first dense layer says how many inputs.
        _ if dims.is_empty() => Vec::new(),
        Some(s) if !s.is_empty() && !s.contains(&0) => s,
        _ => {
            return Err(bad(
                path,
                format!(
                    "the data input `{input}` has dimensions {dims:?}: a batch dimension then fixed sizes are needed"
                ),
            ));
        }
    };
    if shape.len() == 2 || shape.len() > 3 {
        return Err(bad(
            path,
            format!(
                "the data input `{input}` has shape {shape:?} per sample: [values] or [channels, rows, cols] expected"
            ),
        ));
    }
    let mut builder = Builder {
        path,
        constants: graph.initializers.clone(),
        shape: shape.clone(),
        features: Vec::new(),
        layers: Vec::new(),
        last: Last::Input,
    };
    let mut activation = input;
    for node in &graph.nodes {
        if node.op == "Constant" {
            if let (Some(out), Some((_, t))) = (node.outputs.first(), &node.tensor) {
                builder.constants.insert(out.clone(), t.clone());
            }
            continue;
        }
        if node.inputs.first() != Some(&activation) {
            return Err(builder.error(
                node,
                "does not act on the network's activation; only a chain of layers is supported",
            ));
        }
        builder.node(node)?;
        activation = node.outputs.first().cloned().unwrap_or_default();
    }
    if !graph.outputs.contains(&activation) {
        return Err(bad(
            path,
            format!(
                "the graph output is not produced by the chain of layers (last value `{activation}`)"
            ),
        ));
    }
    if builder.layers.is_empty() {
        return Err(bad(path, "the graph has no dense layer"));
    }
    let input_shape = if shape.is_empty() {
        vec![builder.layers[0].n_in]
    } else {
        shape
    };
    let ann = Ann {
        input_shape,
        features: builder.features,
        layers: builder.layers,
    };
    Ok((graph.initializers, ann))
}
