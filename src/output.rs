//! Run results and the files they are written to.
//!
//! Every file is written to a temporary name in the output folder and renamed into place, so a
//! failed or interrupted run never leaves a half-written file behind.

use crate::error::{Error, Result};
use crate::network::CompiledNetwork;
use crate::network::compiled::PopulationKind;
use crate::sim::{Counts, Engine, Recorded};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

/// Per-population results in `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PopulationSummary {
    /// Population name.
    pub name: String,
    /// Number of neurons.
    pub neurons: u64,
    /// Spikes emitted.
    pub spikes: u64,
    /// Mean rate per neuron \[Hz\].
    pub rate_hz: f64,
    /// State evaluations made by the engine (0 for spike sources): the simulator's work.
    pub neuron_updates: u64,
    /// Of these, threshold checks without input (event engine).
    pub threshold_checks: u64,
    /// Neuron model (`if`, `lif_delta`, `lif_exp`; absent for spike sources).
    pub model: Option<String>,
    /// Neurons x steps (0 for spike sources): what clocked hardware updates.
    pub neuron_steps: u64,
    /// Of these, the active ones: the neuron received at least one input event (synaptic or
    /// external), carried a non-zero constant current, or spiked in that step. The same for
    /// both engines.
    pub active_neuron_steps: u64,
    /// Neurons whose spikes were recorded to `spikes.csv` (absent in files of older versions:
    /// read as all).
    #[serde(default)]
    pub recorded_neurons: Option<u64>,
    /// Threshold \[mV\] (simulated neurons only; for plots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v_th_mv: Option<f64>,
    /// The arithmetic of one update of a clocked model's neuron (see [`crate::model`]); such
    /// populations are updated every step by both engines. Absent for the exact models, whose
    /// arithmetic follows from their name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_operations: Option<crate::neuron::UpdateOperations>,
}

/// Per-projection results in `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProjectionSummary {
    /// Projection name.
    pub name: String,
    /// Number of synapses.
    pub synapses: u64,
    /// Spikes delivered over a synapse.
    pub synaptic_events: u64,
    /// Bytes of its stored weights (see [`crate::network::compiled::Projection::weight_bytes`]): 1 per
    /// weight of a network converted with `--quantize 8` or fewer bits, 4 per float weight.
    #[serde(default)]
    pub weight_bytes: u64,
    /// Weight updates of a plastic projection (absent for the others).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub synaptic_updates: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// An independent Poisson drive in `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DriveSummary {
    /// Target population.
    pub target: String,
    /// Driven neurons.
    pub neurons: u64,
    /// Input spikes delivered (each one a synaptic event on hardware).
    pub events: u64,
}

/// `summary.json`: the stable record of one run. Keys are read by scripts; do not rename them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// Network name.
    pub network: String,
    /// `event` or `clock`.
    pub engine: String,
    /// Neurons, spike sources included.
    pub neurons: u64,
    /// Synapses.
    pub synapses: u64,
    /// Time step \[ms\].
    pub dt_ms: f64,
    /// Simulated time \[ms\].
    pub duration_ms: f64,
    /// Seed.
    pub seed: u64,
    /// Spikes of all populations.
    pub spikes: u64,
    /// Synaptic events (SOPs): spikes delivered over one synapse, all projections.
    pub synaptic_events: u64,
    /// Input spikes of independent Poisson drives (not synaptic events of the network).
    pub external_events: u64,
    /// State evaluations made by the engine.
    pub neuron_updates: u64,
    /// Of these, threshold checks without input (event engine).
    pub threshold_checks: u64,
    /// What a clock-driven engine evaluates: simulated neurons x steps.
    pub clock_equivalent_updates: u64,
    /// Time steps simulated.
    pub steps: u64,
    /// Simulated neurons x steps (what clocked hardware updates).
    pub neuron_steps: u64,
    /// Of these, the active ones (see [`PopulationSummary::active_neuron_steps`]).
    pub active_neuron_steps: u64,
    /// Independent Poisson drives.
    pub drives: Vec<DriveSummary>,
    /// Network construction time \[s\].
    pub build_s: f64,
    /// Simulation loop time \[s\].
    pub wall_s: f64,
    /// Threads of the simulation loop.
    #[serde(default = "one_thread")]
    pub threads: usize,
    /// Where the loop time went (`run --profile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<crate::sim::Profile>,
    /// A run over several MPI ranks: their number and the exchanges of spikes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranks: Option<crate::sim::ExchangeStats>,
    /// Synaptic events per second of loop time.
    pub events_per_s: f64,
    /// Mean rate of the simulated (non-source) neurons \[Hz\].
    pub mean_rate_hz: f64,
    /// Peak resident memory of the process \[MB\].
    pub peak_rss_mb: f64,
    /// Per population.
    pub populations: Vec<PopulationSummary>,
    /// Per projection.
    pub projections: Vec<ProjectionSummary>,
    /// Version of synops that ran.
    pub synops_version: String,
}

