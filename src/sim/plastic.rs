//! The plastic projections of a run: their rule's traces, one record per neuron on each side,
//! and each target's spikes since the weights were last settled.
//!
//! Every change is made in the sequential end of a step, after the parts were advanced, in a
//! fixed order (the step's arrivals in bundle order, then the targets' spikes in ascending
//! order), so weights and spikes are the same for any number of threads and for both engines.
//!
//! Potentiation is deferred, as NEST does it: a target's spike is only noted (its step, and
//! its slow trace for the triplet rule); when the next spike of a source reaches its synapses,
//! each synapse first applies the potentiation of its target's spikes since the source's
//! previous arrival, from the source's trace (which nothing else changed in between), at the
//! start of the step, before the spike is delivered; the depression of this arrival follows
//! at the end of the step. A synapse's weight changes only at these events and is read
//! only at arrivals, so this gives the weights, bit for bit, of applying potentiation at each
//! target spike, and the work walks each source's row in order. Applying it at once walks a
//! target's incoming synapses instead, each in another part of the weight table: measured on
//! `networks/brunel_stdp.toml` (10 million plastic synapses, 32 Hz), that was 16 s per
//! simulated second with prefetching (42 s without), and needed an index of 8 bytes per
//! synapse. All weights are settled (every pending potentiation applied) every
//! [`SETTLE_STEPS`] steps, which bounds the notes kept, at weight snapshots and at the end
//! of a run, so weights read then are current.

use super::ring::Bundle;
use crate::network::compiled::{Projection, Weights};
use crate::plasticity::{Decay, Stdp};

/// All pending potentiation is applied at least this often (steps).
pub(super) const SETTLE_STEPS: u32 = 1000;

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

    /// The fast trace alone at step `t` (what depression reads of a target).
    #[inline]
    fn fast_at(&self, t: u32, decays: &Decays) -> f64 {
        self.fast * decays.fast.over(t - self.last)
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
    /// Per source: the first step whose target spikes its synapses have not applied yet.
    pending_from: Vec<u32>,
    /// Per target: its spikes since the last settling, `(step, slow trace just before)`.
    noted: Vec<Vec<(u32, f64)>>,
    /// Per target: its number of incoming synapses (the potentiation updates of a spike).
    in_degree: Vec<u32>,
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
        let mut in_degree = vec![0u32; targets as usize];
        for &t in &pr.csr.targets {
            in_degree[t as usize] += 1;
        }
        Some(PlasticRun {
            projection: j,
            target: pr.target,
            rule,
            pre: vec![Traces::default(); sources as usize],
            post: vec![Traces::default(); targets as usize],
            pre_decays: Decays::new(rule.tau_plus_ms, triplet.map(|t| t.tau_x_ms), dt_ms),
            post_decays: Decays::new(rule.tau_minus_ms, triplet.map(|t| t.tau_y_ms), dt_ms),
            pending_from: vec![0; sources as usize],
            noted: vec![Vec::new(); targets as usize],
            in_degree,
            updates: 0,
        })
    }

    /// The potentiation of `w` by target `j`'s noted spikes from step `from` on, with the
    /// source's traces `pre` (unchanged since those spikes).
    #[inline]
    fn pending(&self, w: f64, j: u32, from: u32, pre: &Traces) -> f64 {
        let noted = &self.noted[j as usize];
        let first = noted
            .iter()
            .rposition(|&(p, _)| p < from)
            .map_or(0, |i| i + 1);
        let mut w = w;
        for &(p, y2) in &noted[first..] {
            let x = pre.fast_at(p, &self.pre_decays);
            w = self.rule.potentiate(w, x, y2);
        }
        w
    }

    /// Before a spike of `bundle.source` is delivered over its synapses: each applies its
    /// pending potentiation, so that the spike is delivered with the current weight.
    pub fn catch_up(&self, bundle: &Bundle, targets: &[u32], weights: &mut [f64]) {
        let s = bundle.source as usize;
        let (pre, from) = (self.pre[s], self.pending_from[s]);
        let range = bundle.lo as usize..bundle.hi as usize;
        for (w, &j) in weights[range.clone()].iter_mut().zip(&targets[range]) {
            *w = self.pending(*w, j, from, &pre);
        }
    }

    /// After a spike of `bundle.source` was delivered at step `t` (and [`Self::catch_up`]
    /// before it): depress each synapse from its target's trace, then let the source's
    /// traces jump.
    pub fn arrive(&mut self, t: u32, bundle: &Bundle, targets: &[u32], weights: &mut [f64]) {
        let s = bundle.source as usize;
        let before = self.pre[s].at(t, &self.pre_decays);
        let range = bundle.lo as usize..bundle.hi as usize;
        for (w, &j) in weights[range.clone()].iter_mut().zip(&targets[range]) {
            let y = self.post[j as usize].fast_at(t, &self.post_decays);
            *w = self.rule.depress(*w, y, before.1);
        }
        self.pre[s].jump(t, before, &self.rule);
        self.pending_from[s] = t;
        self.updates += u64::from(bundle.hi - bundle.lo);
    }

    /// Target `j` spikes at step `t`: note it (its incoming synapses apply it at their
    /// source's next arrival), then let its traces jump.
    pub fn fire(&mut self, t: u32, j: u32) {
        let post = &mut self.post[j as usize];
        let before = post.at(t, &self.post_decays);
        self.noted[j as usize].push((t, before.1));
        post.jump(t, before, &self.rule);
        self.updates += u64::from(self.in_degree[j as usize]);
    }

    /// After step `t`: apply every pending potentiation to every synapse of `pr`, and forget
    /// the noted spikes.
    pub fn settle(&mut self, t: u32, pr: &Projection, weights: &mut [f64]) {
        if self.noted.iter().all(Vec::is_empty) {
            return;
        }
        for s in 0..self.pre.len() {
            let (pre, from) = (self.pre[s], self.pending_from[s]);
            let row = pr.csr.row(s as u32);
            for (w, &j) in weights[row.clone()].iter_mut().zip(&pr.csr.targets[row]) {
                *w = self.pending(*w, j, from, &pre);
            }
            self.pending_from[s] = t + 1;
        }
        self.noted.iter_mut().for_each(Vec::clear);
    }
}

/// The run's own weights of a plastic projection, in double precision.
pub(super) fn initial_weights(pr: &Projection) -> Weights {
    Weights::PerSynapseF64(match &pr.weights {
        Weights::Constant(w) => vec![*w; pr.csr.len()],
        Weights::PerSynapse(ws) => ws.iter().map(|&w| f64::from(w)).collect(),
        Weights::PerSynapseF64(ws) => ws.clone(),
        Weights::PerSynapseI8(ws) => {
            let targets = &pr.csr.targets;
            ws.weights(0..targets.len(), targets).collect()
        }
        Weights::DenseRows(_) | Weights::DenseRowsI8(_) | Weights::Kernel(_) => {
            unreachable!("refused when compiling")
        }
    })
}
