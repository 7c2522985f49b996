//! The layers of neurons of a converted network: every convolution and every dense layer of
//! the ANN becomes a population of IF neurons. Average poolings have no neurons of their
//! own: they are linear, so each folds into the projection of the layer after it (see
//! [`crate::network::kernel`]), which then delivers a spike through every pooled position
//! that holds it.

use super::ann::{Ann, DenseLayer};
use super::features::{AvgPool2d, Conv2d, FeatureLayer};
use crate::network::kernel::Axis;

/// The weights of one layer of neurons.
#[derive(Debug, Clone, Copy)]
pub enum Stage<'a> {
    /// A convolution.
    Conv(&'a Conv2d),
    /// A dense layer (after a flatten, for the first one after feature layers).
    Dense(&'a DenseLayer),
}

/// One layer of neurons with the average pooling of its input, if any.
#[derive(Debug, Clone)]
pub struct NeuronLayer<'a> {
    /// Its weights.
    pub stage: Stage<'a>,
    /// The average pooling before it, folded into its projection.
    pub pool: Option<&'a AvgPool2d>,
    /// The shape of its input, after the pooling: `[channels, rows, cols]` or `[inputs]`.
    pub input: Vec<usize>,
}

impl NeuronLayer<'_> {
    /// Name of the layer in the model file.
    pub fn name(&self) -> &str {
        match self.stage {
            Stage::Conv(c) => &c.name,
            Stage::Dense(d) => &d.name,
        }
    }

    /// Neurons.
    pub fn neurons(&self) -> usize {
        match self.stage {
            Stage::Conv(c) => c.out_shape().iter().product(),
            Stage::Dense(d) => d.n_out,
        }
    }

    /// Multiply-accumulates of one forward pass.
    pub fn macs(&self) -> u64 {
        match self.stage {
            Stage::Conv(c) => c.macs(),
            Stage::Dense(d) => d.macs(),
        }
    }

    /// Weights stored: a convolution's kernel once, a dense layer's matrix.
    pub fn weights(&self) -> u64 {
        match self.stage {
            Stage::Conv(c) => c.weight.len() as u64,
            Stage::Dense(d) => d.weight.len() as u64,
        }
    }

    /// Additions of one forward pass outside the MACs: a bias per neuron, and the sums of the
    /// pooling before it (its divisions counted as additions too: one per pooled output).
    pub fn adds(&self) -> u64 {
        let pool = self.pool.map_or(0, |p| {
            let [c, oh, ow] = p.out_shape();
            let taps = |a: &Axis| (0..a.output).map(|o| u64::from(a.inside(o))).sum::<u64>();
            let (rows, cols) = pool_axes(p);
            c as u64 * taps(&rows) * taps(&cols) + (c * oh * ow) as u64
        });
        self.neurons() as u64 + pool
    }

    /// Per input position (after the pooling): the multiply-accumulates it takes part in.
    pub fn fan_outs(&self) -> Vec<u64> {
        match self.stage {
            Stage::Dense(d) => vec![d.n_out as u64; d.n_in],
            Stage::Conv(c) => {
                let [channels, h, w] = c.in_shape;
                let [out, _, _] = c.out_shape();
                let (rows, cols) = conv_axes(c);
                let mut taps = Vec::new();
                let mut count = |a: &Axis, i: usize| {
                    a.taps(i as u32, &mut taps);
                    taps.len() as u64
                };
                let row_taps: Vec<u64> = (0..h).map(|y| count(&rows, y)).collect();
                let col_taps: Vec<u64> = (0..w).map(|x| count(&cols, x)).collect();
                let per_group = (out / c.groups) as u64;
                (0..channels * h * w)
                    .map(|s| per_group * row_taps[s / w % h] * col_taps[s % w])
                    .collect()
            }
        }
    }
}

/// The sliding-window axes of a convolution.
pub fn conv_axes(c: &Conv2d) -> (Axis, Axis) {
    window_axes(c.in_shape, c.kernel, c.stride, c.pads, c.dilation)
}

/// The sliding-window axes of an average pooling.
pub fn pool_axes(p: &AvgPool2d) -> (Axis, Axis) {
    window_axes(p.in_shape, p.kernel, p.stride, p.pads, [1, 1])
}

/// Rows and columns of a window over `[channels, rows, cols]` with padding
/// `[top, left, bottom, right]`.
fn window_axes(
    in_shape: [usize; 3],
    kernel: [usize; 2],
    stride: [usize; 2],
    pads: [usize; 4],
    dilation: [usize; 2],
) -> (Axis, Axis) {
    let axis = |a: usize| {
        Axis::new(
            in_shape[a + 1] as u32,
            kernel[a] as u32,
            stride[a] as u32,
            (pads[a] as u32, pads[a + 2] as u32),
            dilation[a] as u32,
        )
        .expect("a checked ANN's windows fit")
    };
    (axis(0), axis(1))
}

