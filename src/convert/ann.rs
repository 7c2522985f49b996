//! The artificial network: feature layers (see [`super::features`]) and dense layers
//! `y = W x + b` (ReLU on hidden layers), as trained.
//!
//! Weights are kept as PyTorch stores them, `[out, in]` row-major. The forward pass sums in
//! `f64`, so its logits match PyTorch's float32 results to about 1e-6.

use super::features::FeatureLayer;
use super::tensors::Tensors;
use crate::error::{Error, Result};
use std::path::Path;

/// Outputs of a dense layer summed side by side in [`DenseLayer::forward`].
const FORWARD_ROWS: usize = 8;

/// One dense layer.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseLayer {
    /// Name of its weight tensor (or module).
    pub name: String,
    /// Inputs.
    pub n_in: usize,
    /// Outputs.
    pub n_out: usize,
    /// `[out, in]` row-major.
    pub weight: Vec<f32>,
    /// `[out]` (zeros when the file has no bias).
    pub bias: Vec<f32>,
    /// ReLU after this layer.
    pub relu: bool,
}

impl DenseLayer {
    /// From a PyTorch-layout `[out, in]` matrix.
    pub fn from_out_in(name: &str, n_in: usize, n_out: usize, weight: Vec<f32>) -> Self {
        DenseLayer {
            name: name.to_string(),
            n_in,
            n_out,
            weight,
            bias: vec![0.0; n_out],
            relu: false,
        }
    }

    /// From a Keras/ONNX-MatMul-layout `[in, out]` matrix (transposed here).
    pub fn from_in_out(name: &str, n_in: usize, n_out: usize, weight: &[f32]) -> Self {
        let mut w = vec![0.0; n_in * n_out];
        for i in 0..n_in {
            for o in 0..n_out {
                w[o * n_in + i] = weight[i * n_out + o];
            }
        }
        Self::from_out_in(name, n_in, n_out, w)
    }

    /// `y = W x + b`, then ReLU if the layer has one.
    ///
    /// Each output sums its products in input order in `f64` (every `f32` product is exact
    /// there), skipping zero inputs, whose products add nothing. Outputs are computed
    /// [`FORWARD_ROWS`] at a time, so that many independent sums are in flight: the same bits
    /// as one output at a time, several times faster.
    pub fn forward(&self, x: &[f32], y: &mut [f32]) {
        let nonzero: Vec<(usize, f64)> = x
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != 0.0)
            .map(|(i, &v)| (i, f64::from(v)))
            .collect();
        let rows = self.weight.chunks_exact(self.n_in.max(1));
        for (first, out) in y.chunks_mut(FORWARD_ROWS).enumerate() {
            let o = first * FORWARD_ROWS;
            let mut sums = [-0.0f64; FORWARD_ROWS];
            let block: Vec<&[f32]> = rows.clone().skip(o).take(out.len()).collect();
            for &(i, v) in &nonzero {
                for (sum, row) in sums.iter_mut().zip(&block) {
                    *sum += f64::from(row[i]) * v;
                }
            }
            for (k, out) in out.iter_mut().enumerate() {
                let v = (sums[k] + f64::from(self.bias[o + k])) as f32;
                *out = if self.relu { v.max(0.0) } else { v };
            }
        }
    }

    /// The weights input-major (`[in, out]`), for [`Self::forward_input_major`].
    pub fn input_major(&self) -> InputMajor {
        let mut w = vec![0.0; self.weight.len()];
        for (o, row) in self.weight.chunks_exact(self.n_in.max(1)).enumerate() {
            for (i, &x) in row.iter().enumerate() {
                w[i * self.n_out + o] = x;
            }
        }
        InputMajor(w)
    }

    /// [`Self::forward`] with the weights input-major (`w`, from [`Self::input_major`] of this
    /// layer): each non-zero input adds one contiguous row to all the sums, which add in the
    /// same order as there, so the outputs are the same bits; the rows of zero inputs are
    /// never read.
    pub fn forward_input_major(&self, w: &InputMajor, x: &[f32], y: &mut [f32]) {
        debug_assert_eq!(w.0.len(), self.n_in * self.n_out);
        let mut sums = vec![-0.0f64; self.n_out];
        for (i, &v) in x.iter().enumerate() {
            if v == 0.0 {
                continue;
            }
            let (v, row) = (f64::from(v), &w.0[i * self.n_out..][..self.n_out]);
            crate::sim::rows::add_scaled_row(&mut sums, row, v);
        }
        for ((out, sum), &b) in y.iter_mut().zip(sums).zip(&self.bias) {
            let v = (sum + f64::from(b)) as f32;
            *out = if self.relu { v.max(0.0) } else { v };
        }
    }

    /// Multiply-accumulates of one forward pass (bias adds not included).
    pub fn macs(&self) -> u64 {
        (self.n_in * self.n_out) as u64
    }
}

