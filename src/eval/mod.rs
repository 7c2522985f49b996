//! Evaluation of a converted network on a data set: accuracy against time steps, with exact
//! operation counts per layer, the ANN's accuracy from the same weights beside it, and
//! per-layer diagnostics (SNN rate against normalized ANN activation).
//!
//! Each sample is one simulation of `max(T)` steps on the event engine; the prediction is read
//! at every requested `T` during that run. Samples run in parallel (rayon); each sample's
//! result depends only on the sample (spike-encoded inputs use a random stream per sample), so
//! the report does not depend on the number of threads.

mod layered;
pub mod spiking;

use crate::convert::ann::{Ann, DenseLayer, argmax};
use crate::convert::features::{AvgPool2d, Conv2d, FeatureLayer};
use crate::convert::{ConversionSpec, InputEncoding, Readout};
use crate::data::Dataset;
use crate::distributed::{Ranks, Words};
use crate::error::{Error, Result};
use crate::network::compiled::Weights;
use crate::network::{CompileOptions, CompiledNetwork, compile, read_spec};
use crate::sim::{Engine, Runaway, Simulation};
use layered::{Fallback, LayeredPlan, LayeredRun};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// Results at one number of time steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimestepResult {
    /// Time steps.
    pub t: u32,
    /// Fraction of samples classified correctly.
    pub accuracy: f64,
    /// Synaptic operations per sample (spikes delivered over one synapse), all layers.
    pub sops_per_sample: f64,
    /// Per layer (projection into it), in layer order.
    pub sops_per_layer: Vec<f64>,
    /// Spikes per sample, all layers.
    pub spikes_per_sample: f64,
    /// Per layer: input population (spike encodings) then each layer population.
    pub spikes_per_layer: Vec<f64>,
    /// State evaluations per sample made by the engine.
    pub neuron_updates_per_sample: f64,
    /// Per layer population.
    pub neuron_updates_per_layer: Vec<f64>,
    /// What a clock-driven engine evaluates per sample: layer neurons x T.
    pub clock_equivalent_updates_per_sample: f64,
    /// Per layer population: neurons x T (what clocked hardware updates per sample).
    pub neuron_steps_per_layer: Vec<f64>,
    /// Per layer population, mean per sample: the active neuron-steps (the neuron received an
    /// input event, carried a non-zero constant current, or spiked in that step). The same for
    /// both engines.
    pub active_neuron_steps_per_layer: Vec<f64>,
}

/// Per-layer conversion diagnostics at the longest run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerDiagnostics {
    /// Layer population.
    pub layer: String,
    /// What is compared: `rate` (spikes per step) or, for a non-spiking read-out, `potential`
    /// (membrane potential per step against the normalized logit).
    pub quantity: String,
    /// Mean spikes per step per neuron (or potential per step).
    pub snn_mean_rate: f64,
    /// Mean normalized ANN activation (activation / scale; clipped to [0, 1] for rates).
    pub ann_mean_activation: f64,
    /// Pearson correlation of SNN rate and normalized ANN activation over all (sample, neuron).
    pub correlation: f64,
    /// Per neuron: SNN rate (or potential per step), averaged over samples.
    pub neuron_snn: Vec<f64>,
    /// Per neuron: normalized ANN activation, averaged over samples.
    pub neuron_ann: Vec<f64>,
}

/// `eval.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    /// Converted network name.
    pub model: String,
    /// ANN accuracy on the same samples, from the same (scaled) weights.
    pub ann_accuracy: f64,
    /// ANN multiply-accumulates per sample.
    pub ann_macs_per_sample: u64,
    /// Per layer.
    pub ann_macs_per_layer: Vec<u64>,
    /// Additions per layer outside the MACs: a bias per neuron and, for a layer after an
    /// average pooling, the pooling's sums and divisions.
    pub ann_bias_adds_per_layer: Vec<u64>,
    /// Weights stored per layer (a convolution's kernel once); empty in reports written before
    /// it was recorded, where the MACs stand for them (dense layers have as many).
    #[serde(default)]
    pub ann_weights_per_layer: Vec<u64>,
    /// Weights kept per layer by pruning (all of them without it).
    #[serde(default)]
    pub weights_kept_per_layer: Vec<u64>,
    /// Bits per stored weight per layer (32: floating point).
    #[serde(default)]
    pub weight_bits_per_layer: Vec<u32>,
    /// Bytes of the stored weights per layer: kept weights x bits / 8, plus 4 per scale of a
    /// quantized layer.
    #[serde(default)]
    pub weight_bytes_per_layer: Vec<u64>,
    /// Layer populations, in order.
    pub layer_names: Vec<String>,
    /// Neurons per layer.
    pub layer_neurons: Vec<u64>,
    /// Neuron model of each layer population (`if`, `lif_delta`, `lif_exp`).
    pub layer_models: Vec<String>,
    /// Per layer: mean multiply-accumulates per sample of the ANN when inputs that are zero
    /// are skipped (inputs of the first layer, ReLU outputs of the others). Dense hardware does
    /// `ann_macs_per_layer`; this is the figure of one that skips zeros.
    pub ann_nonzero_macs_per_layer: Vec<f64>,
    /// Synapses per source spike of the projection into each layer (its fan-out).
    pub fan_out_per_layer: Vec<u64>,
    /// Units of the input population.
    pub input_units: u64,
    /// Samples evaluated.
    pub samples: usize,
    /// Per requested T.
    pub timesteps: Vec<TimestepResult>,
    /// `analog` (constant current), `poisson` or `regular`.
    pub input_encoding: String,
    /// How the analog input is counted.
    pub input_layer_ops: String,
    /// Multiply-accumulates per sample that turned the analog input into constant currents
    /// (done once per sample, zero pixels skipped; 0 for spike encodings).
    pub input_macs_per_sample: f64,
    /// Normalization used at conversion.
    pub normalization: String,
    /// Output decoding.
    pub readout: String,
    /// Per-layer diagnostics at the longest T.
    pub layers: Vec<LayerDiagnostics>,
    /// The results with early exit, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_exit: Option<EarlyExitReport>,
    /// Wall time of the evaluation \[s\].
    pub wall_s: f64,
    /// Threads that evaluated samples (0 where not recorded).
    #[serde(default)]
    pub threads: usize,
    /// Version of synops.
    pub synops_version: String,
}

