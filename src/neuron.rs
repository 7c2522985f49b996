//! Neuron models and their exact integration.
//!
//! # Models
//!
//! All potentials are in mV and times in ms. Currents are written in voltage units (the potential
//! they would add at steady state), as in Brian2's CUBA example.
//!
//! * `if`: `dv/dt = b`, with `b` the bias current \[mV/ms\]; input spikes add their weight to `v`.
//! * `lif_delta`: `tau_m dv/dt = -(v - v_rest) + b`; input spikes add their weight to `v`.
//! * `lif_exp`: `tau_m dv/dt = -(v - v_rest) + b + i_exc + i_inh`,
//!   `tau_exc di_exc/dt = -i_exc`, `tau_inh di_inh/dt = -i_inh`; input spikes add their weight
//!   to `i_exc` (weights ≥ 0) or `i_inh` (weights ≤ 0).
//!
//! # Exact integration
//!
//! Between inputs these equations are linear with constant coefficients, so the state at any
//! later time is a closed-form function of the state at the last input (the *anchor*):
//!
//! ```text
//! v(s) = v_inf + (v_a - v_inf) e^(-s/tau_m) + i_a * k (e^(-s/tau_syn) - e^(-s/tau_m)),
//! k = tau_syn / (tau_syn - tau_m)     (k e^(-s/tau_m) s/tau_m when tau_syn == tau_m)
//! ```
//!
//! with `v_inf = v_rest + b`. [`Dynamics::evaluate`] computes it; nothing is ever integrated by
//! Euler steps. Both engines evaluate this same function of (anchor, time): the clock engine at
//! every step for every neuron, the event engine only where an input arrives or a crossing is
//! possible. The anchor moves only when an input arrives, a spike resets the neuron or a current
//! switches, and these happen at the same steps in both engines, so both compute bit-identical
//! potentials and the same spikes.
//!
//! # Folding inputs into the anchor (`lif_exp`)
//!
//! An input of weight `w` to a current at `k` steps after the anchor changes the later state by
//! `w` times a PSP, which is itself a sum of the anchor's modes: adding `w e^(k dt/tau_syn)` to
//! the anchor's current and `w kappa (e^(k dt/tau_syn) - e^(k dt/tau_m))` to its potential gives
//! exactly the same trajectory (see [`Dynamics::fold_input`]). Both engines add `lif_exp` inputs
//! this way, at delivery, without evaluating the neuron: the event engine then computes a
//! neuron only when an input may have made a crossing possible sooner, or a predicted crossing
//! is due. The factors grow with `k`, and with them the rounding of terms that cancel, so the
//! anchor moves to the input's step (the state is evaluated there) once `k` reaches
//! [`Dynamics::fold_reach`], chosen so that no term grows by more than [`FOLD_GROWTH_LIMIT`].
//!
//! # Time semantics (one step = `dt`)
//!
//! Time is an integer step count `t`; the state "at step t" is the state at time `t * dt`. In
//! step `t`:
//!
//! 1. the state is advanced in closed form from its anchor to `t`;
//! 2. all inputs arriving at `t` are summed and added at once (to `v` for delta synapses, to the
//!    synaptic currents for `lif_exp`);
//! 3. if the neuron is not refractory and `v >= v_th`, it spikes at step `t` (recorded at time
//!    `t * dt`), is reset and is refractory for steps `t+1 ..= t + t_ref/dt`: `v` is held at its
//!    reset value, inputs to `v` are dropped (as in NEST), synaptic currents keep evolving;
//! 4. a spike emitted at step `t` over a synapse with delay `d` steps arrives at step `t + d`
//!    (`d >= 1`).
//!
//! Steps run from 1 to `duration / dt`; step 0 is the initial state.

use crate::network::spec::ResetSpec;

/// Length of the precomputed propagator tables (steps); longer gaps call `exp` directly.
const TABLE_LEN: usize = 4096;

/// Safety margin \[mV\] of the threshold-crossing prediction: a neuron is checked if its potential
/// can come within this distance of the threshold, which covers rounding in [`Dynamics::evaluate`]
/// and in folded inputs (at most about `FOLD_GROWTH_LIMIT x 1e-16` of the folded weights).
pub(crate) const THRESHOLD_MARGIN_MV: f64 = 1e-9;

/// Largest factor by which a folded input's terms may exceed the contribution they stand for
/// (see [`Dynamics::fold_input`]); the rounding of folded inputs grows with it.
pub const FOLD_GROWTH_LIMIT: f64 = 256.0;

/// Largest factor of a folded input (far from overflow however many inputs are folded).
const FOLD_FACTOR_MAX: f64 = 1e100;

/// An exact model as a type: code generic over it (`fn f<M: ExactModel>`) is compiled once
/// per model, so loops over many neurons carry no per-neuron dispatch. Each model is one file
/// in `src/model/` (`if.rs`, `lif_delta.rs`, `lif_exp.rs`); the shared machinery (anchors,
/// propagator tables, folding, the crossing windows, the time semantics) is here.
pub trait ExactModel: 'static {
    /// The model's tag.
    const MODEL: Model;
    /// The name in network files.
    const NAME: &'static str;
    /// The arithmetic of one clocked update with the model's exact propagators.
    const OPERATIONS: UpdateOperations;
    /// The state at step `t >= a.step`, in closed form from the anchor.
    fn evaluate(d: &Dynamics, a: &Anchor, t: u32) -> Evaluated;
    /// The potential and currents after adding the summed inputs of a step to the state `e`
    /// (`refractory`: the potential is held).
    fn with_input(e: Evaluated, refractory: bool, in_exc: f64, in_inh: f64) -> (f64, f64, f64);
    /// The earliest step after `from` at which the neuron with this state at `from` could
    /// reach threshold without input (a rigorous lower bound; see
    /// [`Dynamics::next_possible_crossing`]).
    fn predict_after(
        d: &Dynamics,
        v: f64,
        i_exc: f64,
        i_inh: f64,
        bias: f64,
        from: u32,
    ) -> Prediction;
    /// [`magnitude`] of what an update with input changes: the potential, and the currents
    /// of models that have them (the bias changes only where currents switch, and is checked
    /// there).
    fn updated_magnitude(a: &Anchor) -> f64;
}

