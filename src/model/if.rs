//! `if`: integrate-and-fire without leak, `dv/dt = b` (the bias current \[mV/ms\]); an input
//! spike adds its weight to `v`. Exact and event-driven: between inputs the potential is a
//! line, and its threshold crossing is known in closed form.

use crate::neuron::{Anchor, Dynamics, Evaluated, ExactModel, Model, Prediction, UpdateOperations};

/// The `if` model (see the module documentation).
pub struct If;

impl ExactModel for If {
    const MODEL: Model = Model::If;
    const NAME: &'static str = "if";
    /// `v += x` and the comparison.
    const OPERATIONS: UpdateOperations = UpdateOperations {
        multiplies: 0,
        adds: 2,
    };

    #[inline(always)]
    fn evaluate(d: &Dynamics, a: &Anchor, t: u32) -> Evaluated {
        let free_from = a.step.max(a.ref_end);
        let v = if t <= a.ref_end {
            a.v
        } else {
            a.v + a.bias * d.dt_ms() * f64::from(t - free_from)
        };
        Evaluated {
            v,
            i_exc: 0.0,
            i_inh: 0.0,
        }
    }

    #[inline(always)]
    fn with_input(e: Evaluated, refractory: bool, in_exc: f64, in_inh: f64) -> (f64, f64, f64) {
        crate::model::lif_delta::LifDelta::with_input(e, refractory, in_exc, in_inh)
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
        let c = d.params.v_th_mv - crate::neuron::THRESHOLD_MARGIN_MV;
        if v >= c {
            // Still at threshold (a reset by subtraction from twice the threshold or more).
            return Prediction::after_steps(0.0, from);
        }
        if bias <= 0.0 {
            return Prediction::NEVER;
        }
        Prediction::after_steps(((c - v) / (bias * d.dt_ms())).max(0.0), from)
    }

    #[inline(always)]
    fn updated_magnitude(a: &Anchor) -> f64 {
        a.v.abs()
    }
}