/// A converted network ready to evaluate.
pub struct ConvertedNetwork {
    /// Compiled network (duration = longest T).
    pub net: CompiledNetwork,
    /// Its `[conversion]` table.
    pub conversion: ConversionSpec,
    /// The ANN with the converted (scaled) weights.
    pub ann: Ann,
    input: usize,
    layers: Vec<usize>,
    projections: Vec<usize>,
    /// The output layer's threshold (a quantized layer's in whole-number units; else 1): its
    /// potentials are read in thresholds.
    output_threshold: f64,
    /// Run samples of the event engine on the layered loop where the network allows it
    /// (default; the same results, see `layered.rs`); false keeps the general engine.
    pub layered_loop: bool,
}

impl ConvertedNetwork {
    /// Whether the event engine's samples of this network run on the layered loop (see
    /// [`Self::layered_loop`]): a chain of `if` layers over dense rows from an analog input.
    pub fn runs_layered(&self) -> bool {
        self.layered_loop && LayeredPlan::new(self).is_some()
    }
}

/// Compile `spec` (read from `path`) for runs of `max_t` steps, the duration named as
/// `--timesteps` in errors.
fn compile_for_timesteps(
    spec: &crate::network::NetworkSpec,
    path: &Path,
    max_t: u32,
) -> Result<CompiledNetwork> {
    compile(
        spec,
        path,
        &CompileOptions {
            duration_ms: Some(f64::from(max_t) * spec.simulation.dt_ms),
            duration_option: Some("--timesteps"),
            ..Default::default()
        },
    )
}

impl ConvertedNetwork {
    /// Load a converted network file for runs of `max_t` steps.
    pub fn load(path: &Path, max_t: u32) -> Result<Self> {
        let spec = read_spec(path)?;
        let conversion = spec.conversion.clone().ok_or_else(|| {
            Error::invalid(
                path,
                "conversion",
                "not a converted network (no [conversion] table); make one with `synops convert`",
            )
        })?;
        let net = compile_for_timesteps(&spec, path, max_t)?;
        let find = |name: &str| {
            net.populations
                .iter()
                .position(|p| p.name == name)
                .ok_or_else(|| {
                    Error::invalid(
                        path,
                        "conversion",
                        format!("population `{name}` does not exist"),
                    )
                })
        };
        let input = find(&conversion.input)?;
        let layers: Vec<usize> = conversion
            .layers
            .iter()
            .map(|l| find(l))
            .collect::<Result<_>>()?;
        if layers.is_empty() {
            return Err(Error::invalid(path, "conversion.layers", "no layer"));
        }
        let projections: Vec<usize> = layers
            .iter()
            .map(|&l| {
                net.projections
                    .iter()
                    .position(|p| p.target == l)
                    .ok_or_else(|| {
                        Error::invalid(
                            path,
                            "conversion.layers",
                            format!(
                                "layer `{}` has no incoming projection",
                                net.populations[l].name
                            ),
                        )
                    })
            })
            .collect::<Result<_>>()?;
        let weights = path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&conversion.weights);
        let tensors = crate::convert::tensors::read_safetensors(&weights)?;
        let ann = rebuild_ann(&net, &conversion, &projections, &tensors, &weights)?;
        ann.check(&weights)?;
        let output_threshold = conversion.compression.last().map_or(1.0, |c| c.threshold);
        Ok(ConvertedNetwork {
            net,
            conversion,
            ann,
            input,
            layers,
            projections,
            output_threshold,
            layered_loop: true,
        })
    }
}

/// The ANN of a converted network, rebuilt from its projections (a kernel's geometry, with the
/// pooling it folds in) and its tensors (the per-neuron biases give each channel's).
fn rebuild_ann(
    net: &CompiledNetwork,
    conversion: &ConversionSpec,
    projections: &[usize],
    tensors: &crate::convert::tensors::Tensors,
    weights: &Path,
) -> Result<Ann> {
    let missing = |name: &str| Error::Data {
        path: weights.to_path_buf(),
        message: format!("missing tensor `{name}`"),
    };
    let mut features = Vec::new();
    let mut dense = Vec::new();
    let mut input_shape = None;
    let n = conversion.layers.len();
    for (k, (name, &j)) in conversion.layers.iter().zip(projections).enumerate() {
        let pr = &net.projections[j];
        let bias = &tensors
            .get(&format!("{name}.bias"))
            .ok_or_else(|| missing(&format!("{name}.bias")))?
            .data;
        let w = tensors
            .get(&format!("{name}.weight"))
            .ok_or_else(|| missing(&format!("{name}.weight")))?;
        // A quantized layer holds whole numbers: weights `q K`, biases and threshold in units;
        // the ANN is the layer in thresholds.
        let threshold = conversion.compression.get(k).map_or(1.0, |c| c.threshold);
        let scales = tensors.get(&format!("{name}.weight_scale"));
        let w = &in_thresholds(w, scales.map(|t| &t.data[..]), threshold);
        let bias: &Vec<f32> = &bias
            .iter()
            .map(|&b| (f64::from(b) / threshold) as f32)
            .collect();
        let relu = k + 1 < n;
        match &pr.weights {
            Weights::Kernel(kernel) => {
                let source = kernel.source_shape().map(|d| d as usize);
                input_shape.get_or_insert_with(|| source.to_vec());
                if let Some(p) = &kernel.pool {
                    features.push(FeatureLayer::AvgPool(AvgPool2d {
                        name: format!("pool{}", k + 1),
                        in_shape: source,
                        kernel: [p.rows.kernel, p.cols.kernel].map(|d| d as usize),
                        stride: [p.rows.stride, p.cols.stride].map(|d| d as usize),
                        pads: [p.rows.pad, p.cols.pad, p.rows.pad_after, p.cols.pad_after]
                            .map(|d| d as usize),
                        count_include_pad: p.count_include_pad,
                    }));
                }
                if w.shape.len() == 2 {
                    dense.push(dense_layer(name, w, bias, relu));
                    continue;
                }
                let plane = (kernel.rows.output * kernel.cols.output) as usize;
                let (r, c) = (&kernel.rows, &kernel.cols);
                features.push(FeatureLayer::Conv(Conv2d {
                    name: name.clone(),
                    in_shape: [kernel.channels, r.input, c.input].map(|d| d as usize),
                    out_channels: kernel.out_channels as usize,
                    kernel: [r.kernel, c.kernel].map(|d| d as usize),
                    stride: [r.stride, c.stride].map(|d| d as usize),
                    pads: [r.pad, c.pad, r.pad_after, c.pad_after].map(|d| d as usize),
                    dilation: [r.dilation, c.dilation].map(|d| d as usize),
                    groups: kernel.groups as usize,
                    weight: (kernel.weights.iter())
                        .map(|&x| (f64::from(x) / threshold) as f32)
                        .collect(),
                    bias: bias.iter().step_by(plane.max(1)).copied().collect(),
                    relu,
                }));
            }
            _ => {
                if w.shape.len() != 2 {
                    return Err(Error::Data {
                        path: weights.to_path_buf(),
                        message: format!("`{name}.weight` is not 2-D"),
                    });
                }
                input_shape.get_or_insert_with(|| vec![w.shape[1]]);
                dense.push(dense_layer(name, w, bias, relu));
            }
        }
    }
    Ok(Ann {
        input_shape: input_shape.unwrap_or_default(),
        features,
        layers: dense,
    })
}