/// Run `$body` with `$M` the [`ExactModel`] type of `$model` (a [`Model`]): the one place
/// where the exact models are dispatched.
#[macro_export]
#[doc(hidden)]
macro_rules! with_exact_model {
    ($model:expr, $M:ident => $body:expr) => {
        match $model {
            $crate::neuron::Model::If => {
                type $M = $crate::model::r#if::If;
                $body
            }
            $crate::neuron::Model::LifDelta => {
                type $M = $crate::model::lif_delta::LifDelta;
                $body
            }
            $crate::neuron::Model::LifExp => {
                type $M = $crate::model::lif_exp::LifExp;
                $body
            }
        }
    };
}
pub use with_exact_model;

/// Neuron model of a simulated population.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// Integrate-and-fire, no leak, delta synapses.
    If,
    /// Leaky integrate-and-fire, delta synapses.
    LifDelta,
    /// Leaky integrate-and-fire, exponential synaptic currents.
    LifExp,
}

/// The arithmetic of one clocked update of a neuron, as digital hardware computes it with the
/// exact propagators of its model (the threshold comparison counted as an add).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UpdateOperations {
    /// Multiplications: one decay per decaying state variable, and the couplings of the
    /// currents into the potential.
    pub multiplies: u32,
    /// Additions: inputs into the state, the propagated terms, the threshold comparison.
    pub adds: u32,
}

impl Model {
    /// The name as written in network files.
    pub fn name(self) -> &'static str {
        with_exact_model!(self, M => M::NAME)
    }

    /// The model named `name` in a network file, if it is an exact one.
    pub fn from_name(name: &str) -> Option<Model> {
        [Model::If, Model::LifDelta, Model::LifExp]
            .into_iter()
            .find(|m| m.name() == name)
    }

    /// The operations of one update step (see each model's [`ExactModel::OPERATIONS`]).
    pub fn update_operations(self) -> UpdateOperations {
        with_exact_model!(self, M => M::OPERATIONS)
    }
}

/// Checked parameters of a neuron model, in physical units except the refractory period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NeuronParams {
    /// The model.
    pub model: Model,
    /// Membrane time constant \[ms\] (unused by `if`).
    pub tau_m_ms: f64,
    /// Excitatory current time constant \[ms\] (`lif_exp`).
    pub tau_exc_ms: f64,
    /// Inhibitory current time constant \[ms\] (`lif_exp`).
    pub tau_inh_ms: f64,
    /// Resting potential \[mV\].
    pub v_rest_mv: f64,
    /// Threshold \[mV\].
    pub v_th_mv: f64,
    /// Reset potential \[mV\].
    pub v_reset_mv: f64,
    /// Refractory period in steps.
    pub ref_steps: u32,
    /// Reset mode.
    pub reset: ResetSpec,
    /// False for a read-out population that integrates but never spikes.
    pub spiking: bool,
}

/// The state of one neuron evaluated at some step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluated {
    /// Membrane potential \[mV\].
    pub v: f64,
    /// Excitatory synaptic current \[mV\].
    pub i_exc: f64,
    /// Inhibitory synaptic current \[mV\].
    pub i_inh: f64,
}

/// The anchor of one neuron: its state right after its last input, spike or current switch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchor {
    /// Membrane potential at the anchor \[mV\].
    pub v: f64,
    /// Excitatory current at the anchor \[mV\].
    pub i_exc: f64,
    /// Inhibitory current at the anchor \[mV\].
    pub i_inh: f64,
    /// Step of the anchor.
    pub step: u32,
    /// Last refractory step (the potential is held up to and including it).
    pub ref_end: u32,
    /// Bias current (mV for LIF, mV/ms for IF).
    pub bias: f64,
}

/// A neuron model with its propagators precomputed for one time step.
#[derive(Debug, Clone)]
pub struct Dynamics {
    /// The parameters.
    pub params: NeuronParams,
    dt_ms: f64,
    decay_m: Vec<f64>,
    /// `lif_exp`: all propagators of `k` steps in one cache line.
    lif_exp: Vec<LifExpPropagators>,
    kappa_exc: f64,
    kappa_inh: f64,
    /// `2 tau_m / dt`.
    two_tau_m_steps: f64,
    /// `lif_exp`: entry `d` bounds the PSP of a unit current of each receptor over its first
    /// `d` steps (the steps before a check `d` steps after the input); once a PSP has passed
    /// its peak, its entries are the peak (rounded up), and the last entry serves all later
    /// checks.
    psp_rise: Vec<[f64; 2]>,
    /// `lif_exp`: the windows of [`Self::crossing_after`].
    windows: Option<Box<CrossingWindows>>,
    /// `lif_exp`: the factors of an input folded `k` steps after the anchor, for `k` below
    /// [`Self::fold_reach`].
    fold: Vec<FoldFactors>,
    /// See [`Self::state_bound`].
    state_bound: f64,
}

/// How an input `k` steps after the anchor enters it (`lif_exp`): its weight times `exc`
/// (`inh`) is added to the anchor's excitatory (inhibitory) current, times `v_exc` (`v_inh`)
/// to the anchor's potential.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct FoldFactors {
    exc: f64,
    inh: f64,
    v_exc: f64,
    v_inh: f64,
}

/// First steps of the windows of the `lif_exp` crossing bound: window `j` covers
/// `[WINDOW_STARTS[j], WINDOW_STARTS[j + 1]]`, the last one is unbounded.
const WINDOW_STARTS: [u32; WINDOW_LEVELS + 1] = [1, 3, 9, 27, 81, 243, 729, 2187];

/// The last (unbounded) window.
const WINDOW_LEVELS: usize = 7;

/// Lanes of the window arrays (the windows, padded to a power of two for the reductions).
const WINDOW_LANES: usize = (WINDOW_LEVELS + 1).next_power_of_two();

/// Relative safety factor applied to precomputed propagator bounds (covers the rounding of
/// `exp` here and of the tables used by [`Dynamics::evaluate`]).
const BOUND_SLACK: f64 = 1e-12;
/// A neuron's state counts as runaway beyond this many times its voltage scale (see
/// [`Dynamics::state_bound`]): far beyond anything a model of a neuron reaches, and far below
/// where `f64` arithmetic overflows.
pub const STATE_BOUND_FACTOR: f64 = 1e12;

