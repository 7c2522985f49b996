//! Checking and lowering: network file → [`NetworkSpec`] → [`CompiledNetwork`].
//!
//! Every check on user input happens here and reports the file, the field (by name) and what is
//! wrong. After [`compile`] returns, the engines can trust the network.

use super::compiled::*;
use super::connect::{self, Rule, Shape};
use super::csv::{BYTES_PER_CSV_ROW, CsvRows, column, csv_index, read_csv};
use super::graph::PopulationGraph;
use super::spec::*;
use crate::error::{Error, Result, short_number};
use crate::neuron::{Anchor, Dynamics, Model, NeuronParams};
use crate::rng::{Purpose, Stream};
use std::path::{Path, PathBuf};

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
        if v.abs() <= MAX_POTENTIAL_MV {
            Ok(v)
        } else {
            Err(self.err(
                field,
                format!(
                    "{} mV is beyond ±{} mV, the range of a model's potentials",
                    short_number(v),
                    short_number(MAX_POTENTIAL_MV)
                ),
            ))
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

/// Which parameters each model accepts; the rest must be absent.
fn check_parameters(ctx: &Ctx, p: &PopulationSpec) -> Result<()> {
    let present: [(&str, bool); 18] = [
        ("tau_m_ms", p.tau_m_ms.is_some()),
        ("tau_syn_exc_ms", p.tau_syn_exc_ms.is_some()),
        ("tau_syn_inh_ms", p.tau_syn_inh_ms.is_some()),
        ("v_rest_mv", p.v_rest_mv.is_some()),
        ("v_th_mv", p.v_th_mv.is_some()),
        ("v_reset_mv", p.v_reset_mv.is_some()),
        ("t_ref_ms", p.t_ref_ms.is_some()),
        ("reset", p.reset.is_some()),
        ("bias_mv", p.bias_mv.is_some()),
        ("bias_mv_per_ms", p.bias_mv_per_ms.is_some()),
        ("v_init_mv", p.v_init_mv.is_some()),
        ("rate_hz", p.rate_hz.is_some()),
        ("spiking", p.spiking.is_some()),
        ("bias_tensor", p.bias_tensor.is_some()),
        ("values", p.values.is_some()),
        ("encoding", p.encoding.is_some()),
        ("max_rate_hz", p.max_rate_hz.is_some()),
        ("initial", p.initial.is_some()),
    ];
    let neuron = [
        "v_th_mv",
        "v_reset_mv",
        "t_ref_ms",
        "reset",
        "v_init_mv",
        "spiking",
        "bias_tensor",
    ];
    let allowed: Vec<&str> = match p.model {
        ModelName::If => [&neuron[..], &["bias_mv_per_ms"]].concat(),
        ModelName::LifDelta => [&neuron[..], &["tau_m_ms", "v_rest_mv", "bias_mv"]].concat(),
        ModelName::LifExp => [
            &neuron[..],
            &[
                "tau_m_ms",
                "v_rest_mv",
                "bias_mv",
                "tau_syn_exc_ms",
                "tau_syn_inh_ms",
            ],
        ]
        .concat(),
        ModelName::Poisson => vec!["rate_hz"],
        ModelName::SpikeSource => vec![],
        ModelName::Analog => vec!["values", "encoding", "max_rate_hz"],
        // The model's own parameters were set aside at parsing (see `parse_spec`).
        ModelName::Clocked(_) => vec!["v_init_mv", "initial"],
    };
    let field = |f: &str| format!("population \"{}\".{f}", p.name);
    for (name, is_set) in present {
        if is_set && !allowed.contains(&name) {
            return Err(ctx.err(
                field(name),
                format!(
                    "not a parameter of model `{}` (its parameters: {})",
                    p.model.as_str(),
                    if allowed.is_empty() {
                        "none".to_string()
                    } else {
                        allowed.join(", ")
                    }
                ),
            ));
        }
    }
    if p.file.is_some() && p.model != ModelName::SpikeSource {
        return Err(ctx.err(field("file"), "only `spike_source` populations read a file"));
    }
    let required: &[(&str, bool)] = match p.model {
        ModelName::If => &[("v_th_mv", p.v_th_mv.is_some())],
        ModelName::LifDelta => &[
            ("v_th_mv", p.v_th_mv.is_some()),
            ("tau_m_ms", p.tau_m_ms.is_some()),
        ],
        ModelName::LifExp => &[
            ("v_th_mv", p.v_th_mv.is_some()),
            ("tau_m_ms", p.tau_m_ms.is_some()),
            ("tau_syn_exc_ms", p.tau_syn_exc_ms.is_some()),
            ("tau_syn_inh_ms", p.tau_syn_inh_ms.is_some()),
        ],
        ModelName::Poisson => &[("rate_hz", p.rate_hz.is_some())],
        ModelName::SpikeSource => &[("file", p.file.is_some())],
        ModelName::Analog | ModelName::Clocked(_) => &[],
    };
    for &(name, is_set) in required {
        if !is_set {
            return Err(ctx.err(
                field(name),
                format!("required by model `{}`", p.model.as_str()),
            ));
        }
    }
    Ok(())
}

fn neuron_params(ctx: &Ctx, p: &PopulationSpec) -> Result<NeuronParams> {
    let field = |f: &str| format!("population \"{}\".{f}", p.name);
    let model = match p.model {
        ModelName::If => Model::If,
        ModelName::LifDelta => Model::LifDelta,
        ModelName::LifExp => Model::LifExp,
        _ => unreachable!("sources have no neuron parameters"),
    };
    let tau = |f: &str, v: Option<f64>| -> Result<f64> {
        match v {
            Some(v) => ctx.positive(&field(f), v),
            None => Ok(1.0),
        }
    };
    let v_rest_mv = ctx.potential(&field("v_rest_mv"), p.v_rest_mv.unwrap_or(0.0))?;
    let v_th_mv = ctx.potential(&field("v_th_mv"), p.v_th_mv.unwrap_or(0.0))?;
    let v_reset_mv = ctx.potential(&field("v_reset_mv"), p.v_reset_mv.unwrap_or(v_rest_mv))?;
    if v_reset_mv >= v_th_mv {
        return Err(ctx.err(
            field("v_reset_mv"),
            format!(
                "must be below v_th_mv = {}, got {}",
                short_number(v_th_mv),
                short_number(v_reset_mv)
            ),
        ));
    }
    Ok(NeuronParams {
        model,
        tau_m_ms: tau("tau_m_ms", p.tau_m_ms)?,
        tau_exc_ms: tau("tau_syn_exc_ms", p.tau_syn_exc_ms)?,
        tau_inh_ms: tau("tau_syn_inh_ms", p.tau_syn_inh_ms)?,
        v_rest_mv,
        v_th_mv,
        v_reset_mv,
        ref_steps: ctx.steps(&field("t_ref_ms"), p.t_ref_ms.unwrap_or(0.0), 0)?,
        reset: p.reset.unwrap_or_default(),
        spiking: p.spiking.unwrap_or(true),
    })
}

fn resolve(base: &Path, file: &str) -> PathBuf {
    base.parent().unwrap_or(Path::new(".")).join(file)
}

/// Bytes of memory per neuron: its initial state, its runtime record and its share of the
/// engine's per-neuron arrays.
const BYTES_PER_NEURON: f64 = 96.0;

/// Refuse a network whose neurons alone would not fit in memory, before allocating them.
fn check_neurons_fit(ctx: &Ctx, spec: &NetworkSpec, options: &CompileOptions) -> Result<()> {
    let neurons: u64 = spec.populations.iter().map(|p| p.size).sum();
    let needed = neurons as f64 * BYTES_PER_NEURON;
    match exceeds_memory(needed, options.memory_limit_bytes) {
        Some(limit) => Err(Error::TooLarge {
            path: ctx.path.to_path_buf(),
            needed_mb: needed / 1e6,
            available_mb: limit as f64 / 1e6,
            synapses: 0,
            neurons,
        }),
        None => Ok(()),
    }
}

/// The memory limit (`limit`, or else the memory available) when `needed` bytes exceed 90 %
/// of it; `None` when they fit or nothing is known.
pub(super) fn exceeds_memory(needed: f64, limit: Option<u64>) -> Option<u64> {
    limit
        .or_else(available_memory_bytes)
        .filter(|&limit| needed > limit as f64 * 0.9)
}

/// The memory the machine reports as available \[bytes\].
fn available_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
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
    let projections = planned
        .into_iter()
        .enumerate()
        .map(|(j, pl)| generate_projection(&ctx, j, pl, seed))
        .collect::<Result<Vec<_>>>()?;
    let (drives, currents) = compile_inputs(&ctx, spec, &mut populations)?;
    let record = compile_recording(&ctx, spec, &populations)?;
    Ok(CompiledNetwork {
        name: spec.name.clone(),
        path: path.to_path_buf(),
        dt_ms: ctx.dt,
        steps,
        seed,
        populations,
        projections,
        drives,
        currents,
        record,
    })
}

