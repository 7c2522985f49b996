//! `adex`: the adaptive exponential integrate-and-fire model of Brette & Gerstner (2005),
//! J. Neurophysiol. 94:3637:
//!
//! ```text
//! C dv/dt = -g_leak (v - v_rest) + g_leak delta_t exp((v - v_t) / delta_t) - w + bias
//! tau_w dw/dt = a (v - v_rest) - w
//! if v >= v_peak: v = v_reset, w = w + b
//! ```
//!
//! An input of weight `w` \[mV\] adds `w` to `v`. During `t_ref_ms` after a spike the
//! potential is held at `v_reset_mv`; `w` keeps evolving.
//!
//! # Method
//!
//! `method = "rk4"` (the default): the classical Runge–Kutta method on both variables.
//! `method = "euler"`: forward Euler from the values at the start of the step, as in Brian2's
//! AdEx examples. In the exponential the potential is capped at `v_peak_mv`, as NEST's `aeif`
//! models do, so that a step that overshoots the cut-off cannot overflow. The model has no
//! rigorous prediction of its next spike, so its populations are clocked.

use super::method::Method;
use super::{
    potential,
    below, largest_magnitude,
    ClockedModel, MAX_VARIABLES, ParamError, Synapses, explicit_method, finite, positive,
    refractory_steps,
};
use crate::neuron::UpdateOperations;
use serde::Deserialize;

/// The parameters of an `adex` population.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Membrane capacitance \[pF\].
    pub c_m_pf: f64,
    /// Leak conductance \[nS\].
    pub g_leak_ns: f64,
    /// Resting (leak reversal) potential \[mV\].
    pub v_rest_mv: f64,
    /// Threshold of the exponential term \[mV\].
    pub v_t_mv: f64,
    /// Slope factor \[mV\].
    pub delta_t_mv: f64,
    /// Spike cut-off \[mV\]. Default `v_t_mv + 5 delta_t_mv`.
    pub v_peak_mv: Option<f64>,
    /// Reset potential \[mV\]. Default `v_rest_mv`.
    pub v_reset_mv: Option<f64>,
    /// Subthreshold adaptation \[nS\].
    pub a_ns: f64,
    /// Spike-triggered adaptation \[pA\].
    pub b_pa: f64,
    /// Adaptation time constant \[ms\].
    pub tau_w_ms: f64,
    /// Refractory period \[ms\], a whole number of steps. Default 0.
    pub t_ref_ms: Option<f64>,
    /// Constant input current \[pA\]. Default 0.
    pub bias_pa: Option<f64>,
    /// `rk4` (default) or `euler`.
    pub method: Option<Method>,
}

/// `adex` with its parameters.
#[derive(Debug, Clone)]
pub struct Adex {
    inv_c: f64,
    g_leak: f64,
    v_rest: f64,
    v_t: f64,
    delta_t: f64,
    v_peak: f64,
    v_reset: f64,
    a: f64,
    b: f64,
    inv_tau_w: f64,
    ref_steps: u32,
    bias: f64,
    dt: f64,
    method: Method,
}

/// One `adex` neuron.
#[derive(Debug, Clone, Copy)]
pub struct State {
    /// Membrane potential \[mV\].
    pub v: f64,
    /// Adaptation current \[pA\].
    pub w: f64,
    /// Last refractory step (a whole number, held as f64 so that a block of records
    /// vectorizes).
    pub ref_end: f64,
}
record!(State { v, w, ref_end });

impl Adex {
    /// `(dv/dt, dw/dt)` at `(v, w)`; `free` is false while the potential is held.
    #[inline(always)]
    fn derivatives(&self, v: f64, w: f64, free: bool) -> (f64, f64) {
        let spike = self.delta_t * ((v.min(self.v_peak) - self.v_t) / self.delta_t).exp();
        let dv = (self.g_leak * (spike - (v - self.v_rest)) - w + self.bias) * self.inv_c;
        let dw = (self.a * (v - self.v_rest) - w) * self.inv_tau_w;
        (if free { dv } else { 0.0 }, dw)
    }
}

