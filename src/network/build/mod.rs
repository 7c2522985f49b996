//! Checking and lowering: network file → [`NetworkSpec`] → [`CompiledNetwork`].
//!
//! Every check on user input happens here and reports the file, the field (by name) and what is
//! wrong. After [`compile`] returns, the engines can trust the network. One file per concern:
//! populations, projections (weights, delays, rules, synapse tables), inputs, recording, and
//! the memory estimate; this file holds the order of the passes and the checks they share.

use super::compiled::*;
use super::connect::{self, Rule, Shape};
use super::csv::{BYTES_PER_CSV_ROW, CsvRows, column, csv_index, read_csv};
use super::graph::PopulationGraph;
use super::spec::*;
use crate::error::{Error, Result, short_number};
use crate::neuron::{Anchor, Dynamics, Model, NeuronParams};
use crate::rng::{Purpose, Stream};
use std::path::{Path, PathBuf};

mod inputs;
mod kernels;
mod memory;
mod plasticity;
mod populations;
mod projections;
mod recording;

use inputs::*;
use kernels::*;
pub(super) use memory::exceeds_memory;
use memory::*;
use plasticity::*;
use populations::*;
use projections::*;
use recording::*;

pub use super::parse::{edit_distance, nearest, parse_spec, read_spec};

/// Options of [`compile`].
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// Override the file's duration \[ms\].
    pub duration_ms: Option<f64>,
    /// The option that gave `duration_ms`, as errors name it (default `--duration-ms`).
    pub duration_option: Option<&'static str>,
    /// Override the file's seed.
    pub seed: Option<u64>,
    /// Refuse networks whose estimate exceeds this many bytes (default: the memory the
    /// operating system reports as available).
    pub memory_limit_bytes: Option<u64>,
    /// Keep only the synapses onto one rank's neurons (a distributed run; see
    /// [`crate::distributed`]). Stored synapse lists are filtered after they are drawn, so
    /// every rank keeps exactly its share of the whole network's.
    pub local_targets: Option<crate::distributed::LocalTargets>,
}

/// Read, check and compile a network file.
pub fn compile_file(path: &Path, options: &CompileOptions) -> Result<CompiledNetwork> {
    let spec = read_spec(path)?;
    compile(&spec, path, options)
}

struct Ctx<'a> {
    path: &'a Path,
    dt: f64,
}

/// The largest magnitude of a model's resting, threshold and reset potentials \[mV\] (1 kV: far
/// beyond any neuron, and a bound on the scale of its state; see
/// [`crate::neuron::Dynamics::state_bound`]).
pub const MAX_POTENTIAL_MV: f64 = 1e6;

/// The shortest time step \[ms\] (1 ns).
pub const MIN_DT_MS: f64 = 1e-6;

/// The longest time step \[ms\] (1 s).
pub const MAX_DT_MS: f64 = 1e3;

