//! The `synops` command line: run, validate, graph, bench.
//!
//! Exit codes: 0 success, 2 bad input or failure (the message names file, field and problem).

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use synops::network::{CompileOptions, PopulationGraph};
use synops::output::{Summary, write_atomic, write_results};
use synops::{Engine, Simulation};

#[derive(Parser)]
#[command(
    name = "synops",
    version,
    about = "Event-driven spiking neural network simulator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum EngineArg {
    /// Compute only neurons with input or a possible threshold crossing.
    Event,
    /// Update every neuron every step (reference).
    Clock,
}

impl From<EngineArg> for Engine {
    fn from(e: EngineArg) -> Engine {
        match e {
            EngineArg::Event => Engine::Event,
            EngineArg::Clock => Engine::Clock,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum NormArg {
    /// Maximum activation (Diehl et al. 2015).
    Max,
    /// Percentile of the non-zero activations (Rueckauer et al. 2017).
    Percentile,
}

#[derive(Clone, Copy, ValueEnum)]
enum ResetArg {
    /// Subtract the threshold.
    Subtract,
    /// Reset to zero.
    Zero,
}

#[derive(Clone, Copy, ValueEnum)]
enum NirResetArg {
    /// To `v_reset`, as NIR defines it.
    Value,
    /// Subtract `v_threshold - v_reset` (sinabs' reset).
    Subtract,
}

#[derive(Clone, Copy, ValueEnum)]
enum SpikeArg {
    /// A unit impulse (NIR's definition).
    Dirac,
    /// The value 1 held for one step (snnTorch's forward-Euler export).
    Step,
}

#[derive(Clone, Copy, ValueEnum)]
enum TimeUnitArg {
    /// Seconds, NIR's unit (snnTorch, Norse, Rockpool, Lava).
    Seconds,
    /// Steps of --dt-ms (sinabs writes time constants in steps).
    Steps,
}

#[derive(Clone, Copy, ValueEnum)]
enum EncodingArg {
    /// Pixel values as a constant current.
    Analog,
    /// Poisson spike trains.
    Poisson,
    /// Regular spike trains.
    Regular,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReadoutArg {
    /// Membrane potential of a non-spiking output layer.
    Potential,
    /// Spike counts of the output layer.
    Spikes,
}

#[derive(Clone, Copy, ValueEnum)]
enum ScaleArg {
    /// One scale per layer.
    Layer,
    /// One scale per output channel.
    Channel,
    /// One power-of-two scale per layer (shift-based hardware).
    Pow2,
}

#[derive(Clone, Copy, ValueEnum)]
enum ScopeArg {
    /// The fraction of all weights, over every layer at once.
    Global,
    /// The fraction of each layer's weights.
    Layer,
}

/// How a model is converted: what `convert` and `sweep` share.
#[derive(clap::Args)]
struct ConversionArgs {
    /// Calibration data: `mnist:DIR` (its training split) or `npz:FILE[,x=NAME][,y=NAME]`
    /// (samples `x` [N, ...] float32 in the model's input scaling, integer labels `y` [N]).
    #[arg(long)]
    calibration: String,
    /// Calibration samples (the first N).
    #[arg(long, default_value_t = 10_000)]
    calibration_samples: usize,
    /// Normalization: `max` or `percentile`.
    #[arg(long, value_enum, default_value_t = NormArg::Percentile)]
    normalization: NormArg,
    /// Percentile of the non-zero activations for `percentile` normalization.
    #[arg(long, default_value_t = 99.9)]
    percentile: f64,
    /// Reset after a spike.
    #[arg(long, value_enum, default_value_t = ResetArg::Subtract)]
    reset: ResetArg,
    /// Input encoding.
    #[arg(long, value_enum, default_value_t = EncodingArg::Analog)]
    encoding: EncodingArg,
    /// Rate of an input of value 1 under spike encodings [Hz].
    #[arg(long, default_value_t = 1000.0)]
    max_rate_hz: f64,
    /// Output decoding.
    #[arg(long, value_enum, default_value_t = ReadoutArg::Potential)]
    readout: ReadoutArg,
    /// Potential of the layer neurons at the start of each sample, as a fraction of the
    /// threshold, in [0, 1) (0.5: Bu et al. 2022, rounding rates instead of flooring them).
    #[arg(long, default_value_t = 0.0)]
    initial_potential: f64,
    /// Layer order for state dicts, e.g. `fc1,fc2` (default: from the names, else the shapes).
    #[arg(long, value_delimiter = ',')]
    layers: Option<Vec<String>>,
    /// Layout of 2-D weights in state dicts.
    #[arg(long, value_enum, default_value_t = LayoutArg::Auto)]
    layout: LayoutArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum LayoutArg {
    /// Whichever makes the shapes chain (PyTorch first).
    Auto,
    /// PyTorch `[out, in]`.
    OutIn,
    /// Keras `[in, out]`.
    InOut,
}

#[derive(Clone, Copy, ValueEnum)]
enum KindArg {
    /// Spike raster (time against neuron, populations coloured).
    Raster,
    /// Population rates over time and per-neuron rate histogram.
    Rates,
    /// Membrane potential and synaptic currents of traced neurons.
    Traces,
    /// Inter-spike-interval histogram and CV distribution.
    Isi,
    /// Energy per layer or projection, per device (energy.json).
    Energy,
    /// Accuracy against time steps (eval.json).
    Accuracy,
    /// Accuracy against SOPs per inference (eval.json).
    Tradeoff,
    /// Per-layer SNN rate against ANN activation (eval.json).
    Layers,
    /// Accuracy against energy per inference, one line per device (energy.json of an eval).
    EnergyVsT,
    /// Weight distribution of plastic projections over time and chosen synapses (weights.csv).
    Weights,
    /// Accuracy against energy of every point of a sweep, with the Pareto front (sweep.json).
    Pareto,
}

impl From<KindArg> for synops::plot::Kind {
    fn from(k: KindArg) -> Self {
        use synops::plot::Kind;
        match k {
            KindArg::Raster => Kind::Raster,
            KindArg::Rates => Kind::Rates,
            KindArg::Traces => Kind::Traces,
            KindArg::Isi => Kind::Isi,
            KindArg::Energy => Kind::Energy,
            KindArg::Accuracy => Kind::Accuracy,
            KindArg::Tradeoff => Kind::Tradeoff,
            KindArg::Layers => Kind::Layers,
            KindArg::EnergyVsT => Kind::EnergyVsT,
            KindArg::Pareto => Kind::Pareto,
            KindArg::Weights => Kind::Weights,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// Markdown.
    Md,
    /// JSON.
    Json,
    /// CSV, one row per counted operation.
    Csv,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate a network file and write summary.json, spikes.csv and recordings.
    Run {
        /// Network file (TOML).
        file: PathBuf,
        /// Engine.
        #[arg(long, value_enum, default_value_t = EngineArg::Event)]
        engine: EngineArg,
        /// Override the simulated time [ms].
        #[arg(long)]
        duration_ms: Option<f64>,
        /// Override the seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Threads (default: all cores, at most one per 4096 simulated neurons). Results do
        /// not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Output folder. Default: results/<network name>/.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print nothing but errors.
        #[arg(long)]
        quiet: bool,
        /// Also draw the relevant figures (PNG) into the output folder.
        #[arg(long)]
        plots: bool,
        /// Also write counts.csv: spikes per population, synaptic events per projection and
        /// neuron updates, step by step.
        #[arg(long)]
        counts_per_step: bool,
        /// Time the phases of each step (drives, delivery, updates, checks, sequential part)
        /// and report them (a few percent slower).
        #[arg(long)]
        profile: bool,
        /// Append an energy report for these devices (and write energy.json).
        #[arg(long, value_delimiter = ',')]
        energy: Option<Vec<String>>,
        /// Spikes of the spike sources from a NumPy archive: per source an array `[T, n]` of
        /// 0/1 per step named after it (or `input`), or NIR EventData `idx`, `time` [s]. Without
        /// --duration-ms the run lasts the input's T steps and one more.
        #[arg(long)]
        input: Option<PathBuf>,
    },
    /// Check a network file and print what it contains.
    Validate {
        /// Network file (TOML).
        file: PathBuf,
    },
    /// Print the population graph of a network file as Graphviz DOT.
    Graph {
        /// Network file (TOML).
        file: PathBuf,
        /// Write to this file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Convert a trained ANN (safetensors, npz or ONNX) into a spiking network.
    Convert {
        /// Model file: .safetensors or .npz (a PyTorch state dict) or .onnx.
        model: PathBuf,
        #[command(flatten)]
        conversion: ConversionArgs,
        /// Output path without extension: writes OUT.toml and OUT.safetensors.
        #[arg(long)]
        out: PathBuf,
        /// Time steps of the network file's default run.
        #[arg(long, default_value_t = 100)]
        timesteps: u32,
        /// Quantize the weights: `BITS[:layer|channel|pow2]` (2 to 12 bits, sign included;
        /// scales per layer (default), per output channel, or powers of two). The neurons then
        /// compute in whole numbers.
        #[arg(long, value_parser = synops::convert::compress::parse_quantization)]
        quantize: Option<synops::convert::compress::Quantization>,
        /// Prune the weights of smallest magnitude: `magnitude:FRACTION[:global|layer]
        /// [:uncorrected]` (over all layers at once (default) or in each); pruned synapses are
        /// not stored, and biases are corrected on the calibration samples unless `uncorrected`.
        #[arg(long, value_parser = synops::convert::compress::parse_pruning)]
        prune: Option<synops::convert::compress::Pruning>,
    },
    /// The accuracy-energy trade-off of quantization and pruning: convert a model at every
    /// point of a grid, evaluate each, price it on devices, and write sweep.json, sweep.csv and
    /// sweep.md with the Pareto front of accuracy against energy.
    Sweep {
        /// Model file: .safetensors or .npz (a PyTorch state dict) or .onnx.
        model: PathBuf,
        #[command(flatten)]
        conversion: ConversionArgs,
        /// Test data: `mnist:DIR` (its test split) or `npz:FILE[,x=NAME][,y=NAME]`.
        #[arg(long)]
        data: String,
        /// Bits per weight: 32 (float) or 2 to 12.
        #[arg(long, value_delimiter = ',', default_value = "32,8,4,2")]
        bits: Vec<u32>,
        /// Fractions of the weights pruned by magnitude, in [0, 1).
        #[arg(long, value_delimiter = ',', default_value = "0,0.5,0.8,0.9")]
        prune: Vec<f64>,
        /// Time steps at which every point is read (one run of the longest per sample).
        #[arg(long, value_delimiter = ',', default_value = "10,25,50,100")]
        timesteps: Vec<u32>,
        /// Scales of quantized layers.
        #[arg(long, value_enum, default_value_t = ScaleArg::Layer)]
        scale: ScaleArg,
        /// Over which weights a fraction is pruned.
        #[arg(long, value_enum, default_value_t = ScopeArg::Global)]
        scope: ScopeArg,
        /// Keep the biases of pruned layers as they were (by default each output channel gets
        /// back, on the calibration samples, the mean input pruning took from it).
        #[arg(long)]
        no_bias_correction: bool,
        /// Evaluate only the first N test samples.
        #[arg(long)]
        samples: Option<usize>,
        /// Threads evaluating samples in parallel (default: all cores). The results do not
        /// depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Engine.
        #[arg(long, value_enum, default_value_t = EngineArg::Event)]
        engine: EngineArg,
        /// Devices running the SNN: a profile, or `FLOAT/INTEGER`, a profile for the float
        /// points and one for the quantized points.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "loihi,cmos45-fp32/cmos45-int8"
        )]
        device: Vec<String>,
        /// Device running the ANN (the reference in every energy report).
        #[arg(long, default_value = "cmos45-fp32")]
        ann_device: String,
        /// Output folder: sweep.json, sweep.csv, sweep.md and one folder per point (its
        /// network and eval.json).
        #[arg(long)]
        out: PathBuf,
        /// Also draw the Pareto front (pareto.png).
        #[arg(long)]
        plots: bool,
        /// Print nothing but errors.
        #[arg(long)]
        quiet: bool,
    },
    /// Import a NIR graph (.nir): writes OUT.toml, OUT.safetensors and input spike files.
    ImportNir {
        /// The NIR file.
        file: PathBuf,
        /// The simulation step [ms].
        #[arg(long)]
        dt_ms: f64,
        /// The unit of the file's time constants.
        #[arg(long, value_enum, default_value_t = TimeUnitArg::Seconds)]
        time_unit: TimeUnitArg,
        /// The reset of spiking nodes.
        #[arg(long, value_enum, default_value_t = NirResetArg::Value)]
        reset: NirResetArg,
        /// What a spike is as an input.
        #[arg(long, value_enum, default_value_t = SpikeArg::Dirac)]
        spike: SpikeArg,
        /// Output path without extension.
        #[arg(long)]
        out: PathBuf,
        /// Print nothing.
        #[arg(long)]
        quiet: bool,
    },
    /// Export a network file as a NIR graph (.nir).
    ExportNir {
        /// Network file (TOML).
        file: PathBuf,
        /// The NIR file to write.
        #[arg(short, long)]
        output: PathBuf,
        /// Print nothing.
        #[arg(long)]
        quiet: bool,
    },
    /// Evaluate a network on a data set: accuracy against time steps (and, converted, operations
    /// per layer).
    Eval {
        /// Network file: converted (from `synops convert`), or any network with one spike
        /// source, fed each sample of `npz:` data `[N, T, ...]` (0/1 spikes per step).
        network: PathBuf,
        /// Test data: `mnist:DIR` (its test split) or `npz:FILE[,x=NAME][,y=NAME]`.
        #[arg(long)]
        data: String,
        /// Time steps at which to read the prediction (one run of the longest per sample).
        #[arg(long, value_delimiter = ',', default_value = "10,25,50,100,200")]
        timesteps: Vec<u32>,
        /// Evaluate only the first N test images.
        #[arg(long)]
        samples: Option<usize>,
        /// Threads evaluating samples in parallel (default: all cores). The results do not
        /// depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Engine.
        #[arg(long, value_enum, default_value_t = EngineArg::Event)]
        engine: EngineArg,
        /// Early exit: also report each sample stopped once its leading output has led the
        /// runner-up by MARGIN (potential in thresholds, or spikes for a spike read-out)
        /// for `--early-exit-steps` steps in a row (its class, SOPs and steps at that point).
        #[arg(long, value_name = "MARGIN")]
        early_exit: Option<f64>,
        /// Steps in a row the lead must hold for an early exit.
        #[arg(long, default_value_t = 5, value_name = "STEPS")]
        early_exit_steps: u32,
        /// Output folder for eval.json. Default: results/<network name>/.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print nothing but errors.
        #[arg(long)]
        quiet: bool,
        /// Also draw the relevant figures (PNG) into the output folder.
        #[arg(long)]
        plots: bool,
        /// Append an energy report for these SNN devices (and write energy.json).
        #[arg(long, value_delimiter = ',')]
        energy: Option<Vec<String>>,
        /// Device running the ANN in the energy report.
        #[arg(long, default_value = "cmos45-fp32")]
        ann_device: String,
        /// A network that was not converted (no [conversion] table): the population read out
        /// (default: the one neuron population no projection leaves).
        #[arg(long)]
        output: Option<String>,
    },
    /// Energy estimate of a run (summary.json) or an evaluation (eval.json) on named devices.
    Energy {
        /// A `summary.json` of `synops run` or an `eval.json` of `synops eval`.
        result: PathBuf,
        /// Devices running the SNN (default: all neuromorphic profiles).
        #[arg(long, value_delimiter = ',')]
        device: Option<Vec<String>>,
        /// Device running the ANN (evaluations).
        #[arg(long, default_value = "cmos45-fp32")]
        ann_device: String,
        /// Time steps of the evaluation to detail (default: the largest; the table across
        /// time steps lists them all). Evaluations only.
        #[arg(long)]
        timesteps: Option<u32>,
        /// Extra profiles (TOML, the format of the built-in ones).
        #[arg(long)]
        profiles: Option<PathBuf>,
        /// Leave out the weight fetches (by default one per SOP and MAC, on devices whose
        /// profile gives memory levels).
        #[arg(long)]
        no_memory: bool,
        /// Charge weight fetches (the default; kept for scripts of earlier versions).
        #[arg(long, hide = true, conflicts_with = "no_memory")]
        memory: bool,
        /// Mean hops of a spike between tiles, east-west and north-south (a mapping
        /// assumption; without it routing between tiles is not charged).
        #[arg(long, value_delimiter = ',', num_args = 2, value_names = ["EW", "NS"])]
        hops: Option<Vec<f64>>,
        /// The ANN skips the MACs of zero inputs (default: dense hardware does them all).
        #[arg(long)]
        ann_skip_zeros: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = FormatArg::Md)]
        format: FormatArg,
        /// Write to this file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Draw a figure (PNG or SVG) from result files.
    Plot {
        /// Figure kind.
        #[arg(value_enum)]
        kind: KindArg,
        /// A results folder, or the file itself (spikes.csv, traces.csv, weights.csv, eval.json,
        /// energy.json, sweep.json).
        input: PathBuf,
        /// Output file, .png or .svg.
        #[arg(short, long)]
        output: PathBuf,
        /// Width [pixels].
        #[arg(long, default_value_t = 1200)]
        width: u32,
        /// Height [pixels].
        #[arg(long, default_value_t = 700)]
        height: u32,
        /// `weights` only: the synapses whose weights to trace (the `synapse` column of
        /// weights.csv); default six, from the lowest final weight to the highest.
        #[arg(long, value_delimiter = ',')]
        synapses: Vec<u32>,
    },
    /// Benchmark both engines on the shipped networks and a scaling series.
    Bench {
        /// Folder holding brunel.toml, cuba.toml and sparse_large.toml.
        #[arg(long, default_value = "networks")]
        networks: PathBuf,
        /// Shorter runs (for a quick check).
        #[arg(long)]
        quick: bool,
        /// Write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

/// `net` with the spikes of its spike sources read from `input`; compiled again for the
/// input's duration when the command line gives none.
fn with_input(
    net: synops::CompiledNetwork,
    file: &std::path::Path,
    input: &std::path::Path,
    options: &CompileOptions,
) -> synops::Result<synops::CompiledNetwork> {
    use synops::data::spikes;
    let sources = spikes::sources(&net);
    let named: Vec<(&str, u32)> = sources.iter().map(|(_, n, s)| (n.as_str(), *s)).collect();
    let inputs = spikes::read(input, &named, net.dt_ms)?;
    let mut net = match options.duration_ms {
        Some(_) => net,
        None => {
            let steps = inputs.iter().map(|i| i.steps).max().unwrap_or(0).max(1);
            let longer = CompileOptions {
                // (Rounded to a picosecond, so that 201 x 0.1 ms reads 20.1 ms.)
                duration_ms: Some((f64::from(steps + 1) * net.dt_ms * 1e9).round() / 1e9),
                ..options.clone()
            };
            synops::compile_file(file, &longer)?
        }
    };
    spikes::apply(&mut net, inputs);
    Ok(net)
}

impl ConversionArgs {
    /// The conversion's options, checked before any file is read.
    fn options(&self, timesteps: u32) -> anyhow::Result<synops::convert::ConvertOptions> {
        use synops::convert::{
            ConvertOptions, ConvertReset, InputEncoding, Normalization, Readout,
        };
        let (percentile, max_rate_hz) = (self.percentile, self.max_rate_hz);
        if !(percentile > 0.0 && percentile <= 100.0) {
            anyhow::bail!("--percentile must be in (0, 100], got {percentile}");
        }
        if timesteps == 0 {
            anyhow::bail!("--timesteps must be at least 1, got 0");
        }
        if !(max_rate_hz > 0.0 && max_rate_hz <= MAX_INPUT_RATE_HZ) {
            anyhow::bail!(
                "--max-rate-hz must be above 0 and at most {MAX_INPUT_RATE_HZ} (one spike per 1 ms step), got {max_rate_hz}"
            );
        }
        if self.calibration_samples == 0 {
            anyhow::bail!("--calibration-samples must be at least 1, got 0");
        }
        if !(0.0..1.0).contains(&self.initial_potential) {
            anyhow::bail!(
                "--initial-potential is a fraction of the threshold in [0, 1), got {}",
                self.initial_potential
            );
        }
        synops::data::DataSource::parse(&self.calibration)?;
        Ok(ConvertOptions {
            normalization: match self.normalization {
                NormArg::Max => Normalization::Max,
                NormArg::Percentile => Normalization::Percentile { p: percentile },
            },
            reset: match self.reset {
                ResetArg::Subtract => ConvertReset::Subtract,
                ResetArg::Zero => ConvertReset::Zero,
            },
            encoding: match self.encoding {
                EncodingArg::Analog => InputEncoding::Analog,
                EncodingArg::Poisson => InputEncoding::Poisson,
                EncodingArg::Regular => InputEncoding::Regular,
            },
            readout: match self.readout {
                ReadoutArg::Potential => Readout::Potential,
                ReadoutArg::Spikes => Readout::Spikes,
            },
            max_rate_hz,
            timesteps,
            initial_potential: self.initial_potential,
            quantization: None,
            pruning: None,
        })
    }

    /// The model and its calibration samples.
    fn load(
        &self,
        model: &std::path::Path,
    ) -> anyhow::Result<(synops::convert::ann::Ann, synops::data::Dataset)> {
        use synops::convert::{LoadOptions, ann::Layout};
        let load = LoadOptions {
            order: self.layers.clone(),
            layout: match self.layout {
                LayoutArg::Auto => Layout::Auto,
                LayoutArg::OutIn => Layout::OutIn,
                LayoutArg::InOut => Layout::InOut,
            },
        };
        let source = synops::data::DataSource::parse(&self.calibration)?;
        let ann = synops::convert::load_model(model, &load)?;
        let data = source
            .load(synops::data::Split::Train)?
            .truncate(self.calibration_samples);
        Ok((ann, data))
    }
}

/// `synops sweep`: what it needs besides the grid.
struct SweepRun<'a> {
    model: &'a std::path::Path,
    conversion: &'a ConversionArgs,
    data: &'a str,
    samples: Option<usize>,
    threads: Option<usize>,
    engine: Engine,
    devices: &'a [String],
    ann_device: &'a str,
    out: &'a std::path::Path,
    quiet: bool,
}

impl SweepRun<'_> {
    fn run(&self, grid: &synops::sweep::Grid, plots: bool) -> anyhow::Result<()> {
        let max_t = *grid.timesteps.last().expect("a checked grid");
        if max_t > MAX_EVAL_TIMESTEPS {
            anyhow::bail!(
                "--timesteps: at most {MAX_EVAL_TIMESTEPS} steps per sample, got {max_t}"
            );
        }
        if self.samples == Some(0) || self.threads == Some(0) {
            anyhow::bail!("--samples and --threads must be at least 1, got 0");
        }
        let options = self.conversion.options(max_t)?;
        let profiles = synops::energy::load_profiles(None)?;
        let devices = (self.devices.iter())
            .map(|name| synops::sweep::SweepDevice::select(&profiles, name))
            .collect::<synops::Result<Vec<_>>>()?;
        let ann_device = synops::energy::select(&profiles, &[self.ann_device.to_string()])?[0];
        let source = synops::data::DataSource::parse(self.data)?;
        let (ann, calibration) = self.conversion.load(self.model)?;
        let mut test = source.load(synops::data::Split::Test)?;
        if let Some(n) = self.samples {
            test = test.truncate(n);
        }
        let name = self.model.display().to_string();
        let float = synops::convert::convert(&ann, &calibration, &name, &options)?;
        std::fs::create_dir_all(self.out)
            .with_context(|| format!("creating {}", self.out.display()))?;
        let points = grid.pairs().len();
        let bar = if self.quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new((points * test.len()) as u64)
        };
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{spinner}} sweeping {points} points [{{bar:30}}] {{pos}}/{{len}} samples ({{eta}})"
            ))
            .expect("valid template")
            .progress_chars("=> "),
        );
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads.unwrap_or(0))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot start {:?} threads: {e}", self.threads))?;
        let sweep = synops::sweep::Sweep {
            float: &float,
            grid,
            calibration: &calibration,
            test: &test,
            engine: self.engine,
            devices: &devices,
            ann_device,
            out: self.out,
        };
        let report = pool.install(|| sweep.run(|d| bar.set_position(d as u64)))?;
        bar.finish_and_clear();
        let path = self.out.join("sweep.json");
        write_json(&path, &report)?;
        let csv = report.csv();
        write_atomic(&self.out.join("sweep.csv"), |w| w.write_all(csv.as_bytes()))?;
        let md = report.markdown();
        write_atomic(&self.out.join("sweep.md"), |w| w.write_all(md.as_bytes()))?;
        if plots {
            let figure = self.out.join("pareto.png");
            synops::plot::plot(synops::plot::Kind::Pareto, &path, &figure, (1200, 700))?;
        }
        if !self.quiet {
            print!("{md}");
            println!(
                "\nwrote sweep.json, sweep.csv, sweep.md{} in {}",
                if plots { ", pareto.png" } else { "" },
                self.out.display()
            );
        }
        Ok(())
    }
}