/// The windows of the `lif_exp` crossing bound, one lane per window.
///
/// Between inputs, `v(s) - v_inf = dv e^(-s/tau_m) + i_exc K_exc(s) + i_inh K_inh(s)`, where
/// `dv = v - v_inf` and `K(s) >= 0` is the PSP of a unit synaptic current: zero at `s = 0`,
/// rising to one peak, then decaying. Over a window `[s0, s1]` the leak term is largest at
/// `s1` if `dv < 0` (else at `s0`); a PSP term with positive current is at most the kernel's
/// maximum over the window (its peak if the peak lies inside, else an end), and with negative
/// current at most current x the kernel's minimum (at an end, since `K` is unimodal). Each
/// window's bound is three products; all windows are evaluated at once, without branches, and
/// the first whose bound reaches threshold starts at a lower bound of the crossing time.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub(crate) struct CrossingWindows {
    /// `e^(-s/tau_m)` at each window's start (rounded up) and end (rounded down; 0 for the
    /// tail).
    leak_start: [f64; WINDOW_LANES],
    leak_end: [f64; WINDOW_LANES],
    /// Maximum and minimum of `K_exc` and `K_inh` over each window (rounded outwards).
    exc_max: [f64; WINDOW_LANES],
    exc_min: [f64; WINDOW_LANES],
    inh_max: [f64; WINDOW_LANES],
    inh_min: [f64; WINDOW_LANES],
    /// The propagators of one and two steps: `[e^(-s/tau_m), K_exc(s), K_inh(s)]`. When the
    /// first window (steps 1 to 3) can reach threshold, the potential at steps 1 and 2 is
    /// computed exactly instead, so that a neuron near threshold is checked at the first step
    /// where it can cross rather than at every step.
    near: [[f64; 3]; 2],
}

/// The PSP of a unit synaptic current after time `s`, from the decays `p_syn = e^(-s/tau_syn)`
/// and `p_m = e^(-s/tau_m)` and `s / tau_m`: `kappa (p_syn - p_m)`, or `(s/tau_m) p_m` for the
/// degenerate kernel (`kappa` NaN, `tau_syn == tau_m`).
#[inline(always)]
pub(crate) fn psp(kappa: f64, p_syn: f64, p_m: f64, s_over_tau_m: f64) -> f64 {
    if kappa.is_nan() {
        s_over_tau_m * p_m
    } else {
        kappa * (p_syn - p_m)
    }
}

/// A unit current's PSP `K(s)` in mV per mV of current, `s` in ms, and the time of its peak.
#[derive(Debug, Clone, Copy)]
struct PspKernel {
    tau_syn: f64,
    tau_m: f64,
    kappa: f64,
}

impl PspKernel {
    fn new(tau_syn: f64, tau_m: f64) -> Self {
        PspKernel {
            tau_syn,
            tau_m,
            kappa: kappa(tau_syn, tau_m),
        }
    }

    fn at(&self, s: f64) -> f64 {
        psp(
            self.kappa,
            (-s / self.tau_syn).exp(),
            (-s / self.tau_m).exp(),
            s / self.tau_m,
        )
    }

    fn peak_time(&self) -> f64 {
        if self.kappa.is_nan() {
            self.tau_m
        } else {
            (self.tau_m / self.tau_syn).ln() * self.tau_syn * self.tau_m
                / (self.tau_m - self.tau_syn)
        }
    }

    /// The maximum over all times (rounded up).
    fn peak(&self) -> f64 {
        self.at(self.peak_time()) * (1.0 + BOUND_SLACK)
    }

    /// Maximum and minimum over `[s0, s1]` (`s1` infinite for a tail).
    fn extremes(&self, s0: f64, s1: f64) -> (f64, f64) {
        let peak = self.peak_time();
        let k0 = self.at(s0);
        let k1 = if s1.is_finite() { self.at(s1) } else { 0.0 };
        let max = if (s0..=s1).contains(&peak) {
            self.at(peak)
        } else {
            k0.max(k1)
        };
        let min = k0.min(k1);
        (max * (1.0 + BOUND_SLACK), min * (1.0 - BOUND_SLACK))
    }
}

impl CrossingWindows {
    fn new(p: &NeuronParams, dt: f64) -> Self {
        let exc = PspKernel::new(p.tau_exc_ms, p.tau_m_ms);
        let inh = PspKernel::new(p.tau_inh_ms, p.tau_m_ms);
        let mut w = CrossingWindows {
            leak_start: [0.0; WINDOW_LANES],
            leak_end: [0.0; WINDOW_LANES],
            exc_max: [0.0; WINDOW_LANES],
            exc_min: [0.0; WINDOW_LANES],
            inh_max: [0.0; WINDOW_LANES],
            inh_min: [0.0; WINDOW_LANES],
            near: [1.0, 2.0].map(|k| {
                let s = k * dt;
                [(-s / p.tau_m_ms).exp(), exc.at(s), inh.at(s)]
            }),
        };
        for j in 0..=WINDOW_LEVELS {
            let s0 = Self::start(j) as f64 * dt;
            let s1 = if j < WINDOW_LEVELS {
                Self::start(j + 1) as f64 * dt
            } else {
                f64::INFINITY
            };
            w.leak_start[j] = (-s0 / p.tau_m_ms).exp() * (1.0 + BOUND_SLACK);
            w.leak_end[j] = (-s1 / p.tau_m_ms).exp() * (1.0 - BOUND_SLACK);
            (w.exc_max[j], w.exc_min[j]) = exc.extremes(s0, s1);
            (w.inh_max[j], w.inh_min[j]) = inh.extremes(s0, s1);
        }
        w
    }

    /// First step of window `j`.
    #[inline(always)]
    fn start(j: usize) -> u32 {
        WINDOW_STARTS[j]
    }

