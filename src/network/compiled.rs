//! The compiled network: what the engines run. Indices instead of names, integer steps instead
//! of milliseconds, CSR synapse tables sorted by source.

use crate::neuron::{Anchor, Dynamics};
use std::path::PathBuf;

/// Which synaptic variable a projection or drive feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receptor {
    /// Excitatory (weights ≥ 0). For delta-synapse models both receptors add to `v`.
    Exc,
    /// Inhibitory (weights ≤ 0).
    Inh,
}

/// What a population is.
#[derive(Debug, Clone)]
pub enum PopulationKind {
    /// Simulated neurons.
    Neurons {
        /// The model with its propagators.
        dynamics: Dynamics,
        /// Initial anchor of each neuron (step 0).
        initial: Vec<Anchor>,
    },
    /// Simulated neurons of a clocked model (see [`crate::model`]): updated every step.
    Clocked {
        /// The model with its parameters.
        model: std::sync::Arc<dyn crate::model::CompiledModel>,
        /// Initial state variables of each neuron (in the order of
        /// [`crate::model::CompiledModel::variables`]).
        initial: Vec<[f64; crate::model::MAX_VARIABLES]>,
    },
    /// Independent Poisson spike sources: each neuron spikes in a step with probability
    /// `1 - exp(-rate * dt)`.
    Poisson {
        /// Rate of each source \[Hz\].
        rate_hz: f64,
    },
    /// Spike times replayed from a file: `(step, index)` sorted by step then index.
    SpikeSource {
        /// The spikes.
        spikes: Vec<(u32, u32)>,
    },
    /// Analog input units (e.g. pixels in [0, 1]), encoded as a constant current through their
    /// dense projections, or as Poisson or regular spike trains at `value * max_rate_hz`.
    Analog {
        /// One value per unit; `synops eval` replaces them sample by sample.
        values: Vec<f64>,
        /// How values reach the network.
        encoding: Encoding,
        /// Rate of a unit with value 1 \[Hz\] (spike encodings).
        max_rate_hz: f64,
    },
}

/// How an analog population drives its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// A constant current `sum_i value_i * w_ij` into each target, computed once.
    Current,
    /// Independent Poisson spike trains (at most one spike per step).
    Poisson,
    /// Regular spike trains: a unit spikes whenever its accumulated `rate * dt` reaches 1.
    Regular,
}

/// One population.
#[derive(Debug, Clone)]
pub struct Population {
    /// Name from the network file.
    pub name: String,
    /// Number of neurons.
    pub size: u32,
    /// Model or source kind.
    pub kind: PopulationKind,
}

impl Population {
    /// True for analog input units.
    pub fn is_analog(&self) -> bool {
        matches!(self.kind, PopulationKind::Analog { .. })
    }

    /// True for populations with simulated neurons (not sources).
    pub fn is_neurons(&self) -> bool {
        matches!(
            self.kind,
            PopulationKind::Neurons { .. } | PopulationKind::Clocked { .. }
        )
    }

    /// How inputs to this population are weighted (sources: as potentials).
    pub fn synapses(&self) -> crate::model::Synapses {
        match &self.kind {
            PopulationKind::Clocked { model, .. } => model.synapses(),
            _ => crate::model::Synapses::Voltage,
        }
    }

    /// True when the population sums excitatory and inhibitory inputs apart (`lif_exp` and
    /// the clocked models); delta-synapse models add both to the potential.
    pub fn has_two_receptors(&self) -> bool {
        match &self.kind {
            PopulationKind::Neurons { dynamics, .. } => {
                dynamics.params.model == crate::neuron::Model::LifExp
            }
            PopulationKind::Clocked { .. } => true,
            _ => false,
        }
    }