impl ClockedModel for Adex {
    const NAME: &'static str = "adex";
    type Params = Params;
    type State = State;
    const VARIABLES: &'static [&'static str] = &["v_mv", "w_pa"];
    const SYNAPSES: Synapses = Synapses::Voltage;

    fn new(p: Params, dt_ms: f64) -> Result<Self, ParamError> {
        let delta_t = positive("delta_t_mv", p.delta_t_mv)?;
        let v_t = potential("v_t_mv", p.v_t_mv)?;
        let v_rest = potential("v_rest_mv", p.v_rest_mv)?;
        let v_peak = potential("v_peak_mv", p.v_peak_mv.unwrap_or(v_t + 5.0 * delta_t))?;
        let v_reset = potential("v_reset_mv", p.v_reset_mv.unwrap_or(v_rest))?;
        below("v_reset_mv", v_reset, ("v_peak_mv", v_peak))?;
        Ok(Adex {
            inv_c: 1.0 / positive("c_m_pf", p.c_m_pf)?,
            g_leak: positive("g_leak_ns", p.g_leak_ns)?,
            v_rest,
            v_t,
            delta_t,
            v_peak,
            v_reset,
            a: finite("a_ns", p.a_ns)?,
            b: finite("b_pa", p.b_pa)?,
            inv_tau_w: 1.0 / positive("tau_w_ms", p.tau_w_ms)?,
            ref_steps: refractory_steps("t_ref_ms", p.t_ref_ms.unwrap_or(0.0), dt_ms)?,
            bias: finite("bias_pa", p.bias_pa.unwrap_or(0.0))?,
            dt: dt_ms,
            method: explicit_method(p.method.unwrap_or(Method::Rk4))?,
        })
    }

    fn initial(&self, v_mv: f64) -> State {
        State {
            v: v_mv,
            w: 0.0,
            ref_end: 0.0,
        }
    }

    fn with_values(&self, values: &[f64; MAX_VARIABLES]) -> State {
        State {
            v: values[0],
            w: values[1],
            ref_end: 0.0,
        }
    }

    fn resting_potential(&self) -> f64 {
        self.v_rest
    }

    fn voltage_scale(&self) -> f64 {
        largest_magnitude(&[self.v_rest, self.v_t, self.v_peak, self.v_reset])
    }

    #[inline(always)]
    fn advance(&self, s: &mut State, t: u32, in_exc: f64, in_inh: f64) {
        let h = self.dt;
        let free = f64::from(t) > s.ref_end;
        let (dv, dw) = match self.method {
            Method::Euler => self.derivatives(s.v, s.w, free),
            Method::Rk4 | Method::IntegratingFactor | Method::Izhikevich2003 => {
                let (v1, w1) = self.derivatives(s.v, s.w, free);
                let (v2, w2) = self.derivatives(s.v + 0.5 * h * v1, s.w + 0.5 * h * w1, free);
                let (v3, w3) = self.derivatives(s.v + 0.5 * h * v2, s.w + 0.5 * h * w2, free);
                let (v4, w4) = self.derivatives(s.v + h * v3, s.w + h * w3, free);
                (
                    (v1 + 2.0 * (v2 + v3) + v4) / 6.0,
                    (w1 + 2.0 * (w2 + w3) + w4) / 6.0,
                )
            }
        };
        s.w += h * dw;
        // Held while refractory, inputs dropped (a select, not a branch).
        let advanced = s.v + (h * dv + (in_exc + in_inh));
        s.v = if free { advanced } else { s.v };
    }

    #[inline(always)]
    fn crossed(&self, s: &State, t: u32) -> bool {
        (f64::from(t) > s.ref_end) & (s.v >= self.v_peak)
    }

    #[inline(always)]
    fn reset(&self, s: &mut State, t: u32) {
        s.v = self.v_reset;
        s.w += self.b;
        s.ref_end = f64::from(t) + f64::from(self.ref_steps);
    }

    fn values(&self, s: &State, out: &mut [f64; MAX_VARIABLES]) {
        out[..2].copy_from_slice(&[s.v, s.w]);
    }

    #[inline(always)]
    fn magnitude(s: &State) -> f64 {
        s.v.abs() + s.w.abs()
    }

    /// Counted from [`Self::update`] (the exponential counted as one multiply): the two
    /// derivatives (8 multiplies, 7 adds) once (euler) or four times with the stages' sums
    /// (rk4), the increments and the input, and the comparison.
    fn operations(&self) -> UpdateOperations {
        match self.method {
            Method::Euler => UpdateOperations {
                multiplies: 10,
                adds: 11,
            },
            Method::Rk4 | Method::IntegratingFactor | Method::Izhikevich2003 => UpdateOperations {
                multiplies: 46,
                adds: 41,
            },
        }
    }
}
