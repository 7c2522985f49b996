//! `lif_exp`: leaky integrate-and-fire with exponentially decaying synaptic currents,
//! `tau_m dv/dt = -(v - v_rest) + b + i_exc + i_inh`, `tau_syn di/dt = -i`; an input spike
//! adds its weight to the current of its receptor. Exact and event-driven: between inputs the
//! state is a sum of three exponentials evaluated from tables, inputs are folded into the
//! anchor at delivery, and the next possible crossing is bounded over windows of time (see
//! [`crate::neuron`]).

use crate::neuron::{Anchor, Dynamics, Evaluated, ExactModel, Model, Prediction, UpdateOperations};

/// The `lif_exp` model (see the module documentation).
pub struct LifExp;

impl ExactModel for LifExp {
    const MODEL: Model = Model::LifExp;
    const NAME: &'static str = "lif_exp";
    /// `i_e = i_e P_e + x_e`, `i_i = i_i P_i + x_i` (2 multiplies, 2 adds),
    /// `v = v_rest + (v - v_rest) P_m + i_e P_ve + i_i P_vi` (3 multiplies, 4 adds), and the
    /// comparison.
    const OPERATIONS: UpdateOperations = UpdateOperations {
        multiplies: 5,
        adds: 7,
    };

    #[inline(always)]
    fn evaluate(d: &Dynamics, a: &Anchor, t: u32) -> Evaluated {
        if t <= a.ref_end {
            let q = d.lif_exp_at(t - a.step);
            return Evaluated {
                v: a.v,
                i_exc: a.i_exc * q.exc,
                i_inh: a.i_inh * q.inh,
            };
        }
        let (i_exc, i_inh, from) = if a.ref_end > a.step {
            let q = d.lif_exp_at(a.ref_end - a.step);
            (a.i_exc * q.exc, a.i_inh * q.inh, a.ref_end)
        } else {
            (a.i_exc, a.i_inh, a.step)
        };
        let q = d.lif_exp_at(t - from);
        let v_inf = d.params.v_rest_mv + a.bias;
        let v = v_inf + (a.v - v_inf) * q.m + i_exc * q.kernel_exc + i_inh * q.kernel_inh;
        Evaluated {
            v,
            i_exc: i_exc * q.exc,
            i_inh: i_inh * q.inh,
        }
    }

    /// Inputs add to the currents (the potential follows continuously).
    #[inline(always)]
    fn with_input(e: Evaluated, _refractory: bool, in_exc: f64, in_inh: f64) -> (f64, f64, f64) {
        (e.v, e.i_exc + in_exc, e.i_inh + in_inh)
    }

    #[inline(always)]
    fn predict_after(
        d: &Dynamics,
        v: f64,
        i_exc: f64,
        i_inh: f64,
        bias: f64,
        from: u32,
    ) -> Prediction {
        let p = &d.params;
        let c = p.v_th_mv - crate::neuron::THRESHOLD_MARGIN_MV;
        let v_inf = p.v_rest_mv + bias;
        let (steps, headroom) = d
            .windows()
            .first_possible(c - v_inf, v - v_inf, i_exc, i_inh);
        match steps {
            None => Prediction {
                next: None,
                headroom,
            },
            Some(steps) => match from.checked_add(steps).filter(|&s| s != u32::MAX) {
                Some(next) => Prediction {
                    next: Some(next),
                    headroom,
                },
                None => Prediction::NEVER,
            },
        }
    }

    #[inline(always)]
    fn updated_magnitude(a: &Anchor) -> f64 {
        a.v.abs() + (a.i_exc.abs() + a.i_inh.abs())
    }
}
