//! The mutation suite: seed files of every kind synops reads, mutated by a deterministic
//! mutator (bit flips, byte edits, cut and repeated stretches, numbers replaced by extreme
//! ones), each handed to its reader (`synops::fuzzing`) with a time limit. Zero panics, zero
//! hangs, zero files left after a refusal.
//!
//! `SYNOPS_FUZZ_CASES` sets the mutants per seed (default 40, seconds in all); a longer run,
//! e.g. `SYNOPS_FUZZ_CASES=5000 cargo test --release --test fuzz`, is in the README. A failing
//! case is saved under `target/fuzz-failures/` to be replayed. The seeds are kept under
//! `target/fuzz-seeds/` as the first corpus of the `cargo fuzz` targets in `fuzz/`.

mod common;
use common::bytes_field as field;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;
use synops::fuzzing::{Target, run};

/// The longest a reader may take on one input.
const TIME_LIMIT: Duration = Duration::from_secs(20);

/// A small deterministic generator (xorshift64*), so that every run mutates alike.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// One to four edits of `seed`.
    fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut bytes = seed.to_vec();
        for _ in 0..1 + self.below(4) {
            self.edit(&mut bytes);
        }
        bytes
    }

    fn edit(&mut self, bytes: &mut Vec<u8>) {
        const EXTREMES: [&str; 14] = [
            "0",
            "-1",
            "1e308",
            "-1e308",
            "nan",
            "inf",
            "4294967296",
            "4294967295",
            "18446744073709551616",
            "1e-320",
            "-0",
            "999999999",
            "0.0000001",
            "\"\"",
        ];
        let len = bytes.len();
        match self.below(8) {
            0 if len > 0 => {
                let i = self.below(len);
                bytes[i] ^= 1 << self.below(8);
            }
            1 if len > 0 => {
                let i = self.below(len);
                bytes[i] = self.next() as u8;
            }
            2 if len > 0 => {
                let (a, n) = (self.below(len), 1 + self.below(16));
                bytes.drain(a..(a + n).min(len));
            }
            3 if len > 0 => {
                let (a, n) = (self.below(len), 1 + self.below(64));
                let stretch = bytes[a..(a + n).min(len)].to_vec();
                let at = self.below(len);
                bytes.splice(at..at, stretch);
            }
            4 => {
                let at = self.below(len + 1);
                let junk: Vec<u8> = (0..1 + self.below(8)).map(|_| self.next() as u8).collect();
                bytes.splice(at..at, junk);
            }
            5 if len > 0 => bytes.truncate(self.below(len)),
            _ => {
                // A number (a run of digits) replaced by an extreme one.
                let starts: Vec<usize> = (0..len)
                    .filter(|&i| {
                        bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit())
                    })
                    .collect();
                if starts.is_empty() {
                    return;
                }
                let a = starts[self.below(starts.len())];
                let b = (a..len)
                    .find(|&i| !bytes[i].is_ascii_digit() && bytes[i] != b'.')
                    .unwrap_or(len);
                let value = EXTREMES[self.below(EXTREMES.len())].as_bytes().to_vec();
                bytes.splice(a..b, value);
            }
        }
    }
}

/// Run one case on its own thread: a panic or a hang fails the suite, with the case saved.
fn check(target: Target, bytes: Vec<u8>, label: &str) {
    let (send, receive) = mpsc::channel();
    let input = bytes.clone();
    std::thread::spawn(move || {
        let outcome = std::panic::catch_unwind(|| {
            let _ = run(target, &input);
        });
        let _ = send.send(outcome.is_ok());
    });
    let failure = match receive.recv_timeout(TIME_LIMIT) {
        Ok(true) => return,
        Ok(false) => "panicked",
        Err(_) => "hung",
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{target:?}-{label}.bin"));
    std::fs::write(&file, &bytes).unwrap();
    panic!(
        "{target:?} {label}: the reader {failure}; the input is in {}",
        file.display()
    );
}

fn cases() -> usize {
    std::env::var("SYNOPS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

/// Keep the seeds where `cargo fuzz` finds them as its first corpus
/// (`target/fuzz-seeds/<target>/`, the names of the targets in `fuzz/`).
fn save_seed(target: Target, name: &str, seed: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/fuzz-seeds")
        .join(snake_case(&format!("{target:?}")));
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join(name), seed);
    }
}

/// `NpzData` as `npz_data`: the name of its `cargo fuzz` target.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn fuzz(target: Target, seeds: &[(&str, Vec<u8>)]) {
    assert!(!seeds.is_empty());
    let mut mutator = Mutator(0x5EED ^ target as u64);
    for (name, seed) in seeds {
        save_seed(target, name, seed);
        check(target, seed.clone(), &format!("{name}-seed"));
        for k in 0..cases() {
            check(target, mutator.mutate(seed), &format!("{name}-{k}"));
        }
    }
}