    /// The first step (counted from the state's step) of the first window in which the
    /// potential could reach `c` (relative to `v_inf`), or `None` if it never can; and the
    /// headroom: how far below `c` the potential stays before that window. When the first
    /// window (steps 1 to 3) can reach `c`, the potential at steps 1 and 2 decides instead:
    /// the step is 1, 2 or 3, and the headroom covers the steps before it.
    #[inline]
    pub(crate) fn first_possible(
        &self,
        c: f64,
        dv: f64,
        i_exc: f64,
        i_inh: f64,
    ) -> (Option<u32>, f64) {
        let leak = if dv < 0.0 {
            &self.leak_end
        } else {
            &self.leak_start
        };
        let exc = if i_exc > 0.0 {
            &self.exc_max
        } else {
            &self.exc_min
        };
        let inh = if i_inh > 0.0 {
            &self.inh_max
        } else {
            &self.inh_min
        };
        let terms = [(dv, leak), (i_exc, exc), (i_inh, inh)];
        #[cfg(target_arch = "x86_64")]
        let (reach, highest) = reach_and_highest_sse2(c, terms);
        #[cfg(not(target_arch = "x86_64"))]
        let (reach, highest) = reach_and_highest(c, terms);
        let first = (reach & ((1 << (WINDOW_LEVELS + 1)) - 1)).trailing_zeros() as usize;
        // Steps 1 and 2 exactly (their rounding differs from the engine's evaluation by far
        // less than the threshold margin in `c`): the first window's crossing is at step 1, 2
        // or not before 3; the headroom covers the steps before it.
        if first == 0 {
            let [v1, v2] = self.near.map(|[m, e, i]| dv * m + i_exc * e + i_inh * i);
            if v1 >= c {
                (Some(1), 0.0)
            } else if v2 >= c {
                (Some(2), c - v1)
            } else {
                (Some(3), if v1 > v2 { c - v1 } else { c - v2 })
            }
        } else {
            (
                (first <= WINDOW_LEVELS).then(|| Self::start(first)),
                c - highest,
            )
        }
    }
}

/// The windows' bounds of the potential, `dv leak[j] + i_exc exc[j] + i_inh inh[j]` for the
/// three `(coefficient, window values)` terms, compared with `c`: a mask with bit `j` set where
/// window `j`'s bound reaches `c`, and the highest bound of the windows that do not (at least
/// the highest before the first reaching window, so a valid headroom; `-inf` if none).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
fn reach_and_highest(c: f64, terms: [(f64, &[f64; WINDOW_LANES]); 3]) -> (u32, f64) {
    let [(dv, leak), (i_exc, exc), (i_inh, inh)] = terms;
    let mut reach = 0u32;
    let mut highest = f64::NEG_INFINITY;
    for j in 0..WINDOW_LANES {
        let bound = dv * leak[j] + i_exc * exc[j] + i_inh * inh[j];
        reach |= u32::from(bound >= c) << j;
        // (Plain comparisons, not `f64::max`, whose NaN rules cost instructions; no bound is
        // NaN.)
        if bound < c && bound > highest {
            highest = bound;
        }
    }
    (reach, highest)
}

/// [`reach_and_highest`] in SSE2 (part of every x86-64 processor): two windows per
/// instruction, the mask from the comparisons' sign bits, and the highest bound as a running
/// maximum. The same operations in the same order, hence the same results, with about half the
/// instructions the compiler makes of the portable loop (this sits on every threshold check).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn reach_and_highest_sse2(c: f64, terms: [(f64, &[f64; WINDOW_LANES]); 3]) -> (u32, f64) {
    use std::arch::x86_64::{
        _mm_add_pd, _mm_and_pd, _mm_andnot_pd, _mm_cmpge_pd, _mm_cvtsd_f64, _mm_loadu_pd,
        _mm_max_pd, _mm_movemask_pd, _mm_mul_pd, _mm_or_pd, _mm_set1_pd, _mm_unpackhi_pd,
    };
    let [(dv, leak), (i_exc, exc), (i_inh, inh)] = terms;
    // SAFETY: SSE2 is part of the x86-64 baseline, so these instructions exist on every
    // processor this code runs on; the loads read `j` and `j + 1 < WINDOW_LANES` (the lanes are
    // a power of two, at least 2) of the arrays, and unaligned loads need nothing else.
    let (reach, low, high) = unsafe {
        let (dv, i_exc, i_inh) = (_mm_set1_pd(dv), _mm_set1_pd(i_exc), _mm_set1_pd(i_inh));
        let (c, minus_inf) = (_mm_set1_pd(c), _mm_set1_pd(f64::NEG_INFINITY));
        let mut reach = 0u32;
        let mut highest = minus_inf;
        for j in (0..WINDOW_LANES).step_by(2) {
            let bound = _mm_add_pd(
                _mm_add_pd(
                    _mm_mul_pd(dv, _mm_loadu_pd(leak.as_ptr().add(j))),
                    _mm_mul_pd(i_exc, _mm_loadu_pd(exc.as_ptr().add(j))),
                ),
                _mm_mul_pd(i_inh, _mm_loadu_pd(inh.as_ptr().add(j))),
            );
            let reaches = _mm_cmpge_pd(bound, c);
            reach |= (_mm_movemask_pd(reaches) as u32) << j;
            let below = _mm_or_pd(
                _mm_andnot_pd(reaches, bound),
                _mm_and_pd(reaches, minus_inf),
            );
            highest = _mm_max_pd(highest, below);
        }
        (
            reach,
            _mm_cvtsd_f64(highest),
            _mm_cvtsd_f64(_mm_unpackhi_pd(highest, highest)),
        )
    };
    (reach, if high > low { high } else { low })
}

/// The `lif_exp` propagators over some number of steps `k`: the decays of the potential and of
/// both currents, and the contribution of a unit current to the potential (`kernel`).
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct LifExpPropagators {
    pub m: f64,
    pub exc: f64,
    pub inh: f64,
    pub kernel_exc: f64,
    pub kernel_inh: f64,
}

fn table(tau: f64, dt: f64) -> Vec<f64> {
    (0..TABLE_LEN)
        .map(|k| (-(k as f64) * dt / tau).exp())
        .collect()
}

