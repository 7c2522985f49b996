//! The layered loop: the event engine's arithmetic and scheduling for the networks `synops
//! convert` writes from dense layers, without the general engine's machinery.
//!
//! A converted MLP is a chain: an analog input folded into the first layer's bias, then `if`
//! layers, each fed by the one before over dense rows with a delay of one step. For such a
//! chain the general engine's spike ring, bundles, recorders, wake queues and per-sample
//! build are overhead: per step a layer receives the rows of its source's spikes of the step
//! before, updates every neuron if any arrived, and checks the neurons whose predicted
//! crossing falls on the step. This loop does exactly that, with the same model functions
//! ([`Dynamics::update_with_input_as`], [`Dynamics::check_and_predict_as`],
//! [`Dynamics::predict_as`]) in the same order per neuron and the same rules for when a
//! prediction is kept, so its spikes, potentials and every count (SOPs, updates, checks,
//! active neuron-steps) are the event engine's, bit for bit (tests compare whole reports).
//! A pending check is one step number per neuron, found by a scan instead of a queue.
//!
//! Any network outside that shape runs on the general engine; so does a sample whose state
//! sum leaves the models' bound (where the engine would look for a runaway neuron).

use super::ConvertedNetwork;
use crate::model::r#if::If;
use crate::network::compiled::{Delays, Encoding, PopulationKind, Weights};
use crate::neuron::{Anchor, Checked, Dynamics, ExactModel, Model, Prediction};

/// A converted network the layered loop can run, with what it reads of it.
pub(super) struct LayeredPlan<'a> {
    layers: Vec<LayerPlan<'a>>,
}

/// One layer: its dynamics, initial anchors and incoming dense rows.
struct LayerPlan<'a> {
    dynamics: &'a Dynamics,
    initial: &'a [Anchor],
    /// `[source][target]` weights of the incoming projection, and its row length.
    rows: &'a [f32],
    width: usize,
}

impl<'a> LayeredPlan<'a> {
    /// The plan, if `cn` is a chain the loop runs exactly as the event engine (see the
    /// module documentation); `None` otherwise.
    pub(super) fn new(cn: &'a ConvertedNetwork) -> Option<Self> {
        let net = &cn.net;
        let plain = net.drives.is_empty() && net.noises.is_empty() && net.currents.is_empty();
        if !plain || net.populations.len() != cn.layers.len() + 1 {
            return None;
        }
        if net.projections.len() != cn.layers.len() {
            return None;
        }
        let PopulationKind::Analog {
            encoding: Encoding::Current,
            ..
        } = net.populations[cn.input].kind
        else {
            return None;
        };
        let mut layers = Vec::with_capacity(cn.layers.len());
        for (k, (&pop, &j)) in cn.layers.iter().zip(&cn.projections).enumerate() {
            let pr = &net.projections[j];
            let source = if k == 0 { cn.input } else { cn.layers[k - 1] };
            let width = net.populations[pop].size as usize;
            let recorded = net.record.spikes[pop]
                .as_ref()
                .is_some_and(|mask| mask.iter().all(|&m| m));
            let PopulationKind::Neurons { dynamics, initial } = &net.populations[pop].kind else {
                return None;
            };
            let Weights::DenseRows(rows) = &pr.weights else {
                return None;
            };
            let chained = pr.source == source && pr.target == pop && pr.plasticity.is_none();
            let one_step = matches!(pr.delays, Delays::Constant(1));
            let dense = rows.len() == width * net.populations[source].size as usize
                && (0..net.populations[source].size).all(|s| pr.csr.row(s).len() == width);
            if !(chained && one_step && dense && recorded) || dynamics.params.model != Model::If {
                return None;
            }
            layers.push(LayerPlan {
                dynamics,
                initial,
                rows,
                width,
            });
        }
        Some(LayeredPlan { layers })
    }
}

/// The loop gave up on a sample: run it on the general engine.
#[derive(Debug)]
pub(super) struct Fallback;

/// One layer's state and counts in a sample's run.
struct LayerRun<'a> {
    plan: &'a LayerPlan<'a>,
    anchors: Vec<Anchor>,
    /// Step of each neuron's pending check (`u32::MAX`: none).
    wake: Vec<u32>,
    /// How far below threshold each potential stays until its check.
    headroom: Vec<f64>,
    /// Neurons with a non-zero bias: active every step.
    biased: Vec<bool>,
    /// How many.
    n_biased: u64,
    /// The neurons whose check is due this step (scratch).
    due: Vec<u32>,
    /// Input summed this step, per neuron.
    sums: Vec<f64>,
    /// Whether the layer can reach threshold without input (its crossings are predicted).
    predict: bool,
    /// This step's spikes, and the step before's (delivered to the next layer now).
    spikes: Vec<u32>,
    previous: Vec<u32>,
    /// Spikes per neuron so far.
    neuron_spikes: Vec<u32>,
    spikes_total: u64,
    updates: u64,
    active: u64,
    sops: u64,
}