/// Peak resident set size of this process in MB (Linux; 0 elsewhere).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn one_thread() -> usize {
    1
}

impl Summary {
    /// Assemble the summary of a finished run.
    pub fn new(
        net: &CompiledNetwork,
        engine: Engine,
        counts: &Counts,
        build_s: f64,
        wall_s: f64,
    ) -> Self {
        let seconds = f64::from(net.steps) * net.dt_ms * 1e-3;
        let populations: Vec<PopulationSummary> = net
            .populations
            .iter()
            .enumerate()
            .map(|(i, p)| PopulationSummary {
                name: p.name.clone(),
                neurons: u64::from(p.size),
                spikes: counts.spikes[i],
                rate_hz: counts.spikes[i] as f64 / f64::from(p.size) / seconds,
                neuron_updates: counts.neuron_updates[i],
                threshold_checks: counts.threshold_checks[i],
                model: p.model_name().map(str::to_string),
                neuron_steps: match p.is_neurons() {
                    true => u64::from(p.size) * u64::from(net.steps),
                    false => 0,
                },
                active_neuron_steps: counts.active_neuron_steps[i],
                recorded_neurons: Some(
                    net.record.spikes[i]
                        .as_ref()
                        .map_or(0, |mask| mask.iter().filter(|&&m| m).count() as u64),
                ),
                v_th_mv: match &p.kind {
                    PopulationKind::Neurons { dynamics, .. } => Some(dynamics.params.v_th_mv),
                    _ => None,
                },
                update_operations: match &p.kind {
                    PopulationKind::Clocked { model, .. } => Some(model.operations()),
                    _ => None,
                },
            })
            .collect();
        let simulated: Vec<usize> = (0..net.populations.len())
            .filter(|&i| net.populations[i].is_neurons())
            .collect();
        let sim_neurons: u64 = simulated
            .iter()
            .map(|&i| u64::from(net.populations[i].size))
            .sum();
        let sim_spikes: u64 = simulated.iter().map(|&i| counts.spikes[i]).sum();
        let synaptic_events: u64 = counts.synaptic_events.iter().sum();
        Summary {
            network: net.name.clone(),
            engine: engine.as_str().to_string(),
            neurons: net.neurons(),
            synapses: net.synapses(),
            dt_ms: net.dt_ms,
            duration_ms: seconds * 1e3,
            seed: net.seed,
            spikes: counts.spikes.iter().sum(),
            synaptic_events,
            external_events: counts.external_events.iter().sum(),
            neuron_updates: counts.neuron_updates.iter().sum(),
            threshold_checks: counts.threshold_checks.iter().sum(),
            clock_equivalent_updates: sim_neurons * u64::from(net.steps),
            steps: u64::from(net.steps),
            neuron_steps: sim_neurons * u64::from(net.steps),
            active_neuron_steps: counts.active_neuron_steps.iter().sum(),
            drives: net
                .drives
                .iter()
                .zip(&counts.external_events)
                .map(|(d, &events)| DriveSummary {
                    target: net.populations[d.target].name.clone(),
                    neurons: d.neurons.len() as u64,
                    events,
                })
                .collect(),
            build_s,
            wall_s,
            events_per_s: if wall_s > 0.0 {
                synaptic_events as f64 / wall_s
            } else {
                0.0
            },
            mean_rate_hz: if sim_neurons > 0 {
                sim_spikes as f64 / sim_neurons as f64 / seconds
            } else {
                0.0
            },
            peak_rss_mb: peak_rss_mb(),
            threads: 1,
            profile: None,
            ranks: None,
            populations,
            projections: net
                .projections
                .iter()
                .enumerate()
                .map(|(j, p)| ProjectionSummary {
                    name: p.name.clone(),
                    synapses: p.csr.len() as u64,
                    synaptic_events: counts.synaptic_events[j],
                    weight_bytes: p.weight_bytes(),
                    synaptic_updates: counts.synaptic_updates[j],
                })
                .collect(),
            synops_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// A plain-text table for the terminal.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} | engine {} | {} neurons, {} synapses | {} ms at dt {} ms, seed {}",
            self.network,
            self.engine,
            self.neurons,
            self.synapses,
            self.duration_ms,
            self.dt_ms,
            self.seed
        );
        let _ = writeln!(
            s,
            "{:<16} {:>10} {:>12} {:>10} {:>14}",
            "population", "neurons", "spikes", "rate [Hz]", "updates"
        );
        for p in &self.populations {
            let _ = writeln!(
                s,
                "{:<16} {:>10} {:>12} {:>10.3} {:>14}",
                p.name, p.neurons, p.spikes, p.rate_hz, p.neuron_updates
            );
        }
        let _ = writeln!(
            s,
            "{:<24} {:>12} {:>16}",
            "projection", "synapses", "synaptic events"
        );
        for p in &self.projections {
            let _ = writeln!(
                s,
                "{:<24} {:>12} {:>16}",
                p.name, p.synapses, p.synaptic_events
            );
        }
        let fewer = if self.neuron_updates == 0 {
            "none".to_string()
        } else {
            format!(
                "{:.1}x fewer than clock-driven",
                self.clock_equivalent_updates as f64 / self.neuron_updates as f64
            )
        };
        let _ = writeln!(
            s,
            "mean rate {:.3} Hz | {} synaptic events, {} external | {} neuron updates ({fewer})",
            self.mean_rate_hz, self.synaptic_events, self.external_events, self.neuron_updates,
        );
        let _ = writeln!(
            s,
            "build {:.3} s | loop {:.3} s on {} thread{} | {:.3e} synaptic events/s | peak RSS {:.0} MB",
            self.build_s,
            self.wall_s,
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            self.events_per_s,
            self.peak_rss_mb
        );
        if let Some(p) = &self.profile {
            let _ = writeln!(
                s,
                "profile (thread time): drives {:.3} s | delivery {:.3} s | updates {:.3} s | checks {:.3} s | sequential {:.3} s",
                p.drives_s, p.delivery_s, p.updates_s, p.checks_s, p.sequential_s
            );
        }
        if let Some(r) = &self.ranks {
            let _ = writeln!(
                s,
                "ranks: {} x {} thread{} | {} exchanges of spikes, {:.3} s on rank 0 ({:.1} us each) | {} bytes received per rank",
                r.ranks,
                r.threads_per_rank,
                if r.threads_per_rank == 1 { "" } else { "s" },
                r.exchanges,
                r.exchange_s,
                r.exchange_s / r.exchanges.max(1) as f64 * 1e6,
                r.bytes_received
            );
        }
        s
    }
}

