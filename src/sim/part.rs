//! A part: a contiguous range of one population's neurons and everything a step writes about
//! them. Parts are the unit of parallel work: in a step each part is advanced by one thread,
//! reading the shared spike bundles and writing only its own state, so no lock or atomic is
//! needed. Part boundaries fall on multiples of [`BLOCK_SIZE`], the random streams' blocks,
//! and each neuron sums its inputs in bundle order whatever part it is in: results do not
//! depend on how neurons are split into parts, hence not on the number of threads.

use super::input::PoissonField;
use super::ring::{Bundle, WakeQueue};
use super::tables::RunTables;
use crate::model::{ClockedStates, DirectInputs};
use crate::network::compiled::{CompiledNetwork, PopulationKind, Weights};
use crate::network::kernel::{Kernel, KernelScratch};
use crate::neuron::{Anchor, Checked, Dynamics, ExactModel, Model, Prediction, with_exact_model};

/// One neuron's runtime record: its anchor, the input summed in the current step and its
/// pending threshold check. Aligned to a cache line, so delivering to a neuron and then
/// updating or checking it touches one line.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
pub(super) struct Slot {
    pub anchor: Anchor,
    /// The input summed in this step, for the delta models (`if`, `lif_delta`). `lif_exp`
    /// populations fold their inputs into the anchors or, under a dense drive, sum them in
    /// [`Part::dense_inputs`].
    pub input: f64,
    /// Event engine: how far below threshold the potential stays until the pending check
    /// (see [`crate::neuron::Prediction`]); inputs that cannot raise it by more leave the
    /// check where it is.
    pub headroom: f64,
    /// Event engine: the step of the pending threshold check (`u32::MAX`: none).
    pub wake: u32,
    /// The last step in which the neuron was counted active (see [`Part::active`]).
    pub active: u32,
}

/// Spare 64-bit words kept after a part's per-neuron arrays (two cache lines).
const TAIL_PAD_WORDS: usize = 16;

/// The phases of a part's step, timed when profiling.
#[derive(Debug, Clone, Copy)]
pub(super) enum Phase {
    /// Poisson drives.
    Drives,
    /// Delivery of the arriving spike bundles.
    Delivery,
    /// Updates of neurons with input (and their crossing predictions).
    Updates,
    /// Threshold checks without input (event engine).
    Checks,
}

/// Number of [`Phase`]s.
pub(super) const PHASES: usize = 4;

/// Wall-clock laps between phases; does nothing unless profiling.
struct Lap(Option<std::time::Instant>);

impl Lap {
    fn new(on: bool) -> Self {
        Lap(on.then(std::time::Instant::now))
    }

    /// Add the time since the previous lap to `total`.
    #[inline]
    fn record(&mut self, total: &mut u64) {
        if let Some(last) = &mut self.0 {
            let now = std::time::Instant::now();
            *total += (now - *last).as_nanos() as u64;
            *last = now;
        }
    }
}

/// What every part reads in a step.
#[derive(Clone, Copy)]
pub(super) struct StepInput<'s> {
    /// The step.
    pub t: u32,
    /// The network.
    pub net: &'s CompiledNetwork,
    /// Spike bundles arriving in this step.
    pub bundles: &'s [Bundle],
    /// The run's per-projection tables (receptor slots, row splits, weights).
    pub tables: &'s RunTables,
    /// Event engine (else clock).
    pub event: bool,
    /// Time the phases of the step into [`Part::phase_ns`].
    pub profile: bool,
}

/// A whole-population Poisson drive, restricted to a part.
pub(super) struct PartDrive {
    /// Index of the drive in the network.
    pub drive: usize,
    /// Receptor slot (0 excitatory, 1 inhibitory of lif_exp).
    pub receptor: usize,
    /// Weight per input spike.
    pub weight: f64,
    /// Counts for this part's neurons (global indices).
    pub field: PoissonField,
    /// Dense fields: the input of each count, `weight * count`, and -0.0 for a count of 0
    /// (which leaves an accumulator that received nothing at -0.0: see [`DenseInputs`]).
    pub input_by_count: Vec<f64>,
}

impl PartDrive {
    /// A drive of `weight` per input spike into receptor `receptor`, from `field`.
    pub fn new(drive: usize, receptor: usize, weight: f64, field: PoissonField) -> Self {
        let counts = 0..=field.max_count();
        let input_by_count = counts
            .map(|c| if c == 0 { -0.0 } else { weight * f64::from(c) })
            .collect();
        PartDrive {
            drive,
            receptor,
            weight,
            field,
            input_by_count,
        }
    }
}

