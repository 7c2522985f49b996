//! NIR import: read a `.nir` file ([`graph`]), lower it onto synops' exact models
//! ([`lower`], [`kernel`]) and write a network file with its weights ([`write`]).
//!
//! `synops import-nir FILE.nir --dt-ms DT [--time-unit seconds|steps] [--reset value|subtract]
//! --out NET` writes `NET.toml`, `NET.safetensors` (dense weights, kernels, biases), a CSV
//! synapse list per projection into a `CubaLIF` (whose two currents take one sign each) and a
//! spike file `NET.<input>.csv` per input (header only: fill it with `time_ms,index` rows, or
//! run with `--input FILE.npz`). `synops export-nir NET.toml -o model.nir` writes a network
//! as NIR ([`export`]).

mod export;
pub mod graph;
mod kernel;
pub mod lower;
mod write;

pub use export::{Exported, export};
pub use graph::{Graph, read};
pub use lower::{Lowered, Options, ResetMode, SpikeArea, TimeUnit, lower};
pub use write::write;

use crate::error::Result;
use std::path::Path;

/// Read and lower `path`.
pub fn import(path: &Path, options: &Options) -> Result<(Graph, Lowered)> {
    let graph = read(path)?;
    let lowered = lower(&graph, path, options)?;
    Ok((graph, lowered))
}
