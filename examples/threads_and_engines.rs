//! Use synops as a library: compile a shipped network, run it with the clock engine and with
//! the event engine on one and on all cores, and check that every run emitted the same spikes.
//!
//! ```sh
//! cargo run --release --example threads_and_engines [networks/cuba.toml]
//! ```

use std::path::PathBuf;
use std::time::Instant;
use synops::network::{CompileOptions, compile_file};
use synops::{Engine, Simulation};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("networks/cuba.toml"), PathBuf::from);
    let net = compile_file(&path, &CompileOptions::default())?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut reference = None;
    for (engine, threads) in [
        (Engine::Clock, 1),
        (Engine::Event, 1),
        (Engine::Event, cores),
    ] {
        let mut sim = Simulation::with_threads(&net, engine, threads);
        let start = Instant::now();
        sim.run(|_| {})?;
        let seconds = start.elapsed().as_secs_f64();
        let spikes: u64 = sim.counts.spikes.iter().sum();
        let updates: u64 = sim.counts.neuron_updates.iter().sum();
        println!(
            "{:<5} engine, {threads} thread(s): {seconds:.3} s, {spikes} spikes, {updates} neuron updates",
            engine.as_str()
        );
        match &reference {
            None => reference = Some(sim.recorded.spikes.clone()),
            Some(spikes) => assert_eq!(spikes, &sim.recorded.spikes, "same spikes"),
        }
    }
    println!("all runs emitted the same spikes");
    Ok(())
}
