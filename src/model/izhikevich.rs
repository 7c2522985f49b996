//! `izhikevich`: the simple model of Izhikevich (2003), "Simple model of spiking neurons",
//! IEEE Trans. Neural Networks 14:1569:
//!
//! ```text
//! dv/dt = 0.04 v² + 5 v + 140 - u + bias,    du/dt = a (b v - u)
//! if v >= v_peak (30 mV): v = c, u = u + d
//! ```
//!
//! with `v` in mV, time in ms and `u`, `bias` in mV/ms. An input of weight `w` \[mV\] adds `w`
//! to `v` (in the 2003 network, with 1 ms steps, a spike's weight enters `v` over one step).
//!
//! # Method
//!
//! `method = "euler"` (the default): forward Euler on both variables from the values at the
//! start of the step, as Brian2 (`method = "euler"`) and NEST's `izhikevich` integrate the
//! model, in Brian2's order of operations: spike times then match Brian2's at the same `dt`
//! (the test suite reproduces Izhikevich's five firing patterns spike for spike). `method = "rk4"`: the classical
//! Runge–Kutta method, for a solution that converges as dt⁴. The model has no rigorous
//! prediction of its next spike, so its populations are clocked.

use super::method::Method;
use super::{ClockedModel, MAX_VARIABLES, ParamError, Synapses, explicit_method, finite};
use crate::neuron::UpdateOperations;
use serde::Deserialize;

/// The parameters of an `izhikevich` population (Izhikevich's names).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Time scale of the recovery variable \[1/ms\].
    pub a: f64,
    /// Sensitivity of the recovery variable to the potential \[1/ms\].
    pub b: f64,
    /// Potential after a spike \[mV\].
    pub c: f64,
    /// Jump of the recovery variable after a spike \[mV/ms\].
    pub d: f64,
    /// Spike cut-off \[mV\]. Default 30.
    pub v_peak_mv: Option<f64>,
    /// Constant input current \[mV/ms\]. Default 0.
    pub bias_mv_per_ms: Option<f64>,
    /// `euler` (default) or `rk4`.
    pub method: Option<Method>,
}

/// `izhikevich` with its parameters.
#[derive(Debug, Clone)]
pub struct Izhikevich {
    a: f64,
    b: f64,
    c: f64,
    d: f64,
    v_peak: f64,
    bias: f64,
    dt: f64,
    method: Method,
}

/// One `izhikevich` neuron.
#[derive(Debug, Clone, Copy)]
pub struct State {
    /// Membrane potential \[mV\].
    pub v: f64,
    /// Recovery variable \[mV/ms\].
    pub u: f64,
}

impl Izhikevich {
    /// `(dv/dt, du/dt)` at `(v, u)`, in Brian2's order of operations (its code for
    /// `method = "euler"`), so that both round alike.
    #[inline(always)]
    fn derivatives(&self, v: f64, u: f64) -> (f64, f64) {
        (
            (140.0 + ((self.bias + 0.04 * (v * v)) + 5.0 * v)) - u,
            self.a * (self.b * v - u),
        )
    }
}

impl ClockedModel for Izhikevich {
    const NAME: &'static str = "izhikevich";
    type Params = Params;
    type State = State;
    const VARIABLES: &'static [&'static str] = &["v_mv", "u_mv_per_ms"];
    const SYNAPSES: Synapses = Synapses::Voltage;

    fn new(p: Params, dt_ms: f64) -> Result<Self, ParamError> {
        let v_peak = finite("v_peak_mv", p.v_peak_mv.unwrap_or(30.0))?;
        let c = finite("c", p.c)?;
        if c >= v_peak {
            return Err(ParamError::new(
                "c",
                format!("the reset potential must be below v_peak_mv = {v_peak}, got {c}"),
            ));
        }
        Ok(Izhikevich {
            a: finite("a", p.a)?,
            b: finite("b", p.b)?,
            c,
            d: finite("d", p.d)?,
            v_peak,
            bias: finite("bias_mv_per_ms", p.bias_mv_per_ms.unwrap_or(0.0))?,
            dt: dt_ms,
            method: explicit_method(p.method.unwrap_or(Method::Euler))?,
        })
    }

    /// `u` starts at `b v`, as in Izhikevich's code.
    fn initial(&self, v_mv: f64) -> State {
        State {
            v: v_mv,
            u: self.b * v_mv,
        }
    }

    fn with_values(&self, values: &[f64; MAX_VARIABLES]) -> State {
        State {
            v: values[0],
            u: values[1],
        }
    }

    fn resting_potential(&self) -> f64 {
        -65.0
    }

    fn voltage_scale(&self) -> f64 {
        self.c.abs().max(self.v_peak.abs()).max(140.0)
    }

    #[inline(always)]
    fn advance(&self, s: &mut State, _t: u32, in_exc: f64, in_inh: f64) {
        let h = self.dt;
        let (dv, du) = match self.method {
            Method::Euler => self.derivatives(s.v, s.u),
            Method::Rk4 | Method::IntegratingFactor => {
                let (v1, u1) = self.derivatives(s.v, s.u);
                let (v2, u2) = self.derivatives(s.v + 0.5 * h * v1, s.u + 0.5 * h * u1);
                let (v3, u3) = self.derivatives(s.v + 0.5 * h * v2, s.u + 0.5 * h * u2);
                let (v4, u4) = self.derivatives(s.v + h * v3, s.u + h * u3);
                (
                    (v1 + 2.0 * (v2 + v3) + v4) / 6.0,
                    (u1 + 2.0 * (u2 + u3) + u4) / 6.0,
                )
            }
        };
        s.u += h * du;
        s.v = (h * dv + s.v) + (in_exc + in_inh);
    }

    #[inline(always)]
    fn crossed(&self, s: &State, _t: u32) -> bool {
        s.v >= self.v_peak
    }

    #[inline(always)]
    fn reset(&self, s: &mut State, _t: u32) {
        s.v = self.c;
        s.u += self.d;
    }

    fn values(s: &State, out: &mut [f64; MAX_VARIABLES]) {
        out[..2].copy_from_slice(&[s.v, s.u]);
    }

    #[inline(always)]
    fn magnitude(s: &State) -> f64 {
        s.v.abs() + s.u.abs()
    }

    /// Counted from [`Self::update`]: the two derivatives (5 multiplies, 5 adds) once
    /// (euler) or four times with the stages' sums (rk4), the two increments and the input,
    /// and the comparison.
    fn operations(&self) -> UpdateOperations {
        match self.method {
            Method::Euler => UpdateOperations {
                multiplies: 7,
                adds: 9,
            },
            Method::Rk4 | Method::IntegratingFactor => UpdateOperations {
                multiplies: 34,
                adds: 33,
            },
        }
    }
}
