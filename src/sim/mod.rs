//! The engines: run a [`CompiledNetwork`] step by step.
//!
//! One [`Simulation`] holds the runtime state; [`Engine`] selects how neurons are updated. Each
//! step does, in this order (see [`crate::neuron`] for the time semantics):
//!
//! 1. external input: Poisson drives add to the input accumulators, source populations spike;
//! 2. delivery: the spike bundles arriving at this step (a ring buffer indexed by arrival step)
//!    are expanded over their CSR rows into the accumulators, and each target's bit is set in
//!    its population's `touched` bitmap;
//! 3. update: neurons with input (a set bit, even if their inputs summed to zero) are advanced,
//!    get their input and are checked against threshold. The clock engine then checks every other neuron too; the event engine only
//!    those whose predicted threshold crossing ([`crate::neuron::Dynamics::next_possible_crossing`])
//!    falls on this step;
//! 4. current switches of this step, state traces;
//! 5. emission: this step's spikes are sorted, recorded, and one bundle per (spike, projection,
//!    delay) is pushed into the ring at its arrival step.
//!
//! Steps 1, 2, 4 and 5 are shared by both engines. Accumulation order is fixed (bundles in
//! emission order, neurons ascending), so both engines compute bit-identical potentials.
//!
//! Memory layout: per population, one array of cache-line records (anchor + this step's summed
//! input) and one bitmap of touched neurons. Delivery adds into a neuron's record and the update
//! then reads it while it is still in cache: one cache line per active neuron per step, which is
//! what bounds a sparse network whose state does not fit in L2. (Separate arrays per field
//! cost one line per field per active neuron.)

mod input;
mod ring;

pub use input::PoissonField;

use crate::network::compiled::*;
use crate::neuron::{Anchor, Dynamics, Model};
use crate::rng::Purpose;
use ring::{Bundle, SpikeRing, WakeQueue};

/// How neurons are updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// Only neurons with input or a possible threshold crossing (default).
    #[default]
    Event,
    /// Every neuron every step (the reference).
    Clock,
}

impl Engine {
    /// Name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Event => "event",
            Engine::Clock => "clock",
        }
    }
}

/// Integer counts of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Spikes emitted per population.
    pub spikes: Vec<u64>,
    /// Synaptic events (spike delivered over one synapse) per projection.
    pub synaptic_events: Vec<u64>,
    /// Neuron state evaluations per population (input updates and threshold checks).
    pub neuron_updates: Vec<u64>,
    /// Of the updates, threshold checks without input (event engine wake-ups).
    pub threshold_checks: Vec<u64>,
    /// Input spikes of each independent Poisson drive.
    pub external_events: Vec<u64>,
    /// Per projection: multiply-accumulates made once at the start to turn analog values into
    /// constant currents (zero inputs skipped; 0 for other projections).
    pub current_macs: Vec<u64>,
}

/// One sample of a state trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceSample {
    /// Step.
    pub step: u32,
    /// Population index.
    pub population: u32,
    /// Neuron index.
    pub index: u32,
    /// Membrane potential [mV].
    pub v: f64,
    /// Excitatory current [mV].
    pub i_exc: f64,
    /// Inhibitory current [mV].
    pub i_inh: f64,
}

/// What a run recorded.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// Recorded spikes `(step, population, index)`, in step order, then population, then index.
    pub spikes: Vec<(u32, u32, u32)>,
    /// State samples.
    pub traces: Vec<TraceSample>,
    /// Per rate recorder: spike counts per bin.
    pub rate_bins: Vec<Vec<u64>>,
}

/// One neuron's runtime record: its anchor and the inputs summed in the current step
/// (`[excitatory, inhibitory]`; delta models use only the first). Aligned to a cache line, so
/// delivering to a neuron and then updating it touches one line.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Slot {
    anchor: Anchor,
    input: [f64; 2],
}

