//! The neuron models against closed-form solutions, and the time semantics of a step.

mod common;
use common::{net, run};
use synops::{Engine, Simulation};

const DT: f64 = 0.1;

fn single(model_fields: &str, duration_ms: f64, extra: &str) -> String {
    format!(
        r#"version = 1
name = "single"
[simulation]
dt_ms = {DT}
duration_ms = {duration_ms}
[[population]]
name = "n"
size = 1
{model_fields}
[[record.spikes]]
population = "n"
{extra}
"#
    )
}

fn spike_steps(text: &str, engine: Engine) -> Vec<u32> {
    let (spikes, _) = run(&net(text), engine);
    spikes.iter().map(|s| s.0).collect()
}

/// LIF under constant current: first spike at T = tau ln((v_inf - v0)/(v_inf - theta)), then
/// every t_ref + tau ln((v_inf - v_reset)/(v_inf - theta)), observed on the step grid.
#[test]
fn lif_constant_current_first_spike_and_rate_match_the_formula() {
    let (tau, v_th, v_reset, bias, t_ref) = (20.0f64, 20.0f64, 0.0f64, 25.0f64, 2.0f64);
    let fields = format!(
        "model = \"lif_delta\"\ntau_m_ms = {tau}\nv_th_mv = {v_th}\nv_reset_mv = {v_reset}\nt_ref_ms = {t_ref}\nbias_mv = {bias}\nv_init_mv = 0.0"
    );
    let text = single(&fields, 1000.0, "");
    let t_cross = tau * ((bias - v_reset) / (bias - v_th)).ln(); // 32.19 ms
    let first = (t_cross / DT).ceil() as u32;
    let period = (t_ref / DT).round() as u32 + first;
    for engine in [Engine::Event, Engine::Clock] {
        let steps = spike_steps(&text, engine);
        assert_eq!(steps[0], first, "{engine:?}: first spike step");
        for w in steps.windows(2) {
            assert_eq!(w[1] - w[0], period, "{engine:?}: inter-spike interval");
        }
        let rate = steps.len() as f64;
        let analytic = 1000.0 / (t_ref + t_cross);
        // On the step grid each interval is rounded up by less than one step.
        let grid = 1000.0 / (t_ref + t_cross + DT);
        assert!(
            rate <= analytic.floor() + 1.0 && rate >= grid.floor() - 1.0,
            "rate {rate} vs {analytic}"
        );
    }
}

/// Below threshold the potential relaxes exactly to v_rest + bias and never spikes.
#[test]
fn lif_subthreshold_relaxation_is_exact() {
    let fields =
        "model = \"lif_delta\"\ntau_m_ms = 10.0\nv_th_mv = 20.0\nbias_mv = 15.0\nv_init_mv = 0.0";
    let text = single(
        fields,
        50.0,
        "[[record.traces]]\npopulation = \"n\"\nindices = [0]\nevery_steps = 7",
    );
    let network = net(&text);
    let mut sim = Simulation::new(&network, Engine::Event);
    sim.run(|_| {}).unwrap();
    assert!(sim.recorded.spikes.is_empty());
    assert!(sim.recorded.traces.len() > 50);
    for s in &sim.recorded.traces {
        let t = f64::from(s.step) * DT;
        let expected = 15.0 * (1.0 - (-t / 10.0).exp());
        assert!(
            (s.values[0] - expected).abs() < 1e-12,
            "t {t}: {} vs {expected}",
            s.values[0]
        );
    }
}

