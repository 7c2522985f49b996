//! `lif_cond_exp`: leaky integrate-and-fire with exponentially decaying excitatory and
//! inhibitory conductances and reversal potentials (NEST's `iaf_cond_exp`, the COBA benchmark
//! of Brette et al. 2007):
//!
//! ```text
//! tau_m dv/dt = (v_rest - v) + g_exc/g_leak (e_exc - v) + g_inh/g_leak (e_inh - v) + bias/g_leak
//! tau_exc dg_exc/dt = -g_exc,    tau_inh dg_inh/dt = -g_inh
//! ```
//!
//! An input of weight `w` \[nS\] adds `w` to the conductance of its receptor. After a spike
//! the potential is held at `v_reset_mv` for `t_ref_ms` while the conductances keep decaying.
//!
//! # Method (`method = "integrating_factor"`, the default)
//!
//! The conductances are exact exponentials: within a step they are their value at the step's
//! start times `e^(-s/tau)`. The potential's equation is then linear in `v` with coefficients
//! known in closed form at every time, `dv/dt = b(s) - a(s) v`, whose solution over a step is
//!
//! ```text
//! v(dt) = v(0) e^(-A(dt)) + ∫₀^dt b(s) e^(-(A(dt) - A(s))) ds,    A(s) = ∫₀^s a,
//! A(s) = s/tau_m + g_exc tau_exc (1 - e^(-s/tau_exc)) / (g_leak tau_m) + (same for inh)
//! ```
//!
//! The integrating factor `e^(-A)` is exact (closed form); only the input integral, whose
//! integrand is smooth on the step, is computed numerically, by Boole's rule: five equally
//! spaced nodes `s_k = k dt/4` (exact for polynomials of degree 5; error `8/945 (dt/4)⁷`
//! times the sixth derivative of the integrand, set by the fastest time scale
//! `C / (g_leak + g_exc + g_inh)`). Equal spacing is what makes the step cheap: the factor
//! from node `k` to the step's end is `z^(4-k) e^(-D_k)` with `z = e^(-A(dt)/4)`, one
//! exponential per step, and `D_k = (k/4) A(dt) - A(s_k)`, linear in the conductances and
//! tiny (the curvature of `A` within a step: about 1e-6 per nS), taken as its Taylor
//! series to `D³`. Both the exponential (Taylor series without range reduction, `|A(dt)/4|
//! <= 1/8`) and the series of `e^(-D_k)` (`|D_k| <= 1e-3`) hold to about 1e-16 relative only
//! for conductances below about 800 nS; a neuron beyond that bound is stepped with four full
//! exponentials instead (the factor over the step and to each inner node), the same
//! quadrature, on pieces of the step over which the factor changes by at most `e^0.5`.
//! The choice is made per neuron from its own conductances, so results do not
//! depend on which neurons share a block or a thread. A step costs about 50 fused
//! multiply-adds: every product-and-sum of the fast step is one `mul_add`, rounded once,
//! which gives the same bits from the processor's FMA unit and from the library's `fma` on a
//! processor without one. The test suite measures the result against an adaptive Runge–Kutta solution
//! of all three equations at 1e-10 tolerance over 1 s at dt = 0.1 ms under strong COBA-like
//! input (`tests/models.rs`), in both regimes. No elementary closed form exists (the
//! propagator is an incomplete gamma function of the conductances). The event-driven skip is
//! not used: conductance neurons under network input receive input nearly every step, so the
//! population is clocked.
//!
//! `method = "rk4"`: the classical Runge–Kutta method on the potential with the exact
//! conductances at the stage times, about 50 times less accurate under the same input.
//! `method = "euler"`: Brian2's forward Euler on all three variables, offered to reproduce
//! Brian2's numbers.

use super::method::Method;
use super::{
    BLOCK, BlockInputs, ClockedModel, Lanes, MAX_VARIABLES, ParamError, Synapses, below, finite,
    largest_magnitude, load, positive, potential, refractory_steps, step_lanes,
};
use crate::neuron::UpdateOperations;
use serde::Deserialize;