/// Check one population and draw its initial state.
fn compile_population(
    ctx: &Ctx,
    pi: usize,
    p: &PopulationSpec,
    seed: u64,
    steps: u32,
) -> Result<Population> {
    let field = |f: &str| format!("population \"{}\".{f}", p.name);
    if p.size == 0 || p.size > u64::from(u32::MAX - 1) {
        return Err(ctx.err(
            field("size"),
            format!("must be between 1 and {}, got {}", u32::MAX - 1, p.size),
        ));
    }
    let size = p.size as u32;
    check_parameters(ctx, p)?;
    let kind = match p.model {
        ModelName::If | ModelName::LifDelta | ModelName::LifExp => {
            let params = neuron_params(ctx, p)?;
            let bias = match p.model {
                ModelName::If => p.bias_mv_per_ms.unwrap_or(0.0),
                _ => p.bias_mv.unwrap_or(0.0),
            };
            let bias_field = if p.model == ModelName::If {
                "bias_mv_per_ms"
            } else {
                "bias_mv"
            };
            ctx.finite(&field(bias_field), bias)?;
            let init = ctx.value(
                &field("v_init_mv"),
                &p.v_init_mv.unwrap_or(ValueSpec::Constant(params.v_rest_mv)),
            )?;
            let biases: Vec<f64> = match &p.bias_tensor {
                None => vec![bias; size as usize],
                Some(t) => {
                    let tensor = read_tensor(ctx, &field("bias_tensor"), &t.file, &t.tensor)?;
                    if tensor.data.len() != size as usize {
                        return Err(ctx.err(
                            field("bias_tensor"),
                            format!(
                                "tensor `{}` has shape {:?}, expected [{size}]",
                                t.tensor, tensor.shape
                            ),
                        ));
                    }
                    tensor.data.iter().map(|&b| bias + f64::from(b)).collect()
                }
            };
            let mut rng = Stream::new(seed, Purpose::InitialState, pi as u64, 0);
            let initial = biases
                .into_iter()
                .map(|bias| Anchor {
                    v: draw(&init, &mut rng),
                    i_exc: 0.0,
                    i_inh: 0.0,
                    step: 0,
                    ref_end: 0,
                    bias,
                })
                .collect();
            PopulationKind::Neurons {
                dynamics: Dynamics::new(params, ctx.dt),
                initial,
            }
        }
        ModelName::Clocked(name) => clocked_population(ctx, pi, p, name, seed, size)?,
        ModelName::Analog => {
            let values = p.values.clone().unwrap_or_else(|| vec![0.0; size as usize]);
            if values.len() != size as usize {
                return Err(ctx.err(
                    field("values"),
                    format!("{} values for {size} units", values.len()),
                ));
            }
            for &v in &values {
                ctx.finite(&field("values"), v)?;
            }
            let max_rate_hz = p.max_rate_hz.unwrap_or(1000.0 / ctx.dt);
            ctx.finite(&field("max_rate_hz"), max_rate_hz)?;
            ctx.rate(&field("max_rate_hz"), max_rate_hz)?;
            let encoding = match p.encoding.unwrap_or(EncodingSpec::Current) {
                EncodingSpec::Current => Encoding::Current,
                EncodingSpec::Poisson => Encoding::Poisson,
                EncodingSpec::Regular => Encoding::Regular,
            };
            if encoding != Encoding::Current && values.iter().any(|&v| v < 0.0) {
                return Err(ctx.err(field("values"), "spike encodings need values >= 0"));
            }
            PopulationKind::Analog {
                values,
                encoding,
                max_rate_hz,
            }
        }
        ModelName::Poisson => {
            let rate_hz = ctx.finite(&field("rate_hz"), p.rate_hz.unwrap_or(0.0))?;
            ctx.rate(&field("rate_hz"), rate_hz)?;
            PopulationKind::Poisson { rate_hz }
        }
        ModelName::SpikeSource => {
            let file = resolve(ctx.path, p.file.as_deref().unwrap_or_default());
            let mut spikes = Vec::new();
            for (line, cols) in read_csv(&file, &["time_ms", "index"], 2, None)?.iter() {
                let step = ctx.steps(&format!("{}:{line}: time_ms", file.display()), cols[0], 1)?;
                let index = csv_index(&file, line, cols[1], size, "index")?;
                // Spikes after the end (e.g. with a shorter --duration-ms) never happen.
                if step <= steps {
                    spikes.push((step, index));
                }
            }
            spikes.sort_unstable();
            spikes.dedup();
            PopulationKind::SpikeSource { spikes }
        }
    };
    Ok(Population {
        name: p.name.clone(),
        size,
        kind,
    })
}

