//! Network description and compilation.
//!
//! ```text
//! network file (TOML) --serde--> NetworkSpec --compile()--> CompiledNetwork --> engine
//!  (names, ms, mV)               (spec.rs)     (build.rs:    (compiled.rs: indices, steps,
//!                                               checks,       CSR synapses by source)
//!                                               graph.rs,
//!                                               connect.rs,
//!                                               csv.rs)      kernel.rs: shared
//!                                                             convolution kernels)
//! ```

pub mod build;
pub mod compiled;
pub mod connect;
pub mod csv;
pub mod graph;
pub mod kernel;
pub mod names;
pub mod parse;
pub mod spec;

pub use build::{CompileOptions, compile, compile_file};
pub use compiled::CompiledNetwork;
pub use graph::PopulationGraph;
pub use parse::{parse_spec, read_spec};
pub use spec::NetworkSpec;