    /// The state variables of the population's model as `traces.csv` names them (none for
    /// sources).
    pub fn variables(&self) -> &'static [&'static str] {
        match &self.kind {
            PopulationKind::Neurons { .. } => &["v_mv", "i_exc_mv", "i_inh_mv"],
            PopulationKind::Clocked { model, .. } => model.variables(),
            _ => &[],
        }
    }

    /// True for the exact models, whose neurons carry a constant current (`bias`).
    pub fn has_bias(&self) -> bool {
        matches!(self.kind, PopulationKind::Neurons { .. })
    }

    /// The name of the population's model as summaries write it.
    pub fn model_name(&self) -> Option<&'static str> {
        match &self.kind {
            PopulationKind::Neurons { dynamics, .. } => Some(dynamics.params.model.name()),
            PopulationKind::Clocked { model, .. } => Some(model.name()),
            _ => None,
        }
    }
}

/// Synaptic weights of a projection.
#[derive(Debug, Clone)]
pub enum Weights {
    /// One weight for all synapses (stored once).
    Constant(f64),
    /// One weight per synapse, parallel to the targets.
    PerSynapse(Vec<f32>),
    /// One weight per synapse in double precision, parallel to the targets: the weights of a
    /// plastic projection during a run (every change exact to the last bit of an `f64`), and
    /// weights loaded from a run's weights file.
    PerSynapseF64(Vec<f64>),
    /// A dense projection: every source reaches every target, row `s` of this
    /// `[sources x targets]` matrix holds its weights and the CSR stores no target indices.
    /// One spike costs one row of adds.
    DenseRows(Vec<f32>),
    /// Dense rows of whole numbers in -128..=127 (a quantized layer's integer weights) with a
    /// scale per target: as [`Weights::DenseRows`], a byte per weight.
    DenseRowsI8(IntegerRows),
    /// One whole number in -128..=127 per synapse, parallel to the targets, with a scale per
    /// target (a pruned quantized layer: its kept synapses only, a byte per weight).
    PerSynapseI8(IntegerSynapses),
    /// A convolution (with a folded average pooling, if any): one kernel shared by every
    /// position, delivered to each spike's output window (see [`super::kernel`]). The CSR
    /// holds the fan-out of each source and no target indices.
    Kernel(Box<super::kernel::Kernel>),
}

/// The `[sources x targets]` rows of a dense projection of 8-bit whole numbers; the weight
/// of synapse `(s, t)` is `rows[s * targets + t] * scales[t]`.
#[derive(Debug, Clone)]
pub struct IntegerRows {
    /// The whole numbers, source-major.
    pub rows: Vec<i8>,
    /// One scale per target.
    pub scales: Vec<f32>,
}

impl IntegerRows {
    /// The lowest and highest weight (0 included).
    pub fn range(&self) -> (f64, f64) {
        let row = self.scales.len().max(1);
        (self.rows.iter().enumerate()).fold((0f64, 0f64), |(lo, hi), (k, &q)| {
            let w = f64::from(q) * f64::from(self.scales[k % row]);
            (lo.min(w), hi.max(w))
        })
    }
}

/// The listed synapses of a projection of 8-bit whole numbers; the weight of synapse `k`, to
/// target `t`, is `values[k] * scales[t]`.
#[derive(Debug, Clone)]
pub struct IntegerSynapses {
    /// The whole numbers, parallel to the CSR's targets.
    pub values: Vec<i8>,
    /// One scale per target.
    pub scales: Vec<f32>,
}

impl IntegerSynapses {
    /// The weight of synapse `k` onto `target`.
    #[inline]
    pub fn weight(&self, k: usize, target: u32) -> f64 {
        f64::from(self.values[k]) * f64::from(self.scales[target as usize])
    }

    /// The weights of synapses `range`, whose targets are `targets`, in order.
    pub fn weights<'a>(
        &'a self,
        range: std::ops::Range<usize>,
        targets: &'a [u32],
    ) -> impl Iterator<Item = f64> + 'a {
        range.zip(targets).map(|(k, &t)| self.weight(k, t))
    }

    /// The lowest and highest weight (0 included) of synapses onto `targets`.
    pub fn range(&self, targets: &[u32]) -> (f64, f64) {
        (self.weights(0..targets.len(), targets))
            .fold((0f64, 0f64), |(lo, hi), w| (lo.min(w), hi.max(w)))
    }
}

