//! The `conv` rule: a convolution kernel (with a folded average pooling) read from its tensor,
//! its geometry checked against the source and target populations.

use super::projections::read_tensor;
use super::*;
use crate::network::kernel::{Axis, Kernel, KernelScratch, Pool};

/// The largest extent of one axis, padding included, and of a window or stride.
const MAX_EXTENT: u64 = 1 << 24;

/// The geometry of a `conv` connectivity, as the network file gives it.
pub(super) struct ConvGeometry<'s> {
    pub file: &'s str,
    pub tensor: &'s str,
    pub input: &'s [u64],
    pub stride: Option<&'s [u64]>,
    pub padding: Option<&'s [u64]>,
    pub dilation: Option<&'s [u64]>,
    pub groups: Option<u64>,
    pub pool: Option<&'s PoolSpec>,
    pub drop_zeros: bool,
    pub weight_scale: Option<&'s str>,
}

impl<'s> ConvGeometry<'s> {
    /// The geometry of `spec`, if it is a `conv` rule.
    pub fn of(spec: &'s ConnectivitySpec) -> Option<Self> {
        let ConnectivitySpec::Conv {
            file,
            tensor,
            input,
            stride,
            padding,
            dilation,
            groups,
            pool,
            drop_zeros,
            weight_scale,
        } = spec
        else {
            return None;
        };
        Some(ConvGeometry {
            file,
            tensor,
            input,
            stride: stride.as_deref(),
            padding: padding.as_deref(),
            dilation: dilation.as_deref(),
            groups: *groups,
            pool: pool.as_ref(),
            drop_zeros: *drop_zeros,
            weight_scale: weight_scale.as_deref(),
        })
    }
}

/// `len` whole numbers in `lo..=MAX_EXTENT` at `field`, or `default` when absent.
fn numbers<const N: usize>(
    ctx: &Ctx,
    field: &str,
    given: Option<&[u64]>,
    (lo, default): (u64, [u64; N]),
) -> Result<[u32; N]> {
    let Some(given) = given else {
        return Ok(default.map(|v| v as u32));
    };
    let names = if N == 4 {
        "[top, left, bottom, right]"
    } else if N == 3 {
        "[channels, rows, cols]"
    } else {
        "[rows, cols]"
    };
    if given.len() != N {
        return Err(ctx.err(
            field,
            format!("needs {N} numbers {names}, got {}", given.len()),
        ));
    }
    let mut out = [0u32; N];
    for (k, &v) in given.iter().enumerate() {
        if !(lo..=MAX_EXTENT).contains(&v) {
            return Err(ctx.err(
                field,
                format!("entry {k} is {v}; each of {names} must be in {lo}..={MAX_EXTENT}"),
            ));
        }
        out[k] = v as u32;
    }
    Ok(out)
}

/// The kernel of a `conv` projection from `sources` to `targets` neurons.
pub(super) fn conv_kernel(
    ctx: &Ctx,
    field: &str,
    g: &ConvGeometry,
    (sources, targets): (&Population, &Population),
) -> Result<Kernel> {
    let [channels, h, w] = numbers(ctx, &format!("{field}.input"), Some(g.input), (1, [0; 3]))?;
    let neurons = u64::from(channels) * u64::from(h) * u64::from(w);
    if neurons != u64::from(sources.size) {
        return Err(ctx.err(
            format!("{field}.input"),
            format!(
                "[{channels}, {h}, {w}] holds {neurons} neurons, but source population `{}` has {}",
                sources.name, sources.size
            ),
        ));
    }
    let pool = match g.pool {
        Some(p) => Some(pool(ctx, &format!("{field}.pool"), p, (h, w))?),
        None => None,
    };
    let (ph, pw) = pool
        .as_ref()
        .map_or((h, w), |p: &Pool| (p.rows.output, p.cols.output));
    let t = read_tensor(ctx, field, g.file, g.tensor)?;
    let kernel = match t.shape.len() {
        4 => convolution(ctx, field, g, (channels, ph, pw), &t.shape)?,
        2 => linear(ctx, field, g, (channels, ph, pw), &t.shape)?,
        _ => {
            return Err(ctx.err(
                field,
                format!(
                    "tensor `{}` has shape {:?}; a conv projection needs [out_channels, channels / groups, kernel rows, kernel cols] (or [out, in] for a linear layer after a flatten)",
                    g.tensor, t.shape
                ),
            ));
        }
    };
    let mut weights = t.data;
    if let Some(name) = g.weight_scale {
        let scales = read_scales(ctx, field, (g.file, name), kernel.out_channels as usize)?;
        let per_channel = weights.len() / scales.len();
        for (chunk, &s) in weights.chunks_mut(per_channel.max(1)).zip(&scales) {
            chunk
                .iter_mut()
                .for_each(|w| *w = (f64::from(*w) * f64::from(s)) as f32);
        }
    }
    let kernel = Kernel {
        pool,
        weights,
        skip_zeros: g.drop_zeros,
        ..kernel
    };
    if kernel.build_work() > MAX_BUILD_WORK {
        return Err(ctx.err(
            field,
            format!(
                "the windows are too large to build: about {:.1e} window taps to visit, at most {MAX_BUILD_WORK:.0e} (smaller kernels or pooling windows)",
                kernel.build_work()
            ),
        ));
    }
    let [oc, oh, ow] = kernel.target_shape();
    let outputs = u64::from(oc) * u64::from(oh) * u64::from(ow);
    if outputs != u64::from(targets.size) {
        return Err(ctx.err(
            field,
            format!(
                "the convolution's output is [{oc}, {oh}, {ow}] = {outputs} neurons, but target population `{}` has {}",
                targets.name, targets.size
            ),
        ));
    }
    Ok(kernel)
}