/// `tau_syn / (tau_syn - tau_m)`, or NaN when the two are equal (the degenerate kernel).
pub(crate) fn kappa(tau_syn: f64, tau_m: f64) -> f64 {
    if (tau_syn - tau_m).abs() <= 1e-12 * tau_m {
        f64::NAN
    } else {
        tau_syn / (tau_syn - tau_m)
    }
}

/// The sum of the magnitudes of an anchor's potential, currents and bias: not finite if one
/// of them is not, and above a bound if one of them is. Sums of magnitudes serve the engines'
/// update loops as a check of many neurons at once, two additions per neuron and no branch
/// (see [`Dynamics::state_bound`]).
#[inline(always)]
pub fn magnitude(a: &Anchor) -> f64 {
    (a.v.abs() + a.i_exc.abs()) + (a.i_inh.abs() + a.bias.abs())
}

/// The voltage scale of a neuron's parameters \[mV\]: the largest of |v_rest|, |v_th|,
/// |v_reset|, |v_th - v_rest| and 1 mV.
fn voltage_scale(p: &NeuronParams) -> f64 {
    largest_magnitude(&[
        p.v_rest_mv,
        p.v_th_mv,
        p.v_reset_mv,
        p.v_th_mv - p.v_rest_mv,
    ])
}

/// The largest magnitude of `values`, and at least 1: the scale of a model's potentials for
/// its runaway bound ([`STATE_BOUND_FACTOR`] times it).
pub(crate) fn largest_magnitude(values: &[f64]) -> f64 {
    values.iter().fold(1.0f64, |scale, v| scale.max(v.abs()))
}

impl Dynamics {
    /// Precompute the propagators of `params` for time step `dt_ms`.
    pub fn new(params: NeuronParams, dt_ms: f64) -> Self {
        let decay_m = match params.model {
            Model::If => Vec::new(),
            Model::LifDelta | Model::LifExp => table(params.tau_m_ms, dt_ms),
        };
        let mut dynamics = Dynamics {
            params,
            dt_ms,
            decay_m,
            lif_exp: Vec::new(),
            kappa_exc: kappa(params.tau_exc_ms, params.tau_m_ms),
            kappa_inh: kappa(params.tau_inh_ms, params.tau_m_ms),
            two_tau_m_steps: 2.0 * params.tau_m_ms / dt_ms,
            psp_rise: Vec::new(),
            windows: (params.model == Model::LifExp)
                .then(|| Box::new(CrossingWindows::new(&params, dt_ms))),
            fold: Vec::new(),
            state_bound: STATE_BOUND_FACTOR * voltage_scale(&params),
        };
        if params.model == Model::LifExp {
            dynamics.lif_exp = (0..TABLE_LEN as u32)
                .map(|k| dynamics.lif_exp_propagators(k))
                .collect();
            dynamics.fold = (0..TABLE_LEN as u32)
                .map_while(|k| dynamics.fold_factors(k))
                .collect();
            let kernels = [params.tau_exc_ms, params.tau_inh_ms]
                .map(|tau_syn| PspKernel::new(tau_syn, params.tau_m_ms));
            // Steps at which a PSP still rises; over its first `d` steps (`0 .. d - 1`) it is
            // then largest at step `d - 1`.
            let rising = kernels
                .map(|kernel| ((kernel.peak_time() / dt_ms).floor() as usize + 1).min(TABLE_LEN));
            dynamics.psp_rise = (0..=rising[0].max(rising[1]) + 1)
                .map(|d| {
                    [0, 1].map(|r| match d {
                        0 => 0.0,
                        d if d - 1 < rising[r] => {
                            kernels[r].at((d - 1) as f64 * dt_ms) * (1.0 + BOUND_SLACK)
                        }
                        _ => kernels[r].peak(),
                    })
                })
                .collect();
        }
        dynamics
    }

    /// The factors of an input folded `k` steps after the anchor, or `None` if one of its
    /// terms could grow by more than [`FOLD_GROWTH_LIMIT`].
    fn fold_factors(&self, k: u32) -> Option<FoldFactors> {
        let p = &self.params;
        let s = f64::from(k) * self.dt_ms;
        let grow_m = (s / p.tau_m_ms).exp();
        let mut largest = 1.0f64;
        let mut overflow = grow_m > FOLD_FACTOR_MAX;
        let mut receptor = |tau_syn: f64, kappa: f64| {
            let grow = (s / tau_syn).exp();
            // The potential's term `kappa (grow - grow_m)` stands for a PSP that starts at 0:
            // its two parts cancel, and the larger of their ratios bounds the growth of their
            // rounding (for the degenerate kernel, `s / tau_m` grows instead).
            let (v, growth) = if kappa.is_nan() {
                (-grow * s / p.tau_m_ms, (s / p.tau_m_ms).max(1.0))
            } else {
                (kappa * (grow - grow_m), (grow / grow_m).max(grow_m / grow))
            };
            largest = largest.max(growth);
            overflow |= grow > FOLD_FACTOR_MAX;
            (grow, v)
        };
        let (exc, v_exc) = receptor(p.tau_exc_ms, self.kappa_exc);
        let (inh, v_inh) = receptor(p.tau_inh_ms, self.kappa_inh);
        (!overflow && largest <= FOLD_GROWTH_LIMIT || k == 0).then_some(FoldFactors {
            exc,
            inh,
            v_exc,
            v_inh,
        })
    }

    /// `lif_exp`: inputs arriving fewer than this many steps after the anchor are folded into
    /// it (see [`Self::fold_input`]); later ones first move the anchor to their step.
    pub fn fold_reach(&self) -> u32 {
        self.fold.len() as u32
    }

    /// The `lif_exp` propagators over `k` steps, computed (the table holds these values).
    fn lif_exp_propagators(&self, k: u32) -> LifExpPropagators {
        let p = &self.params;
        let dt = self.dt_ms;
        let m = Self::decay(&self.decay_m, p.tau_m_ms, dt, k);
        let exc = (-(k as f64) * dt / p.tau_exc_ms).exp();
        let inh = (-(k as f64) * dt / p.tau_inh_ms).exp();
        LifExpPropagators {
            m,
            exc,
            inh,
            kernel_exc: self.kernel(self.kappa_exc, exc, m, k),
            kernel_inh: self.kernel(self.kappa_inh, inh, m, k),
        }
    }

