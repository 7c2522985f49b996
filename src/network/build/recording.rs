//! Recording: what `[record]` asks for, and the memory it will take.

use super::*;

/// Memory the rate and trace recorders will fill (spike recordings depend on the activity).
pub(super) fn recording_bytes(spec: &NetworkSpec, steps: f64, dt: f64) -> f64 {
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

/// Check the recording requests.
pub(super) fn compile_recording(
    ctx: &Ctx,
    spec: &NetworkSpec,
    populations: &[Population],
    projections: &[Projection],
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
    for (k, r) in spec.record.weights.iter().enumerate() {
        record.weights.push(weight_request(ctx, k, r, projections)?);
    }
    Ok(record)
}

/// Check `[[record.weights]]` number `k`.
fn weight_request(
    ctx: &Ctx,
    k: usize,
    r: &WeightRecordSpec,
    projections: &[Projection],
) -> Result<WeightRequest> {
    let field = |f: &str| format!("record.weights[{k}].{f}");
    let names: Vec<&str> = projections.iter().map(|p| p.name.as_str()).collect();
    let Some(j) = names.iter().position(|n| *n == r.projection) else {
        let hint = nearest(&r.projection, names.iter().copied())
            .map(|n| format!(" (did you mean `{n}`?)"))
            .unwrap_or_default();
        return Err(ctx.err(
            field("projection"),
            format!("no projection `{}`{hint}", r.projection),
        ));
    };
    if projections[j].plasticity.is_none() {
        return Err(ctx.err(
            field("projection"),
            format!(
                "projection `{}` is not plastic: its weights do not change",
                r.projection
            ),
        ));
    }
    let synapses = projections[j].csr.len();
    let synapses = match &r.synapses {
        None => (0..synapses as u32).collect(),
        Some(list) => match list.iter().find(|&&i| i >= synapses as u64) {
            Some(i) => {
                return Err(ctx.err(
                    field("synapses"),
                    format!(
                        "synapse {i} does not exist: the projection has {synapses} (0 to {})",
                        synapses.saturating_sub(1)
                    ),
                ));
            }
            None => list.iter().map(|&i| i as u32).collect(),
        },
    };
    Ok(WeightRequest {
        projection: j,
        every_steps: ctx.steps(&field("every_ms"), r.every_ms, 1)?,
        synapses,
    })
}
