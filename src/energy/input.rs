//! Result files read back for energy reports, checked before anything is computed: a missing
//! key, a wrong type, a per-layer array of the wrong length or an impossible value is an error
//! naming the file and the field.

use crate::error::{Error, Result};
use crate::eval::EvalReport;
use crate::output::Summary;
use std::path::Path;

/// A result file read back: a run's `summary.json` or an evaluation's `eval.json`.
pub enum ResultFile {
    /// From `synops run`.
    Run(Box<Summary>),
    /// From `synops eval`.
    Eval(Box<EvalReport>),
}

/// Read and check a `summary.json` or `eval.json`.
pub fn read_result(path: &Path) -> Result<ResultFile> {
    let text = crate::files::read_text(path, crate::files::InputKind::Results)?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    if !value.is_object() {
        return Err(data(
            path,
            "not a synops result: expected a JSON object".into(),
        ));
    }
    if value.get("timesteps").is_some() {
        let eval: EvalReport = typed(path, value, "eval.json of `synops eval`")?;
        check_eval(&eval, path)?;
        Ok(ResultFile::Eval(Box::new(eval)))
    } else {
        let summary: Summary = typed(path, value, "summary.json of `synops run`")?;
        check_summary(&summary, path)?;
        Ok(ResultFile::Run(Box::new(summary)))
    }
}

fn data(path: &Path, message: String) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        message,
    }
}

/// Deserialize with the path of the offending field in the error.
fn typed<T: serde::de::DeserializeOwned>(
    path: &Path,
    value: serde_json::Value,
    what: &str,
) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        data(
            path,
            format!("not a valid {what}: field `{field}`: {inner} (files of older synops versions lack the activity counts: run again)"),
        )
    })
}

fn bad(path: &Path, field: &str, message: String) -> Error {
    Error::invalid(path, field, message)
}

