//! The engines: run a [`CompiledNetwork`] step by step.
//!
//! One [`Simulation`] holds the runtime state; [`Engine`] selects how neurons are updated. Each
//! step does, in this order (see [`crate::neuron`] for the time semantics):
//!
//! 1. external input: Poisson drives add to the input accumulators, source populations spike;
//! 2. delivery: the spike bundles arriving at this step (a ring buffer indexed by arrival step)
//!    are expanded over their CSR rows into the accumulators, and each target's bit is set in
//!    its part's `touched` bitmap (parts under a dense Poisson drive touch every neuron every
//!    step and skip the bits). `lif_exp` populations instead fold each input into the
//!    target's anchor ([`crate::neuron::Dynamics::fold_input`]) and list the targets whose
//!    headroom (below) the input used up;
//! 3. update: neurons with input (a set bit, even if their inputs summed to zero) are advanced,
//!    get their input and are checked against threshold; with folded inputs, the listed
//!    neurons are checked. The clock engine then checks every other neuron too; the event
//!    engine only those whose predicted threshold crossing
//!    ([`crate::neuron::Dynamics::predict`]) falls on this step. A prediction also gives a
//!    headroom: later inputs that cannot raise the potential by more before the next check
//!    leave it standing;
//! 4. current switches of this step, state traces;
//! 5. emission: this step's spikes are sorted, recorded, and one bundle per (spike, projection,
//!    delay) is pushed into the ring at its arrival step.
//!
//! Steps 1, 2, 4 and 5 are shared by both engines. Accumulation order is fixed (bundles in
//! emission order, neurons ascending), so both engines compute bit-identical potentials.
//!
//! Parallel runs: each population's neurons are split into block-aligned parts (module `part`), one
//! per thread, advanced in steps 2 and 3 by a team of threads kept for the whole run
//! (module `team`); steps 1 (sources), 4 and 5 run on the calling thread between two barriers.
//! Results are bit-identical for any number of threads.
//!
//! Memory layout: per part, one array of cache-line records (anchor, this step's summed input,
//! headroom, pending check) and one bitmap of touched neurons. Delivery adds into a neuron's
//! record and the update then reads it while it is still in cache: one cache line per active
//! neuron per step, which is what bounds a sparse network whose state does not fit in L2. Parts
//! whose neurons all get input every step sum inputs into dense arrays instead (8 bytes per
//! neuron), which the update then streams through in order. So do delta-model parts fed only
//! over dense rows and kernels (converted networks), whose deliveries write long runs of
//! neighbouring targets; their targets are still marked, so only they are updated.

mod input;
mod part;
mod plastic;
mod ring;
pub(crate) mod rows;
mod runaway;
mod tables;
mod team;

pub use input::PoissonField;
pub use runaway::Runaway;

use crate::distributed::Ranks;
use crate::network::compiled::*;
use crate::neuron::{Anchor, Dynamics, Model};
use crate::rng::{BLOCK_SIZE, Purpose};
use part::{Part, PartDrive, StepInput};
use rayon::prelude::*;
use ring::{Bundle, SpikeRing};
use tables::RunTables;

/// How neurons are updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// Only neurons with input or a possible threshold crossing (default).
    #[default]
    Event,
    /// Every neuron every step (the reference).
    Clock,
}

impl Engine {
    /// Name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Event => "event",
            Engine::Clock => "clock",
        }
    }
}

/// Integer counts of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Spikes emitted per population.
    pub spikes: Vec<u64>,
    /// Synaptic events (spike delivered over one synapse) per projection.
    pub synaptic_events: Vec<u64>,
    /// Neuron state evaluations per population (input updates and threshold checks).
    pub neuron_updates: Vec<u64>,
    /// Of the updates, threshold checks without input (event engine wake-ups).
    pub threshold_checks: Vec<u64>,
    /// Input spikes of each independent Poisson drive.
    pub external_events: Vec<u64>,
    /// Active neuron-steps per population: steps in which a neuron received at least one input
    /// event (synaptic or external), carried a non-zero constant current, or spiked. Counted
    /// from the activity of the network, not from the engine's work: both engines count alike.
    pub active_neuron_steps: Vec<u64>,
    /// Per projection: multiply-accumulates made once at the start to turn analog values into
    /// constant currents (zero inputs skipped; 0 for other projections).
    pub current_macs: Vec<u64>,
    /// Per projection: weight updates of a plastic projection (one per synapse at each spike
    /// of its source reaching it and at each spike of its target; 0 for other projections).
    pub synaptic_updates: Vec<u64>,
}

/// Where the loop time went, when profiling ([`Simulation::enable_profile`]). Part phases are
/// summed over parts, so with several threads they add up to more than the loop time.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    /// Poisson drives \[s\].
    pub drives_s: f64,
    /// Delivery of spikes over synapses \[s\].
    pub delivery_s: f64,
    /// Updates of neurons with input, with their crossing predictions \[s\].
    pub updates_s: f64,
    /// Threshold checks without input (event engine) \[s\].
    pub checks_s: f64,
    /// The sequential part of each step: source populations, subset drives, collecting
    /// spikes, recording, and queueing spikes by delay \[s\].
    pub sequential_s: f64,
}

/// One sample of a state trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceSample {
    /// Step.
    pub step: u32,
    /// Population index.
    pub population: u32,
    /// Neuron index.
    pub index: u32,
    /// The state variables of the population's model, in the order of
    /// [`crate::network::compiled::Population::variables`] (the potential first).
    pub values: [f64; crate::model::MAX_VARIABLES],
}

pub use crate::record::Recorded;
use crate::record::Recorder;

enum Source {
    Neurons,
    Poisson(Box<PoissonField>),
    /// A spike source's spikes: the network's, or this run's own (see
    /// [`Simulation::set_spike_input`]).
    Replay {
        next: usize,
        own: Option<Vec<(u32, u32)>>,
    },
    Analog(AnalogInput),
}

/// Spike generation of an analog population under a spike encoding (nothing per step for the
/// current encoding, whose effect is folded into the targets' bias at the start).
struct AnalogInput {
    encoding: Encoding,
    /// Poisson: spike when a 32-bit uniform is below this (0: never drawn).
    thresholds: Vec<u32>,
    /// Regular: expected spikes per step and the accumulated phase.
    per_step: Vec<f64>,
    phase: Vec<f64>,
    streams: Vec<crate::rng::Stream>,
}

impl AnalogInput {
    fn new(
        values: &[f64],
        encoding: Encoding,
        max_rate_hz: f64,
        dt_ms: f64,
        seed: u64,
        pop: usize,
    ) -> Self {
        let per_step: Vec<f64> = values
            .iter()
            .map(|&v| v * max_rate_hz * dt_ms * 1e-3)
            .collect();
        let thresholds = per_step
            .iter()
            .map(|&l| {
                ((1.0 - (-l).exp()) * 4_294_967_296.0)
                    .round()
                    .min(f64::from(u32::MAX)) as u32
            })
            .collect();
        let streams = (0..values.len().div_ceil(crate::rng::BLOCK_SIZE))
            .map(|b| crate::rng::Stream::new(seed, Purpose::PoissonSource, pop as u64, b as u64))
            .collect();
        AnalogInput {
            encoding,
            thresholds,
            phase: vec![0.0; values.len()],
            per_step,
            streams,
        }
    }

