//! Plasticity: each rule's weight changes against its formula, written here as sums over the
//! spike history (the engine keeps recursive traces), with hand-placed spikes; the same
//! weights for both engines and any thread count; learned weights written and loaded again;
//! located refusals of bad rules.

mod common;

use std::path::{Path, PathBuf};
use synops::network::compiled::Weights;
use synops::{Engine, Simulation};

const DT_MS: f64 = 0.1;
const DELAY_STEPS: u32 = 3;

/// Steps (of the source) at which the plastic source spikes, and at which the forcing source
/// makes the target spike (one step later): pairs at many lags on both sides, an arrival in
/// the same step as a target spike, bursts, and long gaps.
const PRE_STEPS: &[u32] = &[
    20, 95, 99, 100, 104, 180, 300, 302, 450, 451, 498, 900, 1500,
];
const FORCE_STEPS: &[u32] = &[40, 101, 150, 155, 160, 296, 299, 500, 905, 1200, 1203];

/// A folder with the two spike files and a network with `plasticity` (a TOML table body).
fn network_dir(name: &str, plasticity: &str, weight: f64) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synops-plasticity-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = |steps: &[u32]| {
        let rows: Vec<String> = steps
            .iter()
            .map(|s| format!("{:.1},0", f64::from(*s) * DT_MS))
            .collect();
        format!("time_ms,index\n{}\n", rows.join("\n"))
    };
    std::fs::write(dir.join("pre.csv"), csv(PRE_STEPS)).unwrap();
    std::fs::write(dir.join("force.csv"), csv(FORCE_STEPS)).unwrap();
    let text = format!(
        r#"version = 1
name = "pair"
[simulation]
dt_ms = {DT_MS}
duration_ms = 200.0
seed = 1
[[population]]
name = "pre"
size = 1
model = "spike_source"
file = "pre.csv"
[[population]]
name = "force"
size = 1
model = "spike_source"
file = "force.csv"
[[population]]
name = "post"
size = 1
model = "if"
v_th_mv = 10.0
v_reset_mv = 0.0
[[projection]]
name = "plastic"
source = "pre"
target = "post"
connectivity = {{ rule = "all_to_all" }}
weight_mv = {weight}
delay_ms = {delay}
[projection.plasticity]
{plasticity}
[[projection]]
source = "force"
target = "post"
connectivity = {{ rule = "all_to_all" }}
weight_mv = 100.0
delay_ms = 0.1
[[record.spikes]]
population = "post"
"#,
        delay = f64::from(DELAY_STEPS) * DT_MS
    );
    std::fs::write(dir.join("net.toml"), text).unwrap();
    dir
}

/// The rule's parameters, as the formula reads them.
#[derive(Clone, Copy)]
struct Rule {
    a_plus: f64,
    a_minus: f64,
    tau_plus: f64,
    tau_minus: f64,
    w_max: f64,
    multiplicative: bool,
    nearest: bool,
    /// `(a3_plus, a3_minus, tau_x, tau_y)`.
    triplet: Option<(f64, f64, f64, f64)>,
    /// `(mu, w0)` of the power law (Morrison et al. 2007).
    power_law: Option<(f64, f64)>,
}

/// `sum over earlier steps e of exp(-(t - e) dt / tau)` (only the latest with `nearest`).
fn trace(t: u32, earlier: &[u32], tau: f64, nearest: bool) -> f64 {
    let mut terms = earlier
        .iter()
        .map(|&e| (-f64::from(t - e) * DT_MS / tau).exp());
    if nearest {
        terms.next_back().unwrap_or(0.0)
    } else {
        terms.sum()
    }
}

