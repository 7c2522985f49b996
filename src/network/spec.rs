//! The network file format: what a user writes, deserialized as is (names, milliseconds,
//! millivolts). Nothing here is checked beyond the syntax; [`crate::network::build`] checks the
//! values and lowers the description into a [`crate::network::CompiledNetwork`].
//!
//! `networks/example.toml` documents every field with a comment.

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::fmt;

/// The version of the network file format this build reads.
pub const FORMAT_VERSION: u32 = 1;

/// A whole network file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Format version; must equal [`FORMAT_VERSION`].
    pub version: u32,
    /// Network name, used for the default output folder.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Time step, duration and seed.
    pub simulation: SimulationSpec,
    /// Neuron populations, in file order.
    #[serde(default, rename = "population")]
    pub populations: Vec<PopulationSpec>,
    /// Projections between populations.
    #[serde(default, rename = "projection")]
    pub projections: Vec<ProjectionSpec>,
    /// External drive: independent Poisson inputs and currents.
    #[serde(default, rename = "input")]
    pub inputs: Vec<InputSpec>,
    /// What to record. Nothing is recorded unless asked.
    #[serde(default)]
    pub record: RecordSpec,
    /// Written by `synops convert`: how a converted network maps to its ANN (read by
    /// `synops eval`, ignored by `synops run`).
    #[serde(default)]
    pub conversion: Option<crate::convert::ConversionSpec>,
}

/// `[simulation]`: time step, duration, seed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationSpec {
    /// Time step \[ms\].
    pub dt_ms: f64,
    /// Simulated time \[ms\]; a whole number of steps.
    pub duration_ms: f64,
    /// Seed of every random stream. Default 0.
    #[serde(default)]
    pub seed: u64,
}

/// The neuron model of a population.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelName {
    /// Integrate-and-fire without leak, voltage jumps on input.
    If,
    /// Leaky integrate-and-fire, voltage jumps on input.
    LifDelta,
    /// Leaky integrate-and-fire with exponentially decaying excitatory and inhibitory currents.
    LifExp,
    /// Poisson spike source (no state).
    Poisson,
    /// Spike source replaying spike times from a CSV file.
    SpikeSource,
    /// Analog input units (e.g. pixels), as a constant current or rate-coded spikes.
    Analog,
    /// A clocked model of the registry ([`crate::model::CLOCKED`]), by name.
    Clocked(&'static str),
}

/// The built-in models, with their names in network files.
const BUILT_IN: [(ModelName, &str); 6] = [
    (ModelName::If, "if"),
    (ModelName::LifDelta, "lif_delta"),
    (ModelName::LifExp, "lif_exp"),
    (ModelName::Poisson, "poisson"),
    (ModelName::SpikeSource, "spike_source"),
    (ModelName::Analog, "analog"),
];

/// Every name `model` may take.
static MODEL_NAMES: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    let built_in = BUILT_IN.iter().map(|&(_, name)| name);
    built_in
        .chain(crate::model::CLOCKED.iter().map(|e| e.name))
        .collect()
});

impl ModelName {
    /// The name as written in network files.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelName::Clocked(name) => name,
            built_in => BUILT_IN
                .iter()
                .find(|&&(m, _)| m == built_in)
                .map_or("", |&(_, name)| name),
        }
    }

    /// The model named `name` in a network file.
    pub fn from_name(name: &str) -> Option<ModelName> {
        let built_in = BUILT_IN.iter().find(|&&(_, n)| n == name).map(|&(m, _)| m);
        built_in.or_else(|| crate::model::clocked(name).map(|e| ModelName::Clocked(e.name)))
    }
}

impl<'de> Deserialize<'de> for ModelName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        ModelName::from_name(&name)
            .ok_or_else(|| serde::de::Error::unknown_variant(&name, &MODEL_NAMES))
    }
}

/// How the membrane potential is reset after a spike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResetSpec {
    /// Set to `v_reset_mv`.
    #[default]
    Value,
    /// Subtract `v_th_mv - v_reset_mv` (keeps the overshoot; used by converted networks).
    Subtract,
}

