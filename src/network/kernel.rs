//! Convolution kernels shared by every position of a layer: a projection from a
//! `[channels, rows, cols]` population to an `[out_channels, rows', cols']` one that stores
//! its kernel once, not one synapse per connection.
//!
//! A spike of source `(c, y, x)` delivers the kernel to its output window: every output
//! `(o, y', x')` of the channels of `c`'s group whose window reads `(y, x)`, with weight
//! `w[o, c mod (channels / groups), ky, kx]` for the tap `(ky, kx)` that reads it. Positions
//! near the borders reach fewer outputs; the fan-out of each source is counted exactly.
//!
//! An average pooling before the convolution is linear, so it folds into the delivery: the
//! source spike first reaches the pooled positions whose windows hold it, each with weight
//! `1 / divisor`, and each pooled position then delivers the kernel scaled by that weight. No
//! population stands for the pooled map, and every delivered weight is one synaptic
//! operation. A flatten followed by a linear layer is a kernel as large as its input with one
//! output position.

/// One spatial axis of a sliding window: output `o`'s tap `k` reads input position
/// `o * stride + k * dilation - pad` (positions outside `0..input` are zero padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Axis {
    /// Input positions.
    pub input: u32,
    /// Output positions.
    pub output: u32,
    /// Window taps.
    pub kernel: u32,
    /// Step between windows.
    pub stride: u32,
    /// Zero padding before the first input position.
    pub pad: u32,
    /// Zero padding after the last input position (as given: it may hold positions that no
    /// window reaches).
    pub pad_after: u32,
    /// Step between taps.
    pub dilation: u32,
}

impl Axis {
    /// An axis of `input` positions with the window's geometry; `None` where the window does
    /// not fit once (the output length is PyTorch's, with floor rounding).
    pub fn new(
        input: u32,
        kernel: u32,
        stride: u32,
        (pad_before, pad_after): (u32, u32),
        dilation: u32,
    ) -> Option<Self> {
        let span = u64::from(dilation) * u64::from(kernel.checked_sub(1)?) + 1;
        let padded = u64::from(input) + u64::from(pad_before) + u64::from(pad_after);
        let output = padded.checked_sub(span)? / u64::from(stride.max(1)) + 1;
        Some(Axis {
            input,
            output: u32::try_from(output).ok()?,
            kernel,
            stride: stride.max(1),
            pad: pad_before,
            pad_after,
            dilation: dilation.max(1),
        })
    }

    /// Each `(output, tap)` whose window reads input position `i`, taps ascending.
    #[inline]
    pub fn taps(&self, i: u32, taps: &mut Vec<(u32, u32)>) {
        taps.clear();
        let p = i + self.pad;
        for k in 0..self.kernel {
            let Some(d) = p.checked_sub(k * self.dilation) else {
                break;
            };
            if d % self.stride == 0 && d / self.stride < self.output {
                taps.push((d / self.stride, k));
            }
        }
    }

    /// The number of taps of output `o`'s window that read the input (not the padding).
    pub fn inside(&self, o: u32) -> u32 {
        (0..self.kernel)
            .filter(|&k| {
                let p = i64::from(o) * i64::from(self.stride) + i64::from(k * self.dilation)
                    - i64::from(self.pad);
                (0..i64::from(self.input)).contains(&p)
            })
            .count() as u32
    }
}

/// An average pooling folded into a kernel's delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    /// Rows.
    pub rows: Axis,
    /// Columns.
    pub cols: Axis,
    /// Whether padded positions count in the divisor.
    pub count_include_pad: bool,
    /// Per pooled row: the window's taps that count in the divisor.
    row_counts: Vec<u32>,
    /// Per pooled column: the same.
    col_counts: Vec<u32>,
}

impl Pool {
    /// A pooling over `rows` x `cols` windows.
    pub fn new(rows: Axis, cols: Axis, count_include_pad: bool) -> Self {
        let counts = |a: &Axis| {
            (0..a.output)
                .map(|o| {
                    if count_include_pad {
                        a.kernel
                    } else {
                        a.inside(o).max(1)
                    }
                })
                .collect()
        };
        Pool {
            row_counts: counts(&rows),
            col_counts: counts(&cols),
            rows,
            cols,
            count_include_pad,
        }
    }

    /// The weight of one input in pooled position `(r, c)`: one over its window's divisor.
    #[inline]
    fn scale(&self, r: u32, c: u32) -> f64 {
        1.0 / f64::from(self.row_counts[r as usize] * self.col_counts[c as usize])
    }
}

