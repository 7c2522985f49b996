//! What a run holds per projection beside the shared, immutable network: the receptor slot
//! its inputs go to, where each part's targets start in each row, and the run's own weights.
//!
//! The network's synapse tables (targets, delays) are shared by every run of it, threads and
//! the parallel samples of `synops eval` alike. Its weights are the initial weights: a run
//! reads them until it writes a projection's weights (plasticity, or a user through
//! [`super::Simulation::weights_mut`]), which then become the run's own copy.

use crate::network::compiled::{CompiledNetwork, Weights};

/// The per-projection tables of a run (see the module documentation).
#[derive(Debug, Default)]
pub(super) struct RunTables {
    /// Per projection: feeds the inhibitory receptor of a target with two.
    pub into_inh: Vec<bool>,
    /// Per projection into a population split in several parts: for each source row, the
    /// offsets in the row where each part's targets start (`parts + 1` per row).
    pub row_splits: Vec<Vec<u32>>,
    /// Per projection: the run's own weights, once written (`None`: the network's).
    pub own_weights: Vec<Option<Weights>>,
}

impl RunTables {
    /// The weights of projection `j` in this run.
    #[inline]
    pub fn weights<'s>(&'s self, net: &'s CompiledNetwork, j: usize) -> &'s Weights {
        match &self.own_weights[j] {
            Some(own) => own,
            None => &net.projections[j].weights,
        }
    }

    /// The double-precision weights of projection `j` (plastic projections, and weights loaded
    /// from a weights file), made the run's own first; `None` for other projections.
    pub fn weights_f64_mut(&mut self, net: &CompiledNetwork, j: usize) -> Option<&mut [f64]> {
        if let (None, Weights::PerSynapseF64(ws)) =
            (&self.own_weights[j], &net.projections[j].weights)
        {
            self.own_weights[j] = Some(Weights::PerSynapseF64(ws.clone()));
        }
        match &mut self.own_weights[j] {
            Some(Weights::PerSynapseF64(ws)) => Some(ws),
            _ => None,
        }
    }

    /// The weights of projection `j`, one per synapse (dense projections: the
    /// `[sources x targets]` rows; kernels: the shared kernel), made the run's own first: a
    /// copy of the network's, a constant weight written out per synapse.
    pub fn weights_mut(&mut self, net: &CompiledNetwork, j: usize) -> &mut [f32] {
        let pr = &net.projections[j];
        let own = self.own_weights[j].get_or_insert_with(|| match &pr.weights {
            Weights::Constant(w) => Weights::PerSynapse(vec![*w as f32; pr.csr.targets.len()]),
            Weights::DenseRowsI8(w) => {
                let row = w.scales.len().max(1);
                let scaled =
                    |(k, &q): (usize, &i8)| (f64::from(q) * f64::from(w.scales[k % row])) as f32;
                Weights::DenseRows(w.rows.iter().enumerate().map(scaled).collect())
            }
            Weights::PerSynapseI8(w) => {
                let targets = &pr.csr.targets;
                let weights = w.weights(0..targets.len(), targets);
                Weights::PerSynapse(weights.map(|w| w as f32).collect())
            }
            weights => weights.clone(),
        });
        match own {
            Weights::PerSynapse(w) | Weights::DenseRows(w) => w,
            Weights::Kernel(k) => &mut k.weights,
            Weights::PerSynapseF64(_) => panic!(
                "projection {j} keeps double-precision weights (plastic, or loaded from a \
                 weights file): write them through Simulation::weights_f64_mut"
            ),
            Weights::Constant(_) | Weights::DenseRowsI8(_) | Weights::PerSynapseI8(_) => {
                unreachable!("written out as f32 above")
            }
        }
    }
}
