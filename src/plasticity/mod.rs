//! Synaptic plasticity: rules that change a projection's weights from the timing of the spikes
//! on both sides of its synapses. One file per rule; the engines apply a rule through
//! [`crate::sim`]'s plastic runs, which keep the rule's traces per neuron.
//!
//! # Timing (the same for every rule)
//!
//! The whole delay of a plastic synapse is axonal, as in Brian2's default: a spike emitted at
//! step `t` reaches the synapse at step `t + delay`, where it is delivered and the synapse is
//! depressed; a spike of the target reaches the synapse at once. Within a step, the arrivals
//! come first (they were delivered before the target's update), then the target's spikes, so
//! an input arriving in the step in which its target fires counts as coming before the spike
//! (it may have caused it): it is potentiated, with a time difference of zero.

pub mod file;
pub mod stdp;

pub use stdp::{Pairing, Stdp, Triplet, WeightDependence};

/// The decay of a trace over whole steps, `exp(-k dt / tau)`: a table for the common lags,
/// the same formula beyond it (so the table only saves the exponentials).
#[derive(Debug, Clone)]
pub struct Decay {
    steps_per_tau: f64,
    table: Vec<f64>,
}

/// Lags kept in a [`Decay`]'s table.
const DECAY_TABLE: u32 = 4096;

impl Decay {
    /// The decay of a trace of time constant `tau_ms` at steps of `dt_ms`.
    pub fn new(tau_ms: f64, dt_ms: f64) -> Self {
        let steps_per_tau = dt_ms / tau_ms;
        let table = (0..DECAY_TABLE)
            .map(|k| (-f64::from(k) * steps_per_tau).exp())
            .collect();
        Decay {
            steps_per_tau,
            table,
        }
    }

    /// The factor over `lag` steps.
    #[inline]
    pub fn over(&self, lag: u32) -> f64 {
        match self.table.get(lag as usize) {
            Some(&f) => f,
            None => (-f64::from(lag) * self.steps_per_tau).exp(),
        }
    }
}

/// A trace of one neuron: its value just after its last change, at step `last`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Trace {
    /// The value at step `last`.
    pub value: f64,
    /// The step of the last change.
    pub last: u32,
}

impl Trace {
    /// The value at step `t` (`t >= last`).
    #[inline]
    pub fn at(&self, t: u32, decay: &Decay) -> f64 {
        self.value * decay.over(t - self.last)
    }

    /// Set the value at step `t`.
    #[inline]
    pub fn set(&mut self, t: u32, value: f64) {
        *self = Trace { value, last: t };
    }
}