fn root(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// A small network that uses most of the format, without files beside it.
const SMALL_NETWORK: &str = r#"version = 1
name = "small"
[simulation]
dt_ms = 0.1
duration_ms = 5.0
seed = 7
[[population]]
name = "exc"
size = 40
model = "lif_exp"
tau_m_ms = 20.0
tau_syn_exc_ms = 5.0
tau_syn_inh_ms = 10.0
v_rest_mv = -65.0
v_th_mv = -50.0
t_ref_ms = 2.0
bias_mv = 16.0
v_init_mv = { uniform = [-65.0, -50.0] }
[[population]]
name = "inh"
size = 10
model = "lif_delta"
tau_m_ms = 10.0
v_th_mv = 10.0
[[population]]
name = "int"
size = 5
model = "if"
v_th_mv = 1.0
reset = "subtract"
bias_mv_per_ms = 0.5
[[population]]
name = "noise"
size = 20
model = "poisson"
rate_hz = 500.0
[[projection]]
source = "exc"
target = "inh"
connectivity = { rule = "fixed_indegree", indegree = 4 }
weight_mv = { normal = { mean = 2.0, std = 0.5 } }
delay_ms = { uniform = [0.1, 0.5] }
[[projection]]
source = "inh"
target = "exc"
connectivity = { rule = "fixed_probability", p = 0.3 }
weight_mv = -1.0
delay_ms = 0.2
[[projection]]
source = "noise"
target = "int"
connectivity = { rule = "all_to_all" }
weight_mv = 0.1
delay_ms = 0.1
[[input]]
kind = "poisson"
target = "inh"
rate_hz = 800.0
weight_mv = 0.8
[[input]]
kind = "current"
target = "exc"
amplitude_mv = 4.0
start_ms = 1.0
stop_ms = 3.0
indices = [0, 1]
[[record.traces]]
population = "exc"
indices = [0]
every_steps = 5
[[record.rates]]
population = "exc"
bin_ms = 1.0
"#;

/// A small network of every clocked model, for the mutation of their parameter tables.
const CLOCKED_NETWORK: &str = r#"
version = 1
name = "clocked"
[simulation]
dt_ms = 0.1
duration_ms = 5.0
seed = 3
[[population]]
name = "cond"
size = 6
model = "lif_cond_exp"
tau_m_ms = 20.0
g_leak_ns = 10.0
v_rest_mv = -60.0
v_th_mv = -50.0
t_ref_ms = 0.5
tau_syn_exc_ms = 5.0
tau_syn_inh_ms = 10.0
method = "integrating_factor"
initial = { g_exc_ns = { uniform = [0.0, 40.0] } }
[[population]]
name = "izh"
size = 4
model = "izhikevich"
a = [0.02, 0.08, 0.0]
b = 0.2
c = [-65.0, 0.0, 15.0]
d = 8.0
bias_mv_per_ms = 10.0
method = "izhikevich_2003"
initial = { r = { uniform = [0.0, 1.0] } }
[[population]]
name = "adex"
size = 3
model = "adex"
c_m_pf = 200.0
g_leak_ns = 10.0
v_rest_mv = -70.0
v_t_mv = -50.0
delta_t_mv = 2.0
a_ns = 2.0
b_pa = 60.0
tau_w_ms = 30.0
bias_pa = 500.0
[[projection]]
source = "izh"
target = "cond"
connectivity = { rule = "all_to_all" }
weight_ns = 6.0
delay_ms = 0.2
[[projection]]
source = "adex"
target = "izh"
connectivity = { rule = "fixed_probability", p = 0.5 }
weight_mv = -2.0
delay_ms = 0.1
[[input]]
kind = "poisson"
target = "cond"
rate_hz = 800.0
weight_ns = 3.0
receptor = "inh"
[[input]]
kind = "noise"
target = "izh"
std_mv = 3.0
indices = [0, 2]
[[record.spikes]]
population = "cond"
[[record.traces]]
population = "adex"
indices = [0]
every_steps = 2
"#;

#[test]
fn network_files() {
    fuzz(
        Target::Network,
        &[
            ("small", SMALL_NETWORK.as_bytes().to_vec()),
            ("clocked", CLOCKED_NETWORK.as_bytes().to_vec()),
            ("example", root("networks/example.toml")),
        ],
    );
}

/// Convolutions (padding, groups, a folded pooling, a linear layer after a flatten, a wide
/// strided kernel) on the kernels `synops::fuzzing` writes beside the file.
const CONV_NETWORK: &str = r#"version = 1
name = "conv"
[simulation]
dt_ms = 1.0
duration_ms = 50.0
seed = 5
[[population]]
name = "in"
size = 72
model = "poisson"
rate_hz = 300.0
[[population]]
name = "big"
size = 144
model = "poisson"
rate_hz = 200.0
[[population]]
name = "c1"
size = 144
model = "if"
v_th_mv = 1.0
reset = "subtract"
[[population]]
name = "c2"
size = 36
model = "if"
v_th_mv = 1.0
[[population]]
name = "c3"
size = 3
model = "lif_delta"
tau_m_ms = 10.0
v_th_mv = 1.0
[[population]]
name = "w"
size = 56
model = "if"
v_th_mv = 2.0
[[projection]]
source = "in"
target = "c1"
delay_ms = 1.0
connectivity = { rule = "conv", file = "k.safetensors", tensor = "conv", input = [2, 6, 6], padding = [1, 1, 1, 1] }
[[projection]]
source = "c1"
target = "c2"
delay_ms = 2.0
connectivity = { rule = "conv", file = "k.safetensors", tensor = "group", input = [4, 6, 6], padding = [1, 1, 1, 1], groups = 4, pool = { kernel = [2, 2] } }
[[projection]]
source = "c1"
target = "c3"
delay_ms = 1.0
connectivity = { rule = "conv", file = "k.safetensors", tensor = "linear", input = [4, 6, 6], pool = { kernel = [3, 3], padding = [1, 1, 0, 0], count_include_pad = false } }
[[projection]]
source = "big"
target = "w"
delay_ms = 1.0
connectivity = { rule = "conv", file = "k.safetensors", tensor = "wide", input = [1, 12, 12], stride = [2, 1], padding = [2, 0, 1, 3] }
[[record.spikes]]
population = "c2"
[[record.spikes]]
population = "c3"
[[record.spikes]]
population = "w"
"#;

#[test]
fn conv_network_files() {
    let seed = CONV_NETWORK.as_bytes().to_vec();
    // The seed itself builds and runs on both engines alike.
    run(Target::ConvNetwork, &seed).unwrap();
    fuzz(Target::ConvNetwork, &[("conv", seed)]);
}

#[test]
fn csv_files() {
    fuzz(
        Target::Csv,
        &[
            ("spikes", root("networks/example_spikes.csv")),
            ("synapses", root("networks/example_synapses.csv")),
        ],
    );
}

/// Tensors of a two-layer MLP (4 -> 3 -> 2).
fn mlp() -> Vec<(&'static str, Vec<usize>, Vec<f32>)> {
    vec![
        (
            "0.weight",
            vec![3, 4],
            (0..12).map(|i| i as f32 / 10.0 - 0.5).collect(),
        ),
        ("0.bias", vec![3], vec![0.1, -0.1, 0.0]),
        (
            "2.weight",
            vec![2, 3],
            (0..6).map(|i| 0.3 - i as f32 / 10.0).collect(),
        ),
    ]
}

#[test]
fn safetensors_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    common::write_safetensors(&path, &mlp());
    fuzz(
        Target::Safetensors,
        &[("mlp", std::fs::read(&path).unwrap())],
    );
}

