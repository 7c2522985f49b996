//! The trace recorder: the state variables of selected neurons every `every_steps` steps.

use crate::sim::{Simulation, TraceSample};

/// Add the samples due at the simulation's current step to `out`.
pub(super) fn record(sim: &Simulation<'_>, out: &mut Vec<TraceSample>) {
    let t = sim.current_step();
    for req in &sim.network().record.traces {
        if !t.is_multiple_of(req.every_steps) {
            continue;
        }
        for &n in &req.neurons {
            if let Some(values) = sim.state_variables(req.population, n) {
                out.push(TraceSample {
                    step: t,
                    population: req.population as u32,
                    index: n,
                    values,
                });
            }
        }
    }
}