/// Delays of a projection.
#[derive(Debug, Clone)]
pub enum Delays {
    /// One delay \[steps\] for all synapses (stored once).
    Constant(u32),
    /// Per-synapse delays: each row is sorted by delay, split into runs of equal delay.
    /// Row `s` has runs `run_ptr\[s\]..run_ptr[s+1]`, each `(delay_steps, end_index)`.
    Runs {
        /// Start of each row's runs.
        run_ptr: Vec<u32>,
        /// `(delay in steps, exclusive end index into targets)`.
        runs: Vec<(u32, u32)>,
    },
}

/// Synapses of a projection in compressed sparse rows by source neuron.
#[derive(Debug, Clone, Default)]
pub struct Csr {
    /// Row `s` holds synapses `row_ptr\[s\]..row_ptr[s+1]`.
    pub row_ptr: Vec<u32>,
    /// Target neuron (index within the target population) of each synapse; empty for dense
    /// projections, whose row `s` targets every neuron in order.
    pub targets: Vec<u32>,
}

impl Csr {
    /// Rows of a dense `sources x targets` projection.
    pub fn dense(sources: u32, targets: u32) -> Self {
        Csr {
            row_ptr: (0..=sources).map(|s| s * targets).collect(),
            targets: Vec::new(),
        }
    }
    /// Rows of a projection whose targets are computed (a kernel): `fan_outs[s]` synapses in
    /// row `s`, and no target indices.
    pub fn computed(fan_outs: impl Iterator<Item = u32>) -> Self {
        let mut row_ptr = vec![0u32];
        let mut total = 0u32;
        for n in fan_outs {
            total += n;
            row_ptr.push(total);
        }
        Csr {
            row_ptr,
            targets: Vec::new(),
        }
    }
    /// Number of synapses.
    pub fn len(&self) -> usize {
        self.row_ptr.last().map_or(0, |&n| n as usize)
    }
    /// True when there are no synapses.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The synapse index range of source `s`.
    #[inline]
    pub fn row(&self, s: u32) -> std::ops::Range<usize> {
        self.row_ptr[s as usize] as usize..self.row_ptr[s as usize + 1] as usize
    }

    /// The source of every synapse, in the order of the targets.
    pub fn sources(&self) -> Vec<u32> {
        let rows = self.row_ptr.windows(2).enumerate();
        rows.flat_map(|(s, r)| std::iter::repeat_n(s as u32, (r[1] - r[0]) as usize))
            .collect()
    }
}

/// A compiled projection.
#[derive(Debug, Clone)]
pub struct Projection {
    /// Name (default `source->target`).
    pub name: String,
    /// Source population index.
    pub source: usize,
    /// Target population index.
    pub target: usize,
    /// Receptor at the target.
    pub receptor: Receptor,
    /// Connectivity.
    pub csr: Csr,
    /// Weights \[mV\].
    pub weights: Weights,
    /// Delays \[steps\].
    pub delays: Delays,
    /// The learning rule of a plastic projection (its weights are then the initial ones).
    pub plasticity: Option<crate::plasticity::Stdp>,
}

impl Projection {
    /// Bytes of its stored weights: 4 per float weight, 8 per double, 1 per 8-bit weight plus
    /// 4 per target's scale, a kernel's taps (none for a constant weight, which the synapse
    /// type holds).
    pub fn weight_bytes(&self) -> u64 {
        let bytes = match &self.weights {
            Weights::PerSynapse(w) | Weights::DenseRows(w) => w.len() * 4,
            Weights::PerSynapseF64(w) => w.len() * 8,
            Weights::DenseRowsI8(w) => w.rows.len() + w.scales.len() * 4,
            Weights::PerSynapseI8(w) => w.values.len() + w.scales.len() * 4,
            Weights::Kernel(k) => k.weights.len() * 4,
            Weights::Constant(_) => 0,
        };
        bytes as u64
    }

