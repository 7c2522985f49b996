//! The clocked models against independent references: `lif_cond_exp` and `adex` against an
//! adaptive Runge–Kutta (Dormand–Prince 5(4)) solution at 1e-10 tolerance computed here,
//! `izhikevich` against Brian2's spike times for Izhikevich's (2003) firing patterns
//! (`tests/reference/izhikevich_brian2.py`), and both engines and thread counts against each
//! other on a conductance-based network.

mod common;

use common::{compile_text, net, run};
use std::path::Path;
use synops::Engine;
use synops::model::{ClockedModel, MAX_VARIABLES, adex, izhikevich, lif_cond_exp};

/// One adaptive Dormand–Prince 5(4) integration of `f` from 0 to `h`, with relative and
/// absolute tolerance `tol` on every component.
fn dormand_prince<const N: usize>(
    f: &dyn Fn(&[f64; N]) -> [f64; N],
    mut y: [f64; N],
    h_total: f64,
    tol: f64,
) -> [f64; N] {
    const C: [[f64; 6]; 6] = [
        [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
        [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
        [
            19372.0 / 6561.0,
            -25360.0 / 2187.0,
            64448.0 / 6561.0,
            -212.0 / 729.0,
            0.0,
            0.0,
        ],
        [
            9017.0 / 3168.0,
            -355.0 / 33.0,
            46732.0 / 5247.0,
            49.0 / 176.0,
            -5103.0 / 18656.0,
            0.0,
        ],
        [
            35.0 / 384.0,
            0.0,
            500.0 / 1113.0,
            125.0 / 192.0,
            -2187.0 / 6784.0,
            11.0 / 84.0,
        ],
    ];
    const E: [f64; 7] = [
        71.0 / 57600.0,
        0.0,
        -71.0 / 16695.0,
        71.0 / 1920.0,
        -17253.0 / 339200.0,
        22.0 / 525.0,
        -1.0 / 40.0,
    ];
    let (mut t, mut h) = (0.0, h_total / 4.0);
    while t < h_total {
        h = h.min(h_total - t);
        let mut k = [[0.0; N]; 7];
        k[0] = f(&y);
        for s in 0..6 {
            let mut ys = y;
            for (n, y) in ys.iter_mut().enumerate() {
                *y += h * (0..=s).map(|j| C[s][j] * k[j][n]).sum::<f64>();
            }
            k[s + 1] = f(&ys);
        }
        let mut y5 = y;
        for (n, y) in y5.iter_mut().enumerate() {
            *y += h * (0..6).map(|j| C[5][j] * k[j][n]).sum::<f64>();
        }
        let error = (0..N)
            .map(|n| {
                let e = h * (0..7).map(|j| E[j] * k[j][n]).sum::<f64>();
                (e / (tol * (1.0 + y[n].abs().max(y5[n].abs())))).abs()
            })
            .fold(0.0, f64::max);
        if error <= 1.0 {
            t += h;
            y = y5;
        }
        h *= (0.9 * error.max(1e-10).powf(-0.2)).clamp(0.2, 5.0);
    }
    y
}

/// A deterministic pseudo-random stream in [0, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn cond_params(method: &str, spiking: bool) -> lif_cond_exp::Params {
    toml::from_str(&format!(
        r#"
        tau_m_ms = 20.0
        g_leak_ns = 10.0
        v_rest_mv = -60.0
        v_th_mv = -50.0
        v_reset_mv = -60.0
        t_ref_ms = 5.0
        e_exc_mv = 0.0
        e_inh_mv = -80.0
        tau_syn_exc_ms = 5.0
        tau_syn_inh_ms = 10.0
        bias_pa = 150.0
        method = "{method}"
        spiking = {spiking}
        "#
    ))
    .unwrap()
}

/// COBA-like input: excitatory jumps of 6 nS with probability 0.13 per step, inhibitory
/// jumps of `w_inh` nS with probability `p_inh` (mean conductances about 40 nS and, for
/// `p_inh` = 0.03 and 67 nS, 200 nS).
fn cond_inputs(steps: u32, p_inh: f64, w_inh: f64) -> Vec<(f64, f64)> {
    let mut rng = Lcg(7);
    (0..=steps)
        .map(|_| {
            let e = if rng.next() < 0.13 { 6.0 } else { 0.0 };
            let i = if rng.next() < p_inh { w_inh } else { 0.0 };
            (e, i)
        })
        .collect()
}

/// The largest difference of the potential from the reference over 1 s at dt = 0.1 ms, and
/// the spike steps of both.
fn cond_against_reference(method: &str, spiking: bool) -> (f64, Vec<u32>, Vec<u32>) {
    // Spiking: less inhibition, so that the neuron fires.
    let inputs = cond_inputs(10_000, if spiking { 0.005 } else { 0.03 }, 67.0);
    cond_against_reference_with(method, spiking, &inputs)
}

/// [`cond_against_reference`] under `inputs` (one pair per step from step 0).
fn cond_against_reference_with(
    method: &str,
    spiking: bool,
    inputs: &[(f64, f64)],
) -> (f64, Vec<u32>, Vec<u32>) {
    let dt = 0.1;
    let steps = inputs.len() as u32 - 1;
    let model = lif_cond_exp::LifCondExp::new(cond_params(method, spiking), dt).unwrap();
    let mut state = model.initial(-55.0);
    // The reference: all three variables integrated as ODEs, jumps at step boundaries.
    let (gl, c) = (10.0, 200.0);
    let f = |y: &[f64; 3]| {
        let (v, ge, gi) = (y[0], y[1], y[2]);
        [
            (gl * (-60.0 - v) + ge * (0.0 - v) + gi * (-80.0 - v) + 150.0) / c,
            -ge / 5.0,
            -gi / 10.0,
        ]
    };
    let mut reference = [-55.0, 0.0, 0.0];
    let mut ref_end = 0;
    let (mut worst, mut spikes, mut ref_spikes) = (0.0f64, Vec::new(), Vec::new());
    for t in 1..=steps {
        let (e, i) = inputs[t as usize];
        if model.update(&mut state, t, e, i) {
            spikes.push(t);
        }
        let refractory = t <= ref_end;
        let held = reference[0];
        reference = dormand_prince(&f, reference, dt, 1e-10);
        if refractory {
            reference[0] = held;
        }
        reference[1] += e;
        reference[2] += i;
        if spiking && !refractory && reference[0] >= -50.0 {
            reference[0] = -60.0;
            ref_end = t + 50;
            ref_spikes.push(t);
        }
        let mut values = [0.0; MAX_VARIABLES];
        model.values(&state, &mut values);
        worst = worst.max((values[0] - reference[0]).abs());
        if method != "euler" {
            assert!((values[1] - reference[1]).abs() < 1e-8 * reference[1].max(1.0));
            assert!((values[2] - reference[2]).abs() < 1e-8 * reference[2].max(1.0));
        }
    }
    (worst, spikes, ref_spikes)
}

#[test]
fn lif_cond_exp_stays_within_1e_6_mv_of_the_reference_over_one_second() {
    let (worst, _, _) = cond_against_reference("integrating_factor", false);
    println!("lif_cond_exp integrating_factor: largest error {worst:e} mV");
    assert!(worst < 1e-6, "largest error {worst} mV");
}

#[test]
fn lif_cond_exp_stays_within_1e_6_mv_of_the_reference_under_strong_conductances() {
    // Inhibitory jumps of 670 nS: the inhibitory conductance reaches about 2,000 nS, beyond
    // the bound of the one-exponential step, so many steps take the full step.
    let inputs = cond_inputs(10_000, 0.03, 670.0);
    let (worst, _, _) = cond_against_reference_with("integrating_factor", false, &inputs);
    println!("lif_cond_exp integrating_factor, strong: largest error {worst:e} mV");
    assert!(worst < 1e-6, "largest error {worst} mV");
}

#[test]
fn lif_cond_exp_spikes_at_the_reference_steps() {
    let (worst, spikes, reference) = cond_against_reference("integrating_factor", true);
    assert!(
        spikes.len() > 20,
        "{} spikes: the drive should fire it",
        spikes.len()
    );
    assert_eq!(spikes, reference);
    assert!(worst < 1e-6, "largest error {worst} mV");
}

#[test]
fn lif_cond_exp_rk4_and_euler_are_less_accurate() {
    let (exact, _, _) = cond_against_reference("integrating_factor", false);
    let (euler, _, _) = cond_against_reference("euler", false);
    let (rk4, _, _) = cond_against_reference("rk4", false);
    println!(
        "lif_cond_exp: largest error euler {euler:e} mV, rk4 {rk4:e}, integrating factor {exact:e}"
    );
    assert!(
        euler > 1e-3 && euler > 1e2 * rk4 && rk4 > 10.0 * exact,
        "{euler} {rk4} {exact}"
    );
}

fn adex_params(method: &str) -> adex::Params {
    // Tonic spiking (Naud et al. 2008), as in Brian2's AdEx example.
    toml::from_str(&format!(
        r#"
        c_m_pf = 200.0
        g_leak_ns = 10.0
        v_rest_mv = -70.0
        v_t_mv = -50.0
        delta_t_mv = 2.0
        v_reset_mv = -58.0
        a_ns = 2.0
        b_pa = 0.0
        tau_w_ms = 30.0
        bias_pa = 180.0
        method = "{method}"
        "#
    ))
    .unwrap()
}

#[test]
fn adex_rk4_stays_within_1e_6_mv_of_the_reference_below_threshold() {
    // 180 pA keeps the neuron below the exponential's runaway: the potential settles near
    // -52 mV with the adaptation current, through the exponential term's steep part.
    let dt = 0.1;
    let model = adex::Adex::new(adex_params("rk4"), dt).unwrap();
    let mut state = model.initial(-70.0);
    let f = |y: &[f64; 2]| {
        let (v, w) = (y[0], y[1]);
        let spike = 2.0 * ((v - -50.0) / 2.0).exp();
        [
            (10.0 * (spike - (v + 70.0)) - w + 180.0) / 200.0,
            (2.0 * (v + 70.0) - w) / 30.0,
        ]
    };
    let mut reference = [-70.0, 0.0];
    let mut worst = 0.0f64;
    let mut lowest_gap = f64::MAX;
    for t in 1..=10_000 {
        assert!(!model.update(&mut state, t, 0.0, 0.0), "spiked at step {t}");
        reference = dormand_prince(&f, reference, dt, 1e-10);
        let mut values = [0.0; MAX_VARIABLES];
        model.values(&state, &mut values);
        worst = worst.max((values[0] - reference[0]).abs());
        lowest_gap = lowest_gap.min(-50.0 - reference[0]);
        assert!((values[1] - reference[1]).abs() < 1e-6);
    }
    println!("adex rk4: largest error {worst:e} mV, closest to v_t {lowest_gap} mV");
    assert!(
        lowest_gap < 5.0,
        "the test should reach the exponential's range"
    );
    assert!(worst < 1e-6, "largest error {worst} mV");
}

/// Izhikevich's (2003) Fig. 2 patterns: name, a, b, c, d.
const PATTERNS: [(&str, f64, f64, f64, f64); 5] = [
    ("regular_spiking", 0.02, 0.2, -65.0, 8.0),
    ("intrinsically_bursting", 0.02, 0.2, -55.0, 4.0),
    ("chattering", 0.02, 0.2, -50.0, 2.0),
    ("fast_spiking", 0.1, 0.2, -65.0, 2.0),
    ("low_threshold_spiking", 0.02, 0.25, -65.0, 2.0),
];

fn izhikevich_network() -> String {
    let mut text = String::from(
        "version = 1\nname = \"patterns\"\n[simulation]\ndt_ms = 0.1\nduration_ms = 500.0\n",
    );
    for (name, a, b, c, d) in PATTERNS {
        text += &format!(
            "[[population]]\nname = \"{name}\"\nsize = 1\nmodel = \"izhikevich\"\n\
             a = {a}\nb = {b}\nc = {c}\nd = {d}\nbias_mv_per_ms = 10.0\nv_init_mv = -65.0\n\
             [[record.spikes]]\npopulation = \"{name}\"\n"
        );
    }
    text
}

#[test]
fn izhikevich_reproduces_brian2s_firing_patterns_within_one_step() {
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("reference/izhikevich_brian2.json")).unwrap();
    let network = net(&izhikevich_network());
    let (event, _) = run(&network, Engine::Event);
    let (clock, _) = run(&network, Engine::Clock);
    assert_eq!(event, clock);
    for (k, (name, ..)) in PATTERNS.iter().enumerate() {
        let ours: Vec<f64> = event
            .iter()
            .filter(|s| s.1 == k as u32)
            .map(|s| f64::from(s.0) * 0.1)
            .collect();
        let theirs: Vec<f64> = reference[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_f64().unwrap())
            .collect();
        assert_eq!(ours.len(), theirs.len(), "{name}: {ours:?} vs {theirs:?}");
        for (a, b) in ours.iter().zip(&theirs) {
            // Brian2 labels a spike with the start of the step whose update crossed, synops
            // with its end (the step at which the state is reached): the same crossing is
            // labelled one step later here.
            // With the same arithmetic, every spike falls on the same step (within one step
            // is what the comparison allows).
            let ours_in_brian2s_label = a - 0.1;
            assert!(
                (ours_in_brian2s_label - b).abs() < 1e-6,
                "{name}: {a} vs {b}"
            );
        }
    }
}

