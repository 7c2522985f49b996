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
//! Each of `a`, `b`, `c`, `d` is a number, or the coefficients `[p0, p1, p2]` of
//! `p0 + p1 r + p2 r²` in a per-neuron state variable `r` (drawn with
//! `initial = { r = { uniform = [0.0, 1.0] } }`; 0 otherwise): the heterogeneity of
//! Izhikevich's network, e.g. `c = [-65.0, 0.0, 15.0]` for his excitatory `c = -65 + 15 r²`.
//!
//! # Method
//!
//! `method = "euler"` (the default): forward Euler on both variables from the values at the
//! start of the step, as Brian2 (`method = "euler"`) and NEST's `izhikevich` integrate the
//! model, in Brian2's order of operations: spike times then match Brian2's at the same `dt`
//! (the test suite reproduces Izhikevich's five firing patterns spike for spike). `method = "rk4"`: the classical
//! Runge–Kutta method, for a solution that converges as dt⁴. `method = "izhikevich_2003"`: the
//! scheme of Izhikevich's published network code, `v` advanced by two half steps with `u`
//! held, then `u` by a whole step with the new `v`, the step's inputs entering as a current
//! (weight / dt) in both half steps. The model has no rigorous prediction of its next spike,
//! so its populations are clocked.

use super::method::Method;
use super::{ClockedModel, MAX_VARIABLES, ParamError, Synapses, explicit_method, finite, potential};
use crate::neuron::UpdateOperations;
use serde::Deserialize;

/// A parameter: a number, or the coefficients `[p0, p1, p2]` of `p0 + p1 r + p2 r²` in the
/// neuron's `r`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub enum Coefficients {
    /// The same value for every neuron.
    Number(f64),
    /// `p0 + p1 r + p2 r²`.
    InR([f64; 3]),
}

impl Coefficients {
    /// The coefficients, checked finite.
    fn checked(self, field: &'static str) -> Result<[f64; 3], ParamError> {
        let c = match self {
            Coefficients::Number(x) => [x, 0.0, 0.0],
            Coefficients::InR(c) => c,
        };
        for &x in &c {
            finite(field, x)?;
        }
        Ok(c)
    }
}

/// `p0 + r (p1 + r p2)`.
#[inline(always)]
fn in_r(p: &[f64; 3], r: f64) -> f64 {
    p[0] + r * (p[1] + r * p[2])
}

/// The parameters of an `izhikevich` population (Izhikevich's names).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Time scale of the recovery variable \[1/ms\].
    pub a: Coefficients,
    /// Sensitivity of the recovery variable to the potential \[1/ms\].
    pub b: Coefficients,
    /// Potential after a spike \[mV\].
    pub c: Coefficients,
    /// Jump of the recovery variable after a spike \[mV/ms\].
    pub d: Coefficients,
    /// Spike cut-off \[mV\]. Default 30.
    pub v_peak_mv: Option<f64>,
    /// Constant input current \[mV/ms\]. Default 0.
    pub bias_mv_per_ms: Option<f64>,
    /// `euler` (default), `rk4` or `izhikevich_2003`.
    pub method: Option<Method>,
}

/// `izhikevich` with its parameters.
#[derive(Debug, Clone)]
pub struct Izhikevich {
    a: [f64; 3],
    b: [f64; 3],
    c: [f64; 3],
    d: [f64; 3],
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
    /// The neuron's heterogeneity (see the module documentation).
    pub r: f64,
}
record!(State { v, u, r });

impl Izhikevich {
    /// `(dv/dt, du/dt)` at `(v, u)`, in Brian2's order of operations (its code for
    /// `method = "euler"`), so that both round alike.
    #[inline(always)]
    fn derivatives(&self, (a, b): (f64, f64), v: f64, u: f64) -> (f64, f64) {
        (
            (140.0 + ((self.bias + 0.04 * (v * v)) + 5.0 * v)) - u,
            a * (b * v - u),
        )
    }

    /// `method = "izhikevich_2003"`: `v` by two half steps with `u` held and the inputs as a
    /// current, then `u` with the new `v`.
    #[inline(always)]
    fn two_half_steps(&self, s: &mut State, (a, b): (f64, f64), input: f64) {
        let h = self.dt;
        let current = self.bias + input / h;
        let dv = |v: f64| 0.04 * (v * v) + 5.0 * v + 140.0 - s.u + current;
        let v = s.v + 0.5 * h * dv(s.v);
        s.v = v + 0.5 * h * dv(v);
        s.u += h * (a * (b * s.v - s.u));
    }
}