/// The parameters of a `lif_cond_exp` population.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Membrane time constant `C / g_leak` \[ms\].
    pub tau_m_ms: f64,
    /// Leak conductance \[nS\].
    pub g_leak_ns: f64,
    /// Resting (leak reversal) potential \[mV\].
    pub v_rest_mv: f64,
    /// Threshold \[mV\].
    pub v_th_mv: f64,
    /// Reset potential \[mV\]. Default `v_rest_mv`.
    pub v_reset_mv: Option<f64>,
    /// Refractory period \[ms\], a whole number of steps. Default 0.
    pub t_ref_ms: Option<f64>,
    /// Excitatory reversal potential \[mV\]. Default 0.
    pub e_exc_mv: Option<f64>,
    /// Inhibitory reversal potential \[mV\]. Default -80.
    pub e_inh_mv: Option<f64>,
    /// Excitatory conductance time constant \[ms\].
    pub tau_syn_exc_ms: f64,
    /// Inhibitory conductance time constant \[ms\].
    pub tau_syn_inh_ms: f64,
    /// Constant input current \[pA\]. Default 0.
    pub bias_pa: Option<f64>,
    /// `integrating_factor` (default), `rk4` or `euler`.
    pub method: Option<Method>,
    /// False for a population that integrates but never spikes. Default true.
    pub spiking: Option<bool>,
}

/// `lif_cond_exp` with its parameters and step propagators.
#[derive(Debug, Clone)]
pub struct LifCondExp {
    v_rest: f64,
    v_th: f64,
    v_reset: f64,
    ref_steps: u32,
    e_exc: f64,
    e_inh: f64,
    inv_tau_m: f64,
    inv_g_leak: f64,
    /// `bias / C` \[mV/ms\].
    drift: f64,
    dt: f64,
    method: Method,
    spiking: bool,
    /// Conductance decay over half a step and over a step (rk4), or `1 - dt/tau` (euler).
    exc_half: f64,
    exc_step: f64,
    inh_half: f64,
    inh_step: f64,
    /// The quadrature of `integrating_factor`.
    quadrature: Quadrature,
    /// `1 / tau_exc`, `1 / tau_inh` \[1/ms\].
    inv_tau_syn: [f64; 2],
    /// `A(s)` per nS of each conductance at `s = ∞`: `tau / (g_leak tau_m)` \[1/nS\].
    exponent_per_ns: [f64; 2],
    /// The forward Euler step of `euler`, as linear forms of the conductances.
    euler: EulerStep,
}

/// `method = "euler"`'s step of the potential, `v + dt (a - b v)` with `a` and `b` linear in
/// the conductances, as `v k + c` with `k = 1 - dt b` and `c = dt a` linear forms whose
/// coefficients are computed once: four fused multiply-adds and an add a step.
#[derive(Debug, Clone, Copy, Default)]
struct EulerStep {
    /// `k` at zero conductance, `1 - dt / tau_m`.
    keep: f64,
    /// `-dt / (g_leak tau_m)`: `k`'s change per nS of either conductance \[1/nS\].
    keep_per_ns: f64,
    /// `c` at zero conductance: `dt (v_rest / tau_m + bias / C)` \[mV\].
    drive: f64,
    /// `c`'s change per nS of the excitatory and inhibitory conductances:
    /// `dt e / (g_leak tau_m)` \[mV/nS\].
    drive_per_ns: [f64; 2],
}

impl EulerStep {
    /// The coefficients of `model`'s Euler step.
    fn new(model: &LifCondExp) -> Self {
        let h = model.dt;
        let per_ns = h * model.inv_g_leak * model.inv_tau_m;
        EulerStep {
            keep: 1.0 - h * model.inv_tau_m,
            keep_per_ns: -per_ns,
            drive: h * (model.v_rest * model.inv_tau_m + model.drift),
            drive_per_ns: [per_ns * model.e_exc, per_ns * model.e_inh],
        }
    }

    /// The potential after a step from `v` at conductances `g_exc`, `g_inh`.
    #[inline(always)]
    fn advance(&self, v: f64, g_exc: f64, g_inh: f64) -> f64 {
        let keep = (g_exc + g_inh).mul_add(self.keep_per_ns, self.keep);
        let drive = g_exc.mul_add(
            self.drive_per_ns[0],
            g_inh.mul_add(self.drive_per_ns[1], self.drive),
        );
        v.mul_add(keep, drive)
    }
}

/// The most pieces a full `integrating_factor` step is split into (conductances beyond
/// about 10⁶ times the leak's take this many, and lose accuracy beyond).
const MAX_PIECES: f64 = 4096.0;