impl<'a> LayerRun<'a> {
    fn new(plan: &'a LayerPlan<'a>, bias: Option<&[f64]>) -> Result<Self, Fallback> {
        let mut anchors = plan.initial.to_vec();
        if let Some(bias) = bias {
            for (a, &b) in anchors.iter_mut().zip(bias) {
                a.bias = b;
            }
        }
        let d = plan.dynamics;
        if anchors.iter().any(|a| d.out_of_bounds_at(a, 0)) {
            return Err(Fallback);
        }
        let n = anchors.len();
        let biased: Vec<bool> = anchors.iter().map(|a| a.bias != 0.0).collect();
        let n_biased = biased.iter().filter(|&&b| b).count() as u64;
        let predict = crate::sim::can_self_cross(d, anchors.iter());
        let mut run = LayerRun {
            plan,
            anchors,
            wake: vec![u32::MAX; n],
            headroom: vec![0.0; n],
            biased,
            n_biased,
            due: Vec::new(),
            sums: vec![0.0; n],
            predict,
            spikes: Vec::new(),
            previous: Vec::new(),
            neuron_spikes: vec![0; n],
            spikes_total: 0,
            updates: 0,
            active: 0,
            sops: 0,
        };
        for i in 0..n {
            run.schedule(i, 0);
        }
        Ok(run)
    }

    /// Step `t`: deliver `arriving` (the source layer's spikes of step `t - 1`), update,
    /// check, count.
    fn step(&mut self, t: u32, arriving: &[u32]) -> Result<(), Fallback> {
        let (rows, width) = (self.plan.rows, self.plan.width);
        for &s in arriving {
            let row = &rows[s as usize * width..][..width];
            crate::sim::rows::add_row(&mut self.sums, row);
        }
        self.sops += (arriving.len() * width) as u64;
        let updated = !arriving.is_empty() && width > 0;
        let magnitudes = if updated { self.update_all(t) } else { 0.0 };
        self.run_checks(t);
        self.spikes.sort_unstable();
        // Active: every neuron of an updated layer; else the biased ones and the spiking.
        if !updated {
            let unbiased = self.spikes.iter().filter(|&&i| !self.biased[i as usize]);
            self.active += self.n_biased + unbiased.count() as u64;
        }
        if self.plan.dynamics.beyond_bound(magnitudes) {
            return Err(Fallback);
        }
        for &i in &self.spikes {
            self.neuron_spikes[i as usize] += 1;
        }
        self.spikes_total += self.spikes.len() as u64;
        Ok(())
    }

    /// Every neuron received input (a dense row covers the layer): the event engine's update
    /// of touched neurons. Returns the sum of the updated magnitudes.
    fn update_all(&mut self, t: u32) -> f64 {
        let d = self.plan.dynamics;
        let n = self.anchors.len();
        self.active += n as u64;
        self.updates += n as u64;
        let mut magnitudes = 0.0;
        for i in 0..n {
            let input = std::mem::replace(&mut self.sums[i], 0.0);
            let anchor = &mut self.anchors[i];
            let spiked = d.update_with_input_as::<If>(anchor, t, input, 0.0);
            magnitudes += If::updated_magnitude(anchor);
            if spiked {
                self.spikes.push(i as u32);
            }
            if !self.predict {
                continue;
            }
            if !spiked && self.wake[i] > t {
                // The prediction holds while the input cannot raise the potential past it.
                let rise = d.max_rise(input, 0.0);
                if rise <= self.headroom[i] {
                    self.headroom[i] -= rise;
                    continue;
                }
            }
            let prediction = d.predict_as::<If>(&self.anchors[i], t);
            self.headroom[i] = prediction.headroom;
            self.set_wake(i, t, prediction.next);
        }
        magnitudes
    }

    /// The threshold checks due at step `t`.
    fn run_checks(&mut self, t: u32) {
        let d = self.plan.dynamics;
        let mut due = std::mem::take(&mut self.due);
        for (word, wakes) in self.wake.chunks(64).enumerate() {
            let mut bits = due_mask(wakes, t);
            while bits != 0 {
                due.push((word * 64) as u32 + bits.trailing_zeros());
                bits &= bits - 1;
            }
        }
        for &i in &due {
            let i = i as usize;
            self.wake[i] = u32::MAX;
            self.updates += 1;
            match d.check_and_predict_as::<If>(&mut self.anchors[i], t) {
                Checked::Below(prediction) => {
                    self.headroom[i] = prediction.headroom;
                    self.replace_wake(i, prediction.next);
                }
                Checked::Spiked => {
                    self.spikes.push(i as u32);
                    self.schedule(i, t);
                }
                Checked::Refractory => self.schedule(i, t),
            }
        }
        due.clear();
        self.due = due;
    }

    /// Predict neuron `i`'s next possible crossing after step `t` and keep a check there.
    #[inline(always)]
    fn schedule(&mut self, i: usize, t: u32) {
        let prediction = if self.predict {
            self.plan.dynamics.predict_as::<If>(&self.anchors[i], t)
        } else {
            Prediction::NEVER
        };
        self.headroom[i] = prediction.headroom;
        self.set_wake(i, t, prediction.next);
    }