/// `[[population]]`: a group of neurons sharing a model and parameters.
///
/// Which parameters apply depends on `model`; the builder rejects a parameter the model does not
/// have.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopulationSpec {
    /// Unique name.
    pub name: String,
    /// Number of neurons.
    pub size: u64,
    /// Neuron model.
    pub model: ModelName,
    /// Membrane time constant \[ms\] (lif_delta, lif_exp).
    pub tau_m_ms: Option<f64>,
    /// Excitatory synaptic current time constant \[ms\] (lif_exp).
    pub tau_syn_exc_ms: Option<f64>,
    /// Inhibitory synaptic current time constant \[ms\] (lif_exp).
    pub tau_syn_inh_ms: Option<f64>,
    /// Resting potential \[mV\] (lif_delta, lif_exp). Default 0.
    pub v_rest_mv: Option<f64>,
    /// Threshold \[mV\].
    pub v_th_mv: Option<f64>,
    /// Reset potential \[mV\]. Default `v_rest_mv` (0 for `if`).
    pub v_reset_mv: Option<f64>,
    /// Refractory period \[ms\], a whole number of steps. Default 0.
    pub t_ref_ms: Option<f64>,
    /// Reset mode. Default `value`.
    pub reset: Option<ResetSpec>,
    /// Constant input current of a LIF neuron, as the shift of its resting potential \[mV\].
    pub bias_mv: Option<f64>,
    /// Constant input current of an IF neuron, as the voltage slope it causes \[mV/ms\].
    pub bias_mv_per_ms: Option<f64>,
    /// Initial membrane potential \[mV\]: a number or a distribution. Default `v_rest_mv`.
    pub v_init_mv: Option<ValueSpec>,
    /// Rate of each neuron of a `poisson` population \[Hz\].
    pub rate_hz: Option<f64>,
    /// CSV file (`time_ms,index`) of a `spike_source` population, relative to the network file.
    pub file: Option<String>,
    /// False for a read-out population that integrates its input but never spikes. Default true.
    pub spiking: Option<bool>,
    /// Per-neuron bias from a tensor (in the unit of `bias_mv` or `bias_mv_per_ms`).
    pub bias_tensor: Option<TensorRef>,
    /// Values of an `analog` population (default all 0).
    pub values: Option<Vec<f64>>,
    /// How an `analog` population drives its targets. Default `current`.
    pub encoding: Option<EncodingSpec>,
    /// Rate of an `analog` unit with value 1 under a spike encoding \[Hz\]. Default one spike per
    /// step (`1000 / dt_ms`).
    pub max_rate_hz: Option<f64>,
    /// Initial values of a clocked model's state variables other than the potential, by their
    /// `traces.csv` names: `initial = { g_exc_ns = { normal = { mean = 40, std = 15 } } }`.
    pub initial: Option<std::collections::BTreeMap<String, ValueSpec>>,
    /// The parameters of a clocked model (see [`crate::model`]): every field of the table but
    /// `name`, `size`, `model` and `v_init_mv`, set aside by [`super::parse_spec`] and checked
    /// against the model's own parameter struct.
    #[serde(skip)]
    pub model_params: toml::Table,
}

/// A tensor in a safetensors file: `{ file = "net.safetensors", tensor = "layer1.bias" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorRef {
    /// The safetensors file, relative to the network file.
    pub file: String,
    /// The tensor's name.
    pub tensor: String,
}

/// Encoding of an `analog` population.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncodingSpec {
    /// Constant current `sum_i value_i * w_ij` into each target (w in mV/ms for IF targets,
    /// mV for LIF targets), computed once.
    Current,
    /// Poisson spike trains at `value * max_rate_hz`.
    Poisson,
    /// Regular spike trains at `value * max_rate_hz`.
    Regular,
}

/// A number, or a distribution to draw one number per neuron or synapse from.
///
/// Written as `1.5`, `{ uniform = [lo, hi] }` or `{ normal = { mean = m, std = s } }`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueSpec {
    /// The same value everywhere.
    Constant(f64),
    /// Uniform in `[lo, hi)`.
    Uniform {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
    },
    /// Normal.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
}