/// Boole's rule on five equally spaced nodes `k dt/4`: its weights over a step of 1.
const BOOLE_WEIGHTS: [f64; 5] = [
    7.0 / 90.0,
    32.0 / 90.0,
    12.0 / 90.0,
    32.0 / 90.0,
    7.0 / 90.0,
];

/// The largest `|A(dt)/4|` of the fast step: its exponential's Taylor series to degree 10 is
/// then within 3e-18 relative (`(1/8)¹¹ / 11!`).
const FAST_EXPONENT: f64 = 0.125;

/// The largest `|D_k|` of the fast step: the series of `e^(-D)` to `D³` is then within 4e-14
/// relative (`D⁴ / 24`) of a node's contribution, a few mV at most.
const FAST_CURVATURE: f64 = 1e-3;

/// What the `integrating_factor` step needs, precomputed for one `dt`, as linear functions
/// of the conductances at the step's start.
#[derive(Debug, Clone, Default)]
struct Quadrature {
    /// `A(dt) = step[0] + g_exc step[1] + g_inh step[2]`.
    step: [f64; 3],
    /// `-A(dt) / 4` in the same form (the fast step's exponent).
    quarter_step: [f64; 3],
    /// `D_k = g_exc curvature[k][0] + g_inh curvature[k][1]` at the inner nodes `k = 1, 2, 3`.
    curvature: [[f64; 2]; 3],
    /// `w_k b(s_k) = rate[k][0] + g_exc rate[k][1] + g_inh rate[k][2]` (weights included), at
    /// the five nodes.
    rate: [[f64; 3]; 5],
    /// The fast step applies where `|g_exc| bound[0] + |g_inh| bound[1] <= 1`.
    bound: [f64; 2],
}

impl Quadrature {
    fn new(m: &LifCondExp, tau_m: f64, g_leak: f64, (tau_exc, tau_inh): (f64, f64)) -> Self {
        let h = m.dt;
        let (ke, ki) = (tau_exc / (g_leak * tau_m), tau_inh / (g_leak * tau_m));
        let exc = |s: f64| (-s / tau_exc).exp();
        let inh = |s: f64| (-s / tau_inh).exp();
        // A(s) per unit of each conductance.
        let (ae, ai) = (|s: f64| ke * (1.0 - exc(s)), |s: f64| ki * (1.0 - inh(s)));
        let step = [h / tau_m, ae(h), ai(h)];
        let mut q = Quadrature {
            step,
            quarter_step: step.map(|c| -0.25 * c),
            ..Default::default()
        };
        let mut largest = [0.0f64; 2];
        for (k, weight) in BOOLE_WEIGHTS.iter().enumerate() {
            let s = 0.25 * h * k as f64;
            if (1..4).contains(&k) {
                let fraction = 0.25 * k as f64;
                q.curvature[k - 1] = [fraction * ae(h) - ae(s), fraction * ai(h) - ai(s)];
                for (l, c) in largest.iter_mut().zip(q.curvature[k - 1]) {
                    *l = l.max(c.abs());
                }
            }
            let w = h * weight;
            q.rate[k] = [
                w * (m.v_rest * m.inv_tau_m + m.drift),
                w * exc(s) * m.e_exc * m.inv_g_leak * m.inv_tau_m,
                w * inh(s) * m.e_inh * m.inv_g_leak * m.inv_tau_m,
            ];
        }
        // Within both bounds: |D_k| <= FAST_CURVATURE and |A(dt)/4| <= FAST_EXPONENT (the
        // leak's share of A(dt) taken from the latter's margin).
        let margin = FAST_EXPONENT - 0.25 * step[0];
        q.bound = [
            (largest[0] / FAST_CURVATURE).max(0.25 * step[1] / margin),
            (largest[1] / FAST_CURVATURE).max(0.25 * step[2] / margin),
        ];
        q
    }
}

/// `e^x` for `|x| <= FAST_EXPONENT`: its Taylor series to degree 10, without range
/// reduction.
#[inline(always)]
fn exp_small(x: f64) -> f64 {
    let mut p: f64 = 1.0 / 3_628_800.0; // 1/10!
    for d in [362_880.0, 40_320.0, 5_040.0, 720.0, 120.0, 24.0, 6.0, 2.0, 1.0, 1.0] {
        p = p.mul_add(x, 1.0 / d);
    }
    p
}

