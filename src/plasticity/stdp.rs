//! Spike-timing-dependent plasticity with exponential traces: the pair rule (Song, Miller &
//! Abbott 2000; Bi & Poo 1998) and, with its two slower traces, the triplet rule of Pfister &
//! Gerstner (2006).
//!
//! Each neuron keeps traces that decay as `exp(-t / tau)` between its spikes (in closed form)
//! and jump at them: by 1 (`all_to_all`: every earlier spike pairs with every later one) or
//! to 1 (`nearest`: only the nearest spike counts). With `x` the source's trace (`tau_plus`)
//! and `y` the target's (`tau_minus`) at the synapse:
//!
//! ```text
//! target spike:  w <- clip(w + (a_plus  + a3_plus  * y2) * x * up(w))       [y2 just before]
//! source spike:  w <- clip(w - (a_minus + a3_minus * x2) * y * down(w))     [x2 just before]
//! additive:        up(w) = w_max,        down(w) = w_max
//! multiplicative:  up(w) = w_max - w,    down(w) = w - w_min   (soft bounds)
//! power_law:       up(w) = w0^(1-mu) w^mu, down(w) = w - w_min  (Morrison et al. 2007)
//! clip: to [w_min, w_max]
//! ```
//!
//! `x2` (`tau_x`) and `y2` (`tau_y`) are the triplet rule's slow traces; the pair rule has
//! `a3_plus = a3_minus = 0`. The amplitudes are fractions of `up(w)` and `down(w)`: of `w_max`
//! for the additive rule, as in Brian2's example of Song et al. (`dApre = 0.01 gmax`); `a_plus`
//! and `a_minus` are Morrison's `lambda` and `lambda alpha` for the power law.

/// How a weight change scales with the weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WeightDependence {
    /// Changes independent of the weight, clipped at the bounds.
    Additive,
    /// Potentiation proportional to `w_max - w`, depression to `w - w_min`.
    Multiplicative,
    /// Morrison et al. (2007): potentiation proportional to `w0^(1 - mu) w^mu`, depression
    /// to `w - w_min` (`mu = 0`: van Rossum et al. 2000).
    PowerLaw {
        /// The exponent `mu` (0 to 1).
        mu: f64,
        /// The reference weight `w0` (the projection's weight unit).
        w0: f64,
    },
}

/// Which spike pairs a trace sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pairing {
    /// Every pair: a trace jumps by 1 at each spike.
    AllToAll,
    /// The nearest spike: a trace is set to 1 at each spike.
    Nearest,
}

/// The slow traces and amplitudes of the triplet rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Triplet {
    /// Time constant of the source's slow trace `x2` \[ms\].
    pub tau_x_ms: f64,
    /// Time constant of the target's slow trace `y2` \[ms\].
    pub tau_y_ms: f64,
    /// Potentiation per pair and unit of `y2`, as a fraction of `w_max`.
    pub a3_plus: f64,
    /// Depression per pair and unit of `x2`, as a fraction of `w_max`.
    pub a3_minus: f64,
}

/// A checked STDP rule (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stdp {
    /// Time constant of the source's trace `x` \[ms\].
    pub tau_plus_ms: f64,
    /// Time constant of the target's trace `y` \[ms\].
    pub tau_minus_ms: f64,
    /// Potentiation per pair, as a fraction of `w_max`.
    pub a_plus: f64,
    /// Depression per pair, as a fraction of `w_max`.
    pub a_minus: f64,
    /// Lower bound of the weights.
    pub w_min: f64,
    /// Upper bound of the weights.
    pub w_max: f64,
    /// How changes scale with the weight.
    pub dependence: WeightDependence,
    /// Which pairs the traces sum.
    pub pairing: Pairing,
    /// The triplet terms, if any.
    pub triplet: Option<Triplet>,
}

impl Stdp {
    /// The weight after a spike of the target, from the source's trace `x` at that step and
    /// the target's slow trace `y2` just before the spike.
    #[inline]
    pub fn potentiate(&self, w: f64, x: f64, y2: f64) -> f64 {
        let amplitude = self.a_plus + self.triplet.map_or(0.0, |t| t.a3_plus * y2);
        let up = match self.dependence {
            WeightDependence::Additive => self.w_max,
            WeightDependence::Multiplicative => self.w_max - w,
            WeightDependence::PowerLaw { mu: 0.0, w0 } => w0,
            WeightDependence::PowerLaw { mu, w0 } => w0 * power(w / w0, mu),
        };
        self.clip(w + amplitude * x * up)
    }