/// The PSP of lif_exp: one input of weight w at t0 gives
/// v - v_rest = w tau_s/(tau_s - tau_m) (e^-(t-t0)/tau_s - e^-(t-t0)/tau_m).
#[test]
fn lif_exp_psp_has_the_analytic_shape() {
    let (tau_m, tau_s, w) = (20.0f64, 5.0f64, 2.0f64);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), "time_ms,index\n1.0,0\n").unwrap();
    let text = format!(
        r#"version = 1
name = "psp"
[simulation]
dt_ms = {DT}
duration_ms = 100.0
[[population]]
name = "src"
size = 1
model = "spike_source"
file = "in.csv"
[[population]]
name = "n"
size = 1
model = "lif_exp"
tau_m_ms = {tau_m}
tau_syn_exc_ms = {tau_s}
tau_syn_inh_ms = 10.0
v_th_mv = 50.0
[[projection]]
source = "src"
target = "n"
connectivity = {{ rule = "one_to_one" }}
weight_mv = {w}
delay_ms = 0.5
[[record.traces]]
population = "n"
indices = [0]
"#
    );
    let path = dir.path().join("psp.toml");
    let network = common::compile_text(&text, &path).unwrap();
    for engine in [Engine::Event, Engine::Clock] {
        let mut sim = Simulation::new(&network, engine);
        sim.run(|_| {}).unwrap();
        let arrival = 15; // spike at step 10, delay 5 steps
        let mut peak = 0.0f64;
        for s in &sim.recorded.traces {
            let expected = if s.step < arrival {
                0.0
            } else {
                let t = f64::from(s.step - arrival) * DT;
                w * tau_s / (tau_s - tau_m) * ((-t / tau_s).exp() - (-t / tau_m).exp())
            };
            assert!(
                (s.values[0] - expected).abs() < 1e-12,
                "{engine:?} step {}: {} vs {expected}",
                s.step,
                s.values[0]
            );
            if s.step >= arrival {
                let t = f64::from(s.step - arrival) * DT;
                assert!((s.values[1] - w * (-t / tau_s).exp()).abs() < 1e-12);
            }
            peak = peak.max(s.values[0]);
        }
        // Peak at t* = ln(tau_m/tau_s) tau_m tau_s / (tau_m - tau_s) = 9.24 ms.
        let t_peak = (tau_m / tau_s).ln() * tau_m * tau_s / (tau_m - tau_s);
        let v_peak =
            w * tau_s / (tau_s - tau_m) * ((-t_peak / tau_s).exp() - (-t_peak / tau_m).exp());
        assert!((peak - v_peak).abs() < 1e-4, "peak {peak} vs {v_peak}");
    }
}

/// IF with bias b and reset by subtraction fires exactly every theta/b, keeping the overshoot.
#[test]
fn if_with_bias_fires_periodically() {
    let fields = "model = \"if\"\nv_th_mv = 1.0\nreset = \"subtract\"\nbias_mv_per_ms = 0.25";
    let text = single(fields, 100.0, "");
    for engine in [Engine::Event, Engine::Clock] {
        let steps = spike_steps(&text, engine);
        // v(t) = 0.25 t reaches 1 mV at 4 ms = step 40, then every 40 steps.
        let expected: Vec<u32> = (1..=25).map(|k| 40 * k).collect();
        assert_eq!(steps, expected, "{engine:?}");
    }
}

/// Inputs of one step are summed before the threshold check, and a spike emitted at step t
/// arrives at t + delay.
#[test]
fn inputs_of_a_step_are_summed_and_spikes_arrive_after_their_delay() {
    let dir = tempfile::tempdir().unwrap();
    // Two sources spike together at 2.0 ms; a third alone at 5.0 ms.
    std::fs::write(
        dir.path().join("in.csv"),
        "time_ms,index\n2.0,0\n2.0,1\n5.0,2\n",
    )
    .unwrap();
    let text = r#"version = 1
name = "sum"
[simulation]
dt_ms = 0.1
duration_ms = 20.0
[[population]]
name = "src"
size = 3
model = "spike_source"
file = "in.csv"
[[population]]
name = "n"
size = 1
model = "lif_delta"
tau_m_ms = 10.0
v_th_mv = 10.0
t_ref_ms = 1.0
[[projection]]
source = "src"
target = "n"
connectivity = { rule = "all_to_all" }
weight_mv = 6.0
delay_ms = 1.3
[[record.spikes]]
population = "n"
"#;
    let network = common::compile_text(text, &dir.path().join("sum.toml")).unwrap();
    for engine in [Engine::Event, Engine::Clock] {
        let (spikes, counts) = run(&network, engine);
        // 6 + 6 mV in the same step reach 10 mV: spike at step 20 + 13. The lone input at step
        // 63 gives only 6 mV.
        assert_eq!(spikes, vec![(33, 1, 0)], "{engine:?}");
        assert_eq!(counts.synaptic_events, vec![3]);
    }
}