/// The geometry of a 4-D kernel tensor `[out, channels / groups, rows, cols]` over a
/// `[channels, h, w]` map (weights not yet moved in).
fn convolution(
    ctx: &Ctx,
    field: &str,
    g: &ConvGeometry,
    (channels, h, w): (u32, u32, u32),
    shape: &[usize],
) -> Result<Kernel> {
    let stride = numbers(ctx, &format!("{field}.stride"), g.stride, (1, [1, 1]))?;
    let pads = numbers(ctx, &format!("{field}.padding"), g.padding, (0, [0; 4]))?;
    let dilation = numbers(ctx, &format!("{field}.dilation"), g.dilation, (1, [1, 1]))?;
    let groups = g.groups.unwrap_or(1);
    let [out, per_group, kh, kw] = [shape[0], shape[1], shape[2], shape[3]].map(|d| d as u64);
    let bad = |message: String| ctx.err(format!("{field}.groups"), message);
    if groups == 0 || u64::from(channels) % groups != 0 || out % groups != 0 {
        return Err(bad(format!(
            "{groups} groups must divide the {channels} input channels and the {out} output channels"
        )));
    }
    if per_group.checked_mul(groups) != Some(u64::from(channels)) {
        return Err(ctx.err(
            field,
            format!(
                "tensor `{}` has shape {shape:?}: {per_group} input channels per group in {groups} groups need {} input channels, but the input has {channels}",
                g.tensor,
                u128::from(per_group) * u128::from(groups)
            ),
        ));
    }
    let axis = |len: u32, k: u64, a: usize| {
        let k = u32::try_from(k).unwrap_or(u32::MAX);
        let padded = u64::from(len) + u64::from(pads[a]) + u64::from(pads[a + 2]);
        Axis::new(len, k, stride[a], (pads[a], pads[a + 2]), dilation[a])
            .filter(|_| padded <= MAX_EXTENT)
    };
    let (Some(rows), Some(cols)) = (axis(h, kh, 0), axis(w, kw, 1)) else {
        return Err(ctx.err(
            field,
            format!(
                "the {kh} x {kw} kernel (dilation {} x {}) does not fit the {h} x {w} input with padding {pads:?}",
                dilation[0], dilation[1]
            ),
        ));
    };
    Ok(Kernel {
        channels,
        out_channels: out as u32,
        groups: groups as u32,
        pool: None,
        rows,
        cols,
        weights: Vec::new(),
        skip_zeros: false,
    })
}

