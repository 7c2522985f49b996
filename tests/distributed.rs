//! Runs split over ranks give the spikes, counts and traces of one process, for any number of
//! ranks and threads. The ranks here are threads of the test exchanging through shared memory
//! (`synops::distributed::threads`), with the collective operations MPI gives; the MPI build is
//! checked by `tests/mpi.rs` under `mpirun`.

mod common;
use common::networks;
use std::path::Path;
use synops::distributed::LocalTargets;
use synops::distributed::threads::{ThreadRank, group};
use synops::network::{CompileOptions, compile_file};
use synops::sim::Counts;
use synops::{CompiledNetwork, Engine, Simulation};

/// Spikes, counts and the bits of every traced value.
type Results = (Vec<(u32, u32, u32)>, Counts, Vec<u64>);

fn results(sim: &Simulation<'_>) -> Results {
    let traces = (sim.recorded.traces.iter())
        .flat_map(|s| s.values.map(f64::to_bits))
        .collect();
    (sim.recorded.spikes.clone(), sim.counts.clone(), traces)
}

fn one_process(net: &CompiledNetwork, engine: Engine) -> Results {
    let mut sim = Simulation::new(net, engine);
    sim.run(|_| {}).unwrap();
    results(&sim)
}

/// Every rank's results, `ranks` ranks of `threads` threads each, all running `net`.
fn over_ranks(net: &CompiledNetwork, engine: Engine, ranks: usize, threads: usize) -> Vec<Results> {
    on_ranks(ranks, &|_, rank| {
        let mut sim = Simulation::distributed(net, engine, threads, Box::new(rank)).unwrap();
        sim.run(|_| {}).unwrap();
        results(&sim)
    })
}