/// A population of a clocked model: its parameters (set aside at parsing) built into the
/// model, and the initial potentials drawn as for the exact models.
fn clocked_population(
    ctx: &Ctx,
    pi: usize,
    p: &PopulationSpec,
    name: &str,
    seed: u64,
    size: u32,
) -> Result<PopulationKind> {
    let field = |f: &str| format!("population \"{}\".{f}", p.name);
    let entry = crate::model::clocked(name).expect("parsing accepts only registered models");
    let model = (entry.build)(&p.model_params, ctx.dt).map_err(|e| match e {
        crate::model::BuildError::Param(e) => ctx.err(field(e.field), e.message),
        crate::model::BuildError::Format(message) => ctx.err(field("model"), message),
    })?;
    let default = ValueSpec::Constant(model.resting_potential());
    let init = ctx.value(&field("v_init_mv"), &p.v_init_mv.unwrap_or(default))?;
    let mut rng = Stream::new(seed, Purpose::InitialState, pi as u64, 0);
    let mut initial: Vec<[f64; crate::model::MAX_VARIABLES]> = (0..size)
        .map(|_| model.initial_values(draw(&init, &mut rng)))
        .collect();
    if let Some(v) = initial
        .iter()
        .map(|s| s[0])
        .find(|v| v.is_nan() || v.abs() > MAX_POTENTIAL_MV)
    {
        return Err(ctx.err(
            field("v_init_mv"),
            format!(
                "a potential of {} mV is outside ±{} mV",
                short_number(v),
                short_number(MAX_POTENTIAL_MV)
            ),
        ));
    }
    // Each other variable drawn from a stream of its own (the potential's is the exact
    // models').
    let variables = model.variables();
    for (name, value) in p.initial.iter().flatten() {
        let what = format!("initial.{name}");
        let Some(k) = variables
            .iter()
            .skip(1)
            .position(|v| v == name)
            .map(|k| k + 1)
        else {
            return Err(ctx.err(
                field(&what),
                format!(
                    "not a state variable of model `{}` besides the potential (its others: {}; the potential is v_init_mv)",
                    model.name(),
                    variables[1..].join(", ")
                ),
            ));
        };
        let value = ctx.value(&field(&what), value)?;
        let mut rng = Stream::new(seed, Purpose::InitialState, pi as u64, k as u64);
        for state in &mut initial {
            state[k] = draw(&value, &mut rng);
        }
    }
    Ok(PopulationKind::Clocked { model, initial })
}

/// The weight field a projection or drive into `target` must use (`weight_mv`, or `weight_ns`
/// for conductance-based targets), refusing the other one.
fn weight_field(
    ctx: &Ctx,
    field: &dyn Fn(&str) -> String,
    (target, name): (&Population, &str),
    (mv, ns): (bool, bool),
) -> Result<&'static str> {
    let synapses = target.synapses();
    let wanted = synapses.weight_field();
    let wrong = match synapses {
        crate::model::Synapses::Voltage => ns.then_some("weight_ns"),
        crate::model::Synapses::Conductance => mv.then_some("weight_mv"),
    };
    match wrong {
        Some(wrong) => Err(ctx.err(
            field(wrong),
            format!(
                "population `{name}` (model `{}`) takes its weights as {wanted}",
                target.model_name().unwrap_or("source")
            ),
        )),
        None => Ok(wanted),
    }
}