/// One `lif_cond_exp` neuron: three `f64`, the refractory period held in the potential's
/// field (while refractory the potential is `v_reset`, so the field is free to say until
/// when), so that a step streams 24 bytes of state per neuron instead of 32.
#[derive(Debug, Clone, Copy)]
pub struct State {
    /// Membrane potential \[mV\]; while refractory, [`refractory_until`] of the last
    /// refractory step (read by [`ClockedModel::values`] as `v_reset`).
    pub v: f64,
    /// Excitatory conductance \[nS\].
    pub g_exc: f64,
    /// Inhibitory conductance \[nS\].
    pub g_inh: f64,
}
record!(State { v, g_exc, g_inh });

/// The bits that mark a refractory neuron's potential field: a negative quiet NaN with bit 50
/// set, which arithmetic never produces (its NaNs have that bit clear, or carry an input's
/// payload, and no input is such a field); the low 32 bits hold the last refractory step.
const REFRACTORY: u64 = 0xFFFC_0000_0000_0000;

/// The potential field of a neuron refractory through step `last`.
pub fn refractory_until(last: u32) -> f64 {
    f64::from_bits(REFRACTORY | u64::from(last))
}

impl State {
    /// Whether the potential field holds a refractory period.
    #[inline(always)]
    fn refractory(&self) -> bool {
        self.v.to_bits() & REFRACTORY == REFRACTORY
    }

    /// The last refractory step the potential field holds (when [`Self::refractory`]), as
    /// `f64`: the low 32 bits put into the mantissa of 2^52, which is then subtracted
    /// (exact, and branch-free bit operations that vectorize).
    #[inline(always)]
    fn last_refractory_step(&self) -> f64 {
        const TWO_TO_52: f64 = 4_503_599_627_370_496.0;
        let low = self.v.to_bits() & u64::from(u32::MAX);
        f64::from_bits(TWO_TO_52.to_bits() | low) - TWO_TO_52
    }
}

impl LifCondExp {
    /// `dv/dt = a - b v` at conductances `g_exc`, `g_inh`: `(a, b)`.
    #[inline(always)]
    fn coefficients(&self, g_exc: f64, g_inh: f64) -> (f64, f64) {
        let ge = g_exc * self.inv_g_leak;
        let gi = g_inh * self.inv_g_leak;
        let a = (self.v_rest + ge * self.e_exc + gi * self.e_inh) * self.inv_tau_m + self.drift;
        let b = (1.0 + ge + gi) * self.inv_tau_m;
        (a, b)
    }

    /// The `integrating_factor` step of a neuron within the bound of [`Quadrature::bound`]:
    /// one exponential, every product-and-sum a fused multiply-add (one rounding each: the
    /// same bits from the processor's FMA unit and from the library's `fma`).
    #[inline(always)]
    fn fast_step(&self, v: f64, g_exc: f64, g_inh: f64) -> f64 {
        let q = &self.quadrature;
        let linear = |c: &[f64; 3]| g_inh.mul_add(c[2], g_exc.mul_add(c[1], c[0]));
        let z = exp_small(linear(&q.quarter_step));
        let z2 = z * z;
        let z4 = z2 * z2;
        // From node k to the step's end: z^(4-k) e^(-D_k), node 4's factor 1.
        let powers = [z2 * z, z2, z];
        let mut input = linear(&q.rate[0]).mul_add(z4, linear(&q.rate[4]));
        for ((power, curvature), rate) in powers.iter().zip(&q.curvature).zip(&q.rate[1..4]) {
            let d = g_inh.mul_add(curvature[1], g_exc * curvature[0]);
            let series = d.mul_add(d.mul_add(d.mul_add(-1.0 / 6.0, 0.5), -1.0), 1.0);
            input = linear(rate).mul_add(power * series, input);
        }
        v.mul_add(z4, input)
    }