/// Dynamic inference: a sample stops once its read-out has led clearly for a while.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EarlyExit {
    /// The lead of the leading output over the runner-up: potential in thresholds (potential
    /// read-out) or spikes (spike read-out).
    pub margin: f64,
    /// Consecutive steps the same output must lead by the margin.
    pub steps: u32,
}

/// Results with early exit at one number of time steps: a sample that exited before `t` keeps
/// the class, the SOPs and the steps of its exit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EarlyExitResult {
    /// Time steps (the most a sample may run).
    pub t: u32,
    /// Fraction of samples classified correctly.
    pub accuracy: f64,
    /// Synaptic operations per sample, all layers, up to each sample's exit.
    pub sops_per_sample: f64,
    /// Mean steps a sample ran.
    pub mean_steps: f64,
    /// Fraction of samples that exited before `t`.
    pub exited: f64,
}

/// `eval.json`'s early-exit section: the same samples with early exit, beside the results
/// without it (each sample's run goes on to the longest T, so one run gives both).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EarlyExitReport {
    /// The rule.
    pub rule: EarlyExit,
    /// Per requested T.
    pub timesteps: Vec<EarlyExitResult>,
}

/// Where a sample's early exit happened.
#[derive(Debug, Clone, Copy)]
struct Exit {
    step: u32,
    predicted: usize,
    sops: u64,
}

/// Weight tensor `w` (`[out, ...]`) times the scale of each output (one scale for all, or
/// none: 1), over `threshold`.
fn in_thresholds(
    w: &crate::convert::tensors::Tensor,
    scales: Option<&[f32]>,
    threshold: f64,
) -> crate::convert::tensors::Tensor {
    let outputs = w.shape.first().copied().unwrap_or(1).max(1);
    let per = (w.data.len() / outputs).max(1);
    let scale = |k: usize| match scales {
        Some([one]) => f64::from(*one),
        Some(each) => each.get(k / per).map_or(1.0, |&s| f64::from(s)),
        None => 1.0,
    };
    let data = (w.data.iter().enumerate())
        .map(|(k, &x)| (f64::from(x) * scale(k) / threshold) as f32)
        .collect();
    crate::convert::tensors::Tensor {
        shape: w.shape.clone(),
        data,
    }
}

/// A dense layer from its `[out, in]` weight tensor and its biases.
fn dense_layer(
    name: &str,
    w: &crate::convert::tensors::Tensor,
    bias: &[f32],
    relu: bool,
) -> DenseLayer {
    let mut layer = DenseLayer::from_out_in(name, w.shape[1], w.shape[0], w.data.clone());
    layer.bias = bias.to_vec();
    layer.relu = relu;
    layer
}

/// Synaptic operations so far of the projection into each layer.
fn layer_sops(cn: &ConvertedNetwork, sim: &Simulation) -> Vec<u64> {
    let events = &sim.counts.synaptic_events;
    cn.projections.iter().map(|&j| events[j]).collect()
}

/// Per-sample outcome.
struct SampleResult {
    correct: Vec<bool>,
    sops: Vec<Vec<u64>>,
    spikes: Vec<Vec<u64>>,
    updates: Vec<u64>,
    layer_updates: Vec<Vec<u64>>,
    layer_active: Vec<Vec<u64>>,
    input_macs: u64,
    /// Spike counts per neuron of each layer at the longest T.
    counts: Vec<Vec<u32>>,
    /// Output potentials at the longest T.
    potentials: Vec<f64>,
    /// With early exit, per T: `(correct, SOPs, steps)` up to the exit or T.
    early: Vec<(bool, u64, u32)>,
}

impl SampleResult {
    /// The result as words, for the ranks of a distributed evaluation (see [`Self::decode`]).
    fn encode(&self, out: &mut Words) {
        out.put_all(self.correct.iter().map(|&c| u64::from(c)));
        for table in [
            &self.sops,
            &self.spikes,
            &self.layer_updates,
            &self.layer_active,
            &self
                .counts
                .iter()
                .map(|c| c.iter().map(|&x| u64::from(x)).collect())
                .collect(),
        ] {
            out.put(table.len() as u64);
            for row in table.iter() {
                out.put_all(row.iter().copied());
            }
        }
        out.put_all(self.updates.iter().copied());
        out.put(self.input_macs);
        out.put_all(self.potentials.iter().map(|v| v.to_bits()));
        out.put_all(self.early.iter().map(|e| u64::from(e.0)));
        out.put_all(self.early.iter().map(|e| e.1));
        out.put_all(self.early.iter().map(|e| u64::from(e.2)));
    }

