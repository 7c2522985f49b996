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
//! integrand is smooth on the step, is computed numerically, by 4-point Gauss–Lobatto
//! quadrature (exact for polynomials of degree 5; error O(dt⁷) times the sixth derivative of
//! the integrand, set by the fastest time scale `C / (g_leak + g_exc + g_inh)`). Lobatto's
//! end nodes are the step's ends, where the integrating factor is the step's own or 1, so a
//! step costs three exponentials (4-point Gauss–Legendre, degree 7, costs five and measured
//! 1.1e-9 mV). The test suite measures the result against an adaptive Runge–Kutta solution of
//! all three equations at 1e-10 tolerance over 1 s at dt = 0.1 ms under strong COBA-like
//! input (`tests/models.rs`): 8.1e-9 mV. No elementary closed form exists (the propagator is an incomplete
//! gamma function of the conductances). The event-driven skip is not used: conductance
//! neurons under network input receive input nearly every step, so the population is clocked.
//!
//! `method = "rk4"`: the classical Runge–Kutta method on the potential with the exact
//! conductances at the stage times, about 50 times less accurate under the same input.
//! `method = "euler"`: Brian2's forward Euler on all three variables, offered to reproduce
//! Brian2's numbers.

use super::method::Method;
use super::{
    potential,
    below, largest_magnitude,
    BLOCK, ClockedModel, MAX_VARIABLES, ParamError, Synapses, advance_lanes, finite, positive,
    refractory_steps,
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
}

/// Gauss–Lobatto nodes on `[-1, 1]` and their weights (4 points, exact for polynomials of
/// degree 5): the end nodes are the step's ends, where the integrating factor is the step's
/// own (`s = 0`) or 1 (`s = dt`), so only the two inner nodes need an exponential.
const LOBATTO_NODES: [f64; 4] = [-1.0, -0.447_213_595_499_957_9, 0.447_213_595_499_957_9, 1.0];
const LOBATTO_WEIGHTS: [f64; 4] = [1.0 / 6.0, 5.0 / 6.0, 5.0 / 6.0, 1.0 / 6.0];

/// What the `integrating_factor` step needs, precomputed for one `dt`: the exponent of the
/// integrating factor over the step and from each node to the step's end, and the input
/// rate at each node, as linear functions of the conductances at the step's start.
#[derive(Debug, Clone, Default)]
struct Quadrature {
    /// `A(dt) = step[0] + g_exc step[1] + g_inh step[2]`.
    step: [f64; 3],
    /// `A(dt) - A(s_k) = gap[k][0] + g_exc gap[k][1] + g_inh gap[k][2]` at the inner nodes.
    gap: [[f64; 3]; 2],
    /// `w_k b(s_k) = rate[k][0] + g_exc rate[k][1] + g_inh rate[k][2]` (weights included), at
    /// the four nodes.
    rate: [[f64; 3]; 4],
}

impl Quadrature {
    fn new(m: &LifCondExp, tau_m: f64, g_leak: f64, (tau_exc, tau_inh): (f64, f64)) -> Self {
        let h = m.dt;
        let (ke, ki) = (tau_exc / (g_leak * tau_m), tau_inh / (g_leak * tau_m));
        let exc = |s: f64| (-s / tau_exc).exp();
        let inh = |s: f64| (-s / tau_inh).exp();
        let step = [h / tau_m, ke * (1.0 - exc(h)), ki * (1.0 - inh(h))];
        let mut q = Quadrature {
            step,
            ..Default::default()
        };
        for k in 0..4 {
            let s = 0.5 * h * (1.0 + LOBATTO_NODES[k]);
            let w = 0.5 * h * LOBATTO_WEIGHTS[k];
            if (1..3).contains(&k) {
                q.gap[k - 1] = [
                    (h - s) / tau_m,
                    ke * (exc(s) - exc(h)),
                    ki * (inh(s) - inh(h)),
                ];
            }
            q.rate[k] = [
                w * (m.v_rest * m.inv_tau_m + m.drift),
                w * exc(s) * m.e_exc * m.inv_g_leak * m.inv_tau_m,
                w * inh(s) * m.e_inh * m.inv_g_leak * m.inv_tau_m,
            ];
        }
        q
    }
}