    /// The `integrating_factor` step of any neuron: Boole's rule with every factor by the full
    /// exponential, on pieces of the step short enough that the integrating factor changes
    /// by at most `e^0.5` over each, as in the fast step (a stiff neuron, whose effective time
    /// constant `C / (g_leak + g_exc + g_inh)` is near `dt` or below, is split; the
    /// conductances decay exactly from piece to piece).
    #[inline(always)]
    fn full_step(&self, v: f64, g_exc: f64, g_inh: f64) -> f64 {
        let q = &self.quadrature;
        let total = q.step[0] + g_exc * q.step[1] + g_inh * q.step[2];
        // (NaN stays one piece, so that it reaches the potential: max and min return the
        // number, where clamp would return NaN.)
        #[allow(clippy::manual_clamp)]
        let pieces = (2.0 * total.abs()).ceil().max(1.0).min(MAX_PIECES);
        let h = self.dt / pieces;
        let exp = super::method::exp;
        let decay = [exp(-h * self.inv_tau_syn[0]), exp(-h * self.inv_tau_syn[1])];
        let (mut v, mut g) = (v, [g_exc, g_inh]);
        for _ in 0..pieces as u32 {
            v = self.boole_piece(v, g, h);
            g = [g[0] * decay[0], g[1] * decay[1]];
        }
        v
    }

    /// The potential after `h` \[ms\] from `v` with conductances `g` at the start, by
    /// Boole's rule with every factor by the full exponential.
    #[inline(always)]
    fn boole_piece(&self, v: f64, g: [f64; 2], h: f64) -> f64 {
        let exp = super::method::exp;
        let quarter = [
            exp(-0.25 * h * self.inv_tau_syn[0]),
            exp(-0.25 * h * self.inv_tau_syn[1]),
        ];
        let (mut decayed, mut exponent, mut rate) = ([1.0f64; 2], [0.0f64; 5], [0.0f64; 5]);
        let (ge, gi) = (g[0] * self.inv_g_leak, g[1] * self.inv_g_leak);
        for (k, weight) in BOOLE_WEIGHTS.iter().enumerate() {
            let s = 0.25 * h * k as f64;
            exponent[k] = s * self.inv_tau_m
                + g[0] * self.exponent_per_ns[0] * (1.0 - decayed[0])
                + g[1] * self.exponent_per_ns[1] * (1.0 - decayed[1]);
            let drive = self.v_rest + ge * decayed[0] * self.e_exc + gi * decayed[1] * self.e_inh;
            rate[k] = h * weight * (drive * self.inv_tau_m + self.drift);
            decayed = [decayed[0] * quarter[0], decayed[1] * quarter[1]];
        }
        let mut input = rate[4];
        for k in 0..4 {
            input += rate[k] * exp(exponent[k] - exponent[4]);
        }
        v * exp(-exponent[4]) + input
    }

    /// Whether a neuron with conductances `g_exc`, `g_inh` takes the fast step (false for
    /// NaN).
    #[inline(always)]
    fn within_fast_bound(&self, g_exc: f64, g_inh: f64) -> bool {
        let b = self.quadrature.bound;
        g_exc.abs() * b[0] + g_inh.abs() * b[1] <= 1.0
    }

    /// The potential after one step from `v` with conductances `g_exc`, `g_inh` at its start,
    /// by `method`; `FAST` when every neuron of the block is within the fast step's bound.
    #[inline(always)]
    fn advance_v<const FAST: bool>(&self, method: Method, v: f64, g_exc: f64, g_inh: f64) -> f64 {
        let h = self.dt;
        match method {
            // (izhikevich_2003 is refused when the model is built.)
            Method::IntegratingFactor | Method::Izhikevich2003 => {
                let fast = self.within_fast_bound(g_exc, g_inh);
                if FAST {
                    self.fast_step(v, g_exc, g_inh)
                } else {
                    // A select, not a branch: both are computed for a block that holds a
                    // neuron beyond the bound (see `advance_block`).
                    let full = self.full_step(v, g_exc, g_inh);
                    if fast { self.fast_step(v, g_exc, g_inh) } else { full }
                }
            }
            Method::Rk4 => {
                let (a0, b0) = self.coefficients(g_exc, g_inh);
                let (ah, bh) = self.coefficients(g_exc * self.exc_half, g_inh * self.inh_half);
                let (a1, b1) = self.coefficients(g_exc * self.exc_step, g_inh * self.inh_step);
                let k1 = a0 - b0 * v;
                let k2 = ah - bh * (v + 0.5 * h * k1);
                let k3 = ah - bh * (v + 0.5 * h * k2);
                let k4 = a1 - b1 * (v + h * k3);
                v + h / 6.0 * (k1 + 2.0 * (k2 + k3) + k4)
            }
            Method::Euler => self.euler.advance(v, g_exc, g_inh),
        }
    }
}