fn check_summary(s: &Summary, path: &Path) -> Result<()> {
    if !(s.duration_ms.is_finite() && s.duration_ms > 0.0) {
        let m = format!("the simulated time must be > 0 ms, got {}", s.duration_ms);
        return Err(bad(path, "duration_ms", m));
    }
    if s.steps == 0 {
        return Err(bad(
            path,
            "steps",
            "a run has at least one step, got 0".into(),
        ));
    }
    for (k, p) in s.populations.iter().enumerate() {
        let field = |f: &str| format!("populations[{k}].{f}");
        if p.active_neuron_steps > p.neuron_steps {
            let m = format!(
                "{} active neuron-steps of `{}` exceed its {} neuron-steps",
                p.active_neuron_steps, p.name, p.neuron_steps
            );
            return Err(bad(path, &field("active_neuron_steps"), m));
        }
        match &p.model {
            Some(m)
                if crate::neuron::Model::from_name(m).is_none()
                    && (crate::model::clocked(m).is_none() || p.update_operations.is_none()) =>
            {
                let m = match crate::model::clocked(m) {
                    Some(_) => format!("model `{m}` needs its update_operations"),
                    None => format!(
                        "unknown neuron model `{m}` (known: {})",
                        crate::model::simulated_names().join(", ")
                    ),
                };
                return Err(bad(path, &field("model"), m));
            }
            Some(_) if p.neuron_steps != p.neurons * s.steps => {
                let m = format!(
                    "{} neuron-steps for {} neurons x {} steps",
                    p.neuron_steps, p.neurons, s.steps
                );
                return Err(bad(path, &field("neuron_steps"), m));
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_eval(e: &EvalReport, path: &Path) -> Result<()> {
    let layers = e.layer_names.len();
    if layers == 0 {
        return Err(bad(path, "layer_names", "no layer".into()));
    }
    if e.samples == 0 {
        return Err(bad(path, "samples", "no sample was evaluated".into()));
    }
    if e.timesteps.is_empty() {
        return Err(bad(path, "timesteps", "no time steps".into()));
    }
    let length = |field: &str, len: usize, want: usize| {
        if len == want {
            Ok(())
        } else {
            let m = format!(
                "has {len} entries, the evaluation has {want} (one per layer{})",
                if want > layers {
                    ", the input first"
                } else {
                    ""
                }
            );
            Err(bad(path, field, m))
        }
    };
    length("ann_macs_per_layer", e.ann_macs_per_layer.len(), layers)?;
    if !e.ann_weights_per_layer.is_empty() {
        length(
            "ann_weights_per_layer",
            e.ann_weights_per_layer.len(),
            layers,
        )?;
    }
    let optional: [(&str, usize); 3] = [
        ("weights_kept_per_layer", e.weights_kept_per_layer.len()),
        ("weight_bits_per_layer", e.weight_bits_per_layer.len()),
        ("weight_bytes_per_layer", e.weight_bytes_per_layer.len()),
    ];
    for (field, len) in optional.into_iter().filter(|&(_, len)| len > 0) {
        length(field, len, layers)?;
    }
    if let Some((k, b)) =
        (e.weight_bits_per_layer.iter().enumerate()).find(|(_, b)| !(1..=64).contains(*b))
    {
        let m = format!("is {b}; bits per weight are 1 to 64");
        return Err(bad(path, &format!("weight_bits_per_layer[{k}]"), m));
    }
    length(
        "ann_bias_adds_per_layer",
        e.ann_bias_adds_per_layer.len(),
        layers,
    )?;
    length(
        "ann_nonzero_macs_per_layer",
        e.ann_nonzero_macs_per_layer.len(),
        layers,
    )?;
    length("layer_neurons", e.layer_neurons.len(), layers)?;
    length("layer_models", e.layer_models.len(), layers)?;
    for (k, m) in e.layer_models.iter().enumerate() {
        if crate::neuron::Model::from_name(m).is_none() {
            let m = format!("unknown neuron model `{m}` (known: if, lif_delta, lif_exp)");
            return Err(bad(path, &format!("layer_models[{k}]"), m));
        }
    }
    finite(path, "input_macs_per_sample", &[e.input_macs_per_sample])?;
    finite(
        path,
        "ann_nonzero_macs_per_layer",
        &e.ann_nonzero_macs_per_layer,
    )?;
    for (k, t) in e.timesteps.iter().enumerate() {
        let f = |name: &str| format!("timesteps[{k}].{name}");
        if t.t == 0 {
            return Err(bad(path, &f("t"), "time steps must be >= 1, got 0".into()));
        }
        length(&f("sops_per_layer"), t.sops_per_layer.len(), layers)?;
        length(&f("spikes_per_layer"), t.spikes_per_layer.len(), layers + 1)?;
        length(
            &f("neuron_updates_per_layer"),
            t.neuron_updates_per_layer.len(),
            layers,
        )?;
        length(
            &f("neuron_steps_per_layer"),
            t.neuron_steps_per_layer.len(),
            layers,
        )?;
        length(
            &f("active_neuron_steps_per_layer"),
            t.active_neuron_steps_per_layer.len(),
            layers,
        )?;
        finite(path, &f("sops_per_layer"), &t.sops_per_layer)?;
        finite(path, &f("spikes_per_layer"), &t.spikes_per_layer)?;
        finite(
            path,
            &f("neuron_steps_per_layer"),
            &t.neuron_steps_per_layer,
        )?;
        finite(
            path,
            &f("active_neuron_steps_per_layer"),
            &t.active_neuron_steps_per_layer,
        )?;
        if !(0.0..=1.0).contains(&t.accuracy) {
            let m = format!("an accuracy lies in [0, 1], got {}", t.accuracy);
            return Err(bad(path, &f("accuracy"), m));
        }
        let over =
            (0..layers).find(|&l| t.active_neuron_steps_per_layer[l] > t.neuron_steps_per_layer[l]);
        if let Some(l) = over {
            let m = format!(
                "layer {l}: {} active neuron-steps exceed its {} neuron-steps",
                t.active_neuron_steps_per_layer[l], t.neuron_steps_per_layer[l]
            );
            return Err(bad(path, &f("active_neuron_steps_per_layer"), m));
        }
    }
    Ok(())
}

fn finite(path: &Path, field: &str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite() || *v < 0.0) {
        None => Ok(()),
        Some(k) => Err(bad(
            path,
            &format!("{field}[{k}]"),
            format!("must be a finite count >= 0, got {}", values[k]),
        )),
    }
}
