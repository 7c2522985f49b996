//! Plastic projections: the learning rule checked against the projection it changes, and
//! initial weights loaded from a run's weights file.

use super::*;
use crate::plasticity::{Pairing, Stdp, Triplet, WeightDependence};

/// The checked rule of projection `pr` (generated as `projection`), or `None`.
pub(super) fn compile_plasticity(
    ctx: &Ctx,
    spec: &ProjectionSpec,
    projection: &Projection,
    target: &Population,
) -> Result<Option<Stdp>> {
    let Some(p) = &spec.plasticity else {
        return Ok(None);
    };
    let field = |f: &str| format!("projection \"{}\".plasticity.{f}", projection.name);
    let rule = Stdp {
        tau_plus_ms: ctx.positive(&field("tau_plus_ms"), p.tau_plus_ms)?,
        tau_minus_ms: ctx.positive(&field("tau_minus_ms"), p.tau_minus_ms)?,
        a_plus: non_negative(ctx, &field("a_plus"), p.a_plus)?,
        a_minus: non_negative(ctx, &field("a_minus"), p.a_minus)?,
        w_min: non_negative(ctx, &field("w_min"), p.w_min)?,
        w_max: ctx.finite(&field("w_max"), p.w_max)?,
        dependence: dependence(ctx, &field, p)?,
        pairing: match p.pairing {
            PairingSpec::AllToAll => Pairing::AllToAll,
            PairingSpec::Nearest => Pairing::Nearest,
        },
        triplet: triplet(ctx, &field, p)?,
    };
    if rule.w_max <= rule.w_min {
        return Err(ctx.err(
            field("w_max"),
            format!("must be above w_min ({}), got {}", rule.w_min, rule.w_max),
        ));
    }
    check_weight_bound(ctx, (&field("w_max"), "weight"), (0.0, rule.w_max), target)?;
    check_projection(ctx, &field, projection, &rule)?;
    Ok(Some(rule))
}

/// The weight dependence, with `mu` and `w0` for (and only for) the power law.
fn dependence(
    ctx: &Ctx,
    field: &dyn Fn(&str) -> String,
    p: &PlasticitySpec,
) -> Result<WeightDependence> {
    let power_law = p.weight_dependence == WeightDependenceSpec::PowerLaw;
    for (name, given) in [("mu", p.mu.is_some()), ("w0", p.w0.is_some())] {
        if given != power_law {
            let message = if given {
                "belongs to weight_dependence = \"power_law\""
            } else {
                "is required by weight_dependence = \"power_law\""
            };
            return Err(ctx.err(field(name), message));
        }
    }
    Ok(match p.weight_dependence {
        WeightDependenceSpec::Additive => WeightDependence::Additive,
        WeightDependenceSpec::Multiplicative => WeightDependence::Multiplicative,
        WeightDependenceSpec::PowerLaw => {
            let mu = p.mu.expect("checked above");
            if !(0.0..=1.0).contains(&mu) {
                return Err(ctx.err(field("mu"), format!("must be in [0, 1], got {mu}")));
            }
            let w0 = ctx.positive(&field("w0"), p.w0.expect("checked above"))?;
            WeightDependence::PowerLaw { mu, w0 }
        }
    })
}

/// `v`, refused unless finite and ≥ 0.
fn non_negative(ctx: &Ctx, field: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(ctx.err(field, format!("must be a finite number >= 0, got {v}")))
    }
}

/// The triplet terms: all four fields for `rule = "triplet"`, none for `stdp`.
fn triplet(
    ctx: &Ctx,
    field: &dyn Fn(&str) -> String,
    p: &PlasticitySpec,
) -> Result<Option<Triplet>> {
    let fields = [
        ("tau_x_ms", p.tau_x_ms),
        ("tau_y_ms", p.tau_y_ms),
        ("a3_plus", p.a3_plus),
        ("a3_minus", p.a3_minus),
    ];
    if p.rule == PlasticityRuleSpec::Stdp {
        if let Some((name, _)) = fields.iter().find(|(_, v)| v.is_some()) {
            return Err(ctx.err(
                field(name),
                "belongs to rule = \"triplet\" (the pair rule has no slow traces)",
            ));
        }
        return Ok(None);
    }
    let get = |k: usize| {
        let (name, v) = fields[k];
        v.ok_or_else(|| ctx.err(field(name), "is required by rule = \"triplet\""))
    };
    Ok(Some(Triplet {
        tau_x_ms: ctx.positive(&field("tau_x_ms"), get(0)?)?,
        tau_y_ms: ctx.positive(&field("tau_y_ms"), get(1)?)?,
        a3_plus: non_negative(ctx, &field("a3_plus"), get(2)?)?,
        a3_minus: non_negative(ctx, &field("a3_minus"), get(3)?)?,
    }))
}

