//! Lowering a path `[SumPool2d | AvgPool2d] [Flatten] (Conv2d | Affine | Linear)` onto one
//! kernel projection (`rule = "conv"`): the kernel is stored once, a sum pooling becomes an
//! average pooling whose divisor (the window's area) is folded into the weights.

use super::graph::Node;
use super::lower::{Kernel, Population, Synapses, text};

type Outcome<T> = std::result::Result<T, String>;

/// A pair parameter (`stride`, `dilation`, `kernel_size`): a number or two.
fn pair(node: &Node, name: &str, default: usize) -> Outcome<[usize; 2]> {
    let Some(a) = node.array(name) else {
        return Ok([default; 2]);
    };
    let whole = |v: f64| (v >= 0.0 && v.fract() == 0.0 && v < 1e6).then_some(v as usize);
    let values: Option<Vec<usize>> = a.values.iter().map(|&v| whole(v)).collect();
    match values.as_deref() {
        Some([x]) => Ok([*x; 2]),
        Some([r, c]) => Ok([*r, *c]),
        _ => Err(format!(
            "node `{}` ({}): `{name}` = {:?}, expected one or two whole numbers",
            node.name, node.kind, a.values
        )),
    }
}

/// The `[top, left, bottom, right]` padding of a node for a window `kernel` (dilated) over
/// `input` `[H, W]` with `stride`: numbers, or `"same"` / `"valid"`.
fn padding(
    node: &Node,
    kernel: [usize; 2],
    input: [usize; 2],
    stride: [usize; 2],
) -> Outcome<[usize; 4]> {
    match text(node, "padding") {
        Some("valid") => return Ok([0; 4]),
        Some("same") => {
            // PyTorch's `padding="same"` (stride 1): the extra row or column at the end.
            if stride != [1, 1] {
                return Err(format!(
                    "node `{}`: padding \"same\" needs stride 1, got {stride:?}",
                    node.name
                ));
            }
            let total = [kernel[0] - 1, kernel[1] - 1];
            return Ok([
                total[0] / 2,
                total[1] / 2,
                total[0] - total[0] / 2,
                total[1] - total[1] / 2,
            ]);
        }
        Some(other) => {
            return Err(format!(
                "node `{}`: padding \"{other}\", expected numbers, \"same\" or \"valid\"",
                node.name
            ));
        }
        None => {}
    }
    let _ = input;
    let [r, c] = pair(node, "padding", 0)?;
    Ok([r, c, r, c])
}

/// The output size of a window of `kernel` (already dilated) along one axis.
fn out_len(input: usize, pad: (usize, usize), kernel: usize, stride: usize) -> Option<usize> {
    let padded = input + pad.0 + pad.1;
    (stride > 0 && padded >= kernel).then(|| (padded - kernel) / stride + 1)
}