struct NeuronState {
    slots: Vec<Slot>,
    /// One bit per neuron: received at least one input this step.
    touched: Vec<u64>,
    /// Event engine: the step of each neuron's pending threshold check (`u32::MAX`: none).
    wake: Vec<u32>,
    /// False when no neuron of the population can ever reach threshold without input (no
    /// synaptic currents, no bias that lifts the resting potential to threshold, no current
    /// switches): the event engine then never predicts crossings for it.
    can_self_cross: bool,
}

enum Runtime {
    Neurons(NeuronState),
    Poisson(Box<PoissonField>),
    Replay { next: usize },
    Analog(AnalogInput),
}

/// Spike generation of an analog population under a spike encoding (nothing per step for the
/// current encoding, whose effect is folded into the targets' bias at the start).
struct AnalogInput {
    encoding: Encoding,
    /// Poisson: spike when a 32-bit uniform is below this (0: never drawn).
    thresholds: Vec<u32>,
    /// Regular: expected spikes per step and the accumulated phase.
    per_step: Vec<f64>,
    phase: Vec<f64>,
    streams: Vec<crate::rng::Stream>,
}

impl AnalogInput {
    fn new(
        values: &[f64],
        encoding: Encoding,
        max_rate_hz: f64,
        dt_ms: f64,
        seed: u64,
        pop: usize,
    ) -> Self {
        let per_step: Vec<f64> = values
            .iter()
            .map(|&v| v * max_rate_hz * dt_ms * 1e-3)
            .collect();
        let thresholds = per_step
            .iter()
            .map(|&l| {
                ((1.0 - (-l).exp()) * 4_294_967_296.0)
                    .round()
                    .min(f64::from(u32::MAX)) as u32
            })
            .collect();
        let streams = (0..values.len().div_ceil(crate::rng::BLOCK_SIZE))
            .map(|b| crate::rng::Stream::new(seed, Purpose::PoissonSource, pop as u64, b as u64))
            .collect();
        AnalogInput {
            encoding,
            thresholds,
            phase: vec![0.0; values.len()],
            per_step,
            streams,
        }
    }

    fn step(&mut self, out: &mut Vec<u32>) {
        match self.encoding {
            Encoding::Current => {}
            Encoding::Poisson => {
                for (b, rng) in self.streams.iter_mut().enumerate() {
                    let first = b * crate::rng::BLOCK_SIZE;
                    let end = (first + crate::rng::BLOCK_SIZE).min(self.thresholds.len());
                    for i in first..end {
                        let t = self.thresholds[i];
                        if t > 0 && rng.next_u32() < t {
                            out.push(i as u32);
                        }
                    }
                }
            }
            Encoding::Regular => {
                for (i, (phase, &rate)) in self.phase.iter_mut().zip(&self.per_step).enumerate() {
                    *phase += rate;
                    if *phase >= 1.0 {
                        *phase -= 1.0;
                        out.push(i as u32);
                    }
                }
            }
        }
    }
}

/// A network being simulated.
pub struct Simulation<'a> {
    net: &'a CompiledNetwork,
    engine: Engine,
    runtime: Vec<Runtime>,
    spikes_now: Vec<Vec<u32>>,
    outgoing: Vec<Vec<usize>>,
    into_inh: Vec<bool>,
    drives: Vec<PoissonField>,
    ring: SpikeRing,
    wakes: WakeQueue,
    next_current: usize,
    step: u32,
    /// Counts so far.
    pub counts: Counts,
    /// Recordings so far.
    pub recorded: Recorded,
}

impl<'a> Simulation<'a> {
    /// Prepare a simulation at step 0 with the network's initial state.
    pub fn new(net: &'a CompiledNetwork, engine: Engine) -> Self {
        Self::with_analog_input(net, engine, &[], 0)
    }