/// `synops eval` of a network that was not converted (see [`synops::eval::spiking`]).
struct SpikingEval<'a> {
    network: &'a std::path::Path,
    ts: &'a [u32],
    samples: Option<usize>,
    threads: usize,
    quiet: bool,
}

impl SpikingEval<'_> {
    fn run(
        &self,
        source: &synops::data::DataSource,
        engine: Engine,
        output: Option<&str>,
        out: Option<PathBuf>,
    ) -> anyhow::Result<()> {
        let mut test = source.load(synops::data::Split::Test)?;
        if let Some(n) = self.samples {
            test = test.truncate(n);
        }
        let bar = if self.quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(test.len() as u64)
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads)
            .build()
            .map_err(|e| anyhow::anyhow!("cannot start {} threads: {e}", self.threads))?;
        let report = pool.install(|| {
            synops::eval::spiking::evaluate(self.network, &test, self.ts, engine, output, |d| {
                bar.set_position(d as u64)
            })
        })?;
        bar.finish_and_clear();
        let dir = out.unwrap_or_else(|| PathBuf::from("results").join(&report.network));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("eval.json");
        write_json(&path, &report)?;
        if !self.quiet {
            print!("{}", report.markdown());
            println!("wrote {}", path.display());
        }
        Ok(())
    }
}

