//! Spike input for a run (`synops run NET.toml --input FILE.npz`): the spikes of a network's
//! spike sources, from a NumPy archive, replacing the files their populations name.
//!
//! Per spike-source population, an array named after it (or `input`, when the network has one
//! spike source):
//! - `[T, ...]` whose row `t` holds each neuron's spike count at step `t` (0 or 1, booleans
//!   included; the trailing dimensions flatten to the population's size in C order);
//! - or NIR's `EventData`: `idx` (neuron), `time` (seconds), with the optional `n_neurons`
//!   and `t_max` (seconds) checked against the population and the run.
//!
//! Row `t` (or a time in `[t dt, (t + 1) dt)`) is emitted at step `t + 1`, a spike source's
//! first step, so `T` rows need `T` steps after the first.

use crate::convert::tensors::{NpyArray, NpyValues, parse_npy_array, read_npz_arrays};
use crate::error::{Error, Result};
use crate::files::InputKind;
use std::collections::BTreeMap;
use std::path::Path;

/// The spikes of one spike source and the steps they span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpikeInput {
    /// `(step, index)`, sorted.
    pub spikes: Vec<(u32, u32)>,
    /// The steps the input spans (its rows, or up to `t_max`).
    pub steps: u32,
}

/// The most steps an input may span.
const MAX_STEPS: u64 = 1 << 31;

/// Read the input of each spike source `(name, size)` from `path`, at step `dt_ms`.
pub fn read(path: &Path, sources: &[(&str, u32)], dt_ms: f64) -> Result<Vec<SpikeInput>> {
    let fail = |m: String| Error::Data {
        path: path.to_path_buf(),
        message: m,
    };
    if sources.is_empty() {
        return Err(fail(
            "--input: the network has no spike_source population to feed".into(),
        ));
    }
    let mut arrays = read_npz_arrays(path, InputKind::Dataset)?;
    let names = arrays.keys().cloned().collect::<Vec<_>>().join(", ");
    let mut take = |name: &str| -> Result<Option<NpyArray>> {
        arrays
            .remove(name)
            .map(|b| parse_npy_array(&b, path, name))
            .transpose()
    };
    let mut out = Vec::new();
    for &(name, size) in sources {
        let single = sources.len() == 1;
        let grid = match take(name)? {
            Some(a) => Some((name.to_string(), a)),
            None if single => take("input")?.map(|a| ("input".to_string(), a)),
            None => None,
        };
        let input = match grid {
            Some((array, a)) => {
                from_grid(&a, size).map_err(|m| fail(format!("array `{array}`: {m}")))?
            }
            None if single && names.split(", ").any(|n| n == "idx") => {
                let events = EventArrays {
                    idx: take("idx")?,
                    time: take("time")?,
                    n_neurons: take("n_neurons")?,
                    t_max: take("t_max")?,
                };
                from_events(events, size, dt_ms).map_err(fail)?
            }
            None => {
                return Err(fail(format!(
                    "no array for the spike source `{name}`: name it `{name}`{} (the archive holds: {names})",
                    if single {
                        ", `input`, or give NIR EventData `idx` and `time`"
                    } else {
                        ""
                    }
                )));
            }
        };
        out.push(input);
    }
    Ok(out)
}

fn integers(a: &NpyArray, what: &str) -> std::result::Result<Vec<i64>, String> {
    match &a.values {
        NpyValues::Integer(v) => Ok(v.clone()),
        NpyValues::Float(v) => v
            .iter()
            .map(|&x| {
                (x.fract() == 0.0 && x.is_finite())
                    .then_some(x as i64)
                    .ok_or_else(|| format!("{what}: {x} is not a whole number"))
            })
            .collect(),
    }
}