/// State of neurons `lo .. lo + slots.len()` of population `pop`. Aligned so that two parts
/// advanced by two threads never share a cache line.
#[repr(align(128))]
pub(super) struct Part {
    pub pop: usize,
    /// Another rank's part in a distributed run: kept, never advanced here.
    pub remote: bool,
    /// Position among the population's parts.
    pub rank: usize,
    pub lo: u32,
    pub slots: Vec<Slot>,
    /// One bit per neuron: received at least one input this step.
    pub touched: Vec<u64>,
    /// Threshold checks by step (local indices).
    pub wakes: WakeQueue,
    /// Scratch: crossings predicted in this step, `(local index, step)`.
    predicted: Vec<(u32, u32)>,
    /// Scratch: the outcomes of a batch of checks.
    checked: Vec<(u32, Checked)>,
    /// Every neuron gets input every step (a dense Poisson drive covers the part): delivery
    /// then marks nothing, sums into `dense_inputs` instead of the records, and the update
    /// visits every neuron.
    pub all_touched: bool,
    /// A clocked part whose model takes its inputs straight into its state
    /// ([`crate::model::ClockedModel::DIRECT_INPUTS`]): it is updated before its delivery,
    /// which adds each input event into the state and marks its target in `touched`.
    pub direct: bool,
    /// With `all_touched`: the inputs of the step in two dense arrays, 8 bytes per neuron and
    /// receptor. Every neuron is visited in order anyway, so dense arrays (8 neurons per cache
    /// line) serve delivery's random accesses better than the 64-byte records.
    pub dense_inputs: DenseInputs,
    /// False when no neuron of the population can ever reach threshold without input: the
    /// event engine then never predicts crossings for it.
    pub can_self_cross: bool,
    /// A delta-model part fed only over dense rows and kernels: its inputs are summed in
    /// `dense_inputs.exc`, 8 bytes per neuron, instead of in the records, starting each step
    /// at +0.0 as a record's does (the same sums, bit for bit), and the targets are still
    /// marked in `touched`. Rows and windows then add into contiguous memory (see
    /// [`Self::set_dense_sums`]).
    pub dense_sums: bool,
    /// `lif_exp` without `all_touched`: inputs are folded into the anchors at delivery
    /// ([`Dynamics::fold_input`]) instead of summed for an update (see [`Self::set_fold`]).
    pub fold: bool,
    /// With `fold`: the neurons whose headroom inputs used up in this step, in order of
    /// arrival (`marked[..n_marked]`; one entry per neuron and step, as headroom only
    /// decreases until the neuron is checked). The event engine checks and predicts them again.
    marked: Vec<u32>,
    n_marked: usize,
    /// Whole-population Poisson drives into this part.
    pub drives: Vec<PartDrive>,
    /// Spikes of this step (population indices, ascending after the update).
    pub spikes: Vec<u32>,
    /// Nanoseconds spent in each [`Phase`] (when profiling), collected after the step.
    pub phase_ns: [u64; PHASES],
    /// Counts of this step, collected after the step.
    pub updates: u64,
    /// Anchors moved by folded inputs (counted as updates by the event engine).
    pub moves: u64,
    pub checks: u64,
    pub external: Vec<(usize, u64)>,
    /// Active neuron-steps of this step, collected after the step: neurons that received at
    /// least one input event, carry a non-zero constant current, or spiked. Counted from the
    /// delivery, the drives and the spikes, which both engines share, so both count alike.
    /// Parts under a dense drive update every neuron; the update marks in `touched` those whose
    /// accumulators left -0.0 (see [`DenseInputs`]), and the bits are counted. The other parts
    /// mark a neuron's record with the step ([`Slot::active`]).
    pub active: u64,
    /// Local indices of the neurons with a non-zero constant current (active every step).
    pub biased: Vec<u32>,
    /// The sum over this step's updates of the magnitudes of the states they left
    /// ([`crate::neuron::magnitude`]). Above [`Dynamics::state_bound`] (or not finite), some
    /// neuron's state may be beyond the bound: the step then ends by looking for the first
    /// such neuron ([`Self::runaway`]).
    magnitudes: f64,
    /// The first neuron (local index) found beyond the bound, once one is.
    pub runaway: Option<u32>,
    /// The states of a clocked population's neurons (see [`crate::model`]), which then have
    /// no records in `slots`: every neuron is updated every step, its inputs summed in
    /// `dense_inputs` (or, with `direct`, added into its state after the update).
    pub clocked: Option<Box<dyn ClockedStates>>,
    /// Scratch: the synapses of one kernel delivery, targets (population indices) and
    /// weights, and the kernel's own scratch.
    computed: (Vec<u32>, Vec<f64>, KernelScratch),
}

impl Part {
    pub fn new(pop: usize, rank: usize, lo: u32, anchors: &[Anchor]) -> Self {
        let n = anchors.len();
        Part {
            pop,
            remote: false,
            rank,
            lo,
            slots: anchors
                .iter()
                .map(|&anchor| Slot {
                    anchor,
                    input: 0.0,
                    headroom: 0.0,
                    wake: u32::MAX,
                    active: 0,
                })
                .collect(),
            // Padded by a cache line or two so that the arrays of parts advanced by different
            // threads never share a line (the allocator may place them side by side).
            touched: {
                let mut v = vec![0; n.div_ceil(64) + TAIL_PAD_WORDS];
                v.truncate(n.div_ceil(64));
                v
            },
            wakes: WakeQueue::new(),
            predicted: Vec::new(),
            checked: Vec::new(),
            can_self_cross: false,
            fold: false,
            marked: Vec::new(),
            n_marked: 0,
            all_touched: false,
            direct: false,
            dense_sums: false,
            dense_inputs: DenseInputs::default(),
            drives: Vec::new(),
            spikes: Vec::new(),
            phase_ns: [0; PHASES],
            updates: 0,
            moves: 0,
            checks: 0,
            external: Vec::new(),
            active: 0,
            biased: Vec::new(),
            magnitudes: 0.0,
            runaway: None,
            clocked: None,
            computed: Default::default(),
        }
    }

    /// A part of a clocked population: neurons `lo .. lo + states.len()`.
    pub fn new_clocked(
        pop: usize,
        rank: usize,
        lo: u32,
        mut states: Box<dyn ClockedStates>,
    ) -> Self {
        let n = states.len();
        let direct = states.direct_inputs().is_some();
        let mut part = Part::new(pop, rank, lo, &[]);
        part.touched = {
            let mut v = vec![0; n.div_ceil(64) + TAIL_PAD_WORDS];
            v.truncate(n.div_ceil(64));
            v
        };
        part.clocked = Some(states);
        part.set_all_touched();
        if direct {
            part.direct = true;
            part.dense_inputs = DenseInputs::default();
        }
        part
    }

    /// Number of neurons.
    pub fn len(&self) -> usize {
        self.clocked.as_ref().map_or(self.slots.len(), |c| c.len())
    }