    /// The result [`Self::encode`] wrote (`None` if the words end early).
    fn decode(words: &mut &[u32]) -> Option<Self> {
        let correct = Words::take_all(words)?
            .into_iter()
            .map(|c| c != 0)
            .collect();
        let mut tables = Vec::with_capacity(5);
        for _ in 0..5 {
            let rows = Words::take(words)?;
            tables.push(
                (0..rows)
                    .map(|_| Words::take_all(words))
                    .collect::<Option<Vec<_>>>()?,
            );
        }
        let updates = Words::take_all(words)?;
        let input_macs = Words::take(words)?;
        let potentials = Words::take_all(words)?
            .into_iter()
            .map(f64::from_bits)
            .collect();
        let (exits, sops, steps) = (
            Words::take_all(words)?,
            Words::take_all(words)?,
            Words::take_all(words)?,
        );
        let early = (exits.iter().zip(&sops).zip(&steps))
            .map(|((&e, &s), &t)| (e != 0, s, t as u32))
            .collect();
        let counts = tables
            .pop()?
            .into_iter()
            .map(|row| row.into_iter().map(|c| c as u32).collect())
            .collect();
        let (layer_active, layer_updates) = (tables.pop()?, tables.pop()?);
        let (spikes, sops) = (tables.pop()?, tables.pop()?);
        Some(SampleResult {
            correct,
            sops,
            spikes,
            updates,
            layer_updates,
            layer_active,
            input_macs,
            counts,
            potentials,
            early,
        })
    }
}

/// The results of samples `indices` of `data`, each computed once by one rank (sample `i`
/// by rank `i mod size`) and gathered by every rank, in sample order. A sample whose state
/// ran away is run again by every rank (runs are deterministic) to give its error.
fn sharded_results(
    cn: &ConvertedNetwork,
    data: &Dataset,
    indices: std::ops::Range<usize>,
    (ts, engine, early): (&[u32], Engine, Option<EarlyExit>),
    ranks: &mut dyn Ranks,
    done: &(dyn Fn() + Sync),
) -> Vec<std::result::Result<SampleResult, Runaway>> {
    let (rank, size) = (ranks.rank(), ranks.size());
    let run = |i: usize| {
        run_sample(
            cn,
            None,
            data.image(i),
            data.labels[i],
            i,
            ts,
            engine,
            early,
        )
    };
    let mine: Vec<usize> = indices.clone().filter(|i| i % size == rank).collect();
    let local: Vec<_> = mine
        .par_iter()
        .map(|&i| {
            let r = run(i).ok();
            done();
            r
        })
        .collect();
    let mut words = Words::default();
    for r in &local {
        words.put(u64::from(r.is_some()));
        if let Some(r) = r {
            r.encode(&mut words);
        }
    }
    let (mut all, mut lengths) = (Vec::new(), Vec::new());
    ranks.all_gather(&words.0, &mut all, &mut lengths);
    let mut by_rank: Vec<&[u32]> = Vec::with_capacity(size);
    let mut start = 0;
    for &n in &lengths {
        by_rank.push(&all[start..start + n]);
        start += n;
    }
    indices
        .map(|i| {
            let words = &mut by_rank[i % size];
            match Words::take(words) {
                Some(1) => Ok(SampleResult::decode(words).expect("a rank's results are whole")),
                _ => run(i),
            }
        })
        .collect()
}

/// The read-out's class and its lead over the runner-up: by potential, or by spike count with
/// ties broken by the potential.
fn read_out(readout: Readout, potentials: &[f32], counts: &[u32]) -> (usize, f64) {
    let second = |best: usize, value: &dyn Fn(usize) -> f64| {
        (0..potentials.len())
            .filter(|&i| i != best)
            .map(value)
            .fold(f64::NEG_INFINITY, f64::max)
    };
    match readout {
        Readout::Potential => {
            let best = argmax(potentials);
            let v = |i: usize| f64::from(potentials[i]);
            (best, v(best) - second(best, &v))
        }
        Readout::Spikes => {
            let top = *counts.iter().max().unwrap_or(&0);
            let best = (0..counts.len())
                .filter(|&i| counts[i] == top)
                .max_by(|&a, &b| potentials[a].total_cmp(&potentials[b]).then(b.cmp(&a)))
                .expect("at least one output");
            let c = |i: usize| f64::from(counts[i]);
            (best, c(best) - second(best, &c))
        }
    }
}

/// What the read-out needs of a sample's run: the general engine's or the layered loop's.
trait SampleRun {
    /// Why a run stopped.
    type Halt;
    /// Simulate one step.
    fn advance(&mut self) -> std::result::Result<(), Self::Halt>;
    /// Add the output layer's spikes since the last call to `counts`.
    fn take_output_spikes(&mut self, counts: &mut [u32]);
    /// Output neuron `i`'s potential at the current step.
    fn output_potential(&self, i: usize) -> f64;
    /// Synaptic operations so far of the projection into each layer.
    fn layer_sops(&self) -> Vec<u64>;
    /// Spikes so far: the input population's, then each layer's.
    fn spikes(&self) -> Vec<u64>;
    /// State evaluations so far: all populations, and per layer.
    fn updates(&self) -> (u64, Vec<u64>);
    /// Active neuron-steps so far per layer.
    fn layer_active(&self) -> Vec<u64>;
    /// Spikes per neuron of each layer so far.
    fn layer_counts(&self) -> Vec<Vec<u32>>;
    /// Multiply-accumulates that turned the input into currents.
    fn input_macs(&self) -> u64;
}

/// A sample on the general engine.
struct EngineRun<'a> {
    cn: &'a ConvertedNetwork,
    sim: Simulation<'a>,
    /// Recorded spikes already read out.
    seen: usize,
}