impl<'de> Deserialize<'de> for ValueSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct NormalFields {
            mean: f64,
            std: f64,
        }

        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = ValueSpec;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a number, { uniform = [lo, hi] } or { normal = { mean = m, std = s } }",
                )
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ValueSpec, E> {
                Ok(ValueSpec::Constant(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ValueSpec, E> {
                Ok(ValueSpec::Constant(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ValueSpec, E> {
                Ok(ValueSpec::Constant(v as f64))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ValueSpec, A::Error> {
                let key: String = map.next_key()?.ok_or_else(|| {
                    de::Error::custom("empty distribution; expected `uniform` or `normal`")
                })?;
                let value = match key.as_str() {
                    "uniform" => {
                        let [lo, hi]: [f64; 2] = map.next_value()?;
                        ValueSpec::Uniform { lo, hi }
                    }
                    "normal" => {
                        let n: NormalFields = map.next_value()?;
                        ValueSpec::Normal {
                            mean: n.mean,
                            std: n.std,
                        }
                    }
                    other => {
                        return Err(de::Error::unknown_field(other, &["uniform", "normal"]));
                    }
                };
                if let Some(extra) = map.next_key::<String>()? {
                    return Err(de::Error::custom(format!(
                        "a distribution has exactly one key, found also `{extra}`"
                    )));
                }
                Ok(value)
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

impl ValueSpec {
    /// All numbers in the value, for finiteness checks.
    pub fn numbers(&self) -> Vec<f64> {
        match *self {
            ValueSpec::Constant(v) => vec![v],
            ValueSpec::Uniform { lo, hi } => vec![lo, hi],
            ValueSpec::Normal { mean, std } => vec![mean, std],
        }
    }
}

/// Which synaptic current of a `lif_exp` target a projection feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceptorSpec {
    /// Excitatory current; weights must be ≥ 0.
    Exc,
    /// Inhibitory current; weights must be ≤ 0.
    Inh,
}

/// Connectivity rule of a projection, written as an inline table with a `rule` key.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum ConnectivitySpec {
    /// Every source to every target.
    AllToAll,
    /// Source i to target i; sizes must match.
    OneToOne,
    /// Each (source, target) pair independently with probability `p`.
    FixedProbability {
        /// Connection probability in [0, 1].
        p: f64,
    },
    /// Each target receives exactly `indegree` synapses from random sources.
    FixedIndegree {
        /// Synapses per target.
        indegree: u64,
    },
    /// Each source makes exactly `outdegree` synapses onto random targets.
    FixedOutdegree {
        /// Synapses per source.
        outdegree: u64,
    },
    /// Explicit list from a CSV file `source,target[,weight_mv[,delay_ms]]` with a header line.
    FromFile {
        /// CSV path, relative to the network file.
        file: String,
    },
    /// Every source to every target with the weights of a `[targets, sources]` tensor in a
    /// safetensors file (PyTorch's `nn.Linear` layout), stored as dense rows.
    Dense {
        /// The safetensors file, relative to the network file.
        file: String,
        /// The weight tensor's name.
        tensor: String,
        /// Leave out the synapses whose weight is zero (a pruned layer): they are not stored,
        /// delivered or counted. Default false (a dense row holds every target).
        #[serde(default)]
        drop_zeros: bool,
        /// A tensor of the same file with the scale of each target's weights (`[targets]`) or
        /// of all of them (`[1]`): a quantized layer stores whole numbers and their scales.
        weight_scale: Option<String>,
    },
    /// A 2-D convolution from a `[channels, rows, cols]` source (neuron `(c, y, x)` is index
    /// `(c * rows + y) * cols + x`, PyTorch's layout) to a `[out_channels, rows', cols']` target,
    /// its kernel a `[out_channels, channels / groups, kernel rows, kernel cols]` tensor
    /// stored once (see [`crate::network::kernel`]). An average pooling of the source before
    /// the convolution folds into its delivery. A 2-D `[out, in]` tensor is a linear layer
    /// after a flatten: a kernel as large as its (pooled) input.
    Conv {
        /// The safetensors file, relative to the network file.
        file: String,
        /// The kernel tensor's name.
        tensor: String,
        /// The source's `[channels, rows, cols]`.
        input: Vec<u64>,
        /// Strides `[rows, cols]`; default `[1, 1]`.
        stride: Option<Vec<u64>>,
        /// Zero padding `[top, left, bottom, right]`; default none.
        padding: Option<Vec<u64>>,
        /// Dilation `[rows, cols]`; default `[1, 1]`.
        dilation: Option<Vec<u64>>,
        /// Channel groups; default 1.
        groups: Option<u64>,
        /// An average pooling of the source before the convolution.
        pool: Option<PoolSpec>,
        /// Skip the kernel's zero taps (a pruned kernel): they are not delivered or counted.
        /// Default false.
        #[serde(default)]
        drop_zeros: bool,
        /// A tensor of the same file with the scale of each output channel's weights
        /// (`[out_channels]`) or of all of them (`[1]`).
        weight_scale: Option<String>,
    },
}

/// An average pooling folded into a convolution's delivery.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    /// Window `[rows, cols]`.
    pub kernel: Vec<u64>,
    /// Strides `[rows, cols]`; default the window.
    pub stride: Option<Vec<u64>>,
    /// Zero padding `[top, left, bottom, right]`; default none.
    pub padding: Option<Vec<u64>>,
    /// Whether padded positions count in the divisor; default false.
    #[serde(default)]
    pub count_include_pad: bool,
}

/// `[[projection]]`: synapses from one population to another.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectionSpec {
    /// Name; default `source->target`.
    pub name: Option<String>,
    /// Source population.
    pub source: String,
    /// Target population.
    pub target: String,
    /// Connectivity rule.
    pub connectivity: ConnectivitySpec,
    /// Allow a neuron to connect to itself (same population only). Default true.
    #[serde(default = "default_true")]
    pub allow_autapses: bool,
    /// Allow several synapses between one pair. Default true.
    #[serde(default = "default_true")]
    pub allow_multapses: bool,
    /// Synaptic weight \[mV\]: the jump of the membrane potential (if, lif_delta) or of the
    /// synaptic current in voltage units (lif_exp). Required, except for `dense` and `conv`
    /// projections, whose weights come from their tensor.
    pub weight_mv: Option<ValueSpec>,
    /// Synaptic weight \[nS\] into a conductance-based target (`lif_cond_exp`): the jump of the
    /// receptor's conductance, ≥ 0 for both receptors. Such targets take `weight_ns` in place of
    /// `weight_mv`.
    pub weight_ns: Option<ValueSpec>,
    /// Transmission delay \[ms\], at least one step and a whole number of steps. A distribution is
    /// drawn as whole steps.
    pub delay_ms: ValueSpec,
    /// Receptor of a target with two (`lif_exp` and the clocked models). Default: `exc` for
    /// non-negative weights, `inh` otherwise; conductance weights are ≥ 0, so an inhibitory
    /// projection into a conductance-based target names `receptor = "inh"`.
    pub receptor: Option<ReceptorSpec>,
    /// Makes the projection's weights learn (see [`crate::plasticity`]).
    pub plasticity: Option<PlasticitySpec>,
    /// Initial weights from a safetensors file that a run wrote (`weights.safetensors`, the
    /// final weights of its plastic projections), relative to the network file: the tensor of
    /// the projection's name, for the same synapses (same connectivity and seed).
    pub initial_weights: Option<String>,
}

/// `[projection.plasticity]`: a learning rule for a projection's weights.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlasticitySpec {
    /// `stdp` (pair-based) or `triplet` (Pfister & Gerstner 2006).
    pub rule: PlasticityRuleSpec,
    /// `additive` (default), `multiplicative` (soft bounds) or `power_law`.
    #[serde(default)]
    pub weight_dependence: WeightDependenceSpec,
    /// `all_to_all` (default) or `nearest`.
    #[serde(default)]
    pub pairing: PairingSpec,
    /// Time constant of the source's trace \[ms\].
    pub tau_plus_ms: f64,
    /// Time constant of the target's trace \[ms\].
    pub tau_minus_ms: f64,
    /// Potentiation per pair, as a fraction of `w_max`.
    pub a_plus: f64,
    /// Depression per pair, as a fraction of `w_max`.
    pub a_minus: f64,
    /// Lower bound of the weights (the projection's weight unit). Default 0.
    #[serde(default)]
    pub w_min: f64,
    /// Upper bound of the weights (the projection's weight unit).
    pub w_max: f64,
    /// `power_law`: the exponent of the potentiation's weight dependence (0 to 1).
    pub mu: Option<f64>,
    /// `power_law`: the reference weight (the projection's weight unit).
    pub w0: Option<f64>,
    /// Triplet rule: time constant of the source's slow trace \[ms\].
    pub tau_x_ms: Option<f64>,
    /// Triplet rule: time constant of the target's slow trace \[ms\].
    pub tau_y_ms: Option<f64>,
    /// Triplet rule: potentiation per pair and unit of the target's slow trace.
    pub a3_plus: Option<f64>,
    /// Triplet rule: depression per pair and unit of the source's slow trace.
    pub a3_minus: Option<f64>,
}

/// The learning rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlasticityRuleSpec {
    /// Pair-based STDP.
    Stdp,
    /// Triplet STDP.
    Triplet,
}

/// How weight changes scale with the weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WeightDependenceSpec {
    /// Independent of the weight.
    #[default]
    Additive,
    /// Soft bounds.
    Multiplicative,
    /// Morrison et al. (2007): potentiation as `w0^(1 - mu) w^mu`, depression as `w`.
    PowerLaw,
}

/// Which spike pairs count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PairingSpec {
    /// Every pair.
    #[default]
    AllToAll,
    /// The nearest spikes.
    Nearest,
}