/// What a rule needs of its projection: excitatory, listed synapses of one delay, and initial
/// weights within the rule's bounds.
fn check_projection(
    ctx: &Ctx,
    field: &dyn Fn(&str) -> String,
    projection: &Projection,
    rule: &Stdp,
) -> Result<()> {
    if projection.receptor != Receptor::Exc {
        return Err(ctx.err(
            field("rule"),
            "plasticity applies to excitatory projections (weights >= 0)",
        ));
    }
    if !matches!(projection.delays, Delays::Constant(_)) {
        return Err(ctx.err(
            field("rule"),
            "a plastic projection takes one delay for all its synapses (delay_ms a number)",
        ));
    }
    let outside = |w: f64| !(rule.w_min..=rule.w_max).contains(&w);
    let first_outside = match &projection.weights {
        Weights::Constant(w) => outside(*w).then_some((0, *w)),
        Weights::PerSynapse(ws) => ws
            .iter()
            .position(|&w| outside(f64::from(w)))
            .map(|i| (i, f64::from(ws[i]))),
        Weights::PerSynapseF64(ws) => ws.iter().position(|&w| outside(w)).map(|i| (i, ws[i])),
        Weights::PerSynapseI8(ws) => {
            let targets = &projection.csr.targets;
            (ws.weights(0..targets.len(), targets).enumerate()).find(|&(_, w)| outside(w))
        }
        Weights::DenseRows(_) | Weights::DenseRowsI8(_) | Weights::Kernel(_) => {
            return Err(ctx.err(
                field("rule"),
                "plasticity needs listed synapses; a dense or conv projection's weights come from its tensor",
            ));
        }
    };
    match first_outside {
        Some((i, w)) => Err(ctx.err(
            field("w_max"),
            format!(
                "synapse {i} starts at weight {w}, outside [w_min, w_max] = [{}, {}]",
                rule.w_min, rule.w_max
            ),
        )),
        None => Ok(()),
    }
}

/// Replace `projection`'s weights by those of `file` (see
/// [`crate::plasticity::file`]), refusing a file written for other synapses.
pub(super) fn load_initial_weights(
    ctx: &Ctx,
    file: &str,
    projection: &mut Projection,
    target: &Population,
) -> Result<()> {
    let field = format!("projection \"{}\".initial_weights", projection.name);
    if matches!(
        projection.weights,
        Weights::DenseRows(_) | Weights::DenseRowsI8(_) | Weights::Kernel(_)
    ) {
        return Err(ctx.err(
            &field,
            "a dense or conv projection's weights come from its tensor",
        ));
    }
    let path = resolve(ctx.path, file);
    let stored = crate::plasticity::file::read(&path, &projection.name)
        .map_err(|message| ctx.err(&field, format!("{}: {message}", path.display())))?;
    let sources = projection.csr.sources();
    let same = stored.weights.len() == projection.csr.len()
        && stored.sources == sources
        && stored.targets == projection.csr.targets;
    if !same {
        return Err(ctx.err(
            &field,
            format!(
                "{} holds {} synapses of `{}` that are not this projection's {} (another connectivity or seed)",
                path.display(),
                stored.weights.len(),
                projection.name,
                projection.csr.len()
            ),
        ));
    }
    if let Some(i) = stored.weights.iter().position(|w| !w.is_finite()) {
        return Err(ctx.err(&field, format!("synapse {i} has a non-finite weight")));
    }
    let lowest = stored.weights.iter().copied().fold(f64::INFINITY, f64::min);
    let highest = stored
        .weights
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    if !stored.weights.is_empty()
        && !weight_sign_ok(projection.receptor, (lowest, highest), target.synapses())
    {
        let message = weight_sign_message(projection.receptor, target.synapses());
        return Err(ctx.err(&field, message));
    }
    check_weight_bound(ctx, (&field, "weight"), (lowest, highest), target)?;
    projection.weights = Weights::PerSynapseF64(stored.weights);
    Ok(())
}