impl SampleRun for EngineRun<'_> {
    type Halt = Runaway;

    fn advance(&mut self) -> std::result::Result<(), Runaway> {
        self.sim.advance()
    }

    fn take_output_spikes(&mut self, counts: &mut [u32]) {
        let out = *self.cn.layers.last().expect("a layer");
        for &(_, p, i) in &self.sim.recorded.spikes[self.seen..] {
            if p as usize == out {
                counts[i as usize] += 1;
            }
        }
        self.seen = self.sim.recorded.spikes.len();
    }

    fn output_potential(&self, i: usize) -> f64 {
        let out = *self.cn.layers.last().expect("a layer");
        self.sim.state(out, i as u32).map_or(0.0, |e| e.v)
    }

    fn layer_sops(&self) -> Vec<u64> {
        layer_sops(self.cn, &self.sim)
    }

    fn spikes(&self) -> Vec<u64> {
        let spikes = &self.sim.counts.spikes;
        let mut all = vec![spikes[self.cn.input]];
        all.extend(self.cn.layers.iter().map(|&l| spikes[l]));
        all
    }

    fn updates(&self) -> (u64, Vec<u64>) {
        let updates = &self.sim.counts.neuron_updates;
        let layers = self.cn.layers.iter().map(|&l| updates[l]).collect();
        (updates.iter().sum(), layers)
    }

    fn layer_active(&self) -> Vec<u64> {
        let active = &self.sim.counts.active_neuron_steps;
        self.cn.layers.iter().map(|&l| active[l]).collect()
    }

    fn layer_counts(&self) -> Vec<Vec<u32>> {
        let (cn, sim) = (self.cn, &self.sim);
        cn.layers
            .iter()
            .map(|&l| {
                let mut c = vec![0u32; cn.net.populations[l].size as usize];
                for &(_, p, i) in &sim.recorded.spikes {
                    if p as usize == l {
                        c[i as usize] += 1;
                    }
                }
                c
            })
            .collect()
    }

    fn input_macs(&self) -> u64 {
        self.sim.counts.current_macs.iter().sum()
    }
}

impl SampleRun for LayeredRun<'_> {
    type Halt = Fallback;

    fn advance(&mut self) -> std::result::Result<(), Fallback> {
        LayeredRun::advance(self)
    }

    fn take_output_spikes(&mut self, counts: &mut [u32]) {
        counts.copy_from_slice(self.output_spikes());
    }

    fn output_potential(&self, i: usize) -> f64 {
        LayeredRun::output_potential(self, i)
    }

    fn layer_sops(&self) -> Vec<u64> {
        LayeredRun::layer_sops(self)
    }

    fn spikes(&self) -> Vec<u64> {
        LayeredRun::spikes(self)
    }

    fn updates(&self) -> (u64, Vec<u64>) {
        let layers = self.layer_updates();
        (layers.iter().sum(), layers)
    }

    fn layer_active(&self) -> Vec<u64> {
        LayeredRun::layer_active(self)
    }

    fn layer_counts(&self) -> Vec<Vec<u32>> {
        LayeredRun::layer_counts(self)
    }

    fn input_macs(&self) -> u64 {
        LayeredRun::input_macs(self)
    }
}

/// One sample: on the layered loop when `layered` is given and the loop keeps it, else on
/// the general engine (the same results).
#[allow(clippy::too_many_arguments)]
fn run_sample(
    cn: &ConvertedNetwork,
    layered: Option<&LayeredPlan>,
    x: &[f32],
    label: u32,
    index: usize,
    ts: &[u32],
    engine: Engine,
    early: Option<EarlyExit>,
) -> std::result::Result<SampleResult, Runaway> {
    let values: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    if let Some(plan) = layered
        && let Ok(run) = LayeredRun::new(plan, cn, &values)
        && let Ok(result) = read_sample(cn, run, label, ts, early)
    {
        return Ok(result);
    }
    let sim = Simulation::with_analog_input(&cn.net, engine, &[(cn.input, &values)], index as u64);
    let run = EngineRun { cn, sim, seen: 0 };
    read_sample(cn, run, label, ts, early)
}

/// Run a sample to the longest T, reading the prediction and the counts at every T (and
/// watching for an early exit).
fn read_sample<R: SampleRun>(
    cn: &ConvertedNetwork,
    mut run: R,
    label: u32,
    ts: &[u32],
    early: Option<EarlyExit>,
) -> std::result::Result<SampleResult, R::Halt> {
    let out = *cn.layers.last().expect("a layer");
    let out_size = cn.net.populations[out].size as usize;
    let mut result = SampleResult {
        correct: Vec::with_capacity(ts.len()),
        sops: Vec::with_capacity(ts.len()),
        spikes: Vec::with_capacity(ts.len()),
        updates: Vec::with_capacity(ts.len()),
        layer_updates: Vec::with_capacity(ts.len()),
        layer_active: Vec::with_capacity(ts.len()),
        input_macs: run.input_macs(),
        counts: Vec::new(),
        potentials: Vec::new(),
        early: Vec::new(),
    };
    let mut out_counts = vec![0u32; out_size];
    let max_t = *ts.last().expect("a time step");
    let (mut exit, mut streak) = (None::<Exit>, (usize::MAX, 0u32));
    for t in 1..=max_t {
        run.advance()?;
        let watching = early.is_some() && exit.is_none();
        if !ts.contains(&t) && !watching {
            continue;
        }
        run.take_output_spikes(&mut out_counts);
        let potentials: Vec<f32> = (0..out_size)
            .map(|i| (run.output_potential(i) / cn.output_threshold) as f32)
            .collect();
        let (predicted, lead) = read_out(cn.conversion.readout, &potentials, &out_counts);
        if let (Some(rule), true) = (early, watching) {
            streak = match (lead >= rule.margin, streak.0 == predicted) {
                (false, _) => (usize::MAX, 0),
                (true, true) => (predicted, streak.1 + 1),
                (true, false) => (predicted, 1),
            };
            if streak.1 >= rule.steps {
                let sops = run.layer_sops().iter().sum();
                exit = Some(Exit {
                    step: t,
                    predicted,
                    sops,
                });
            }
        }
        if !ts.contains(&t) {
            continue;
        }
        if early.is_some() {
            result.early.push(match exit {
                Some(e) => (e.predicted == label as usize, e.sops, e.step),
                None => (
                    predicted == label as usize,
                    run.layer_sops().iter().sum(),
                    t,
                ),
            });
        }
        result.correct.push(predicted == label as usize);
        result.sops.push(run.layer_sops());
        result.spikes.push(run.spikes());
        let (updates, layer_updates) = run.updates();
        result.updates.push(updates);
        result.layer_updates.push(layer_updates);
        result.layer_active.push(run.layer_active());
        result.potentials = potentials.iter().map(|&v| f64::from(v)).collect();
    }
    result.counts = run.layer_counts();
    Ok(result)
}