    /// List again the neurons with a non-zero constant current (after a change of bias).
    pub fn list_biased(&mut self) {
        self.biased.clear();
        let biased = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.anchor.bias != 0.0);
        self.biased.extend(biased.map(|(i, _)| i as u32));
    }

    /// Count the active neurons of step `t` that input has not marked yet: the spiking and the
    /// biased ones (see [`Self::active`]).
    fn count_active(&mut self, t: u32) {
        if self.all_touched {
            for &n in &self.spikes {
                let i = (n - self.lo) as usize;
                self.touched[i >> 6] |= 1 << (i & 63);
            }
            for &i in &self.biased {
                self.touched[i as usize >> 6] |= 1 << (i & 63);
            }
            for word in &mut self.touched {
                self.active += u64::from(std::mem::take(word).count_ones());
            }
            return;
        }
        let lo = self.lo;
        let local = self.spikes.iter().map(|&n| n - lo);
        for i in local.chain(self.biased.iter().copied()) {
            self.active += mark_active(&mut self.slots[i as usize], t);
        }
    }

    /// One past the last neuron.
    pub fn hi(&self) -> u32 {
        self.lo + self.len() as u32
    }

    /// Sum inputs densely (see `dense_inputs`): every neuron is touched every step.
    pub fn set_all_touched(&mut self) {
        self.all_touched = true;
        self.dense_inputs = DenseInputs {
            exc: vec![-0.0; self.len()],
            inh: vec![-0.0; self.len()],
        };
    }

    /// Sum inputs in dense arrays while marking the targets (see [`Self::dense_sums`]).
    pub fn set_dense_sums(&mut self) {
        self.dense_sums = true;
        self.dense_inputs = DenseInputs {
            exc: vec![0.0; self.len()],
            inh: Vec::new(),
        };
    }

    /// Fold inputs into the anchors (see [`Self::fold`]).
    pub fn set_fold(&mut self) {
        self.fold = true;
        // One entry per neuron, and one for the write past the last mark.
        self.marked = vec![0; self.slots.len() + 1];
    }

    /// Add `weight`, arriving at step `t`, to local neuron `i`'s input (`dynamics`: the
    /// population's, `None` for a clocked one).
    #[inline]
    pub fn add_input(
        &mut self,
        dynamics: Option<&Dynamics>,
        t: u32,
        i: usize,
        receptor: usize,
        weight: f64,
    ) {
        if self.direct {
            direct_inputs(&mut self.clocked).add(i, receptor, weight);
            self.touched[i >> 6] |= 1 << (i & 63);
        } else if self.all_touched {
            self.dense_inputs.add(i, receptor, weight);
        } else if self.fold {
            let (target, weight) = (std::iter::once(i), std::iter::once(weight));
            let dynamics = dynamics.expect(FOLDED_HAVE_DYNAMICS);
            self.fold_inputs(dynamics, t, receptor, target, std::iter::empty(), weight);
        } else if self.dense_sums {
            self.dense_inputs.exc[i] += weight;
            self.touched[i >> 6] |= 1 << (i & 63);
        } else {
            self.slots.add(i, receptor, weight);
            self.touched[i >> 6] |= 1 << (i & 63);
        }
    }

    /// Everything of a step that touches only this part: its Poisson drives, the delivery of
    /// `bundles` to its neurons, and the update by the event or the clock engine.
    pub fn step(&mut self, input: &StepInput) {
        if self.remote {
            return;
        }
        let StepInput {
            t,
            net,
            bundles,
            tables,
            event,
            profile,
        } = *input;
        let rank = self.rank;
        let mut lap = Lap::new(profile);
        let kind = &net.populations[self.pop].kind;
        let dynamics = match kind {
            PopulationKind::Neurons { dynamics, .. } => Some(dynamics),
            PopulationKind::Clocked { .. } => None,
            _ => unreachable!("parts hold neurons"),
        };
        self.external.clear();
        if self.direct {
            self.update_clocked(t);
            lap.record(&mut self.phase_ns[Phase::Updates as usize]);
        }
        let mut drives = std::mem::take(&mut self.drives);
        for d in &mut drives {
            let mut events = 0u64;
            let (lo, r, w) = (self.lo, d.receptor, d.weight);
            if d.field.is_dense() && self.direct {
                let (by_count, touched) = (&d.input_by_count, &mut self.touched);
                let mut inputs = direct_inputs(&mut self.clocked);
                d.field.step_dense(|k, c| {
                    if c > 0 {
                        events += u64::from(c);
                        inputs.add(k, r, by_count[c as usize]);
                        touched[k >> 6] |= 1 << (k & 63);
                    }
                });
            } else if d.field.is_dense() {
                // Every neuron of the part, zero counts included (no branch on the count).
                // A zero count adds -0.0, which leaves an untouched accumulator at -0.0 (see
                // `DenseInputs`).
                let (inputs, by_count) = (&mut self.dense_inputs, &d.input_by_count);
                d.field.step_dense(|k, c| {
                    events += u64::from(c);
                    debug_assert!((c as usize) < by_count.len());
                    // SAFETY: a count never exceeds the field's `max_count`, the table's last
                    // index.
                    inputs.add(k, r, unsafe { *by_count.get_unchecked(c as usize) });
                });
            } else {
                d.field.step(t, |n, c| {
                    events += u64::from(c);
                    self.add_input(dynamics, t, (n - lo) as usize, r, w * f64::from(c));
                });
            }
            self.external.push((d.drive, events));
        }
        self.drives = drives;
        lap.record(&mut self.phase_ns[Phase::Drives as usize]);
        self.deliver(dynamics, t, net, bundles, tables, rank);
        lap.record(&mut self.phase_ns[Phase::Delivery as usize]);
        match dynamics {
            Some(dynamics) => self.update_exact(dynamics, t, event, &mut lap),
            None if self.direct => {}
            None => {
                self.update_clocked(t);
                lap.record(&mut self.phase_ns[Phase::Updates as usize]);
            }
        }
        self.spikes.sort_unstable();
        self.count_active(t);
        if beyond_bound(kind, std::mem::take(&mut self.magnitudes)) {
            self.find_runaway(kind, t);
        }
    }

    /// The update of an exact model's part by the event or the clock engine.
    fn update_exact(&mut self, dynamics: &Dynamics, t: u32, event: bool, lap: &mut Lap) {
        if event {
            self.updates += std::mem::take(&mut self.moves);
            if self.fold {
                self.check_marked(dynamics, t);
            } else {
                self.update_touched(dynamics, t);
            }
            lap.record(&mut self.phase_ns[Phase::Updates as usize]);
            self.run_checks(dynamics, t);
            lap.record(&mut self.phase_ns[Phase::Checks as usize]);
        } else {
            self.moves = 0;
            self.update_clock(dynamics, t);
            lap.record(&mut self.phase_ns[Phase::Updates as usize]);
        }
    }

    /// The update of a clocked model's part (both engines): every neuron, with the inputs
    /// summed in `dense_inputs`.
    fn update_clocked(&mut self, t: u32) {
        let states = self.clocked.as_mut().expect("clocked parts hold states");
        let DenseInputs { exc, inh } = &mut self.dense_inputs;
        self.magnitudes += states.update(crate::model::Step {
            t,
            exc,
            inh,
            lo: self.lo,
            spikes: &mut self.spikes,
            received: &mut self.touched,
        });
        self.updates += states.len() as u64;
    }

    /// Find the first neuron whose state at step `t` is beyond the bound (its index in
    /// [`Self::runaway`]), or none: after a step whose updates or folded inputs may have left
    /// one (their sum of anchor magnitudes is only a trigger), and after a change of bias.
    #[cold]
    pub fn find_runaway(&mut self, kind: &PopulationKind, t: u32) {
        let first = match (kind, &self.clocked) {
            (PopulationKind::Clocked { model, .. }, Some(states)) => {
                states.find_runaway(model.state_bound())
            }
            (PopulationKind::Neurons { dynamics, .. }, _) => self
                .slots
                .iter()
                .position(|slot| dynamics.out_of_bounds_at(&slot.anchor, t))
                .map(|i| i as u32),
            _ => None,
        };
        self.runaway = first;
    }

    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        dynamics: Option<&Dynamics>,
        t: u32,
        net: &CompiledNetwork,
        bundles: &[Bundle],
        tables: &RunTables,
        rank: usize,
    ) {
        let (into_inh, row_splits) = (&tables.into_inh, &tables.row_splits);
        let whole = self.lo == 0 && self.hi() == net.populations[self.pop].size;
        let (lo, hi) = (self.lo, self.hi());
        // The rows of a step's spikes lie anywhere in memory, and a part reads only its own
        // stretch of each: short streams whose first lines wait for memory one after the other.
        // Asking for the first lines of all of them up front overlaps those waits.
        let pop = self.pop;
        let stretches = || {
            bundles.iter().filter_map(move |b| {
                let pr = &net.projections[b.projection as usize];
                // Dense rows and kernels keep no target lists to prefetch.
                let listed = matches!(
                    tables.weights(net, b.projection as usize),
                    Weights::Constant(_)
                        | Weights::PerSynapse(_)
                        | Weights::PerSynapseF64(_)
                        | Weights::PerSynapseI8(_)
                );
                if pr.target != pop || !listed {
                    return None;
                }
                let splits = &row_splits[b.projection as usize];
                let (start, end) = known_stretch(b, pr, splits, whole, rank)?;
                Some((&pr.csr.targets, start, end))
            })
        };
        for (targets, start, end) in stretches() {
            for k in (start..end.min(start + PREFETCH_TARGETS)).step_by(16) {
                prefetch(&targets[k]);
            }
        }
        // Folding then reads its targets' records at random; ask for those of the first
        // targets of each stretch too (the later ones are asked for on the way).
        if self.fold {
            for (targets, start, end) in stretches() {
                for &n in &targets[start..end.min(start + FOLD_PREFETCH_AHEAD)] {
                    if let Some(slot) = self.slots.get(n.wrapping_sub(lo) as usize) {
                        prefetch(slot);
                    }
                }
            }
        }
        for b in bundles {
            let pr = &net.projections[b.projection as usize];
            if pr.target != self.pop {
                continue;
            }
            let r = usize::from(into_inh[b.projection as usize]);
            let (first, last) = (b.lo as usize, b.hi as usize);
            let weights = tables.weights(net, b.projection as usize);
            match weights {
                Weights::DenseRows(w) => {
                    self.deliver_row(dynamics, t, r, &w[first..last][lo as usize..hi as usize]);
                    continue;
                }
                Weights::DenseRowsI8(w) => {
                    let (lo, hi) = (lo as usize, hi as usize);
                    let (row, scales) = (&w.rows[first..last][lo..hi], &w.scales[lo..hi]);
                    self.deliver_scaled_row(dynamics, t, r, row, scales);
                    continue;
                }
                _ => {}
            }
            if let Weights::Kernel(kernel) = weights {
                self.deliver_kernel(kernel, b.source, dynamics, t, r);
                continue;
            }
            let all = &pr.csr.targets[first..last];
            // A bundle's targets ascend, so this part's are one contiguous run.
            let (a, z) = match known_stretch(b, pr, &row_splits[b.projection as usize], whole, rank)
            {
                Some((start, end)) => (start - first, end - first),
                None => {
                    let size = net.populations[self.pop].size;
                    (lower_bound(all, lo, size), lower_bound(all, hi, size))
                }
            };
            let targets = &all[a..z];
            if self.fold {
                match weights {
                    Weights::Constant(w) => {
                        self.fold_listed(dynamics, t, r, targets, std::iter::repeat(*w))
                    }
                    Weights::PerSynapse(ws) => {
                        let weights = ws[first + a..first + z].iter().map(|&w| f64::from(w));
                        self.fold_listed(dynamics, t, r, targets, weights)
                    }
                    Weights::PerSynapseF64(ws) => {
                        let weights = ws[first + a..first + z].iter().copied();
                        self.fold_listed(dynamics, t, r, targets, weights)
                    }
                    Weights::PerSynapseI8(ws) => {
                        let weights = ws.weights(first + a..first + z, targets);
                        self.fold_listed(dynamics, t, r, targets, weights)
                    }
                    Weights::DenseRows(_) | Weights::DenseRowsI8(_) | Weights::Kernel(_) => {
                        unreachable!("handled above")
                    }
                }
                continue;
            }
            debug_assert!(!self.dense_sums, "dense sums take rows and kernels only");
            let touched = &mut self.touched;
            let listed = (targets, lo, first + a..first + z);
            if self.direct {
                let inputs = &mut direct_inputs(&mut self.clocked);
                accumulate_listed::<true, _>(inputs, r, touched, listed, weights);
            } else if self.all_touched {
                let inputs = &mut self.dense_inputs;
                accumulate_listed::<false, _>(inputs, r, touched, listed, weights);
            } else {
                let slots = &mut self.slots[..];
                accumulate_listed::<true, _>(slots, r, touched, listed, weights);
            }
        }
    }

    /// Deliver one dense row (this part's stretch of it) into receptor `r`.
    #[inline(always)]
    fn deliver_row<W: Copy + Into<f64>>(
        &mut self,
        dynamics: Option<&Dynamics>,
        t: u32,
        r: usize,
        row: &[W],
    ) {
        if self.fold {
            let weights = row.iter().map(|&w| w.into());
            let dynamics = dynamics.expect(FOLDED_HAVE_DYNAMICS);
            self.fold_inputs(dynamics, t, r, 0.., std::iter::empty(), weights);
        } else if self.direct {
            let inputs = &mut direct_inputs(&mut self.clocked);
            accumulate_row::<true, _, _>(inputs, r, &mut self.touched, row);
        } else if self.all_touched {
            accumulate_row::<false, _, _>(&mut self.dense_inputs, r, &mut self.touched, row);
        } else if self.dense_sums {
            let sums = &mut self.dense_inputs.exc[..row.len()];
            for (sum, &w) in sums.iter_mut().zip(row) {
                *sum += w.into();
            }
            crate::network::kernel::mark_run(&mut self.touched, 0, row.len());
        } else {
            accumulate_row::<true, _, _>(&mut self.slots[..], r, &mut self.touched, row);
        }
    }

    /// Deliver one row of whole numbers, each times its target's scale, into receptor `r`.
    #[inline(always)]
    fn deliver_scaled_row(
        &mut self,
        dynamics: Option<&Dynamics>,
        t: u32,
        r: usize,
        row: &[i8],
        scales: &[f32],
    ) {
        let weights = row
            .iter()
            .zip(scales)
            .map(|(&q, &s)| f64::from(q) * f64::from(s));
        if self.fold {
            let dynamics = dynamics.expect(FOLDED_HAVE_DYNAMICS);
            self.fold_inputs(dynamics, t, r, 0.., std::iter::empty(), weights);
        } else if self.direct {
            let (mut inputs, touched) = (direct_inputs(&mut self.clocked), &mut self.touched);
            for (i, w) in weights.enumerate() {
                inputs.add(i, r, w);
                touched[i >> 6] |= 1 << (i & 63);
            }
        } else if self.all_touched {
            let dense = &mut self.dense_inputs;
            weights.enumerate().for_each(|(i, w)| dense.add(i, r, w));
        } else if self.dense_sums {
            let sums = &mut self.dense_inputs.exc[..row.len()];
            for (sum, w) in sums.iter_mut().zip(weights) {
                *sum += w;
            }
            crate::network::kernel::mark_run(&mut self.touched, 0, row.len());
        } else {
            let (slots, touched) = (&mut self.slots[..], &mut self.touched);
            for (i, w) in weights.enumerate() {
                slots.add(i, r, w);
                touched[i >> 6] |= 1 << (i & 63);
            }
        }
    }

    /// Deliver the kernel of a spike of `source` to this part's neurons in its window, summed
    /// as they are computed (folded inputs go through the part's scratch first).
    fn deliver_kernel(
        &mut self,
        kernel: &Kernel,
        source: u32,
        dynamics: Option<&Dynamics>,
        t: u32,
        r: usize,
    ) {
        let (mut targets, mut weights, mut scratch) = std::mem::take(&mut self.computed);
        let (lo, hi) = (self.lo, self.hi());
        if self.fold {
            targets.clear();
            weights.clear();
            kernel.deliver(source, (lo, hi), &mut scratch, |n, w| {
                targets.push(n);
                weights.push(w);
            });
            self.fold_listed(dynamics, t, r, &targets, weights.iter().copied());
        } else if self.direct {
            let (mut inputs, touched) = (direct_inputs(&mut self.clocked), &mut self.touched);
            kernel.deliver(source, (lo, hi), &mut scratch, |n, w| {
                let i = (n - lo) as usize;
                inputs.add(i, r, w);
                touched[i >> 6] |= 1 << (i & 63);
            });
        } else if self.all_touched {
            // The same adds, in the same order, as a stored row's.
            let dense = &mut self.dense_inputs;
            kernel.deliver(source, (lo, hi), &mut scratch, |n, w| {
                dense.add((n - lo) as usize, r, w)
            });
        } else if self.dense_sums && lo == 0 && hi == kernel.target_size() {
            let sums = &mut self.dense_inputs.exc;
            kernel.deliver_marked(source, sums, &mut self.touched, &mut scratch);
        } else if self.dense_sums {
            let (sums, touched) = (&mut self.dense_inputs.exc, &mut self.touched);
            kernel.deliver(source, (lo, hi), &mut scratch, |n, w| {
                let i = (n - lo) as usize;
                sums[i] += w;
                touched[i >> 6] |= 1 << (i & 63);
            });
        } else {
            let (slots, touched) = (&mut self.slots[..], &mut self.touched);
            // A window's targets lie close together: their touched bits are gathered per
            // 64-neuron word and written once per word, not once per target.
            let (mut word, mut bits) = (usize::MAX, 0u64);
            kernel.deliver(source, (lo, hi), &mut scratch, |n, w| {
                let i = (n - lo) as usize;
                slots.add(i, r, w);
                if i >> 6 != word {
                    if word != usize::MAX {
                        touched[word] |= bits;
                    }
                    (word, bits) = (i >> 6, 0);
                }
                bits |= 1 << (i & 63);
            });
            if word != usize::MAX {
                touched[word] |= bits;
            }
        }
        self.computed = (targets, weights, scratch);
    }

    /// Fold inputs `weights` into the receptor `receptor` of `targets` (population indices
    /// in this part), asking for the records a few synapses ahead early.
    #[inline(always)]
    fn fold_listed(
        &mut self,
        dynamics: Option<&Dynamics>,
        t: u32,
        receptor: usize,
        targets: &[u32],
        weights: impl Iterator<Item = f64>,
    ) {
        let lo = self.lo;
        let local = targets.iter().map(move |&n| (n - lo) as usize);
        let ahead = targets
            .iter()
            .skip(FOLD_PREFETCH_AHEAD)
            .map(move |&n| (n - lo) as usize);
        let dynamics = dynamics.expect(FOLDED_HAVE_DYNAMICS);
        self.fold_inputs(dynamics, t, receptor, local, ahead, weights);
    }

    /// Fold inputs `weights` into the receptor `receptor` of local neurons `targets` (see
    /// [`Self::fold`]). Not inlined into the step: in a function of its own, the loop keeps
    /// its pointers and bounds in registers.
    #[inline(never)]
    fn fold_inputs(
        &mut self,
        dynamics: &Dynamics,
        t: u32,
        receptor: usize,
        targets: impl Iterator<Item = usize>,
        ahead: impl Iterator<Item = usize>,
        weights: impl Iterator<Item = f64>,
    ) {
        let (slots, marked, n) = (&mut self.slots[..], &mut self.marked[..], self.n_marked);
        let (n_marked, moves, active, magnitudes) = if receptor == 0 {
            fold_each::<0>(dynamics, t, slots, marked, n, targets, ahead, weights)
        } else {
            fold_each::<1>(dynamics, t, slots, marked, n, targets, ahead, weights)
        };
        self.n_marked = n_marked;
        self.moves += moves;
        self.active += active;
        self.magnitudes += magnitudes;
    }

    /// Event engine, folded inputs: check the neurons whose headroom inputs used up in this
    /// step, and predict their crossings again.
    fn check_marked(&mut self, dynamics: &Dynamics, t: u32) {
        let marked = std::mem::take(&mut self.marked);
        let n = std::mem::take(&mut self.n_marked);
        // Each check reads a propagator entry that depends on the neuron's record (still in
        // cache from delivery): ask for all entries before computing, so that their waits for
        // memory overlap.
        for &i in &marked[..n] {
            let slot = self.slots.get(i as usize);
            if let Some(p) = slot.and_then(|s| dynamics.propagators_of(&s.anchor, t)) {
                prefetch(p);
            }
        }
        self.updates += n as u64;
        self.check_batch(dynamics, t, &marked[..n]);
        self.marked = marked;
    }

    /// Event engine: update the neurons that received input and predict their crossings.
    fn update_touched(&mut self, dynamics: &Dynamics, t: u32) {
        with_exact_model!(dynamics.params.model, M => self.update_touched_as::<M>(dynamics, t))
    }

    /// [`Self::update_touched`] for the model coded `M`.
    fn update_touched_as<M: ExactModel>(&mut self, dynamics: &Dynamics, t: u32) {
        let predict = self.can_self_cross;
        if self.all_touched && !predict {
            self.update_all::<M>(dynamics, t);
            return;
        }
        let mut updates = 0u64;
        let mut magnitudes = 0.0;
        // Two passes: first update the neurons with input and predict their crossings, then
        // queue the checks. The branches of queueing then do not wait for the arithmetic of
        // the updates, and updates of different neurons overlap.
        let mut predicted = std::mem::take(&mut self.predicted);
        let n = self.slots.len();
        for word in 0..self.touched.len() {
            let mut bits = if self.all_touched {
                u64::MAX >> (64 * (word + 1)).saturating_sub(n)
            } else {
                let bits = std::mem::take(&mut self.touched[word]);
                self.active += u64::from(bits.count_ones());
                bits
            };
            while bits != 0 {
                let i = word * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let slot = &mut self.slots[i];
                slot.active = t;
                let [in_exc, in_inh] = take_input(
                    (self.all_touched, self.dense_sums),
                    &mut self.dense_inputs,
                    slot,
                    i,
                );
                if self.all_touched {
                    self.touched[word] |= received([in_exc, in_inh]) << (i & 63);
                }
                updates += 1;
                let spiked =
                    dynamics.update_with_input_as::<M>(&mut slot.anchor, t, in_exc, in_inh);
                magnitudes += M::updated_magnitude(&slot.anchor);
                if spiked {
                    self.spikes.push(self.lo + i as u32);
                }
                if !predict {
                    continue;
                }
                if !spiked && slot.wake > t {
                    // Until the pending check the potential stays `headroom` below threshold;
                    // if this input cannot raise it by more, the check still comes in time.
                    let rise = dynamics.max_rise(in_exc, in_inh);
                    if rise <= slot.headroom {
                        slot.headroom -= rise;
                        continue;
                    }
                }
                let prediction = dynamics.predict_as::<M>(&slot.anchor, t);
                slot.headroom = prediction.headroom;
                predicted.push((i as u32, prediction.next.unwrap_or(u32::MAX)));
            }
        }
        for &(i, next) in &predicted {
            self.set_wake(i as usize, t, (next != u32::MAX).then_some(next));
        }
        predicted.clear();
        self.predicted = predicted;
        self.updates += updates;
        self.magnitudes += magnitudes;
    }

    /// Every neuron, in order, with nothing to predict (all touched): a plain loop over both
    /// arrays, for the model coded `M`.
    fn update_all<M: ExactModel>(&mut self, dynamics: &Dynamics, t: u32) {
        let lo = self.lo;
        let DenseInputs { exc, inh } = &mut self.dense_inputs;
        let mut magnitudes = 0.0;
        // 64 neurons per word of `touched`: their bits gather in a register.
        let words = self
            .slots
            .chunks_mut(64)
            .zip(exc.chunks_mut(64))
            .zip(inh.chunks_mut(64));
        for (w, ((slots, exc), inh)) in words.enumerate() {
            let mut bits = 0u64;
            for (b, ((slot, exc), inh)) in slots.iter_mut().zip(exc).zip(inh).enumerate() {
                let in_exc = std::mem::replace(exc, -0.0);
                // Delta models have one receptor: their inhibitory accumulators stay at -0.0.
                let in_inh = if M::MODEL == Model::LifExp {
                    std::mem::replace(inh, -0.0)
                } else {
                    -0.0
                };
                bits |= received([in_exc, in_inh]) << b;
                if dynamics.update_with_input_as::<M>(&mut slot.anchor, t, in_exc, in_inh) {
                    self.spikes.push(lo + (w * 64 + b) as u32);
                }
                magnitudes += M::updated_magnitude(&slot.anchor);
            }
            self.touched[w] |= bits;
        }
        self.updates += self.slots.len() as u64;
        self.magnitudes += magnitudes;
    }

    /// Event engine: threshold checks of neurons whose predicted crossing falls on this step.
    fn run_checks(&mut self, dynamics: &Dynamics, t: u32) {
        let mut due = self.wakes.take(t);
        // Stale entries (checked again, or updated by input, earlier in this step, which moved
        // the check; or queued for a check since replaced) are dropped without branches.
        // A neuron queued twice for this step is kept once: its pending check is cleared as
        // it is kept (the batch sets the next one).
        let mut live = 0;
        for k in 0..due.len() {
            let i = due[k];
            due[live] = i;
            let slot = &mut self.slots[i as usize];
            let keep = slot.wake == t;
            slot.wake = if keep { u32::MAX } else { slot.wake };
            live += usize::from(keep);
            // The record lies anywhere in the part and is now on its way; its check will read
            // a propagator entry that depends on it: ask for that too.
            if let Some(p) = dynamics.propagators_of(&slot.anchor, t) {
                prefetch(p);
            }
        }
        due.truncate(live);
        self.checks += live as u64;
        self.check_batch(dynamics, t, &due);
        due.clear();
        self.wakes.give_back(t, due);
    }

    /// Check the threshold of local neurons `batch` at step `t` (each spikes or not) and
    /// predict their next possible crossings. Two passes: first the arithmetic of all checks,
    /// then the spikes and the queueing of the next checks, whose branches then do not wait
    /// for the arithmetic, so checks of different neurons overlap.
    fn check_batch(&mut self, dynamics: &Dynamics, t: u32, batch: &[u32]) {
        with_exact_model!(dynamics.params.model, M => self.check_batch_as::<M>(dynamics, t, batch))
    }

    /// [`Self::check_batch`] for the model coded `M`.
    fn check_batch_as<M: ExactModel>(&mut self, dynamics: &Dynamics, t: u32, batch: &[u32]) {
        let mut checked = std::mem::take(&mut self.checked);
        checked.extend(batch.iter().map(|&i| {
            let anchor = &mut self.slots[i as usize].anchor;
            (i, dynamics.check_and_predict_as::<M>(anchor, t))
        }));
        for &(i, outcome) in &checked {
            let i = i as usize;
            match outcome {
                Checked::Below(prediction) => {
                    self.slots[i].headroom = prediction.headroom;
                    self.replace_wake(i, t, prediction.next);
                }
                Checked::Spiked => {
                    self.spikes.push(self.lo + i as u32);
                    self.schedule_as::<M>(dynamics, i, t);
                }
                Checked::Refractory => self.schedule_as::<M>(dynamics, i, t),
            }
        }
        checked.clear();
        self.checked = checked;
    }

    fn update_clock(&mut self, dynamics: &Dynamics, t: u32) {
        // Records sum the inputs of delta models; folded inputs mark their records on arrival.
        let records = !self.all_touched && !self.fold;
        let lif_exp = dynamics.params.model == Model::LifExp;
        let mut magnitudes = 0.0;
        if records {
            let marked = self.touched.iter().map(|w| u64::from(w.count_ones()));
            self.active += marked.sum::<u64>();
        }
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            let with_input = records && self.touched[i >> 6] & (1 << (i & 63)) != 0;
            if with_input {
                slot.active = t;
            }
            let spiked = if self.fold || records && !with_input {
                dynamics.check_without_input(&mut slot.anchor, t)
            } else {
                let [in_exc, in_inh] = take_input(
                    (self.all_touched, self.dense_sums),
                    &mut self.dense_inputs,
                    slot,
                    i,
                );
                if self.all_touched {
                    self.touched[i >> 6] |= received([in_exc, in_inh]) << (i & 63);
                }
                let spiked = dynamics.update_with_input(&mut slot.anchor, t, in_exc, in_inh);
                magnitudes += if lif_exp {
                    crate::model::lif_exp::LifExp::updated_magnitude(&slot.anchor)
                } else {
                    crate::model::r#if::If::updated_magnitude(&slot.anchor)
                };
                spiked
            };
            if spiked {
                self.spikes.push(self.lo + i as u32);
            }
        }
        self.magnitudes += magnitudes;
        if !self.all_touched {
            self.touched.fill(0);
        }
        self.n_marked = 0;
        self.updates += self.slots.len() as u64;
    }

    /// Predict local neuron `i`'s next possible threshold crossing and queue a check there.
    #[inline]
    pub fn schedule(&mut self, dynamics: &Dynamics, i: usize, t: u32) {
        with_exact_model!(dynamics.params.model, M => self.schedule_as::<M>(dynamics, i, t))
    }

    /// [`Self::schedule`] for the model coded `M`.
    #[inline]
    fn schedule_as<M: ExactModel>(&mut self, dynamics: &Dynamics, i: usize, t: u32) {
        let prediction = if self.can_self_cross {
            dynamics.predict_as::<M>(&self.slots[i].anchor, t)
        } else {
            Prediction::NEVER
        };
        self.slots[i].headroom = prediction.headroom;
        self.set_wake(i, t, prediction.next);
    }

    /// Record and queue local neuron `i`'s next threshold check (none for `None`), unless a
    /// check is already pending at or before it: that one still guards the neuron (a check
    /// where no crossing happens is harmless), and keeping it saves a queue insertion. Suits
    /// neurons updated often, whose predictions change at every update.
    #[inline]
    fn set_wake(&mut self, i: usize, t: u32, next: Option<u32>) {
        let w = self.slots[i].wake;
        if w > t && w <= next.unwrap_or(u32::MAX) {
            return;
        }
        self.replace_wake(i, t, next);
    }

    /// Record and queue local neuron `i`'s next threshold check (none for `None`), replacing
    /// any pending one (its queue entry goes stale). Suits a check just done: an earlier
    /// pending check would only repeat it, at more cost than a queue insertion.
    #[inline]
    fn replace_wake(&mut self, i: usize, t: u32, next: Option<u32>) {
        let next = next.unwrap_or(u32::MAX);
        let w = &mut self.slots[i].wake;
        if *w != next {
            *w = next;
            if next != u32::MAX {
                self.wakes.push(next, t, i as u32);
            }
        }
    }
}