/// Draw `kinds` from the files in `dir` into `dir/<kind>.png`.
fn draw_plots(
    dir: &std::path::Path,
    kinds: Vec<synops::plot::Kind>,
) -> anyhow::Result<Vec<String>> {
    let mut written = Vec::new();
    for kind in kinds {
        let name = format!("{}.png", kind.name());
        synops::plot::plot(kind, dir, &dir.join(&name), (1200, 700))?;
        written.push(name);
    }
    Ok(written)
}

/// Write a value as pretty JSON, atomically.
fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value).map_err(std::io::Error::other)?;
        writeln!(w)
    })?;
    Ok(())
}

/// Check the energy options that need no file: mean hops are finite and >= 0.
fn energy_options(
    no_memory: bool,
    hops: Option<Vec<f64>>,
    ann_skip_zeros: bool,
) -> anyhow::Result<synops::energy::Options> {
    let hops = match hops.as_deref() {
        None => None,
        Some(&[ew, ns]) if [ew, ns].iter().all(|h| h.is_finite() && *h >= 0.0) => Some([ew, ns]),
        Some(h) => anyhow::bail!(
            "--hops: two mean hop counts >= 0 (east-west, north-south) are needed, got {h:?}"
        ),
    };
    Ok(synops::energy::Options {
        memory: !no_memory,
        hops,
        ann_skip_zeros,
    })
}

