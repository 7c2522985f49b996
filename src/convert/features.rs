//! The feature layers of a convolutional ANN: 2-D convolutions (strides, padding, dilation,
//! groups) and average pooling, on `[channels, rows, cols]` activations stored row-major, the
//! layout PyTorch flattens into the dense layers that follow.
//!
//! The forward pass sums in `f64` and rounds each output to `f32`, as the dense layers do.

/// A 2-D convolution `y[o] = b[o] + Σ_c Σ_k w[o, c, k] x[c, at(k)]`, then ReLU if it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv2d {
    /// Name of its weight tensor.
    pub name: String,
    /// Input `[channels, rows, cols]`.
    pub in_shape: [usize; 3],
    /// Output channels.
    pub out_channels: usize,
    /// Kernel `[rows, cols]`.
    pub kernel: [usize; 2],
    /// Strides `[rows, cols]`.
    pub stride: [usize; 2],
    /// Zero padding `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    /// Dilation `[rows, cols]`.
    pub dilation: [usize; 2],
    /// Groups: input and output channels split into this many independent convolutions.
    pub groups: usize,
    /// `[out_channels, in_channels / groups, kernel rows, kernel cols]` row-major.
    pub weight: Vec<f32>,
    /// `[out_channels]`.
    pub bias: Vec<f32>,
    /// ReLU after this layer.
    pub relu: bool,
}

/// Average pooling over windows (zero padding not counted unless `count_include_pad`).
#[derive(Debug, Clone, PartialEq)]
pub struct AvgPool2d {
    /// Name of its node.
    pub name: String,
    /// Input `[channels, rows, cols]`.
    pub in_shape: [usize; 3],
    /// Window `[rows, cols]`.
    pub kernel: [usize; 2],
    /// Strides `[rows, cols]`.
    pub stride: [usize; 2],
    /// Zero padding `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    /// Whether padded positions count in the divisor (ONNX `count_include_pad`).
    pub count_include_pad: bool,
}

/// One feature layer.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureLayer {
    /// A convolution (a layer of neurons once converted).
    Conv(Conv2d),
    /// Average pooling (linear: no neurons of its own).
    AvgPool(AvgPool2d),
}

/// Output length of a window sliding over `len` positions (PyTorch's and ONNX's formula, floor
/// rounding); `None` if the window does not fit once.
pub fn output_len(
    len: usize,
    pad: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
) -> Option<usize> {
    let span = dilation
        .checked_mul(kernel.checked_sub(1)?)?
        .checked_add(1)?;
    let padded = len.checked_add(pad)?;
    Some(padded.checked_sub(span)? / stride.max(1) + 1)
}

/// The input position of output `out` and kernel offset `k`, if it is inside the input (not in
/// the padding).
#[inline]
fn source(
    out: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    pad: usize,
    len: usize,
) -> Option<usize> {
    (out * stride + k * dilation)
        .checked_sub(pad)
        .filter(|&i| i < len)
}

impl Conv2d {
    /// Output `[channels, rows, cols]`.
    pub fn out_shape(&self) -> [usize; 3] {
        let [_, h, w] = self.in_shape;
        let rows = output_len(
            h,
            self.pads[0] + self.pads[2],
            self.kernel[0],
            self.stride[0],
            self.dilation[0],
        );
        let cols = output_len(
            w,
            self.pads[1] + self.pads[3],
            self.kernel[1],
            self.stride[1],
            self.dilation[1],
        );
        [self.out_channels, rows.unwrap_or(0), cols.unwrap_or(0)]
    }

    /// `y = conv(x) + b`, then ReLU if the layer has one.
    pub fn forward(&self, x: &[f32], y: &mut [f32]) {
        let [c_in, h, w] = self.in_shape;
        let [c_out, oh, ow] = self.out_shape();
        let [kh, kw] = self.kernel;
        let per_group_in = c_in / self.groups;
        let per_group_out = c_out / self.groups;
        for o in 0..c_out {
            let group = o / per_group_out;
            let kernel = &self.weight[o * per_group_in * kh * kw..(o + 1) * per_group_in * kh * kw];
            for r in 0..oh {
                for c in 0..ow {
                    let mut sum = 0f64;
                    for ci in 0..per_group_in {
                        let channel = &x[(group * per_group_in + ci) * h * w..][..h * w];
                        for i in 0..kh {
                            let Some(row) =
                                source(r, i, self.stride[0], self.dilation[0], self.pads[0], h)
                            else {
                                continue;
                            };
                            for j in 0..kw {
                                let Some(col) =
                                    source(c, j, self.stride[1], self.dilation[1], self.pads[1], w)
                                else {
                                    continue;
                                };
                                let wk = kernel[(ci * kh + i) * kw + j];
                                sum += f64::from(wk) * f64::from(channel[row * w + col]);
                            }
                        }
                    }
                    let v = (sum + f64::from(self.bias[o])) as f32;
                    y[(o * oh + r) * ow + c] = if self.relu { v.max(0.0) } else { v };
                }
            }
        }
    }