/// Write `contents` to `path` through a temporary file in the same folder.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::new(file);
        write(&mut w)?;
        w.flush()?;
        w.get_ref().sync_all()?;
        drop(w);
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, "cannot write", e)
    })
}

/// Number of decimals that print multiples of `dt` exactly (at most 9).
fn decimals(dt: f64) -> usize {
    (0..=9)
        .find(|&d| {
            let x = dt * 10f64.powi(d as i32);
            (x - x.round()).abs() < 1e-9
        })
        .unwrap_or(9)
}

/// Write `summary.json`, `spikes.csv` and, when recorded, `traces.csv` and `rates.csv` into `dir`.
pub fn write_results(
    dir: &Path,
    net: &CompiledNetwork,
    summary: &Summary,
    rec: &Recorded,
) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, "cannot create folder", e))?;
    let mut written = Vec::new();
    let prec = decimals(net.dt_ms);
    let time = |step: u32| format!("{:.prec$}", f64::from(step) * net.dt_ms);
    write_atomic(&dir.join("summary.json"), |w| {
        serde_json::to_writer_pretty(&mut *w, summary).map_err(std::io::Error::other)?;
        writeln!(w)
    })?;
    written.push("summary.json".to_string());
    if net.record.spikes.iter().any(Option::is_some) {
        write_atomic(&dir.join("spikes.csv"), |w| {
            writeln!(w, "time_ms,population,index")?;
            for &(t, p, i) in &rec.spikes {
                writeln!(w, "{},{},{}", time(t), net.populations[p as usize].name, i)?;
            }
            Ok(())
        })?;
        written.push("spikes.csv".to_string());
    }
    if !net.record.traces.is_empty() {
        write_atomic(&dir.join("traces.csv"), |w| {
            // The columns: every traced model's variables, in order of first appearance;
            // a variable another model lacks is left empty.
            let mut columns: Vec<&str> = Vec::new();
            for req in &net.record.traces {
                for &v in net.populations[req.population].variables() {
                    if !columns.contains(&v) {
                        columns.push(v);
                    }
                }
            }
            writeln!(w, "time_ms,population,index,{}", columns.join(","))?;
            for s in &rec.traces {
                let p = &net.populations[s.population as usize];
                write!(w, "{},{},{}", time(s.step), p.name, s.index)?;
                let vars = p.variables();
                for c in &columns {
                    match vars.iter().position(|v| v == c) {
                        Some(k) => write!(w, ",{}", s.values[k])?,
                        None => write!(w, ",")?,
                    }
                }
                writeln!(w)?;
            }
            Ok(())
        })?;
        written.push("traces.csv".to_string());
    }
    if !net.record.rates.is_empty() {
        write_atomic(&dir.join("rates.csv"), |w| {
            writeln!(w, "time_ms,population,rate_hz")?;
            for (r, &(p, bin)) in net.record.rates.iter().enumerate() {
                let size = f64::from(net.populations[p].size);
                for (b, &count) in rec.rate_bins[r].iter().enumerate() {
                    let start = b as u32 * bin;
                    let width = bin.min(net.steps - start);
                    let rate = count as f64 / size / (f64::from(width) * net.dt_ms * 1e-3);
                    writeln!(w, "{},{},{}", time(start), net.populations[p].name, rate)?;
                }
            }
            Ok(())
        })?;
        written.push("rates.csv".to_string());
    }
    written.extend(write_weights(dir, net, rec, &time)?);
    Ok(written)
}