/// One window of a kernel delivery: the same runs of targets in the plane of each output
/// channel, each read by its taps in descending order.
struct Window<'a, K> {
    /// The output channels reached.
    outputs: std::ops::Range<u32>,
    /// Where an output channel's kernel starts in the weights.
    kernel_of: K,
    /// Targets per output channel.
    plane: usize,
    /// Per run: its first target in a plane and its first tap in a channel's kernel.
    runs: &'a [(usize, usize)],
    /// The weight of the spike in this window (a pooling's divisor).
    scale: f64,
}

impl<K: Fn(u32) -> usize> Window<'_, K> {
    /// Runs of `N` targets: `sums[start + j] += taps[N - 1 - j] * scale`, marked.
    #[inline(always)]
    fn add<const N: usize>(&self, weights: &[f32], sums: &mut [f64], touched: &mut [u64]) {
        for o in self.outputs.clone() {
            let (base, kernel) = (o as usize * self.plane, (self.kernel_of)(o));
            for &(start, tap) in self.runs {
                let sums: &mut [f64; N] =
                    (&mut sums[base + start..][..N]).try_into().expect("N sums");
                let taps: &[f32; N] = weights[kernel + tap..][..N].try_into().expect("N taps");
                for j in 0..N {
                    sums[j] += f64::from(taps[N - 1 - j]) * self.scale;
                }
                mark_run(touched, base + start, N);
            }
        }
    }

    /// [`Self::add`] for runs of any length `run`.
    #[inline(always)]
    fn add_runs(&self, run: usize, weights: &[f32], sums: &mut [f64], touched: &mut [u64]) {
        for o in self.outputs.clone() {
            let (base, kernel) = (o as usize * self.plane, (self.kernel_of)(o));
            for &(start, tap) in self.runs {
                let sums = &mut sums[base + start..][..run];
                let taps = &weights[kernel + tap..][..run];
                for (sum, &w) in sums.iter_mut().zip(taps.iter().rev()) {
                    *sum += f64::from(w) * self.scale;
                }
                mark_run(touched, base + start, run);
            }
        }
    }
}

/// Set bits `start .. start + len` of the bitmap `words` (bit `i mod 64` of word `i / 64`).
#[inline]
pub fn mark_run(words: &mut [u64], start: usize, len: usize) {
    let (mut i, end) = (start, start + len);
    while i < end {
        let (word, bit) = (i >> 6, i & 63);
        let n = (end - i).min(64 - bit);
        let mask = if n == 64 {
            u64::MAX
        } else {
            ((1u64 << n) - 1) << bit
        };
        words[word] |= mask;
        i += n;
    }
}

/// Scratch space of one delivery (kept by its caller, so that a spike allocates nothing).
#[derive(Debug, Clone, Default)]
pub struct KernelScratch {
    pool_rows: Vec<(u32, u32)>,
    pool_cols: Vec<(u32, u32)>,
    rows: Vec<(u32, u32)>,
    cols: Vec<(u32, u32)>,
    /// The runs of one window (see [`Kernel::deliver_marked`]).
    runs: Vec<(usize, usize)>,
}

/// A convolution kernel with its geometry (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    /// Input channels.
    pub channels: u32,
    /// Output channels.
    pub out_channels: u32,
    /// Channel groups (1: every output channel reads every input channel).
    pub groups: u32,
    /// Average pooling of the source before the convolution.
    pub pool: Option<Pool>,
    /// Rows of the convolution (over the pooled map where there is a pooling).
    pub rows: Axis,
    /// Columns of the convolution.
    pub cols: Axis,
    /// `[out_channels, channels / groups, rows.kernel, cols.kernel]` row-major.
    pub weights: Vec<f32>,
    /// Skip the zero taps (a pruned kernel): they are neither delivered nor counted in the
    /// fan-out.
    pub skip_zeros: bool,
}

impl Kernel {
    /// The source population's shape `[channels, rows, cols]`.
    pub fn source_shape(&self) -> [u32; 3] {
        match &self.pool {
            Some(p) => [self.channels, p.rows.input, p.cols.input],
            None => [self.channels, self.rows.input, self.cols.input],
        }
    }

    /// The target population's shape `[out_channels, rows, cols]`.
    pub fn target_shape(&self) -> [u32; 3] {
        [self.out_channels, self.rows.output, self.cols.output]
    }

    /// The number of target neurons.
    pub fn target_size(&self) -> u32 {
        self.out_channels * self.rows.output * self.cols.output
    }

