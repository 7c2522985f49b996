//! Counts per step (`synops run --counts-per-step`): spikes per population, synaptic events
//! per projection and neuron updates, in every step.

use super::Recorder;
use crate::sim::{Counts, Simulation};

/// The per-step differences of a run's counts.
#[derive(Debug, Clone, Default)]
pub struct CountsPerStep {
    previous: Option<Vec<u64>>,
    /// One row per step: spikes per population, synaptic events per projection, neuron
    /// updates (all populations).
    pub rows: Vec<Vec<u64>>,
}

/// The counts a row holds, as running totals.
fn totals(c: &Counts) -> Vec<u64> {
    let mut v = c.spikes.clone();
    v.extend(&c.synaptic_events);
    v.push(c.neuron_updates.iter().sum());
    v
}

impl CountsPerStep {
    /// Per-step counts from the simulation's present counts on.
    pub fn starting_at(sim: &Simulation<'_>) -> Self {
        CountsPerStep {
            previous: Some(totals(&sim.counts)),
            rows: Vec::new(),
        }
    }
}

impl Recorder for CountsPerStep {
    fn step(&mut self, sim: &Simulation<'_>) {
        let now = totals(&sim.counts);
        let previous = self.previous.get_or_insert_with(|| vec![0; now.len()]);
        self.rows.push(
            now.iter()
                .zip(previous.iter())
                .map(|(a, b)| a - b)
                .collect(),
        );
        *previous = now;
    }
}