/// One `lif_cond_exp` neuron.
#[derive(Debug, Clone, Copy)]
pub struct State {
    /// Membrane potential \[mV\].
    pub v: f64,
    /// Excitatory conductance \[nS\].
    pub g_exc: f64,
    /// Inhibitory conductance \[nS\].
    pub g_inh: f64,
    /// Last refractory step (a whole number, held as f64 so that the record is four f64
    /// and a block of records vectorizes).
    pub ref_end: f64,
}
record!(State { v, g_exc, g_inh, ref_end });

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

    /// The potential after one step from `v` with conductances `g_exc`, `g_inh` at its start,
    /// by `method`.
    #[inline(always)]
    fn advance_v(&self, method: Method, v: f64, g_exc: f64, g_inh: f64) -> f64 {
        let h = self.dt;
        match method {
            // (izhikevich_2003 is refused when the model is built.)
            Method::IntegratingFactor | Method::Izhikevich2003 => {
                let q = &self.quadrature;
                let linear = |c: &[f64; 3]| c[0] + g_exc * c[1] + g_inh * c[2];
                // The first node's factor is the step's; the last node's is 1.
                let factor = super::method::exp(-linear(&q.step));
                let mut input = linear(&q.rate[0]) * factor + linear(&q.rate[3]);
                for k in 0..2 {
                    input += linear(&q.rate[k + 1]) * super::method::exp(-linear(&q.gap[k]));
                }
                v * factor + input
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
            Method::Euler => {
                let (a, b) = self.coefficients(g_exc, g_inh);
                v + h * (a - b * v)
            }
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
    fn advance_all<const METHOD: u8>(
        &self,
        block: &mut [[f64; BLOCK]],
        t: u32,
        exc: &mut [f64],
        inh: &mut [f64],
    ) {
        let method = match METHOD {
            EULER => Method::Euler,
            RK4 => Method::Rk4,
            _ => Method::IntegratingFactor,
        };
        let t = f64::from(t);
        // (The closure inlined: a call would lose the caller's target features.)
        advance_lanes(
            block,
            exc,
            inh,
            #[inline(always)]
            |s: &mut State, e, i| self.advance_by(method, s, t, e, i),
        );
    }

    /// [`ClockedModel::advance`] by `method`, at step `t`.
    #[inline(always)]
    fn advance_by(&self, method: Method, s: &mut State, t: f64, in_exc: f64, in_inh: f64) {
        let advanced = self.advance_v(method, s.v, s.g_exc, s.g_inh);
        // Held while refractory (a select, not a branch).
        s.v = if t <= s.ref_end { s.v } else { advanced };
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
        };
        model.quadrature = Quadrature::new(&model, tau_m, g_leak, (tau_exc, tau_inh));
        Ok(model)
    }

    fn initial(&self, v_mv: f64) -> State {
        State {
            v: v_mv,
            g_exc: 0.0,
            g_inh: 0.0,
            ref_end: 0.0,
        }
    }

    fn with_values(&self, values: &[f64; MAX_VARIABLES]) -> State {
        State {
            v: values[0],
            g_exc: values[1],
            g_inh: values[2],
            ref_end: 0.0,
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
        self.advance_by(self.method, s, f64::from(t), in_exc, in_inh);
    }

    #[inline(always)]
    fn advance_block(&self, block: &mut [[f64; BLOCK]], t: u32, exc: &mut [f64], inh: &mut [f64]) {
        // The method chosen once per block: each loop is branch-free. (Plain loops, not
        // closures: a closure that is not inlined would lose the caller's target features.)
        match self.method {
            Method::Euler => self.advance_all::<EULER>(block, t, exc, inh),
            Method::Rk4 => self.advance_all::<RK4>(block, t, exc, inh),
            Method::IntegratingFactor | Method::Izhikevich2003 => {
                self.advance_all::<INTEGRATING_FACTOR>(block, t, exc, inh)
            }
        }
    }

    #[inline(always)]
    fn crossed(&self, s: &State, t: u32) -> bool {
        self.spiking & (f64::from(t) > s.ref_end) & (s.v >= self.v_th)
    }

    #[inline(always)]
    fn reset(&self, s: &mut State, t: u32) {
        s.v = self.v_reset;
        s.ref_end = f64::from(t) + f64::from(self.ref_steps);
    }

    fn values(s: &State, out: &mut [f64; MAX_VARIABLES]) {
        out[..3].copy_from_slice(&[s.v, s.g_exc, s.g_inh]);
    }

    #[inline(always)]
    fn magnitude(s: &State) -> f64 {
        s.v.abs() + (s.g_exc.abs() + s.g_inh.abs())
    }

    /// Counted from [`Self::update`] (an exponential counted as one multiply):
    /// integrating_factor evaluates 7 linear forms (2 multiplies, 2 adds each), 3
    /// exponentials, the 4 products and sums; rk4 evaluates the coefficients at three times (5
    /// multiplies, 5 adds each), the four stages and their sum (10 multiplies, 10 adds), the
    /// four conductance decays and two inputs, and the comparison.
    fn operations(&self) -> UpdateOperations {
        match self.method {
            Method::IntegratingFactor | Method::Izhikevich2003 => UpdateOperations {
                multiplies: 24,
                adds: 21,
            },
            Method::Rk4 => UpdateOperations {
                multiplies: 31,
                adds: 28,
            },
            Method::Euler => UpdateOperations {
                multiplies: 9,
                adds: 10,
            },
        }
    }
}
