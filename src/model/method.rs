//! Numerical methods of the clocked models, selected per population by `method = "..."`.

use serde::Deserialize;

/// How a clocked model integrates its state over one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Forward Euler on every state variable from the values at the start of the step: the
    /// method Brian2 (`method = "euler"`) and NEST's `izhikevich` use, offered to reproduce
    /// their numbers. First order: its error shrinks with `dt`, not below it.
    Euler,
    /// The classical fourth-order Runge–Kutta method over the step (local error O(dt⁵)).
    Rk4,
    /// For a potential linear in itself with coefficients known in closed form (conductance
    /// models): the exact integrating factor, and Gauss–Legendre quadrature of the input
    /// integral (see [`super::lif_cond_exp`]).
    IntegratingFactor,
}

impl Method {
    /// The name as written in network files.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Euler => "euler",
            Method::Rk4 => "rk4",
            Method::IntegratingFactor => "integrating_factor",
        }
    }
}
