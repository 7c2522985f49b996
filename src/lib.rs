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
//! produce the same spikes. Models without a closed form (conductance-based, adaptive
//! exponential, Izhikevich: [`model`]) are updated every step by both engines with a stated
//! method. Runs produce exact integer counts (spikes, synaptic events, neuron updates) and
//! recordings ([`record`]: the file's recorders, and one's own through
//! [`Simulation::run_with`]), written by [`output`].
//!
//! ```text
//! network file --parse--> NetworkSpec --compile--> CompiledNetwork --Simulation--> Counts,
//!                                                                                   Recorded
//!                                                                      --output--> summary.json,
//!                                                                                  spikes.csv ...
//! ```
//!
//! # Example
//!
//! ```
//! use std::path::Path;
//! use synops::network::{CompileOptions, compile, parse_spec};
//! use synops::{Engine, Simulation};
//!
//! let text = r#"
//! version = 1
//! name = "pair"
//! [simulation]
//! dt_ms = 0.1
//! duration_ms = 100.0
//! [[population]]
//! name = "n"
//! size = 2
//! model = "lif_delta"
//! tau_m_ms = 10.0
//! v_th_mv = 10.0
//! bias_mv = 12.0
//! [[record.spikes]]
//! population = "n"
//! "#;
//! let path = Path::new("pair.toml");
//! let net = compile(&parse_spec(text, path)?, path, &CompileOptions::default())?;
//! let mut event = Simulation::new(&net, Engine::Event);
//! event.run(|_| {}).expect("the state stays bounded");
//! let mut clock = Simulation::new(&net, Engine::Clock);
//! clock.run(|_| {}).expect("the state stays bounded");
//! // Driven to 12 mV with a 10 mV threshold, each neuron fires every
//! // 10 ms * ln(12 / 2) = 17.9 ms: 5 spikes each in 100 ms, the same in both engines.
//! assert_eq!(event.recorded.spikes.len(), 10);
//! assert_eq!(event.recorded.spikes, clock.recorded.spikes);
//! // The event engine evaluated each neuron only where it could cross the threshold.
//! assert!(event.counts.neuron_updates[0] < clock.counts.neuron_updates[0] / 10);
//! # Ok::<(), synops::Error>(())
//! ```
#![warn(missing_docs)]

pub mod bench;
pub mod convert;
pub mod data;
pub mod distributed;
pub mod energy;
pub mod error;
pub mod eval;
pub mod files;
pub mod fuzzing;
pub mod model;
pub mod network;
pub mod neuron;
pub mod nir;
pub mod output;
pub mod plasticity;
pub mod plot;
pub mod record;
pub mod rng;
pub mod sim;
pub mod sweep;

pub use error::{Error, Result};
pub use network::{CompileOptions, CompiledNetwork, compile, compile_file};
pub use sim::{Engine, Simulation};