/// Inputs arriving during the refractory period do not change a delta neuron's potential.
#[test]
fn refractory_neurons_drop_delta_input() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), "time_ms,index\n1.0,0\n1.5,0\n").unwrap();
    let text = r#"version = 1
name = "ref"
[simulation]
dt_ms = 0.1
duration_ms = 10.0
[[population]]
name = "src"
size = 1
model = "spike_source"
file = "in.csv"
[[population]]
name = "n"
size = 1
model = "if"
v_th_mv = 1.0
t_ref_ms = 1.0
[[projection]]
source = "src"
target = "n"
connectivity = { rule = "one_to_one" }
weight_mv = 1.5
delay_ms = 0.1
[[record.spikes]]
population = "n"
[[record.traces]]
population = "n"
indices = [0]
every_steps = 1
"#;
    let network = common::compile_text(text, &dir.path().join("ref.toml")).unwrap();
    let mut sim = Simulation::new(&network, Engine::Event);
    sim.run(|_| {}).unwrap();
    // First input at step 11 spikes; the second (step 16) falls in the refractory steps 12..=21.
    assert_eq!(sim.recorded.spikes, vec![(11, 1, 0)]);
    assert!(
        sim.recorded
            .traces
            .iter()
            .all(|s| s.step < 11 || s.values[0] == 0.0)
    );
}