impl ClockedModel for Izhikevich {
    const NAME: &'static str = "izhikevich";
    type Params = Params;
    type State = State;
    const VARIABLES: &'static [&'static str] = &["v_mv", "u_mv_per_ms", "r"];
    const SYNAPSES: Synapses = Synapses::Voltage;

    fn new(p: Params, dt_ms: f64) -> Result<Self, ParamError> {
        let v_peak = potential("v_peak_mv", p.v_peak_mv.unwrap_or(30.0))?;
        let c = p.c.checked("c")?;
        // The reset at r = 0, r = 1 and the vertex (a quadratic in r on [0, 1] is largest and
        // smallest there): a potential, below the cut-off.
        let vertex = if c[2] != 0.0 {
            (-c[1] / (2.0 * c[2])).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let resets = [0.0, 1.0, vertex].map(|r| in_r(&c, r));
        for reset in resets {
            potential("c", reset)?;
        }
        let highest = resets.into_iter().fold(f64::MIN, f64::max);
        if highest >= v_peak {
            return Err(ParamError::new(
                "c",
                format!(
                    "the reset potential must be below v_peak_mv = {v_peak}, reaches {highest}"
                ),
            ));
        }
        let method = match p.method.unwrap_or(Method::Euler) {
            Method::Izhikevich2003 => Method::Izhikevich2003,
            m => explicit_method(m)?,
        };
        Ok(Izhikevich {
            a: p.a.checked("a")?,
            b: p.b.checked("b")?,
            c: p.c.checked("c")?,
            d: p.d.checked("d")?,
            v_peak,
            bias: finite("bias_mv_per_ms", p.bias_mv_per_ms.unwrap_or(0.0))?,
            dt: dt_ms,
            method,
        })
    }

    /// `u` starts at `b v`, as in Izhikevich's code.
    fn initial(&self, v_mv: f64) -> State {
        self.initial_given(v_mv, &[None; MAX_VARIABLES])
    }

    /// `u` starts at the neuron's `b` times `v` unless given.
    fn initial_given(&self, v_mv: f64, given: &[Option<f64>; MAX_VARIABLES]) -> State {
        let r = given[2].unwrap_or(0.0);
        State {
            v: v_mv,
            u: given[1].unwrap_or(in_r(&self.b, r) * v_mv),
            r,
        }
    }

    fn with_values(&self, values: &[f64; MAX_VARIABLES]) -> State {
        State {
            v: values[0],
            u: values[1],
            r: values[2],
        }
    }

    fn resting_potential(&self) -> f64 {
        -65.0
    }

    fn voltage_scale(&self) -> f64 {
        let c = self.c.iter().map(|x| x.abs()).sum::<f64>();
        c.max(self.v_peak.abs()).max(140.0)
    }

    #[inline(always)]
    fn advance(&self, s: &mut State, _t: u32, in_exc: f64, in_inh: f64) {
        let h = self.dt;
        let ab = (in_r(&self.a, s.r), in_r(&self.b, s.r));
        let (dv, du) = match self.method {
            Method::Euler => self.derivatives(ab, s.v, s.u),
            Method::Izhikevich2003 => return self.two_half_steps(s, ab, in_exc + in_inh),
            Method::Rk4 | Method::IntegratingFactor => {
                let (v1, u1) = self.derivatives(ab, s.v, s.u);
                let (v2, u2) = self.derivatives(ab, s.v + 0.5 * h * v1, s.u + 0.5 * h * u1);
                let (v3, u3) = self.derivatives(ab, s.v + 0.5 * h * v2, s.u + 0.5 * h * u2);
                let (v4, u4) = self.derivatives(ab, s.v + h * v3, s.u + h * u3);
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
        s.v = in_r(&self.c, s.r);
        s.u += in_r(&self.d, s.r);
    }

    fn values(&self, s: &State, out: &mut [f64; MAX_VARIABLES]) {
        out[..3].copy_from_slice(&[s.v, s.u, s.r]);
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
            Method::Izhikevich2003 => UpdateOperations {
                multiplies: 16,
                adds: 16,
            },
            Method::Rk4 | Method::IntegratingFactor => UpdateOperations {
                multiplies: 34,
                adds: 33,
            },
        }
    }
}