/// A dense layer's weights stored input-major, `[in, out]` (see
/// [`DenseLayer::forward_input_major`]).
#[derive(Debug, Clone)]
pub struct InputMajor(Vec<f32>);

/// A trained network: feature layers (convolutions, pooling) on `[channels, rows, cols]`
/// inputs, if any, flattened (C, H, W order) into a chain of dense layers.
#[derive(Debug, Clone, PartialEq)]
pub struct Ann {
    /// The shape of one input: `[inputs]` for a dense network, `[channels, rows, cols]` for one
    /// with feature layers.
    pub input_shape: Vec<usize>,
    /// Feature layers, input first (empty for a dense network).
    pub features: Vec<FeatureLayer>,
    /// Dense layers, after the feature layers.
    pub layers: Vec<DenseLayer>,
}

impl Ann {
    /// A chain of dense layers.
    pub fn dense(layers: Vec<DenseLayer>) -> Self {
        let input_shape = vec![layers.first().map_or(0, |l| l.n_in)];
        Ann {
            input_shape,
            features: Vec::new(),
            layers,
        }
    }

    /// Input size.
    pub fn n_in(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// The shape of one input sample.
    pub fn input_shape(&self) -> Vec<usize> {
        self.input_shape.clone()
    }

    /// Output size.
    pub fn n_out(&self) -> usize {
        self.layers.last().expect("at least one layer").n_out
    }

    /// The outputs of the feature layers for one input (empty for a dense network).
    pub fn feature_activations(&self, x: &[f32]) -> Vec<Vec<f32>> {
        let mut out: Vec<Vec<f32>> = Vec::with_capacity(self.features.len());
        for layer in &self.features {
            let y = layer.forward(out.last().map_or(x, Vec::as_slice));
            out.push(y);
        }
        out
    }

    /// All dense layer outputs (after activation) for one input.
    pub fn activations(&self, x: &[f32]) -> Vec<Vec<f32>> {
        let features = self.feature_activations(x);
        let flat = features.last().map_or(x, Vec::as_slice);
        let mut out: Vec<Vec<f32>> = Vec::with_capacity(self.layers.len());
        for (k, layer) in self.layers.iter().enumerate() {
            let mut y = vec![0.0; layer.n_out];
            layer.forward(if k == 0 { flat } else { &out[k - 1] }, &mut y);
            out.push(y);
        }
        out
    }

    /// The logits for one input.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        self.activations(x).pop().expect("at least one layer")
    }

    /// The predicted class for one input (first maximum).
    pub fn predict(&self, x: &[f32]) -> usize {
        argmax(&self.forward(x))
    }

    /// Multiply-accumulates per sample, per dense layer.
    pub fn macs_per_layer(&self) -> Vec<u64> {
        self.layers.iter().map(DenseLayer::macs).collect()
    }

    /// Multiply-accumulates per sample of the feature layers.
    pub fn feature_macs(&self) -> u64 {
        self.features.iter().map(FeatureLayer::macs).sum()
    }