/// Build an energy report for a result file.
fn energy_report(
    result: &std::path::Path,
    device: Option<Vec<String>>,
    ann_device: &str,
    timesteps: Option<u32>,
    profiles: Option<&std::path::Path>,
    options: &synops::energy::Options,
) -> anyhow::Result<synops::energy::EnergyReport> {
    use synops::energy::{
        DeviceKind, EnergyReport, ResultFile, load_profiles, read_result, select,
    };
    let all = load_profiles(profiles)?;
    let names = device.unwrap_or_else(|| {
        all.iter()
            .filter(|p| p.kind == DeviceKind::Neuromorphic)
            .map(|p| p.name.clone())
            .collect()
    });
    let devices = select(&all, &names)?;
    let ann = select(&all, &[ann_device.to_string()])?[0];
    Ok(match read_result(result)? {
        ResultFile::Run(summary) => {
            if timesteps.is_some() {
                anyhow::bail!(
                    "--timesteps applies to an evaluation (eval.json); {} is a run",
                    result.display()
                );
            }
            if options.ann_skip_zeros {
                anyhow::bail!(
                    "--ann-skip-zeros applies to an evaluation (eval.json); {} is a run",
                    result.display()
                );
            }
            EnergyReport::from_run(&summary, &devices, options)?
        }
        ResultFile::Eval(eval) => {
            EnergyReport::from_eval(&eval, timesteps, &devices, ann, options)?
        }
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Under mpirun, MPI is set up first and finalized (the universe dropped) before exiting.
    #[cfg(feature = "mpi")]
    let universe = synops::distributed::mpi::launched()
        .then(synops::distributed::mpi::initialize)
        .flatten();
    #[cfg(feature = "mpi")]
    let ranks = universe.as_ref().map(|u| {
        Box::new(synops::distributed::mpi::MpiRanks::new(u)) as Box<dyn synops::distributed::Ranks>
    });
    #[cfg(not(feature = "mpi"))]
    let ranks = None;
    let code = match run(cli, ranks) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<FailedElsewhere>() => ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    };
    #[cfg(feature = "mpi")]
    drop(universe);
    code
}

/// A rank of a distributed run that stops because another rank failed, which reports it:
/// exits with code 2, saying nothing.
#[derive(Debug)]
struct FailedElsewhere;

impl std::fmt::Display for FailedElsewhere {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("another rank failed")
    }
}