/// Samples evaluated in parallel at a time (see [`evaluate`]).
const EVAL_CHUNK: usize = 256;

/// The running sums of one layer's diagnostics: per neuron, SNN and ANN values summed over
/// samples, and the co-moments of all `(SNN, ANN)` pairs (Welford's updates, in sample order).
struct LayerTotals {
    /// A non-spiking read-out compared by potential.
    potential: bool,
    neuron_snn: Vec<f64>,
    neuron_ann: Vec<f64>,
    pairs: f64,
    mean: (f64, f64),
    /// Sums of squared deviations of SNN and ANN values, and of their products.
    moments: (f64, f64, f64),
}

impl LayerTotals {
    fn new(neurons: usize, potential: bool) -> Self {
        LayerTotals {
            potential,
            neuron_snn: vec![0.0; neurons],
            neuron_ann: vec![0.0; neurons],
            pairs: 0.0,
            mean: (0.0, 0.0),
            moments: (0.0, 0.0, 0.0),
        }
    }

    /// One sample: the SNN's value per neuron (rate or potential per step) and the ANN's
    /// activation (clipped to [0, 1] for rates).
    fn add(&mut self, snn: &[f64], ann: &[f32]) {
        for (k, (&x, &a)) in snn.iter().zip(ann).enumerate() {
            let y = if self.potential {
                f64::from(a)
            } else {
                f64::from(a).clamp(0.0, 1.0)
            };
            self.neuron_snn[k] += x;
            self.neuron_ann[k] += y;
            self.pairs += 1.0;
            let (dx, dy) = (x - self.mean.0, y - self.mean.1);
            self.mean.0 += dx / self.pairs;
            self.mean.1 += dy / self.pairs;
            let (ex, ey) = (x - self.mean.0, y - self.mean.1);
            self.moments.0 += dx * ex;
            self.moments.1 += dy * ey;
            self.moments.2 += dx * ey;
        }
    }

    fn finish(self, layer: String, samples: f64) -> LayerDiagnostics {
        let (sxx, syy, sxy) = self.moments;
        let correlation = if self.pairs < 2.0 || sxx == 0.0 || syy == 0.0 {
            0.0
        } else {
            sxy / (sxx * syy).sqrt()
        };
        LayerDiagnostics {
            layer,
            quantity: if self.potential { "potential" } else { "rate" }.into(),
            snn_mean_rate: self.mean.0,
            ann_mean_activation: self.mean.1,
            correlation,
            neuron_snn: self.neuron_snn.iter().map(|x| x / samples).collect(),
            neuron_ann: self.neuron_ann.iter().map(|x| x / samples).collect(),
        }
    }
}

/// Evaluate a converted network on `data` at the time steps `ts` (sorted, unique), calling
/// `progress(samples done)` now and then.
pub fn evaluate(
    cn: &ConvertedNetwork,
    data: &Dataset,
    ts: &[u32],
    engine: Engine,
    progress: impl Fn(usize) + Sync,
) -> Result<EvalReport> {
    evaluate_with(cn, data, ts, engine, None, progress)
}

/// [`evaluate`], with the results of an early-exit rule beside (see [`EarlyExitReport`]).
pub fn evaluate_with(
    cn: &ConvertedNetwork,
    data: &Dataset,
    ts: &[u32],
    engine: Engine,
    early: Option<EarlyExit>,
    progress: impl Fn(usize) + Sync,
) -> Result<EvalReport> {
    evaluate_over(cn, data, ts, (engine, early), None, progress)
}