/// The kernel projection of the path `nodes` (the nodes after the source population) from
/// `src` into `tgt`, and the bias it brings (per target neuron).
pub(super) fn lower_kernel(
    nodes: &[&Node],
    src: &Population,
    tgt: &Population,
) -> Outcome<(Synapses, Vec<f64>)> {
    let mut shape = source_shape(nodes, src)?;
    let input = shape;
    let mut pool = None;
    let mut pool_area = 1.0;
    let mut flat = false;
    let mut weighted: Option<&Node> = None;
    for &node in nodes {
        match node.kind.as_str() {
            "Input" | "Output" => {}
            "Flatten" => flat = true,
            "SumPool2d" | "AvgPool2d" if pool.is_none() && weighted.is_none() && !flat => {
                let kernel = pair(node, "kernel_size", 1)?;
                let stride = pair(node, "stride", kernel[0])?;
                let stride = if node.array("stride").is_some() {
                    stride
                } else {
                    kernel
                };
                let pad = padding(node, kernel, [shape[1], shape[2]], stride)?;
                let rows = out_len(shape[1], (pad[0], pad[2]), kernel[0], stride[0]);
                let cols = out_len(shape[2], (pad[1], pad[3]), kernel[1], stride[1]);
                let (Some(rows), Some(cols)) = (rows, cols) else {
                    return Err(format!(
                        "the pooling `{}` does not fit its input {shape:?}",
                        node.name
                    ));
                };
                if node.kind == "SumPool2d" {
                    pool_area = (kernel[0] * kernel[1]) as f64;
                }
                pool = Some((kernel, stride, pad));
                shape = [shape[0], rows, cols];
            }
            "Conv2d" | "Conv1d" | "Affine" | "Linear" if weighted.is_none() => {
                weighted = Some(node)
            }
            _ => {
                return Err(format!(
                    "`{}` ({}) here: a kernel path is at most one pooling, a flatten and one Conv2d, Affine or Linear",
                    node.name, node.kind
                ));
            }
        }
    }
    let node = weighted.ok_or("a pooling must be followed by a Conv2d, Affine or Linear")?;
    let weight = node
        .array("weight")
        .ok_or_else(|| format!("node `{}` has no `weight`", node.name))?;
    let (kernel, out_shape, per_channel) = if node.kind == "Conv1d" {
        if flat || pool.is_some() {
            return Err(format!(
                "a Flatten or pooling before the Conv1d `{}`",
                node.name
            ));
        }
        conv1d(node, &weight.shape, shape)?
    } else if node.kind == "Conv2d" {
        if flat {
            return Err(format!("a Flatten before the Conv2d `{}`", node.name));
        }
        conv(node, &weight.shape, shape, pool.map_or(input, |_| shape))?
    } else {
        let [out, inp] = weight.shape[..] else {
            return Err(format!(
                "node `{}`: weight shape {:?}, expected [out, in]",
                node.name, weight.shape
            ));
        };
        if inp != shape.iter().product::<usize>() {
            return Err(format!(
                "node `{}`: weight [{out}, {inp}] on {shape:?} = {} values",
                node.name,
                shape.iter().product::<usize>()
            ));
        }
        (
            Kernel {
                shape: vec![out, inp],
                weights: Vec::new(),
                input,
                stride: [1, 1],
                padding: [0; 4],
                dilation: [1, 1],
                groups: 1,
                pool: None,
            },
            vec![out],
            1,
        )
    };
    let outputs: usize = out_shape.iter().product();
    if outputs != tgt.size() {
        return Err(format!(
            "it carries {out_shape:?} = {outputs} values into `{}`, which has {} neurons",
            tgt.node,
            tgt.size()
        ));
    }
    if tgt.model == Some(super::lower::Model::LifExp) {
        return Err(format!(
            "a convolution into the CubaLIF `{}` (its two synaptic currents need weights of one sign each)",
            tgt.node
        ));
    }
    let channels = out_shape[0];
    let factor = channel_factors(tgt, channels, per_channel)?;
    let per_out = weight.values.len() / channels.max(1);
    let weights = weight
        .values
        .chunks(per_out.max(1))
        .zip(&factor)
        .flat_map(|(row, f)| row.iter().map(move |w| w * f * pool_area))
        .collect();
    let bias = match node.array("bias") {
        Some(b) if b.values.len() == channels => b
            .values
            .iter()
            .flat_map(|&x| std::iter::repeat_n(x, per_channel))
            .collect(),
        Some(b) => {
            return Err(format!(
                "node `{}`: {} biases for {channels} outputs",
                node.name,
                b.values.len()
            ));
        }
        None => vec![0.0; outputs],
    };
    Ok((
        Synapses::Kernel(Box::new(Kernel {
            weights,
            input,
            pool,
            ..kernel
        })),
        bias,
    ))
}

/// The source's `[C, H, W]`: its own shape, or its size laid out by the first node's
/// `input_shape` (`[H, W]`).
fn source_shape(nodes: &[&Node], src: &Population) -> Outcome<[usize; 3]> {
    if let [c, h, w] = src.shape[..] {
        return Ok([c, h, w]);
    }
    // `[C, L]` for a Conv1d: one row.
    if let ([c, l], true) = (&src.shape[..], nodes.iter().any(|n| n.kind == "Conv1d")) {
        return Ok([*c, 1, *l]);
    }
    let first = nodes.iter().find(|n| n.array("input_shape").is_some());
    if let Some(n) = first {
        let hw = pair(n, "input_shape", 1)?;
        let area = hw[0] * hw[1];
        if area > 0 && src.size().is_multiple_of(area) {
            return Ok([src.size() / area, hw[0], hw[1]]);
        }
    }
    Err(format!(
        "the source `{}` has shape {:?}; a convolution or pooling needs [channels, rows, cols]",
        src.node, src.shape
    ))
}