    fn step(&mut self, out: &mut Vec<u32>) {
        match self.encoding {
            Encoding::Current => {}
            Encoding::Poisson => {
                for (b, rng) in self.streams.iter_mut().enumerate() {
                    let first = b * crate::rng::BLOCK_SIZE;
                    let end = (first + crate::rng::BLOCK_SIZE).min(self.thresholds.len());
                    for i in first..end {
                        let t = self.thresholds[i];
                        if t > 0 && rng.next_u32() < t {
                            out.push(i as u32);
                        }
                    }
                }
            }
            Encoding::Regular => {
                for (i, (phase, &rate)) in self.phase.iter_mut().zip(&self.per_step).enumerate() {
                    *phase += rate;
                    if *phase >= 1.0 {
                        *phase -= 1.0;
                        out.push(i as u32);
                    }
                }
            }
        }
    }
}

/// A network being simulated.
pub struct Simulation<'a> {
    net: &'a CompiledNetwork,
    engine: Engine,
    /// Neuron state, population by population, each split into block-aligned parts.
    parts: Vec<Part>,
    /// The parts of each population (empty for spike sources).
    pop_parts: Vec<std::ops::Range<usize>>,
    sources: Vec<Source>,
    spikes_now: Vec<Vec<u32>>,
    /// The spikes of the current epoch not routed yet: `(step, population, start, end)` into
    /// `epoch_neurons`. Spikes are routed into the ring once per epoch of
    /// [`CompiledNetwork::min_delay`] steps (none arrives sooner), the exchange a
    /// distributed run needs.
    epoch_spikes: Vec<(u32, u32, u32, u32)>,
    epoch_neurons: Vec<u32>,
    /// Steps per epoch.
    epoch_steps: u32,
    outgoing: Vec<Vec<usize>>,
    /// Drives into index subsets, generated before the parallel part of a step.
    subset_drives: Vec<(usize, PoissonField)>,
    /// One random stream per noise input (drawn in neuron order, before the parallel part of
    /// a step: the same inputs for any number of threads).
    noise_streams: Vec<crate::rng::Stream>,
    /// The run's per-projection tables, its weights among them.
    tables: RunTables,
    /// The plastic projections' traces and indices.
    plastic: Vec<plastic::PlasticRun>,
    ring: SpikeRing,
    next_current: usize,
    step: u32,
    pool: Option<rayon::ThreadPool>,
    threads: usize,
    /// Phase times so far, when profiling.
    profile: Option<Profile>,
    /// Counts so far.
    pub counts: Counts,
    /// Recordings so far.
    pub recorded: Recorded,
    /// The neuron whose state left its bound, once one has: no further step runs.
    runaway: Option<Runaway>,
    /// The other ranks of a distributed run (see [`crate::distributed`]), and what the
    /// exchange of spikes reuses from step to step.
    ranks: Option<Box<dyn Ranks>>,
    exchange: Exchange,
}

/// The exchanges of spikes of a distributed run, as rank 0 saw them.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExchangeStats {
    /// Ranks of the run.
    pub ranks: usize,
    /// Threads per rank.
    pub threads_per_rank: usize,
    /// Exchanges (one per epoch of the minimum delay, and one at the end).
    pub exchanges: u64,
    /// Wall time in the exchanges on rank 0, waiting for the other ranks included \[s\].
    pub exchange_s: f64,
    /// Bytes every rank received over the run (the words of all ranks, its own included).
    pub bytes_received: u64,
    /// Synapses of the whole network, summed over the ranks' own.
    pub synapses: u64,
    /// The same per projection.
    #[serde(skip)]
    pub projection_synapses: Vec<u64>,
    /// Bytes of each projection's stored weights, as one process stores them (the listed
    /// synapses' summed over the ranks, per-target scales and whole rows counted once).
    #[serde(skip)]
    pub projection_weight_bytes: Vec<u64>,
    /// Whether each rank stored only the synapses onto its own neurons.
    pub local_synapses: bool,
}

/// The buffers of a distributed run's exchanges, and what its parts counted.
#[derive(Default)]
struct Exchange {
    stats: ExchangeStats,
    local: Vec<u32>,
    all: Vec<u32>,
    lengths: Vec<usize>,
    /// External events counted by this rank's parts, per drive (the rest of
    /// [`Counts::external_events`] every rank counts alike).
    part_external: Vec<u64>,
    /// Set at the end of the epoch in which a state ran away on some rank: every rank stops.
    halted: bool,
    /// Set when the first state to run away was another rank's (which reports it).
    stopped_elsewhere: bool,
    /// The epoch's groups of spikes of every rank, `(step, population, rank, start, end)`
    /// into `all` (or into the epoch's own neurons for spike sources, rank `usize::MAX`).
    groups: Vec<(u32, u32, usize, usize, usize)>,
}

/// Why a network built for one rank runs only under [`Simulation::distributed`].
const ONE_RANK_ONLY: &str = "a network built for one rank of a distributed run (local_targets) runs only under Simulation::distributed";

/// Block-aligned part boundaries of a population of `size` neurons for `threads` threads: one
/// part per thread where the population is large enough. (More parts would balance better but
/// cut every row a spike delivers into more, shorter stretches, which cost more to read.)
pub(crate) fn part_bounds(size: u32, threads: usize) -> Vec<u32> {
    let blocks = (size as usize).div_ceil(BLOCK_SIZE).max(1);
    let parts = if threads <= 1 { 1 } else { threads.min(blocks) };
    (0..=parts)
        .map(|k| ((k * blocks / parts) * BLOCK_SIZE).min(size as usize) as u32)
        .collect()
}

impl<'a> Simulation<'a> {
    /// Prepare a single-threaded simulation at step 0 with the network's initial state.
    ///
    /// # Panics
    /// On a network built for one rank of a distributed run, which only
    /// [`Self::distributed`] runs (also for the other constructors).
    pub fn new(net: &'a CompiledNetwork, engine: Engine) -> Self {
        Self::with_analog_input(net, engine, &[], 0)
    }

    /// Prepare a simulation whose analog populations take the given values instead of the
    /// network file's: `inputs` lists `(population index, values)`. `stream` selects the random
    /// streams of spike-encoded inputs (e.g. the sample index), so that each sample gets its own
    /// spike trains whatever the order in which samples are simulated.
    pub fn with_analog_input(
        net: &'a CompiledNetwork,
        engine: Engine,
        inputs: &[(usize, &[f64])],
        stream: u64,
    ) -> Self {
        assert!(net.local_targets.is_none(), "{ONE_RANK_ONLY}");
        Self::build(net, engine, inputs, stream, (1, 1))
    }

    /// Prepare a simulation that runs on `threads` threads (a dedicated pool). The results are
    /// bit-identical to a single-threaded run.
    pub fn with_threads(net: &'a CompiledNetwork, engine: Engine, threads: usize) -> Self {
        assert!(net.local_targets.is_none(), "{ONE_RANK_ONLY}");
        Self::build(net, engine, &[], 0, (threads.max(1), threads.max(1)))
    }