/// Whether a sum of magnitudes of a population's states is beyond its bound (or NaN).
#[inline]
#[allow(clippy::neg_cmp_op_on_partial_ord)] // the negation is what makes NaN beyond
fn beyond_bound(kind: &PopulationKind, magnitudes: f64) -> bool {
    match kind {
        PopulationKind::Neurons { dynamics, .. } => dynamics.beyond_bound(magnitudes),
        PopulationKind::Clocked { model, .. } => !(magnitudes <= model.state_bound()),
        _ => false,
    }
}

/// Folded inputs exist only in `lif_exp` parts, which have dynamics.
const FOLDED_HAVE_DYNAMICS: &str = "folded parts are of an exact model";

/// Delivery with folded inputs asks for the record of the target this many synapses ahead: the
/// records are read at random, and each fold waits for its record before it can compute.
const FOLD_PREFETCH_AHEAD: usize = 8;

/// Targets of each row whose cache lines are requested before delivery starts.
const PREFETCH_TARGETS: usize = 256;

/// Ask the memory system to bring the cache line holding `x` closer (a hint; no effect on
/// results).
#[inline(always)]
fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and does not change memory; the address is valid.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (x as *const T).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// The synapses `start..end` of bundle `b` whose targets lie in part `rank` of the target
/// population, when known without reading the row: the whole bundle when the part is the whole
/// population, or the precomputed `splits` of a whole row. `None`: search the row.
#[inline(always)]
fn known_stretch(
    b: &Bundle,
    pr: &crate::network::compiled::Projection,
    splits: &[u32],
    whole: bool,
    rank: usize,
) -> Option<(usize, usize)> {
    if whole {
        Some((b.lo as usize, b.hi as usize))
    } else if b.whole_row && !splits.is_empty() {
        let per_row = splits.len() / (pr.csr.row_ptr.len() - 1);
        let at = b.source as usize * per_row + rank;
        Some((splits[at] as usize, splits[at + 1] as usize))
    } else {
        None
    }
}

