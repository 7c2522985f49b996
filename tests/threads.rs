//! Results are bit-identical for any number of threads.

mod common;
use common::networks;
use std::path::Path;
use synops::network::{CompileOptions, compile_file};
use synops::{CompiledNetwork, Engine, Simulation};

fn spikes_and_counts(
    net: &CompiledNetwork,
    engine: Engine,
    threads: usize,
) -> (Vec<(u32, u32, u32)>, synops::sim::Counts, Vec<u64>) {
    let mut sim = Simulation::with_threads(net, engine, threads);
    sim.run(|_| {}).unwrap();
    let traces = sim
        .recorded
        .traces
        .iter()
        .map(|s| s.values[0].to_bits())
        .collect();
    (sim.recorded.spikes.clone(), sim.counts.clone(), traces)
}

fn assert_thread_independent(net: &CompiledNetwork, engine: Engine) {
    let reference = spikes_and_counts(net, engine, 1);
    assert!(!reference.0.is_empty(), "{}: no spikes", net.name);
    for threads in [2, 3, 4] {
        let other = spikes_and_counts(net, engine, threads);
        assert_eq!(
            reference.0, other.0,
            "{}: spikes with {threads} threads",
            net.name
        );
        assert_eq!(
            reference.1, other.1,
            "{}: counts with {threads} threads",
            net.name
        );
        assert_eq!(
            reference.2, other.2,
            "{}: traces with {threads} threads",
            net.name
        );
    }
}

/// Threads that keep every core busy while `f` runs, as another process would.
fn with_busy_cores<T>(f: impl FnOnce() -> T) -> T {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = AtomicBool::new(false);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..cores {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            });
        }
        let result = f();
        stop.store(true, Ordering::Relaxed);
        result
    })
}

#[test]
fn threads_preempted_by_others_change_nothing() {
    // With every core busy, threads of the team are late for steps and others take over their
    // parts: the results must not depend on who advanced which part.
    let options = CompileOptions {
        duration_ms: Some(100.0),
        ..Default::default()
    };
    let net = compile_file(&networks().join("brunel.toml"), &options).unwrap();
    let reference = spikes_and_counts(&net, Engine::Event, 1);
    for threads in [2, 4] {
        let contended = with_busy_cores(|| spikes_and_counts(&net, Engine::Event, threads));
        assert_eq!(reference, contended, "{threads} threads on busy cores");
    }
}

#[test]
fn brunel_is_identical_on_1_to_4_threads() {
    let options = CompileOptions {
        duration_ms: Some(100.0),
        ..Default::default()
    };
    let net = compile_file(&networks().join("brunel.toml"), &options).unwrap();
    assert_thread_independent(&net, Engine::Event);
}

#[test]
fn cuba_is_identical_on_1_to_4_threads_with_both_engines() {
    let options = CompileOptions {
        duration_ms: Some(300.0),
        ..Default::default()
    };
    let net = compile_file(&networks().join("cuba.toml"), &options).unwrap();
    assert_thread_independent(&net, Engine::Event);
    assert_thread_independent(&net, Engine::Clock);
}

#[test]
fn a_network_with_subset_drives_currents_and_delay_runs_is_identical() {
    let net = common::compile_text(common::MIXED_NETWORK, Path::new("mixed.toml")).unwrap();
    assert_thread_independent(&net, Engine::Event);
}

/// A converted MLP (dense weight rows, analog and Poisson-encoded input, IF neurons with reset
/// by subtraction) gives the same spikes, counts and read-out potentials on 1 to 4 threads.
#[test]
fn converted_mlp_is_identical_on_1_to_4_threads() {
    use synops::convert::{self, ConvertOptions, InputEncoding, LoadOptions};
    use synops::data::Split;
    use synops::data::mnist::load as load_mnist;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ann = convert::load_model(
        &root.join("models/mlp_small/model.safetensors"),
        &LoadOptions::default(),
    )
    .unwrap();
    let train = load_mnist(&root.join("data/mnist"), Split::Train)
        .unwrap()
        .truncate(500);
    let dir = tempfile::tempdir().unwrap();
    for encoding in [InputEncoding::Analog, InputEncoding::Poisson] {
        let options = ConvertOptions {
            encoding,
            timesteps: 50,
            ..Default::default()
        };
        let converted = convert::convert(&ann, &train, "mlp_small", &options).unwrap();
        let (path, _) = converted.write(&dir.path().join("mlp_small_snn")).unwrap();
        let net = compile_file(&path, &CompileOptions::default()).unwrap();
        // The hidden and output populations record their spikes.
        assert_thread_independent(&net, Engine::Event);
        assert_thread_independent(&net, Engine::Clock);
    }
}

/// A panic on the calling thread during a parallel run (here in the observer) reaches the
/// caller instead of leaving the team's threads waiting forever.
#[test]
fn a_panic_during_a_parallel_run_propagates() {
    let options = CompileOptions {
        duration_ms: Some(50.0),
        ..Default::default()
    };
    let net = compile_file(&networks().join("cuba.toml"), &options).unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut sim = Simulation::with_threads(&net, Engine::Event, 2);
        sim.run_observed(|sim| {
            if sim.current_step() == 100 {
                panic!("observer fails");
            }
        })
        .unwrap();
    }));
    assert!(result.is_err());
}