impl std::error::Error for FailedElsewhere {}

/// `outcome` of every rank of a distributed run (collective): this rank's own error if it is
/// the first rank that failed, [`FailedElsewhere`] if another one did.
fn agree<T, E: Into<anyhow::Error>>(
    ranks: Option<&mut Box<dyn synops::distributed::Ranks>>,
    outcome: Result<T, E>,
) -> anyhow::Result<T> {
    let Some(ranks) = ranks else {
        return outcome.map_err(Into::into);
    };
    let first = synops::distributed::first_failure(ranks.as_mut(), outcome.is_err());
    match (outcome, first) {
        (Ok(value), None) => Ok(value),
        (Err(e), Some(f)) if f == ranks.rank() => Err(e.into()),
        _ => Err(FailedElsewhere.into()),
    }
}

/// The highest rate of an input of value 1 under spike encodings \[Hz\]: a converted network
/// steps 1 ms, and a source spikes at most once per step.
const MAX_INPUT_RATE_HZ: f64 = 1000.0;

/// The longest evaluation per sample \[steps\]: a sample's recorded spikes grow with its
/// steps (about 0.4 GB at a million steps for the shipped MLP).
const MAX_EVAL_TIMESTEPS: u32 = 1_000_000;

/// Simulated neurons per thread below which more threads do not pay: a step of a smaller
/// network takes a few microseconds, about what two barriers between threads cost.
const NEURONS_PER_THREAD: u64 = 4096;