    /// Check shapes chain and values are finite; `path` names the model file in errors.
    pub fn check(&self, path: &Path) -> Result<()> {
        let fail = |m: String| Error::Data {
            path: path.to_path_buf(),
            message: m,
        };
        if self.layers.is_empty() {
            return Err(fail("no dense layer found".into()));
        }
        let mut shape = self.input_shape.clone();
        for f in &self.features {
            if shape != f.in_shape() {
                return Err(fail(format!(
                    "layer `{}` takes inputs of shape {:?} but receives {shape:?}",
                    f.name(),
                    f.in_shape()
                )));
            }
            shape = f.out_shape().to_vec();
            if shape.contains(&0) {
                return Err(fail(format!(
                    "layer `{}`: its window is larger than its input {:?} (padding included): no output",
                    f.name(),
                    f.in_shape()
                )));
            }
        }
        let flat: usize = shape.iter().product();
        if self.layers[0].n_in != flat {
            return Err(fail(format!(
                "layer `{}` takes {} inputs but the layers before it give {flat} ({shape:?})",
                self.layers[0].name, self.layers[0].n_in
            )));
        }
        for (k, l) in self.layers.iter().enumerate() {
            if l.n_in == 0 || l.n_out == 0 {
                return Err(fail(format!(
                    "layer `{}` has {} inputs and {} outputs: a layer needs at least one of each",
                    l.name, l.n_in, l.n_out
                )));
            }
            if l.weight.len() != l.n_in * l.n_out || l.bias.len() != l.n_out {
                return Err(fail(format!(
                    "layer `{}`: weight or bias size does not match [{}, {}]",
                    l.name, l.n_out, l.n_in
                )));
            }
            if let Some(i) = l.weight.iter().position(|x| !x.is_finite()) {
                return Err(fail(format!(
                    "tensor `{}` has a non-finite value ({}) at flat index {i}",
                    l.name, l.weight[i]
                )));
            }
            if let Some(i) = l.bias.iter().position(|x| !x.is_finite()) {
                return Err(fail(format!(
                    "the bias of layer `{}` has a non-finite value at index {i}",
                    l.name
                )));
            }
            if k > 0 && self.layers[k - 1].n_out != l.n_in {
                return Err(fail(format!(
                    "layer `{}` takes {} inputs but layer `{}` gives {} outputs: the shapes do not chain",
                    l.name,
                    l.n_in,
                    self.layers[k - 1].name,
                    self.layers[k - 1].n_out
                )));
            }
        }
        Ok(())
    }
}

/// Index of the first maximum.
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// How 2-D weight tensors are laid out in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `[in, out]` for Keras `kernel` tensors or when only that fits the biases, else `[out, in]`.
    Auto,
    /// PyTorch `nn.Linear`: `[out, in]`.
    OutIn,
    /// Keras `Dense` kernels: `[in, out]`.
    InOut,
}

