//! # synops
//!
//! An event-driven spiking neural network simulator with exact integration.
//!
//! A network is described in a TOML file ([`network::spec`]), checked and compiled into flat
//! arrays ([`network::CompiledNetwork`]: integer steps, CSR synapses by source), then simulated
//! by one of two engines over the same compiled network ([`sim::Engine`]):
//!
//! * `event`: computes only neurons that receive input in a step or whose own dynamics could
//!   bring them to threshold (predicted in closed form); cost follows spikes and synaptic events;
//! * `clock`: evaluates every neuron every step, the reference.
//!
//! Both evaluate the same closed-form solution of the neuron equations ([`neuron`]), so they
//! produce the same spikes. Runs produce exact integer counts (spikes, synaptic events, neuron
//! updates) and recordings, written by [`output`].
//!
//! ```text
//! network file --serde--> NetworkSpec --compile--> CompiledNetwork --Simulation--> Counts,
//!                                                                                   Recorded
//!                                                                      --output--> summary.json,
//!                                                                                  spikes.csv ...
//! ```
#![warn(missing_docs)]

pub mod bench;
pub mod convert;
pub mod data;
pub mod energy;
pub mod error;
pub mod eval;
pub mod network;
pub mod neuron;
pub mod output;
pub mod plot;
pub mod rng;
pub mod sim;

pub use error::{Error, Result};
pub use network::{CompileOptions, CompiledNetwork, compile, compile_file};
pub use sim::{Engine, Simulation};
