//! Evaluation of a spiking network that was not converted (an imported NIR graph, a
//! hand-written network): each sample's spikes feed its spike source, and the class is the
//! output population's neuron with the most spikes (or, for a population that does not spike,
//! the highest potential) at each time step asked for.
//!
//! Samples come from `npz:FILE`: `x` `[N, T, ...]` spike counts per step (0 or 1; the trailing
//! dimensions flatten to the input population's size), `y` `[N]` labels. Row `t` of a sample is
//! emitted at step `t + 1`, as with `synops run --input`.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::network::CompiledNetwork;
use crate::network::compiled::PopulationKind;
use crate::sim::{Engine, Simulation};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// The results at one number of time steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpikingTimestep {
    /// Time steps.
    pub t: u32,
    /// Fraction of samples classified correctly.
    pub accuracy: f64,
    /// Spikes per sample, every population.
    pub spikes_per_sample: f64,
    /// Synaptic events per sample, every projection.
    pub synaptic_events_per_sample: f64,
}

/// `eval.json` of a spiking network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpikingEvalReport {
    /// `"spiking"`: a network evaluated as it is, not a converted ANN.
    pub kind: String,
    /// The network's name.
    pub network: String,
    /// The spike source the samples feed.
    pub input: String,
    /// The population read out.
    pub output: String,
    /// `spike count` or `potential`.
    pub readout: String,
    /// Samples evaluated.
    pub samples: usize,
    /// Results per number of time steps.
    pub timesteps: Vec<SpikingTimestep>,
    /// Wall time of the evaluation \[s\].
    pub wall_s: f64,
}

impl SpikingEvalReport {
    /// The Markdown table `synops eval` prints.
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "{}: {} samples into `{}`, read out from `{}` by {}\n\n| T | accuracy | spikes / sample | synaptic events / sample |\n|---|---|---|---|\n",
            self.network, self.samples, self.input, self.output, self.readout
        );
        for t in &self.timesteps {
            let _ = writeln!(
                s,
                "| {} | {:.2}% | {:.1} | {:.1} |",
                t.t,
                100.0 * t.accuracy,
                t.spikes_per_sample,
                t.synaptic_events_per_sample
            );
        }
        s
    }
}

/// The network, its spike source and its output population.
struct Plan {
    net: CompiledNetwork,
    input: usize,
    output: usize,
}

fn plan(path: &Path, max_t: u32, output: Option<&str>) -> Result<Plan> {
    let spec = crate::network::read_spec(path)?;
    let net = super::compile_for_timesteps(&spec, path, max_t)?;
    let fail = |message: String| Error::Data {
        path: path.to_path_buf(),
        message,
    };
    let sources: Vec<usize> = (0..net.populations.len())
        .filter(|&p| matches!(net.populations[p].kind, PopulationKind::SpikeSource { .. }))
        .collect();
    let [input] = sources[..] else {
        return Err(fail(format!(
            "evaluating a spiking network needs exactly one spike_source population for the samples, it has {}",
            sources.len()
        )));
    };
    let sinks: Vec<usize> = (0..net.populations.len())
        .filter(|&p| net.populations[p].is_neurons())
        .filter(|&p| {
            !net.projections
                .iter()
                .any(|pr| pr.source == p && pr.target != p)
        })
        .collect();
    let output = match output {
        Some(name) => net
            .populations
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| fail(format!("--output: no population `{name}`")))?,
        None => match sinks[..] {
            [one] => one,
            _ => {
                let names: Vec<&str> = sinks
                    .iter()
                    .map(|&p| net.populations[p].name.as_str())
                    .collect();
                return Err(fail(format!(
                    "say which population is the output with --output (candidates: {})",
                    names.join(", ")
                )));
            }
        },
    };
    Ok(Plan { net, input, output })
}

/// The spikes of sample `i` of `data` for an input of `size` neurons, checked.
fn sample_spikes(data: &Dataset, i: usize, size: usize, path: &Path) -> Result<Vec<(u32, u32)>> {
    let x = data.image(i);
    let mut spikes = Vec::new();
    for (k, &v) in x.iter().enumerate() {
        let (t, n) = (k / size, k % size);
        if v == 1.0 {
            spikes.push((t as u32 + 1, n as u32));
        } else if v != 0.0 {
            return Err(Error::Data {
                path: path.to_path_buf(),
                message: format!(
                    "sample {i}, step {t}, neuron {n}: {v}; a spike source takes 0 or 1 spike per step"
                ),
            });
        }
    }
    Ok(spikes)
}