    /// Prepare this rank's share of a run split over the ranks of `ranks` (see
    /// [`crate::distributed`]), each advancing its parts on `threads` threads. Every rank
    /// gets the same spikes, counts and traces as a single process; call its steps on every
    /// rank alike.
    ///
    /// # Errors
    /// The network has plastic projections (their weights are not distributed).
    pub fn distributed(
        net: &'a CompiledNetwork,
        engine: Engine,
        threads: usize,
        ranks: Box<dyn Ranks>,
    ) -> Result<Self, String> {
        if let Some(pr) = net.projections.iter().find(|pr| pr.plasticity.is_some()) {
            return Err(format!(
                "projection `{}` is plastic; runs over several ranks do not distribute plastic \
                 weights (run it in one process, with --threads)",
                pr.name
            ));
        }
        let threads = threads.max(1);
        let (rank, size) = (ranks.rank(), ranks.size());
        let this = crate::distributed::LocalTargets {
            rank,
            ranks: size,
            threads,
        };
        if net.local_targets.is_some_and(|l| l != this) {
            return Err(format!(
                "the network was built for {:?}, not for this run's {this:?}",
                net.local_targets
            ));
        }
        let mut sim = Self::build(net, engine, &[], 0, (threads, threads * size));
        // Every rank must step alike (a rank that exchanged at other steps would wait for
        // the others for ever): the same steps, epochs and parts, or none runs.
        let shape = [net.steps, sim.epoch_steps, sim.parts.len() as u32];
        let mut ranks = ranks;
        let (mut all, mut lengths) = (Vec::new(), Vec::new());
        ranks.all_gather(&shape, &mut all, &mut lengths);
        if all.chunks(shape.len()).any(|other| other != shape) {
            return Err(format!(
                "the ranks built different networks (steps, epoch and parts of each rank: \
                 {all:?}); every rank must read the same file with the same options"
            ));
        }
        for range in sim.pop_parts.clone() {
            let n = range.len();
            for (k, part) in sim.parts[range].iter_mut().enumerate() {
                part.remote = crate::distributed::owner(k, n, size) != rank;
            }
        }
        sim.exchange.part_external = vec![0; net.drives.len()];
        sim.exchange.stats.ranks = size;
        sim.exchange.stats.local_synapses = net.local_targets.is_some();
        sim.exchange.stats.threads_per_rank = threads;
        sim.ranks = Some(ranks);
        Ok(sim)
    }

    /// The exchanges of a distributed run so far (`None` in one process).
    pub fn exchange_stats(&self) -> Option<&ExchangeStats> {
        self.ranks.as_ref().map(|_| &self.exchange.stats)
    }

    /// Whether the run stopped because a state ran away on another rank (that rank holds the
    /// [`Runaway`]).
    pub fn stopped_elsewhere(&self) -> bool {
        self.exchange.stopped_elsewhere
    }