/// First index of ascending `targets` (drawn from `0..size`) whose value is `>= bound`.
///
/// A binary search would touch a cache line per probe of a row that is not in cache; the
/// targets of a row are spread over the population, so the index is guessed in proportion
/// and the search gallops from there, touching one or two lines.
fn lower_bound(targets: &[u32], bound: u32, size: u32) -> usize {
    let n = targets.len();
    if n == 0 || bound == 0 {
        return 0;
    }
    let guess = ((n as u64 * u64::from(bound)) / u64::from(size.max(1))) as usize;
    let guess = guess.min(n - 1);
    // Gallop to a bracket [lo, hi) with targets[lo - 1] < bound <= targets[hi] (virtually).
    let (mut lo, mut hi);
    if targets[guess] < bound {
        let mut step = 1;
        lo = guess + 1;
        hi = lo;
        while hi < n && targets[hi] < bound {
            lo = hi + 1;
            hi = (hi + step).min(n);
            step *= 2;
        }
        hi = hi.min(n);
    } else {
        let mut step = 1;
        hi = guess;
        lo = hi;
        while lo > 0 && targets[lo - 1] >= bound {
            hi = lo - 1;
            lo = lo.saturating_sub(step);
            step *= 2;
        }
    }
    lo + targets[lo..hi].partition_point(|&t| t < bound)
}

