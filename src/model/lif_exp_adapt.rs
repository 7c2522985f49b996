//! `lif_exp_adapt`: `lif_exp` with a spike-triggered adaptation current,
//!
//! ```text
//! tau_m dv/dt = -(v - v_rest) + bias + i_exc + i_inh - w
//! tau_syn di/dt = -i  (each receptor),   tau_w dw/dt = -w,   at a spike: w += b_mv
//! ```
//!
//! with currents in voltage units (the shift of the potential they cause at steady state), as
//! in `lif_exp`. An input of weight `w` \[mV\] adds to the current of its receptor; after a
//! spike the potential is held at `v_reset_mv` for `t_ref_ms` while the currents decay.
//!
//! # Method
//!
//! Exact: the equations are linear with constant coefficients, so one step is the closed-form
//! propagator (every current decays by `e^(-dt/tau)` and adds `tau/(tau - tau_m)
//! (e^(-dt/tau) - e^(-dt/tau_m))` of itself to the potential), the same for every neuron and
//! computed once. The test suite checks it against an adaptive Runge–Kutta solution. The
//! population is clocked (updated every step); the event-driven skip of `lif_exp`, which
//! would need its crossing bound extended to the third current, is not implemented yet.

use super::{
    potential,
    below, largest_magnitude,
    ClockedModel, MAX_VARIABLES, ParamError, Synapses, finite, positive, refractory_steps,
};
use crate::neuron::UpdateOperations;
use serde::Deserialize;

/// The parameters of a `lif_exp_adapt` population.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Membrane time constant \[ms\].
    pub tau_m_ms: f64,
    /// Excitatory current time constant \[ms\].
    pub tau_syn_exc_ms: f64,
    /// Inhibitory current time constant \[ms\].
    pub tau_syn_inh_ms: f64,
    /// Adaptation time constant \[ms\].
    pub tau_w_ms: f64,
    /// Jump of the adaptation current at each spike \[mV\].
    pub b_mv: f64,
    /// Resting potential \[mV\]. Default 0.
    pub v_rest_mv: Option<f64>,
    /// Threshold \[mV\].
    pub v_th_mv: f64,
    /// Reset potential \[mV\]. Default `v_rest_mv`.
    pub v_reset_mv: Option<f64>,
    /// Refractory period \[ms\], a whole number of steps. Default 0.
    pub t_ref_ms: Option<f64>,
    /// Constant input current, as the shift of the resting potential \[mV\]. Default 0.
    pub bias_mv: Option<f64>,
}

/// `lif_exp_adapt` with its step propagators.
#[derive(Debug, Clone)]
pub struct LifExpAdapt {
    v_inf: f64,
    v_th: f64,
    v_reset: f64,
    ref_steps: u32,
    b: f64,
    /// Decay of the potential's distance to `v_inf` over a step.
    decay_m: f64,
    /// Decays of the excitatory, inhibitory and adaptation currents over a step.
    decay: [f64; 3],
    /// What a unit of each current adds to the potential over a step.
    kernel: [f64; 3],
}

/// One `lif_exp_adapt` neuron.
#[derive(Debug, Clone, Copy)]
pub struct State {
    /// Membrane potential \[mV\].
    pub v: f64,
    /// Excitatory current \[mV\].
    pub i_exc: f64,
    /// Inhibitory current \[mV\].
    pub i_inh: f64,
    /// Adaptation current \[mV\] (it lowers the potential).
    pub w: f64,
    /// Last refractory step.
    pub ref_end: f64,
}
record!(State { v, i_exc, i_inh, w, ref_end });

/// What a unit current of time constant `tau` adds to the potential over a step `h`: the
/// PSP kernel of `lif_exp` ([`crate::neuron`]).
fn kernel(tau: f64, tau_m: f64, h: f64) -> f64 {
    let kappa = crate::neuron::kappa(tau, tau_m);
    crate::neuron::psp(kappa, (-h / tau).exp(), (-h / tau_m).exp(), h / tau_m)
}