    /// Multiply-accumulates of one forward pass: every kernel weight at every output position
    /// where it meets the input (not the padding); bias adds not included.
    pub fn macs(&self) -> u64 {
        let [c_in, h, w] = self.in_shape;
        let [c_out, oh, ow] = self.out_shape();
        let taps = |out: usize, k: usize, axis: usize, len: usize| {
            (0..out)
                .flat_map(|o| (0..k).map(move |i| (o, i)))
                .filter(|&(o, i)| {
                    source(
                        o,
                        i,
                        self.stride[axis],
                        self.dilation[axis],
                        self.pads[axis],
                        len,
                    )
                    .is_some()
                })
                .count() as u64
        };
        let rows = taps(oh, self.kernel[0], 0, h);
        let cols = taps(ow, self.kernel[1], 1, w);
        (c_out * (c_in / self.groups)) as u64 * rows * cols
    }
}

impl AvgPool2d {
    /// Output `[channels, rows, cols]`.
    pub fn out_shape(&self) -> [usize; 3] {
        let [c, h, w] = self.in_shape;
        let rows = output_len(
            h,
            self.pads[0] + self.pads[2],
            self.kernel[0],
            self.stride[0],
            1,
        );
        let cols = output_len(
            w,
            self.pads[1] + self.pads[3],
            self.kernel[1],
            self.stride[1],
            1,
        );
        [c, rows.unwrap_or(0), cols.unwrap_or(0)]
    }

    /// The mean over each window.
    pub fn forward(&self, x: &[f32], y: &mut [f32]) {
        let [channels, h, w] = self.in_shape;
        let [_, oh, ow] = self.out_shape();
        let [kh, kw] = self.kernel;
        for ch in 0..channels {
            let plane = &x[ch * h * w..][..h * w];
            for r in 0..oh {
                for c in 0..ow {
                    let (mut sum, mut count) = (0f64, 0usize);
                    for i in 0..kh {
                        let Some(row) = source(r, i, self.stride[0], 1, self.pads[0], h) else {
                            continue;
                        };
                        for j in 0..kw {
                            let Some(col) = source(c, j, self.stride[1], 1, self.pads[1], w) else {
                                continue;
                            };
                            sum += f64::from(plane[row * w + col]);
                            count += 1;
                        }
                    }
                    let divisor = if self.count_include_pad {
                        kh * kw
                    } else {
                        count.max(1)
                    };
                    y[(ch * oh + r) * ow + c] = (sum / divisor as f64) as f32;
                }
            }
        }
    }
}

impl FeatureLayer {
    /// Name of the layer (its weight tensor or node).
    pub fn name(&self) -> &str {
        match self {
            FeatureLayer::Conv(c) => &c.name,
            FeatureLayer::AvgPool(p) => &p.name,
        }
    }

    /// Input `[channels, rows, cols]`.
    pub fn in_shape(&self) -> [usize; 3] {
        match self {
            FeatureLayer::Conv(c) => c.in_shape,
            FeatureLayer::AvgPool(p) => p.in_shape,
        }
    }

    /// Output `[channels, rows, cols]`.
    pub fn out_shape(&self) -> [usize; 3] {
        match self {
            FeatureLayer::Conv(c) => c.out_shape(),
            FeatureLayer::AvgPool(p) => p.out_shape(),
        }
    }

