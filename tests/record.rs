//! The recorder seam: a recorder of one's own sees the same spikes and steps as the built-in
//! ones, on any number of threads.

mod common;

use synops::record::{CountsPerStep, Recorder};
use synops::{Engine, Simulation};

/// Counts spikes per population through the hooks, and the steps and ends it is told of.
#[derive(Default)]
struct Tally {
    spikes: Vec<u64>,
    steps: u32,
    finished: u32,
}

impl Recorder for Tally {
    fn spikes(&mut self, sim: &Simulation<'_>, population: usize, neurons: &[u32]) {
        self.spikes.resize(sim.network().populations.len(), 0);
        self.spikes[population] += neurons.len() as u64;
        assert!(neurons.windows(2).all(|w| w[0] < w[1]), "ascending indices");
    }
    fn step(&mut self, sim: &Simulation<'_>) {
        self.steps += 1;
        assert_eq!(sim.current_step(), self.steps);
    }
    fn finish(&mut self, _sim: &Simulation<'_>) {
        self.finished += 1;
    }
}

#[test]
fn a_recorder_of_ones_own_sees_every_spike_and_step_on_any_thread_count() {
    let text = std::fs::read_to_string(common::networks().join("cuba.toml")).unwrap();
    let network = common::net(&text.replace("duration_ms = 1000.0", "duration_ms = 200.0"));
    for threads in [1, 2] {
        let mut sim = Simulation::with_threads(&network, Engine::Event, threads);
        let mut tally = Tally::default();
        sim.run_with(&mut tally).unwrap();
        assert_eq!(tally.spikes, sim.counts.spikes, "{threads} threads");
        assert_eq!((tally.steps, tally.finished), (2000, 1));
        // Every neuron of cuba is recorded: the built-in recorder saw the same spikes.
        assert_eq!(
            sim.recorded.spikes.len() as u64,
            tally.spikes.iter().sum::<u64>()
        );
    }
}

#[test]
fn counts_per_step_add_up_to_the_run_totals() {
    let text = std::fs::read_to_string(common::networks().join("cuba.toml")).unwrap();
    let network = common::net(&text.replace("duration_ms = 1000.0", "duration_ms = 100.0"));
    let mut sim = Simulation::new(&network, Engine::Event);
    let mut counts = CountsPerStep::starting_at(&sim);
    sim.run_with(&mut counts).unwrap();
    assert_eq!(counts.rows.len(), 1000);
    let column = |k: usize| counts.rows.iter().map(|r| r[k]).sum::<u64>();
    assert_eq!(column(0), sim.counts.spikes[0]);
    assert_eq!(column(2), sim.counts.synaptic_events[0]);
    let updates: u64 = sim.counts.neuron_updates.iter().sum();
    assert_eq!(column(2 + network.projections.len()), updates);
}

#[test]
fn a_run_owns_the_weights_it_writes_and_shares_the_rest() {
    let text = std::fs::read_to_string(common::networks().join("cuba.toml")).unwrap();
    let network = common::net(&text.replace("duration_ms = 1000.0", "duration_ms = 200.0"));
    let (reference, _) = common::run(&network, Engine::Event);
    // Silence the excitatory projections of one run: it fires less.
    let mut silenced = Simulation::new(&network, Engine::Event);
    for (j, pr) in network.projections.iter().enumerate() {
        if pr.source == 0 {
            silenced.weights_mut(j).iter_mut().for_each(|w| *w = 0.0);
        }
    }
    silenced.run(|_| {}).unwrap();
    let (fewer, all) = (silenced.recorded.spikes.len(), reference.len());
    assert!(fewer < all * 3 / 4, "{fewer} spikes silenced, {all} not");
    // The network and a run made afterwards still have the original weights.
    assert!(matches!(
        network.projections[0].weights,
        synops::network::compiled::Weights::Constant(w) if w == 1.62
    ));
    let (again, _) = common::run(&network, Engine::Event);
    assert_eq!(again, reference);
    // Writing a weight back to its value changes nothing but its precision (f32): the same
    // weight of a constant projection rounded to f32.
    let mut same = Simulation::new(&network, Engine::Clock);
    for j in 0..network.projections.len() {
        let _ = same.weights_mut(j);
    }
    same.run(|_| {}).unwrap();
    assert!(!same.recorded.spikes.is_empty());
}