/// The cores of this machine (1 if unknown).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// All cores, but at most one thread per [`NEURONS_PER_THREAD`] simulated neurons.
fn default_threads(net: &synops::CompiledNetwork) -> usize {
    let cores = cores();
    let neurons: u64 = net
        .populations
        .iter()
        .filter(|p| p.is_neurons())
        .map(|p| u64::from(p.size))
        .sum();
    cores.min((neurons / NEURONS_PER_THREAD).max(1) as usize)
}

/// The thread count of a run: `--threads` if given (checked >= 1 before the build), bounded
/// by the parts the network can be split into (one per block of neurons of its largest
/// population) and by the cores; a bound that applies is said on standard error unless
/// `quiet`.
fn run_threads(asked: Option<usize>, net: &synops::CompiledNetwork, quiet: bool) -> usize {
    let Some(asked) = asked else {
        return default_threads(net);
    };
    let cores = cores();
    let blocks = net
        .populations
        .iter()
        .filter(|p| p.is_neurons())
        .map(|p| (p.size as usize).div_ceil(synops::rng::BLOCK_SIZE))
        .max()
        .unwrap_or(1)
        .max(1);
    let bound = cores.min(blocks);
    if asked > bound && !quiet {
        eprintln!(
            "note: --threads {asked}: running on {bound} (this machine has {cores} cores; the largest population splits into at most {blocks} parts of {} neurons)",
            synops::rng::BLOCK_SIZE
        );
    }
    asked.min(bound)
}

/// Check that every device named for an energy report exists, before any work is done.
fn check_devices(energy: Option<&[String]>, ann_device: Option<&str>) -> anyhow::Result<()> {
    let Some(devices) = energy else {
        return Ok(());
    };
    let profiles = synops::energy::load_profiles(None)?;
    synops::energy::select(&profiles, devices)?;
    if let Some(ann) = ann_device {
        synops::energy::select(&profiles, &[ann.to_string()])?;
    }
    Ok(())
}