    /// Prepare a simulation whose analog populations take the given values instead of the
    /// network file's: `inputs` lists `(population index, values)`. `stream` selects the random
    /// streams of spike-encoded inputs (e.g. the sample index), so that each sample gets its own
    /// spike trains whatever the order in which samples are simulated.
    pub fn with_analog_input(
        net: &'a CompiledNetwork,
        engine: Engine,
        inputs: &[(usize, &[f64])],
        stream: u64,
    ) -> Self {
        // The values of each analog population (empty for the others).
        let analog_values: Vec<&[f64]> = net
            .populations
            .iter()
            .enumerate()
            .map(|(pi, p)| match &p.kind {
                PopulationKind::Analog { values, .. } => inputs
                    .iter()
                    .find(|(q, _)| *q == pi)
                    .map_or(&values[..], |(_, v)| {
                        assert_eq!(
                            v.len(),
                            values.len(),
                            "analog input size of population {pi}"
                        );
                        *v
                    }),
                _ => &[],
            })
            .collect();
        let runtime: Vec<Runtime> = net
            .populations
            .iter()
            .enumerate()
            .map(|(pi, p)| match &p.kind {
                PopulationKind::Neurons { initial, .. } => {
                    let n = p.size as usize;
                    Runtime::Neurons(NeuronState {
                        slots: initial
                            .iter()
                            .map(|&anchor| Slot {
                                anchor,
                                input: [0.0; 2],
                            })
                            .collect(),
                        touched: vec![0; n.div_ceil(64)],
                        wake: vec![u32::MAX; n],
                        can_self_cross: false, // set once the analog currents are known
                    })
                }
                PopulationKind::Poisson { rate_hz } => {
                    Runtime::Poisson(Box::new(PoissonField::new(
                        (0..p.size).collect(),
                        rate_hz * net.dt_ms * 1e-3,
                        true,
                        net.seed,
                        Purpose::PoissonSource,
                        pi as u64,
                    )))
                }
                PopulationKind::SpikeSource { .. } => Runtime::Replay { next: 0 },
                PopulationKind::Analog {
                    encoding,
                    max_rate_hz,
                    ..
                } => Runtime::Analog(AnalogInput::new(
                    analog_values[pi],
                    *encoding,
                    *max_rate_hz,
                    net.dt_ms,
                    net.seed.wrapping_add(stream),
                    pi,
                )),
            })
            .collect();
        let mut outgoing = vec![Vec::new(); net.populations.len()];
        for (j, pr) in net.projections.iter().enumerate() {
            outgoing[pr.source].push(j);
        }
        let into_inh = net
            .projections
            .iter()
            .map(|pr| pr.receptor == Receptor::Inh && is_lif_exp(&net.populations[pr.target]))
            .collect();
        let drives = net
            .drives
            .iter()
            .enumerate()
            .map(|(k, d)| {
                PoissonField::new(
                    d.neurons.clone(),
                    d.rate_hz * net.dt_ms * 1e-3,
                    false,
                    net.seed,
                    Purpose::PoissonDrive,
                    k as u64,
                )
            })
            .collect();
        let np = net.populations.len();
        let mut sim = Simulation {
            net,
            engine,
            runtime,
            spikes_now: vec![Vec::new(); np],
            outgoing,
            into_inh,
            drives,
            ring: SpikeRing::new(net.max_delay()),
            wakes: WakeQueue::new(),
            next_current: 0,
            step: 0,
            counts: Counts {
                spikes: vec![0; np],
                synaptic_events: vec![0; net.projections.len()],
                neuron_updates: vec![0; np],
                threshold_checks: vec![0; np],
                external_events: vec![0; net.drives.len()],
                current_macs: vec![0; net.projections.len()],
            },
            recorded: Recorded {
                rate_bins: net
                    .record
                    .rates
                    .iter()
                    .map(|&(_, bin)| vec![0; net.steps.div_ceil(bin) as usize])
                    .collect(),
                ..Default::default()
            },
        };
        sim.apply_analog_currents(&analog_values);
        for (pi, p) in net.populations.iter().enumerate() {
            if let (PopulationKind::Neurons { dynamics, .. }, Runtime::Neurons(st)) =
                (&p.kind, &mut sim.runtime[pi])
            {
                st.can_self_cross = can_self_cross(dynamics, st.slots.iter().map(|s| &s.anchor))
                    || net.currents.iter().any(|c| c.population == pi);
            }
        }
        if engine == Engine::Event {
            for (pi, p) in net.populations.iter().enumerate() {
                if let (PopulationKind::Neurons { dynamics, .. }, Runtime::Neurons(st)) =
                    (&p.kind, &mut sim.runtime[pi])
                {
                    for n in 0..p.size {
                        schedule(&mut sim.wakes, dynamics, st, pi as u32, n, 0);
                    }
                }
            }
        }
        sim.record_traces();
        sim
    }