/// A linear layer `[out, in]` after a flatten of a `[channels, h, w]` map: a kernel as large
/// as the map.
fn linear(
    ctx: &Ctx,
    field: &str,
    g: &ConvGeometry,
    (channels, h, w): (u32, u32, u32),
    shape: &[usize],
) -> Result<Kernel> {
    let inputs = u64::from(channels) * u64::from(h) * u64::from(w);
    if shape[1] as u64 != inputs {
        return Err(ctx.err(
            field,
            format!(
                "tensor `{}` has shape {shape:?}: a linear layer after a flatten of [{channels}, {h}, {w}] needs [out, {inputs}]",
                g.tensor
            ),
        ));
    }
    if g.stride.is_some() || g.padding.is_some() || g.dilation.is_some() || g.groups.is_some() {
        return Err(ctx.err(
            field,
            "a 2-D tensor is a linear layer after a flatten: stride, padding, dilation and groups do not apply",
        ));
    }
    let whole = |len: u32| Axis::new(len, len, 1, (0, 0), 1).expect("a window fits itself");
    Ok(Kernel {
        channels,
        out_channels: shape[0] as u32,
        groups: 1,
        pool: None,
        rows: whole(h),
        cols: whole(w),
        weights: Vec::new(),
        skip_zeros: false,
    })
}

/// An average pooling over an `h x w` map.
fn pool(ctx: &Ctx, field: &str, p: &PoolSpec, (h, w): (u32, u32)) -> Result<Pool> {
    let kernel = numbers(
        ctx,
        &format!("{field}.kernel"),
        Some(&p.kernel),
        (1, [0; 2]),
    )?;
    let stride = numbers(
        ctx,
        &format!("{field}.stride"),
        p.stride.as_deref(),
        (1, kernel.map(u64::from)),
    )?;
    let pads = numbers(
        ctx,
        &format!("{field}.padding"),
        p.padding.as_deref(),
        (0, [0; 4]),
    )?;
    for a in 0..2 {
        if pads[a] >= kernel[a] || pads[a + 2] >= kernel[a] {
            return Err(ctx.err(
                format!("{field}.padding"),
                format!(
                    "padding {pads:?} must be smaller than the {} x {} window on each side",
                    kernel[0], kernel[1]
                ),
            ));
        }
    }
    let axis = |len: u32, a: usize| Axis::new(len, kernel[a], stride[a], (pads[a], pads[a + 2]), 1);
    let (Some(rows), Some(cols)) = (axis(h, 0), axis(w, 1)) else {
        return Err(ctx.err(
            format!("{field}.kernel"),
            format!(
                "the {} x {} window does not fit the {h} x {w} input",
                kernel[0], kernel[1]
            ),
        ));
    };
    Ok(Pool::new(rows, cols, p.count_include_pad))
}

/// The scales of `outputs` outputs from tensor `name` of `file` (`[outputs]`, or `[1]` for
/// all), each finite and > 0.
pub(super) fn read_scales(
    ctx: &Ctx,
    field: &str,
    (file, name): (&str, &str),
    outputs: usize,
) -> Result<Vec<f32>> {
    let t = read_tensor(ctx, field, file, name)?;
    if t.data.len() != 1 && t.data.len() != outputs {
        return Err(ctx.err(
            format!("{field}.weight_scale"),
            format!(
                "tensor `{name}` has shape {:?}; it needs one scale per output ([{outputs}]) or one for all ([1])",
                t.shape
            ),
        ));
    }
    if let Some((k, s)) = (t.data.iter().enumerate()).find(|(_, s)| !(s.is_finite() && **s > 0.0)) {
        return Err(ctx.err(
            format!("{field}.weight_scale"),
            format!("entry {k} of tensor `{name}` is {s}; a scale must be finite and > 0"),
        ));
    }
    Ok(if t.data.len() == 1 {
        vec![t.data[0]; outputs]
    } else {
        t.data
    })
}

/// The most window taps a kernel's table may take to build (about ten seconds).
const MAX_BUILD_WORK: f64 = 1e10;

/// The synapse table of a kernel: the exact fan-out of every source; `None` if the total does
/// not fit the 32-bit synapse indices.
pub(super) fn kernel_rows(kernel: &Kernel) -> Option<Csr> {
    let [c, h, w] = kernel.source_shape();
    let mut scratch = KernelScratch::default();
    let mut total = 0u64;
    let mut fan_outs = Vec::with_capacity((c * h * w) as usize);
    for s in 0..c * h * w {
        let n = kernel.fan_out(s, &mut scratch);
        total += n;
        if total >= u64::from(u32::MAX) {
            return None;
        }
        fan_outs.push(n as u32);
    }
    Some(Csr::computed(fan_outs.into_iter()))
}