fn run(cli: Cli, mut ranks: Option<Box<dyn synops::distributed::Ranks>>) -> anyhow::Result<()> {
    let (rank, size) = ranks.as_ref().map_or((0, 1), |r| (r.rank(), r.size()));
    match cli.command {
        Command::Run {
            file,
            engine,
            duration_ms,
            seed,
            threads,
            out,
            quiet,
            plots,
            counts_per_step,
            profile,
            energy,
            input,
        } => {
            // Only rank 0 of a distributed run reports and writes.
            let quiet = quiet || rank != 0;
            let options_checked = (|| {
                check_devices(energy.as_deref(), None)?;
                if threads == Some(0) {
                    anyhow::bail!("--threads must be at least 1, got 0");
                }
                if size > 1 && (counts_per_step || profile) {
                    anyhow::bail!(
                        "--counts-per-step and --profile run in one process; leave them out under mpirun ({size} ranks)"
                    );
                }
                Ok(())
            })();
            agree(ranks.as_mut(), options_checked)?;
            // Under mpirun each rank keeps only the synapses onto its own neurons: its parts
            // are fixed by the ranks and its threads (one unless asked, at most the cores).
            let rank_threads = threads.unwrap_or(1).min(cores());
            let options = CompileOptions {
                duration_ms,
                seed,
                local_targets: (size > 1).then_some(synops::distributed::LocalTargets {
                    rank,
                    ranks: size,
                    threads: rank_threads,
                }),
                ..Default::default()
            };
            let building = if quiet {
                ProgressBar::hidden()
            } else {
                ProgressBar::new_spinner()
            };
            building.set_message(format!("building {}", file.display()));
            building.enable_steady_tick(std::time::Duration::from_millis(100));
            let start = Instant::now();
            let net = synops::compile_file(&file, &options);
            let net = match (net, &input) {
                (Ok(net), Some(path)) => with_input(net, &file, path, &options),
                (net, _) => net,
            };
            building.finish_and_clear();
            let net = agree(ranks.as_mut(), net)?;
            let build_s = start.elapsed().as_secs_f64();
            let engine = Engine::from(engine);
            let bar = if quiet {
                ProgressBar::hidden()
            } else {
                ProgressBar::new(u64::from(net.steps))
            };
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:30}] {pos}/{len} steps ({eta})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_message(format!("{} ({})", net.name, engine.as_str()));
            // Under mpirun: one thread per rank unless asked.
            let threads = match &ranks {
                Some(_) => rank_threads,
                None => run_threads(threads, &net, quiet),
            };
            let mut sim = match ranks.take() {
                Some(ranks) => Simulation::distributed(&net, engine, threads, ranks)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?,
                None => Simulation::with_threads(&net, engine, threads),
            };
            if profile {
                sim.enable_profile();
            }
            let start = Instant::now();
            let mut per_step = synops::record::CountsPerStep::starting_at(&sim);
            let ran = if counts_per_step {
                sim.run_observed(|sim| {
                    synops::record::Recorder::step(&mut per_step, sim);
                    if sim.current_step().is_multiple_of(100) {
                        bar.set_position(u64::from(sim.current_step()));
                    }
                })
            } else {
                sim.run(|step| bar.set_position(u64::from(step)))
            }
            .map_err(|runaway| synops::Error::Runaway {
                path: file.clone(),
                context: String::new(),
                runaway: Box::new(runaway),
            });
            let wall_s = start.elapsed().as_secs_f64();
            bar.finish_and_clear();
            if sim.stopped_elsewhere() {
                return Err(FailedElsewhere.into());
            }
            ran?;
            if rank != 0 {
                return Ok(());
            }
            let mut summary = Summary::new(&net, engine, &sim.counts, build_s, wall_s);
            summary.threads = threads;
            summary.ranks = sim.exchange_stats().cloned();
            if let Some(stats) = sim.exchange_stats() {
                summary.synapses = stats.synapses;
                let gathered = stats.projection_synapses.iter();
                let sizes = gathered.zip(&stats.projection_weight_bytes);
                for (p, (&n, &bytes)) in summary.projections.iter_mut().zip(sizes) {
                    p.synapses = n;
                    p.weight_bytes = bytes;
                }
            }
            summary.profile = sim.profile().cloned();
            let dir = out.unwrap_or_else(|| PathBuf::from("results").join(&net.name));
            let mut written = write_results(&dir, &net, &summary, &sim.recorded)?;
            if counts_per_step {
                write_atomic(&dir.join("counts.csv"), |w| {
                    let mut header = vec!["time_ms".to_string()];
                    header.extend(net.populations.iter().map(|p| format!("spikes_{}", p.name)));
                    header.extend(net.projections.iter().map(|p| format!("sops_{}", p.name)));
                    header.push("neuron_updates".into());
                    writeln!(w, "{}", header.join(","))?;
                    for (k, row) in per_step.rows.iter().enumerate() {
                        let cols: Vec<String> = row.iter().map(u64::to_string).collect();
                        writeln!(w, "{},{}", (k + 1) as f64 * net.dt_ms, cols.join(","))?;
                    }
                    Ok(())
                })?;
                written.push("counts.csv".into());
            }
            if !quiet {
                print!("{}", summary.table());
            }
            if let Some(devices) = energy {
                let profiles = synops::energy::load_profiles(None)?;
                let devices = synops::energy::select(&profiles, &devices)?;
                let options = synops::energy::Options {
                    memory: true,
                    ..Default::default()
                };
                let report = synops::energy::EnergyReport::from_run(&summary, &devices, &options)?;
                write_json(&dir.join("energy.json"), &report)?;
                written.push("energy.json".into());
                if !quiet {
                    print!("\n{}", report.markdown());
                }
            }
            if plots {
                written.extend(draw_plots(&dir, synops::plot::run_kinds(&dir))?);
            }
            if !quiet {
                println!("wrote {} in {}", written.join(", "), dir.display());
            }
            Ok(())
        }
        Command::Validate { file } => {
            let net = synops::compile_file(&file, &CompileOptions::default())?;
            println!(
                "{}: network `{}` is valid: {} populations, {} neurons, {} projections, {} synapses, {} steps of {} ms",
                file.display(),
                net.name,
                net.populations.len(),
                net.neurons(),
                net.projections.len(),
                net.synapses(),
                net.steps,
                net.dt_ms
            );
            Ok(())
        }
        Command::Graph { file, output } => {
            let spec = synops::network::read_spec(&file)?;
            let graph = PopulationGraph::from_spec(&spec, &file)?;
            let dot = graph.to_dot(&spec.name);
            match output {
                Some(path) => write_atomic(&path, |w| w.write_all(dot.as_bytes()))
                    .with_context(|| format!("writing {}", path.display()))?,
                None => print!("{dot}"),
            }
            Ok(())
        }
        Command::ExportNir {
            file,
            output,
            quiet,
        } => {
            let net = synops::compile_file(&file, &CompileOptions::default())?;
            let exported = synops::nir::export(&net, &file)?;
            write_atomic(&output, |w| w.write_all(&exported.bytes))?;
            if !quiet {
                for n in &exported.notes {
                    println!("note: {n}");
                }
                println!("wrote {}", output.display());
            }
            Ok(())
        }
        Command::ImportNir {
            file,
            dt_ms,
            time_unit,
            reset,
            spike,
            out,
            quiet,
        } => {
            use synops::nir::{self, Options, ResetMode, SpikeArea, TimeUnit};
            let options = Options {
                dt_ms,
                time_unit: match time_unit {
                    TimeUnitArg::Seconds => TimeUnit::Seconds,
                    TimeUnitArg::Steps => TimeUnit::Steps,
                },
                reset: match reset {
                    NirResetArg::Value => ResetMode::Value,
                    NirResetArg::Subtract => ResetMode::Subtract,
                },
                spike: match spike {
                    SpikeArg::Dirac => SpikeArea::Dirac,
                    SpikeArg::Step => SpikeArea::Step,
                },
            };
            let (graph, lowered) = nir::import(&file, &options)?;
            let written = nir::write(&lowered, &file, &graph.version, &options, &out)?;
            if !quiet {
                for n in &lowered.notes {
                    println!("{n}");
                }
                let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
                println!("wrote {}", names.join(", "));
            }
            Ok(())
        }
        Command::Convert {
            model,
            conversion,
            out,
            timesteps,
            quantize,
            prune,
        } => {
            let mut options = conversion.options(timesteps)?;
            options.quantization = quantize;
            options.pruning = prune;
            let (ann, data) = conversion.load(&model)?;
            let name = model.display().to_string();
            let converted = synops::convert::convert(&ann, &data, &name, &options)?;
            let (net_path, weights_path) = converted.write(&out)?;
            println!(
                "{}: {} layers, calibrated on {} training images, {} normalization\n",
                model.display(),
                ann.layers.len(),
                data.len(),
                options.normalization
            );
            print!("{}", converted.table());
            println!(
                "\nwrote {} and {}",
                net_path.display(),
                weights_path.display()
            );
            Ok(())
        }
        Command::Sweep {
            model,
            conversion,
            data,
            bits,
            prune,
            timesteps,
            scale,
            scope,
            no_bias_correction,
            samples,
            threads,
            engine,
            device,
            ann_device,
            out,
            plots,
            quiet,
        } => {
            let grid = synops::sweep::Grid {
                bits,
                prune,
                timesteps,
                scale: match scale {
                    ScaleArg::Layer => synops::convert::compress::ScaleMode::Layer,
                    ScaleArg::Channel => synops::convert::compress::ScaleMode::Channel,
                    ScaleArg::Pow2 => synops::convert::compress::ScaleMode::Pow2,
                },
                scope: match scope {
                    ScopeArg::Global => synops::convert::compress::PruneScope::Global,
                    ScopeArg::Layer => synops::convert::compress::PruneScope::Layer,
                },
                bias_correction: !no_bias_correction,
            }
            .checked()?;
            let run = SweepRun {
                model: &model,
                conversion: &conversion,
                data: &data,
                samples,
                threads,
                engine: engine.into(),
                devices: &device,
                ann_device: &ann_device,
                out: &out,
                quiet,
            };
            run.run(&grid, plots)
        }
        Command::Eval {
            network,
            data,
            timesteps,
            samples,
            threads,
            engine,
            early_exit,
            early_exit_steps,
            out,
            quiet,
            plots,
            energy,
            ann_device,
            output,
        } => {
            // Under mpirun every rank prepares alike and agrees before the samples are shared
            // out; a rank that fails before that point makes the others stop with it.
            let mut agreed = ranks.is_none();
            let quiet = quiet || rank != 0;
            let result = (|| -> anyhow::Result<()> {
                check_devices(energy.as_deref(), Some(&ann_device))?;
                if let Some(m) = early_exit.filter(|m| !(m.is_finite() && *m > 0.0)) {
                    anyhow::bail!("--early-exit must be a positive lead, got {m}");
                }
                if early_exit_steps == 0 {
                    anyhow::bail!("--early-exit-steps must be at least 1, got 0");
                }
                let early = early_exit.map(|margin| synops::eval::EarlyExit {
                    margin,
                    steps: early_exit_steps,
                });
                if samples == Some(0) {
                    anyhow::bail!("--samples must be at least 1, got 0");
                }
                if threads == Some(0) {
                    anyhow::bail!("--threads must be at least 1, got 0");
                }
                let mut ts = timesteps;
                ts.sort_unstable();
                ts.dedup();
                if ts.first() == Some(&0) || ts.is_empty() {
                    anyhow::bail!(
                        "--timesteps must be positive numbers of steps, e.g. 10,25,50,100"
                    );
                }
                if let Some(&t) = ts.last().filter(|&&t| t > MAX_EVAL_TIMESTEPS) {
                    anyhow::bail!(
                        "--timesteps: at most {MAX_EVAL_TIMESTEPS} steps per sample, got {t} (each sample's spikes are kept for the read-out)"
                    );
                }
                let source = synops::data::DataSource::parse(&data)?;
                let spec = synops::network::read_spec(&network)?;
                if spec.conversion.is_none() {
                    let sources = spec
                        .populations
                        .iter()
                        .filter(|p| p.model == synops::network::spec::ModelName::SpikeSource)
                        .count();
                    if sources != 1 {
                        anyhow::bail!(
                            "{}: not a converted network (no [conversion] table; make one with `synops convert`), nor a network with one spike_source population to feed the samples (it has {sources})",
                            network.display()
                        );
                    }
                    if early.is_some() || energy.is_some() || plots {
                        anyhow::bail!(
                            "--early-exit, --energy and --plots evaluate converted networks; {} has no [conversion] table",
                            network.display()
                        );
                    }
                    if size > 1 {
                        anyhow::bail!(
                            "{}: evaluating a network that was not converted is not shared over ranks; run it in one process, with --threads",
                            network.display()
                        );
                    }
                    let threads = threads.unwrap_or(0);
                    let spiking = SpikingEval {
                        network: &network,
                        ts: &ts,
                        samples,
                        threads,
                        quiet,
                    };
                    return spiking.run(&source, Engine::from(engine), output.as_deref(), out);
                }
                if output.is_some() {
                    anyhow::bail!(
                        "--output reads out a network that was not converted; {} is a converted one",
                        network.display()
                    );
                }
                let cn =
                    synops::eval::ConvertedNetwork::load(&network, *ts.last().expect("non-empty"))?;
                let mut test = source.load(synops::data::Split::Test)?;
                if let Some(n) = samples {
                    test = test.truncate(n);
                }
                let bar = if quiet {
                    ProgressBar::hidden()
                } else {
                    ProgressBar::new(test.len() as u64)
                };
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} evaluating [{bar:30}] {pos}/{len} samples ({eta})",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads.unwrap_or(0))
                    .build()
                    .map_err(|e| anyhow::anyhow!("cannot start {threads:?} threads: {e}"))?;
                if !agreed {
                    agreed = true;
                    agree(ranks.as_mut(), Ok::<(), anyhow::Error>(()))?;
                }
                let shared = ranks
                    .as_deref_mut()
                    .map(|r| r as &mut dyn synops::distributed::Ranks);
                let report = pool.install(|| {
                    let plan = (Engine::from(engine), early);
                    synops::eval::evaluate_over(&cn, &test, &ts, plan, shared, |d| {
                        bar.set_position(d as u64)
                    })
                });
                // (Every rank has the same report, or the same error: rank 0 tells it.)
                let report = match report {
                    Err(_) if rank != 0 => return Err(FailedElsewhere.into()),
                    report => report?,
                };
                bar.finish_and_clear();
                if rank != 0 {
                    return Ok(());
                }
                let dir = out.unwrap_or_else(|| PathBuf::from("results").join(&cn.net.name));
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let path = dir.join("eval.json");
                write_atomic(&path, |w| {
                    serde_json::to_writer_pretty(&mut *w, &report)
                        .map_err(std::io::Error::other)?;
                    writeln!(w)
                })?;
                if !quiet {
                    print!("{}", report.markdown());
                    println!("wrote {}", path.display());
                }
                if let Some(devices) = energy {
                    let options = synops::energy::Options {
                        memory: true,
                        ..Default::default()
                    };
                    let energy =
                        energy_report(&path, Some(devices), &ann_device, None, None, &options)?;
                    let epath = dir.join("energy.json");
                    write_json(&epath, &energy)?;
                    if !quiet {
                        print!("\n{}", energy.markdown());
                        println!("wrote {}", epath.display());
                    }
                }
                if plots {
                    let drawn = draw_plots(&dir, synops::plot::eval_kinds(&dir))?;
                    if !quiet {
                        println!("wrote {} in {}", drawn.join(", "), dir.display());
                    }
                }
                Ok(())
            })();
            match result {
                Err(e) if !agreed => agree(ranks.as_mut(), Err::<(), _>(e)),
                result => result,
            }
        }
        Command::Energy {
            result,
            device,
            ann_device,
            timesteps,
            profiles,
            no_memory,
            memory: _,
            hops,
            ann_skip_zeros,
            format,
            output,
        } => {
            let options = energy_options(no_memory, hops, ann_skip_zeros)?;
            let report = energy_report(
                &result,
                device,
                &ann_device,
                timesteps,
                profiles.as_deref(),
                &options,
            )?;
            let text = match format {
                FormatArg::Md => report.markdown(),
                FormatArg::Csv => report.csv(),
                FormatArg::Json => serde_json::to_string_pretty(&report)? + "\n",
            };
            match output {
                Some(path) => write_atomic(&path, |w| w.write_all(text.as_bytes()))?,
                None => print!("{text}"),
            }
            Ok(())
        }
        Command::Plot {
            kind,
            input,
            output,
            width,
            height,
            synapses,
        } => {
            synops::plot::plot_with(kind.into(), &input, &output, (width, height), &synapses)?;
            Ok(())
        }
        Command::Bench {
            networks,
            quick,
            json,
        } => {
            let report = synops::bench::run(&networks, quick)?;
            if let Some(path) = json {
                write_atomic(&path, |w| {
                    serde_json::to_writer_pretty(&mut *w, &report).map_err(std::io::Error::other)
                })?;
            }
            Ok(())
        }
    }
}