impl Ann {
    /// The layers of neurons, input first; an error names a pooling that cannot fold into a
    /// next layer (two in a row, or one at the end).
    pub fn neuron_layers(&self) -> Result<Vec<NeuronLayer<'_>>, String> {
        let mut out = Vec::new();
        let mut pool: Option<&AvgPool2d> = None;
        for f in &self.features {
            match f {
                FeatureLayer::AvgPool(p) => {
                    if let Some(before) = pool {
                        return Err(format!(
                            "pooling layers `{}` and `{}` follow each other: synops folds a pooling into the layer after it, one at a time; merge them into one pooling",
                            before.name, p.name
                        ));
                    }
                    pool = Some(p);
                }
                FeatureLayer::Conv(c) => out.push(NeuronLayer {
                    stage: Stage::Conv(c),
                    pool: pool.take(),
                    input: c.in_shape.to_vec(),
                }),
            }
        }
        for (k, d) in self.layers.iter().enumerate() {
            out.push(NeuronLayer {
                stage: Stage::Dense(d),
                pool: if k == 0 { pool.take() } else { None },
                input: vec![d.n_in],
            });
        }
        Ok(out)
    }

    /// The outputs of every layer of neurons for one input (convolutions after their ReLU,
    /// then the dense layers), with the inputs each layer read (after its pooling).
    pub fn neuron_passes(&self, x: &[f32]) -> Vec<(Vec<f32>, Vec<f32>)> {
        self.neuron_passes_with(x, None)
    }

    /// [`Self::neuron_passes`], the dense layers with their weights input-major when `dense`
    /// gives them (one per dense layer, from [`DenseLayer::input_major`]): the same bits,
    /// faster on inputs with many zeros.
    pub fn neuron_passes_with(
        &self,
        x: &[f32],
        dense: Option<&[super::ann::InputMajor]>,
    ) -> Vec<(Vec<f32>, Vec<f32>)> {
        let mut passes = Vec::new();
        let mut current = x.to_vec();
        for f in &self.features {
            let y = f.forward(&current);
            if matches!(f, FeatureLayer::Conv(_)) {
                passes.push((std::mem::take(&mut current), y.clone()));
            }
            current = y;
        }
        for (k, layer) in self.layers.iter().enumerate() {
            let mut y = vec![0.0; layer.n_out];
            match dense {
                Some(w) => layer.forward_input_major(&w[k], &current, &mut y),
                None => layer.forward(&current, &mut y),
            }
            passes.push((std::mem::take(&mut current), y.clone()));
            current = y;
        }
        passes
    }

    /// The outputs of every layer of neurons for one input (see [`Self::neuron_passes`]).
    pub fn neuron_outputs(&self, x: &[f32]) -> Vec<Vec<f32>> {
        self.neuron_passes(x).into_iter().map(|p| p.1).collect()
    }

    /// Scale every layer of neurons: `f(k, weights, biases)` for the `k`-th, in order.
    pub fn scale_neuron_layers(&mut self, mut f: impl FnMut(usize, &mut [f32], &mut [f32])) {
        let mut k = 0;
        for feature in &mut self.features {
            if let FeatureLayer::Conv(c) = feature {
                f(k, &mut c.weight, &mut c.bias);
                k += 1;
            }
        }
        for d in &mut self.layers {
            f(k, &mut d.weight, &mut d.bias);
            k += 1;
        }
    }

    /// This network with the ReLU of its `k`-th layer of neurons taken away: its outputs
    /// there are the layer's pre-activations.
    pub fn linear_at(&self, k: usize) -> Ann {
        let mut ann = self.clone();
        let convs = (ann.features.iter_mut()).filter_map(|f| match f {
            FeatureLayer::Conv(c) => Some(&mut c.relu),
            FeatureLayer::AvgPool(_) => None,
        });
        let dense = ann.layers.iter_mut().map(|d| &mut d.relu);
        if let Some(relu) = convs.chain(dense).nth(k) {
            *relu = false;
        }
        ann
    }

    /// Rename every layer of neurons: `name(k)` for the `k`-th.
    pub fn rename_neuron_layers(&mut self, name: impl Fn(usize) -> String) {
        let mut k = 0;
        for feature in &mut self.features {
            if let FeatureLayer::Conv(c) = feature {
                c.name = name(k);
                k += 1;
            }
        }
        for d in &mut self.layers {
            d.name = name(k);
            k += 1;
        }
    }
}