/// Build the layers from a state dict: `<prefix>.weight` (or `kernel`) and optional
/// `<prefix>.bias`, ordered by `order`, else by numeric prefixes (`nn.Sequential`), else by
/// shape chaining. ReLU on every layer but the last.
pub fn from_state_dict(
    tensors: &Tensors,
    path: &Path,
    order: Option<&[String]>,
    layout: Layout,
) -> Result<Ann> {
    let fail = |m: String| Error::Data {
        path: path.to_path_buf(),
        message: m,
    };
    let mut prefixes: Vec<String> = Vec::new();
    for (name, t) in tensors {
        if let Some(i) = t.data.iter().position(|x| !x.is_finite()) {
            return Err(fail(format!(
                "tensor `{name}` has a non-finite value ({}) at flat index {i}",
                t.data[i]
            )));
        }
        if t.shape.contains(&0) {
            return Err(fail(format!(
                "tensor `{name}` has shape {:?}: a layer needs at least one input and one output",
                t.shape
            )));
        }
        let Some(prefix) = name
            .strip_suffix(".weight")
            .or_else(|| name.strip_suffix(".kernel"))
            .or_else(|| name.strip_suffix("/kernel"))
        else {
            continue;
        };
        match t.shape.len() {
            2 => prefixes.push(prefix.to_string()),
            1 => {} // a normalization layer's weight
            _ => {
                return Err(fail(format!(
                    "tensor `{name}` has shape {:?}; only dense (2-D) layers are supported",
                    t.shape
                )));
            }
        }
    }
    for name in tensors.keys() {
        let prefix = name.rsplit_once(['.', '/']).map_or("", |p| p.0);
        let is_param = name.ends_with(".bias")
            || name.ends_with("/bias")
            || name.ends_with(".weight")
            || name.ends_with(".kernel")
            || name.ends_with("/kernel");
        if !is_param {
            return Err(fail(format!(
                "tensor `{name}` is neither a weight nor a bias of a dense layer"
            )));
        }
        if (name.ends_with("bias")) && !prefixes.iter().any(|p| p == prefix) {
            return Err(fail(format!(
                "bias `{name}` has no matching weight tensor `{prefix}.weight`"
            )));
        }
    }
    if prefixes.is_empty() {
        return Err(fail("no 2-D weight tensor (`<layer>.weight`) found".into()));
    }
    let weight = |p: &str| -> &super::tensors::Tensor {
        [".weight", ".kernel", "/kernel"]
            .iter()
            .find_map(|s| tensors.get(&format!("{p}{s}")))
            .expect("prefix comes from a weight")
    };
    let bias = |p: &str| {
        [".bias", "/bias"]
            .iter()
            .find_map(|s| tensors.get(&format!("{p}{s}")))
    };
    // Layout: Keras names its matrices `kernel` ([in, out]); otherwise PyTorch [out, in],
    // unless only [in, out] fits the biases.
    let fits = |out_in: bool| {
        prefixes.iter().all(|p| {
            let s = &weight(p).shape;
            bias(p).is_none_or(|b| b.data.len() == if out_in { s[0] } else { s[1] })
        })
    };
    let out_in = match layout {
        Layout::OutIn => true,
        Layout::InOut => false,
        Layout::Auto => {
            let keras = tensors.keys().any(|n| n.ends_with("kernel"));
            if keras {
                !fits(false) && fits(true)
            } else {
                fits(true) || !fits(false)
            }
        }
    };
    let dims = |p: &str| {
        let s = &weight(p).shape;
        if out_in { (s[1], s[0]) } else { (s[0], s[1]) }
    };
    if let Some(order) = order {
        for name in order {
            if !prefixes.contains(name) {
                return Err(fail(format!(
                    "layer `{name}` given in the order has no tensor `{name}.weight` (layers: {})",
                    prefixes.join(", ")
                )));
            }
        }
        prefixes = order.to_vec();
    } else {
        let by_name = name_order(&prefixes);
        let chains = |o: &[String]| o.windows(2).all(|w| dims(&w[0]).1 == dims(&w[1]).0);
        prefixes = match by_name {
            Some(order) if chains(&order) => Some(order),
            // Shapes that chain one way outrank names; names that order the layers but
            // whose shapes do not chain leave the check below to say where they break.
            by_name => chain_order(&prefixes, &dims).or(by_name),
        }
        .ok_or_else(|| {
            fail(format!(
                "cannot order the layers {} by their names or shapes; give the order with --layers {}",
                prefixes.join(", "),
                prefixes.join(",")
            ))
        })?;
    }
    let mut layers = Vec::new();
    for (k, p) in prefixes.iter().enumerate() {
        let w = weight(p);
        let mut layer = if out_in {
            DenseLayer::from_out_in(p, w.shape[1], w.shape[0], w.data.clone())
        } else {
            DenseLayer::from_in_out(p, w.shape[0], w.shape[1], &w.data)
        };
        if let Some(b) = [".bias", "/bias"]
            .iter()
            .find_map(|s| tensors.get(&format!("{p}{s}")))
        {
            if b.data.len() != layer.n_out {
                return Err(fail(format!(
                    "bias `{p}.bias` has shape {:?}, expected [{}]",
                    b.shape, layer.n_out
                )));
            }
            layer.bias = b.data.clone();
        }
        layer.relu = k + 1 < prefixes.len();
        layers.push(layer);
    }
    let ann = Ann::dense(layers);
    ann.check(path)?;
    Ok(ann)
}

/// Where a module of this name sits in a network, by the common PyTorch names: feature
/// extractors first (`input`, `conv`, `features`, `layer`, `block`...), then hidden dense layers
/// (`fc`, `linear`, `dense`, `hidden`, and any other name), then the read-out (`classifier`,
/// `head`, `out`, `output`, `logits`, `readout`).
fn stage(word: &str) -> u8 {
    const FIRST: [&str; 10] = [
        "input", "in", "conv", "features", "feature", "layer", "block", "stage", "encoder", "stem",
    ];
    const LAST: [&str; 8] = [
        "classifier",
        "head",
        "out",
        "output",
        "logits",
        "readout",
        "decoder",
        "final",
    ];
    let word = word.to_ascii_lowercase();
    if FIRST.contains(&word.as_str()) {
        0
    } else if LAST.contains(&word.as_str()) {
        2
    } else {
        1
    }
}

/// A name's sort key: per `.`- or `/`-separated part, its stage, its letters and its number
/// (`fc2` → (1, "fc", 2), `layer1.0` → [(0, "layer", 1), (1, "", 0)], `classifier.2` →
/// [(2, "classifier", none), (1, "", 2)]).
fn name_key(name: &str) -> NameKey {
    name.split(['.', '/'])
        .map(|part| {
            let digits = part.len() - part.trim_end_matches(|c: char| c.is_ascii_digit()).len();
            let (word, number) = part.split_at(part.len() - digits);
            let word = word.trim_end_matches('_');
            (stage(word), word.to_string(), number.parse().ok())
        })
        .collect()
}

