//! A state that leaves its bound (or stops being finite) stops the run with a named error, on
//! both engines, and the command line writes nothing.

mod common;
use common::net;
use std::process::Command;
use synops::{Engine, Simulation};

/// Ten Poisson sources at 2 kHz into three neurons of `model` with weight `weight_mv`.
fn network(model: &str, weight_mv: f64) -> String {
    let params = match model {
        "if" => "v_th_mv = 10.0",
        "lif_delta" => "tau_m_ms = 10.0\nv_th_mv = 10.0",
        _ => "tau_m_ms = 10.0\ntau_syn_exc_ms = 2.0\ntau_syn_inh_ms = 5.0\nv_th_mv = 10.0",
    };
    format!(
        r#"
version = 1
name = "runaway"
[simulation]
dt_ms = 0.1
duration_ms = 50.0
seed = 3
[[population]]
name = "noise"
size = 10
model = "poisson"
rate_hz = 2000.0
[[population]]
name = "n"
size = 3
model = "{model}"
{params}
[[projection]]
source = "noise"
target = "n"
connectivity = {{ rule = "all_to_all" }}
weight_mv = {weight_mv:e}
delay_ms = 0.1
[[record.traces]]
population = "n"
indices = [0]
every_steps = 1
"#
    )
}

fn run(text: &str, engine: Engine) -> Result<(), synops::sim::Runaway> {
    let net = net(text);
    let mut sim = Simulation::new(&net, engine);
    sim.run(|_| {})
}

#[test]
fn weights_beyond_the_state_bound_are_refused_when_built() {
    for model in ["if", "lif_delta", "lif_exp"] {
        let text = network(model, -1e308);
        let err = common::compile_text(&text, std::path::Path::new("w.toml")).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("w.toml"), "{message}");
        assert!(message.contains("weight_mv"), "{message}");
        // v_th = 10 mV: the bound is 1e12 x 10 mV.
        assert!(message.contains("±1e13 mV"), "{message}");
    }
}

/// Inputs within the bound that add up beyond it in a few steps (v_th = 10 mV: bound 1e13 mV).
const LARGE: f64 = 9e12;

#[test]
fn inputs_adding_up_beyond_the_bound_stop_both_engines_at_the_same_neuron_and_step() {
    // Delta models with a value reset take any excitatory input by spiking: only inhibitory
    // inputs run away. lif_exp currents run away with either sign.
    let cases = [
        ("if", -LARGE),
        ("lif_delta", -LARGE),
        ("lif_exp", LARGE),
        ("lif_exp", -LARGE),
    ];
    for (model, weight) in cases {
        let text = network(model, weight);
        let event = run(&text, Engine::Event).expect_err("the event engine stops");
        let clock = run(&text, Engine::Clock).expect_err("the clock engine stops");
        assert_eq!(event.population, "n", "{model} {weight:e}");
        assert_eq!(
            (event.neuron, event.step),
            (clock.neuron, clock.step),
            "{model} {weight:e}: both engines stop at the same neuron and step"
        );
        assert!(event.step < 20, "{model} {weight:e}: step {}", event.step);
        let message = event.to_string();
        assert!(message.contains("population \"n\""), "{message}");
        assert!(message.contains("ran away"), "{message}");
        assert!(
            message.contains(&format!("step {}", event.step)),
            "{message}"
        );
    }
}

#[test]
fn a_huge_input_that_fires_a_value_reset_neuron_is_no_runaway() {
    for engine in [Engine::Event, Engine::Clock] {
        run(&network("lif_delta", LARGE), engine).expect("the neuron spikes and resets");
    }
}

#[test]
fn ordinary_weights_run_to_the_end() {
    for model in ["if", "lif_delta", "lif_exp"] {
        for engine in [Engine::Event, Engine::Clock] {
            run(&network(model, 0.5), engine).expect("an ordinary network runs");
            run(&network(model, -0.5), engine).expect("an ordinary network runs");
        }
    }
}

#[test]
fn threads_stop_at_the_same_neuron_and_step() {
    let net = net(&network("lif_exp", -LARGE));
    let mut one = Simulation::with_threads(&net, Engine::Event, 1);
    let mut two = Simulation::with_threads(&net, Engine::Event, 2);
    assert_eq!(one.run(|_| {}).unwrap_err(), two.run(|_| {}).unwrap_err());
}

#[test]
fn the_command_line_refuses_with_code_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("runaway.toml");
    std::fs::write(&file, network("lif_exp", LARGE)).unwrap();
    let out = dir.path().join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_synops"))
        .args(["run", file.to_str().unwrap(), "--quiet", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("runaway.toml"), "{stderr}");
    assert!(stderr.contains("ran away"), "{stderr}");
    assert!(stderr.contains("neuron"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one message: {stderr}");
    assert!(!out.exists(), "nothing written");
}

/// Synaptic time constants of two steps, close to the membrane's: inputs folded into an anchor
/// many steps old carry factors of e^20 and more, while the state they stand for stays small.
const FAST_CURRENTS: &str = r#"
version = 1
name = "fold_growth"
[simulation]
dt_ms = 0.1
duration_ms = 20.0
seed = 3
[[population]]
name = "src"
size = 40
model = "poisson"
rate_hz = 2000.0
[[population]]
name = "n"
size = 5
model = "lif_exp"
tau_m_ms = 0.2222
tau_syn_exc_ms = 0.2
tau_syn_inh_ms = 0.2
v_th_mv = 1.0
bias_mv = 1.3
[[projection]]
source = "src"
target = "n"
connectivity = { rule = "all_to_all" }
weight_mv = -4000.0
receptor = "inh"
delay_ms = 0.1
[[record.traces]]
population = "n"
indices = [0]
"#;

#[test]
fn large_fold_factors_of_a_small_state_are_not_a_runaway() {
    // The folded anchor's terms reach ~1e13 while the potential stays within ~1e5 mV: before
    // the bound grew with the fold factors, this stopped at step 29 as a runaway.
    let net = net(FAST_CURRENTS);
    let mut runs = Vec::new();
    for engine in [Engine::Event, Engine::Clock] {
        let mut sim = Simulation::new(&net, engine);
        sim.run(|_| {})
            .unwrap_or_else(|e| panic!("{engine:?}: {e}"));
        let v: Vec<f64> = (0..5).map(|i| sim.state(1, i).unwrap().v).collect();
        assert!(v.iter().all(|v| v.abs() < 1e6), "{v:?}");
        runs.push((v, sim.counts.neuron_updates.clone()));
    }
    assert_eq!(runs[0].0, runs[1].0, "both engines, the same potentials");
}