    /// Keep a pending check at or before `next` (it still guards the neuron), else move it.
    #[inline(always)]
    fn set_wake(&mut self, i: usize, t: u32, next: Option<u32>) {
        let w = self.wake[i];
        if w > t && w <= next.unwrap_or(u32::MAX) {
            return;
        }
        self.replace_wake(i, next);
    }

    #[inline(always)]
    fn replace_wake(&mut self, i: usize, next: Option<u32>) {
        self.wake[i] = next.unwrap_or(u32::MAX);
    }
}

/// Bit `b` set where `wakes[b] == t` (at most 64 entries), without a branch per neuron:
/// four lanes per comparison (SSE2, part of every x86-64).
#[inline(always)]
fn due_mask(wakes: &[u32], t: u32) -> u64 {
    debug_assert!(wakes.len() <= 64);
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        let mut bits = 0u64;
        let quads = wakes.chunks_exact(4);
        let rest = quads.remainder();
        // SAFETY: SSE2 is part of x86-64; each load reads the four entries of its chunk.
        unsafe {
            let want = _mm_set1_epi32(t as i32);
            for (k, quad) in quads.enumerate() {
                let w = _mm_loadu_si128(quad.as_ptr().cast());
                let m = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(w, want)));
                bits |= (m as u64) << (4 * k);
            }
        }
        let first = wakes.len() - rest.len();
        rest.iter()
            .enumerate()
            .fold(bits, |m, (b, &w)| m | u64::from(w == t) << (first + b))
    }
    #[cfg(not(target_arch = "x86_64"))]
    wakes
        .iter()
        .enumerate()
        .fold(0u64, |m, (b, &w)| m | u64::from(w == t) << b)
}

/// A sample's run on the layered loop.
pub(super) struct LayeredRun<'a> {
    layers: Vec<LayerRun<'a>>,
    step: u32,
    input_macs: u64,
}

impl<'a> LayeredRun<'a> {
    /// The run of input `values` (the analog input's), at step 0.
    pub(super) fn new(
        plan: &'a LayeredPlan<'a>,
        cn: &ConvertedNetwork,
        values: &[f64],
    ) -> Result<Self, Fallback> {
        let first = &plan.layers[0];
        let mut bias: Vec<f64> = first.initial.iter().map(|a| a.bias).collect();
        let pr = &cn.net.projections[cn.projections[0]];
        let input_macs = crate::sim::add_analog_currents(pr, values, &mut bias);
        let mut layers = Vec::with_capacity(plan.layers.len());
        for (k, layer) in plan.layers.iter().enumerate() {
            layers.push(LayerRun::new(layer, (k == 0).then_some(&bias[..]))?);
        }
        Ok(LayeredRun {
            layers,
            step: 0,
            input_macs,
        })
    }

    /// Simulate one step.
    pub(super) fn advance(&mut self) -> Result<(), Fallback> {
        self.step += 1;
        let t = self.step;
        for k in 0..self.layers.len() {
            let (before, rest) = self.layers.split_at_mut(k);
            let arriving = before.last().map_or(&[][..], |l| &l.previous[..]);
            rest[0].step(t, arriving)?;
        }
        for layer in &mut self.layers {
            std::mem::swap(&mut layer.previous, &mut layer.spikes);
            layer.spikes.clear();
        }
        Ok(())
    }

    /// The output layer's spikes per neuron so far.
    pub(super) fn output_spikes(&self) -> &[u32] {
        &self.layers.last().expect("a layer").neuron_spikes
    }

    /// Output neuron `i`'s potential at the current step.
    pub(super) fn output_potential(&self, i: usize) -> f64 {
        let out = self.layers.last().expect("a layer");
        out.plan.dynamics.evaluate(&out.anchors[i], self.step).v
    }

    /// Synaptic operations so far of the projection into each layer.
    pub(super) fn layer_sops(&self) -> Vec<u64> {
        self.layers.iter().map(|l| l.sops).collect()
    }

    /// Spikes so far: the input's (none: it is a current), then each layer's.
    pub(super) fn spikes(&self) -> Vec<u64> {
        std::iter::once(0)
            .chain(self.layers.iter().map(|l| l.spikes_total))
            .collect()
    }

    /// State evaluations (updates and threshold checks) so far per layer.
    pub(super) fn layer_updates(&self) -> Vec<u64> {
        self.layers.iter().map(|l| l.updates).collect()
    }

    /// Active neuron-steps so far per layer.
    pub(super) fn layer_active(&self) -> Vec<u64> {
        self.layers.iter().map(|l| l.active).collect()
    }

    /// Spikes per neuron of each layer so far.
    pub(super) fn layer_counts(&self) -> Vec<Vec<u32>> {
        self.layers
            .iter()
            .map(|l| l.neuron_spikes.clone())
            .collect()
    }

    /// Multiply-accumulates that turned the input into currents.
    pub(super) fn input_macs(&self) -> u64 {
        self.input_macs
    }
}