/// Fold inputs `weights` into receptor `RECEPTOR` of local neurons `targets` (see
/// [`Part::fold`]), asking for the records of targets `ahead` on the way. If the most an input
/// can raise the potential before the neuron's pending check uses up its headroom, the neuron
/// is marked for a check: appended to `marked[..n_marked]`. Returns the new `n_marked`, the
/// number of anchors moved, the number of neurons newly marked active, and the sum of the
/// magnitudes of the potentials and currents the inputs changed (see [`Part::magnitudes`]). (All state in locals, so that the loop keeps it in registers.)
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn fold_each<const RECEPTOR: usize>(
    dynamics: &Dynamics,
    t: u32,
    slots: &mut [Slot],
    marked: &mut [u32],
    mut n_marked: usize,
    targets: impl Iterator<Item = usize>,
    mut ahead: impl Iterator<Item = usize>,
    weights: impl Iterator<Item = f64>,
) -> (usize, u64, u64, f64) {
    let (mut moves, mut active, mut magnitudes) = (0u64, 0u64, 0.0);
    for (i, w) in targets.zip(weights) {
        if let Some(slot) = ahead.next().and_then(|j| slots.get(j)) {
            prefetch(slot);
        }
        let slot = &mut slots[i];
        // Pending checks lie at or after this step (`u32::MAX`, none, wraps to a rise up to
        // the peak).
        let rise = dynamics.max_rise_before::<RECEPTOR>(w, slot.wake.wrapping_sub(t));
        moves += u64::from(dynamics.fold_input::<RECEPTOR>(&mut slot.anchor, t, w));
        let current = if RECEPTOR == 0 {
            slot.anchor.i_exc
        } else {
            slot.anchor.i_inh
        };
        magnitudes += slot.anchor.v.abs() + current.abs();
        active += mark_active(slot, t);
        let headroom = slot.headroom;
        let left = headroom - rise;
        slot.headroom = left;
        // Without a branch: the entry past the last mark is always written, and kept when
        // this input used up the headroom.
        marked[n_marked] = i as u32;
        n_marked += usize::from((headroom >= 0.0) & (left < 0.0));
    }
    (n_marked, moves, active, magnitudes)
}