/// [`Method::Euler`] as a const generic code.
const EULER: u8 = 0;
/// [`Method::Rk4`] as a const generic code.
const RK4: u8 = 1;
/// [`Method::IntegratingFactor`] as a const generic code.
const INTEGRATING_FACTOR: u8 = 2;

impl LifCondExp {
    /// [`ClockedModel::advance_block`] by the method coded `METHOD`.
    #[inline(always)]
    fn advance_all<const METHOD: u8, const FAST: bool>(
        &self,
        block: &mut [[f64; BLOCK]],
        t: u32,
        inputs: &mut impl BlockInputs,
    ) -> Lanes {
        let method = match METHOD {
            EULER => Method::Euler,
            RK4 => Method::Rk4,
            _ => Method::IntegratingFactor,
        };
        let time = f64::from(t);
        // (The closure inlined: a call would lose the caller's target features.)
        step_lanes(
            self,
            block,
            t,
            inputs,
            #[inline(always)]
            |s: &mut State, e, i| self.advance_by::<FAST>(method, s, time, e, i),
        )
    }

    /// [`ClockedModel::advance`] by `method`, at step `t`.
    #[inline(always)]
    fn advance_by<const FAST: bool>(
        &self,
        method: Method,
        s: &mut State,
        t: f64,
        in_exc: f64,
        in_inh: f64,
    ) {
        // Held while refractory (selects, not branches); advanced from v_reset after.
        let refractory = s.refractory();
        let held = refractory & (t <= s.last_refractory_step());
        let v = if refractory { self.v_reset } else { s.v };
        let advanced = self.advance_v::<FAST>(method, v, s.g_exc, s.g_inh);
        s.v = if held { s.v } else { advanced };
        s.g_exc = s.g_exc * self.exc_step + in_exc;
        s.g_inh = s.g_inh * self.inh_step + in_inh;
    }
}