impl Ctx<'_> {
    fn err(&self, field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::invalid(self.path, field, message)
    }

    fn finite(&self, field: &str, v: f64) -> Result<f64> {
        if v.is_finite() {
            Ok(v)
        } else {
            Err(self.err(field, format!("must be a finite number, got {v}")))
        }
    }

    fn positive(&self, field: &str, v: f64) -> Result<f64> {
        self.finite(field, v)?;
        if v > 0.0 {
            Ok(v)
        } else {
            Err(self.err(field, format!("must be > 0, got {}", short_number(v))))
        }
    }

    /// A model's potential: finite and within ±[`MAX_POTENTIAL_MV`].
    fn potential(&self, field: &str, v: f64) -> Result<f64> {
        self.finite(field, v)?;
        match crate::model::potential_refusal(v) {
            Some(message) => Err(self.err(field, message)),
            None => Ok(v),
        }
    }

    /// Convert a time to whole steps, refusing values off the step grid.
    fn steps(&self, field: &str, ms: f64, min_steps: u64) -> Result<u32> {
        self.finite(field, ms)?;
        let dt = short_number(self.dt);
        let max_steps = f64::from(u32::MAX - 1);
        // Exact to the picosecond (valid values are at most 13 digits long: dt is bounded).
        let at = |n: f64| {
            let v = n * self.dt;
            // 15 significant digits at most, 9 decimals at most: no rounding noise shows.
            let decimals = (14 - v.abs().max(1.0).log10().floor() as i32).clamp(0, 9) as usize;
            let text = format!("{v:.decimals$}");
            format!("{} ms", text.trim_end_matches('0').trim_end_matches('.'))
        };
        let exact = ms / self.dt;
        if ms < 0.0 {
            return Err(self.err(
                field,
                format!("must be >= 0 ms, got {} ms", short_number(ms)),
            ));
        }
        if exact > max_steps {
            return Err(self.err(
                field,
                format!(
                    "{} ms is more than {max_steps} steps of dt = {dt} ms (at most {})",
                    short_number(ms),
                    at(max_steps)
                ),
            ));
        }
        let rounded = exact.round();
        if rounded < min_steps as f64 {
            return Err(self.err(
                field,
                format!(
                    "{} ms is less than {min_steps} step(s) of dt = {dt} ms; the smallest valid value is {}",
                    short_number(ms),
                    at(min_steps as f64)
                ),
            ));
        }
        if (exact - rounded).abs() > 1e-6 * rounded.abs().max(1.0) {
            let (lo, hi) = (
                exact.floor().max(min_steps as f64),
                exact.ceil().max(min_steps as f64),
            );
            let nearest = if lo == hi {
                format!("the nearest valid value is {}", at(lo))
            } else {
                format!("the nearest valid values are {} and {}", at(lo), at(hi))
            };
            return Err(self.err(
                field,
                format!(
                    "{} ms is not a whole number of steps of dt = {dt} ms; {nearest}",
                    short_number(ms)
                ),
            ));
        }
        Ok(rounded as u32)
    }

    /// A Poisson rate: non-negative, and at most 100 expected spikes per step.
    fn rate(&self, field: &str, rate_hz: f64) -> Result<f64> {
        let per_step = rate_hz * self.dt * 1e-3;
        if rate_hz < 0.0 {
            Err(self.err(
                field,
                format!("must be >= 0, got {}", short_number(rate_hz)),
            ))
        } else if per_step > 100.0 {
            Err(self.err(
                field,
                format!(
                    "{} Hz is {} spikes per step; at most 100 are supported",
                    short_number(rate_hz),
                    short_number(per_step)
                ),
            ))
        } else {
            Ok(rate_hz)
        }
    }

    fn value(&self, field: &str, v: &ValueSpec) -> Result<ValueSpec> {
        for x in v.numbers() {
            self.finite(field, x)?;
        }
        match *v {
            ValueSpec::Uniform { lo, hi } if lo > hi => Err(self.err(
                field,
                format!(
                    "uniform bounds must satisfy lo <= hi, got [{}, {}]",
                    short_number(lo),
                    short_number(hi)
                ),
            )),
            ValueSpec::Normal { std, .. } if std < 0.0 => Err(self.err(
                field,
                format!("normal std must be >= 0, got {}", short_number(std)),
            )),
            _ => Ok(*v),
        }
    }

    fn indices(&self, field: &str, indices: &Option<Vec<u64>>, size: u32) -> Result<Vec<u32>> {
        match indices {
            None => Ok((0..size).collect()),
            Some(list) => {
                let mut out = Vec::with_capacity(list.len());
                for &i in list {
                    if i >= u64::from(size) {
                        return Err(self.err(
                            field,
                            format!("index {i} is out of range for a population of {size} neurons"),
                        ));
                    }
                    out.push(i as u32);
                }
                out.sort_unstable();
                out.dedup();
                Ok(out)
            }
        }
    }
}

fn draw(v: &ValueSpec, rng: &mut Stream) -> f64 {
    match *v {
        ValueSpec::Constant(c) => c,
        ValueSpec::Uniform { lo, hi } => rng.uniform_range(lo, hi),
        ValueSpec::Normal { mean, std } => rng.normal(mean, std),
    }
}