/// The shipped COBA network, 100 ms of it.
fn small_coba() -> String {
    let text = std::fs::read_to_string(common::networks().join("coba.toml")).unwrap();
    text.replace("duration_ms = 1000.0", "duration_ms = 100.0")
}

#[test]
fn coba_gives_the_same_spikes_on_both_engines_and_any_thread_count() {
    let network = net(&small_coba());
    let (event, counts) = run(&network, Engine::Event);
    let (clock, clock_counts) = run(&network, Engine::Clock);
    assert!(event.len() > 200, "{} spikes", event.len());
    assert_eq!(event, clock);
    // Clocked populations are updated every step by both engines.
    assert_eq!(counts.neuron_updates, clock_counts.neuron_updates);
    assert_eq!(counts.neuron_updates, vec![3200 * 1000, 800 * 1000]);
    for threads in [2, 3] {
        let mut sim = synops::Simulation::with_threads(&network, Engine::Event, threads);
        sim.run(|_| {}).unwrap();
        assert_eq!(sim.recorded.spikes, event, "{threads} threads");
    }
}

#[test]
fn clocked_traces_name_their_variables() {
    let text = small_coba()
        + "[[record.traces]]\npopulation = \"exc\"\nindices = [0, 1]\nevery_steps = 10\n";
    let network = net(&text);
    let mut sim = synops::Simulation::new(&network, Engine::Event);
    sim.run(|_| {}).unwrap();
    assert_eq!(
        network.populations[0].variables(),
        ["v_mv", "g_exc_ns", "g_inh_ns"]
    );
    let first = &sim.recorded.traces[0];
    assert_eq!(first.values[0], sim.recorded.traces[0].values[0]);
    // The initial conductances were drawn from the file's distributions (means 40 and 200 nS).
    assert!(first.values[1] != 0.0 && first.values[2] != 0.0);
    let dir = tempfile::tempdir().unwrap();
    let summary = synops::output::Summary::new(&network, Engine::Event, &sim.counts, 0.0, 0.0);
    synops::output::write_results(dir.path(), &network, &summary, &sim.recorded).unwrap();
    let traces = std::fs::read_to_string(dir.path().join("traces.csv")).unwrap();
    assert!(traces.starts_with("time_ms,population,index,v_mv,g_exc_ns,g_inh_ns\n"));
}

