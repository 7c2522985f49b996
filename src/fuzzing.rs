//! Entry points for fuzzing: each runs one of synops' readers on arbitrary bytes, written as
//! the file a user would hand it, and goes on as the command line would (a network that
//! builds is simulated for a few steps on both engines; a result that reads is priced and
//! drawn). A reader may refuse its input; a panic, a hang, a disagreement of the engines or
//! a file left behind after a refusal is a bug. The `cargo fuzz` targets in `fuzz/` and the
//! mutation suite `tests/fuzz.rs` call these.

use crate::error::Result;
use crate::network::CompileOptions;
use crate::sim::{Engine, Simulation};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What a fuzzed input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A network file (TOML), built and run.
    Network,
    /// A network file with convolution kernels in a safetensors file beside it (fixed), built
    /// and run.
    ConvNetwork,
    /// A CSV file named by a network: spike times and a synapse list.
    Csv,
    /// A safetensors state dict.
    Safetensors,
    /// A NumPy `.npz` archive.
    Npz,
    /// An ONNX model.
    Onnx,
    /// MNIST IDX files: the first byte splits the rest into images and labels.
    Mnist,
    /// A data set in a NumPy `.npz` archive (`npz:FILE`).
    NpzData,
    /// A `summary.json` or `eval.json` for `synops energy`.
    Result,
    /// A `spikes.csv` for `synops plot raster`, `rates` and `isi`.
    Spikes,
    /// A `traces.csv` for `synops plot traces`.
    Traces,
    /// A `weights.csv` for `synops plot weights`.
    Weights,
    /// A NIR file (HDF5) for `synops import-nir`, written out and compiled when it imports.
    Nir,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 13] = [
        Target::Network,
        Target::ConvNetwork,
        Target::Csv,
        Target::Safetensors,
        Target::Npz,
        Target::Onnx,
        Target::Mnist,
        Target::NpzData,
        Target::Result,
        Target::Spikes,
        Target::Traces,
        Target::Weights,
        Target::Nir,
    ];
}

/// Memory a fuzzed network may take: mutants that grow a network are refused quickly.
const MEMORY_LIMIT: u64 = 256 << 20;
/// Steps a fuzzed network is simulated for.
const STEPS: u32 = 50;

/// A folder of its own for one input, removed afterwards.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "synops-fuzz-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a scratch folder can be made");
        Scratch(dir)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).expect("a scratch file can be written");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run `target`'s reader on `bytes`. An `Err` is a refusal (fine); a panic is a bug.
///
/// # Panics
/// Where synops has a bug: the engines disagree, or a refused figure left a file behind.
pub fn run(target: Target, bytes: &[u8]) -> Result<()> {
    let scratch = Scratch::new();
    match target {
        Target::Network => network(&scratch.file("net.toml", bytes)),
        Target::ConvNetwork => {
            write_kernels(&scratch.0.join("k.safetensors"));
            network(&scratch.file("net.toml", bytes))
        }
        Target::Csv => csv(&scratch, bytes),
        Target::Safetensors => model(&scratch.file("m.safetensors", bytes)),
        Target::Npz => model(&scratch.file("m.npz", bytes)),
        Target::Onnx => model(&scratch.file("m.onnx", bytes)),
        Target::Mnist => mnist(&scratch, bytes),
        Target::NpzData => npz_data(&scratch.file("data.npz", bytes)),
        Target::Result => result(&scratch, bytes),
        Target::Spikes => figures(&scratch, "spikes.csv", bytes),
        Target::Traces => figures(&scratch, "traces.csv", bytes),
        Target::Weights => figures(&scratch, "weights.csv", bytes),
        Target::Nir => nir(&scratch, bytes),
    }
}

