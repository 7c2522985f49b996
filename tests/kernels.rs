//! Convolution projections (`rule = "conv"`): a shared kernel delivered to each spike's output
//! window gives the spikes and synaptic operations of the same connections listed one by one,
//! on both engines and on any number of threads.

mod common;

use std::fmt::Write as _;
use std::path::Path;
use synops::{Engine, Simulation};

/// A convolution's geometry on one axis, as the test computes it from the definition.
#[derive(Clone, Copy)]
struct Axis {
    input: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    pad_after: usize,
    dilation: usize,
}

impl Axis {
    fn output(&self) -> usize {
        (self.input + self.pad + self.pad_after - self.dilation * (self.kernel - 1) - 1)
            / self.stride
            + 1
    }
    /// The input position read by tap `k` of output `o`, if not padding.
    fn reads(&self, o: usize, k: usize) -> Option<usize> {
        (o * self.stride + k * self.dilation)
            .checked_sub(self.pad)
            .filter(|&i| i < self.input)
    }
}

struct Case {
    channels: usize,
    out_channels: usize,
    groups: usize,
    /// Average pooling `(window, stride)` on both axes before the convolution.
    pool: Option<(usize, usize)>,
    rows: Axis,
    cols: Axis,
    /// Source map before pooling.
    map: (usize, usize),
}

impl Case {
    fn weights(&self) -> Vec<f32> {
        let n =
            self.out_channels * self.channels / self.groups * self.rows.kernel * self.cols.kernel;
        // Multiples of 1/8: every sum the engines form is exact, whatever its order.
        (0..n).map(|k| ((k * 5) % 11) as f32 / 8.0 - 0.5).collect()
    }