impl ClockedModel for LifExpAdapt {
    const NAME: &'static str = "lif_exp_adapt";
    type Params = Params;
    type State = State;
    const VARIABLES: &'static [&'static str] = &["v_mv", "i_exc_mv", "i_inh_mv", "w_mv"];
    const SYNAPSES: Synapses = Synapses::Voltage;

    fn new(p: Params, dt_ms: f64) -> Result<Self, ParamError> {
        let tau_m = positive("tau_m_ms", p.tau_m_ms)?;
        let taus = [
            positive("tau_syn_exc_ms", p.tau_syn_exc_ms)?,
            positive("tau_syn_inh_ms", p.tau_syn_inh_ms)?,
            positive("tau_w_ms", p.tau_w_ms)?,
        ];
        let v_rest = potential("v_rest_mv", p.v_rest_mv.unwrap_or(0.0))?;
        let v_th = potential("v_th_mv", p.v_th_mv)?;
        let v_reset = potential("v_reset_mv", p.v_reset_mv.unwrap_or(v_rest))?;
        below("v_reset_mv", v_reset, ("v_th_mv", v_th))?;
        Ok(LifExpAdapt {
            v_inf: v_rest + finite("bias_mv", p.bias_mv.unwrap_or(0.0))?,
            v_th,
            v_reset,
            ref_steps: refractory_steps("t_ref_ms", p.t_ref_ms.unwrap_or(0.0), dt_ms)?,
            b: finite("b_mv", p.b_mv)?,
            decay_m: (-dt_ms / tau_m).exp(),
            decay: taus.map(|tau| (-dt_ms / tau).exp()),
            kernel: taus.map(|tau| kernel(tau, tau_m, dt_ms)),
        })
    }

    fn initial(&self, v_mv: f64) -> State {
        State {
            v: v_mv,
            i_exc: 0.0,
            i_inh: 0.0,
            w: 0.0,
            ref_end: 0.0,
        }
    }

    fn with_values(&self, values: &[f64; MAX_VARIABLES]) -> State {
        State {
            v: values[0],
            i_exc: values[1],
            i_inh: values[2],
            w: values[3],
            ref_end: 0.0,
        }
    }

    fn resting_potential(&self) -> f64 {
        self.v_inf
    }

    fn voltage_scale(&self) -> f64 {
        largest_magnitude(&[self.v_inf, self.v_th, self.v_reset, self.b])
    }

    #[inline(always)]
    fn advance(&self, s: &mut State, t: u32, in_exc: f64, in_inh: f64) {
        let [ke, ki, kw] = self.kernel;
        let free = self.v_inf
            + (s.v - self.v_inf) * self.decay_m
            + (s.i_exc * ke + s.i_inh * ki - s.w * kw);
        // Held while refractory (a select, not a branch).
        s.v = if f64::from(t) <= s.ref_end { s.v } else { free };
        s.i_exc = s.i_exc * self.decay[0] + in_exc;
        s.i_inh = s.i_inh * self.decay[1] + in_inh;
        s.w *= self.decay[2];
    }

    #[inline(always)]
    fn crossed(&self, s: &State, t: u32) -> bool {
        (f64::from(t) > s.ref_end) & (s.v >= self.v_th)
    }

    #[inline(always)]
    fn reset(&self, s: &mut State, t: u32) {
        s.v = self.v_reset;
        s.w += self.b;
        s.ref_end = f64::from(t) + f64::from(self.ref_steps);
    }

    fn values(&self, s: &State, out: &mut [f64; MAX_VARIABLES]) {
        out.copy_from_slice(&[s.v, s.i_exc, s.i_inh, s.w]);
    }

    #[inline(always)]
    fn magnitude(s: &State) -> f64 {
        (s.v.abs() + s.i_exc.abs()) + (s.i_inh.abs() + s.w.abs())
    }

    /// Counted from [`ClockedModel::advance`]: three decays and their inputs, the potential's
    /// decay and three kernels, and the comparison.
    fn operations(&self) -> UpdateOperations {
        UpdateOperations {
            multiplies: 7,
            adds: 9,
        }
    }
}