fn error(text: &str) -> String {
    compile_text(text, Path::new("net.toml"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_else(|| panic!("accepted:\n{text}"))
}

#[test]
fn clocked_model_parameters_are_checked_with_their_line_and_nearest_name() {
    let good = small_coba();
    net(&good);
    let bad = good.replacen("g_leak_ns", "g_leak", 1);
    let line = bad.lines().position(|l| l.starts_with("g_leak =")).unwrap() + 1;
    let e = error(&bad);
    assert!(e.starts_with(&format!("net.toml:{line}:")), "{e}");
    assert!(e.contains("unknown field `g_leak`"), "{e}");
    assert!(e.contains("did you mean `g_leak_ns`?"), "{e}");
    let e = error(&good.replacen("tau_m_ms = 20.0", "tau_m_ms = -1.0", 1));
    assert!(
        e.contains("population \"exc\".tau_m_ms") && e.contains("above 0"),
        "{e}"
    );
    let e = error(&good.replacen("weight_ns = 6.0", "weight_mv = 6.0", 1));
    assert!(e.contains("takes its weights as weight_ns"), "{e}");
    let e = error(&good.replacen("weight_ns = 67.0", "weight_ns = -67.0", 1));
    assert!(e.contains("conductance weights must be >= 0"), "{e}");
    let e = error(&good.replacen("g_exc_ns =", "g_ex_ns =", 1));
    assert!(
        e.contains("initial.g_ex_ns") && e.contains("g_exc_ns, g_inh_ns"),
        "{e}"
    );
    let e = error(&good.replacen("model = \"lif_cond_exp\"", "model = \"lif_cond_ex\"", 1));
    assert!(e.contains("did you mean `lif_cond_exp`?"), "{e}");
}

#[test]
fn izhikevich_state_starts_at_b_v_and_jumps_by_d() {
    let p: izhikevich::Params = toml::from_str("a = 0.02\nb = 0.2\nc = -65.0\nd = 8.0").unwrap();
    let model = izhikevich::Izhikevich::new(p, 0.1).unwrap();
    let mut s = model.initial(-65.0);
    assert_eq!((s.v, s.u), (-65.0, -13.0));
    // A 100 mV input spikes it at once: v back to c, u up by d.
    let u = s.u;
    assert!(model.update(&mut s, 1, 100.0, 0.0));
    assert_eq!(s.v, -65.0);
    assert!((s.u - (u + 0.1 * 0.02 * (0.2 * -65.0 - u) + 8.0)).abs() < 1e-12);
}

#[test]
fn a_clocked_state_that_runs_away_stops_both_engines_at_the_same_step() {
    // Conductance jumps within the bound (1e12 x 80, the largest reversal potential) that
    // add up beyond it.
    let text = "version = 1\nname = \"runaway\"\n[simulation]\ndt_ms = 0.1\nduration_ms = 10.0\n\
        [[population]]\nname = \"n\"\nsize = 3\nmodel = \"lif_cond_exp\"\ntau_m_ms = 20.0\n\
        g_leak_ns = 10.0\nv_rest_mv = -60.0\nv_th_mv = -50.0\ntau_syn_exc_ms = 5.0\n\
        tau_syn_inh_ms = 10.0\n[[input]]\nkind = \"poisson\"\ntarget = \"n\"\n\
        rate_hz = 2000.0\nweight_ns = 5e13\n";
    let network = net(text);
    let outcome = |engine| {
        let mut sim = synops::Simulation::new(&network, engine);
        sim.run(|_| {}).expect_err("the state runs away")
    };
    let (event, clock) = (outcome(Engine::Event), outcome(Engine::Clock));
    assert_eq!((event.neuron, event.step), (clock.neuron, clock.step));
    let message = event.to_string();
    assert!(
        message.contains("population \"n\"") && message.contains("g_exc_ns"),
        "{message}"
    );
}

#[test]
fn izhikevichs_network_fires_at_the_rate_of_his_code_on_both_engines_and_any_thread_count() {
    let text = std::fs::read_to_string(common::networks().join("izhikevich.toml")).unwrap();
    let network = net(&text);
    let (event, counts) = run(&network, Engine::Event);
    let (clock, _) = run(&network, Engine::Clock);
    assert_eq!(event, clock);
    let mut two = synops::Simulation::with_threads(&network, Engine::Event, 2);
    two.run(|_| {}).unwrap();
    assert_eq!(two.recorded.spikes, event);
    // Izhikevich's own code (benches/peers/izhikevich_2003.py) fires at 7.45 to 7.84 Hz over
    // five seeds (mean 7.61 Hz); synops at 7.42 to 8.10 Hz (mean 7.63 Hz).
    let rate = counts.spikes.iter().sum::<u64>() as f64 / 1000.0;
    assert!((7.0..8.5).contains(&rate), "{rate} Hz");
}

#[test]
fn noise_inputs_are_checked() {
    let text = std::fs::read_to_string(common::networks().join("izhikevich.toml")).unwrap();
    let e = error(&text.replacen("std_mv = 5.0", "std_mv = -5.0", 1));
    assert!(e.contains("input[0].std_mv") && e.contains(">= 0"), "{e}");
    let coba = small_coba() + "[[input]]\nkind = \"noise\"\ntarget = \"exc\"\nstd_mv = 1.0\n";
    let e = error(&coba);
    assert!(e.contains("takes conductances"), "{e}");
}

#[test]
fn lif_exp_adapt_is_exact_against_the_reference_and_adapts() {
    use synops::model::lif_exp_adapt::{LifExpAdapt, Params};
    let p: Params = toml::from_str(
        "tau_m_ms = 20.0\ntau_syn_exc_ms = 5.0\ntau_syn_inh_ms = 10.0\ntau_w_ms = 100.0\n\
         b_mv = 2.0\nv_rest_mv = -70.0\nv_th_mv = -50.0\nv_reset_mv = -65.0\nt_ref_ms = 2.0\n\
         bias_mv = 25.0",
    )
    .unwrap();
    let (dt, steps) = (0.1, 10_000);
    let model = LifExpAdapt::new(p, dt).unwrap();
    let mut state = model.initial(-70.0);
    // The reference: all four variables as ODEs, inputs and resets at step boundaries.
    let f = |y: &[f64; 4]| {
        let (v, ie, ii, w) = (y[0], y[1], y[2], y[3]);
        [
            (-(v + 70.0) + 25.0 + ie + ii - w) / 20.0,
            -ie / 5.0,
            -ii / 10.0,
            -w / 100.0,
        ]
    };
    let mut reference = [-70.0, 0.0, 0.0, 0.0];
    let (mut ref_end, mut worst, mut spikes) = (0u32, 0.0f64, Vec::new());
    let mut rng = Lcg(11);
    for t in 1..=steps {
        let e = if rng.next() < 0.05 { 2.0 } else { 0.0 };
        let i = if rng.next() < 0.02 { -3.0 } else { 0.0 };
        let spiked = model.update(&mut state, t, e, i);
        let held = reference[0];
        reference = dormand_prince(&f, reference, dt, 1e-12);
        if t <= ref_end {
            reference[0] = held;
        }
        reference[1] += e;
        reference[2] += i;
        let ref_spiked = t > ref_end && reference[0] >= -50.0;
        if ref_spiked {
            reference[0] = -65.0;
            reference[3] += 2.0;
            ref_end = t + 20;
        }
        assert_eq!(spiked, ref_spiked, "step {t}");
        if spiked {
            spikes.push(t);
        }
        let mut values = [0.0; MAX_VARIABLES];
        model.values(&state, &mut values);
        for k in 0..4 {
            worst = worst.max((values[k] - reference[k]).abs());
        }
    }
    println!(
        "lif_exp_adapt: largest error {worst:e} mV, {} spikes",
        spikes.len()
    );
    assert!(worst < 1e-9, "largest error {worst} mV");
    assert!(spikes.len() > 10, "{} spikes", spikes.len());
    // Spike-frequency adaptation: under a constant drive alone the intervals lengthen.
    let mut state = model.initial(-70.0);
    let spikes: Vec<u32> = (1..=steps)
        .filter(|&t| model.update(&mut state, t, 0.0, 0.0))
        .collect();
    let isi: Vec<u32> = spikes.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(isi.len() > 5, "{} spikes", spikes.len());
    assert!(isi.windows(2).all(|w| w[0] <= w[1]), "{isi:?}");
    assert!(
        f64::from(isi[0]) < 0.8 * f64::from(isi[isi.len() - 1]),
        "{isi:?}"
    );
}