/// Whether dense accumulators that started the step at -0.0 received an input event.
#[inline(always)]
fn received(input: [f64; 2]) -> u64 {
    const NEGATIVE_ZERO: u64 = 0x8000_0000_0000_0000;
    u64::from((input[0].to_bits() != NEGATIVE_ZERO) | (input[1].to_bits() != NEGATIVE_ZERO))
}

/// Mark `slot` active in step `t`: 1 if it was not yet, else 0.
#[inline(always)]
fn mark_active(slot: &mut Slot, t: u32) -> u64 {
    let new = u64::from(slot.active != t);
    slot.active = t;
    new
}

/// Per-neuron input accumulators: the records (sparse activity) or a dense array.
trait Accumulators {
    /// Add `w` to neuron `i`'s input for `receptor`.
    fn add(&mut self, i: usize, receptor: usize, w: f64);
}

impl Accumulators for [Slot] {
    #[inline(always)]
    fn add(&mut self, i: usize, receptor: usize, w: f64) {
        debug_assert_eq!(receptor, 0, "records sum the inputs of delta models only");
        self[i].input += w;
    }
}

/// Dense input accumulators of a part (see [`Part::dense_inputs`]). They start each step at
/// -0.0: in IEEE arithmetic `-0.0 + x` is `x` for every `x`, and a sum is -0.0 only if every
/// term was, so an accumulator still at -0.0 received no input event (a synaptic weight of
/// exactly -0.0 aside), while inputs that cancel sum to +0.0 and count as received.
#[derive(Debug, Clone, Default)]
pub(super) struct DenseInputs {
    exc: Vec<f64>,
    inh: Vec<f64>,
}