/// The weight after the arrivals (`arrive`) and target spikes (`fire`), by the formula; at
/// equal steps the arrival comes first.
fn expected(rule: Rule, w0: f64, arrive: &[u32], fire: &[u32]) -> f64 {
    let mut events: Vec<(u32, bool)> = arrive.iter().map(|&a| (a, false)).collect();
    events.extend(fire.iter().map(|&p| (p, true)));
    events.sort();
    let mut w = w0;
    for &(t, is_post) in &events {
        if is_post {
            let pre: Vec<u32> = arrive.iter().copied().filter(|&a| a <= t).collect();
            let post: Vec<u32> = fire.iter().copied().filter(|&p| p < t).collect();
            let x = trace(t, &pre, rule.tau_plus, rule.nearest);
            let a = rule.a_plus
                + rule.triplet.map_or(0.0, |(a3, _, _, tau_y)| {
                    a3 * trace(t, &post, tau_y, rule.nearest)
                });
            let up = match rule.power_law {
                Some((mu, w0)) => w0.powf(1.0 - mu) * w.powf(mu),
                None if rule.multiplicative => rule.w_max - w,
                None => rule.w_max,
            };
            w = (w + a * x * up).clamp(0.0, rule.w_max);
        } else {
            let pre: Vec<u32> = arrive.iter().copied().filter(|&a| a < t).collect();
            let post: Vec<u32> = fire.iter().copied().filter(|&p| p < t).collect();
            let y = trace(t, &post, rule.tau_minus, rule.nearest);
            let a = rule.a_minus
                + rule.triplet.map_or(0.0, |(_, a3, tau_x, _)| {
                    a3 * trace(t, &pre, tau_x, rule.nearest)
                });
            let down = if rule.multiplicative || rule.power_law.is_some() {
                w
            } else {
                rule.w_max
            };
            w = (w - a * y * down).clamp(0.0, rule.w_max);
        }
    }
    w
}

/// The rule as a `[projection.plasticity]` body.
fn toml(rule: Rule) -> String {
    let mut s = format!(
        "rule = \"{}\"\nweight_dependence = \"{}\"\npairing = \"{}\"\ntau_plus_ms = {}\ntau_minus_ms = {}\na_plus = {}\na_minus = {}\nw_max = {}\n",
        if rule.triplet.is_some() {
            "triplet"
        } else {
            "stdp"
        },
        if rule.multiplicative {
            "multiplicative"
        } else {
            "additive"
        },
        if rule.nearest {
            "nearest"
        } else {
            "all_to_all"
        },
        rule.tau_plus,
        rule.tau_minus,
        rule.a_plus,
        rule.a_minus,
        rule.w_max
    );
    if let Some((mu, w0)) = rule.power_law {
        s = s.replace("\"additive\"", "\"power_law\"");
        s += &format!("mu = {mu}\nw0 = {w0}\n");
    }
    if let Some((a3p, a3m, tx, ty)) = rule.triplet {
        s += &format!("a3_plus = {a3p}\na3_minus = {a3m}\ntau_x_ms = {tx}\ntau_y_ms = {ty}\n");
    }
    s
}