    /// `threads`: this process's threads and the parts to cut each population into (one per
    /// thread of every rank).
    fn build(
        net: &'a CompiledNetwork,
        engine: Engine,
        inputs: &[(usize, &[f64])],
        stream: u64,
        (threads, cut): (usize, usize),
    ) -> Self {
        // The values of each analog population (empty for the others).
        let analog_values: Vec<&[f64]> = net
            .populations
            .iter()
            .enumerate()
            .map(|(pi, p)| match &p.kind {
                PopulationKind::Analog { values, .. } => inputs
                    .iter()
                    .find(|(q, _)| *q == pi)
                    .map_or(&values[..], |(_, v)| {
                        assert_eq!(
                            v.len(),
                            values.len(),
                            "analog input size of population {pi}"
                        );
                        *v
                    }),
                _ => &[],
            })
            .collect();
        let mut parts = Vec::new();
        let mut pop_parts = Vec::new();
        let mut sources = Vec::new();
        for (pi, p) in net.populations.iter().enumerate() {
            let start = parts.len();
            let source = match &p.kind {
                PopulationKind::Neurons { initial, .. } => {
                    let bounds = part_bounds(p.size, cut);
                    for (rank, w) in bounds.windows(2).enumerate() {
                        let anchors = &initial[w[0] as usize..w[1] as usize];
                        parts.push(Part::new(pi, rank, w[0], anchors));
                    }
                    Source::Neurons
                }
                PopulationKind::Clocked { model, initial } => {
                    let bounds = part_bounds(p.size, cut);
                    for (rank, w) in bounds.windows(2).enumerate() {
                        let states = model.states(&initial[w[0] as usize..w[1] as usize]);
                        parts.push(Part::new_clocked(pi, rank, w[0], states));
                    }
                    Source::Neurons
                }
                PopulationKind::Poisson { rate_hz } => {
                    Source::Poisson(Box::new(PoissonField::new(
                        (0..p.size).collect(),
                        rate_hz * net.dt_ms * 1e-3,
                        true,
                        net.seed,
                        Purpose::PoissonSource,
                        pi as u64,
                        0,
                    )))
                }
                PopulationKind::SpikeSource { .. } => Source::Replay { next: 0, own: None },
                PopulationKind::Analog {
                    encoding,
                    max_rate_hz,
                    ..
                } => Source::Analog(AnalogInput::new(
                    analog_values[pi],
                    *encoding,
                    *max_rate_hz,
                    net.dt_ms,
                    net.seed.wrapping_add(stream),
                    pi,
                )),
            };
            sources.push(source);
            pop_parts.push(start..parts.len());
        }
        let mut outgoing = vec![Vec::new(); net.populations.len()];
        for (j, pr) in net.projections.iter().enumerate() {
            outgoing[pr.source].push(j);
        }
        let into_inh: Vec<bool> = net
            .projections
            .iter()
            .map(|pr| {
                pr.receptor == Receptor::Inh && net.populations[pr.target].has_two_receptors()
            })
            .collect();
        // Drives into a whole population go to its parts (their blocks align with the parts);
        // drives into index subsets stay whole.
        let mut subset_drives = Vec::new();
        for (k, d) in net.drives.iter().enumerate() {
            let lambda = d.rate_hz * net.dt_ms * 1e-3;
            let receptor = usize::from(
                d.receptor == Receptor::Inh && net.populations[d.target].has_two_receptors(),
            );
            let size = net.populations[d.target].size;
            let whole = d.neurons.len() == size as usize;
            if !whole {
                let field = PoissonField::new(
                    d.neurons.clone(),
                    lambda,
                    false,
                    net.seed,
                    Purpose::PoissonDrive,
                    k as u64,
                    0,
                );
                subset_drives.push((k, field));
                continue;
            }
            for part in &mut parts[pop_parts[d.target].clone()] {
                let field = PoissonField::new(
                    (part.lo..part.hi()).collect(),
                    lambda,
                    false,
                    net.seed,
                    Purpose::PoissonDrive,
                    k as u64,
                    u64::from(part.lo) / BLOCK_SIZE as u64,
                );
                if field.is_dense() && !part.all_touched {
                    part.set_all_touched();
                }
                part.drives
                    .push(PartDrive::new(k, receptor, d.weight_mv, field));
            }
        }
        // Where each part's targets start in every row: one pass over the synapses, so that
        // delivery never searches a row that is not in cache.
        let row_splits: Vec<Vec<u32>> = net
            .projections
            .iter()
            .map(|pr| {
                let range = pop_parts[pr.target].clone();
                if range.len() < 2
                    || matches!(
                        pr.weights,
                        Weights::DenseRows(_) | Weights::DenseRowsI8(_) | Weights::Kernel(_)
                    )
                {
                    return Vec::new();
                }
                let bounds: Vec<u32> = parts[range].iter().map(|p| p.lo).collect();
                let rows = pr.csr.row_ptr.len() - 1;
                let mut splits = Vec::with_capacity(rows * (bounds.len() + 1));
                for s in 0..rows {
                    let row = pr.csr.row(s as u32);
                    let targets = &pr.csr.targets[row.clone()];
                    for &b in &bounds {
                        splits.push((row.start + targets.partition_point(|&n| n < b)) as u32);
                    }
                    splits.push(row.end as u32);
                }
                splits
            })
            .collect();
        let pool = (threads > 1).then(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a thread pool can be built")
        });
        let np = net.populations.len();
        let mut sim = Simulation {
            net,
            engine,
            parts,
            pop_parts,
            sources,
            spikes_now: vec![Vec::new(); np],
            epoch_spikes: Vec::new(),
            epoch_neurons: Vec::new(),
            epoch_steps: net.min_delay(),
            outgoing,
            subset_drives,
            noise_streams: (0..net.noises.len())
                .map(|k| crate::rng::Stream::new(net.seed, Purpose::Noise, k as u64, 0))
                .collect(),
            tables: RunTables {
                into_inh,
                row_splits,
                own_weights: net
                    .projections
                    .iter()
                    .map(|pr| pr.plasticity.map(|_| plastic::initial_weights(pr)))
                    .collect(),
            },
            plastic: net
                .projections
                .iter()
                .enumerate()
                .filter_map(|(j, pr)| {
                    let sizes = (
                        net.populations[pr.source].size,
                        net.populations[pr.target].size,
                    );
                    plastic::PlasticRun::new(j, pr, sizes, net.dt_ms)
                })
                .collect(),
            ring: SpikeRing::new(net.max_delay()),
            next_current: 0,
            step: 0,
            pool,
            threads,
            profile: None,
            counts: Counts {
                spikes: vec![0; np],
                synaptic_events: vec![0; net.projections.len()],
                neuron_updates: vec![0; np],
                threshold_checks: vec![0; np],
                external_events: vec![0; net.drives.len()],
                active_neuron_steps: vec![0; np],
                current_macs: vec![0; net.projections.len()],
                synaptic_updates: vec![0; net.projections.len()],
            },
            recorded: Recorded::new(net),
            runaway: None,
            ranks: None,
            exchange: Exchange::default(),
        };
        sim.apply_analog_currents(&analog_values);
        for part in &mut sim.parts {
            let kind = &net.populations[part.pop].kind;
            part.find_runaway(kind, 0);
            let PopulationKind::Neurons { dynamics, .. } = kind else {
                continue; // clocked: no bias records, no predictions
            };
            part.list_biased();
            part.can_self_cross = can_self_cross(dynamics, part.slots.iter().map(|s| &s.anchor))
                || net.currents.iter().any(|c| c.population == part.pop);
            if dynamics.params.model == Model::LifExp && !part.all_touched {
                part.set_fold();
            } else if !part.all_touched && fed_by_rows_only(net, part.pop) {
                part.set_dense_sums();
            }
        }
        sim.find_runaway(0);
        // A population can self-cross if any of its parts can.
        for range in sim.pop_parts.clone() {
            let any = sim.parts[range.clone()].iter().any(|p| p.can_self_cross);
            for part in &mut sim.parts[range] {
                part.can_self_cross = any;
            }
        }
        if engine == Engine::Event {
            for part in &mut sim.parts {
                let PopulationKind::Neurons { dynamics, .. } = &net.populations[part.pop].kind
                else {
                    continue; // clocked: updated every step
                };
                for i in 0..part.slots.len() {
                    part.schedule(dynamics, i, 0);
                }
            }
        }
        // The built-in recorders see the initial state.
        let mut recorded = std::mem::take(&mut sim.recorded);
        recorded.step(&sim);
        sim.recorded = recorded;
        sim
    }

    /// The part holding neuron `n` of population `pop`, and `n`'s index in it.
    fn locate(&self, pop: usize, n: u32) -> (usize, usize) {
        let range = self.pop_parts[pop].clone();
        let k = range.start + self.parts[range].partition_point(|p| p.hi() <= n);
        (k, (n - self.parts[k].lo) as usize)
    }

    /// Fold the constant currents of current-encoded analog populations into their targets'
    /// bias: `bias_j += sum_i value_i * w_ij`, skipping zero values.
    fn apply_analog_currents(&mut self, analog_values: &[&[f64]]) {
        let net = self.net;
        for (j, pr) in net.projections.iter().enumerate() {
            let PopulationKind::Analog {
                encoding: Encoding::Current,
                ..
            } = &net.populations[pr.source].kind
            else {
                continue;
            };
            // The targets' biases in one array, summed in pixel order as before.
            let parts = self.pop_parts[pr.target].clone();
            let mut bias: Vec<f64> = self.parts[parts.clone()]
                .iter()
                .flat_map(|p| p.slots.iter().map(|s| s.anchor.bias))
                .collect();
            let macs = add_analog_currents(pr, analog_values[pr.source], &mut bias);
            for part in &mut self.parts[parts] {
                let first = part.lo as usize;
                for (l, slot) in part.slots.iter_mut().enumerate() {
                    slot.anchor.bias = bias[first + l];
                }
            }
            self.counts.current_macs[j] += macs;
        }
    }

    /// Time the phases of every step from now on (a few percent slower).
    pub fn enable_profile(&mut self) {
        self.profile.get_or_insert_with(Profile::default);
    }

    /// The phase times so far, if profiling.
    pub fn profile(&self) -> Option<&Profile> {
        self.profile.as_ref()
    }

    /// The current step (0 before the first step).
    pub fn current_step(&self) -> u32 {
        self.step
    }

    /// Replace the spikes of the spike source `population` for this run by `spikes` (`(step,
    /// index)`, sorted, steps from 1, indices within the population), before its first step;
    /// `synops eval` feeds each sample so. Returns false (and changes nothing) if `population`
    /// is not a spike source or the run has started.
    pub fn set_spike_input(&mut self, population: usize, spikes: Vec<(u32, u32)>) -> bool {
        let started = self.current_step() > 0;
        match self.sources.get_mut(population) {
            Some(Source::Replay { next: 0, own }) if !started => {
                *own = Some(spikes);
                true
            }
            _ => false,
        }
    }

    /// The state of neuron `index` of population `population` at the current step, or `None`
    /// for spike sources.
    pub fn state(&self, population: usize, index: u32) -> Option<crate::neuron::Evaluated> {
        match &self.net.populations[population].kind {
            PopulationKind::Neurons { dynamics, .. } => {
                let (k, l) = self.locate(population, index);
                Some(dynamics.evaluate(&self.parts[k].slots[l].anchor, self.step))
            }
            _ => None,
        }
    }

    /// The state variables of neuron `index` of population `population` at the current step
    /// (in the order of [`crate::network::compiled::Population::variables`]), or `None` for
    /// spike sources.
    pub fn state_variables(
        &self,
        population: usize,
        index: u32,
    ) -> Option<[f64; crate::model::MAX_VARIABLES]> {
        let mut values = [0.0; crate::model::MAX_VARIABLES];
        match &self.net.populations[population].kind {
            PopulationKind::Neurons { .. } => {
                let e = self.state(population, index)?;
                values[..3].copy_from_slice(&[e.v, e.i_exc, e.i_inh]);
            }
            PopulationKind::Clocked { .. } => {
                let (k, l) = self.locate(population, index);
                self.parts[k].clocked.as_ref()?.values(l, &mut values);
            }
            _ => return None,
        }
        Some(values)
    }

    /// Run all remaining steps, calling `progress(step)` now and then.
    ///
    /// # Errors
    /// A neuron's state left its bound (see [`Runaway`]): the run stops at that step.
    pub fn run(&mut self, mut progress: impl FnMut(u32)) -> Result<(), Runaway> {
        let every = (self.net.steps / 200).max(1);
        self.run_observed(|sim| {
            if sim.step.is_multiple_of(every) {
                progress(sim.step);
            }
        })
    }

    /// Run all remaining steps, calling `observe(self)` after each.
    ///
    /// With several threads the steps run on a team of threads kept for the whole run (see
    /// module `team`); `observe` runs on the calling thread between steps.
    ///
    /// # Errors
    /// A neuron's state left its bound (see [`Runaway`]): the run stops at that step, before
    /// `observe` sees it.
    pub fn run_observed(&mut self, observe: impl FnMut(&Simulation<'_>)) -> Result<(), Runaway> {
        self.run_with(&mut crate::record::EveryStep(observe))
    }

    /// Run all remaining steps with `recorder` beside the built-in ones (see
    /// [`crate::record`]): its hooks run on the calling thread between steps.
    ///
    /// # Errors
    /// A neuron's state left its bound (see [`Runaway`]): the run stops at that step, before
    /// the recorders see it (their `finish` still runs).
    pub fn run_with(&mut self, recorder: &mut dyn Recorder) -> Result<(), Runaway> {
        self.run_steps(recorder);
        self.settle_weights();
        self.gather_ranks();
        let mut recorded = std::mem::take(&mut self.recorded);
        recorded.finish(self);
        self.recorded = recorded;
        recorder.finish(self);
        self.runaway.clone().map_or(Ok(()), Err)
    }

    /// The compiled network being simulated.
    pub fn network(&self) -> &'a CompiledNetwork {
        self.net
    }

    /// The weights of projection `projection` in this run: the network's until the run
    /// writes them.
    pub fn weights(&self, projection: usize) -> &Weights {
        self.tables.weights(self.net, projection)
    }

    /// The weights of projection `projection`, to change between steps: one per synapse in
    /// the order of the projection's synapse table (a dense projection's
    /// `[sources x targets]` rows; a convolution's shared kernel, which every position uses).
    /// From the first call on they are the run's own (a constant weight is written out per
    /// synapse, as f32); the network, and every other run of it,
    /// keep theirs. Weights beyond the target's state bound make the run stop with a
    /// [`Runaway`] when they take a state beyond it.
    ///
    /// # Panics
    /// On a projection whose weights are double precision (plastic, or loaded from a weights
    /// file): use [`Self::weights_f64_mut`].
    pub fn weights_mut(&mut self, projection: usize) -> &mut [f32] {
        self.tables.weights_mut(self.net, projection)
    }

    /// The double-precision weights of projection `projection` (plastic projections, and
    /// weights loaded from a weights file) to change between steps, the run's own from the
    /// first call on; `None` for projections with single-precision or computed weights.
    pub fn weights_f64_mut(&mut self, projection: usize) -> Option<&mut [f64]> {
        self.tables.weights_f64_mut(self.net, projection)
    }

    /// Whether the run can go on: steps are left and no state has run away.
    fn steps_left(&self) -> bool {
        // (A distributed run stops at the end of an epoch, when every rank knows.)
        let stopped = match self.ranks {
            Some(_) => self.exchange.halted,
            None => self.runaway.is_some(),
        };
        self.step < self.net.steps && !stopped
    }

    /// [`Self::run_with`] without the result.
    fn run_steps(&mut self, recorder: &mut dyn Recorder) {
        if self.threads <= 1 || !self.steps_left() {
            while self.steps_left() {
                self.step_with(recorder, Self::advance_parts);
            }
            return;
        }
        // (Another rank's parts cost this one nothing.)
        let sizes: Vec<usize> = self
            .parts
            .iter()
            .map(|p| if p.remote { 0 } else { p.len() })
            .collect();
        let team = team::Team::new(
            self.threads,
            self.net,
            (self.engine == Engine::Event, self.profile.is_some()),
            &sizes,
        );
        std::thread::scope(|scope| {
            for worker in 1..self.threads {
                let team = &team;
                scope.spawn(move || team.serve(worker));
            }
            let _guard = team.owner_guard();
            let mut preemptions = team::Preemptions::new();
            while self.steps_left() {
                self.step_with(recorder, |sim, t, bundles| {
                    let work = (&mut sim.parts, bundles, &mut sim.tables);
                    team.step(t, work, &mut preemptions)
                });
            }
            team.finish();
        });
    }

    /// The body of every step, whoever advances the parts (`advance_parts`: this thread, the
    /// pool, or the team): the sequential start (clock, external input, the arriving
    /// bundles), the parts, and the sequential end (spikes, counts, recording, routing).
    fn step_with(
        &mut self,
        recorder: &mut dyn Recorder,
        advance_parts: impl FnOnce(&mut Self, u32, &mut Vec<Bundle>),
    ) {
        let start = self.profile.is_some().then(std::time::Instant::now);
        let t = self.begin_step();
        let mut bundles = self.ring.take(t);
        self.catch_up(&bundles);
        self.count_deliveries(&bundles);
        let sequential = start.map(|s| s.elapsed());
        // (A rank whose state ran away waits for the end of the epoch without advancing.)
        if self.ranks.is_none() || self.runaway.is_none() {
            advance_parts(self, t, &mut bundles);
        }
        let start = self.profile.is_some().then(std::time::Instant::now);
        self.end_step(t, bundles, recorder);
        self.add_sequential(sequential, start);
    }

    /// Advance every part through step `t` on this thread (or the pool, inside it).
    fn advance_parts(&mut self, t: u32, bundles: &mut Vec<Bundle>) {
        let input = StepInput {
            t,
            net: self.net,
            bundles,
            tables: &self.tables,
            event: self.engine == Engine::Event,
            profile: self.profile.is_some(),
        };
        let work = |part: &mut Part| part.step(&input);
        if self.threads > 1 {
            self.parts.par_iter_mut().for_each(work);
        } else {
            self.parts.iter_mut().for_each(work);
        }
    }

    /// Simulate one step (none once a state has run away).
    ///
    /// # Errors
    /// A neuron's state left its bound (see [`Runaway`]), in this step or before.
    pub fn advance(&mut self) -> Result<(), Runaway> {
        if self.runaway.is_none() {
            match self.pool.take() {
                Some(pool) => {
                    let nothing = &mut crate::record::Nothing;
                    pool.install(|| self.step_with(nothing, Self::advance_parts));
                    self.pool = Some(pool);
                }
                None => self.step_with(&mut crate::record::Nothing, Self::advance_parts),
            }
            self.settle_weights();
        }
        self.runaway.clone().map_or(Ok(()), Err)
    }

    /// After step `t`: the first neuron, in population and index order, that a part found
    /// beyond its bound, if any.
    fn find_runaway(&mut self, t: u32) {
        // (The first stays: a rank of a distributed run goes on to the end of its epoch.)
        if self.runaway.is_some() {
            return;
        }
        let Some(part) = self.parts.iter().find(|p| p.runaway.is_some()) else {
            return;
        };
        let i = part.runaway.expect("found") as usize;
        let population = &self.net.populations[part.pop];
        let n = part.lo + i as u32;
        let (values, bound) = match &population.kind {
            PopulationKind::Neurons { dynamics, .. } => {
                let anchor = &part.slots[i].anchor;
                let e = dynamics.evaluate(anchor, t);
                ([e.v, e.i_exc, e.i_inh, anchor.bias], dynamics.state_bound())
            }
            PopulationKind::Clocked { model, .. } => {
                let mut values = [0.0; crate::model::MAX_VARIABLES];
                if let Some(states) = &part.clocked {
                    states.values(i, &mut values);
                }
                (values, model.state_bound())
            }
            _ => unreachable!("parts hold neurons"),
        };
        let mut names: Vec<&'static str> = population.variables().to_vec();
        if population.has_bias() {
            names.push("bias");
        }
        let state = names.into_iter().zip(values).collect();
        self.runaway = Some(Runaway::new(
            &population.name,
            n,
            (t, self.net.dt_ms),
            state,
            bound,
        ));
    }

    /// Profiling: add the sequential start of a step (`before`) and the time since `end`
    /// started.
    fn add_sequential(
        &mut self,
        before: Option<std::time::Duration>,
        end: Option<std::time::Instant>,
    ) {
        if let (Some(profile), Some(before), Some(end)) = (&mut self.profile, before, end) {
            profile.sequential_s += (before + end.elapsed()).as_secs_f64();
        }
    }

    /// The sequential start of a step: advance the clock and generate external input.
    fn begin_step(&mut self) -> u32 {
        self.step += 1;
        let t = self.step;
        self.external_input(t);
        t
    }

    fn count_deliveries(&mut self, bundles: &[Bundle]) {
        for b in bundles {
            self.counts.synaptic_events[b.projection as usize] += u64::from(b.hi - b.lo);
        }
    }

    /// The sequential end of a step, after the parts were advanced: collect their spikes and
    /// counts, switch currents, record, and emit the spikes.
    fn end_step(&mut self, t: u32, mut bundles: Vec<Bundle>, recorder: &mut dyn Recorder) {
        for part in &mut self.parts {
            self.spikes_now[part.pop].append(&mut part.spikes);
            self.counts.neuron_updates[part.pop] += part.updates + part.checks;
            self.counts.threshold_checks[part.pop] += part.checks;
            self.counts.active_neuron_steps[part.pop] += std::mem::take(&mut part.active);
            part.updates = 0;
            part.checks = 0;
            if let Some(profile) = &mut self.profile {
                let [drives, delivery, updates, checks] =
                    std::mem::take(&mut part.phase_ns).map(|ns| ns as f64 * 1e-9);
                profile.drives_s += drives;
                profile.delivery_s += delivery;
                profile.updates_s += updates;
                profile.checks_s += checks;
            }
            for &(k, e) in &part.external {
                self.counts.external_events[k] += e;
                if let Some(kept) = self.exchange.part_external.get_mut(k) {
                    *kept += e;
                }
            }
        }

        self.learn(t, &bundles);
        bundles.clear();
        self.ring.give_back(t, bundles);
        self.switch_currents(t);
        self.find_runaway(t);
        if self.ranks.is_some() {
            self.end_step_distributed(t, recorder);
            return;
        }
        if self.runaway.is_some() {
            return;
        }
        self.record(recorder);
        self.keep_for_epoch(t, false);
        if t.is_multiple_of(self.epoch_steps) {
            self.route();
        }
    }

    /// The plastic projections' weight changes of step `t`: the arrivals of `bundles` (in
    /// their order), then this step's spikes of the targets (ascending).
    fn learn(&mut self, t: u32, bundles: &[Bundle]) {
        let net = self.net;
        for run in &mut self.plastic {
            let j = run.projection;
            let Some(Weights::PerSynapseF64(weights)) = &mut self.tables.own_weights[j] else {
                unreachable!("a plastic projection's run has its own weights")
            };
            let before = run.updates;
            let targets = &net.projections[j].csr.targets;
            for b in bundles.iter().filter(|b| b.projection as usize == j) {
                run.arrive(t, b, targets, weights);
            }
            for &n in &self.spikes_now[run.target] {
                run.fire(t, n);
            }
            let snapshot = net
                .record
                .weights
                .iter()
                .any(|r| r.projection == j && t.is_multiple_of(r.every_steps));
            if snapshot || t.is_multiple_of(plastic::SETTLE_STEPS) || t == net.steps {
                run.settle(t, &net.projections[j], weights);
            }
            self.counts.synaptic_updates[j] += run.updates - before;
        }
    }

    /// Before delivery: the synapses of the plastic projections that `bundles` reach apply
    /// their pending potentiation (see module `plastic`).
    fn catch_up(&mut self, bundles: &[Bundle]) {
        let net = self.net;
        for run in &self.plastic {
            let j = run.projection;
            let Some(Weights::PerSynapseF64(weights)) = &mut self.tables.own_weights[j] else {
                unreachable!("a plastic projection's run has its own weights")
            };
            let targets = &net.projections[j].csr.targets;
            for b in bundles.iter().filter(|b| b.projection as usize == j) {
                run.catch_up(b, targets, weights);
            }
        }
    }

    /// Apply every pending potentiation of the plastic projections (see module `plastic`),
    /// so that their weights are current.
    fn settle_weights(&mut self) {
        for run in &mut self.plastic {
            let j = run.projection;
            if let Some(Weights::PerSynapseF64(weights)) = &mut self.tables.own_weights[j] {
                run.settle(self.step, &self.net.projections[j], weights);
            }
        }
    }

    /// The end of step `t` of a distributed run: the state's recorders now (unless a state
    /// ran away here), this rank's spikes kept for the epoch; at the end of the epoch (or of
    /// the run), the exchange.
    fn end_step_distributed(&mut self, t: u32, recorder: &mut dyn Recorder) {
        if self.runaway.is_none() {
            let mut recorded = std::mem::take(&mut self.recorded);
            recorded.step(self);
            recorder.step(self);
            self.recorded = recorded;
        }
        // Every population's: the spikes are recorded after the exchange too.
        self.keep_for_epoch(t, true);
        if t.is_multiple_of(self.epoch_steps) || t == self.net.steps {
            self.exchange_epoch(t, recorder);
        }
    }

    /// The exchange at the end of an epoch (step `t`): every rank sends the groups of spikes
    /// of its parts, `(step, population, count)` each, then their neurons, and its first
    /// runaway. Every rank then has the epoch's spikes of every population in index order,
    /// records them step by step (as of their step) and routes them; and every rank stops
    /// if a state ran away on one (the first, in step, population and index order, is
    /// reported by the rank that holds it).
    fn exchange_epoch(&mut self, t: u32, recorder: &mut dyn Recorder) {
        let step = self.step_of_runaway();
        let Some(ranks) = self.ranks.as_mut() else {
            return;
        };
        let first_runaway =
            (self.parts.iter()).find_map(|p| p.runaway.map(|i| (step, p.pop as u32, p.lo + i)));
        let x = &mut self.exchange;
        let pop_parts = &self.pop_parts;
        let neurons = |pi: u32| !pop_parts[pi as usize].is_empty();
        x.local.clear();
        let (step, pop, index) = first_runaway.unwrap_or((u32::MAX, 0, 0));
        x.local
            .extend([u32::from(first_runaway.is_some()), step, pop, index]);
        let groups: Vec<_> = (self.epoch_spikes.iter())
            .filter(|g| neurons(g.1))
            .copied()
            .collect();
        x.local.push(groups.len() as u32);
        for &(s, pi, start, end) in &groups {
            x.local.extend([s, pi, end - start]);
        }
        for &(_, _, start, end) in &groups {
            x.local
                .extend_from_slice(&self.epoch_neurons[start as usize..end as usize]);
        }
        let started = std::time::Instant::now();
        ranks.all_gather(&x.local, &mut x.all, &mut x.lengths);
        x.stats.exchange_s += started.elapsed().as_secs_f64();
        x.stats.exchanges += 1;
        x.stats.bytes_received += 4 * x.all.len() as u64;
        // Every rank's groups, then the spike sources' own (the same on every rank).
        x.groups.clear();
        let mut first: Option<(u32, u32, u32, usize)> = None;
        let mut at = 0;
        for (r, &length) in x.lengths.iter().enumerate() {
            let words = &x.all[at..at + length];
            if words[0] != 0 {
                let theirs = (words[1], words[2], words[3], r);
                first = Some(first.map_or(theirs, |f| f.min(theirs)));
            }
            let n = words[4] as usize;
            let mut data = at + 5 + 3 * n;
            for g in words[5..5 + 3 * n].chunks_exact(3) {
                x.groups.push((g[0], g[1], r, data, data + g[2] as usize));
                data += g[2] as usize;
            }
            at += length;
        }
        for &(s, pi, start, end) in &self.epoch_spikes {
            if !neurons(pi) {
                x.groups
                    .push((s, pi, usize::MAX, start as usize, end as usize));
            }
        }
        // In step and population order; within one, rank order (a stable sort) is index
        // order, the parts being dealt out in contiguous runs.
        x.groups.sort_by_key(|g| (g.0, g.1));
        if let Some((_, _, _, r)) = first {
            x.halted = true;
            if r != ranks.rank() {
                x.stopped_elsewhere = true;
                self.runaway = None;
            }
        }
        self.replay_epoch(t, recorder);
        self.epoch_spikes.clear();
        self.epoch_neurons.clear();
    }

    /// The step at which this rank's first runaway was found (the current one: a rank stops
    /// advancing its parts once a state ran away, see [`Self::step_with`]).
    fn step_of_runaway(&self) -> u32 {
        self.runaway.as_ref().map_or(self.step, |r| r.step)
    }

    /// The epoch's spikes, merged by [`Self::exchange_epoch`], given to the recorders (as of
    /// their step) and routed, step by step and population by population; then the clock
    /// is back at step `t`.
    fn replay_epoch(&mut self, t: u32, recorder: &mut dyn Recorder) {
        let groups = std::mem::take(&mut self.exchange.groups);
        let all = std::mem::take(&mut self.exchange.all);
        let own = std::mem::take(&mut self.epoch_neurons);
        let mut k = 0;
        while k < groups.len() {
            let (s, pi) = (groups[k].0, groups[k].1);
            let mut spikes = std::mem::take(&mut self.spikes_now[pi as usize]);
            while k < groups.len() && (groups[k].0, groups[k].1) == (s, pi) {
                let (_, _, r, start, end) = groups[k];
                let from = if r == usize::MAX { &own } else { &all };
                spikes.extend_from_slice(&from[start..end]);
                k += 1;
            }
            self.step = s;
            if !self.exchange.halted {
                self.counts.spikes[pi as usize] += spikes.len() as u64;
                let mut recorded = std::mem::take(&mut self.recorded);
                recorded.spikes(self, pi as usize, &spikes);
                recorder.spikes(self, pi as usize, &spikes);
                self.recorded = recorded;
                self.route_spikes(s, pi as usize, &spikes);
            }
            spikes.clear();
            self.spikes_now[pi as usize] = spikes;
        }
        self.step = t;
        (self.exchange.groups, self.exchange.all, self.epoch_neurons) = (groups, all, own);
    }

    /// The end of a distributed run: the counters kept by the parts summed over the ranks,
    /// and each traced neuron's samples taken from the rank that owns it.
    fn gather_ranks(&mut self) {
        let Some(mut ranks) = self.ranks.take() else {
            return;
        };
        let c = &mut self.counts;
        for counts in [
            &mut c.neuron_updates,
            &mut c.threshold_checks,
            &mut c.active_neuron_steps,
        ] {
            ranks.sum(counts);
        }
        // With only local synapses, each rank delivered (and folded currents over) its own.
        let mut synapses: Vec<u64> = (self.net.projections.iter())
            .map(|p| p.csr.len() as u64)
            .collect();
        // Per-target scales are whole on every rank: counted once, beside the listed bytes.
        let scale_bytes = |p: &crate::network::compiled::Projection| match &p.weights {
            Weights::PerSynapseI8(w) => w.scales.len() as u64 * 4,
            _ => 0,
        };
        let mut weight_bytes: Vec<u64> = (self.net.projections.iter())
            .map(|p| p.weight_bytes() - scale_bytes(p))
            .collect();
        if self.net.local_targets.is_some() {
            // Projections whose synapses are listed were cut down to each rank's; dense rows
            // and kernels stay whole on every rank, and count once (rank 0's).
            let whole: Vec<bool> = (self.net.projections.iter())
                .map(|p| {
                    matches!(
                        p.weights,
                        Weights::DenseRows(_) | Weights::DenseRowsI8(_) | Weights::Kernel(_)
                    )
                })
                .collect();
            let rank = ranks.rank();
            for values in [
                &mut c.synaptic_events,
                &mut c.current_macs,
                &mut synapses,
                &mut weight_bytes,
            ] {
                let mut shares: Vec<u64> = (values.iter().zip(&whole))
                    .map(|(&v, &w)| if w && rank != 0 { 0 } else { v })
                    .collect();
                ranks.sum(&mut shares);
                *values = shares;
            }
        }
        self.exchange.stats.synapses = synapses.iter().sum();
        self.exchange.stats.projection_synapses = synapses;
        self.exchange.stats.projection_weight_bytes = (weight_bytes.iter())
            .zip(&self.net.projections)
            .map(|(b, p)| b + scale_bytes(p))
            .collect();
        let mine = self.exchange.part_external.clone();
        let mut all = mine.clone();
        ranks.sum(&mut all);
        for ((count, mine), all) in c.external_events.iter_mut().zip(mine).zip(all) {
            *count = *count - mine + all;
        }
        let width = crate::model::MAX_VARIABLES;
        let owners: Vec<usize> = (self.recorded.traces.iter())
            .map(|s| {
                let (k, _) = self.locate(s.population as usize, s.index);
                let range = &self.pop_parts[s.population as usize];
                crate::distributed::owner(k - range.start, range.len(), ranks.size())
            })
            .collect();
        let local: Vec<f64> = (self.recorded.traces.iter())
            .flat_map(|s| s.values)
            .collect();
        let all = ranks.all_gather_f64(&local);
        for (i, (sample, &r)) in self.recorded.traces.iter_mut().zip(&owners).enumerate() {
            let at = r * local.len() + i * width;
            sample.values.copy_from_slice(&all[at..at + width]);
        }
        self.ranks = Some(ranks);
    }

    /// Keep this step's spikes for the end of the epoch: of populations with synapses (for
    /// routing), or of `every` population.
    fn keep_for_epoch(&mut self, t: u32, every: bool) {
        for (pi, spikes) in self.spikes_now.iter_mut().enumerate() {
            if !spikes.is_empty() && (every || !self.outgoing[pi].is_empty()) {
                let start = self.epoch_neurons.len() as u32;
                self.epoch_neurons.extend_from_slice(spikes);
                let end = self.epoch_neurons.len() as u32;
                self.epoch_spikes.push((t, pi as u32, start, end));
            }
            spikes.clear();
        }
    }

    /// Route the epoch's spikes into the ring, in the order they were emitted (step, then
    /// population, then projection, then neuron): each step's bundles arrive in the order
    /// per-step routing gives them.
    fn route(&mut self) {
        let groups = std::mem::take(&mut self.epoch_spikes);
        let neurons = std::mem::take(&mut self.epoch_neurons);
        for &(t, pi, start, end) in &groups {
            self.route_spikes(t, pi as usize, &neurons[start as usize..end as usize]);
        }
        (self.epoch_spikes, self.epoch_neurons) = (groups, neurons);
        self.epoch_spikes.clear();
        self.epoch_neurons.clear();
    }

    /// Tell the built-in recorders and `recorder` of this step's spikes and its end.
    fn record(&mut self, recorder: &mut dyn Recorder) {
        for (count, spikes) in self.counts.spikes.iter_mut().zip(&self.spikes_now) {
            *count += spikes.len() as u64;
        }
        let mut recorded = std::mem::take(&mut self.recorded);
        for (pi, spikes) in self.spikes_now.iter().enumerate() {
            if !spikes.is_empty() {
                recorded.spikes(self, pi, spikes);
                recorder.spikes(self, pi, spikes);
            }
        }
        recorded.step(self);
        recorder.step(self);
        self.recorded = recorded;
    }

    /// Source populations spike; drives into index subsets add their input.
    fn external_input(&mut self, t: u32) {
        let net = self.net;
        let mut subset = std::mem::take(&mut self.subset_drives);
        for (k, field) in &mut subset {
            let d = &net.drives[*k];
            let target = &net.populations[d.target];
            let r = usize::from(d.receptor == Receptor::Inh && target.has_two_receptors());
            let dynamics = match &target.kind {
                PopulationKind::Neurons { dynamics, .. } => Some(dynamics),
                _ => None,
            };
            let mut events = 0u64;
            field.step(t, |n, c| {
                events += u64::from(c);
                let (p, l) = self.locate(d.target, n);
                self.parts[p].add_input(dynamics, t, l, r, d.weight_mv * f64::from(c));
            });
            self.counts.external_events[*k] += events;
        }
        self.subset_drives = subset;
        self.noise_input(t);
        for (pi, source) in self.sources.iter_mut().enumerate() {
            let out = &mut self.spikes_now[pi];
            match source {
                Source::Poisson(field) => field.step(t, |n, _| out.push(n)),
                Source::Replay { next, own } => {
                    let spikes = match (&*own, &net.populations[pi].kind) {
                        (Some(own), _) => own.as_slice(),
                        (None, PopulationKind::SpikeSource { spikes }) => spikes.as_slice(),
                        (None, _) => &[],
                    };
                    while *next < spikes.len() && spikes[*next].0 == t {
                        out.push(spikes[*next].1);
                        *next += 1;
                    }
                }
                Source::Analog(input) => input.step(out),
                Source::Neurons => {}
            }
        }
    }

    /// Every noise input's draws of step `t`, added as inputs (positive ones to the
    /// excitatory receptor, negative ones to the inhibitory one of targets with two).
    fn noise_input(&mut self, t: u32) {
        let net = self.net;
        let mut streams = std::mem::take(&mut self.noise_streams);
        for (noise, stream) in net.noises.iter().zip(&mut streams) {
            let target = &net.populations[noise.target];
            let two = target.has_two_receptors();
            let dynamics = match &target.kind {
                PopulationKind::Neurons { dynamics, .. } => Some(dynamics),
                _ => None,
            };
            for &n in &noise.neurons {
                let x = stream.normal(noise.mean_mv, noise.std_mv);
                let (p, l) = self.locate(noise.target, n);
                let r = usize::from(two && x < 0.0);
                self.parts[p].add_input(dynamics, t, l, r, x);
            }
        }
        self.noise_streams = streams;
    }

    fn switch_currents(&mut self, t: u32) {
        let net = self.net;
        let mut changed = Vec::new();
        while self.next_current < net.currents.len() && net.currents[self.next_current].step == t {
            let c = &net.currents[self.next_current];
            self.next_current += 1;
            let PopulationKind::Neurons { dynamics, .. } = &net.populations[c.population].kind
            else {
                unreachable!("currents target neurons")
            };
            for &n in &c.neurons {
                let (k, l) = self.locate(c.population, n);
                let part = &mut self.parts[k];
                let a = &mut part.slots[l].anchor;
                let bias = a.bias + c.delta;
                dynamics.set_bias(a, t, bias);
                if self.engine == Engine::Event {
                    part.schedule(dynamics, l, t);
                }
                changed.push(k);
            }
        }
        changed.sort_unstable();
        changed.dedup();
        for k in changed {
            let part = &mut self.parts[k];
            part.list_biased();
            part.find_runaway(&net.populations[part.pop].kind, t);
        }
    }

    /// Queue the bundles of `spikes` of population `pi`, emitted at step `t`.
    fn route_spikes(&mut self, t: u32, pi: usize, spikes: &[u32]) {
        let net = self.net;
        for &j in &self.outgoing[pi] {
            let pr = &net.projections[j];
            for &n in spikes {
                let row = pr.csr.row(n);
                if row.is_empty() {
                    continue;
                }
                match &pr.delays {
                    Delays::Constant(d) => self.ring.push(
                        t + d,
                        Bundle {
                            projection: j as u32,
                            lo: row.start as u32,
                            hi: row.end as u32,
                            source: n,
                            whole_row: true,
                        },
                    ),
                    Delays::Runs { run_ptr, runs } => {
                        let mut lo = row.start as u32;
                        let own = run_ptr[n as usize] as usize..run_ptr[n as usize + 1] as usize;
                        for &(d, end) in &runs[own] {
                            self.ring.push(
                                t + d,
                                Bundle {
                                    projection: j as u32,
                                    lo,
                                    hi: end,
                                    source: n,
                                    whole_row: false,
                                },
                            );
                            lo = end;
                        }
                    }
                }
            }
        }
    }
}