/// `work(r, rank)` on `ranks` threads, one per rank: their results in rank order.
fn on_ranks<T: Send>(ranks: usize, work: &(dyn Fn(usize, ThreadRank) -> T + Sync)) -> Vec<T> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (group(ranks).into_iter().enumerate())
            .map(|(r, rank)| scope.spawn(move || work(r, rank)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn assert_rank_independent(net: &CompiledNetwork, engine: Engine) {
    let reference = one_process(net, engine);
    assert!(!reference.0.is_empty(), "{}: no spikes", net.name);
    for ranks in [2, 3, 4] {
        for threads in [1, 2] {
            for (r, got) in over_ranks(net, engine, ranks, threads).iter().enumerate() {
                let what = format!(
                    "{} on {ranks} ranks x {threads} threads, rank {r}",
                    net.name
                );
                assert_eq!(reference.0, got.0, "{what}: spikes");
                assert_eq!(reference.1, got.1, "{what}: counts");
                assert_eq!(reference.2, got.2, "{what}: traces");
            }
        }
    }
}

/// Every rank's results, each rank building only the synapses onto its own neurons.
fn over_ranks_local(
    build: &(dyn Fn(Option<LocalTargets>) -> CompiledNetwork + Sync),
    ranks: usize,
    threads: usize,
) -> Vec<Results> {
    on_ranks(ranks, &|r, rank| {
        let local = LocalTargets {
            rank: r,
            ranks,
            threads,
        };
        let net = build(Some(local));
        let mut sim =
            Simulation::distributed(&net, Engine::Event, threads, Box::new(rank)).unwrap();
        sim.run(|_| {}).unwrap();
        results(&sim)
    })
}

fn assert_local_tables_change_nothing(
    build: &(dyn Fn(Option<LocalTargets>) -> CompiledNetwork + Sync),
) {
    let whole = build(None);
    let reference = one_process(&whole, Engine::Event);
    for ranks in [2, 3, 4] {
        for threads in [1, 2] {
            for (r, got) in over_ranks_local(build, ranks, threads).iter().enumerate() {
                let what = format!(
                    "{} on {ranks} ranks x {threads} threads, rank {r}",
                    whole.name
                );
                assert_eq!(reference.0, got.0, "{what}: spikes");
                // Synaptic events are summed over the ranks' own synapses.
                assert_eq!(reference.1, got.1, "{what}: counts");
                assert_eq!(reference.2, got.2, "{what}: traces");
            }
        }
    }
}

#[test]
fn ranks_that_keep_only_their_own_synapses_give_the_same_results() {
    let options = |local, duration_ms| CompileOptions {
        duration_ms: Some(duration_ms),
        local_targets: local,
        ..Default::default()
    };
    assert_local_tables_change_nothing(&|local| {
        compile_file(&networks().join("brunel.toml"), &options(local, 60.0)).unwrap()
    });
    assert_local_tables_change_nothing(&|local| {
        compile_file(&networks().join("coba.toml"), &options(local, 30.0)).unwrap()
    });
    // Per-synapse weights and delays (delay runs), subset drives, currents and traces; the
    // last rank owns no neuron of the smaller population with 4 ranks of 1 thread.
    assert_local_tables_change_nothing(&|local| {
        let spec = synops::network::parse_spec(common::MIXED_NETWORK, Path::new("mixed.toml"));
        synops::network::compile(
            &spec.unwrap(),
            Path::new("mixed.toml"),
            &options(local, 300.0),
        )
        .unwrap()
    });
}

/// A pruned 8-bit conversion: its listed 8-bit synapses cut down to each rank's targets (the
/// scales per target kept whole) give the spikes and counts of one process, and the ranks'
/// weight bytes add up to one process's.
#[test]
fn pruned_quantized_layers_split_over_ranks_give_the_same_results() {
    use synops::convert::compress::{PruneScope, Pruning, Quantization, ScaleMode};
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("models/mlp_small/model.safetensors");
    let ann = synops::convert::load_model(&model, &Default::default()).unwrap();
    let mnist = root.join("data/mnist");
    let train = synops::data::mnist::load(&mnist, synops::data::Split::Train).unwrap();
    let options = synops::convert::ConvertOptions {
        encoding: synops::convert::InputEncoding::Regular,
        timesteps: 20,
        quantization: Some(Quantization {
            bits: 8,
            scale: ScaleMode::Channel,
        }),
        pruning: Some(Pruning {
            fraction: 0.5,
            scope: PruneScope::Global,
            bias_correction: true,
        }),
        ..Default::default()
    };
    let c = synops::convert::convert(&ann, &train.truncate(200), "mlp", &options).unwrap();
    let path = c.write(&dir.path().join("q")).unwrap().0;
    let build = |local| {
        let options = CompileOptions {
            local_targets: local,
            ..Default::default()
        };
        compile_file(&path, &options).unwrap()
    };
    assert_local_tables_change_nothing(&build);
    let whole: u64 = build(None)
        .projections
        .iter()
        .map(|p| p.weight_bytes())
        .sum();
    let scales = 4 * (256 + 10);
    let ranks: u64 = (0..3)
        .map(|rank| {
            let net = build(Some(LocalTargets {
                rank,
                ranks: 3,
                threads: 1,
            }));
            net.projections
                .iter()
                .map(|p| p.weight_bytes())
                .sum::<u64>()
                - scales
        })
        .sum();
    assert_eq!(ranks + scales, whole);
}

#[test]
fn a_rank_keeps_only_the_synapses_onto_its_neurons() {
    let options = |local| CompileOptions {
        duration_ms: Some(10.0),
        local_targets: local,
        ..Default::default()
    };
    let path = networks().join("brunel.toml");
    let whole = compile_file(&path, &options(None)).unwrap();
    let mut total = 0;
    for rank in 0..3 {
        let local = LocalTargets {
            rank,
            ranks: 3,
            threads: 1,
        };
        let net = compile_file(&path, &options(Some(local))).unwrap();
        for (p, q) in net.projections.iter().zip(&whole.projections) {
            let range = local.range(whole.populations[p.target].size);
            assert!(p.csr.targets.iter().all(|t| range.contains(t)));
            let expected = q.csr.targets.iter().filter(|t| range.contains(t)).count();
            assert_eq!(p.csr.len(), expected);
        }
        total += net.synapses();
        assert!(net.synapses() < whole.synapses() / 2);
        // Only the distributed run takes it.
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Simulation::new(&net, Engine::Event);
        }));
        assert!(refused.is_err());
    }
    assert_eq!(total, whole.synapses());
}

fn shipped(name: &str, duration_ms: f64) -> CompiledNetwork {
    let options = CompileOptions {
        duration_ms: Some(duration_ms),
        ..Default::default()
    };
    compile_file(&networks().join(format!("{name}.toml")), &options).unwrap()
}

#[test]
fn brunel_is_identical_on_1_to_4_ranks() {
    assert_rank_independent(&shipped("brunel", 60.0), Engine::Event);
}

#[test]
fn cuba_is_identical_on_1_to_4_ranks_with_both_engines() {
    let net = shipped("cuba", 100.0);
    assert_rank_independent(&net, Engine::Event);
    assert_rank_independent(&net, Engine::Clock);
}

