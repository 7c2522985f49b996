//! The `synops` command line: run, validate, graph, bench.
//!
//! Exit codes: 0 success, 2 bad input or failure (the message names file, field and problem).

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use synops::network::{CompileOptions, PopulationGraph};
use synops::output::{Summary, write_atomic, write_results};
use synops::{Engine, Simulation};

#[derive(Parser)]
#[command(
    name = "synops",
    version,
    about = "Event-driven spiking neural network simulator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum EngineArg {
    /// Compute only neurons with input or a possible threshold crossing.
    Event,
    /// Update every neuron every step (reference).
    Clock,
}

impl From<EngineArg> for Engine {
    fn from(e: EngineArg) -> Engine {
        match e {
            EngineArg::Event => Engine::Event,
            EngineArg::Clock => Engine::Clock,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Simulate a network file and write summary.json, spikes.csv and recordings.
    Run {
        /// Network file (TOML).
        file: PathBuf,
        /// Engine.
        #[arg(long, value_enum, default_value_t = EngineArg::Event)]
        engine: EngineArg,
        /// Override the simulated time [ms].
        #[arg(long)]
        duration_ms: Option<f64>,
        /// Override the seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Output folder. Default: results/<network name>/.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print nothing but errors.
        #[arg(long)]
        quiet: bool,
    },
    /// Check a network file and print what it contains.
    Validate {
        /// Network file (TOML).
        file: PathBuf,
    },
    /// Print the population graph of a network file as Graphviz DOT.
    Graph {
        /// Network file (TOML).
        file: PathBuf,
        /// Write to this file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Benchmark both engines on the shipped networks and a scaling series.
    Bench {
        /// Folder holding brunel.toml, cuba.toml and sparse_large.toml.
        #[arg(long, default_value = "networks")]
        networks: PathBuf,
        /// Shorter runs (for a quick check).
        #[arg(long)]
        quick: bool,
        /// Write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run {
            file,
            engine,
            duration_ms,
            seed,
            out,
            quiet,
        } => {
            let options = CompileOptions {
                duration_ms,
                seed,
                ..Default::default()
            };
            let building = if quiet {
                ProgressBar::hidden()
            } else {
                ProgressBar::new_spinner()
            };
            building.set_message(format!("building {}", file.display()));
            building.enable_steady_tick(std::time::Duration::from_millis(100));
            let start = Instant::now();
            let net = synops::compile_file(&file, &options);
            building.finish_and_clear();
            let net = net?;
            let build_s = start.elapsed().as_secs_f64();
            let engine = Engine::from(engine);
            let bar = if quiet {
                ProgressBar::hidden()
            } else {
                ProgressBar::new(u64::from(net.steps))
            };
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:30}] {pos}/{len} steps ({eta})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_message(format!("{} ({})", net.name, engine.as_str()));
            let mut sim = Simulation::new(&net, engine);
            let start = Instant::now();
            sim.run(|step| bar.set_position(u64::from(step)));
            let wall_s = start.elapsed().as_secs_f64();
            bar.finish_and_clear();
            let summary = Summary::new(&net, engine, &sim.counts, build_s, wall_s);
            let dir = out.unwrap_or_else(|| PathBuf::from("results").join(&net.name));
            let written = write_results(&dir, &net, &summary, &sim.recorded)?;
            if !quiet {
                print!("{}", summary.table());
                println!("wrote {} in {}", written.join(", "), dir.display());
            }
            Ok(())
        }
        Command::Validate { file } => {
            let net = synops::compile_file(&file, &CompileOptions::default())?;
            println!(
                "{}: network `{}` is valid: {} populations, {} neurons, {} projections, {} synapses, {} steps of {} ms",
                file.display(),
                net.name,
                net.populations.len(),
                net.neurons(),
                net.projections.len(),
                net.synapses(),
                net.steps,
                net.dt_ms
            );
            Ok(())
        }
        Command::Graph { file, output } => {
            let spec = synops::network::read_spec(&file)?;
            let graph = PopulationGraph::from_spec(&spec, &file)?;
            let dot = graph.to_dot(&spec.name);
            match output {
                Some(path) => write_atomic(&path, |w| w.write_all(dot.as_bytes()))
                    .with_context(|| format!("writing {}", path.display()))?,
                None => print!("{dot}"),
            }
            Ok(())
        }
        Command::Bench {
            networks,
            quick,
            json,
        } => {
            let report = synops::bench::run(&networks, quick)?;
            if let Some(path) = json {
                write_atomic(&path, |w| {
                    serde_json::to_writer_pretty(&mut *w, &report).map_err(std::io::Error::other)
                })?;
            }
            Ok(())
        }
    }
}