    /// The `lif_exp` propagators over `k` steps (from the table when `k` is in it).
    #[inline(always)]
    pub(crate) fn lif_exp_at(&self, k: u32) -> LifExpPropagators {
        match self.lif_exp.get(k as usize) {
            Some(&p) => p,
            None => self.lif_exp_propagators(k),
        }
    }

    /// The `lif_exp` propagators that evaluating anchor `a` at step `t` reads (if tabulated),
    /// for prefetching.
    #[inline(always)]
    pub(crate) fn propagators_of(&self, a: &Anchor, t: u32) -> Option<&impl Sized> {
        self.lif_exp.get(t.wrapping_sub(a.step) as usize)
    }

    /// The step length \[ms\].
    pub fn dt_ms(&self) -> f64 {
        self.dt_ms
    }

    #[inline(always)]
    fn decay(table: &[f64], tau: f64, dt: f64, k: u32) -> f64 {
        match table.get(k as usize) {
            Some(&p) => p,
            None => (-(k as f64) * dt / tau).exp(),
        }
    }

    /// The decay of the potential over `k` steps, `e^(-k dt / tau_m)` (from the table when
    /// `k` is in it).
    #[inline(always)]
    pub(crate) fn membrane_decay(&self, k: u32) -> f64 {
        Self::decay(&self.decay_m, self.params.tau_m_ms, self.dt_ms, k)
    }

    /// `2 tau_m / dt`.
    #[inline(always)]
    pub(crate) fn two_tau_m_steps(&self) -> f64 {
        self.two_tau_m_steps
    }

    /// `lif_exp`: the windows of the crossing bound.
    #[inline(always)]
    pub(crate) fn windows(&self) -> &CrossingWindows {
        self.windows.as_deref().expect("lif_exp has windows")
    }

    /// Contribution of a unit synaptic current to `v - v_inf` after `k` steps.
    #[inline(always)]
    fn kernel(&self, kappa: f64, p_syn: f64, p_m: f64, k: u32) -> f64 {
        psp(
            kappa,
            p_syn,
            p_m,
            (k as f64) * self.dt_ms / self.params.tau_m_ms,
        )
    }

    /// The state at step `t >= anchor.step`, in closed form from the anchor.
    #[inline]
    pub fn evaluate(&self, a: &Anchor, t: u32) -> Evaluated {
        with_exact_model!(self.params.model, M => self.evaluate_as::<M>(a, t))
    }

    /// [`Self::evaluate`] for the model `M` (which must be this model's).
    #[inline(always)]
    pub(crate) fn evaluate_as<M: ExactModel>(&self, a: &Anchor, t: u32) -> Evaluated {
        M::evaluate(self, a, t)
    }

    /// The largest magnitude a neuron's potential, currents and bias may take: [`STATE_BOUND_FACTOR`]
    /// times the voltage scale of its parameters (the largest of |v_rest|, |v_th|, |v_reset|,
    /// |v_th - v_rest| and 1 mV). A state beyond it, or not finite, stops the run.
    pub fn state_bound(&self) -> f64 {
        self.state_bound
    }

    /// Whether a magnitude (or a sum of them) is beyond [`Self::state_bound`] or NaN.
    #[inline]
    #[allow(clippy::neg_cmp_op_on_partial_ord)] // the negation is what makes NaN beyond
    pub fn beyond_bound(&self, magnitude: f64) -> bool {
        !(magnitude <= self.state_bound)
    }

    /// Whether the anchor's potential, currents or bias are beyond [`Self::state_bound`] or
    /// not finite (NaN included).
    #[inline]
    pub fn out_of_bounds(&self, a: &Anchor) -> bool {
        self.beyond_bound(magnitude(a))
    }

    /// [`Self::out_of_bounds`] for the state at step `t`. A `lif_exp` anchor holding folded
    /// inputs (see [`Self::fold_input`]) has terms that exceed the state they stand for by up
    /// to the fold factors (e^20 and more when the synaptic time constants are a few steps), so
    /// its state is evaluated at `t` first; the other models' anchors are their state.
    pub fn out_of_bounds_at(&self, a: &Anchor, t: u32) -> bool {
        if self.params.model != Model::LifExp {
            return self.out_of_bounds(a);
        }
        let e = self.evaluate(a, t);
        self.beyond_bound((e.v.abs() + e.i_exc.abs()) + (e.i_inh.abs() + a.bias.abs()))
    }

    /// The potential after a spike at potential `v`.
    #[inline]
    pub fn reset_potential(&self, v: f64) -> f64 {
        match self.params.reset {
            ResetSpec::Value => self.params.v_reset_mv,
            ResetSpec::Subtract => v - (self.params.v_th_mv - self.params.v_reset_mv),
        }
    }

    /// Advance the neuron to step `t`, add the summed input of the step and check the threshold.
    ///
    /// This is the only place where input changes a neuron; it moves the anchor to `t`.
    /// Returns true if the neuron spikes at `t`.
    #[inline]
    pub fn update_with_input(&self, a: &mut Anchor, t: u32, in_exc: f64, in_inh: f64) -> bool {
        with_exact_model!(self.params.model, M => self.update_with_input_as::<M>(a, t, in_exc, in_inh))
    }

    /// [`Self::update_with_input`] for the model coded `M` (see [`Self::evaluate_as`]).
    #[inline(always)]
    pub(crate) fn update_with_input_as<M: ExactModel>(
        &self,
        a: &mut Anchor,
        t: u32,
        in_exc: f64,
        in_inh: f64,
    ) -> bool {
        let e = self.evaluate_as::<M>(a, t);
        let refractory = t <= a.ref_end;
        let (mut v, i_exc, i_inh) = M::with_input(e, refractory, in_exc, in_inh);
        let spiked = self.params.spiking && !refractory && v >= self.params.v_th_mv;
        if spiked {
            v = self.reset_potential(v);
            a.ref_end = t + self.params.ref_steps;
        }
        a.v = v;
        a.i_exc = i_exc;
        a.i_inh = i_inh;
        a.step = t;
        spiked
    }