#[test]
fn coba_clocked_neurons_are_identical_on_1_to_4_ranks() {
    assert_rank_independent(&shipped("coba", 50.0), Engine::Event);
}

#[test]
fn subset_drives_currents_delays_and_traces_are_identical_on_1_to_4_ranks() {
    let net = common::compile_text(common::MIXED_NETWORK, Path::new("mixed.toml")).unwrap();
    assert!(!net.record.traces.is_empty());
    assert_rank_independent(&net, Engine::Event);
    assert_rank_independent(&net, Engine::Clock);
}

#[test]
fn a_runaway_on_one_rank_stops_every_rank_at_the_same_step() {
    // Neuron 3000 of 4000 (in the last rank's part) is driven below the state bound (1e12 x
    // v_th) by inhibitory inputs that add up; the rank that owns it reports it, the other
    // stops with it at the end of the epoch (2 ms, the projection's delay).
    let text = r#"version = 1
name = "runaway"
[simulation]
dt_ms = 0.1
duration_ms = 50.0
[[population]]
name = "a"
size = 4000
model = "lif_delta"
tau_m_ms = 10.0
v_th_mv = 10.0
[[input]]
kind = "poisson"
target = "a"
rate_hz = 5000.0
weight_mv = -9e12
indices = [3000]
[[projection]]
source = "a"
target = "a"
connectivity = { rule = "fixed_indegree", indegree = 2 }
weight_mv = 0.1
delay_ms = 2.0
"#;
    let net = common::compile_text(text, Path::new("runaway.toml")).unwrap();
    let mut single = Simulation::new(&net, Engine::Event);
    let expected = single.run(|_| {}).expect_err("runs away");
    let outcomes = on_ranks(2, &|_, rank| {
        let mut sim = Simulation::distributed(&net, Engine::Event, 1, Box::new(rank)).unwrap();
        let ran = sim.run(|_| {});
        let error = ran.err().map(|e| e.to_string());
        (error, sim.stopped_elsewhere(), sim.current_step())
    });
    let epoch_end = single.current_step().div_ceil(20) * 20;
    assert!(
        !single.current_step().is_multiple_of(20),
        "the runaway is within an epoch"
    );
    assert_eq!(outcomes[0], (None, true, epoch_end));
    assert_eq!(outcomes[1], (Some(expected.to_string()), false, epoch_end));
}

#[test]
fn plastic_networks_are_refused_over_ranks() {
    let net = shipped("stdp_song", 10.0);
    let rank = group(1).pop().unwrap();
    let refused = Simulation::distributed(&net, Engine::Event, 1, Box::new(rank)).err();
    assert!(refused.unwrap().contains("plastic"));
}

#[test]
fn eval_shared_out_over_ranks_gives_the_report_of_one_process() {
    use synops::convert::{self, ConvertOptions, LoadOptions};
    use synops::data::Split;
    use synops::data::mnist::load as load_mnist;
    use synops::eval::{ConvertedNetwork, EarlyExit, evaluate_over, evaluate_with};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ann = convert::load_model(
        &root.join("models/mlp_small/model.safetensors"),
        &LoadOptions::default(),
    )
    .unwrap();
    let mnist = root.join("data/mnist");
    let train = load_mnist(&mnist, Split::Train).unwrap().truncate(200);
    let test = load_mnist(&mnist, Split::Test).unwrap().truncate(300);
    let dir = tempfile::tempdir().unwrap();
    let converted = convert::convert(&ann, &train, "mlp", &ConvertOptions::default()).unwrap();
    let (path, _) = converted.write(&dir.path().join("mlp")).unwrap();
    let cn = ConvertedNetwork::load(&path, 25).unwrap();
    let ts = [10, 25];
    let early = Some(EarlyExit {
        margin: 1.0,
        steps: 1,
    });
    let without_time = |mut r: synops::eval::EvalReport| {
        r.wall_s = 0.0;
        serde_json::to_string(&r).unwrap()
    };
    let single =
        without_time(evaluate_with(&cn, &test, &ts, Engine::Event, early, |_| {}).unwrap());
    for size in [2, 3] {
        let reports = on_ranks(size, &|_, mut rank| {
            let plan = (Engine::Event, early);
            let r = evaluate_over(&cn, &test, &ts, plan, Some(&mut rank), |_| {});
            without_time(r.unwrap())
        });
        for (r, report) in reports.iter().enumerate() {
            assert_eq!(&single, report, "{size} ranks, rank {r}");
        }
    }
}