fn population_index(ctx: &Ctx, field: &str, name: &str, pops: &[PopulationSpec]) -> Result<usize> {
    pops.iter().position(|p| p.name == name).ok_or_else(|| {
        let names: Vec<&str> = pops.iter().map(|p| p.name.as_str()).collect();
        let hint = nearest(name, names.iter().copied())
            .map(|n| format!("; did you mean `{n}`?"))
            .unwrap_or_default();
        ctx.err(
            field,
            format!(
                "unknown population `{name}` (known: {}){hint}",
                names.join(", ")
            ),
        )
    })
}

fn resolve(base: &Path, file: &str) -> PathBuf {
    base.parent().unwrap_or(Path::new(".")).join(file)
}

/// Check a parsed network and build it: connectivity, initial states, inputs, recorders.
pub fn compile(
    spec: &NetworkSpec,
    path: &Path,
    options: &CompileOptions,
) -> Result<CompiledNetwork> {
    let mut ctx = Ctx { path, dt: 1.0 };
    if spec.version != FORMAT_VERSION {
        return Err(ctx.err(
            "version",
            format!(
                "this synops reads format version {FORMAT_VERSION}, the file says {}",
                spec.version
            ),
        ));
    }
    ctx.dt = ctx.positive("simulation.dt_ms", spec.simulation.dt_ms)?;
    if !(MIN_DT_MS..=MAX_DT_MS).contains(&ctx.dt) {
        return Err(ctx.err(
            "simulation.dt_ms",
            format!(
                "{} ms is outside {MIN_DT_MS} to {MAX_DT_MS} ms, the time steps synops supports",
                short_number(ctx.dt)
            ),
        ));
    }
    let duration = options.duration_ms.unwrap_or(spec.simulation.duration_ms);
    let duration_field = match (options.duration_ms, options.duration_option) {
        (None, _) => "simulation.duration_ms",
        (Some(_), Some(option)) => option,
        (Some(_), None) => "--duration-ms",
    };
    let steps = ctx.steps(duration_field, duration, 1)?;
    let seed = options.seed.unwrap_or(spec.simulation.seed);
    // Names first: duplicates and unknown references, with suggestions.
    PopulationGraph::from_spec(spec, path)?;
    // Before any state is allocated: the neurons alone must fit.
    check_neurons_fit(&ctx, spec, options)?;
    let mut populations = spec
        .populations
        .iter()
        .enumerate()
        .map(|(pi, p)| compile_population(&ctx, pi, p, seed, steps))
        .collect::<Result<Vec<_>>>()?;
    let planned = plan_projections(&ctx, spec, &populations, options, steps)?;
    // The whole network's delays, before a rank keeps only its synapses: every rank must
    // route in epochs of the same length.
    let mut whole_delays = (u32::MAX, 0u32);
    let projections = planned
        .into_iter()
        .enumerate()
        .map(|(j, pl)| {
            let local = (options.local_targets).map(|l| l.range(populations[pl.target()].size));
            let mut projection = generate_projection(&ctx, j, pl, seed, local)?;
            let (pr, target) = (&spec.projections[j], &populations[projection.target]);
            if let Some(local) = &options.local_targets {
                whole_delays.0 = whole_delays.0.min(projection.min_delay());
                whole_delays.1 = whole_delays.1.max(projection.max_delay());
                keep_targets(&mut projection, local.range(target.size));
            }
            if let Some(file) = &pr.initial_weights {
                load_initial_weights(&ctx, file, &mut projection, target)?;
            }
            projection.plasticity = compile_plasticity(&ctx, pr, &projection, target)?;
            Ok(projection)
        })
        .collect::<Result<Vec<_>>>()?;
    let (drives, currents, noises) = compile_inputs(&ctx, spec, &mut populations)?;
    let record = compile_recording(&ctx, spec, &populations, &projections)?;
    Ok(CompiledNetwork {
        name: spec.name.clone(),
        path: path.to_path_buf(),
        dt_ms: ctx.dt,
        steps,
        seed,
        populations,
        projections,
        drives,
        noises,
        currents,
        record,
        local_targets: options.local_targets,
        whole_delays: (options.local_targets.is_some() && whole_delays.1 > 0)
            .then_some(whole_delays),
    })
}