impl ClockedModel for LifCondExp {
    const NAME: &'static str = "lif_cond_exp";
    type Params = Params;
    type State = State;
    const VARIABLES: &'static [&'static str] = &["v_mv", "g_exc_ns", "g_inh_ns"];
    const SYNAPSES: Synapses = Synapses::Conductance;
    const DIRECT_INPUTS: Option<[usize; 2]> = Some([1, 2]);

    fn new(p: Params, dt_ms: f64) -> Result<Self, ParamError> {
        let tau_m = positive("tau_m_ms", p.tau_m_ms)?;
        let g_leak = positive("g_leak_ns", p.g_leak_ns)?;
        let tau_exc = positive("tau_syn_exc_ms", p.tau_syn_exc_ms)?;
        let tau_inh = positive("tau_syn_inh_ms", p.tau_syn_inh_ms)?;
        let v_rest = potential("v_rest_mv", p.v_rest_mv)?;
        let v_th = potential("v_th_mv", p.v_th_mv)?;
        let v_reset = potential("v_reset_mv", p.v_reset_mv.unwrap_or(v_rest))?;
        below("v_reset_mv", v_reset, ("v_th_mv", v_th))?;
        let method = p.method.unwrap_or(Method::IntegratingFactor);
        if method == Method::Izhikevich2003 {
            return Err(ParamError::new(
                "method",
                "izhikevich_2003 applies to the izhikevich model; lif_cond_exp takes integrating_factor, rk4 or euler",
            ));
        }
        let decay = |tau: f64, s: f64| match method {
            Method::Rk4 | Method::IntegratingFactor | Method::Izhikevich2003 => (-s / tau).exp(),
            Method::Euler => 1.0 - s / tau,
        };
        let mut model = LifCondExp {
            v_rest,
            v_th,
            v_reset,
            ref_steps: refractory_steps("t_ref_ms", p.t_ref_ms.unwrap_or(0.0), dt_ms)?,
            e_exc: potential("e_exc_mv", p.e_exc_mv.unwrap_or(0.0))?,
            e_inh: potential("e_inh_mv", p.e_inh_mv.unwrap_or(-80.0))?,
            inv_tau_m: 1.0 / tau_m,
            inv_g_leak: 1.0 / g_leak,
            drift: finite("bias_pa", p.bias_pa.unwrap_or(0.0))? / (tau_m * g_leak),
            dt: dt_ms,
            method,
            spiking: p.spiking.unwrap_or(true),
            exc_half: decay(tau_exc, 0.5 * dt_ms),
            exc_step: decay(tau_exc, dt_ms),
            inh_half: decay(tau_inh, 0.5 * dt_ms),
            inh_step: decay(tau_inh, dt_ms),
            quadrature: Quadrature::default(),
            inv_tau_syn: [1.0 / tau_exc, 1.0 / tau_inh],
            exponent_per_ns: [tau_exc / (g_leak * tau_m), tau_inh / (g_leak * tau_m)],
            euler: EulerStep::default(),
        };
        model.quadrature = Quadrature::new(&model, tau_m, g_leak, (tau_exc, tau_inh));
        model.euler = EulerStep::new(&model);
        Ok(model)
    }

    fn initial(&self, v_mv: f64) -> State {
        State {
            v: v_mv,
            g_exc: 0.0,
            g_inh: 0.0,
        }
    }

    fn with_values(&self, values: &[f64; MAX_VARIABLES]) -> State {
        State {
            v: values[0],
            g_exc: values[1],
            g_inh: values[2],
        }
    }

    fn resting_potential(&self) -> f64 {
        self.v_rest
    }

    fn voltage_scale(&self) -> f64 {
        largest_magnitude(&[self.v_rest, self.v_th, self.v_reset, self.e_exc, self.e_inh])
    }

    #[inline(always)]
    fn advance(&self, s: &mut State, t: u32, in_exc: f64, in_inh: f64) {
        self.advance_by::<false>(self.method, s, f64::from(t), in_exc, in_inh);
    }

    #[inline(always)]
    fn advance_block(
        &self,
        block: &mut [[f64; BLOCK]],
        t: u32,
        inputs: &mut impl BlockInputs,
    ) -> Lanes {
        // The method chosen once per block: each loop is branch-free. (Plain loops, not
        // closures: a closure that is not inlined would lose the caller's target features.)
        match self.method {
            Method::Euler => self.advance_all::<EULER, false>(block, t, inputs),
            Method::Rk4 => self.advance_all::<RK4, false>(block, t, inputs),
            Method::IntegratingFactor | Method::Izhikevich2003 => {
                // The fast step alone where every neuron of the block is within its bound.
                let mut all_fast = true;
                for lane in 0..inputs.lanes() {
                    let s: State = load(block, lane);
                    all_fast &= self.within_fast_bound(s.g_exc, s.g_inh);
                }
                if all_fast {
                    self.advance_all::<INTEGRATING_FACTOR, true>(block, t, inputs)
                } else {
                    self.advance_all::<INTEGRATING_FACTOR, false>(block, t, inputs)
                }
            }
        }
    }

    #[inline(always)]
    fn crossed(&self, s: &State, _t: u32) -> bool {
        // (A refractory field is NaN: no crossing.)
        self.spiking & (s.v >= self.v_th)
    }

    #[inline(always)]
    fn reset(&self, s: &mut State, t: u32) {
        s.v = refractory_until(t + self.ref_steps);
    }

    fn values(&self, s: &State, out: &mut [f64; MAX_VARIABLES]) {
        let v = if s.refractory() { self.v_reset } else { s.v };
        out[..3].copy_from_slice(&[v, s.g_exc, s.g_inh]);
    }

    #[inline(always)]
    fn magnitude(s: &State) -> f64 {
        // (A refractory potential is v_reset, within every bound: counted as 0.)
        let v = if s.refractory() { 0.0 } else { s.v };
        v.abs() + (s.g_exc.abs() + s.g_inh.abs())
    }

    /// Counted from [`Self::update`], a fused multiply-add as one multiply and one add:
    /// integrating_factor's fast step checks its bound (2 multiplies, 1 add), evaluates 6
    /// linear forms (2 and 2 each), the exponential's series (10 and 10), the powers (3
    /// multiplies), 3 curvatures (2 and 1) with their series (3 and 3) and products (1
    /// multiply), the 5 accumulations (1 and 1), and the two conductance decays (1 and 1);
    /// rk4 evaluates the coefficients at three times (5
    /// multiplies, 5 adds each), the four stages and their sum (10 multiplies, 10 adds), the
    /// four conductance decays and two inputs, and the comparison; euler its two linear
    /// forms (3 multiplies, 4 adds: see [`EulerStep`]), the potential's step (1 and 1), the
    /// two conductance decays with their inputs (2 and 2), and the comparison.
    fn operations(&self) -> UpdateOperations {
        match self.method {
            Method::IntegratingFactor | Method::Izhikevich2003 => UpdateOperations {
                multiplies: 52,
                adds: 42,
            },
            Method::Rk4 => UpdateOperations {
                multiplies: 31,
                adds: 28,
            },
            Method::Euler => UpdateOperations {
                multiplies: 6,
                adds: 8,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Accumulated, store};

    fn model() -> LifCondExp {
        let params: Params = toml::from_str(
            "tau_m_ms = 20.0\ng_leak_ns = 10.0\nv_rest_mv = -60.0\nv_th_mv = -50.0\n\
             tau_syn_exc_ms = 5.0\ntau_syn_inh_ms = 10.0\nbias_pa = 100.0",
        )
        .unwrap();
        LifCondExp::new(params, 0.1).unwrap()
    }

    #[test]
    fn the_fast_step_agrees_with_the_full_step_within_its_bound() {
        let m = model();
        let mut worst = 0.0f64;
        for e in 0..40 {
            for i in 0..40 {
                let (g_exc, g_inh) = (20.0 * f64::from(e), 40.0 * f64::from(i));
                if !m.within_fast_bound(g_exc, g_inh) {
                    continue;
                }
                let (fast, full) = (m.fast_step(-55.0, g_exc, g_inh), m.full_step(-55.0, g_exc, g_inh));
                worst = worst.max((fast - full).abs());
            }
        }
        assert!(worst < 1e-12, "{worst} mV");
        // The bound admits COBA's conductances and refuses large ones.
        assert!(m.within_fast_bound(200.0, 500.0));
        assert!(!m.within_fast_bound(0.0, 5000.0) && !m.within_fast_bound(f64::NAN, 0.0));
    }

    #[test]
    fn a_block_gives_each_neuron_the_bits_of_its_own_step() {
        let m = model();
        // Neurons within and beyond the fast step's bound in one block, and a block within;
        // a whole block and a part of one.
        for (beyond, lanes) in [(true, BLOCK), (false, BLOCK), (true, 37), (false, 5)] {
            let states: Vec<State> = (0..lanes)
                .map(|j| State {
                    g_exc: 3.0 * j as f64,
                    g_inh: if beyond && j % 7 == 3 { 4000.0 } else { 10.0 * j as f64 },
                    v: if j % 11 == 0 {
                        refractory_until(if j % 22 == 0 { 4 } else { 3 })
                    } else {
                        -60.0 + 0.25 * j as f64
                    },
                })
                .collect();
            let mut block = vec![[0.0; BLOCK]; 4];
            for (j, s) in states.iter().enumerate() {
                store(&mut block, j, s);
            }
            let input = |j: usize| if j.is_multiple_of(3) { -0.0 } else { 1.5 };
            let mut exc: Vec<f64> = (0..lanes).map(input).collect();
            let mut inh = vec![-0.0; lanes];
            let mut inputs = Accumulated {
                exc: &mut exc,
                inh: &mut inh,
            };
            let found = m.advance_block(&mut block, 4, &mut inputs);
            assert!(exc.iter().chain(&inh).all(|x| x.to_bits() == (-0.0f64).to_bits()));
            let mut magnitude = 0.0;
            for (j, s) in states.iter().enumerate() {
                let (mut alone, got): (State, State) = (*s, load(&block, j));
                m.advance(&mut alone, 4, input(j), -0.0);
                assert_eq!(alone.v.to_bits(), got.v.to_bits(), "neuron {j}");
                assert_eq!(alone.g_exc.to_bits(), got.g_exc.to_bits());
                assert_eq!(alone.g_inh.to_bits(), got.g_inh.to_bits());
                assert_eq!((found.received >> j) & 1 == 1, !j.is_multiple_of(3), "neuron {j}");
                assert_eq!((found.crossed >> j) & 1 == 1, m.crossed(&alone, 4), "neuron {j}");
                magnitude += LifCondExp::magnitude(&alone);
            }
            let beyond_lanes = |bits: u64| bits.checked_shr(lanes as u32).unwrap_or(0);
            assert_eq!((beyond_lanes(found.received), beyond_lanes(found.crossed)), (0, 0));
            assert!((found.magnitude - magnitude).abs() <= 1e-9 * magnitude);
        }
    }
}