impl DenseInputs {
    /// Neuron `i`'s inputs, leaving -0.0.
    #[inline(always)]
    fn take(&mut self, i: usize) -> [f64; 2] {
        [
            std::mem::replace(&mut self.exc[i], -0.0),
            std::mem::replace(&mut self.inh[i], -0.0),
        ]
    }
}

impl Accumulators for DenseInputs {
    #[inline(always)]
    fn add(&mut self, i: usize, receptor: usize, w: f64) {
        if receptor == 0 {
            self.exc[i] += w;
        } else {
            self.inh[i] += w;
        }
    }
}

impl Accumulators for DirectInputs<'_> {
    #[inline(always)]
    fn add(&mut self, i: usize, receptor: usize, w: f64) {
        DirectInputs::add(self, i, receptor, w);
    }
}

/// The state fields a direct part's inputs are added into (see [`Part::direct`]).
fn direct_inputs(clocked: &mut Option<Box<dyn ClockedStates>>) -> DirectInputs<'_> {
    clocked
        .as_mut()
        .and_then(|states| states.direct_inputs())
        .expect("direct parts hold clocked states with direct inputs")
}

/// Neuron `i`'s summed input of the step, leaving zeros: from the dense arrays when the part
/// uses them (`all_touched`, or `dense_sums`), else from its record.
#[inline(always)]
fn take_input(
    (all_touched, dense_sums): (bool, bool),
    dense: &mut DenseInputs,
    slot: &mut Slot,
    i: usize,
) -> [f64; 2] {
    // (With dense inputs the caller marks the neuron's `touched` bit by `received`.)
    if all_touched {
        dense.take(i)
    } else if dense_sums {
        // Dense sums: as a record's, from +0.0.
        [std::mem::replace(&mut dense.exc[i], 0.0), 0.0]
    } else {
        [std::mem::take(&mut slot.input), 0.0]
    }
}

/// The delivery inner loop: add each weight to its target's accumulator (targets are
/// population indices, `lo` the part's first) and, if `MARK`, mark the target as touched.
#[inline(always)]
fn accumulate<const MARK: bool, A: Accumulators + ?Sized>(
    acc: &mut A,
    receptor: usize,
    touched: &mut [u64],
    targets: &[u32],
    lo: u32,
    weights: impl Iterator<Item = f64>,
) {
    for (&n, w) in targets.iter().zip(weights) {
        let i = (n - lo) as usize;
        acc.add(i, receptor, w);
        if MARK {
            touched[i >> 6] |= 1 << (i & 63);
        }
    }
}

/// The delivery of a bundle of listed synapses: `targets` (population indices, `lo` the
/// part's first) are the synapses `range` of the projection, whose `weights` are added.
#[inline(always)]
fn accumulate_listed<const MARK: bool, A: Accumulators + ?Sized>(
    acc: &mut A,
    receptor: usize,
    touched: &mut [u64],
    (targets, lo, range): (&[u32], u32, std::ops::Range<usize>),
    weights: &Weights,
) {
    match weights {
        Weights::Constant(w) => {
            accumulate::<MARK, _>(acc, receptor, touched, targets, lo, std::iter::repeat(*w))
        }
        Weights::PerSynapse(ws) => {
            let weights = ws[range].iter().map(|&w| f64::from(w));
            accumulate::<MARK, _>(acc, receptor, touched, targets, lo, weights)
        }
        Weights::PerSynapseF64(ws) => {
            let weights = ws[range].iter().copied();
            accumulate::<MARK, _>(acc, receptor, touched, targets, lo, weights)
        }
        Weights::PerSynapseI8(ws) => {
            let weights = ws.weights(range, targets);
            accumulate::<MARK, _>(acc, receptor, touched, targets, lo, weights)
        }
        Weights::DenseRows(_) | Weights::DenseRowsI8(_) | Weights::Kernel(_) => {
            unreachable!("rows and kernels are delivered by their own loops")
        }
    }
}

/// The delivery loop of a dense projection: one row of weights onto the part's neurons.
#[inline(always)]
fn accumulate_row<const MARK: bool, A: Accumulators + ?Sized, W: Copy + Into<f64>>(
    acc: &mut A,
    receptor: usize,
    touched: &mut [u64],
    row: &[W],
) {
    for (i, &w) in row.iter().enumerate() {
        acc.add(i, receptor, w.into());
        if MARK {
            touched[i >> 6] |= 1 << (i & 63);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::lower_bound;

    #[test]
    fn lower_bound_agrees_with_binary_search() {
        let rows: [&[u32]; 5] = [
            &[],
            &[3],
            &[0, 0, 1, 5, 5, 5, 9],
            &[7, 8, 9, 9, 9, 9, 9, 9],
            &[0, 1, 2, 3],
        ];
        for row in rows {
            for bound in 0..12 {
                assert_eq!(
                    lower_bound(row, bound, 10),
                    row.partition_point(|&t| t < bound),
                    "{row:?} {bound}"
                );
            }
        }
    }
}