/// The receptor of a projection or drive: the one named, or else by the sign of its lowest
/// weight (conductances, always ≥ 0: excitatory unless named).
fn receptor_of(
    named: Option<ReceptorSpec>,
    lowest: f64,
    synapses: crate::model::Synapses,
) -> Receptor {
    match named {
        Some(ReceptorSpec::Exc) => Receptor::Exc,
        Some(ReceptorSpec::Inh) => Receptor::Inh,
        None if lowest >= 0.0 || synapses == crate::model::Synapses::Conductance => Receptor::Exc,
        None => Receptor::Inh,
    }
}

/// Whether weights in `(lo, hi)` have the sign `receptor` takes: conductances ≥ 0 for both,
/// potentials ≥ 0 for excitatory and ≤ 0 for inhibitory.
fn weight_sign_ok(
    receptor: Receptor,
    (lo, hi): (f64, f64),
    synapses: crate::model::Synapses,
) -> bool {
    match (synapses, receptor) {
        (crate::model::Synapses::Conductance, _) | (_, Receptor::Exc) => lo >= 0.0 && hi >= 0.0,
        (_, Receptor::Inh) => lo <= 0.0 && hi <= 0.0,
    }
}

/// The refusal of weights of the wrong sign.
fn weight_sign_message(receptor: Receptor, synapses: crate::model::Synapses) -> String {
    if synapses == crate::model::Synapses::Conductance {
        return "conductance weights must be >= 0 for both receptors (name the receptor: receptor = \"inh\")".to_string();
    }
    format!(
        "weights of an {} projection must be {} (one sign per projection; a normal distribution is redrawn where it crosses zero)",
        if receptor == Receptor::Exc {
            "excitatory"
        } else {
            "inhibitory"
        },
        if receptor == Receptor::Exc {
            ">= 0"
        } else {
            "<= 0"
        }
    )
}

/// A checked projection whose synapses are not generated yet.
struct PlannedProjection {
    name: String,
    source: usize,
    target: usize,
    receptor: Receptor,
    /// `None` for an explicit list.
    rule: Option<Rule>,
    shape: Shape,
    weight: ValueSpec,
    /// `(lowest, highest, drawn per synapse)` in steps.
    delay: (u32, u32, bool),
    /// The CSV file and its rows for `from_file`.
    explicit: Option<(PathBuf, CsvRows)>,
    /// Source-major weight rows of a dense projection.
    dense: Option<Vec<f32>>,
}

/// Refuse weights (or current amplitudes) in `range` whose size alone takes `target`'s state
/// beyond its bound (see [`crate::neuron::Dynamics::state_bound`]).
fn check_weight_bound(
    ctx: &Ctx,
    (field, what): (&str, &str),
    range: (f64, f64),
    target: &Population,
) -> Result<()> {
    let bound = match &target.kind {
        PopulationKind::Neurons { dynamics, .. } => dynamics.state_bound(),
        PopulationKind::Clocked { model, .. } => model.state_bound(),
        _ => return Ok(()),
    };
    let largest = range.0.abs().max(range.1.abs());
    let unit = match target.synapses() {
        crate::model::Synapses::Voltage => "mV",
        crate::model::Synapses::Conductance => "nS",
    };
    #[allow(clippy::neg_cmp_op_on_partial_ord)] // the negation is what makes NaN beyond
    if !(largest <= bound) {
        return Err(ctx.err(
            field,
            format!(
                "{what} of {} {unit} is beyond the largest state of population `{}` (±{} {unit}, {} times its voltage scale): no neuron can take such an input",
                short_number(largest),
                target.name,
                short_number(bound),
                short_number(crate::neuron::STATE_BOUND_FACTOR)
            ),
        ));
    }
    Ok(())
}