/// A layer name's sort key (see [`name_key`]).
type NameKey = Vec<(u8, String, Option<u64>)>;

/// Order layers by their names (numbered modules, `fc1`/`fc2`, `features.0`/`classifier.2`,
/// Keras' `dense`/`dense_1`), if that gives each layer its own place and at most one name has
/// neither a number nor a stage.
fn name_order(prefixes: &[String]) -> Option<Vec<String>> {
    let mut keyed: Vec<(NameKey, &String)> = prefixes.iter().map(|p| (name_key(p), p)).collect();
    keyed.sort();
    let distinct = keyed.windows(2).all(|w| w[0].0 != w[1].0);
    // Names that differ only in words (`alpha`, `beta`) say nothing of their order: at most
    // one name may have neither a number nor a stage (`hidden` between `input` and `out`).
    let uninformative = |key: &NameKey| {
        key.iter()
            .all(|(stage, _, number)| number.is_none() && *stage == 1)
    };
    if !distinct || keyed.iter().filter(|(k, _)| uninformative(k)).count() > 1 {
        return None;
    }
    Some(keyed.into_iter().map(|(_, p)| p.clone()).collect())
}

/// Order layers so that `(inputs, outputs)` chain, if exactly one order does.
fn chain_order(prefixes: &[String], dims: &impl Fn(&str) -> (usize, usize)) -> Option<Vec<String>> {
    // Start from the layer whose input no other layer produces.
    let starts: Vec<&String> = prefixes
        .iter()
        .filter(|p| !prefixes.iter().any(|q| q != *p && dims(q).1 == dims(p).0))
        .collect();
    if starts.len() != 1 {
        return None;
    }
    let mut order = vec![starts[0].clone()];
    while order.len() < prefixes.len() {
        let last = dims(order.last()?).1;
        let next: Vec<&String> = prefixes
            .iter()
            .filter(|p| !order.contains(p) && dims(p).0 == last)
            .collect();
        if next.len() != 1 {
            return None;
        }
        order.push(next[0].clone());
    }
    Some(order)
}

#[cfg(test)]
mod tests {
    use super::DenseLayer;

    /// The definition: each output's products summed in input order, one output at a time.
    fn forward_by_definition(layer: &DenseLayer, x: &[f32]) -> Vec<f32> {
        (0..layer.n_out)
            .map(|o| {
                let row = &layer.weight[o * layer.n_in..(o + 1) * layer.n_in];
                let sum: f64 = row
                    .iter()
                    .zip(x)
                    .map(|(&w, &v)| f64::from(w) * f64::from(v))
                    .sum();
                let v = (sum + f64::from(layer.bias[o])) as f32;
                if layer.relu { v.max(0.0) } else { v }
            })
            .collect()
    }

    #[test]
    fn forward_gives_the_bits_of_the_definition() {
        // Weights and inputs of mixed signs and magnitudes, a third of the inputs zero, and a
        // number of outputs that is not a multiple of the rows summed side by side.
        let (n_in, n_out) = (97, 21);
        let value = |k: usize| ((k * 2_654_435_761) % 1000) as f32 / 37.0 - 13.0;
        let weight: Vec<f32> = (0..n_in * n_out).map(|k| value(k) * 1e-3).collect();
        let mut layer = DenseLayer::from_out_in("fc", n_in, n_out, weight);
        layer.bias = (0..n_out).map(|k| value(k + 7) * 1e-2).collect();
        let x: Vec<f32> = (0..n_in)
            .map(|k| if k % 3 == 0 { 0.0 } else { value(k + 3) })
            .collect();
        for relu in [false, true] {
            layer.relu = relu;
            let mut y = vec![0.0; n_out];
            layer.forward(&x, &mut y);
            let expected = forward_by_definition(&layer, &x);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&y), bits(&expected));
            assert!(y.iter().any(|&v| v != 0.0));
            let mut by_rows = vec![1.0; n_out];
            layer.forward_input_major(&layer.input_major(), &x, &mut by_rows);
            assert_eq!(bits(&by_rows), bits(&y), "input-major");
        }
    }
}
