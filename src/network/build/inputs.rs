//! Inputs: Poisson drives, step currents and Gaussian noise.

use super::*;

/// Check the inputs: Poisson drives, and currents (those on from the start join the bias).
pub(super) fn compile_inputs(
    ctx: &Ctx,
    spec: &NetworkSpec,
    populations: &mut [Population],
) -> Result<(Vec<PoissonDrive>, Vec<CurrentSwitch>, Vec<NoiseInput>)> {
    let mut drives = Vec::new();
    let mut currents = Vec::new();
    let mut noises = Vec::new();
    for (k, input) in spec.inputs.iter().enumerate() {
        match input {
            InputSpec::Poisson { .. } => {
                drives.push(poisson_drive(ctx, spec, populations, k, input)?)
            }
            InputSpec::Current { .. } => {
                current_input(ctx, spec, populations, (k, input), &mut currents)?
            }
            InputSpec::Noise { .. } => noises.push(noise_input(ctx, spec, populations, k, input)?),
        }
    }
    currents.sort_by_key(|c| c.step);
    Ok((drives, currents, noises))
}

/// A Gaussian noise input (`input[k]`), checked.
fn noise_input(
    ctx: &Ctx,
    spec: &NetworkSpec,
    populations: &[Population],
    k: usize,
    input: &InputSpec,
) -> Result<NoiseInput> {
    let field = |f: &str| format!("input[{k}].{f}");
    let InputSpec::Noise {
        target,
        mean_mv,
        std_mv,
        indices,
    } = input
    else {
        unreachable!("a noise input")
    };
    let t = population_index(ctx, &field("target"), target, &spec.populations)?;
    if !populations[t].is_neurons() {
        return Err(ctx.err(field("target"), format!("`{target}` is a spike source")));
    }
    if populations[t].synapses() == crate::model::Synapses::Conductance {
        return Err(ctx.err(
            field("target"),
            format!("`{target}` takes conductances, which noise inputs of both signs would make negative"),
        ));
    }
    let mean = ctx.finite(&field("mean_mv"), *mean_mv)?;
    let std = ctx.finite(&field("std_mv"), *std_mv)?;
    if std < 0.0 {
        return Err(ctx.err(
            field("std_mv"),
            format!("must be >= 0, got {}", short_number(std)),
        ));
    }
    // Six standard deviations from the mean bound the inputs but once in 500 million.
    let largest = mean.abs() + 6.0 * std;
    check_weight_bound(
        ctx,
        (&field("std_mv"), "a noise input"),
        (largest, largest),
        &populations[t],
    )?;
    Ok(NoiseInput {
        target: t,
        mean_mv: mean,
        std_mv: std,
        neurons: ctx.indices(&field("indices"), indices, populations[t].size)?,
    })
}

/// A Poisson drive (`input[k]`), checked.
fn poisson_drive(
    ctx: &Ctx,
    spec: &NetworkSpec,
    populations: &[Population],
    k: usize,
    input: &InputSpec,
) -> Result<PoissonDrive> {
    let field = |f: &str| format!("input[{k}].{f}");
    let InputSpec::Poisson {
        target,
        rate_hz,
        weight_mv,
        weight_ns,
        receptor,
        indices,
    } = input
    else {
        unreachable!("a Poisson input")
    };
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
    Ok(PoissonDrive {
        target: t,
        rate_hz: rate,
        weight_mv: w,
        receptor,
        neurons: ctx.indices(&field("indices"), indices, populations[t].size)?,
    })
}

/// A current input (`input[k]`), checked: on from the start it joins the initial bias, later
/// it switches on (and off) at its steps.
fn current_input(
    ctx: &Ctx,
    spec: &NetworkSpec,
    populations: &mut [Population],
    (k, input): (usize, &InputSpec),
    currents: &mut Vec<CurrentSwitch>,
) -> Result<()> {
    let field = |f: &str| format!("input[{k}].{f}");
    let InputSpec::Current {
        target,
        amplitude_mv,
        amplitude_mv_per_ms,
        start_ms,
        stop_ms,
        indices,
    } = input
    else {
        unreachable!("a current input")
    };
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
            return Err(ctx.err(field("target"), format!("`{target}` is a spike source")));
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
    Ok(())
}