/// A Conv2d's kernel (weights to fill), its output shape and its positions per channel.
fn conv(
    node: &Node,
    wshape: &[usize],
    shape: [usize; 3],
    _input: [usize; 3],
) -> Outcome<(Kernel, Vec<usize>, usize)> {
    let [out, per_group, kh, kw] = wshape[..] else {
        return Err(format!(
            "node `{}`: weight shape {wshape:?}, expected [out, in / groups, rows, cols]",
            node.name
        ));
    };
    let groups = groups(node, wshape, (out, per_group), shape[0])?;
    let stride = pair(node, "stride", 1)?;
    let dilation = pair(node, "dilation", 1)?;
    let reach = [dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1];
    let pad = padding(node, reach, [shape[1], shape[2]], stride)?;
    let rows = out_len(shape[1], (pad[0], pad[2]), reach[0], stride[0]);
    let cols = out_len(shape[2], (pad[1], pad[3]), reach[1], stride[1]);
    let (Some(rows), Some(cols)) = (rows, cols) else {
        return Err(format!(
            "the Conv2d `{}` does not fit its input {shape:?}",
            node.name
        ));
    };
    Ok((
        Kernel {
            shape: wshape.to_vec(),
            weights: Vec::new(),
            input: shape,
            stride,
            padding: pad,
            dilation,
            groups,
            pool: None,
        },
        vec![out, rows, cols],
        rows * cols,
    ))
}

/// The target's jump factor per output channel: one value for the channel's positions.
fn channel_factors(tgt: &Population, channels: usize, per_channel: usize) -> Outcome<Vec<f64>> {
    tgt.jump
        .chunks(per_channel)
        .take(channels)
        .enumerate()
        .map(|(c, f)| {
            if f.iter().all(|x| *x == f[0]) {
                Ok(f[0])
            } else {
                Err(format!(
                    "the neurons of channel {c} of `{}` have different R (or R / tau): a shared kernel needs one per channel",
                    tgt.node
                ))
            }
        })
        .collect()
}

/// A Conv1d on `[C, 1, L]` as a convolution of one row: its kernel `[out, in / groups, 1, k]`,
/// output shape and positions per channel.
fn conv1d(
    node: &Node,
    wshape: &[usize],
    shape: [usize; 3],
) -> Outcome<(Kernel, Vec<usize>, usize)> {
    let [out, per_group, k] = wshape[..] else {
        return Err(format!(
            "node `{}`: weight shape {wshape:?}, expected [out, in / groups, width]",
            node.name
        ));
    };
    let number = |name: &str, default: usize| -> Outcome<usize> {
        let [a, b] = pair(node, name, default)?;
        if a == b {
            Ok(a)
        } else {
            Err(format!("node `{}`: `{name}` has two values", node.name))
        }
    };
    let (stride, dilation) = (number("stride", 1)?, number("dilation", 1)?);
    let reach = dilation * (k.max(1) - 1) + 1;
    let pad = match text(node, "padding") {
        Some("valid") => (0, 0),
        Some("same") if stride == 1 => ((reach - 1) / 2, reach - 1 - (reach - 1) / 2),
        Some(other) => {
            return Err(format!(
                "node `{}`: padding \"{other}\" with stride {stride}",
                node.name
            ));
        }
        None => {
            let p = number("padding", 0)?;
            (p, p)
        }
    };
    let groups = groups(node, wshape, (out, per_group), shape[0])?;
    let len = out_len(shape[2], pad, reach, stride).ok_or_else(|| {
        format!(
            "the Conv1d `{}` does not fit its input {:?}",
            node.name,
            [shape[0], shape[2]]
        )
    })?;
    Ok((
        Kernel {
            shape: vec![out, per_group, 1, k],
            weights: Vec::new(),
            input: shape,
            stride: [1, stride],
            padding: [0, pad.0, 0, pad.1],
            dilation: [1, dilation],
            groups,
            pool: None,
        },
        vec![out, 1, len],
        len,
    ))
}

/// A convolution's `groups` (default 1), checked against its weight `[out, per_group, ...]`
/// and the input's `channels`.
fn groups(
    node: &Node,
    wshape: &[usize],
    (out, per_group): (usize, usize),
    channels: usize,
) -> Outcome<usize> {
    let groups = node
        .array("groups")
        .and_then(|g| g.values.first().copied())
        .unwrap_or(1.0);
    if !(groups >= 1.0 && groups.fract() == 0.0 && groups < 1e6) {
        return Err(format!("node `{}`: groups = {groups}", node.name));
    }
    let groups = groups as usize;
    if per_group * groups != channels || !out.is_multiple_of(groups) {
        return Err(format!(
            "node `{}`: weight {wshape:?} with {groups} groups on {channels} input channels",
            node.name
        ));
    }
    Ok(groups)
}