    /// Call `deliver(target, weight)` for every synapse of source `s` whose target lies in
    /// `lo..hi`, output channel by channel, in the order of the pooled positions.
    #[inline]
    pub fn deliver(
        &self,
        s: u32,
        (lo, hi): (u32, u32),
        scratch: &mut KernelScratch,
        mut deliver: impl FnMut(u32, f64),
    ) {
        self.for_each_position(s, scratch, |position, scale, scratch| {
            self.deliver_at(position, scale, (lo, hi), scratch, &mut deliver)
        });
    }

    /// Call `at(position, scale, scratch)` for each input position of the convolution that a
    /// spike of source `s` reaches: its own, or each pooled position whose window holds it,
    /// with the pooling's weight, in the order of the pooled positions.
    #[inline(always)]
    fn for_each_position(
        &self,
        s: u32,
        scratch: &mut KernelScratch,
        mut at: impl FnMut((u32, u32, u32), f64, &mut KernelScratch),
    ) {
        let [_, h, w] = self.source_shape();
        let (c, y, x) = (s / (h * w), s / w % h, s % w);
        let Some(pool) = &self.pool else {
            at((c, y, x), 1.0, scratch);
            return;
        };
        let (mut prow, mut pcol) = (
            std::mem::take(&mut scratch.pool_rows),
            std::mem::take(&mut scratch.pool_cols),
        );
        pool.rows.taps(y, &mut prow);
        pool.cols.taps(x, &mut pcol);
        for &(r, _) in &prow {
            for &(col, _) in &pcol {
                at((c, r, col), pool.scale(r, col), scratch);
            }
        }
        (scratch.pool_rows, scratch.pool_cols) = (prow, pcol);
    }

    /// Add the synapses of source `s` to `sums` (indexed by target) and mark their targets in
    /// `touched` (bit `t mod 64` of word `t / 64`): the adds of [`Self::deliver`] for every
    /// target, in its order, with each window row's run of targets summed in one loop and
    /// marked at once. A pruned kernel (its zero taps skipped) goes through [`Self::deliver`].
    #[inline]
    pub fn deliver_marked(
        &self,
        s: u32,
        sums: &mut [f64],
        touched: &mut [u64],
        scratch: &mut KernelScratch,
    ) {
        let in_order = self.cols.stride == 1 && self.cols.dilation == 1;
        if self.skip_zeros || !in_order {
            self.deliver(s, (0, u32::MAX), scratch, |t, w| {
                sums[t as usize] += w;
                touched[t as usize >> 6] |= 1 << (t & 63);
            });
            return;
        }
        self.for_each_position(s, scratch, |position, scale, scratch| {
            self.rows_at(position, scale, sums, touched, scratch)
        });
    }

    /// [`Self::deliver_marked`] from input position `(c, y, x)` of the convolution, scaled,
    /// for columns of stride and dilation 1: the window's columns then form one run of
    /// targets, read by the taps in descending order.
    #[inline(always)]
    fn rows_at(
        &self,
        (c, y, x): (u32, u32, u32),
        scale: f64,
        sums: &mut [f64],
        touched: &mut [u64],
        scratch: &mut KernelScratch,
    ) {
        let per_group_in = self.channels / self.groups;
        let per_group_out = self.out_channels / self.groups;
        let (group, ci) = (c / per_group_in, c % per_group_in);
        let plane = (self.rows.output * self.cols.output) as usize;
        let (kh, kw) = (self.rows.kernel as usize, self.cols.kernel as usize);
        self.rows.taps(y, &mut scratch.rows);
        self.cols.taps(x, &mut scratch.cols);
        // Taps ascend, so columns descend: the run starts at the last tap's column.
        let Some(&(first_col, last_tap)) = scratch.cols.last() else {
            return;
        };
        let run = scratch.cols.len();
        let width = self.cols.output as usize;
        // Per window row: where its run of targets starts in a plane, and its taps in a
        // channel's kernel.
        scratch.runs.clear();
        scratch.runs.extend(scratch.rows.iter().map(|&(r, ky)| {
            (
                r as usize * width + first_col as usize,
                ky as usize * kw + last_tap as usize + 1 - run,
            )
        }));
        let window = Window {
            outputs: group * per_group_out..(group + 1) * per_group_out,
            kernel_of: |o: u32| (o * per_group_in + ci) as usize * kh * kw,
            plane,
            runs: &scratch.runs,
            scale,
        };
        match run {
            // The common widths unrolled whole.
            3 => window.add::<3>(&self.weights, sums, touched),
            5 => window.add::<5>(&self.weights, sums, touched),
            7 => window.add::<7>(&self.weights, sums, touched),
            _ => window.add_runs(run, &self.weights, sums, touched),
        }
    }

