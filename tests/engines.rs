//! The event engine gives the same spikes as the clock-driven reference.

mod common;
use common::{net, networks, run};
use synops::Engine;
use synops::network::{CompileOptions, compile_file};

fn assert_same_spikes(network: &synops::CompiledNetwork) -> usize {
    let (event, event_counts) = run(network, Engine::Event);
    let (clock, clock_counts) = run(network, Engine::Clock);
    assert!(!event.is_empty(), "{}: no spikes to compare", network.name);
    if let Some(i) = event.iter().zip(&clock).position(|(a, b)| a != b) {
        panic!(
            "{}: first difference at spike {i}: event {:?} vs clock {:?}",
            network.name, event[i], clock[i]
        );
    }
    assert_eq!(
        event.len(),
        clock.len(),
        "{}: spike counts differ",
        network.name
    );
    assert_eq!(event_counts.spikes, clock_counts.spikes);
    assert_eq!(event_counts.synaptic_events, clock_counts.synaptic_events);
    let event_updates: u64 = event_counts.neuron_updates.iter().sum();
    let clock_updates: u64 = clock_counts.neuron_updates.iter().sum();
    assert!(
        event_updates <= clock_updates,
        "{}: event engine did more updates",
        network.name
    );
    event.len()
}

#[test]
fn feed_forward_network() {
    let network = net(r#"version = 1
name = "feedforward"
[simulation]
dt_ms = 0.1
duration_ms = 500.0
seed = 9
[[population]]
name = "in"
size = 200
model = "poisson"
rate_hz = 15.0
[[population]]
name = "hidden"
size = 100
model = "lif_exp"
tau_m_ms = 15.0
tau_syn_exc_ms = 3.0
tau_syn_inh_ms = 6.0
v_th_mv = 4.0
t_ref_ms = 1.0
[[population]]
name = "out"
size = 20
model = "lif_delta"
tau_m_ms = 10.0
v_th_mv = 5.0
v_reset_mv = -2.0
t_ref_ms = 0.5
[[population]]
name = "count"
size = 20
model = "if"
v_th_mv = 3.0
reset = "subtract"
bias_mv_per_ms = 0.002
[[projection]]
source = "in"
target = "hidden"
connectivity = { rule = "fixed_probability", p = 0.2 }
weight_mv = { uniform = [1.0, 6.0] }
delay_ms = { uniform = [0.5, 2.0] }
[[projection]]
source = "in"
target = "hidden"
name = "in_inh"
connectivity = { rule = "fixed_indegree", indegree = 10 }
weight_mv = -2.0
delay_ms = 1.0
[[projection]]
source = "hidden"
target = "out"
connectivity = { rule = "fixed_outdegree", outdegree = 5 }
weight_mv = { normal = { mean = 1.5, std = 0.5 } }
delay_ms = 1.0
[[projection]]
source = "out"
target = "count"
connectivity = { rule = "one_to_one" }
weight_mv = 1.0
delay_ms = 0.2
[[record.spikes]]
population = "hidden"
[[record.spikes]]
population = "out"
[[record.spikes]]
population = "count"
"#);
    assert!(assert_same_spikes(&network) > 100);
}

#[test]
fn small_recurrent_network_with_bias_and_currents() {
    let network = net(r#"version = 1
name = "recurrent"
[simulation]
dt_ms = 0.1
duration_ms = 1000.0
seed = 4
[[population]]
name = "e"
size = 400
model = "lif_exp"
tau_m_ms = 20.0
tau_syn_exc_ms = 5.0
tau_syn_inh_ms = 10.0
v_rest_mv = -60.0
v_th_mv = -50.0
v_reset_mv = -60.0
t_ref_ms = 2.0
bias_mv = 9.0
v_init_mv = { uniform = [-60.0, -50.0] }
[[population]]
name = "i"
size = 100
model = "lif_delta"
tau_m_ms = 10.0
v_rest_mv = -60.0
v_th_mv = -50.0
v_reset_mv = -55.0
t_ref_ms = 1.0
bias_mv = 11.0
v_init_mv = { normal = { mean = -55.0, std = 3.0 } }
[[projection]]
source = "e"
target = "e"
connectivity = { rule = "fixed_probability", p = 0.05 }
allow_autapses = false
weight_mv = 1.2
delay_ms = { uniform = [0.1, 1.5] }
[[projection]]
source = "e"
target = "i"
connectivity = { rule = "fixed_indegree", indegree = 20 }
weight_mv = 0.8
delay_ms = 0.5
[[projection]]
source = "i"
target = "e"
connectivity = { rule = "fixed_probability", p = 0.1 }
weight_mv = -4.0
delay_ms = 0.3
[[projection]]
source = "i"
target = "i"
connectivity = { rule = "all_to_all" }
allow_autapses = false
weight_mv = -0.5
delay_ms = 0.1
[[input]]
kind = "poisson"
target = "e"
rate_hz = 300.0
weight_mv = 1.0
[[input]]
kind = "current"
target = "i"
amplitude_mv = -3.0
start_ms = 300.0
stop_ms = 600.0
[[record.spikes]]
population = "e"
[[record.spikes]]
population = "i"
"#);
    assert!(assert_same_spikes(&network) > 1000);
}

#[test]
fn cuba_whole_run() {
    let network = compile_file(&networks().join("cuba.toml"), &CompileOptions::default()).unwrap();
    let spikes = assert_same_spikes(&network);
    // Brian2 reports about 5.5 Hz for this network.
    let rate = spikes as f64 / 4000.0;
    assert!((4.5..6.5).contains(&rate), "CUBA rate {rate} Hz");
}

#[test]
fn brunel_first_200_ms() {
    let options = CompileOptions {
        duration_ms: Some(200.0),
        ..Default::default()
    };
    let network = compile_file(&networks().join("brunel.toml"), &options).unwrap();
    assert_same_spikes(&network);
}

/// The whole second of Brunel with both engines (about 6 s in release mode).
#[test]
#[ignore]
fn brunel_whole_run_rates_agree() {
    let network =
        compile_file(&networks().join("brunel.toml"), &CompileOptions::default()).unwrap();
    let (_, event) = run(&network, Engine::Event);
    let (_, clock) = run(&network, Engine::Clock);
    for (e, c) in event.spikes.iter().zip(&clock.spikes) {
        let rel = (*e as f64 - *c as f64).abs() / *c as f64;
        assert!(rel < 0.01, "population rates differ by {rel}");
    }
    // NEST reports about 32 Hz for this network.
    let rate = event.spikes.iter().sum::<u64>() as f64 / 12_500.0;
    assert!((28.0..36.0).contains(&rate), "Brunel rate {rate} Hz");
}

/// The event engine does fewer updates than the clock engine on a sparse network.
#[test]
fn event_engine_skips_silent_neurons() {
    let network = net(r#"version = 1
name = "sparse"
[simulation]
dt_ms = 0.1
duration_ms = 200.0
[[population]]
name = "src"
size = 100
model = "poisson"
rate_hz = 2.0
[[population]]
name = "n"
size = 5000
model = "lif_delta"
tau_m_ms = 20.0
v_th_mv = 20.0
[[projection]]
source = "src"
target = "n"
connectivity = { rule = "fixed_indegree", indegree = 10 }
weight_mv = 12.0
delay_ms = 1.0
[[record.spikes]]
population = "n"
"#);
    let (_, event) = run(&network, Engine::Event);
    let (_, clock) = run(&network, Engine::Clock);
    let (e, c): (u64, u64) = (
        event.neuron_updates.iter().sum(),
        clock.neuron_updates.iter().sum(),
    );
    assert_eq!(c, 5000 * 2000);
    // Each neuron gets about 10 * 2 Hz * 0.2 s = 4 inputs: about 20,000 updates.
    assert!(e < c / 100, "event {e} vs clock {c}");
    assert_eq!(
        e,
        event.synaptic_events.iter().sum::<u64>().min(e),
        "at most one update per event"
    );
}

/// Active neuron-steps (input event, constant current or spike in the step) equal those
/// counted independently from the spikes of a source and its one-to-one delivery, for each
/// delivery path (records of delta models, folded `lif_exp` inputs, biased neurons), on both
/// engines.
#[test]
fn active_neuron_steps_follow_from_the_spikes() {
    let network = net(r#"version = 1
name = "active"
[simulation]
dt_ms = 0.1
duration_ms = 100.0
seed = 3
[[population]]
name = "src"
size = 40
model = "poisson"
rate_hz = 200.0
[[population]]
name = "delta"
size = 40
model = "lif_delta"
tau_m_ms = 10.0
v_th_mv = 1.0
[[population]]
name = "exp"
size = 40
model = "lif_exp"
tau_m_ms = 10.0
tau_syn_exc_ms = 2.0
tau_syn_inh_ms = 2.0
v_th_mv = 1.0
[[population]]
name = "biased"
size = 5
model = "if"
v_th_mv = 1.0
reset = "subtract"
bias_mv_per_ms = 0.5
[[projection]]
source = "src"
target = "delta"
connectivity = { rule = "one_to_one" }
weight_mv = 0.6
delay_ms = 1.0
[[projection]]
source = "src"
target = "exp"
connectivity = { rule = "one_to_one" }
weight_mv = 3.0
delay_ms = 1.0
[[record.spikes]]
population = "src"
[[record.spikes]]
population = "delta"
[[record.spikes]]
population = "exp"
"#);
    let steps = 1000u32;
    let delay = 10u32;
    for engine in [Engine::Event, Engine::Clock] {
        let (spikes, counts) = run(&network, engine);
        for target in [1u32, 2] {
            let mut active = std::collections::BTreeSet::new();
            for &(t, p, i) in &spikes {
                if p == 0 && t + delay <= steps {
                    active.insert((t + delay, i));
                }
                if p == target {
                    active.insert((t, i));
                }
            }
            let own = spikes.iter().filter(|s| s.1 == target).count();
            assert!(own > 0, "population {target} never spiked");
            assert_eq!(
                counts.active_neuron_steps[target as usize],
                active.len() as u64
            );
        }
        assert_eq!(
            counts.active_neuron_steps[0], 0,
            "sources are not updated neurons"
        );
        assert_eq!(counts.active_neuron_steps[3], 5 * u64::from(steps));
    }
}

/// A reset by subtraction after an input of several thresholds leaves the neuron above
/// threshold: it spikes again in the following steps without input, on both engines.
#[test]
fn subtractive_reset_above_threshold_spikes_again_without_input() {
    for model in ["if", "lif_delta"] {
        let network = net(&format!(
            r#"version = 1
name = "again"
[simulation]
dt_ms = 1.0
duration_ms = 300.0
[[population]]
name = "src"
size = 1
model = "poisson"
rate_hz = 50.0
[[population]]
name = "n"
size = 1
model = "{model}"{tau}
v_th_mv = 1.0
reset = "subtract"
[[projection]]
source = "src"
target = "n"
connectivity = {{ rule = "all_to_all" }}
weight_mv = 3.5
delay_ms = 1.0
[[record.spikes]]
population = "n"
"#,
            tau = if model == "if" {
                ""
            } else {
                "\ntau_m_ms = 1000.0"
            }
        ));
        let spikes = assert_same_spikes(&network);
        let (_, counts) = run(&network, Engine::Clock);
        assert!(
            spikes as u64 >= 3 * counts.spikes[0],
            "{model}: {spikes} spikes"
        );
    }
}