    /// Every connection `(source, target, weight)` from the forward definition.
    fn connections(&self) -> Vec<(usize, usize, f64)> {
        let w = self.weights();
        let (per_in, per_out) = (self.channels / self.groups, self.out_channels / self.groups);
        let (h, wd) = self.map;
        let (oh, ow) = (self.rows.output(), self.cols.output());
        let mut out = Vec::new();
        for o in 0..self.out_channels {
            for r in 0..oh {
                for c in 0..ow {
                    let target = (o * oh + r) * ow + c;
                    for ci in 0..per_in {
                        let ch = o / per_out * per_in + ci;
                        for ky in 0..self.rows.kernel {
                            for kx in 0..self.cols.kernel {
                                let (Some(y), Some(x)) =
                                    (self.rows.reads(r, ky), self.cols.reads(c, kx))
                                else {
                                    continue;
                                };
                                let k = ((o * per_in + ci) * self.rows.kernel + ky)
                                    * self.cols.kernel
                                    + kx;
                                let weight = f64::from(w[k]);
                                match self.pool {
                                    None => out.push(((ch * h + y) * wd + x, target, weight)),
                                    Some((win, stride)) => {
                                        for py in 0..win {
                                            for px in 0..win {
                                                let (yy, xx) = (y * stride + py, x * stride + px);
                                                let s = (ch * h + yy) * wd + xx;
                                                out.push((s, target, weight / (win * win) as f64));
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
        out
    }

    fn sources(&self) -> usize {
        self.channels * self.map.0 * self.map.1
    }

    fn targets(&self) -> usize {
        self.out_channels * self.rows.output() * self.cols.output()
    }

    fn header(&self, drive: bool) -> String {
        let mut t = format!(
            "version = 1\nname = \"k\"\n[simulation]\ndt_ms = 1.0\nduration_ms = 60.0\nseed = 3\n\
             [[population]]\nname = \"in\"\nsize = {}\nmodel = \"poisson\"\nrate_hz = 150.0\n\
             [[population]]\nname = \"out\"\nsize = {}\nmodel = \"if\"\nv_th_mv = 1.0\nreset = \"subtract\"\n\
             [[record.spikes]]\npopulation = \"out\"\n",
            self.sources(),
            self.targets()
        );
        if drive {
            // A dense drive: the target part sums its inputs in dense arrays.
            t += "[[input]]\nkind = \"poisson\"\ntarget = \"out\"\nrate_hz = 400.0\nweight_mv = 0.125\n";
        }
        t
    }

    /// The network with one conv projection.
    fn conv_network(&self, dir: &Path, drive: bool) -> String {
        common::write_safetensors(
            &dir.join("k.safetensors"),
            &[(
                "w",
                vec![
                    self.out_channels,
                    self.channels / self.groups,
                    self.rows.kernel,
                    self.cols.kernel,
                ],
                self.weights(),
            )],
        );
        let pool = self.pool.map_or(String::new(), |(win, stride)| {
            format!(", pool = {{ kernel = [{win}, {win}], stride = [{stride}, {stride}] }}")
        });
        let (r, c) = (self.rows, self.cols);
        format!(
            "{}[[projection]]\nsource = \"in\"\ntarget = \"out\"\ndelay_ms = 1.0\n\
             connectivity = {{ rule = \"conv\", file = \"k.safetensors\", tensor = \"w\", input = [{}, {}, {}], \
             stride = [{}, {}], padding = [{}, {}, {}, {}], dilation = [{}, {}], groups = {}{pool} }}\n",
            self.header(drive),
            self.channels,
            self.map.0,
            self.map.1,
            r.stride,
            c.stride,
            r.pad,
            c.pad,
            r.pad_after,
            c.pad_after,
            r.dilation,
            c.dilation,
            self.groups
        )
    }

    /// The same connections listed in two files, one per sign.
    fn listed_network(&self, dir: &Path, drive: bool) -> String {
        let mut text = self.header(drive);
        for (name, keep, receptor) in [("pos", true, "exc"), ("neg", false, "inh")] {
            let mut csv = String::from("source,target,weight_mv\n");
            for (s, t, w) in self.connections() {
                if (w >= 0.0) == keep {
                    let _ = writeln!(csv, "{s},{t},{w}");
                }
            }
            std::fs::write(dir.join(format!("{name}.csv")), csv).unwrap();
            let _ = write!(
                text,
                "[[projection]]\nname = \"{name}\"\nsource = \"in\"\ntarget = \"out\"\ndelay_ms = 1.0\n\
                 weight_mv = 0.0\nreceptor = \"{receptor}\"\nconnectivity = {{ rule = \"from_file\", file = \"{name}.csv\" }}\n"
            );
        }
        text
    }
}

fn axis(input: usize, kernel: usize, stride: usize, pads: (usize, usize), dilation: usize) -> Axis {
    Axis {
        input,
        kernel,
        stride,
        pad: pads.0,
        pad_after: pads.1,
        dilation,
    }
}

fn cases() -> Vec<Case> {
    vec![
        // Strides, asymmetric padding and dilation; two groups.
        Case {
            channels: 2,
            out_channels: 6,
            groups: 2,
            pool: None,
            rows: axis(12, 3, 2, (1, 0), 1),
            cols: axis(12, 3, 1, (2, 1), 2),
            map: (12, 12),
        },
        // A 2 x 2 average pooling folded into a padded 3 x 3 convolution.
        Case {
            channels: 3,
            out_channels: 8,
            groups: 1,
            pool: Some((2, 2)),
            rows: axis(6, 3, 1, (1, 1), 1),
            cols: axis(6, 3, 1, (1, 1), 1),
            map: (12, 12),
        },
    ]
}

fn run(text: &str, dir: &Path, engine: Engine, threads: usize) -> (Vec<(u32, u32, u32)>, u64, u64) {
    let path = dir.join("net.toml");
    let net = common::compile_text(text, &path).unwrap_or_else(|e| panic!("{e}"));
    let mut sim = Simulation::with_threads(&net, engine, threads);
    sim.run(|_| {}).unwrap();
    let events: u64 = sim.counts.synaptic_events.iter().sum();
    let spikes = sim.recorded.spikes.clone();
    (spikes, events, sim.counts.spikes[1])
}

#[test]
fn a_kernel_gives_the_spikes_and_operations_of_its_connections_listed_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    for (k, case) in cases().iter().enumerate() {
        for drive in [false, true] {
            let listed = run(
                &case.listed_network(dir.path(), drive),
                dir.path(),
                Engine::Clock,
                1,
            );
            assert!(listed.2 > 50, "case {k}: the target spikes ({})", listed.2);
            for engine in [Engine::Event, Engine::Clock] {
                for threads in [1, 2] {
                    let conv = run(
                        &case.conv_network(dir.path(), drive),
                        dir.path(),
                        engine,
                        threads,
                    );
                    assert_eq!(
                        conv.1, listed.1,
                        "case {k} {engine:?} {threads}: synaptic events"
                    );
                    assert!(
                        conv.0 == listed.0,
                        "case {k} {engine:?} {threads} drive {drive}: spikes differ"
                    );
                }
            }
        }
    }
}

#[test]
fn a_kernel_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let case = &cases()[1];
    let conv = common::compile_text(
        &case.conv_network(dir.path(), false),
        &dir.path().join("net.toml"),
    )
    .unwrap();
    let listed = common::compile_text(
        &case.listed_network(dir.path(), false),
        &dir.path().join("net.toml"),
    )
    .unwrap();
    assert_eq!(conv.synapses(), listed.synapses());
    // The kernel (8 x 3 x 3 x 3 weights) and one row pointer per source.
    let expected = 8 * 3 * 9 * 4 + (case.sources() + 1) * 4 + 12 * 4;
    assert_eq!(conv.synapse_bytes(), expected as u64);
    assert!(listed.synapse_bytes() > 10 * conv.synapse_bytes());
}

/// Every mistake in a conv projection is named with its field, the value and what fits.
#[test]
fn bad_conv_projections_are_refused_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    common::write_safetensors(
        &dir.path().join("k.safetensors"),
        &[
            ("w", vec![4, 2, 3, 3], vec![0.25; 72]),
            ("fc", vec![3, 18], vec![0.25; 54]),
        ],
    );
    let network = |target: u32, connectivity: &str, extra: &str| {
        format!(
            "version = 1\nname = \"k\"\n[simulation]\ndt_ms = 1.0\nduration_ms = 5.0\n\
             [[population]]\nname = \"in\"\nsize = 72\nmodel = \"poisson\"\nrate_hz = 10.0\n\
             [[population]]\nname = \"out\"\nsize = {target}\nmodel = \"if\"\nv_th_mv = 1.0\n\
             [[projection]]\nsource = \"in\"\ntarget = \"out\"\ndelay_ms = 1.0\n{extra}\
             connectivity = {{ rule = \"conv\", file = \"k.safetensors\", {connectivity} }}\n"
        )
    };
    let ok = network(
        4 * 36,
        "tensor = \"w\", input = [2, 6, 6], padding = [1, 1, 1, 1]",
        "",
    );
    common::compile_text(&ok, &dir.path().join("net.toml")).unwrap();
    let cases = [
        (
            144,
            "tensor = \"w\", input = [2, 6, 5]",
            "",
            "[2, 6, 5] holds 60 neurons, but source population `in` has 72",
        ),
        (
            144,
            "tensor = \"w\", input = [2, 6]",
            "",
            "input: needs 3 numbers [channels, rows, cols], got 2",
        ),
        (
            144,
            "tensor = \"w\", input = [2, 6, 6], groups = 3",
            "",
            "3 groups must divide the 2 input channels and the 4 output channels",
        ),
        (
            144,
            "tensor = \"w\", input = [2, 6, 6], groups = 2",
            "",
            "2 input channels per group in 2 groups need 4 input channels, but the input has 2",
        ),
        (
            144,
            "tensor = \"w\", input = [2, 6, 6], dilation = [3, 3]",
            "",
            "the 3 x 3 kernel (dilation 3 x 3) does not fit the 6 x 6 input",
        ),
        (
            100,
            "tensor = \"w\", input = [2, 6, 6], padding = [1, 1, 1, 1]",
            "",
            "output is [4, 6, 6] = 144 neurons, but target population `out` has 100",
        ),
        (
            144,
            "tensor = \"w\", input = [2, 6, 6], stride = [0, 1]",
            "",
            "stride: entry 0 is 0",
        ),
        (
            144,
            "tensor = \"nope\", input = [2, 6, 6]",
            "",
            "has no tensor `nope`",
        ),
        (
            64,
            "tensor = \"w\", input = [2, 6, 6]",
            "weight_mv = 1.0\n",
            "a conv projection takes its weights from its tensor; remove weight_mv",
        ),
        (
            3,
            "tensor = \"fc\", input = [2, 6, 6], stride = [2, 2], pool = { kernel = [2, 2] }",
            "",
            "a 2-D tensor is a linear layer after a flatten: stride, padding, dilation and groups do not apply",
        ),
        (
            3,
            "tensor = \"fc\", input = [2, 6, 6]",
            "",
            "a linear layer after a flatten of [2, 6, 6] needs [out, 72]",
        ),
        (
            3,
            "tensor = \"fc\", input = [2, 6, 6], pool = { kernel = [2, 2], padding = [2, 0, 0, 0] }",
            "",
            "must be smaller than the 2 x 2 window",
        ),
        (
            3,
            "tensor = \"fc\", input = [2, 6, 6], pool = { kernel = [7, 2] }",
            "",
            "the 7 x 2 window does not fit the 6 x 6 input",
        ),
        (
            144,
            "tensor = \"w\", input = [2, 6, 6], padding = [1, 1, 1, 1]",
            "delay_ms = { uniform = [1.0, 3.0] }\n",
            "one delay",
        ),
    ];
    // Windows whose table alone would take hours to build.
    let huge = network(
        4 * 499 * 499,
        "tensor = \"w\", input = [2, 1000, 1000], pool = { kernel = [500, 500], stride = [1, 1] }",
        "",
    )
    .replace("size = 72", "size = 2000000");
    let e = common::compile_text(&huge, &dir.path().join("net.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("the windows are too large to build"), "{e}");
    for (target, connectivity, extra, message) in cases {
        let text = network(target, connectivity, extra).replace(
            if extra.starts_with("delay") {
                "delay_ms = 1.0\n"
            } else {
                "\u{0}"
            },
            "",
        );
        let e = common::compile_text(&text, &dir.path().join("net.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(message), "{connectivity}: {e}");
        assert!(e.contains("projection \"in->out\""), "{e}");
    }
}