    /// The kernel delivered from input position `(c, y, x)` of the convolution, scaled.
    #[inline]
    fn deliver_at(
        &self,
        (c, y, x): (u32, u32, u32),
        scale: f64,
        (lo, hi): (u32, u32),
        scratch: &mut KernelScratch,
        deliver: &mut impl FnMut(u32, f64),
    ) {
        let per_group_in = self.channels / self.groups;
        let per_group_out = self.out_channels / self.groups;
        let (group, ci) = (c / per_group_in, c % per_group_in);
        let plane = self.rows.output * self.cols.output;
        let (kh, kw) = (self.rows.kernel as usize, self.cols.kernel as usize);
        self.rows.taps(y, &mut scratch.rows);
        self.cols.taps(x, &mut scratch.cols);
        let first = (group * per_group_out).max(lo / plane.max(1));
        let last = ((group + 1) * per_group_out).min(hi.div_ceil(plane.max(1)));
        for o in first..last {
            let kernel = ((o * per_group_in + ci) as usize) * kh * kw;
            let base = o * plane;
            // A channel wholly in `lo..hi` (always, with one part) needs no check per target.
            let whole = base >= lo && base + plane <= hi;
            for &(r, ky) in &scratch.rows {
                let row = base + r * self.cols.output;
                let taps = &self.weights[kernel + ky as usize * kw..][..kw];
                for &(col, kx) in &scratch.cols {
                    let t = row + col;
                    let w = taps[kx as usize];
                    if (whole || (lo..hi).contains(&t)) && !(self.skip_zeros && w == 0.0) {
                        deliver(t, f64::from(w) * scale);
                    }
                }
            }
        }
    }

    /// Synapses of source `s`: the exact fan-out of its position.
    pub fn fan_out(&self, s: u32, scratch: &mut KernelScratch) -> u64 {
        if self.skip_zeros {
            // Which taps remain depends on the channel: count what delivery reaches.
            let mut n = 0;
            self.deliver(s, (0, u32::MAX), scratch, |_, _| n += 1);
            return n;
        }
        let [_, h, w] = self.source_shape();
        let (y, x) = (s / w % h, s % w);
        let per_group_out = u64::from(self.out_channels / self.groups);
        let mut windows = |y: u32, x: u32| {
            self.rows.taps(y, &mut scratch.rows);
            self.cols.taps(x, &mut scratch.cols);
            (scratch.rows.len() * scratch.cols.len()) as u64
        };
        let Some(pool) = &self.pool else {
            return per_group_out * windows(y, x);
        };
        let (mut prow, mut pcol) = (
            std::mem::take(&mut scratch.pool_rows),
            std::mem::take(&mut scratch.pool_cols),
        );
        pool.rows.taps(y, &mut prow);
        pool.cols.taps(x, &mut pcol);
        let mut n = 0;
        for &(r, _) in &prow {
            for &(c, _) in &pcol {
                n += per_group_out * windows(r, c);
            }
        }
        (scratch.pool_rows, scratch.pool_cols) = (prow, pcol);
        n
    }

    /// An upper bound of the window taps visited to deliver one spike of every source once
    /// (what building its table costs).
    pub fn build_work(&self) -> f64 {
        let [c, h, w] = self.source_shape();
        let taps = f64::from(self.rows.kernel) + f64::from(self.cols.kernel);
        let per_position = match &self.pool {
            None => taps,
            Some(p) => {
                let (pr, pc) = (f64::from(p.rows.kernel), f64::from(p.cols.kernel));
                pr + pc + pr * pc * taps
            }
        };
        f64::from(c) * f64::from(h) * f64::from(w) * per_position
    }