/// Import a NIR file as `synops import-nir` does (both time units), and write what imports:
/// the writer compiles it, so a refusal there is an error too, never a panic.
fn nir(scratch: &Scratch, bytes: &[u8]) -> Result<()> {
    use crate::nir::{Options, ResetMode, SpikeArea, TimeUnit};
    let path = scratch.file("g.nir", bytes);
    for time_unit in [TimeUnit::Seconds, TimeUnit::Steps] {
        let options = Options {
            dt_ms: 1.0,
            time_unit,
            reset: ResetMode::Subtract,
            spike: SpikeArea::Dirac,
        };
        let (graph, lowered) = crate::nir::import(&path, &options)?;
        let sizes: usize = lowered.populations.iter().map(|p| p.size()).sum();
        if sizes > 1 << 20 {
            continue; // (large, valid graphs are not what this target looks for)
        }
        crate::nir::write(
            &lowered,
            &path,
            &graph.version,
            &options,
            &scratch.0.join("net"),
        )?;
    }
    Ok(())
}

/// Build a network file and run its first steps on both engines, which must agree.
fn network(path: &Path) -> Result<()> {
    let options = CompileOptions {
        memory_limit_bytes: Some(MEMORY_LIMIT),
        ..Default::default()
    };
    let net = crate::network::compile_file(path, &options)?;
    let steps = |engine| {
        let mut sim = Simulation::new(&net, engine);
        let mut ran = Ok(());
        for _ in 0..STEPS.min(net.steps) {
            ran = sim.advance();
            if ran.is_err() {
                break;
            }
        }
        (sim.recorded.spikes, ran)
    };
    let (event, clock) = (steps(Engine::Event), steps(Engine::Clock));
    assert_eq!(event, clock, "the engines disagree on {}", path.display());
    Ok(())
}

/// The tensors a fuzzed conv network may name: `conv` `[4, 2, 3, 3]`, `group` `[4, 1, 3, 3]`,
/// `linear` `[3, 16]` and `wide` `[2, 1, 9, 9]`.
fn write_kernels(path: &Path) {
    let tensor = |shape: Vec<usize>| {
        let n: usize = shape.iter().product();
        let values: Vec<u8> = (0..n)
            .flat_map(|k| (((k * 7) % 11) as f32 * 0.25 - 1.0).to_le_bytes())
            .collect();
        (shape, values)
    };
    let tensors = [
        ("conv", tensor(vec![4, 2, 3, 3])),
        ("group", tensor(vec![4, 1, 3, 3])),
        ("linear", tensor(vec![3, 16])),
        ("wide", tensor(vec![2, 1, 9, 9])),
    ];
    let views: Vec<(&str, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(name, (shape, bytes))| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes);
            (*name, view.expect("shape matches data"))
        })
        .collect();
    let bytes = safetensors::serialize(views, None).expect("tensors serialize");
    std::fs::write(path, bytes).expect("a scratch file can be written");
}

/// A network whose spike source and synapse list are the fuzzed CSV.
const CSV_NETWORK: &str = r#"version = 1
name = "csv"
[simulation]
dt_ms = 0.1
duration_ms = 5.0
[[population]]
name = "src"
size = 8
model = "spike_source"
file = "s.csv"
[[population]]
name = "n"
size = 8
model = "lif_delta"
tau_m_ms = 10.0
v_th_mv = 1.0
[[projection]]
source = "src"
target = "n"
connectivity = { rule = "from_file", file = "l.csv" }
weight_mv = 0.5
delay_ms = 0.1
"#;

fn csv(scratch: &Scratch, bytes: &[u8]) -> Result<()> {
    // The same bytes as spike times (with a valid list) and as a synapse list (with valid
    // spike times).
    let spikes = b"time_ms,index\n0.1,0\n";
    let list = b"source,target\n0,0\n";
    for (s, l) in [(bytes, &list[..]), (&spikes[..], bytes)] {
        scratch.file("s.csv", s);
        scratch.file("l.csv", l);
        let _ = network(&scratch.file("net.toml", CSV_NETWORK.as_bytes()));
    }
    Ok(())
}