    /// Fold the constant currents of current-encoded analog populations into their targets'
    /// bias: `bias_j += sum_i value_i * w_ij`, skipping zero values.
    fn apply_analog_currents(&mut self, analog_values: &[&[f64]]) {
        let net = self.net;
        for (j, pr) in net.projections.iter().enumerate() {
            let PopulationKind::Analog {
                encoding: Encoding::Current,
                ..
            } = &net.populations[pr.source].kind
            else {
                continue;
            };
            let values = analog_values[pr.source];
            let Runtime::Neurons(st) = &mut self.runtime[pr.target] else {
                unreachable!("projections target neurons")
            };
            let mut macs = 0u64;
            for (i, &x) in values.iter().enumerate() {
                if x == 0.0 {
                    continue;
                }
                let row = pr.csr.row(i as u32);
                macs += row.len() as u64;
                match &pr.weights {
                    Weights::DenseRows(w) => {
                        for (slot, &w) in st.slots.iter_mut().zip(&w[row]) {
                            slot.anchor.bias += x * f64::from(w);
                        }
                    }
                    Weights::Constant(w) => {
                        for &t in &pr.csr.targets[row] {
                            st.slots[t as usize].anchor.bias += x * w;
                        }
                    }
                    Weights::PerSynapse(ws) => {
                        for (&t, &w) in pr.csr.targets[row.clone()].iter().zip(&ws[row]) {
                            st.slots[t as usize].anchor.bias += x * f64::from(w);
                        }
                    }
                }
            }
            self.counts.current_macs[j] += macs;
        }
    }

    /// The current step (0 before the first step).
    pub fn current_step(&self) -> u32 {
        self.step
    }

    /// The state of neuron `index` of population `population` at the current step, or `None`
    /// for spike sources.
    pub fn state(&self, population: usize, index: u32) -> Option<crate::neuron::Evaluated> {
        match (
            &self.net.populations[population].kind,
            &self.runtime[population],
        ) {
            (PopulationKind::Neurons { dynamics, .. }, Runtime::Neurons(st)) => {
                Some(dynamics.evaluate(&st.slots[index as usize].anchor, self.step))
            }
            _ => None,
        }
    }

    /// Run all remaining steps, calling `progress(step)` now and then.
    pub fn run(&mut self, mut progress: impl FnMut(u32)) {
        let every = (self.net.steps / 200).max(1);
        while self.step < self.net.steps {
            self.advance();
            if self.step.is_multiple_of(every) {
                progress(self.step);
            }
        }
    }

    /// Simulate one step.
    pub fn advance(&mut self) {
        self.step += 1;
        let t = self.step;
        self.external_input(t);
        self.deliver(t);
        match self.engine {
            Engine::Event => self.update_event(t),
            Engine::Clock => self.update_clock(t),
        }
        self.switch_currents(t);
        self.record_traces();
        self.emit(t);
    }

