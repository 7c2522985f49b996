//! Recorders: what a run keeps of itself. A [`Recorder`] is told of every step's spikes and
//! of the end of every step, and of the end of the run (as ripgrep's `Sink` is told of
//! matches): the spikes, traces and rates a network file asks for ([`Recorded`]), and the
//! per-step counts of `synops run --counts-per-step` ([`CountsPerStep`]), are implementations;
//! a user's own recorder runs beside them through [`crate::Simulation::run_with`].

mod counts;
mod rates;
mod spikes;
mod traces;
mod weights;

pub use counts::CountsPerStep;
pub use weights::WeightSnapshot;

use crate::network::CompiledNetwork;
use crate::sim::{Simulation, TraceSample};

/// Told what a run does, step by step. Every hook has an empty default; each reads the
/// simulation at the step just done ([`Simulation::current_step`], its state through
/// [`Simulation::state_variables`], its [`Simulation::counts`]).
pub trait Recorder {
    /// The spikes of population `population` in the current step, ascending indices. Called
    /// once per population with spikes, in population order, before [`Self::step`].
    fn spikes(&mut self, _sim: &Simulation<'_>, _population: usize, _neurons: &[u32]) {}
    /// The end of a step (for the built-in recorders also the initial state, step 0).
    fn step(&mut self, _sim: &Simulation<'_>) {}
    /// The end of the run (all steps done, or a runaway state stopped it).
    fn finish(&mut self, _sim: &Simulation<'_>) {}
}

/// A recorder that does nothing.
pub struct Nothing;

impl Recorder for Nothing {}

/// A recorder that calls a function at the end of every step.
pub struct EveryStep<F: FnMut(&Simulation<'_>)>(pub F);

impl<F: FnMut(&Simulation<'_>)> Recorder for EveryStep<F> {
    fn step(&mut self, sim: &Simulation<'_>) {
        (self.0)(sim);
    }
}

/// What a network file asks to record, as it is recorded: spikes (`[[record.spikes]]`),
/// state traces (`[[record.traces]]`), population rates (`[[record.rates]]`), weight
/// snapshots (`[[record.weights]]`), and the final weights of plastic projections.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// Recorded spikes `(step, population, index)`, in step order, then population, then index.
    pub spikes: Vec<(u32, u32, u32)>,
    /// State samples.
    pub traces: Vec<TraceSample>,
    /// Per rate recorder: spike counts per bin.
    pub rate_bins: Vec<Vec<u64>>,
    /// Weight snapshots (`[[record.weights]]`), in step order, then request order.
    pub weights: Vec<WeightSnapshot>,
    /// At the end of the run: the weights of every plastic projection, `(projection, weights)`.
    pub final_weights: Vec<(usize, Vec<f64>)>,
}

impl Recorded {
    /// The recorders of `net`'s `[record]` tables, empty.
    pub fn new(net: &CompiledNetwork) -> Self {
        Recorded {
            rate_bins: rates::bins(net),
            ..Default::default()
        }
    }
}

impl Recorder for Recorded {
    /// The spikes of recorded neurons, and the rate bins.
    fn spikes(&mut self, sim: &Simulation<'_>, population: usize, neurons: &[u32]) {
        let (net, step) = (sim.network(), sim.current_step());
        spikes::record(net, &mut self.spikes, (step, population, neurons));
        rates::record(net, &mut self.rate_bins, (step, population, neurons.len()));
    }

    /// The state samples and weight snapshots due at this step.
    fn step(&mut self, sim: &Simulation<'_>) {
        traces::record(sim, &mut self.traces);
        weights::record(sim, &mut self.weights);
    }

    /// The final weights of the plastic projections.
    fn finish(&mut self, sim: &Simulation<'_>) {
        self.final_weights = weights::plastic(sim);
    }
}