    /// Bytes the kernel holds.
    pub fn bytes(&self) -> usize {
        self.weights.len() * 4
            + self
                .pool
                .as_ref()
                .map_or(0, |p| (p.row_counts.len() + p.col_counts.len()) * 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The synapses of a kernel as explicit `(source, target, weight)` triples, computed from
    /// the forward definition: each output reads its window.
    fn by_definition(k: &Kernel) -> Vec<(u32, u32, f64)> {
        let [_, h, w] = k.source_shape();
        let mut out = Vec::new();
        let per_in = k.channels / k.groups;
        let per_out = k.out_channels / k.groups;
        let reads = |a: &Axis, o: u32, t: u32| -> Option<u32> {
            let p = i64::from(o * a.stride + t * a.dilation) - i64::from(a.pad);
            (0..i64::from(a.input)).contains(&p).then_some(p as u32)
        };
        for o in 0..k.out_channels {
            for r in 0..k.rows.output {
                for c in 0..k.cols.output {
                    let target = (o * k.rows.output + r) * k.cols.output + c;
                    for ci in 0..per_in {
                        let ch = o / per_out * per_in + ci;
                        for ky in 0..k.rows.kernel {
                            for kx in 0..k.cols.kernel {
                                let (Some(y), Some(x)) =
                                    (reads(&k.rows, r, ky), reads(&k.cols, c, kx))
                                else {
                                    continue;
                                };
                                let wt = f64::from(
                                    k.weights[(((o * per_in + ci) * k.rows.kernel + ky)
                                        * k.cols.kernel
                                        + kx)
                                        as usize],
                                );
                                match &k.pool {
                                    None => out.push(((ch * h + y) * w + x, target, wt)),
                                    Some(p) => {
                                        for py in 0..p.rows.kernel {
                                            for px in 0..p.cols.kernel {
                                                let (Some(yy), Some(xx)) =
                                                    (reads(&p.rows, y, py), reads(&p.cols, x, px))
                                                else {
                                                    continue;
                                                };
                                                out.push((
                                                    (ch * h + yy) * w + xx,
                                                    target,
                                                    wt * p.scale(y, x),
                                                ));
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        out.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(a.2.total_cmp(&b.2)));
        out
    }

    fn by_delivery(k: &Kernel, (lo, hi): (u32, u32)) -> Vec<(u32, u32, f64)> {
        let [c, h, w] = k.source_shape();
        let mut scratch = KernelScratch::default();
        let mut out = Vec::new();
        for s in 0..c * h * w {
            let before = out.len();
            k.deliver(s, (lo, hi), &mut scratch, |t, wt| out.push((s, t, wt)));
            if (lo, hi) == (0, u32::MAX) {
                assert_eq!(k.fan_out(s, &mut scratch), (out.len() - before) as u64);
            }
        }
        out.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(a.2.total_cmp(&b.2)));
        out
    }

    fn kernel(
        pool: Option<Pool>,
        rows: Axis,
        cols: Axis,
        channels: u32,
        out: u32,
        groups: u32,
    ) -> Kernel {
        let n = (out * channels / groups * rows.kernel * cols.kernel) as usize;
        Kernel {
            channels,
            out_channels: out,
            groups,
            pool,
            rows,
            cols,
            weights: (0..n).map(|k| ((k * 7) % 13) as f32 * 0.5 - 3.0).collect(),
            skip_zeros: false,
        }
    }

    #[test]
    fn delivery_reaches_exactly_the_windows_that_read_the_source() {
        let rows = Axis::new(5, 3, 2, (1, 0), 1).unwrap();
        let cols = Axis::new(6, 3, 1, (2, 1), 2).unwrap();
        assert_eq!((rows.output, cols.output), (2, 5));
        for groups in [1, 2] {
            let k = kernel(None, rows, cols, 2, 4, groups);
            let expected = by_definition(&k);
            assert_eq!(by_delivery(&k, (0, u32::MAX)), expected);
            // A part of the targets gets just its own.
            let part: Vec<_> = expected
                .iter()
                .copied()
                .filter(|e| (7..23).contains(&e.1))
                .collect();
            assert_eq!(by_delivery(&k, (7, 23)), part);
        }
    }

    #[test]
    fn a_folded_pooling_delivers_through_every_window_holding_the_source() {
        // 2 x 2 windows with stride 1 overlap; padding not counted in the divisor.
        let prow = Axis::new(5, 2, 1, (0, 1), 1).unwrap();
        let pcol = Axis::new(4, 2, 2, (0, 0), 1).unwrap();
        let pool = Pool::new(prow, pcol, false);
        let rows = Axis::new(prow.output, 2, 1, (0, 0), 1).unwrap();
        let cols = Axis::new(pcol.output, 1, 1, (0, 0), 1).unwrap();
        let k = kernel(Some(pool), rows, cols, 3, 2, 1);
        assert_eq!(by_delivery(&k, (0, u32::MAX)), by_definition(&k));
        // The last pooled row reads one input row and the padding: divisor 1 x 2.
        let p = k.pool.as_ref().unwrap();
        assert_eq!(p.scale(4, 0), 0.5);
        assert_eq!(p.scale(0, 1), 0.25);
    }

    /// Every source's spike delivered by `deliver_marked` into sums that already hold
    /// values: the bits of `deliver`'s adds and exactly its targets marked.
    fn marked_matches_delivery(k: &Kernel) {
        let [c, h, w] = k.source_shape();
        let n = k.target_size() as usize;
        let start: Vec<f64> = (0..n).map(|i| (i % 7) as f64 * 0.1 - 0.3).collect();
        let mut scratch = KernelScratch::default();
        for s in 0..c * h * w {
            let (mut sums, mut marks) = (start.clone(), vec![0u64; n.div_ceil(64)]);
            k.deliver_marked(s, &mut sums, &mut marks, &mut scratch);
            let (mut expected, mut expected_marks) = (start.clone(), vec![0u64; n.div_ceil(64)]);
            k.deliver(s, (0, u32::MAX), &mut scratch, |t, wt| {
                expected[t as usize] += wt;
                expected_marks[t as usize >> 6] |= 1 << (t & 63);
            });
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&sums), bits(&expected), "source {s}");
            assert_eq!(marks, expected_marks, "source {s}");
        }
    }

    #[test]
    fn marked_delivery_adds_the_bits_of_delivery() {
        for (width, kernel_w, stride, pad, dilation) in [
            (12, 5, 1, (0, 0), 1),
            (9, 3, 1, (1, 1), 1),
            (11, 7, 1, (2, 3), 1),
            (10, 4, 1, (0, 1), 1),
            (9, 3, 2, (1, 0), 1),
            (10, 3, 1, (2, 2), 2),
            (70, 70, 1, (0, 0), 1),
        ] {
            let rows = Axis::new(6, 3, 1, (1, 0), 1).unwrap();
            let cols = Axis::new(width, kernel_w, stride, pad, dilation).unwrap();
            for groups in [1, 2] {
                marked_matches_delivery(&kernel(None, rows, cols, 2, 4, groups));
            }
        }
        // A pooling before the convolution, overlapping windows; and a pruned kernel.
        let prow = Axis::new(8, 2, 1, (0, 1), 1).unwrap();
        let pcol = Axis::new(9, 2, 2, (1, 0), 1).unwrap();
        let rows = Axis::new(prow.output, 3, 1, (0, 0), 1).unwrap();
        let cols = Axis::new(pcol.output, 3, 1, (1, 1), 1).unwrap();
        let mut k = kernel(Some(Pool::new(prow, pcol, false)), rows, cols, 3, 5, 1);
        marked_matches_delivery(&k);
        k.weights.iter_mut().step_by(3).for_each(|w| *w = 0.0);
        k.skip_zeros = true;
        marked_matches_delivery(&k);
    }

    #[test]
    fn a_run_of_bits_sets_exactly_those_bits() {
        for (start, len) in [
            (0, 0),
            (3, 5),
            (60, 8),
            (0, 64),
            (64, 64),
            (5, 200),
            (127, 1),
        ] {
            let mut words = vec![0u64; 5];
            mark_run(&mut words, start, len);
            let set: Vec<usize> = (0..320)
                .filter(|&i| words[i / 64] >> (i % 64) & 1 == 1)
                .collect();
            assert_eq!(
                set,
                (start..start + len).collect::<Vec<_>>(),
                "{start} {len}"
            );
        }
    }

    #[test]
    fn border_positions_have_smaller_fan_outs() {
        // 5 x 5 kernel, 8 output channels, on a 12 x 12 map: a corner reaches one window per
        // channel, the centre 25.
        let a = Axis::new(12, 5, 1, (0, 0), 1).unwrap();
        let k = kernel(None, a, a, 1, 8, 1);
        let mut scratch = KernelScratch::default();
        assert_eq!(k.fan_out(0, &mut scratch), 8);
        assert_eq!(k.fan_out(6 * 12 + 6, &mut scratch), 8 * 25);
        assert_eq!(k.fan_out(11, &mut scratch), 8);
        assert_eq!(k.fan_out(12 + 2, &mut scratch), 8 * 2 * 3);
        let total: u64 = (0..144).map(|s| k.fan_out(s, &mut scratch)).sum();
        assert_eq!(total, 8 * 8 * 8 * 25, "every output reads 25 inputs");
    }
}