/// A `[T, ...]` grid of spike counts.
fn from_grid(a: &NpyArray, size: u32) -> std::result::Result<SpikeInput, String> {
    let rows = a.shape.first().copied().unwrap_or(0);
    let per_row: usize = a.shape.iter().skip(1).product();
    if a.shape.len() < 2 || per_row != size as usize {
        return Err(format!(
            "shape {:?}; the population has {size} neurons, so [T, {size}] (or [T, ...] of {size} values)",
            a.shape
        ));
    }
    if rows as u64 >= MAX_STEPS {
        return Err(format!("{rows} rows are more steps than a run takes"));
    }
    let counts = integers(a, "a spike count")?;
    let mut spikes = Vec::new();
    for (k, &c) in counts.iter().enumerate() {
        let (t, i) = (k / per_row, k % per_row);
        match c {
            0 => {}
            1 => spikes.push((t as u32 + 1, i as u32)),
            _ => {
                return Err(format!(
                    "row {t}, neuron {i}: {c} spikes; a spike source emits 0 or 1 per step (use a smaller dt)"
                ));
            }
        }
    }
    Ok(SpikeInput {
        spikes,
        steps: rows as u32,
    })
}

struct EventArrays {
    idx: Option<NpyArray>,
    time: Option<NpyArray>,
    n_neurons: Option<NpyArray>,
    t_max: Option<NpyArray>,
}

fn scalar(a: &Option<NpyArray>) -> Option<f64> {
    a.as_ref().and_then(|a| match &a.values {
        NpyValues::Integer(v) => v.first().map(|&x| x as f64),
        NpyValues::Float(v) => v.first().map(|&x| f64::from(x)),
    })
}

/// NIR EventData: neuron indices and spike times in seconds.
fn from_events(e: EventArrays, size: u32, dt_ms: f64) -> std::result::Result<SpikeInput, String> {
    let (Some(idx), Some(time)) = (&e.idx, &e.time) else {
        return Err("EventData needs both `idx` and `time`".into());
    };
    let idx = integers(idx, "array `idx`")?;
    let NpyValues::Float(time) = &time.values else {
        return Err("array `time` holds integers; EventData times are seconds, as floats".into());
    };
    if idx.len() != time.len() {
        return Err(format!(
            "`idx` has {} events and `time` {}",
            idx.len(),
            time.len()
        ));
    }
    if let Some(n) = scalar(&e.n_neurons)
        && n != f64::from(size)
    {
        return Err(format!(
            "`n_neurons` is {n}; the population has {size} neurons"
        ));
    }
    let t_max = scalar(&e.t_max);
    let mut spikes = Vec::with_capacity(idx.len());
    for (k, (&i, &t)) in idx.iter().zip(time).enumerate() {
        if !(0..i64::from(size)).contains(&i) {
            return Err(format!(
                "event {k}: neuron {i} is not one of the population's {size}"
            ));
        }
        let t = f64::from(t);
        if !(t >= 0.0 && t.is_finite()) || t_max.is_some_and(|m| t > m) {
            return Err(format!("event {k}: time {t} s is outside [0, t_max]"));
        }
        let step = (t * 1000.0 / dt_ms).floor();
        if step >= MAX_STEPS as f64 {
            return Err(format!(
                "event {k}: time {t} s is more steps than a run takes"
            ));
        }
        spikes.push((step as u32 + 1, i as u32));
    }
    spikes.sort_unstable();
    spikes.dedup();
    let last = spikes.last().map_or(0, |s| s.0);
    let steps = t_max.map_or(last, |m| ((m * 1000.0 / dt_ms).ceil() as u32).max(last));
    Ok(SpikeInput { spikes, steps })
}

/// The spike sources of a network, `(population index, name, size)`.
pub fn sources(net: &crate::CompiledNetwork) -> Vec<(usize, String, u32)> {
    net.populations
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            matches!(
                p.kind,
                crate::network::compiled::PopulationKind::SpikeSource { .. }
            )
        })
        .map(|(k, p)| (k, p.name.clone(), p.size))
        .collect()
}

/// Replace the spikes of the network's spike sources by `inputs` (in [`sources`]' order).
pub fn apply(net: &mut crate::CompiledNetwork, inputs: Vec<SpikeInput>) {
    let order: BTreeMap<usize, usize> = sources(net)
        .iter()
        .enumerate()
        .map(|(k, (p, _, _))| (*p, k))
        .collect();
    let mut inputs: Vec<Option<SpikeInput>> = inputs.into_iter().map(Some).collect();
    for (p, k) in order {
        if let crate::network::compiled::PopulationKind::SpikeSource { spikes } =
            &mut net.populations[p].kind
            && let Some(input) = inputs[k].take()
        {
            *spikes = input.spikes;
        }
    }
}