/// Evaluate the network file `path` on `data` at time steps `ts` (sorted), reading out
/// `output` (default: the one neuron population no projection leaves).
pub fn evaluate(
    path: &Path,
    data: &Dataset,
    ts: &[u32],
    engine: Engine,
    output: Option<&str>,
    progress: impl Fn(usize) + Sync,
) -> Result<SpikingEvalReport> {
    let start = std::time::Instant::now();
    let max_t = *ts.last().expect("a time step");
    let Plan { net, input, output } = plan(path, max_t, output)?;
    let size = net.populations[input].size as usize;
    let per_sample: usize = data.shape.iter().product();
    if data.shape.len() < 2
        || !per_sample.is_multiple_of(size)
        || per_sample / size != data.shape[0]
    {
        return Err(Error::Data {
            path: path.to_path_buf(),
            message: format!(
                "samples of shape {:?}; the spike source `{}` takes [T, {size}] (or [T, ...] of {size} values) per sample",
                data.shape, net.populations[input].name
            ),
        });
    }
    let outputs = net.populations[output].size as usize;
    crate::data::check_classes(data, outputs, path)?;
    let spiking = match &net.populations[output].kind {
        PopulationKind::Neurons { dynamics, .. } => dynamics.params.spiking,
        _ => true,
    };
    let recorded = net.record.spikes[output]
        .as_ref()
        .is_some_and(|mask| mask.iter().all(|&m| m));
    if spiking && !recorded {
        return Err(Error::Data {
            path: path.to_path_buf(),
            message: format!(
                "the output `{0}` is read by its spikes: record them all ([[record.spikes]] population = \"{0}\")",
                net.populations[output].name
            ),
        });
    }
    let done = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<Vec<(bool, u64, u64)>>> = (0..data.len())
        .into_par_iter()
        .map(|i| {
            let spikes = sample_spikes(data, i, size, path)?;
            let r = run_sample(
                &net,
                engine,
                (input, output, spiking),
                spikes,
                data.labels[i],
                ts,
            )
            .map_err(|runaway| Error::Runaway {
                path: path.to_path_buf(),
                context: format!("sample {i}: "),
                runaway: Box::new(runaway),
            });
            let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if d.is_multiple_of(100) {
                progress(d);
            }
            r
        })
        .collect();
    let results: Vec<Vec<(bool, u64, u64)>> = results.into_iter().collect::<Result<_>>()?;
    let n = data.len().max(1) as f64;
    let timesteps = ts
        .iter()
        .enumerate()
        .map(|(k, &t)| SpikingTimestep {
            t,
            accuracy: results.iter().filter(|r| r[k].0).count() as f64 / n,
            spikes_per_sample: results.iter().map(|r| r[k].1 as f64).sum::<f64>() / n,
            synaptic_events_per_sample: results.iter().map(|r| r[k].2 as f64).sum::<f64>() / n,
        })
        .collect();
    Ok(SpikingEvalReport {
        kind: "spiking".into(),
        network: net.name.clone(),
        input: net.populations[input].name.clone(),
        output: net.populations[output].name.clone(),
        readout: if spiking { "spike count" } else { "potential" }.into(),
        samples: data.len(),
        timesteps,
        wall_s: start.elapsed().as_secs_f64(),
    })
}

/// One sample: `(correct, spikes, synaptic events)` at each of `ts`.
fn run_sample(
    net: &CompiledNetwork,
    engine: Engine,
    (input, output, spiking): (usize, usize, bool),
    spikes: Vec<(u32, u32)>,
    label: u32,
    ts: &[u32],
) -> std::result::Result<Vec<(bool, u64, u64)>, crate::sim::Runaway> {
    let mut sim = Simulation::new(net, engine);
    let fed = sim.set_spike_input(input, spikes);
    debug_assert!(
        fed,
        "the input is a spike source and the run has not started"
    );
    let size = net.populations[output].size;
    let mut counts = vec![0u32; size as usize];
    let mut seen = 0;
    let mut out = Vec::with_capacity(ts.len());
    for t in 1..=*ts.last().expect("a time step") {
        sim.advance()?;
        if !ts.contains(&t) {
            continue;
        }
        for &(_, p, i) in &sim.recorded.spikes[seen..] {
            if p as usize == output {
                counts[i as usize] += 1;
            }
        }
        seen = sim.recorded.spikes.len();
        let scores: Vec<f64> = if spiking {
            counts.iter().map(|&c| f64::from(c)).collect()
        } else {
            (0..size)
                .map(|i| sim.state(output, i).map_or(f64::NEG_INFINITY, |e| e.v))
                .collect()
        };
        let best = (0..scores.len()).fold(0, |b, i| if scores[i] > scores[b] { i } else { b });
        out.push((
            best == label as usize,
            sim.counts.spikes.iter().sum(),
            sim.counts.synaptic_events.iter().sum(),
        ));
    }
    Ok(out)
}