    /// Check the threshold at step `t` of a neuron that received no input at `t`.
    ///
    /// The anchor moves only if the neuron spikes. Returns true if it spikes.
    #[inline]
    pub fn check_without_input(&self, a: &mut Anchor, t: u32) -> bool {
        self.check_and_evaluate(a, t).0
    }

    /// [`Self::check_without_input`], also returning the state evaluated at `t` when the neuron
    /// was not refractory and did not spike (for [`Self::crossing_after`]).
    #[inline]
    pub fn check_and_evaluate(&self, a: &mut Anchor, t: u32) -> (bool, Option<Evaluated>) {
        with_exact_model!(self.params.model, M => self.check_and_evaluate_as::<M>(a, t))
    }

    /// [`Self::check_and_evaluate`] for the model coded `M` (see [`Self::evaluate_as`]).
    #[inline(always)]
    fn check_and_evaluate_as<M: ExactModel>(
        &self,
        a: &mut Anchor,
        t: u32,
    ) -> (bool, Option<Evaluated>) {
        if t <= a.ref_end {
            return (false, None);
        }
        let e = self.evaluate_as::<M>(a, t);
        if self.params.spiking && e.v >= self.params.v_th_mv {
            a.v = self.reset_potential(e.v);
            a.i_exc = e.i_exc;
            a.i_inh = e.i_inh;
            a.step = t;
            a.ref_end = t + self.params.ref_steps;
            (true, None)
        } else {
            (false, Some(e))
        }
    }

    /// The event engine's threshold check at step `t` of a neuron that received no input at
    /// `t`, for the model coded `M` (see [`Self::evaluate_as`]): it spikes (the anchor moves
    /// to `t`), is refractory, or stays below threshold, and then the next possible crossing
    /// is predicted from its state at `t`.
    #[inline(always)]
    pub(crate) fn check_and_predict_as<M: ExactModel>(&self, a: &mut Anchor, t: u32) -> Checked {
        match self.check_and_evaluate_as::<M>(a, t) {
            (true, _) => Checked::Spiked,
            (false, None) => Checked::Refractory,
            (false, Some(e)) => {
                Checked::Below(self.predict_after_as::<M>(e.v, e.i_exc, e.i_inh, a.bias, t))
            }
        }
    }

    /// Switch the bias current at step `t` (after the step's update): the anchor moves to `t`.
    pub fn set_bias(&self, a: &mut Anchor, t: u32, bias: f64) {
        self.move_anchor(a, t);
        a.bias = bias;
    }

    /// Move the anchor to step `t >= a.step` (the state evaluated there); the trajectory is
    /// unchanged, up to rounding.
    #[inline]
    pub fn move_anchor(&self, a: &mut Anchor, t: u32) {
        let e = self.evaluate(a, t);
        a.v = e.v;
        a.i_exc = e.i_exc;
        a.i_inh = e.i_inh;
        a.step = t;
    }

    /// `lif_exp`: add an input of weight `w` arriving at step `t` to the current of `receptor`
    /// (0 excitatory, 1 inhibitory) by changing the anchor, without evaluating the state:
    /// the anchor's current gains `w e^(k dt/tau_syn)` and, if the neuron is free at `t`, its
    /// potential `w kappa (e^(k dt/tau_syn) - e^(k dt/tau_m))`, where `k` counts steps since
    /// the anchor. Every later evaluation then includes the input's PSP. During the refractory
    /// period only the current changes (the potential is held, and restarts from the reset
    /// value with the currents of the period's end).
    ///
    /// The anchor first moves to `t` if `k` is beyond [`Self::fold_reach`] or the refractory
    /// period ended after the anchor (its potential would not start from the anchor's then);
    /// returns true in that case. Both engines add inputs through this, so they keep
    /// bit-identical anchors.
    #[inline(always)]
    pub fn fold_input<const RECEPTOR: usize>(&self, a: &mut Anchor, t: u32, w: f64) -> bool {
        let (g, moved) = match self.fold.get((t - a.step) as usize) {
            Some(g) if !(a.step < a.ref_end && a.ref_end < t) => (g, false),
            _ => (self.move_anchor_for_fold(a, t), true),
        };
        let free = t > a.ref_end;
        if RECEPTOR == 0 {
            a.i_exc += w * g.exc;
            if free {
                a.v += w * g.v_exc;
            }
        } else {
            a.i_inh += w * g.inh;
            if free {
                a.v += w * g.v_inh;
            }
        }
        moved
    }

    /// [`Self::fold_input`]'s rare case, kept out of the delivery loop: move the anchor to `t`
    /// and return the factors of an input there.
    #[cold]
    #[inline(never)]
    fn move_anchor_for_fold(&self, a: &mut Anchor, t: u32) -> &FoldFactors {
        self.move_anchor(a, t);
        &self.fold[0]
    }

    /// The largest rise of the potential that an input of weight `w` to `receptor` can cause
    /// (`lif_exp`): `max(w, 0)` times the peak of the receptor's PSP.
    #[inline(always)]
    pub fn max_rise_of<const RECEPTOR: usize>(&self, w: f64) -> f64 {
        // The last entry of the rise table is the peak (no table, no PSP: other models).
        w.max(0.0) * self.psp_rise.last().map_or(0.0, |peak| peak[RECEPTOR])
    }

    /// [`Self::max_rise_of`] before a check `steps` steps after the input (`lif_exp`): the
    /// largest rise at the steps from the input's to the one before the check.
    #[inline(always)]
    pub fn max_rise_before<const RECEPTOR: usize>(&self, w: f64, steps: u32) -> f64 {
        let table = &self.psp_rise;
        // (A clamped index, not a branch: whether a check lies within the table is random.)
        w.max(0.0) * table[(steps as usize).min(table.len() - 1)][RECEPTOR]
    }