/// Uniform numbers in `[lo, hi)` from a xorshift generator (test states, not simulation).
fn uniform_sampler(seed: u64) -> impl FnMut(f64, f64) -> f64 {
    let mut x = seed;
    move |lo, hi| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        lo + (hi - lo) * ((x >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// A spiking `lif_exp` neuron with threshold -50 mV, reset -60 mV, no refractory period.
fn lif_exp_params(
    tau_m: f64,
    tau_exc: f64,
    tau_inh: f64,
    v_rest: f64,
) -> synops::neuron::NeuronParams {
    synops::neuron::NeuronParams {
        model: synops::neuron::Model::LifExp,
        tau_m_ms: tau_m,
        tau_exc_ms: tau_exc,
        tau_inh_ms: tau_inh,
        v_rest_mv: v_rest,
        v_th_mv: -50.0,
        v_reset_mv: -60.0,
        ref_steps: 0,
        reset: synops::network::spec::ResetSpec::Value,
        spiking: true,
    }
}

/// The event engine's crossing prediction is a lower bound of the first step at which the
/// closed-form potential reaches threshold, for every kind of `lif_exp` kernel (synaptic time
/// constants below, above and equal to the membrane's) and state: checked against a step-by-step
/// scan of the same closed form.
#[test]
fn lif_exp_crossing_prediction_never_skips_a_crossing() {
    use synops::neuron::{Anchor, Dynamics};
    let mut uniform = uniform_sampler(0x9e37_79b9_7f4a_7c15);
    let (mut cases, mut crossing, mut tight) = (0usize, 0usize, 0usize);
    for (tau_m, tau_exc, tau_inh, v_rest) in [
        (20.0, 5.0, 10.0, -49.0),
        (20.0, 5.0, 10.0, -65.0),
        (10.0, 30.0, 2.0, -60.0),
        (10.0, 10.0, 10.0, -52.0),
        (5.0, 5.0, 40.0, -45.0),
    ] {
        let params = lif_exp_params(tau_m, tau_exc, tau_inh, v_rest);
        let dynamics = Dynamics::new(params, 0.1);
        for _ in 0..1500 {
            let anchor = Anchor {
                v: uniform(-70.0, -50.0),
                i_exc: uniform(0.0, 30.0),
                i_inh: uniform(-40.0, 0.0),
                step: 0,
                ref_end: 0,
                bias: uniform(-2.0, 2.0),
            };
            if anchor.v >= -50.0 {
                continue;
            }
            let first = (1..8_000u32).find(|&k| dynamics.evaluate(&anchor, k).v >= -50.0);
            let predicted =
                dynamics.crossing_after(anchor.v, anchor.i_exc, anchor.i_inh, anchor.bias, 0);
            cases += 1;
            match (first, predicted) {
                (Some(k), Some(p)) => {
                    assert!(
                        p <= k,
                        "{params:?} {anchor:?}: predicted {p}, crosses at {k}"
                    );
                    crossing += 1;
                    tight += usize::from(4 * p >= k);
                }
                (Some(k), None) => panic!("{params:?} {anchor:?}: crosses at {k}, none predicted"),
                (None, _) => {}
            }
        }
    }
    // The bound is useful, not only safe: most predictions are within a factor of 4 of the
    // crossing (the windows grow by a factor of 3).
    assert!(cases > 5_000 && crossing > 1_500, "{cases} {crossing}");
    assert!(
        2 * tight > crossing,
        "{tight} of {crossing} within a factor of 4"
    );
}

/// The headroom of a prediction is sound: an input whose largest possible rise fits in the
/// headroom cannot make the neuron cross before the predicted check.
#[test]
fn inputs_within_the_headroom_cannot_cross_before_the_predicted_check() {
    use synops::neuron::{Anchor, Dynamics};
    let mut uniform = uniform_sampler(0x2545_f491_4f6c_dd1d);
    let mut used = 0;
    for (tau_m, tau_exc, tau_inh, v_rest) in [
        (20.0, 5.0, 10.0, -49.0),
        (20.0, 5.0, 10.0, -60.0),
        (10.0, 30.0, 2.0, -55.0),
        (10.0, 10.0, 10.0, -52.0),
    ] {
        let params = lif_exp_params(tau_m, tau_exc, tau_inh, v_rest);
        let dynamics = Dynamics::new(params, 0.1);
        let unit_rise = dynamics.max_rise(1.0, 0.0);
        for _ in 0..1500 {
            let anchor = Anchor {
                v: uniform(-70.0, -50.5),
                i_exc: uniform(0.0, 10.0),
                i_inh: uniform(-20.0, 0.0),
                step: 0,
                ref_end: 0,
                bias: 0.0,
            };
            let prediction = dynamics.predict(&anchor, 0);
            if prediction.headroom <= 0.0 {
                continue;
            }
            // The largest excitatory input the headroom admits, arriving at step 0.
            let bumped = Anchor {
                i_exc: anchor.i_exc + prediction.headroom / unit_rise,
                ..anchor
            };
            let until = prediction.next.unwrap_or(6000).min(6000);
            let first = (1..until).find(|&k| dynamics.evaluate(&bumped, k).v >= -50.0);
            assert_eq!(first, None, "{params:?} {anchor:?} {prediction:?}");
            used += 1;
        }
    }
    assert!(used > 1000, "{used} states with headroom");
}

/// The rise an input can cause before the pending check ([`Dynamics::max_rise_before`]) is an
/// upper bound: the largest input the headroom then admits, arriving at any step before the
/// check, leaves the potential below threshold at every step before it. For both receptors and
/// every kind of kernel; the admitted inputs are large when the check is near.
///
/// [`Dynamics::max_rise_before`]: synops::neuron::Dynamics::max_rise_before
#[test]
fn inputs_within_the_headroom_before_the_check_cannot_cross_before_it() {
    use synops::neuron::{Anchor, Dynamics};
    let mut uniform = uniform_sampler(0x9e37_79b9_7f4a_7c15);
    let (mut used, mut near, mut within_3) = (0, 0, 0);
    for (tau_m, tau_exc, tau_inh, v_rest) in [
        (20.0, 5.0, 10.0, -49.0),
        (10.0, 30.0, 2.0, -55.0),
        (10.0, 10.0, 10.0, -49.5),
    ] {
        let params = lif_exp_params(tau_m, tau_exc, tau_inh, v_rest);
        let dynamics = Dynamics::new(params, 0.1);
        for _ in 0..3000 {
            // Half the states just below threshold, where the check is a few steps away.
            let v = if uniform(0.0, 1.0) < 0.5 {
                uniform(-60.0, -50.5)
            } else {
                uniform(-50.2, -50.0)
            };
            let anchor = Anchor {
                v,
                i_exc: uniform(0.0, 6.0),
                i_inh: uniform(-10.0, 0.0),
                step: 0,
                ref_end: 0,
                bias: 0.0,
            };
            let prediction = dynamics.predict(&anchor, 0);
            let Some(check) = prediction.next.filter(|_| prediction.headroom > 0.0) else {
                continue;
            };
            within_3 += usize::from(check <= 3);
            let arrival = uniform(0.0, f64::from(check)) as u32;
            let inh = uniform(0.0, 1.0) < 0.5;
            let unit_rise = if inh {
                dynamics.max_rise_before::<1>(1.0, check - arrival)
            } else {
                dynamics.max_rise_before::<0>(1.0, check - arrival)
            };
            assert!(unit_rise <= dynamics.max_rise(1.0, 0.0).max(dynamics.max_rise(0.0, 1.0)));
            // No rise at all before the check (the check is at the next step): any input.
            let w = if unit_rise > 0.0 {
                prediction.headroom / unit_rise
            } else {
                1e3
            };
            near += usize::from(w > 10.0 * prediction.headroom / dynamics.max_rise(1.0, 1.0));
            let mut bumped = anchor;
            if inh {
                dynamics.fold_input::<1>(&mut bumped, arrival, w);
            } else {
                dynamics.fold_input::<0>(&mut bumped, arrival, w);
            }
            let first = (arrival..check).find(|&k| dynamics.evaluate(&bumped, k).v >= -50.0);
            assert_eq!(
                first, None,
                "{params:?} {anchor:?} {prediction:?}, input {w} at {arrival}"
            );
            used += 1;
        }
    }
    assert!(
        used > 2000 && near > 100 && within_3 > 100,
        "{used} states with headroom, {near} near checks, {within_3} within 3 steps"
    );
}

#[test]
fn folded_inputs_give_the_trajectory_of_inputs_added_at_their_step() {
    // Folding an input into the anchor (no evaluation) and adding it to the state evaluated at
    // its step describe the same trajectory: compare both at later steps, for random states,
    // both receptors, inputs during and after refractoriness, and gaps beyond the fold reach
    // (where the anchor moves). The degenerate kernel (tau_syn == tau_m) is included.
    use synops::neuron::{Anchor, Dynamics};
    let mut uniform = uniform_sampler(11);
    for (tau_m, tau_exc, tau_inh) in [(20.0, 5.0, 10.0), (10.0, 0.5, 30.0), (15.0, 15.0, 3.0)] {
        let mut params = lif_exp_params(tau_m, tau_exc, tau_inh, -49.0);
        params.ref_steps = 20;
        let dynamics = Dynamics::new(params, 0.1);
        let reach = dynamics.fold_reach();
        assert!(
            reach > 1,
            "inputs can be folded at all ({tau_m}, {tau_exc})"
        );
        for _ in 0..2000 {
            let start = Anchor {
                v: uniform(-65.0, -45.0),
                i_exc: uniform(0.0, 20.0),
                i_inh: uniform(-20.0, 0.0),
                step: 100,
                ref_end: if uniform(0.0, 1.0) < 0.3 { 110 } else { 0 },
                bias: uniform(-2.0, 2.0),
            };
            let (mut folded, mut added) = (start, start);
            let mut t = start.step;
            for _ in 0..4 {
                t += uniform(0.0, 1.3 * f64::from(reach)) as u32;
                let w = uniform(0.0, 5.0);
                let receptor_inh = uniform(0.0, 1.0) < 0.5;
                if receptor_inh {
                    dynamics.fold_input::<1>(&mut folded, t, -w);
                } else {
                    dynamics.fold_input::<0>(&mut folded, t, w);
                }
                let e = dynamics.evaluate(&added, t);
                let v = if t <= added.ref_end { added.v } else { e.v };
                added = Anchor {
                    v,
                    i_exc: e.i_exc + if receptor_inh { 0.0 } else { w },
                    i_inh: e.i_inh - if receptor_inh { w } else { 0.0 },
                    step: t,
                    ..added
                };
                for later in [t, t + 1, t + 7, t + 60, t + 400] {
                    let (a, b) = (
                        dynamics.evaluate(&folded, later),
                        dynamics.evaluate(&added, later),
                    );
                    for (x, y, what) in [
                        (a.v, b.v, "v"),
                        (a.i_exc, b.i_exc, "i_exc"),
                        (a.i_inh, b.i_inh, "i_inh"),
                    ] {
                        assert!(
                            (x - y).abs() <= 1e-10 * (1.0 + y.abs()),
                            "{what} at step {later}: folded {x}, added {y} ({tau_m}, {tau_exc}, {tau_inh})"
                        );
                    }
                }
            }
        }
    }
}