fn default_true() -> bool {
    true
}

/// Neurons of a population addressed by an input or a recorder.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// Explicit indices. Default: all neurons.
    pub indices: Option<Vec<u64>>,
}

/// `[[input]]`: external drive of a population.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum InputSpec {
    /// Independent Poisson spike train into every selected neuron.
    Poisson {
        /// Target population.
        target: String,
        /// Rate per neuron \[Hz\].
        rate_hz: f64,
        /// Weight of each input spike \[mV\].
        weight_mv: Option<f64>,
        /// Weight of each input spike into a conductance-based target \[nS\].
        weight_ns: Option<f64>,
        /// Receptor of a lif_exp target. Default by the weight's sign.
        receptor: Option<ReceptorSpec>,
        /// Selected neurons. Default all.
        indices: Option<Vec<u64>>,
    },
    /// A constant or step current into every selected neuron.
    Current {
        /// Target population.
        target: String,
        /// Amplitude for LIF targets [mV, as a shift of the resting potential].
        amplitude_mv: Option<f64>,
        /// Amplitude for IF targets \[mV/ms\].
        amplitude_mv_per_ms: Option<f64>,
        /// Switch-on time \[ms\]. Default 0.
        #[serde(default)]
        start_ms: f64,
        /// Switch-off time \[ms\]. Default: never.
        stop_ms: Option<f64>,
        /// Selected neurons. Default all.
        indices: Option<Vec<u64>>,
    },
    /// Gaussian noise: every step, every selected neuron receives an input drawn from a
    /// normal distribution (Izhikevich's "thalamic input"), as a spike of that weight would
    /// arrive. Targets whose inputs are potentials (not conductances).
    Noise {
        /// Target population.
        target: String,
        /// Mean of the input of a step \[mV\]. Default 0.
        #[serde(default)]
        mean_mv: f64,
        /// Standard deviation of the input of a step \[mV\].
        std_mv: f64,
        /// Selected neurons. Default all.
        indices: Option<Vec<u64>>,
    },
}