/// Check every projection and refuse the network if its synapses, state and recordings would
/// not fit in memory.
fn plan_projections(
    ctx: &Ctx,
    spec: &NetworkSpec,
    populations: &[Population],
    options: &CompileOptions,
    steps: u32,
) -> Result<Vec<PlannedProjection>> {
    let mut planned = Vec::with_capacity(spec.projections.len());
    let mut expected_total = 0f64;
    let mut bytes_needed = 0f64;
    for pr in &spec.projections {
        let name = pr
            .name
            .clone()
            .unwrap_or_else(|| format!("{}->{}", pr.source, pr.target));
        let field = |f: &str| format!("projection \"{name}\".{f}");
        let source = population_index(ctx, &field("source"), &pr.source, &spec.populations)?;
        let target = population_index(ctx, &field("target"), &pr.target, &spec.populations)?;
        if !populations[target].is_neurons() {
            return Err(ctx.err(
                field("target"),
                format!(
                    "population `{}` is a spike source and cannot receive synapses",
                    pr.target
                ),
            ));
        }
        let current_source = matches!(
            populations[source].kind,
            PopulationKind::Analog {
                encoding: Encoding::Current,
                ..
            }
        );
        if current_source && matches!(populations[target].kind, PopulationKind::Clocked { .. }) {
            return Err(ctx.err(
                field("target"),
                format!(
                    "`{}` is current-encoded and drives its targets' bias, which model `{}` takes as a parameter; use encoding = \"poisson\" or \"regular\"",
                    pr.source,
                    populations[target].model_name().unwrap_or_default()
                ),
            ));
        }
        let synapses = populations[target].synapses();
        let weight_field = weight_field(
            ctx,
            &field,
            (&populations[target], &pr.target),
            (pr.weight_mv.is_some(), pr.weight_ns.is_some()),
        )?;
        let given = pr.weight_mv.as_ref().or(pr.weight_ns.as_ref());
        // Dense projections take their weights from a tensor, every other rule from their
        // weight field.
        let dense = match &pr.connectivity {
            ConnectivitySpec::Dense { file, tensor } => {
                if given.is_some() {
                    return Err(ctx.err(
                        field(weight_field),
                        format!("a dense projection takes its weights from its tensor; remove {weight_field}"),
                    ));
                }
                let (sources, targets) = (populations[source].size, populations[target].size);
                let t = read_tensor(ctx, &field("connectivity"), file, tensor)?;
                if t.shape != [targets as usize, sources as usize] {
                    return Err(ctx.err(
                        field("connectivity"),
                        format!(
                            "tensor `{tensor}` has shape {:?}; a dense projection from {sources} to {targets} neurons needs [{targets}, {sources}] (PyTorch [out, in])",
                            t.shape
                        ),
                    ));
                }
                // Source-major rows: row s holds the weights from source s to every target.
                let (ns, nt) = (sources as usize, targets as usize);
                let mut rows = vec![0f32; ns * nt];
                for j in 0..nt {
                    for i in 0..ns {
                        rows[i * nt + j] = t.data[j * ns + i];
                    }
                }
                Some(rows)
            }
            _ => None,
        };
        let weight = match (given, &dense) {
            (Some(w), None) => ctx.value(&field(weight_field), w)?,
            (None, None) => {
                return Err(ctx.err(field(weight_field), "required (a number or a distribution)"));
            }
            (_, Some(_)) => ValueSpec::Constant(0.0),
        };
        let (wlo, whi) = match (&dense, weight) {
            (Some(rows), _) => rows.iter().fold((0f64, 0f64), |(lo, hi), &w| {
                (lo.min(f64::from(w)), hi.max(f64::from(w)))
            }),
            (None, ValueSpec::Constant(c)) => (c, c),
            (None, ValueSpec::Uniform { lo, hi }) => (lo, hi),
            (None, ValueSpec::Normal { mean, .. }) => (mean, mean),
        };
        let receptor = receptor_of(pr.receptor, wlo, synapses);
        // Delta-synapse targets add both signs to the potential; only targets with two
        // receptors need one sign.
        let mixed_ok = dense.is_some() && !populations[target].has_two_receptors();
        if !weight_sign_ok(receptor, (wlo, whi), synapses) && !mixed_ok {
            return Err(ctx.err(field(weight_field), weight_sign_message(receptor, synapses)));
        }
        check_weight_bound(
            ctx,
            (&field(weight_field), "a weight"),
            (wlo, whi),
            &populations[target],
        )?;
        let delay = match ctx.value(&field("delay_ms"), &pr.delay_ms)? {
            ValueSpec::Constant(d) => {
                let s = ctx.steps(&field("delay_ms"), d, 1)?;
                (s, s, false)
            }
            ValueSpec::Uniform { lo, hi } => (
                ctx.steps(&field("delay_ms"), lo, 1)?,
                ctx.steps(&field("delay_ms"), hi, 1)?,
                true,
            ),
            ValueSpec::Normal { .. } => {
                return Err(ctx.err(
                    field("delay_ms"),
                    "delays must be a number or { uniform = [lo, hi] } (drawn as whole steps)",
                ));
            }
        };
        if delay.1 > 65535 {
            return Err(ctx.err(
                field("delay_ms"),
                "delays longer than 65535 steps are not supported",
            ));
        }
        let shape = Shape {
            sources: populations[source].size,
            targets: populations[target].size,
            same_population: source == target,
            allow_autapses: pr.allow_autapses,
            allow_multapses: pr.allow_multapses,
        };
        let cfield = field("connectivity");
        let (rule, explicit) = match &pr.connectivity {
            ConnectivitySpec::AllToAll => (Some(Rule::AllToAll), None),
            ConnectivitySpec::OneToOne => {
                if shape.same_population && !shape.allow_autapses {
                    return Err(ctx.err(
                        cfield,
                        "one_to_one within one population connects each neuron to itself; set allow_autapses = true",
                    ));
                }
                if shape.sources != shape.targets {
                    return Err(ctx.err(
                        cfield,
                        format!(
                            "one_to_one needs equal sizes, got {} and {}",
                            shape.sources, shape.targets
                        ),
                    ));
                }
                (Some(Rule::OneToOne), None)
            }
            ConnectivitySpec::FixedProbability { p } => {
                if !(0.0..=1.0).contains(p) {
                    return Err(ctx.err(
                        format!("{cfield}.p"),
                        format!("probability must be in [0, 1], got {}", short_number(*p)),
                    ));
                }
                (Some(Rule::FixedProbability(*p)), None)
            }
            ConnectivitySpec::FixedIndegree { indegree: k }
            | ConnectivitySpec::FixedOutdegree { outdegree: k } => {
                let indegree = matches!(pr.connectivity, ConnectivitySpec::FixedIndegree { .. });
                let key = if indegree { "indegree" } else { "outdegree" };
                let pool = if indegree {
                    shape.sources
                } else {
                    shape.targets
                };
                let pool =
                    u64::from(pool) - u64::from(shape.same_population && !shape.allow_autapses);
                if *k > u64::from(u32::MAX)
                    || (pool == 0 && *k > 0)
                    || (!shape.allow_multapses && *k > pool)
                {
                    return Err(ctx.err(
                        format!("{cfield}.{key}"),
                        format!("{k} is more than the {pool} distinct partners available without multapses"),
                    ));
                }
                let k = *k as u32;
                (
                    Some(if indegree {
                        Rule::FixedIndegree(k)
                    } else {
                        Rule::FixedOutdegree(k)
                    }),
                    None,
                )
            }
            ConnectivitySpec::FromFile { file } => {
                let file = resolve(ctx.path, file);
                let rows = read_csv(
                    &file,
                    &["source", "target", "weight_mv", "delay_ms"],
                    2,
                    options.memory_limit_bytes,
                )?;
                (None, Some((file, rows)))
            }
            ConnectivitySpec::Dense { .. } => {
                if delay.2 {
                    return Err(ctx.err(field("delay_ms"), "a dense projection has one delay"));
                }
                (None, None)
            }
        };
        let expected = match (&rule, &explicit) {
            (Some(r), _) => connect::expected_synapses(r, &shape),
            (None, Some((_, rows))) => rows.len() as f64,
            _ => f64::from(shape.sources) * f64::from(shape.targets),
        };
        // An explicit list holds its parsed rows and edges while its tables are built.
        let per_synapse = if explicit.is_some() {
            BYTES_PER_CSV_ROW
        } else {
            4.0 + if matches!(weight, ValueSpec::Constant(_)) {
                0.0
            } else {
                4.0
            } + if delay.2 { 4.0 } else { 0.0 }
        };
        bytes_needed += expected * per_synapse + f64::from(shape.sources) * 8.0;
        expected_total += expected;
        if expected > f64::from(u32::MAX) * 0.99 {
            return Err(Error::TooLarge {
                path: ctx.path.to_path_buf(),
                needed_mb: bytes_needed / 1e6,
                available_mb: available_memory_bytes().unwrap_or(0) as f64 / 1e6,
                synapses: expected as u64,
                neurons: populations.iter().map(|p| u64::from(p.size)).sum(),
            });
        }
        planned.push(PlannedProjection {
            name,
            source,
            target,
            receptor,
            rule,
            shape,
            weight,
            delay,
            explicit,
            dense,
        });
    }
    let neurons: u64 = populations.iter().map(|p| u64::from(p.size)).sum();
    bytes_needed += neurons as f64 * BYTES_PER_NEURON;
    bytes_needed += recording_bytes(spec, f64::from(steps), ctx.dt);
    if let Some(limit) = exceeds_memory(bytes_needed, options.memory_limit_bytes) {
        return Err(Error::TooLarge {
            path: ctx.path.to_path_buf(),
            needed_mb: bytes_needed / 1e6,
            available_mb: limit as f64 / 1e6,
            synapses: expected_total as u64,
            neurons,
        });
    }

    Ok(planned)
}

