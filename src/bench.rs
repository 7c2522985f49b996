//! `synops bench`: both engines on the shipped networks, and a scaling series showing that the
//! event engine's cost follows synaptic events while the clock engine's follows neurons x steps.
//!
//! Timings are ratios measured in the same process, one after the other, on one thread.

use crate::error::Result;
use crate::network::{CompileOptions, CompiledNetwork, compile, compile_file, parse_spec};
use crate::output::peak_rss_mb;
use crate::sim::{Engine, Simulation};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// One engine run.
#[derive(Debug, Clone, Serialize)]
pub struct EngineRun {
    /// `event` or `clock`.
    pub engine: String,
    /// Loop time \[s\].
    pub wall_s: f64,
    /// Spikes.
    pub spikes: u64,
    /// Synaptic events.
    pub synaptic_events: u64,
    /// Neuron updates (state evaluations).
    pub neuron_updates: u64,
    /// Synaptic events per second of loop time.
    pub events_per_s: f64,
    /// Loop time per synaptic event \[ns\].
    pub ns_per_event: f64,
}

/// Both engines on one network.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkBench {
    /// Network name.
    pub network: String,
    /// Neurons.
    pub neurons: u64,
    /// Synapses.
    pub synapses: u64,
    /// Simulated time \[ms\].
    pub duration_ms: f64,
    /// Build time \[s\].
    pub build_s: f64,
    /// Bytes of synapse tables per synapse.
    pub synapse_bytes_per_synapse: f64,
    /// Event engine.
    pub event: EngineRun,
    /// Clock engine.
    pub clock: EngineRun,
    /// Clock loop time / event loop time.
    pub speedup: f64,
    /// Clock updates / event updates.
    pub update_ratio: f64,
    /// Whether both engines emitted exactly the same spikes.
    pub same_spikes: bool,
}

/// The whole benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Shipped networks.
    pub networks: Vec<NetworkBench>,
    /// Scaling series.
    pub scaling: Vec<NetworkBench>,
    /// Peak resident memory of the benchmark process \[MB\].
    pub peak_rss_mb: f64,
}

fn run_engine(net: &CompiledNetwork, engine: Engine) -> (EngineRun, Vec<(u32, u32, u32)>) {
    let mut sim = Simulation::new(net, engine);
    let start = Instant::now();
    sim.run(|_| {})
        .expect("the shipped networks' states stay within their bounds");
    let wall_s = start.elapsed().as_secs_f64();
    let synaptic_events: u64 = sim.counts.synaptic_events.iter().sum();
    let run = EngineRun {
        engine: engine.as_str().to_string(),
        wall_s,
        spikes: sim.counts.spikes.iter().sum(),
        synaptic_events,
        neuron_updates: sim.counts.neuron_updates.iter().sum(),
        events_per_s: synaptic_events as f64 / wall_s,
        ns_per_event: wall_s * 1e9 / synaptic_events.max(1) as f64,
    };
    (run, std::mem::take(&mut sim.recorded.spikes))
}

fn bench_network(net: &CompiledNetwork, build_s: f64) -> NetworkBench {
    let (event, event_spikes) = run_engine(net, Engine::Event);
    let (clock, clock_spikes) = run_engine(net, Engine::Clock);
    let b = NetworkBench {
        network: net.name.clone(),
        neurons: net.neurons(),
        synapses: net.synapses(),
        duration_ms: f64::from(net.steps) * net.dt_ms,
        build_s,
        synapse_bytes_per_synapse: net.synapse_bytes() as f64 / net.synapses().max(1) as f64,
        speedup: clock.wall_s / event.wall_s,
        update_ratio: clock.neuron_updates as f64 / event.neuron_updates.max(1) as f64,
        same_spikes: event_spikes == clock_spikes && event.spikes == clock.spikes,
        event,
        clock,
    };
    println!(
        "{:<22} {:>9} {:>11} {:>8.2} {:>8.3} {:>8.3} {:>7.1}x {:>10.3e} {:>8.2} {:>12} {:>7.1}x {:>5}",
        b.network,
        b.neurons,
        b.synapses,
        b.build_s,
        b.event.wall_s,
        b.clock.wall_s,
        b.speedup,
        b.event.events_per_s,
        b.event.ns_per_event,
        b.event.neuron_updates,
        b.update_ratio,
        if b.same_spikes { "yes" } else { "NO" }
    );
    b
}

fn header() {
    println!(
        "{:<22} {:>9} {:>11} {:>8} {:>8} {:>8} {:>8} {:>10} {:>8} {:>12} {:>8} {:>5}",
        "network",
        "neurons",
        "synapses",
        "build s",
        "event s",
        "clock s",
        "speedup",
        "events/s",
        "ns/event",
        "updates(ev)",
        "upd.ratio",
        "same"
    );
}

/// A feed-forward scaling network: `n` LIF neurons, each receiving `indegree` synapses from
/// Poisson sources firing at `rate_hz`.
pub fn scaling_network(n: u64, rate_hz: f64, duration_ms: f64) -> Result<CompiledNetwork> {
    let sources = (n / 10).max(100);
    let text = format!(
        r#"version = 1
name = "scale_n{n}_r{rate_hz}"
[simulation]
dt_ms = 0.1
duration_ms = {duration_ms}
seed = 3
[[population]]
name = "src"
size = {sources}
model = "poisson"
rate_hz = {rate_hz}
[[population]]
name = "lif"
size = {n}
model = "lif_delta"
tau_m_ms = 20.0
v_th_mv = 20.0
t_ref_ms = 2.0
[[projection]]
source = "src"
target = "lif"
connectivity = {{ rule = "fixed_indegree", indegree = 100 }}
weight_mv = 0.5
delay_ms = 1.0
[[record.spikes]]
population = "lif"
"#
    );
    let path = Path::new("<scaling>");
    compile(&parse_spec(&text, path)?, path, &CompileOptions::default())
}

/// Run the benchmark and print its tables.
pub fn run(networks: &Path, quick: bool) -> Result<BenchReport> {
    let duration = if quick { Some(200.0) } else { None };
    println!("# shipped networks (single thread; speedup = clock time / event time)");
    header();
    let mut report = BenchReport {
        networks: Vec::new(),
        scaling: Vec::new(),
        peak_rss_mb: 0.0,
    };
    for name in ["brunel", "cuba", "sparse_large"] {
        let path = networks.join(format!("{name}.toml"));
        let start = Instant::now();
        let net = compile_file(
            &path,
            &CompileOptions {
                duration_ms: duration,
                ..Default::default()
            },
        )?;
        let build_s = start.elapsed().as_secs_f64();
        report.networks.push(bench_network(&net, build_s));
    }
    let scale_ms = if quick { 100.0 } else { 500.0 };
    println!("\n# scaling: N LIF neurons, in-degree 100 from Poisson sources ({scale_ms} ms)");
    header();
    let sizes: &[u64] = if quick {
        &[1_000, 10_000, 100_000]
    } else {
        &[1_000, 10_000, 100_000, 1_000_000]
    };
    for &n in sizes {
        let start = Instant::now();
        let net = scaling_network(n, 2.0, scale_ms)?;
        report
            .scaling
            .push(bench_network(&net, start.elapsed().as_secs_f64()));
    }
    for &rate in &[0.1, 0.5, 5.0, 20.0] {
        let start = Instant::now();
        let net = scaling_network(100_000, rate, scale_ms)?;
        report
            .scaling
            .push(bench_network(&net, start.elapsed().as_secs_f64()));
    }
    report.peak_rss_mb = peak_rss_mb();
    Ok(report)
}