/// Run the two-neuron network under `rule` and compare the final weight with the formula.
fn check(name: &str, rule: Rule) {
    let w0 = 0.004;
    let dir = network_dir(name, &toml(rule), w0);
    let net = synops::network::compile_file(&dir.join("net.toml"), &Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    for engine in [Engine::Event, Engine::Clock] {
        let mut sim = Simulation::new(&net, engine);
        sim.run(|_| {}).unwrap();
        let fire: Vec<u32> = sim.recorded.spikes.iter().map(|s| s.0).collect();
        let forced: Vec<u32> = FORCE_STEPS.iter().map(|s| s + 1).collect();
        assert_eq!(
            fire, forced,
            "the target spikes one step after each forcing spike"
        );
        let arrive: Vec<u32> = PRE_STEPS.iter().map(|s| s + DELAY_STEPS).collect();
        let Weights::PerSynapseF64(w) = sim.weights(0) else {
            panic!("a plastic projection keeps double-precision weights")
        };
        let want = expected(rule, w0, &arrive, &fire);
        assert!(
            (w[0] - want).abs() <= 1e-12 * rule.w_max,
            "{name} ({engine:?}): {} against the formula's {want}",
            w[0]
        );
        assert!(
            (want - w0).abs() > 1e-4 * rule.w_max,
            "{name}: the weight must change"
        );
        let updates = sim.counts.synaptic_updates[0];
        assert_eq!(updates as usize, PRE_STEPS.len() + FORCE_STEPS.len());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

const PAIR: Rule = Rule {
    a_plus: 0.05,
    a_minus: 0.06,
    tau_plus: 16.8,
    tau_minus: 33.7,
    w_max: 0.01,
    multiplicative: false,
    nearest: false,
    triplet: None,
    power_law: None,
};

#[test]
fn additive_all_to_all_stdp_follows_the_formula() {
    check("additive", PAIR);
}

#[test]
fn multiplicative_stdp_follows_the_formula() {
    check(
        "multiplicative",
        Rule {
            multiplicative: true,
            a_plus: 0.4,
            a_minus: 0.3,
            ..PAIR
        },
    );
}

#[test]
fn nearest_spike_stdp_follows_the_formula() {
    check(
        "nearest",
        Rule {
            nearest: true,
            ..PAIR
        },
    );
}

#[test]
fn power_law_stdp_follows_the_formula() {
    // Morrison et al. (2007): lambda = 0.1, alpha = 0.0578, mu = 0.4, here with w0 = 0.002.
    let power_law = Some((0.4, 0.002));
    check(
        "power_law",
        Rule {
            a_plus: 0.1,
            a_minus: 0.1 * 0.0578,
            power_law,
            ..PAIR
        },
    );
}

#[test]
fn triplet_stdp_follows_the_formula() {
    // Pfister & Gerstner's all-to-all visual-cortex fit, in fractions of w_max.
    let triplet = Some((0.062, 0.0003, 101.0, 125.0));
    check(
        "triplet",
        Rule {
            a_plus: 0.005,
            a_minus: 0.007,
            triplet,
            ..PAIR
        },
    );
}

#[test]
fn weights_hit_the_bounds_and_stay_there() {
    // Large steps: potentiation clips at w_max, depression at 0, as the formula's clamp.
    check(
        "bounds",
        Rule {
            a_plus: 3.0,
            a_minus: 2.0,
            ..PAIR
        },
    );
}

/// `stdp_song` shortened to `ms`.
fn song(ms: f64) -> synops::network::CompiledNetwork {
    let path = common::networks().join("stdp_song.toml");
    let options = synops::network::CompileOptions {
        duration_ms: Some(ms),
        ..Default::default()
    };
    synops::network::compile_file(&path, &options).unwrap()
}

fn final_weights(sim: &Simulation<'_>) -> Vec<u64> {
    match sim.weights(0) {
        Weights::PerSynapseF64(w) => w.iter().map(|x| x.to_bits()).collect(),
        _ => panic!("plastic"),
    }
}

#[test]
fn learned_weights_are_the_same_for_both_engines_and_any_thread_count() {
    let net = song(3000.0);
    let mut seen = None;
    for (engine, threads) in [
        (Engine::Event, 1),
        (Engine::Event, 2),
        (Engine::Clock, 1),
        (Engine::Clock, 2),
    ] {
        let mut sim = Simulation::with_threads(&net, engine, threads);
        sim.run(|_| {}).unwrap();
        let result = (
            final_weights(&sim),
            sim.recorded.spikes.clone(),
            sim.counts.synaptic_updates.clone(),
        );
        assert!(result.2[0] > 0);
        match &seen {
            None => seen = Some(result),
            Some(first) => assert!(first == &result, "{engine:?}, {threads} threads"),
        }
    }
}

#[test]
fn song_weights_become_bimodal() {
    // Song et al.'s network over its 100 s: weights start uniform in [0, w_max]; competition
    // drives them to both ends, so the lowest and the highest tenth of the range become the
    // two fullest of the ten and hold well over their initial fifth of the weights.
    let net = song(100_000.0);
    let mut sim = Simulation::new(&net, Engine::Event);
    sim.run(|_| {}).unwrap();
    let Weights::PerSynapseF64(w) = sim.weights(0) else {
        panic!("plastic")
    };
    let mut tenths = [0usize; 10];
    for &x in w {
        tenths[((x / 0.001) as usize).min(9)] += 1;
    }
    let inner = tenths[1..9].iter().copied().max().unwrap();
    assert!(tenths[0] > inner && tenths[9] > inner, "{tenths:?}");
    let ends = (tenths[0] + tenths[9]) as f64 / w.len() as f64;
    assert!(ends > 0.35, "{tenths:?}");
}

#[test]
fn final_weights_load_back_as_initial_weights() {
    let dir = std::env::temp_dir().join(format!("synops-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let net = song(1000.0);
    let mut sim = Simulation::new(&net, Engine::Event);
    sim.run(|_| {}).unwrap();
    let summary = synops::output::Summary::new(&net, Engine::Event, &sim.counts, 0.0, 0.0);
    let written = synops::output::write_results(&dir, &net, &summary, &sim.recorded).unwrap();
    assert!(
        written.contains(&"weights.safetensors".to_string()),
        "{written:?}"
    );
    assert!(written.contains(&"weights.csv".to_string()), "{written:?}");
    let text = std::fs::read_to_string(common::networks().join("stdp_song.toml")).unwrap();
    let resumed = text.replace(
        "delay_ms = 0.1\n",
        &format!(
            "delay_ms = 0.1\ninitial_weights = {:?}\n",
            dir.join("weights.safetensors")
        ),
    );
    let copy = dir.join("resumed.toml");
    std::fs::write(&copy, resumed).unwrap();
    let again = synops::network::compile_file(&copy, &Default::default()).unwrap();
    let Weights::PerSynapseF64(loaded) = &again.projections[0].weights else {
        panic!("loaded weights are double precision")
    };
    let loaded: Vec<u64> = loaded.iter().map(|x| x.to_bits()).collect();
    assert_eq!(loaded, final_weights(&sim));
    // Another seed draws other synapses' weights but the same all-to-all table: accepted. A
    // projection of another size is refused, naming the field.
    let other = std::fs::read_to_string(&copy)
        .unwrap()
        .replace("size = 1000", "size = 999");
    std::fs::write(&copy, other).unwrap();
    let err = synops::network::compile_file(&copy, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("initial_weights") && err.contains("not this projection's"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn refusal(plasticity: &str, delay: &str) -> String {
    let text = format!(
        r#"version = 1
name = "bad"
[simulation]
dt_ms = 0.1
duration_ms = 10.0
[[population]]
name = "a"
size = 10
model = "poisson"
rate_hz = 10.0
[[population]]
name = "b"
size = 10
model = "lif_delta"
tau_m_ms = 10.0
v_th_mv = 10.0
[[projection]]
source = "a"
target = "b"
connectivity = {{ rule = "all_to_all" }}
weight_mv = 0.5
delay_ms = {delay}
[projection.plasticity]
{plasticity}
"#
    );
    common::compile_text(&text, Path::new("bad.toml"))
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_rules_are_refused_with_the_field_and_the_valid_range() {
    let ok = "rule = \"stdp\"\ntau_plus_ms = 20.0\ntau_minus_ms = 20.0\na_plus = 0.01\na_minus = 0.01\nw_max = 1.0";
    let cases = [
        (
            ok.replace("tau_plus_ms = 20.0", "tau_plus_ms = -1.0"),
            "0.1",
            "plasticity.tau_plus_ms",
        ),
        (
            ok.replace("w_max = 1.0", "w_max = 0.2"),
            "0.1",
            "starts at weight 0.5, outside [w_min, w_max]",
        ),
        (format!("{ok}\nw_min = 2.0"), "0.1", "must be above w_min"),
        (
            format!("{ok}\na3_plus = 0.1"),
            "0.1",
            "belongs to rule = \"triplet\"",
        ),
        (
            ok.replace("\"stdp\"", "\"triplet\""),
            "0.1",
            "is required by rule = \"triplet\"",
        ),
        (
            ok.to_string(),
            "{ uniform = [0.1, 0.5] }",
            "one delay for all its synapses",
        ),
        (
            ok.replace("a_minus = 0.01", "a_minus = 0.01\nlearning_rate = 1.0"),
            "0.1",
            "learning_rate",
        ),
    ];
    for (plasticity, delay, wanted) in cases {
        let err = refusal(&plasticity, delay);
        assert!(
            err.contains("bad.toml") && err.contains(wanted),
            "{wanted}: {err}"
        );
    }
}

#[test]
fn bad_weights_files_are_refused_naming_the_field() {
    let dir = std::env::temp_dir().join(format!("synops-badweights-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(common::networks().join("stdp_song.toml")).unwrap();
    let net_file = dir.join("net.toml");
    std::fs::write(
        &net_file,
        text.replace(
            "delay_ms = 0.1\n",
            "delay_ms = 0.1\ninitial_weights = \"w.safetensors\"\n",
        ),
    )
    .unwrap();
    let compile = || {
        synops::network::compile_file(&net_file, &Default::default())
            .unwrap_err()
            .to_string()
    };
    // Truncated: not a safetensors file.
    std::fs::write(dir.join("w.safetensors"), b"\x10\x00\x00").unwrap();
    let err = compile();
    assert!(
        err.contains("initial_weights") && err.contains("not a safetensors file"),
        "{err}"
    );
    // The right synapses with a NaN weight.
    let csr = synops::network::compiled::Csr::dense(1000, 1);
    let mut weights = vec![0.005; 1000];
    weights[7] = f64::NAN;
    let stored = synops::plasticity::file::StoredWeights {
        weights,
        sources: csr.sources(),
        targets: vec![0; 1000],
    };
    let bytes = synops::plasticity::file::to_bytes(&[("inputs->neuron", stored)]).unwrap();
    std::fs::write(dir.join("w.safetensors"), bytes).unwrap();
    let err = compile();
    assert!(err.contains("synapse 7 has a non-finite weight"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