/// [`evaluate_with`] with the samples shared out over `ranks` (every rank calls it alike and
/// gets the same report; see [`crate::distributed`]): each sample is simulated by one rank,
/// and the report sums them in sample order, as in one process.
pub fn evaluate_over(
    cn: &ConvertedNetwork,
    data: &Dataset,
    ts: &[u32],
    (engine, early): (Engine, Option<EarlyExit>),
    mut ranks: Option<&mut dyn Ranks>,
    progress: impl Fn(usize) + Sync,
) -> Result<EvalReport> {
    let start = std::time::Instant::now();
    let inputs = cn.net.populations[cn.input].size as usize;
    crate::data::check_shape(data, &[inputs], &cn.net.path)?;
    let outputs = cn.net.populations[*cn.layers.last().expect("a layer")].size as usize;
    crate::data::check_classes(data, outputs, &cn.net.path)?;
    let n = data.len();
    let neuron_layers = cn.ann.neuron_layers().map_err(|message| Error::Data {
        path: cn.net.path.clone(),
        message,
    })?;
    let fan_outs: Vec<Vec<u64>> = neuron_layers.iter().map(|l| l.fan_outs()).collect();
    let max_t = f64::from(*ts.last().expect("a time step"));
    let readout_potential = cn.conversion.readout == Readout::Potential;
    let mut diagnostics: Vec<LayerTotals> = cn
        .layers
        .iter()
        .enumerate()
        .map(|(l, &pop)| {
            let potential = l + 1 == cn.layers.len() && readout_potential;
            LayerTotals::new(cn.net.populations[pop].size as usize, potential)
        })
        .collect();
    let mut nonzero_macs = vec![0f64; cn.layers.len()];
    let mut ann_correct = 0usize;
    let input_major: Vec<_> = cn.ann.layers.iter().map(DenseLayer::input_major).collect();
    let passes = |i: usize| cn.ann.neuron_passes_with(data.image(i), Some(&input_major));
    let layered = (engine == Engine::Event && ranks.is_none() && cn.layered_loop)
        .then(|| LayeredPlan::new(cn))
        .flatten();
    let done = std::sync::atomic::AtomicUsize::new(0);
    // Samples run in parallel a chunk at a time; their diagnostics are summed in sample order,
    // so the report does not depend on the threads, and only a chunk's activations are held.
    let mut results: Vec<SampleResult> = Vec::with_capacity(n);
    for first in (0..n).step_by(EVAL_CHUNK) {
        let tick = || {
            let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if d.is_multiple_of(100) {
                progress(d);
            }
        };
        let indices = first..(first + EVAL_CHUNK).min(n);
        let chunk: Vec<_> = match ranks.as_deref_mut() {
            None => (indices.into_par_iter())
                .map(|i| {
                    let (x, label) = (data.image(i), data.labels[i]);
                    let r = run_sample(cn, layered.as_ref(), x, label, i, ts, engine, early);
                    tick();
                    (r, passes(i))
                })
                .collect(),
            Some(ranks) => {
                let plan = (ts, engine, early);
                let results = sharded_results(cn, data, indices.clone(), plan, ranks, &tick);
                let passes: Vec<_> = (indices.into_par_iter()).map(passes).collect();
                results.into_iter().zip(passes).collect()
            }
        };
        for (k, (r, passes)) in chunk.into_iter().enumerate() {
            let i = first + k;
            // The first sample whose state ran away, in sample order (whatever the threads).
            let mut r = r.map_err(|runaway| Error::Runaway {
                path: cn.net.path.clone(),
                context: format!("sample {i}: "),
                runaway: Box::new(runaway),
            })?;
            let logits = &passes.last().expect("a layer").1;
            ann_correct += usize::from(argmax(logits) == data.labels[i] as usize);
            for (l, (input, output)) in passes.iter().enumerate() {
                let macs: u64 = input
                    .iter()
                    .zip(&fan_outs[l])
                    .filter(|(x, _)| **x != 0.0)
                    .map(|(_, &f)| f)
                    .sum();
                nonzero_macs[l] += macs as f64;
                let snn: Vec<f64> = if diagnostics[l].potential {
                    r.potentials.iter().map(|&v| v / max_t).collect()
                } else {
                    r.counts[l].iter().map(|&c| f64::from(c) / max_t).collect()
                };
                diagnostics[l].add(&snn, output);
            }
            r.counts = Vec::new();
            results.push(r);
        }
    }
    let nf = n as f64;
    // The mean over samples of a per-layer count at the k-th T, for `len` entries.
    let mean = |len: usize, count: &dyn Fn(&SampleResult, usize) -> u64| -> Vec<f64> {
        (0..len)
            .map(|l| results.iter().map(|r| count(r, l) as f64).sum::<f64>() / nf)
            .collect()
    };
    let timesteps = ts
        .iter()
        .enumerate()
        .map(|(k, &t)| {
            let layers = cn.layers.len();
            let sops_per_layer = mean(layers, &|r, l| r.sops[k][l]);
            let spikes_per_layer = mean(layers + 1, &|r, l| r.spikes[k][l]);
            let neuron_steps_per_layer: Vec<f64> = cn
                .layers
                .iter()
                .map(|&l| f64::from(t) * f64::from(cn.net.populations[l].size))
                .collect();
            TimestepResult {
                t,
                accuracy: results.iter().filter(|r| r.correct[k]).count() as f64 / nf,
                sops_per_sample: sops_per_layer.iter().sum(),
                sops_per_layer,
                spikes_per_sample: spikes_per_layer.iter().sum(),
                spikes_per_layer,
                neuron_updates_per_layer: mean(layers, &|r, l| r.layer_updates[k][l]),
                clock_equivalent_updates_per_sample: neuron_steps_per_layer.iter().sum(),
                neuron_updates_per_sample: results.iter().map(|r| r.updates[k] as f64).sum::<f64>()
                    / nf,
                neuron_steps_per_layer,
                active_neuron_steps_per_layer: mean(layers, &|r, l| r.layer_active[k][l]),
            }
        })
        .collect();
    let layers = diagnostics
        .into_iter()
        .zip(&cn.layers)
        .map(|(totals, &pop)| totals.finish(cn.net.populations[pop].name.clone(), nf))
        .collect();
    let ann_nonzero_macs_per_layer = nonzero_macs.iter().map(|m| m / nf).collect();
    let early_exit = early.map(|rule| EarlyExitReport {
        rule,
        timesteps: ts
            .iter()
            .enumerate()
            .map(|(k, &t)| {
                let mean = |f: &dyn Fn(&(bool, u64, u32)) -> f64| {
                    results.iter().map(|r| f(&r.early[k])).sum::<f64>() / nf
                };
                EarlyExitResult {
                    t,
                    accuracy: mean(&|e| f64::from(u8::from(e.0))),
                    sops_per_sample: mean(&|e| e.1 as f64),
                    mean_steps: mean(&|e| f64::from(e.2)),
                    exited: mean(&|e| f64::from(u8::from(e.2 < t))),
                }
            })
            .collect(),
    });
    let c = &cn.conversion;
    let compression = layer_compression(cn, &neuron_layers);
    let input_macs_per_sample = results.iter().map(|r| r.input_macs as f64).sum::<f64>() / nf;
    Ok(EvalReport {
        model: cn.net.name.clone(),
        ann_accuracy: ann_correct as f64 / nf,
        ann_macs_per_sample: neuron_layers.iter().map(|l| l.macs()).sum(),
        ann_macs_per_layer: neuron_layers.iter().map(|l| l.macs()).collect(),
        ann_bias_adds_per_layer: neuron_layers.iter().map(|l| l.adds()).collect(),
        ann_weights_per_layer: neuron_layers.iter().map(|l| l.weights()).collect(),
        weights_kept_per_layer: compression.iter().map(|c| c.kept).collect(),
        weight_bits_per_layer: compression.iter().map(|c| c.bits).collect(),
        weight_bytes_per_layer: compression.iter().map(|c| c.weight_bytes()).collect(),
        layer_names: cn.layers.iter().map(|&l| cn.net.populations[l].name.clone()).collect(),
        layer_neurons: cn.layers.iter().map(|&l| u64::from(cn.net.populations[l].size)).collect(),
        layer_models: cn
            .layers
            .iter()
            .map(|&l| {
                let model = cn.net.populations[l].model_name();
                model.unwrap_or("source").to_string()
            })
            .collect(),
        ann_nonzero_macs_per_layer,
        fan_out_per_layer: cn
            .projections
            .iter()
            .map(|&j| {
                let pr = &cn.net.projections[j];
                pr.csr.len() as u64 / u64::from(cn.net.populations[pr.source].size).max(1)
            })
            .collect(),
        input_units: u64::from(cn.net.populations[cn.input].size),
        samples: n,
        timesteps,
        input_encoding: match c.encoding {
            InputEncoding::Analog => "analog",
            InputEncoding::Poisson => "poisson",
            InputEncoding::Regular => "regular",
        }
        .into(),
        input_layer_ops: match c.encoding {
            InputEncoding::Analog => "analog input: its constant current W x is computed once per sample (input_macs_per_sample, zero pixels skipped); sops_per_layer[0] is 0".into(),
            _ => "spiking input: its spikes are counted as SOPs of the first layer (sops_per_layer[0])".into(),
        },
        input_macs_per_sample,
        normalization: c.normalization.to_string(),
        readout: format!("{:?}", c.readout).to_lowercase(),
        layers,
        early_exit,
        wall_s: start.elapsed().as_secs_f64(),
        threads: rayon::current_num_threads(),
        synops_version: env!("CARGO_PKG_VERSION").to_string(),
    })
}