    /// Call `f(target, weight)` for every synapse of source `s`, in the order of its row.
    pub fn for_each_synapse(
        &self,
        s: u32,
        scratch: &mut super::kernel::KernelScratch,
        mut f: impl FnMut(u32, f64),
    ) {
        let row = self.csr.row(s);
        match &self.weights {
            Weights::DenseRows(w) => {
                for (t, &w) in w[row].iter().enumerate() {
                    f(t as u32, f64::from(w));
                }
            }
            Weights::DenseRowsI8(w) => {
                for (t, (&q, &s)) in w.rows[row].iter().zip(&w.scales).enumerate() {
                    f(t as u32, f64::from(q) * f64::from(s));
                }
            }
            Weights::Constant(w) => {
                for &t in &self.csr.targets[row] {
                    f(t, *w);
                }
            }
            Weights::PerSynapse(ws) => {
                for (&t, &w) in self.csr.targets[row.clone()].iter().zip(&ws[row]) {
                    f(t, f64::from(w));
                }
            }
            Weights::PerSynapseF64(ws) => {
                for (&t, &w) in self.csr.targets[row.clone()].iter().zip(&ws[row]) {
                    f(t, w);
                }
            }
            Weights::PerSynapseI8(ws) => {
                let targets = &self.csr.targets[row.clone()];
                for (&t, w) in targets.iter().zip(ws.weights(row, targets)) {
                    f(t, w);
                }
            }
            Weights::Kernel(k) => k.deliver(s, (0, u32::MAX), scratch, f),
        }
    }

    /// Smallest delay in steps.
    pub fn min_delay(&self) -> u32 {
        match &self.delays {
            Delays::Constant(d) => *d,
            Delays::Runs { runs, .. } => runs.iter().map(|r| r.0).min().unwrap_or(1),
        }
    }

    /// Largest delay in steps.
    pub fn max_delay(&self) -> u32 {
        match &self.delays {
            Delays::Constant(d) => *d,
            Delays::Runs { runs, .. } => runs.iter().map(|r| r.0).max().unwrap_or(1),
        }
    }
}

/// An independent Poisson drive into neurons of one population.
#[derive(Debug, Clone)]
pub struct PoissonDrive {
    /// Target population index.
    pub target: usize,
    /// Rate per neuron \[Hz\].
    pub rate_hz: f64,
    /// Weight per input spike \[mV\].
    pub weight_mv: f64,
    /// Receptor at the target.
    pub receptor: Receptor,
    /// Driven neurons (sorted, unique).
    pub neurons: Vec<u32>,
}

/// Gaussian noise into neurons of one population: each step, each neuron receives an input
/// drawn from `N(mean_mv, std_mv²)`.
#[derive(Debug, Clone)]
pub struct NoiseInput {
    /// Target population index.
    pub target: usize,
    /// Mean input of a step \[mV\].
    pub mean_mv: f64,
    /// Standard deviation of the input of a step \[mV\].
    pub std_mv: f64,
    /// Neurons (sorted, unique).
    pub neurons: Vec<u32>,
}

/// A change of bias current of some neurons at a step.
#[derive(Debug, Clone)]
pub struct CurrentSwitch {
    /// Step at whose end the change applies.
    pub step: u32,
    /// Population index.
    pub population: usize,
    /// Neurons (sorted, unique).
    pub neurons: Vec<u32>,
    /// Added to the bias (mV for LIF, mV/ms for IF); negative to switch off.
    pub delta: f64,
}

/// What to record.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    /// Per population: `None` records nothing, otherwise a per-neuron mask.
    pub spikes: Vec<Option<Vec<bool>>>,
    /// Traced neurons: `(population, index)` with the sampling interval in steps.
    pub traces: Vec<TraceRequest>,
    /// Rate recorders: `(population, bin width in steps)`.
    pub rates: Vec<(usize, u32)>,
    /// Weight snapshots of plastic projections.
    pub weights: Vec<WeightRequest>,
}

