//! A neuron whose state left the bound of its model: the run stops with this error.

use crate::error::short_number;
use crate::neuron::STATE_BOUND_FACTOR;

/// The first neuron (lowest population, then index) whose potential, currents or bias left
/// [`crate::neuron::Dynamics::state_bound`] or stopped being finite, and the step where the
/// engine saw it. Both engines stop at the same step and name the same neuron.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "population \"{population}\", neuron {neuron}, step {step} ({time_ms} ms): {what} ({}); the bound is ±{} (in the units of the variables), {} times the neuron's voltage scale. A weight, drive or current is too large for the model; the run stopped and wrote nothing",
    self.listed(), short_number(*bound), short_number(STATE_BOUND_FACTOR),
    what = self.what()
)]
pub struct Runaway {
    /// The population's name.
    pub population: String,
    /// The neuron's index in the population.
    pub neuron: u32,
    /// The step at which the engine saw the state.
    pub step: u32,
    /// The time of that step \[ms\].
    pub time_ms: f64,
    /// The neuron's state variables at the step, named as in `traces.csv` (the potential
    /// first; the exact models add their constant current, `bias`).
    pub state: Vec<(&'static str, f64)>,
    /// The bound of the neuron's state (in the units of its variables).
    pub bound: f64,
}

/// The same neuron, step and state, bit for bit (a NaN state equals the same NaN).
impl PartialEq for Runaway {
    fn eq(&self, other: &Self) -> bool {
        let same_state = self.state.len() == other.state.len()
            && (self.state.iter().zip(&other.state))
                .all(|((a, x), (b, y))| a == b && x.to_bits() == y.to_bits());
        (&self.population, self.neuron, self.step) == (&other.population, other.neuron, other.step)
            && self.time_ms.to_bits() == other.time_ms.to_bits()
            && self.bound.to_bits() == other.bound.to_bits()
            && same_state
    }
}

impl Runaway {
    /// The runaway state of a neuron: its state variables at the step.
    pub(super) fn new(
        population: &str,
        neuron: u32,
        (step, dt_ms): (u32, f64),
        state: Vec<(&'static str, f64)>,
        bound: f64,
    ) -> Self {
        Runaway {
            population: population.to_string(),
            neuron,
            step,
            // Rounded to a nanosecond, so that `0.1 ms x 3` reads 0.3.
            time_ms: (f64::from(step) * dt_ms * 1e6).round() / 1e6,
            state,
            bound,
        }
    }

    /// "not finite" or "beyond the bound".
    fn what(&self) -> &'static str {
        if self.state.iter().all(|(_, x)| x.is_finite()) {
            "the state ran away beyond its bound"
        } else {
            "the state is not finite"
        }
    }

    /// The state as `name = value, ...`.
    fn listed(&self) -> String {
        let listed: Vec<String> = self
            .state
            .iter()
            .map(|(name, x)| format!("{name} = {}", short_number(*x)))
            .collect();
        listed.join(", ")
    }
}