/// Read one tensor of a safetensors file named in a network file.
fn read_tensor(
    ctx: &Ctx,
    field: &str,
    file: &str,
    tensor: &str,
) -> Result<crate::convert::tensors::Tensor> {
    let path = resolve(ctx.path, file);
    let mut tensors = crate::convert::tensors::read_safetensors(&path)?;
    let t = tensors.remove(tensor).ok_or_else(|| {
        let names: Vec<&str> = tensors.keys().map(String::as_str).collect();
        ctx.err(
            field,
            format!(
                "{} has no tensor `{tensor}` (it has: {})",
                path.display(),
                names.join(", ")
            ),
        )
    })?;
    if let Some(i) = t.data.iter().position(|x| !x.is_finite()) {
        return Err(ctx.err(
            field,
            format!("tensor `{tensor}` has a non-finite value at flat index {i}"),
        ));
    }
    Ok(t)
}

/// Memory the rate and trace recorders will fill (spike recordings depend on the activity).
fn recording_bytes(spec: &NetworkSpec, steps: f64, dt: f64) -> f64 {
    let rates: f64 = spec
        .record
        .rates
        .iter()
        .map(|r| steps / (r.bin_ms / dt).max(1.0) * 8.0)
        .sum();
    let traces: f64 = spec
        .record
        .traces
        .iter()
        .map(|r| steps / r.every_steps.max(1) as f64 * r.indices.len() as f64 * 40.0)
        .sum();
    rates + traces
}

/// Generate the synapses of a planned projection.
/// The synapses of an explicit list (`from_file`): the synapse table, and per synapse its
/// weight (NaN where the file gives none) and delay \[steps\]. The rows are dropped as soon as
/// they are turned into edges.
fn explicit_synapses(
    ctx: &Ctx,
    pl: &PlannedProjection,
    file: &Path,
    rows: CsvRows,
) -> Result<(Csr, Vec<f32>, Vec<u32>)> {
    let mut edges: Vec<(u32, u32, u32, f32)> = Vec::with_capacity(rows.len());
    for (line, cols) in rows.iter() {
        let s = csv_index(file, line, cols[0], pl.shape.sources, "source")?;
        let t = csv_index(file, line, cols[1], pl.shape.targets, "target")?;
        let w = column(cols, 2);
        if let Some(w) = w {
            let ok = match pl.receptor {
                Receptor::Exc => w >= 0.0,
                Receptor::Inh => w <= 0.0,
            };
            if !ok {
                return Err(Error::Csv {
                    path: file.to_path_buf(),
                    line,
                    message: format!(
                        "weight {} has the wrong sign for this projection's receptor",
                        short_number(w)
                    ),
                });
            }
        }
        let d = match column(cols, 3) {
            Some(d) => ctx.steps(&format!("{}:{line}: delay_ms", file.display()), d, 1)?,
            None => pl.delay.0,
        };
        edges.push((s, d, t, w.map_or(f32::NAN, |w| w as f32)));
    }
    drop(rows);
    edges.sort_by_key(|e| (e.0, e.1, e.2));
    let mut row_ptr = vec![0u32; pl.shape.sources as usize + 1];
    for e in &edges {
        row_ptr[e.0 as usize + 1] += 1;
    }
    for i in 0..pl.shape.sources as usize {
        row_ptr[i + 1] += row_ptr[i];
    }
    let targets = edges.iter().map(|e| e.2).collect();
    let weights = edges.iter().map(|e| e.3).collect();
    let delays = edges.iter().map(|e| e.1).collect();
    Ok((Csr { row_ptr, targets }, weights, delays))
}