    /// The weight after a spike of the source reaches the synapse, from the target's trace
    /// `y` at that step and the source's slow trace `x2` just before the spike.
    #[inline]
    pub fn depress(&self, w: f64, y: f64, x2: f64) -> f64 {
        let amplitude = self.a_minus + self.triplet.map_or(0.0, |t| t.a3_minus * x2);
        let down = match self.dependence {
            WeightDependence::Additive => self.w_max,
            WeightDependence::Multiplicative | WeightDependence::PowerLaw { .. } => w - self.w_min,
        };
        self.clip(w - amplitude * y * down)
    }

    /// A trace just after a spike, from its value just before.
    #[inline]
    pub fn jump(&self, before: f64) -> f64 {
        match self.pairing {
            Pairing::AllToAll => before + 1.0,
            Pairing::Nearest => 1.0,
        }
    }

    /// `w` within `[w_min, w_max]`.
    #[inline]
    fn clip(&self, w: f64) -> f64 {
        w.clamp(self.w_min, self.w_max)
    }
}

/// `x^mu` for `x >= 0` by the deterministic logarithm and exponential of
/// [`crate::model::method`] (a few ulp; the library's `powf` costs several times more).
#[inline]
fn power(x: f64, mu: f64) -> f64 {
    use crate::model::method::{exp, ln};
    if x > 0.0 { exp(mu * ln(x)) } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(dependence: WeightDependence) -> Stdp {
        Stdp {
            tau_plus_ms: 20.0,
            tau_minus_ms: 20.0,
            a_plus: 0.01,
            a_minus: 0.0105,
            w_min: 0.0,
            w_max: 2.0,
            dependence,
            pairing: Pairing::AllToAll,
            triplet: None,
        }
    }

    #[test]
    fn additive_changes_do_not_depend_on_the_weight_and_stop_at_the_bounds() {
        let r = rule(WeightDependence::Additive);
        assert_eq!(r.potentiate(1.0, 0.5, 0.0), 1.0 + 0.01 * 0.5 * 2.0);
        assert_eq!(r.depress(1.0, 0.5, 0.0), 1.0 - 0.0105 * 0.5 * 2.0);
        assert_eq!(r.potentiate(1.999, 1.0, 0.0), 2.0);
        assert_eq!(r.depress(0.001, 1.0, 0.0), 0.0);
    }

    #[test]
    fn multiplicative_changes_shrink_towards_the_bounds() {
        let r = rule(WeightDependence::Multiplicative);
        assert_eq!(r.potentiate(1.5, 1.0, 0.0), 1.5 + 0.01 * 0.5);
        assert_eq!(r.depress(1.5, 1.0, 0.0), 1.5 - 0.0105 * 1.5);
        assert_eq!(r.potentiate(2.0, 1.0, 0.0), 2.0);
        assert_eq!(r.depress(0.0, 1.0, 0.0), 0.0);
    }

    #[test]
    fn power_law_potentiation_grows_as_w_to_the_mu_and_depression_as_w() {
        let mut r = rule(WeightDependence::PowerLaw { mu: 0.4, w0: 0.5 });
        r.w_max = 100.0;
        let want = 1.5 + 0.01 * 0.5f64.powf(0.6) * 1.5f64.powf(0.4) * 0.8;
        assert!((r.potentiate(1.5, 0.8, 0.0) - want).abs() < 1e-15);
        assert_eq!(power(0.0, 0.4), 0.0);
        assert_eq!(r.depress(1.5, 0.8, 0.0), 1.5 - 0.0105 * 0.8 * 1.5);
        r.dependence = WeightDependence::PowerLaw { mu: 0.0, w0: 0.5 };
        assert_eq!(r.potentiate(1.5, 0.8, 0.0), 1.5 + 0.01 * 0.8 * 0.5);
    }

    #[test]
    fn nearest_pairing_sets_traces_to_one() {
        let mut r = rule(WeightDependence::Additive);
        assert_eq!(r.jump(0.7), 1.7);
        r.pairing = Pairing::Nearest;
        assert_eq!(r.jump(0.7), 1.0);
    }
}
