//! `lif_delta`: leaky integrate-and-fire with delta synapses,
//! `tau_m dv/dt = -(v - v_rest) + b`; an input spike adds its weight to `v`. Exact and
//! event-driven: between inputs the potential relaxes exponentially to `v_rest + b`, whose
//! threshold crossing has a closed form (bounded here without a logarithm).

use crate::neuron::{Anchor, Dynamics, Evaluated, ExactModel, Model, Prediction, UpdateOperations};

/// The `lif_delta` model (see the module documentation).
pub struct LifDelta;

impl ExactModel for LifDelta {
    const MODEL: Model = Model::LifDelta;
    const NAME: &'static str = "lif_delta";
    /// `v = v_rest + (v - v_rest) P + x`: 1 multiply, 3 adds, and the comparison.
    const OPERATIONS: UpdateOperations = UpdateOperations {
        multiplies: 1,
        adds: 4,
    };

    #[inline(always)]
    fn evaluate(d: &Dynamics, a: &Anchor, t: u32) -> Evaluated {
        let v = if t <= a.ref_end {
            a.v
        } else {
            let k = t - a.step.max(a.ref_end);
            let v_inf = d.params.v_rest_mv + a.bias;
            v_inf + (a.v - v_inf) * d.membrane_decay(k)
        };
        Evaluated {
            v,
            i_exc: 0.0,
            i_inh: 0.0,
        }
    }

    /// Inputs jump the potential, except while it is held (refractory); no currents.
    #[inline(always)]
    fn with_input(e: Evaluated, refractory: bool, in_exc: f64, in_inh: f64) -> (f64, f64, f64) {
        if refractory {
            (e.v, 0.0, 0.0)
        } else {
            (e.v + (in_exc + in_inh), 0.0, 0.0)
        }
    }

    #[inline(always)]
    fn predict_after(
        d: &Dynamics,
        v: f64,
        _i_exc: f64,
        _i_inh: f64,
        bias: f64,
        from: u32,
    ) -> Prediction {
        let p = &d.params;
        let v_inf = p.v_rest_mv + bias;
        let c = p.v_th_mv - crate::neuron::THRESHOLD_MARGIN_MV - v_inf;
        let amp = v - v_inf; // coefficient of e^(-s/tau_m)
        let steps = if amp >= c {
            0.0
        } else if amp >= 0.0 || c >= 0.0 {
            return Prediction::NEVER;
        } else {
            // Crossing of amp e^(-s/tau_m) = c at s = tau_m ln(y), y = amp / c > 1.
            // ln(y) is bounded below by the Pade form 2 (y - 1) / (y + 1)
            // = 2 (amp - c) / (amp + c): one division, no logarithm, and tight near
            // y = 1, where crossings are imminent.
            d.two_tau_m_steps() * (amp - c) / (amp + c)
        };
        Prediction::after_steps(steps, from)
    }

    #[inline(always)]
    fn updated_magnitude(a: &Anchor) -> f64 {
        a.v.abs()
    }
}
