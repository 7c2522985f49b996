//! The weight recorder: snapshots of plastic projections' weights every `every_steps` steps
//! (`[[record.weights]]`), and the final weights of every plastic projection.

use crate::network::compiled::Weights;
use crate::sim::Simulation;

/// One snapshot of one `[[record.weights]]` request.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightSnapshot {
    /// Step.
    pub step: u32,
    /// Index of the request in the network's `record.weights`.
    pub request: usize,
    /// The weights of the request's synapses, in its order.
    pub weights: Vec<f64>,
}

/// Add the snapshots due at the simulation's current step to `out`.
pub(super) fn record(sim: &Simulation<'_>, out: &mut Vec<WeightSnapshot>) {
    let t = sim.current_step();
    for (request, req) in sim.network().record.weights.iter().enumerate() {
        if !t.is_multiple_of(req.every_steps) {
            continue;
        }
        if let Weights::PerSynapseF64(ws) = sim.weights(req.projection) {
            let weights = req.synapses.iter().map(|&k| ws[k as usize]).collect();
            out.push(WeightSnapshot {
                step: t,
                request,
                weights,
            });
        }
    }
}

/// The weights of every plastic projection, `(projection, weights)`.
pub(super) fn plastic(sim: &Simulation<'_>) -> Vec<(usize, Vec<f64>)> {
    let projections = sim.network().projections.iter().enumerate();
    projections
        .filter(|(_, pr)| pr.plasticity.is_some())
        .filter_map(|(j, _)| match sim.weights(j) {
            Weights::PerSynapseF64(ws) => Some((j, ws.clone())),
            _ => None,
        })
        .collect()
}