/// A weight snapshot request.
#[derive(Debug, Clone)]
pub struct WeightRequest {
    /// Projection index.
    pub projection: usize,
    /// Interval between snapshots in steps (the first at step 0).
    pub every_steps: u32,
    /// Synapse indices (all when the file names none).
    pub synapses: Vec<u32>,
}

/// A trace recording request.
#[derive(Debug, Clone)]
pub struct TraceRequest {
    /// Population index.
    pub population: usize,
    /// Neuron indices.
    pub neurons: Vec<u32>,
    /// Sampling interval in steps.
    pub every_steps: u32,
}

/// A checked, lowered network, ready for an engine.
#[derive(Debug, Clone)]
pub struct CompiledNetwork {
    /// Network name.
    pub name: String,
    /// The file it came from.
    pub path: PathBuf,
    /// Time step \[ms\].
    pub dt_ms: f64,
    /// Number of steps to simulate.
    pub steps: u32,
    /// Seed of all random streams.
    pub seed: u64,
    /// Populations in file order.
    pub populations: Vec<Population>,
    /// Projections in file order.
    pub projections: Vec<Projection>,
    /// Independent Poisson drives.
    pub drives: Vec<PoissonDrive>,
    /// Gaussian noise inputs.
    pub noises: Vec<NoiseInput>,
    /// Current switches sorted by step.
    pub currents: Vec<CurrentSwitch>,
    /// Recording requests.
    pub record: Recording,
    /// Built for one rank of a distributed run: only the synapses onto its own neurons are
    /// stored (dense rows and kernels stay whole), and only that rank's simulation may run it.
    pub local_targets: Option<crate::distributed::LocalTargets>,
    /// With `local_targets`: the smallest and largest delay of the whole network's synapses
    /// \[steps\] (a rank's own may lack them), which [`Self::min_delay`] and
    /// [`Self::max_delay`] give.
    pub whole_delays: Option<(u32, u32)>,
}

impl CompiledNetwork {
    /// Total number of neurons (sources included).
    pub fn neurons(&self) -> u64 {
        self.populations.iter().map(|p| u64::from(p.size)).sum()
    }
    /// Total number of synapses.
    pub fn synapses(&self) -> u64 {
        self.projections.iter().map(|p| p.csr.len() as u64).sum()
    }
    /// Largest delay of any projection in steps (at least 1).
    pub fn max_delay(&self) -> u32 {
        if let Some((_, most)) = self.whole_delays {
            return most.max(1);
        }
        self.projections
            .iter()
            .map(Projection::max_delay)
            .max()
            .unwrap_or(1)
            .max(1)
    }

    /// The smallest delay of any synapse, in steps (1 without synapses): a spike emitted in a
    /// step arrives this many steps later or more, so spikes can be routed once per epoch of
    /// this many steps, as a distributed run exchanges them.
    pub fn min_delay(&self) -> u32 {
        if let Some((least, _)) = self.whole_delays {
            return least.max(1);
        }
        let delays = self.projections.iter().map(Projection::min_delay);
        delays.min().unwrap_or(1).max(1)
    }
    /// Bytes held by the synapse tables.
    pub fn synapse_bytes(&self) -> u64 {
        self.projections
            .iter()
            .map(|p| {
                let mut b = p.csr.row_ptr.len() * 4 + p.csr.targets.len() * 4;
                b += match &p.weights {
                    Weights::Kernel(k) => k.bytes(), // its taps and its pooling counts
                    _ => p.weight_bytes() as usize,
                };
                if let Delays::Runs { run_ptr, runs } = &p.delays {
                    b += run_ptr.len() * 4 + runs.len() * 8;
                }
                b as u64
            })
            .sum()
    }
}