/// Per layer: bits, threshold and kept weights, as the conversion table records them (a
/// network converted before they were recorded: 32-bit floats, every weight kept).
fn layer_compression(
    cn: &ConvertedNetwork,
    layers: &[crate::convert::layers::NeuronLayer],
) -> Vec<crate::convert::compress::LayerCompression> {
    if cn.conversion.compression.len() == layers.len() {
        return cn.conversion.compression.clone();
    }
    (layers.iter())
        .map(|l| crate::convert::compress::LayerCompression {
            name: l.name().to_string(),
            weights: l.weights(),
            kept: l.weights(),
            bits: 32,
            threshold: 1.0,
            scales: 0,
        })
        .collect()
}

impl EvalReport {
    /// Bytes of the stored weights, all layers, on a device that stores an unquantized weight
    /// in `float_bytes` bytes (a quantized layer's weights take their own bits).
    pub fn weight_bytes_on(&self, float_bytes: u64) -> u64 {
        if self.weight_bits_per_layer.len() != self.weights_kept_per_layer.len()
            || self.weights_kept_per_layer.is_empty()
        {
            return self.stored_weights() * float_bytes;
        }
        (self
            .weights_kept_per_layer
            .iter()
            .zip(&self.weight_bits_per_layer))
        .zip(&self.weight_bytes_per_layer)
        .map(|((&kept, &bits), &bytes)| {
            if bits >= 32 {
                kept * float_bytes
            } else {
                bytes
            }
        })
        .sum()
    }

    /// The weights stored after pruning, all layers ([`Self::stored_weights`] where the report
    /// does not say).
    pub fn weights_stored_or_kept(&self) -> u64 {
        if self.weights_kept_per_layer.is_empty() {
            self.stored_weights()
        } else {
            self.weights_kept_per_layer.iter().sum()
        }
    }

    /// The weights the ANN stores, all layers (the MACs where the report does not say).
    pub fn stored_weights(&self) -> u64 {
        if self.ann_weights_per_layer.is_empty() {
            self.ann_macs_per_layer.iter().sum()
        } else {
            self.ann_weights_per_layer.iter().sum()
        }
    }

    /// A Markdown table of the results.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{}: {} samples, ANN accuracy {:.2}% ({} MACs per sample), {} input, {} read-out, {} normalization\n",
            self.model,
            self.samples,
            100.0 * self.ann_accuracy,
            self.ann_macs_per_sample,
            self.input_encoding,
            self.readout,
            self.normalization
        );
        let _ = writeln!(
            s,
            "| T | SNN accuracy | vs ANN | SOPs/sample | SOPs per layer | spikes/sample | neuron updates/sample |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for t in &self.timesteps {
            let per: Vec<String> = t.sops_per_layer.iter().map(|x| format!("{x:.0}")).collect();
            let _ = writeln!(
                s,
                "| {} | {:.2}% | {:+.2} pp | {:.0} | {} | {:.1} | {:.0} |",
                t.t,
                100.0 * t.accuracy,
                100.0 * (t.accuracy - self.ann_accuracy),
                t.sops_per_sample,
                per.join(" / "),
                t.spikes_per_sample,
                t.neuron_updates_per_sample
            );
        }
        let _ = writeln!(
            s,
            "\ninput layer: {:.0} MACs per sample; {}",
            self.input_macs_per_sample, self.input_layer_ops
        );
        let _ = writeln!(
            s,
            "\n| layer | compared | SNN per step | normalized ANN activation | correlation |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|");
        for l in &self.layers {
            let _ = writeln!(
                s,
                "| {} | {} | {:.4} | {:.4} | {:.4} |",
                l.layer, l.quantity, l.snn_mean_rate, l.ann_mean_activation, l.correlation
            );
        }
        if let Some(e) = &self.early_exit {
            let _ = writeln!(
                s,
                "\nearly exit (lead of {} for {} steps):\n\n| T | accuracy | vs without | SOPs/sample | vs without | mean steps | exited |\n|---|---|---|---|---|---|---|",
                e.rule.margin, e.rule.steps
            );
            for (x, t) in e.timesteps.iter().zip(&self.timesteps) {
                let _ = writeln!(
                    s,
                    "| {} | {:.2}% | {:+.2} pp | {:.0} | {:+.1}% | {:.1} | {:.1}% |",
                    x.t,
                    100.0 * x.accuracy,
                    100.0 * (x.accuracy - t.accuracy),
                    x.sops_per_sample,
                    100.0 * (x.sops_per_sample / t.sops_per_sample.max(1e-300) - 1.0),
                    x.mean_steps,
                    100.0 * x.exited
                );
            }
        }
        let _ = writeln!(s, "\nwall time {:.2} s", self.wall_s);
        s
    }
}