fn generate_projection(
    ctx: &Ctx,
    j: usize,
    mut pl: PlannedProjection,
    seed: u64,
) -> Result<Projection> {
    let field = |f: &str| format!("projection \"{}\".{f}", pl.name);
    if let Some(rows) = pl.dense {
        return Ok(Projection {
            csr: Csr::dense(pl.shape.sources, pl.shape.targets),
            weights: Weights::DenseRows(rows),
            delays: Delays::Constant(pl.delay.0),
            name: pl.name,
            source: pl.source,
            target: pl.target,
            receptor: pl.receptor,
        });
    }
    let explicit = pl.explicit.take();
    let (csr, explicit_weights, explicit_delays) = match (&pl.rule, explicit) {
        (Some(rule), _) => (connect::generate(rule, &pl.shape, seed, j), None, None),
        (None, Some((file, rows))) => {
            let (csr, weights, delays) = explicit_synapses(ctx, &pl, &file, rows)?;
            (csr, Some(weights), Some(delays))
        }
        _ => unreachable!(),
    };
    let n_syn = csr.len();
    let mut wrng = Stream::new(seed, Purpose::Connectivity, j as u64 * 4 + 1, 0);
    let sign = if pl.receptor == Receptor::Exc {
        1.0
    } else {
        -1.0
    };
    let draw_weight = |rng: &mut Stream| loop {
        let w = draw(&pl.weight, rng);
        if w * sign >= 0.0 {
            return w;
        }
    };
    let weights = match (&explicit_weights, pl.weight) {
        (None, ValueSpec::Constant(c)) => Weights::Constant(c),
        (Some(ws), ValueSpec::Constant(c)) if ws.iter().all(|w| w.is_nan()) => Weights::Constant(c),
        (Some(ws), _) => Weights::PerSynapse(
            ws.iter()
                .map(|&w| {
                    if w.is_nan() {
                        draw_weight(&mut wrng) as f32
                    } else {
                        w
                    }
                })
                .collect(),
        ),
        (None, _) => {
            Weights::PerSynapse((0..n_syn).map(|_| draw_weight(&mut wrng) as f32).collect())
        }
    };
    let mut csr = csr;
    let mut weights = weights;
    let delays = match explicit_delays {
        Some(d) if d.iter().all(|&x| x == pl.delay.0) && !pl.delay.2 => {
            Delays::Constant(pl.delay.0)
        }
        Some(d) => runs_from(&csr, &d),
        None if !pl.delay.2 => Delays::Constant(pl.delay.0),
        None => {
            let mut drng = Stream::new(seed, Purpose::Connectivity, j as u64 * 4 + 2, 0);
            let span = u64::from(pl.delay.1 - pl.delay.0) + 1;
            let mut d: Vec<u32> = (0..n_syn)
                .map(|_| pl.delay.0 + drng.below(span) as u32)
                .collect();
            sort_rows_by_delay(&mut csr, &mut weights, &mut d);
            runs_from(&csr, &d)
        }
    };
    if let Weights::PerSynapse(w) = &weights
        && let Some(i) = w.iter().position(|x| !x.is_finite())
    {
        return Err(ctx.err(
            field("weight_mv"),
            format!("synapse {i} has a non-finite weight"),
        ));
    }
    Ok(Projection {
        name: pl.name,
        source: pl.source,
        target: pl.target,
        receptor: pl.receptor,
        csr,
        weights,
        delays,
    })
}

/// Check the inputs: Poisson drives, and currents (those on from the start join the bias).
fn compile_inputs(
    ctx: &Ctx,
    spec: &NetworkSpec,
    populations: &mut [Population],
) -> Result<(Vec<PoissonDrive>, Vec<CurrentSwitch>)> {
    let mut drives = Vec::new();
    let mut currents = Vec::new();
    for (k, input) in spec.inputs.iter().enumerate() {
        let field = |f: &str| format!("input[{k}].{f}");
        match input {
            InputSpec::Poisson {
                target,
                rate_hz,
                weight_mv,
                weight_ns,
                receptor,
                indices,
            } => {
                let t = population_index(ctx, &field("target"), target, &spec.populations)?;
                if !populations[t].is_neurons() {
                    return Err(ctx.err(field("target"), format!("`{target}` is a spike source")));
                }
                let rate = ctx.finite(&field("rate_hz"), *rate_hz)?;
                ctx.rate(&field("rate_hz"), rate)?;
                let synapses = populations[t].synapses();
                let wf = weight_field(
                    ctx,
                    &field,
                    (&populations[t], target),
                    (weight_mv.is_some(), weight_ns.is_some()),
                )?;
                let Some(w) = weight_mv.or(*weight_ns) else {
                    return Err(ctx.err(field(wf), "required (the weight of each input spike)"));
                };
                let w = ctx.finite(&field(wf), w)?;
                let receptor = receptor_of(*receptor, w, synapses);
                if !weight_sign_ok(receptor, (w, w), synapses) {
                    return Err(ctx.err(field(wf), "sign does not match the receptor"));
                }
                check_weight_bound(ctx, (&field(wf), "a weight"), (w, w), &populations[t])?;
                drives.push(PoissonDrive {
                    target: t,
                    rate_hz: rate,
                    weight_mv: w,
                    receptor,
                    neurons: ctx.indices(&field("indices"), indices, populations[t].size)?,
                });
            }
            InputSpec::Current {
                target,
                amplitude_mv,
                amplitude_mv_per_ms,
                start_ms,
                stop_ms,
                indices,
            } => {
                let t = population_index(ctx, &field("target"), target, &spec.populations)?;
                let is_if = spec.populations[t].model == ModelName::If;
                let amplitude = match (&populations[t].kind, amplitude_mv, amplitude_mv_per_ms) {
                    (PopulationKind::Neurons { .. }, Some(a), None) if !is_if => {
                        ctx.finite(&field("amplitude_mv"), *a)?
                    }
                    (PopulationKind::Neurons { .. }, None, Some(a)) if is_if => {
                        ctx.finite(&field("amplitude_mv_per_ms"), *a)?
                    }
                    (PopulationKind::Neurons { .. }, _, _) => {
                        return Err(ctx.err(
                            field(if is_if {
                                "amplitude_mv_per_ms"
                            } else {
                                "amplitude_mv"
                            }),
                            format!(
                                "a current into `{target}` (model `{}`) is given as {}",
                                spec.populations[t].model.as_str(),
                                if is_if {
                                    "amplitude_mv_per_ms"
                                } else {
                                    "amplitude_mv"
                                }
                            ),
                        ));
                    }
                    (PopulationKind::Clocked { model, .. }, _, _) => {
                        return Err(ctx.err(
                            field("target"),
                            format!(
                                "`{target}` (model `{}`) takes a constant current as its bias parameter; current inputs drive the exact models",
                                model.name()
                            ),
                        ));
                    }
                    _ => {
                        return Err(
                            ctx.err(field("target"), format!("`{target}` is a spike source"))
                        );
                    }
                };
                let amplitude_field = if is_if {
                    "amplitude_mv_per_ms"
                } else {
                    "amplitude_mv"
                };
                check_weight_bound(
                    ctx,
                    (&field(amplitude_field), "a current"),
                    (amplitude, amplitude),
                    &populations[t],
                )?;
                let neurons = ctx.indices(&field("indices"), indices, populations[t].size)?;
                let start = ctx.steps(&field("start_ms"), *start_ms, 0)?;
                let stop = match stop_ms {
                    Some(s) => Some(ctx.steps(&field("stop_ms"), *s, 0)?),
                    None => None,
                };
                if let Some(stop) = stop
                    && stop <= start
                {
                    return Err(ctx.err(field("stop_ms"), "must be after start_ms"));
                }
                if start == 0 {
                    // Active from the start: part of the initial bias.
                    if let PopulationKind::Neurons { initial, .. } = &mut populations[t].kind {
                        for &n in &neurons {
                            initial[n as usize].bias += amplitude;
                        }
                    }
                } else {
                    currents.push(CurrentSwitch {
                        step: start,
                        population: t,
                        neurons: neurons.clone(),
                        delta: amplitude,
                    });
                }
                if let Some(stop) = stop {
                    currents.push(CurrentSwitch {
                        step: stop,
                        population: t,
                        neurons,
                        delta: -amplitude,
                    });
                }
            }
        }
    }
    currents.sort_by_key(|c| c.step);

    Ok((drives, currents))
}