/// `weights.csv` (the snapshots of `[[record.weights]]`) and `weights.safetensors` (the final
/// weights of the plastic projections, see [`crate::plasticity::file`]), when there are any.
fn write_weights(
    dir: &Path,
    net: &CompiledNetwork,
    rec: &Recorded,
    time: &dyn Fn(u32) -> String,
) -> Result<Vec<String>> {
    let mut written = Vec::new();
    if !net.record.weights.is_empty() {
        write_atomic(&dir.join("weights.csv"), |w| {
            writeln!(w, "time_ms,projection,synapse,source,target,weight")?;
            let sources: Vec<Vec<u32>> = net
                .record
                .weights
                .iter()
                .map(|r| {
                    let csr = &net.projections[r.projection].csr;
                    let all = csr.sources();
                    r.synapses.iter().map(|&k| all[k as usize]).collect()
                })
                .collect();
            for snapshot in &rec.weights {
                let req = &net.record.weights[snapshot.request];
                let pr = &net.projections[req.projection];
                let rows = req.synapses.iter().zip(&sources[snapshot.request]);
                for ((&k, &s), weight) in rows.zip(&snapshot.weights) {
                    let target = pr.csr.targets[k as usize];
                    let t = time(snapshot.step);
                    writeln!(w, "{t},{},{k},{s},{target},{weight}", pr.name)?;
                }
            }
            Ok(())
        })?;
        written.push("weights.csv".to_string());
    }
    if !rec.final_weights.is_empty() {
        let stored: Vec<(&str, crate::plasticity::file::StoredWeights)> = rec
            .final_weights
            .iter()
            .map(|(j, weights)| {
                let pr = &net.projections[*j];
                let stored = crate::plasticity::file::StoredWeights {
                    weights: weights.clone(),
                    sources: pr.csr.sources(),
                    targets: pr.csr.targets.clone(),
                };
                (pr.name.as_str(), stored)
            })
            .collect();
        let path = dir.join("weights.safetensors");
        let bytes = crate::plasticity::file::to_bytes(&stored)
            .map_err(|e| Error::io(&path, "cannot write", std::io::Error::other(e)))?;
        write_atomic(&path, |w| w.write_all(&bytes))?;
        written.push("weights.safetensors".to_string());
    }
    Ok(written)
}
