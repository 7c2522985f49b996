//! The plastic projections of a run: their rule's traces, one record per neuron on each side,
//! and an index from each target to its incoming synapses.
//!
//! Every change is made in the sequential end of a step, after the parts were advanced, in a
//! fixed order (the step's arrivals in bundle order, then the targets' spikes in ascending
//! order), so weights and spikes are the same for any number of threads and for both engines.
//! Depression at an arrival reads the target's trace; potentiation at a target's spike walks
//! the target's incoming synapses through the index (8 bytes per synapse) and reads their
//! sources' traces. NEST instead defers potentiation to the next arrival, scanning the
//! target's spike history then; that saves the index but leaves the weights stale between
//! arrivals, so every snapshot (and the final weights) would first have to settle every
//! synapse. Weights here are always current.

use super::ring::Bundle;
use crate::network::compiled::{Projection, Weights};
use crate::plasticity::{Decay, Stdp};

/// Potentiation asks for the weight of the synapse this many places ahead in a target's list.
const WEIGHT_PREFETCH_AHEAD: usize = 16;

/// The traces of one neuron at step `last`: the fast one (`x` or `y`) and the triplet rule's
/// slow one (`x2` or `y2`).
#[derive(Debug, Clone, Copy, Default)]
struct Traces {
    fast: f64,
    slow: f64,
    last: u32,
}

/// The decays of one side's traces.
#[derive(Debug, Clone)]
struct Decays {
    fast: Decay,
    slow: Decay,
}

impl Decays {
    fn new(fast_ms: f64, slow_ms: Option<f64>, dt_ms: f64) -> Self {
        Decays {
            fast: Decay::new(fast_ms, dt_ms),
            slow: Decay::new(slow_ms.unwrap_or(fast_ms), dt_ms),
        }
    }
}

impl Traces {
    /// Both traces at step `t`.
    #[inline]
    fn at(&self, t: u32, decays: &Decays) -> (f64, f64) {
        let lag = t - self.last;
        (
            self.fast * decays.fast.over(lag),
            self.slow * decays.slow.over(lag),
        )
    }

    /// The spike of the neuron at step `t`, given its traces `(fast, slow)` at `t`.
    #[inline]
    fn jump(&mut self, t: u32, (fast, slow): (f64, f64), rule: &Stdp) {
        *self = Traces {
            fast: rule.jump(fast),
            slow: rule.jump(slow),
            last: t,
        };
    }
}

/// One plastic projection's run (see the module documentation).
#[derive(Debug, Clone)]
pub(super) struct PlasticRun {
    /// The projection's index.
    pub projection: usize,
    /// Its target population.
    pub target: usize,
    rule: Stdp,
    pre: Vec<Traces>,
    post: Vec<Traces>,
    pre_decays: Decays,
    post_decays: Decays,
    /// The incoming synapses of target `j`: `incoming[incoming_ptr[j]..incoming_ptr[j + 1]]`,
    /// as `(source, synapse)`, in the order of the synapse table.
    incoming_ptr: Vec<u32>,
    incoming: Vec<(u32, u32)>,
    /// Weight updates so far (one per synapse and spike, potentiation and depression).
    pub updates: u64,
}

impl PlasticRun {
    /// The run of projection `j` of `sources` to `targets` neurons, if it is plastic.
    pub fn new(
        j: usize,
        pr: &Projection,
        (sources, targets): (u32, u32),
        dt_ms: f64,
    ) -> Option<Self> {
        let rule = pr.plasticity?;
        let triplet = rule.triplet;
        let mut incoming_ptr = vec![0u32; targets as usize + 1];
        for &t in &pr.csr.targets {
            incoming_ptr[t as usize + 1] += 1;
        }
        for k in 0..targets as usize {
            incoming_ptr[k + 1] += incoming_ptr[k];
        }
        let mut fill = incoming_ptr.clone();
        let mut incoming = vec![(0u32, 0u32); pr.csr.len()];
        for (k, (s, &t)) in pr
            .csr
            .sources()
            .into_iter()
            .zip(&pr.csr.targets)
            .enumerate()
        {
            let at = &mut fill[t as usize];
            incoming[*at as usize] = (s, k as u32);
            *at += 1;
        }
        Some(PlasticRun {
            projection: j,
            target: pr.target,
            rule,
            pre: vec![Traces::default(); sources as usize],
            post: vec![Traces::default(); targets as usize],
            pre_decays: Decays::new(rule.tau_plus_ms, triplet.map(|t| t.tau_x_ms), dt_ms),
            post_decays: Decays::new(rule.tau_minus_ms, triplet.map(|t| t.tau_y_ms), dt_ms),
            incoming_ptr,
            incoming,
            updates: 0,
        })
    }

    /// A spike of `bundle.source` reaches its synapses at step `t`: depress each from its
    /// target's trace, then let the source's traces jump.
    pub fn arrive(&mut self, t: u32, bundle: &Bundle, targets: &[u32], weights: &mut [f64]) {
        let pre = &mut self.pre[bundle.source as usize];
        let before = pre.at(t, &self.pre_decays);
        let range = bundle.lo as usize..bundle.hi as usize;
        for (w, &j) in weights[range.clone()].iter_mut().zip(&targets[range]) {
            let (y, _) = self.post[j as usize].at(t, &self.post_decays);
            *w = self.rule.depress(*w, y, before.1);
        }
        pre.jump(t, before, &self.rule);
        self.updates += u64::from(bundle.hi - bundle.lo);
    }

    /// Target `j` spikes at step `t`: potentiate each of its incoming synapses from its
    /// source's trace, then let the target's traces jump.
    pub fn fire(&mut self, t: u32, j: u32, weights: &mut [f64]) {
        let post = &mut self.post[j as usize];
        let before = post.at(t, &self.post_decays);
        let own =
            self.incoming_ptr[j as usize] as usize..self.incoming_ptr[j as usize + 1] as usize;
        let incoming = &self.incoming[own.clone()];
        for (i, &(s, k)) in incoming.iter().enumerate() {
            // The weights lie anywhere in the table: ask for those a few synapses ahead, so
            // that their loads overlap instead of waiting one after the other.
            if let Some(&(_, ahead)) = incoming.get(i + WEIGHT_PREFETCH_AHEAD) {
                super::part::prefetch(&weights[ahead as usize]);
            }
            let (x, _) = self.pre[s as usize].at(t, &self.pre_decays);
            let w = &mut weights[k as usize];
            *w = self.rule.potentiate(*w, x, before.1);
        }
        post.jump(t, before, &self.rule);
        self.updates += own.len() as u64;
    }
}

/// The run's own weights of a plastic projection, in double precision.
pub(super) fn initial_weights(pr: &Projection) -> Weights {
    Weights::PerSynapseF64(match &pr.weights {
        Weights::Constant(w) => vec![*w; pr.csr.len()],
        Weights::PerSynapse(ws) => ws.iter().map(|&w| f64::from(w)).collect(),
        Weights::PerSynapseF64(ws) => ws.clone(),
        Weights::DenseRows(_) | Weights::Kernel(_) => unreachable!("refused when compiling"),
    })
}