/// Whether a neuron of this population could reach threshold with no input at all. A reset
/// by subtraction leaves a neuron at or above threshold after an input of twice the threshold
/// Whether population `pop` (of a delta model) receives input over dense rows and kernels
/// only, and some: no listed synapses, no Poisson drive and no noise input (see
/// [`Part::dense_sums`]; such inputs would sum alike, but their parts keep the records).
fn fed_by_rows_only(net: &CompiledNetwork, pop: usize) -> bool {
    let mut incoming = net
        .projections
        .iter()
        .filter(|pr| pr.target == pop)
        .peekable();
    incoming.peek().is_some()
        && incoming.all(|pr| {
            matches!(
                pr.weights,
                Weights::DenseRows(_) | Weights::DenseRowsI8(_) | Weights::Kernel(_)
            )
        })
        && !net.drives.iter().any(|d| d.target == pop)
        && !net.noises.iter().any(|n| n.target == pop)
}

/// Add the constant currents of analog `values` through projection `pr` to its targets'
/// `bias` (`bias_j += value_i * w_ij`, in value order, zero values skipped); returns the
/// multiply-accumulates done.
pub(crate) fn add_analog_currents(pr: &Projection, values: &[f64], bias: &mut [f64]) -> u64 {
    let mut macs = 0u64;
    let mut scratch = crate::network::kernel::KernelScratch::default();
    for (i, &x) in values.iter().enumerate() {
        if x == 0.0 {
            continue;
        }
        let row = pr.csr.row(i as u32);
        macs += row.len() as u64;
        match &pr.weights {
            // A dense row's targets are 0.. in order: one plain loop the compiler vectorizes.
            Weights::DenseRows(w) => {
                rows::add_scaled_row(bias, &w[row], x);
            }
            _ => pr.for_each_synapse(i as u32, &mut scratch, |t, w| bias[t as usize] += x * w),
        }
    }
    macs
}