/// Import a model and run its ANN on one input.
fn model(path: &Path) -> Result<()> {
    let ann = crate::convert::load_model(path, &Default::default())?;
    let inputs = ann.n_in();
    let macs = ann.feature_macs() + ann.macs_per_layer().iter().sum::<u64>();
    if inputs <= 1 << 16 && macs <= 1 << 26 {
        let _ = ann.forward(&vec![0.5; inputs]);
    }
    Ok(())
}

/// Read a data set from an `.npz` archive and check it against a 784-input, 10-class model.
fn npz_data(path: &Path) -> Result<()> {
    let data = crate::data::npz::load(path, "x", "y")?;
    crate::data::check_shape(&data, &[1, 28, 28], path)?;
    crate::data::check_classes(&data, 10, path)?;
    for i in 0..data.len().min(3) {
        let _ = data.image(i);
    }
    Ok(())
}

fn mnist(scratch: &Scratch, bytes: &[u8]) -> Result<()> {
    let split = usize::from(bytes.first().copied().unwrap_or(0)).min(bytes.len());
    let rest = bytes.get(1..).unwrap_or_default();
    let (images, labels) = rest.split_at(split.min(rest.len()));
    scratch.file("t10k-images-idx3-ubyte", images);
    scratch.file("t10k-labels-idx1-ubyte", labels);
    let data = crate::data::mnist::load(&scratch.0, crate::data::Split::Test)?;
    for i in 0..data.len().min(3) {
        let _ = data.image(i);
    }
    Ok(())
}

/// Read a result and price it on every built-in device, as `synops energy` does.
fn result(scratch: &Scratch, bytes: &[u8]) -> Result<()> {
    use crate::energy::{EnergyReport, Options, ResultFile, load_profiles, read_result};
    let path = scratch.file("result.json", bytes);
    let profiles = load_profiles(None)?;
    let devices: Vec<_> = profiles.iter().collect();
    let report = match read_result(&path)? {
        ResultFile::Run(summary) => {
            EnergyReport::from_run(&summary, &devices, &Options::default())?
        }
        ResultFile::Eval(eval) => {
            EnergyReport::from_eval(&eval, None, &devices, devices[0], &Options::default())?
        }
    };
    let _ = (report.markdown(), report.csv());
    Ok(())
}

/// A run's `summary.json` for the figures of a fuzzed `spikes.csv` or `traces.csv`.
const SUMMARY: &str = include_str!("../tests/fixtures/run/summary.json");
/// The `summary.json` of a plastic run, for a fuzzed `weights.csv`.
const PLASTIC_SUMMARY: &str = include_str!("../tests/fixtures/weights/summary.json");

/// Draw every figure of a fuzzed `spikes.csv`, `traces.csv` or `weights.csv`; a refusal
/// leaves no file.
fn figures(scratch: &Scratch, name: &str, bytes: &[u8]) -> Result<()> {
    use crate::plot::{Kind, plot};
    let summary = if name == "weights.csv" {
        PLASTIC_SUMMARY
    } else {
        SUMMARY
    };
    scratch.file("summary.json", summary.as_bytes());
    scratch.file(name, bytes);
    let kinds: &[Kind] = match name {
        "traces.csv" => &[Kind::Traces],
        "weights.csv" => &[Kind::Weights],
        _ => &[Kind::Raster, Kind::Rates, Kind::Isi],
    };
    for &kind in kinds {
        let out = scratch.0.join("figure.svg");
        if plot(kind, &scratch.0, &out, (400, 300)).is_err() {
            let left: Vec<_> = std::fs::read_dir(&scratch.0)
                .expect("the scratch folder is there")
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("figure"))
                .collect();
            assert!(left.is_empty(), "a refused figure left {left:?}");
        }
        let _ = std::fs::remove_file(&out);
    }
    Ok(())
}