    fn external_input(&mut self, t: u32) {
        let net = self.net;
        for (k, field) in self.drives.iter_mut().enumerate() {
            let d = &net.drives[k];
            let into_inh = d.receptor == Receptor::Inh && is_lif_exp(&net.populations[d.target]);
            let Runtime::Neurons(st) = &mut self.runtime[d.target] else {
                unreachable!("drives target neurons")
            };
            let r = usize::from(into_inh);
            let slots = &mut st.slots;
            let touched = &mut st.touched;
            let w = d.weight_mv;
            let mut events = 0u64;
            field.step(t, |n, c| {
                events += u64::from(c);
                slots[n as usize].input[r] += w * f64::from(c);
                touched[n as usize >> 6] |= 1 << (n & 63);
            });
            self.counts.external_events[k] += events;
        }
        for (pi, rt) in self.runtime.iter_mut().enumerate() {
            let out = &mut self.spikes_now[pi];
            match rt {
                Runtime::Poisson(field) => field.step(t, |n, _| out.push(n)),
                Runtime::Replay { next } => {
                    if let PopulationKind::SpikeSource { spikes } = &net.populations[pi].kind {
                        while *next < spikes.len() && spikes[*next].0 == t {
                            out.push(spikes[*next].1);
                            *next += 1;
                        }
                    }
                }
                Runtime::Analog(input) => input.step(out),
                Runtime::Neurons(_) => {}
            }
        }
    }

    fn deliver(&mut self, t: u32) {
        let net = self.net;
        let mut bundles = self.ring.take(t);
        for b in &bundles {
            let pr = &net.projections[b.projection as usize];
            let Runtime::Neurons(st) = &mut self.runtime[pr.target] else {
                unreachable!("projections target neurons")
            };
            let r = usize::from(self.into_inh[b.projection as usize]);
            let (lo, hi) = (b.lo as usize, b.hi as usize);
            if let Weights::DenseRows(w) = &pr.weights {
                accumulate_row(&mut st.slots, r, &mut st.touched, &w[lo..hi]);
                self.counts.synaptic_events[b.projection as usize] += (hi - lo) as u64;
                continue;
            }
            let targets = &pr.csr.targets[lo..hi];
            match &pr.weights {
                Weights::Constant(w) => accumulate(
                    &mut st.slots,
                    r,
                    &mut st.touched,
                    targets,
                    std::iter::repeat(*w),
                ),
                Weights::PerSynapse(ws) => accumulate(
                    &mut st.slots,
                    r,
                    &mut st.touched,
                    targets,
                    ws[lo..hi].iter().map(|&w| f64::from(w)),
                ),
                Weights::DenseRows(_) => unreachable!("handled above"),
            }
            self.counts.synaptic_events[b.projection as usize] += (hi - lo) as u64;
        }
        bundles.clear();
        self.ring.give_back(t, bundles);
    }

    fn update_event(&mut self, t: u32) {
        let net = self.net;
        for (pi, p) in net.populations.iter().enumerate() {
            let (PopulationKind::Neurons { dynamics, .. }, Runtime::Neurons(st)) =
                (&p.kind, &mut self.runtime[pi])
            else {
                continue;
            };
            let spikes = &mut self.spikes_now[pi];
            let mut updates = 0u64;
            for word in 0..st.touched.len() {
                let mut bits = std::mem::take(&mut st.touched[word]);
                while bits != 0 {
                    let n = (word * 64) as u32 + bits.trailing_zeros();
                    bits &= bits - 1;
                    let i = n as usize;
                    let slot = &mut st.slots[i];
                    let [in_exc, in_inh] = std::mem::take(&mut slot.input);
                    updates += 1;
                    if dynamics.update_with_input(&mut slot.anchor, t, in_exc, in_inh) {
                        spikes.push(n);
                    }
                    schedule(&mut self.wakes, dynamics, st, pi as u32, n, t);
                }
            }
            self.counts.neuron_updates[pi] += updates;
        }
        // Threshold checks of neurons whose predicted crossing falls on this step.
        let mut due = self.wakes.take(t);
        let checks = &mut self.counts.threshold_checks;
        for &(pi, n) in &due {
            let pi = pi as usize;
            let (PopulationKind::Neurons { dynamics, .. }, Runtime::Neurons(st)) =
                (&net.populations[pi].kind, &mut self.runtime[pi])
            else {
                unreachable!("only neurons are scheduled")
            };
            if st.wake[n as usize] != t || st.slots[n as usize].anchor.step == t {
                continue; // stale, or updated by input this step
            }
            checks[pi] += 1;
            self.counts.neuron_updates[pi] += 1;
            let anchor = &mut st.slots[n as usize].anchor;
            match dynamics.check_and_evaluate(anchor, t) {
                (true, _) => {
                    self.spikes_now[pi].push(n);
                    schedule(&mut self.wakes, dynamics, st, pi as u32, n, t);
                }
                (false, Some(state)) => {
                    let next =
                        dynamics.crossing_after(state.v, state.i_exc, state.i_inh, anchor.bias, t);
                    set_wake(&mut self.wakes, st, pi as u32, n, t, next);
                }
                (false, None) => schedule(&mut self.wakes, dynamics, st, pi as u32, n, t),
            }
        }
        due.clear();
        self.wakes.give_back(t, due);
        for s in &mut self.spikes_now {
            s.sort_unstable();
        }
    }