#[test]
fn npz_files() {
    let arrays: Vec<(String, Vec<u8>)> = mlp()
        .into_iter()
        .map(|(name, shape, values)| (name.to_string(), common::npy_f32(&shape, &values)))
        .collect();
    fuzz(Target::Npz, &[("mlp", common::npz(&arrays))]);
}

#[test]
fn npz_data_files() {
    // Three 28 x 28 samples in [0, 1] and their labels.
    let x: Vec<f32> = (0..3 * 784).map(|k| (k % 255) as f32 / 255.0).collect();
    let arrays = vec![
        ("x".to_string(), common::npy_f32(&[3, 1, 28, 28], &x)),
        ("y".to_string(), common::npy_i64(&[3], &[7, 0, 9])),
    ];
    fuzz(Target::NpzData, &[("digits", common::npz(&arrays))]);
}

/// An ONNX model `y = relu(x W^T + b)` (Gemm with transB = 1, then Relu), 4 -> 3.
fn onnx() -> Vec<u8> {
    let mut g = common::OnnxGraph::default();
    g.node(
        "fc",
        "Gemm",
        &["x", "W", "b"],
        "h",
        &[common::Attr::Int("transB", 1)],
    );
    g.node("relu", "Relu", &["h"], "y", &[]);
    let w: Vec<f32> = (0..12).map(|i| i as f32 / 10.0 - 0.5).collect();
    g.tensor("W", &[3, 4], &w);
    g.tensor("b", &[3], &[0.1, -0.1, 0.0]);
    // No input type: the dense layer says how many inputs.
    let mut value = Vec::new();
    field(1, b"x", &mut value);
    g.raw_input(&value);
    g.output("y");
    g.bytes()
}

