//! Time-bucketed queues: spike bundles by arrival step, and threshold checks by step.
//!
//! Both are rings of vectors indexed by step modulo the ring length (as NEST's ring buffer and
//! arbor's measurements recommend over one global heap). Slots are emptied and handed back, so
//! their capacity is reused and a step allocates nothing once the run has warmed up.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A run of synapses of one projection sharing a delay: `targets[lo..hi]` of the projection's CSR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bundle {
    /// Projection index.
    pub projection: u32,
    /// First synapse.
    pub lo: u32,
    /// One past the last synapse.
    pub hi: u32,
    /// Source neuron.
    pub source: u32,
    /// The bundle is the source's whole row (constant delay), so precomputed part boundaries
    /// of the row apply.
    pub whole_row: bool,
}

/// Spike bundles by arrival step. Its length exceeds the largest delay, so a slot is never
/// written for two different steps at once.
pub struct SpikeRing {
    slots: Vec<Vec<Bundle>>,
    mask: usize,
}

impl SpikeRing {
    /// A ring for delays up to `max_delay` steps.
    pub fn new(max_delay: u32) -> Self {
        let len = (max_delay as usize + 1).next_power_of_two();
        SpikeRing {
            slots: vec![Vec::new(); len],
            mask: len - 1,
        }
    }

    /// Queue a bundle arriving at `step`.
    #[inline]
    pub fn push(&mut self, step: u32, bundle: Bundle) {
        self.slots[step as usize & self.mask].push(bundle);
    }

    /// Take the bundles arriving at `step`; return the emptied vector with [`Self::give_back`].
    pub fn take(&mut self, step: u32) -> Vec<Bundle> {
        std::mem::take(&mut self.slots[step as usize & self.mask])
    }

    /// Return an emptied slot vector so its capacity is reused.
    pub fn give_back(&mut self, step: u32, slot: Vec<Bundle>) {
        debug_assert!(slot.is_empty());
        self.slots[step as usize & self.mask] = slot;
    }
}

/// Number of steps covered by the wake ring; later checks wait in a heap.
const WAKE_HORIZON: u32 = 1024;

/// Pending threshold checks of neurons (indices within a part of a population) by step.
/// Entries are not removed when a neuron is rescheduled; the engine skips stale ones by
/// comparing with the neuron's current check step (lazy deletion).
pub struct WakeQueue {
    slots: Vec<Vec<u32>>,
    far: BinaryHeap<Reverse<(u32, u32)>>,
}

impl Default for WakeQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl WakeQueue {
    /// An empty queue.
    pub fn new() -> Self {
        WakeQueue {
            slots: vec![Vec::new(); WAKE_HORIZON as usize],
            far: BinaryHeap::new(),
        }
    }

    /// Queue a check of `neuron` at `step`, scheduled at step `now < step`.
    #[inline]
    pub fn push(&mut self, step: u32, now: u32, neuron: u32) {
        if step - now < WAKE_HORIZON {
            self.slots[(step % WAKE_HORIZON) as usize].push(neuron);
        } else {
            self.far.push(Reverse((step, neuron)));
        }
    }

    /// Take the checks due at `step`; return the vector with [`Self::give_back`].
    pub fn take(&mut self, step: u32) -> Vec<u32> {
        while let Some(&Reverse((s, n))) = self.far.peek() {
            if s >= step + WAKE_HORIZON {
                break;
            }
            self.far.pop();
            self.slots[(s % WAKE_HORIZON) as usize].push(n);
        }
        std::mem::take(&mut self.slots[(step % WAKE_HORIZON) as usize])
    }

    /// Return an emptied slot vector.
    pub fn give_back(&mut self, step: u32, slot: Vec<u32>) {
        self.slots[(step % WAKE_HORIZON) as usize] = slot;
    }
}