    /// The layer's output for one input.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        let mut y = vec![0.0; self.out_shape().iter().product()];
        match self {
            FeatureLayer::Conv(c) => c.forward(x, &mut y),
            FeatureLayer::AvgPool(p) => p.forward(x, &mut y),
        }
        y
    }

    /// Multiply-accumulates of one forward pass (0 for pooling, whose adds are not MACs).
    pub fn macs(&self) -> u64 {
        match self {
            FeatureLayer::Conv(c) => c.macs(),
            FeatureLayer::AvgPool(_) => 0,
        }
    }

    /// Sets the ReLU after this layer; false for a layer that cannot carry one (pooling).
    pub fn set_relu(&mut self) -> bool {
        match self {
            FeatureLayer::Conv(c) => {
                c.relu = true;
                true
            }
            FeatureLayer::AvgPool(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(in_shape: [usize; 3], out_channels: usize, kernel: usize, weight: Vec<f32>) -> Conv2d {
        Conv2d {
            name: "c".into(),
            in_shape,
            out_channels,
            kernel: [kernel, kernel],
            stride: [1, 1],
            pads: [0; 4],
            dilation: [1, 1],
            groups: 1,
            bias: vec![0.0; out_channels],
            weight,
            relu: false,
        }
    }

    /// Every output of a convolution is the sum of the kernel over its window, computed here
    /// position by position from the definition with explicit padding.
    #[test]
    fn convolution_matches_its_definition_with_stride_padding_and_dilation() {
        let x: Vec<f32> = (0..2 * 5 * 6)
            .map(|k| ((k * 7) % 11) as f32 - 5.0)
            .collect();
        let weight: Vec<f32> = (0..3 * 2 * 3 * 3)
            .map(|k| ((k * 5) % 7) as f32 * 0.25 - 0.75)
            .collect();
        let mut c = conv([2, 5, 6], 3, 3, weight.clone());
        c.stride = [2, 1];
        c.pads = [1, 2, 0, 1];
        c.dilation = [1, 2];
        c.bias = vec![0.5, -1.0, 0.0];
        let [oc, oh, ow] = c.out_shape();
        // Rows: (5 + 1 - 3) / 2 + 1 = 2; cols: (6 + 3 - 5) / 1 + 1 = 5.
        assert_eq!([oc, oh, ow], [3, 2, 5]);
        let mut y = vec![0.0; oc * oh * ow];
        c.forward(&x, &mut y);
        let padded = |ch: usize, r: isize, col: isize| -> f64 {
            if r < 0 || col < 0 || r >= 5 || col >= 6 {
                0.0
            } else {
                f64::from(x[(ch * 5 + r as usize) * 6 + col as usize])
            }
        };
        for o in 0..oc {
            for r in 0..oh {
                for col in 0..ow {
                    let mut s = f64::from(c.bias[o]);
                    for ch in 0..2 {
                        for i in 0..3 {
                            for j in 0..3 {
                                let rr = (r * 2 + i) as isize - 1;
                                let cc = (col + 2 * j) as isize - 2;
                                s += f64::from(weight[((o * 2 + ch) * 3 + i) * 3 + j])
                                    * padded(ch, rr, cc);
                            }
                        }
                    }
                    assert_eq!(y[(o * oh + r) * ow + col], s as f32, "output {o} {r} {col}");
                }
            }
        }
        // MACs: the taps that meet the input. Rows: outputs 0 and 1 take rows -1..1 and 1..3:
        // 2 + 3 taps; cols: output c takes c - 2, c, c + 2 within 0..6.
        let row_taps = 2 + 3;
        let col_taps: usize = (0..5)
            .map(|c: isize| {
                [c - 2, c, c + 2]
                    .iter()
                    .filter(|&&k| (0..6).contains(&k))
                    .count()
            })
            .sum();
        assert_eq!(c.macs(), (3 * 2 * row_taps * col_taps) as u64);
    }

    #[test]
    fn grouped_convolution_keeps_channels_apart() {
        // Depthwise: two channels, two groups, a 1x1 kernel scaling each channel.
        let mut c = conv([2, 1, 2], 2, 1, vec![2.0, -3.0]);
        c.groups = 2;
        let mut y = vec![0.0; 4];
        c.forward(&[1.0, 2.0, 10.0, 20.0], &mut y);
        assert_eq!(y, [2.0, 4.0, -30.0, -60.0]);
        c.relu = true;
        c.forward(&[1.0, 2.0, 10.0, 20.0], &mut y);
        assert_eq!(y, [2.0, 4.0, 0.0, 0.0]);
    }

    #[test]
    fn average_pooling_divides_by_the_window_or_its_inside() {
        let x: Vec<f32> = (1..=9).map(|k| k as f32).collect();
        let mut p = AvgPool2d {
            name: "p".into(),
            in_shape: [1, 3, 3],
            kernel: [2, 2],
            stride: [2, 2],
            pads: [0; 4],
            count_include_pad: false,
        };
        assert_eq!(p.out_shape(), [1, 1, 1]);
        let mut y = vec![0.0; 1];
        p.forward(&x, &mut y);
        assert_eq!(y, [3.0]); // (1 + 2 + 4 + 5) / 4
        p.pads = [0, 0, 1, 1];
        assert_eq!(p.out_shape(), [1, 2, 2]);
        let mut y = vec![0.0; 4];
        p.forward(&x, &mut y);
        assert_eq!(y, [3.0, 4.5, 7.5, 9.0]);
        p.count_include_pad = true;
        p.forward(&x, &mut y);
        assert_eq!(y, [3.0, 2.25, 3.75, 2.25]);
    }

    #[test]
    fn windows_that_do_not_fit_give_no_output() {
        assert_eq!(output_len(4, 0, 5, 1, 1), None);
        assert_eq!(output_len(28, 0, 5, 1, 1), Some(24));
        assert_eq!(output_len(24, 0, 2, 2, 1), Some(12));
        assert_eq!(output_len(7, 2, 3, 2, 2), Some(3));
    }
}