    fn update_clock(&mut self, t: u32) {
        let net = self.net;
        for (pi, p) in net.populations.iter().enumerate() {
            let (PopulationKind::Neurons { dynamics, .. }, Runtime::Neurons(st)) =
                (&p.kind, &mut self.runtime[pi])
            else {
                continue;
            };
            let spikes = &mut self.spikes_now[pi];
            for i in 0..p.size as usize {
                let slot = &mut st.slots[i];
                let spiked = if st.touched[i >> 6] & (1 << (i & 63)) == 0 {
                    dynamics.check_without_input(&mut slot.anchor, t)
                } else {
                    let [in_exc, in_inh] = std::mem::take(&mut slot.input);
                    dynamics.update_with_input(&mut slot.anchor, t, in_exc, in_inh)
                };
                if spiked {
                    spikes.push(i as u32);
                }
            }
            st.touched.fill(0);
            self.counts.neuron_updates[pi] += u64::from(p.size);
        }
    }

    fn switch_currents(&mut self, t: u32) {
        let net = self.net;
        while self.next_current < net.currents.len() && net.currents[self.next_current].step == t {
            let c = &net.currents[self.next_current];
            self.next_current += 1;
            let (PopulationKind::Neurons { dynamics, .. }, Runtime::Neurons(st)) = (
                &net.populations[c.population].kind,
                &mut self.runtime[c.population],
            ) else {
                unreachable!("currents target neurons")
            };
            for &n in &c.neurons {
                let a = &mut st.slots[n as usize].anchor;
                let bias = a.bias + c.delta;
                dynamics.set_bias(a, t, bias);
                if self.engine == Engine::Event {
                    schedule(&mut self.wakes, dynamics, st, c.population as u32, n, t);
                }
            }
        }
    }

    fn record_traces(&mut self) {
        let t = self.step;
        for req in &self.net.record.traces {
            if !t.is_multiple_of(req.every_steps) {
                continue;
            }
            for &n in &req.neurons {
                if let Some(e) = self.state(req.population, n) {
                    self.recorded.traces.push(TraceSample {
                        step: t,
                        population: req.population as u32,
                        index: n,
                        v: e.v,
                        i_exc: e.i_exc,
                        i_inh: e.i_inh,
                    });
                }
            }
        }
    }

