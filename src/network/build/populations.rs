//! Populations: each model's parameters checked, initial states drawn.

use super::*;

/// Which parameters each model accepts; the rest must be absent.
pub(super) fn check_parameters(ctx: &Ctx, p: &PopulationSpec) -> Result<()> {
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

pub(super) fn neuron_params(ctx: &Ctx, p: &PopulationSpec) -> Result<NeuronParams> {
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

/// Check one population and draw its initial state.
pub(super) fn compile_population(
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
pub(super) fn clocked_population(
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
    let v_init: Vec<f64> = (0..size).map(|_| draw(&init, &mut rng)).collect();
    if let Some(&v) = v_init
        .iter()
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
    let mut given = vec![[None; crate::model::MAX_VARIABLES]; size as usize];
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
        for state in &mut given {
            state[k] = Some(draw(&value, &mut rng));
        }
    }
    let initial = (v_init.iter().zip(&given))
        .map(|(&v, given)| model.initial_values(v, given))
        .collect();
    Ok(PopulationKind::Clocked { model, initial })
}