/// `[record]`: what to record.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RecordSpec {
    /// Spike recorders.
    #[serde(default)]
    pub spikes: Vec<SpikeRecordSpec>,
    /// State trace recorders.
    #[serde(default)]
    pub traces: Vec<TraceRecordSpec>,
    /// Population rate recorders.
    #[serde(default)]
    pub rates: Vec<RateRecordSpec>,
    /// Weight snapshots of plastic projections.
    #[serde(default)]
    pub weights: Vec<WeightRecordSpec>,
}

/// Snapshots of a plastic projection's weights every `every_ms`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightRecordSpec {
    /// The projection's name.
    pub projection: String,
    /// Interval between snapshots \[ms\], a whole number of steps (the first at 0).
    pub every_ms: f64,
    /// Synapse indices (in the order of `weights.safetensors`); default all.
    pub synapses: Option<Vec<u64>>,
}

/// Record the spikes of a population (or some of its neurons).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpikeRecordSpec {
    /// Population.
    pub population: String,
    /// Indices; default all.
    pub indices: Option<Vec<u64>>,
}

/// Record the state (v and synaptic currents) of listed neurons every `every_steps` steps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceRecordSpec {
    /// Population.
    pub population: String,
    /// Indices of the neurons to trace.
    pub indices: Vec<u64>,
    /// Sampling interval in steps. Default 1.
    #[serde(default = "default_one")]
    pub every_steps: u64,
}

fn default_one() -> u64 {
    1
}

/// Record the population rate in bins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateRecordSpec {
    /// Population.
    pub population: String,
    /// Bin width \[ms\], a whole number of steps.
    pub bin_ms: f64,
}