    fn emit(&mut self, t: u32) {
        let net = self.net;
        for pi in 0..net.populations.len() {
            let spikes = std::mem::take(&mut self.spikes_now[pi]);
            if spikes.is_empty() {
                self.spikes_now[pi] = spikes;
                continue;
            }
            self.counts.spikes[pi] += spikes.len() as u64;
            if let Some(mask) = &net.record.spikes[pi] {
                self.recorded.spikes.extend(
                    spikes
                        .iter()
                        .filter(|&&n| mask[n as usize])
                        .map(|&n| (t, pi as u32, n)),
                );
            }
            for (r, &(p, bin)) in net.record.rates.iter().enumerate() {
                if p == pi {
                    self.recorded.rate_bins[r][((t - 1) / bin) as usize] += spikes.len() as u64;
                }
            }
            for &j in &self.outgoing[pi] {
                let pr = &net.projections[j];
                for &n in &spikes {
                    let row = pr.csr.row(n);
                    if row.is_empty() {
                        continue;
                    }
                    match &pr.delays {
                        Delays::Constant(d) => self.ring.push(
                            t + d,
                            Bundle {
                                projection: j as u32,
                                lo: row.start as u32,
                                hi: row.end as u32,
                            },
                        ),
                        Delays::Runs { run_ptr, runs } => {
                            let mut lo = row.start as u32;
                            for &(d, end) in &runs
                                [run_ptr[n as usize] as usize..run_ptr[n as usize + 1] as usize]
                            {
                                self.ring.push(
                                    t + d,
                                    Bundle {
                                        projection: j as u32,
                                        lo,
                                        hi: end,
                                    },
                                );
                                lo = end;
                            }
                        }
                    }
                }
            }
            let mut spikes = spikes;
            spikes.clear();
            self.spikes_now[pi] = spikes;
        }
    }
}

/// The delivery inner loop: add each weight to its target's accumulator and mark the target
/// as touched. Branch-free: the bitmap stays in L1 for populations up to ~300k neurons.
#[inline(always)]
fn accumulate(
    slots: &mut [Slot],
    receptor: usize,
    touched: &mut [u64],
    targets: &[u32],
    weights: impl Iterator<Item = f64>,
) {
    for (&n, w) in targets.iter().zip(weights) {
        slots[n as usize].input[receptor] += w;
        touched[n as usize >> 6] |= 1 << (n & 63);
    }
}

/// The delivery loop of a dense projection: one row of weights onto targets `0..row.len()`.
#[inline(always)]
fn accumulate_row(slots: &mut [Slot], receptor: usize, touched: &mut [u64], row: &[f32]) {
    for (n, (slot, &w)) in slots.iter_mut().zip(row).enumerate() {
        slot.input[receptor] += f64::from(w);
        touched[n >> 6] |= 1 << (n & 63);
    }
}

fn is_lif_exp(p: &Population) -> bool {
    matches!(&p.kind, PopulationKind::Neurons { dynamics, .. } if dynamics.params.model == Model::LifExp)
}

/// Whether a neuron of this population could reach threshold with no input at all.
fn can_self_cross<'s>(dynamics: &Dynamics, mut anchors: impl Iterator<Item = &'s Anchor>) -> bool {
    let p = &dynamics.params;
    p.spiking
        && match p.model {
            Model::LifExp => true,
            Model::LifDelta => {
                anchors.any(|a| p.v_rest_mv + a.bias >= p.v_th_mv || a.v >= p.v_th_mv)
            }
            Model::If => anchors.any(|a| a.bias > 0.0 || a.v >= p.v_th_mv),
        }
}

#[inline]
fn schedule(
    wakes: &mut WakeQueue,
    dynamics: &Dynamics,
    st: &mut NeuronState,
    pop: u32,
    n: u32,
    t: u32,
) {
    if !st.can_self_cross {
        return;
    }
    let next = dynamics.next_possible_crossing(&st.slots[n as usize].anchor, t);
    set_wake(wakes, st, pop, n, t, next);
}

/// Record and queue neuron `n`'s next threshold check (none for `None`).
#[inline]
fn set_wake(
    wakes: &mut WakeQueue,
    st: &mut NeuronState,
    pop: u32,
    n: u32,
    t: u32,
    next: Option<u32>,
) {
    let next = next.unwrap_or(u32::MAX);
    let w = &mut st.wake[n as usize];
    if *w != next {
        *w = next;
        if next != u32::MAX {
            wakes.push(next, t, pop, n);
        }
    }
}