#[test]
fn onnx_files() {
    fuzz(
        Target::Onnx,
        &[
            ("gemm", onnx()),
            ("cnn", root("models/cnn_small/model.onnx")),
        ],
    );
}

#[test]
fn mnist_files() {
    // Three 2x2 images and their labels, behind the byte that splits them.
    let mut images = vec![0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2];
    images.extend((0..12).map(|i| (i * 20) as u8));
    let labels = [0u8, 0, 8, 1, 0, 0, 0, 3, 1, 7, 9];
    let mut seed = vec![images.len() as u8];
    seed.extend(&images);
    seed.extend(labels);
    fuzz(Target::Mnist, &[("tiny", seed)]);
}

#[test]
fn result_files() {
    fuzz(
        Target::Result,
        &[
            ("summary", root("tests/fixtures/run/summary.json")),
            ("eval", root("tests/fixtures/eval/eval.json")),
        ],
    );
}

#[test]
fn spike_and_trace_files() {
    fuzz(
        Target::Spikes,
        &[("spikes", root("tests/fixtures/run/spikes.csv"))],
    );
    fuzz(
        Target::Traces,
        &[("traces", root("tests/fixtures/run/traces.csv"))],
    );
    fuzz(
        Target::Weights,
        &[("weights", root("tests/fixtures/weights/weights.csv"))],
    );
}

#[test]
fn nir_files() {
    fuzz(
        Target::Nir,
        &[
            ("sinabs_cnn", root("tests/fixtures/nir/sinabs_cnn.nir")),
            (
                "braille",
                root("tests/fixtures/nir/paper/03_rnn_braille_noDelay_bias_zero.nir"),
            ),
        ],
    );
}

#[test]
fn the_seeds_are_accepted() {
    // The mutants start from valid inputs, so the suite reaches past the first check.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    common::write_safetensors(&path, &mlp());
    let seeds = [
        (Target::Network, SMALL_NETWORK.as_bytes().to_vec()),
        (Target::Safetensors, std::fs::read(&path).unwrap()),
        (Target::Result, root("tests/fixtures/run/summary.json")),
        (Target::Result, root("tests/fixtures/eval/eval.json")),
        (Target::Onnx, onnx()),
        (Target::Weights, root("tests/fixtures/weights/weights.csv")),
        (Target::Nir, root("tests/fixtures/nir/sinabs_cnn.nir")),
    ];
    for (target, seed) in seeds {
        run(target, &seed).unwrap_or_else(|e| panic!("{target:?} seed refused: {e}"));
    }
}