/// or more, so it can spike again without input.
pub(crate) fn can_self_cross<'s>(
    dynamics: &Dynamics,
    mut anchors: impl Iterator<Item = &'s Anchor>,
) -> bool {
    let p = &dynamics.params;
    p.spiking
        && (p.reset == crate::network::spec::ResetSpec::Subtract
            || match p.model {
                Model::LifExp => true,
                Model::LifDelta => {
                    anchors.any(|a| p.v_rest_mv + a.bias >= p.v_th_mv || a.v >= p.v_th_mv)
                }
                Model::If => anchors.any(|a| a.bias > 0.0 || a.v >= p.v_th_mv),
            })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brunel's network (delays of 15 steps), 100 ms.
    fn brunel() -> CompiledNetwork {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("networks/brunel.toml");
        let options = crate::network::CompileOptions {
            duration_ms: Some(100.0),
            ..Default::default()
        };
        crate::network::compile_file(&path, &options).expect("brunel compiles")
    }

    #[test]
    fn routing_once_per_epoch_gives_the_spikes_of_routing_every_step() {
        let net = brunel();
        assert_eq!(net.min_delay(), 15);
        let spikes = |epoch_steps: u32, threads: usize| {
            let mut sim = Simulation::with_threads(&net, Engine::Event, threads);
            sim.epoch_steps = epoch_steps;
            sim.run(|_| {}).expect("bounded");
            (sim.recorded.spikes, sim.counts.synaptic_events)
        };
        let every_step = spikes(1, 1);
        assert!(every_step.0.len() > 1000);
        assert_eq!(spikes(15, 1), every_step);
        assert_eq!(spikes(15, 2), every_step);
        assert_eq!(spikes(7, 1), every_step);
    }
}