/// Check the recording requests.
fn compile_recording(
    ctx: &Ctx,
    spec: &NetworkSpec,
    populations: &[Population],
) -> Result<Recording> {
    let mut record = Recording {
        spikes: vec![None; populations.len()],
        ..Default::default()
    };
    for (k, r) in spec.record.spikes.iter().enumerate() {
        let field = |f: &str| format!("record.spikes[{k}].{f}");
        let p = population_index(ctx, &field("population"), &r.population, &spec.populations)?;
        let size = populations[p].size;
        let mask = record.spikes[p].get_or_insert_with(|| vec![false; size as usize]);
        for i in ctx.indices(&field("indices"), &r.indices, size)? {
            mask[i as usize] = true;
        }
    }
    for (k, r) in spec.record.traces.iter().enumerate() {
        let field = |f: &str| format!("record.traces[{k}].{f}");
        let p = population_index(ctx, &field("population"), &r.population, &spec.populations)?;
        if !populations[p].is_neurons() {
            return Err(ctx.err(field("population"), "spike sources have no state to trace"));
        }
        if r.every_steps == 0 || r.every_steps > u64::from(u32::MAX) {
            return Err(ctx.err(field("every_steps"), "must be >= 1"));
        }
        record.traces.push(TraceRequest {
            population: p,
            neurons: ctx.indices(
                &field("indices"),
                &Some(r.indices.clone()),
                populations[p].size,
            )?,
            every_steps: r.every_steps as u32,
        });
    }
    for (k, r) in spec.record.rates.iter().enumerate() {
        let field = |f: &str| format!("record.rates[{k}].{f}");
        let p = population_index(ctx, &field("population"), &r.population, &spec.populations)?;
        record
            .rates
            .push((p, ctx.steps(&field("bin_ms"), r.bin_ms, 1)?));
    }
    Ok(record)
}

/// Sort every row by (delay, target), permuting weights and delays alike.
fn sort_rows_by_delay(csr: &mut Csr, weights: &mut Weights, delays: &mut [u32]) {
    let rows = csr.row_ptr.len() - 1;
    let mut order: Vec<usize> = Vec::new();
    for s in 0..rows {
        let range = csr.row(s as u32);
        order.clear();
        order.extend(range.clone());
        order.sort_by_key(|&i| (delays[i], csr.targets[i]));
        let t: Vec<u32> = order.iter().map(|&i| csr.targets[i]).collect();
        let d: Vec<u32> = order.iter().map(|&i| delays[i]).collect();
        csr.targets[range.clone()].copy_from_slice(&t);
        delays[range.clone()].copy_from_slice(&d);
        if let Weights::PerSynapse(w) = weights {
            let ws: Vec<f32> = order.iter().map(|&i| w[i]).collect();
            w[range].copy_from_slice(&ws);
        }
    }
}

/// Delay runs of rows already sorted by delay.
fn runs_from(csr: &Csr, delays: &[u32]) -> Delays {
    let mut run_ptr = vec![0u32];
    let mut runs = Vec::new();
    for s in 0..csr.row_ptr.len() - 1 {
        let range = csr.row(s as u32);
        let mut i = range.start;
        while i < range.end {
            let d = delays[i];
            let mut e = i;
            while e < range.end && delays[e] == d {
                e += 1;
            }
            runs.push((d, e as u32));
            i = e;
        }
        run_ptr.push(runs.len() as u32);
    }
    Delays::Runs { run_ptr, runs }
}