    /// The earliest step after `t` at which the neuron could reach threshold without further
    /// input, or `None` if it cannot.
    ///
    /// The neuron's state at `t` must already be final (updated). The prediction is a rigorous
    /// lower bound: for `if` and `lif_delta` the crossing time of the free trajectory in closed
    /// form (for `lif_delta` through a lower bound of the logarithm); for `lif_exp` the start of
    /// the first time window over which an upper bound of the potential reaches threshold (see
    /// `CrossingWindows`: leak, excitatory and inhibitory terms bounded separately, so that
    /// inhibition and the slow rise of a PSP count). The event engine checks the neuron at that
    /// step and, if it has not crossed, predicts again from there, so the true crossing step is
    /// never skipped.
    pub fn next_possible_crossing(&self, a: &Anchor, t: u32) -> Option<u32> {
        self.predict(a, t).next
    }

    /// [`Self::next_possible_crossing`] with the headroom of the prediction.
    #[inline]
    pub fn predict(&self, a: &Anchor, t: u32) -> Prediction {
        with_exact_model!(self.params.model, M => self.predict_as::<M>(a, t))
    }

    /// [`Self::predict`] for the model coded `M` (see [`Self::evaluate_as`]).
    #[inline(always)]
    pub(crate) fn predict_as<M: ExactModel>(&self, a: &Anchor, t: u32) -> Prediction {
        if !self.params.spiking {
            return Prediction::NEVER;
        }
        let from = t.max(a.ref_end);
        if from == a.step {
            self.predict_after_as::<M>(a.v, a.i_exc, a.i_inh, a.bias, from)
        } else {
            let e = self.evaluate_as::<M>(a, from);
            self.predict_after_as::<M>(e.v, e.i_exc, e.i_inh, a.bias, from)
        }
    }

    /// The earliest step after `from` at which a neuron with potential `v` and currents
    /// `i_exc`, `i_inh` at `from` (not refractory after `from`) and bias `bias` could reach
    /// threshold without input; see [`Self::next_possible_crossing`].
    #[inline]
    pub fn crossing_after(
        &self,
        v: f64,
        i_exc: f64,
        i_inh: f64,
        bias: f64,
        from: u32,
    ) -> Option<u32> {
        self.predict_after(v, i_exc, i_inh, bias, from).next
    }

    /// An upper bound of how much inputs `in_exc`, `in_inh` summed in one step can raise the
    /// potential at any later time (0 if they can only lower it). Compared with the headroom
    /// of a [`Prediction`], it tells whether the prediction still holds after the input.
    #[inline]
    pub fn max_rise(&self, in_exc: f64, in_inh: f64) -> f64 {
        match self.params.model {
            Model::LifExp => self.max_rise_of::<0>(in_exc) + self.max_rise_of::<1>(in_inh),
            Model::If | Model::LifDelta => (in_exc + in_inh).max(0.0),
        }
    }

    /// [`Self::crossing_after`] with the headroom of the prediction.
    #[inline]
    pub fn predict_after(
        &self,
        v: f64,
        i_exc: f64,
        i_inh: f64,
        bias: f64,
        from: u32,
    ) -> Prediction {
        with_exact_model!(self.params.model, M => self.predict_after_as::<M>(v, i_exc, i_inh, bias, from))
    }

    /// [`Self::predict_after`] for the model `M` (see [`Self::evaluate_as`]).
    #[inline(always)]
    pub(crate) fn predict_after_as<M: ExactModel>(
        &self,
        v: f64,
        i_exc: f64,
        i_inh: f64,
        bias: f64,
        from: u32,
    ) -> Prediction {
        M::predict_after(self, v, i_exc, i_inh, bias, from)
    }
}

/// What a threshold check of the event engine found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Checked {
    /// The neuron is refractory: nothing was evaluated.
    Refractory,
    /// The neuron spiked.
    Spiked,
    /// Below threshold, with the next possible crossing predicted.
    Below(Prediction),
}

/// A prediction of the event engine: when to check a neuron next, and by how much its
/// potential stays below threshold until then.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// The earliest step at which the neuron could reach threshold without input (`None`:
    /// never).
    pub next: Option<u32>,
    /// Until `next`, the potential stays at least this far \[mV\] below threshold (a lower
    /// bound; 0 when unknown). Inputs that can raise the potential by no more than this
    /// ([`Dynamics::max_rise`]) leave the prediction valid.
    pub headroom: f64,
}

impl Prediction {
    /// No crossing and no headroom known.
    pub const NEVER: Prediction = Prediction {
        next: None,
        headroom: 0.0,
    };

    /// A check after `steps_lb` steps from `from` (a lower bound of the crossing time in
    /// steps), rounded up to whole steps and at least one.
    #[inline(always)]
    pub fn after_steps(steps_lb: f64, from: u32) -> Prediction {
        let x = steps_lb - 1e-6;
        if x >= f64::from(u32::MAX) {
            return Prediction::NEVER;
        }
        // By hand: `f64::ceil` is a libm call on baseline x86-64. x >= -1e-6: truncation
        // toward zero is the floor, or 0.
        let truncated = x as u32;
        let steps = (truncated + u32::from(f64::from(truncated) < x)).max(1);
        Prediction {
            next: from.checked_add(steps).filter(|&s| s != u32::MAX),
            headroom: 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SSE2 bounds give exactly the portable loop's mask and highest bound.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn sse2_bounds_equal_the_portable_ones() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut uniform = |lo: f64, hi: f64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            lo + (hi - lo) * ((x >> 11) as f64 / (1u64 << 53) as f64)
        };
        let mut tables = [[0.0; WINDOW_LANES]; 3];
        let mut reached = 0;
        for _ in 0..20_000 {
            for table in &mut tables {
                for value in table.iter_mut() {
                    *value = uniform(-1.0, 1.0);
                }
            }
            let c = uniform(-5.0, 5.0);
            let terms = [
                (uniform(-20.0, 20.0), &tables[0]),
                (uniform(-20.0, 20.0), &tables[1]),
                (uniform(-20.0, 20.0), &tables[2]),
            ];
            let portable = reach_and_highest(c, terms);
            let sse2 = reach_and_highest_sse2(c, terms);
            assert_eq!(portable.0, sse2.0);
            assert_eq!(portable.1.to_bits(), sse2.1.to_bits());
            reached += usize::from(portable.0 != 0 && portable.0 != (1 << WINDOW_LANES) - 1);
        }
        assert!(reached > 1000, "mixed masks: {reached}");
    }
}
