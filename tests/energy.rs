//! Energy reports: counts of the network's activity x constants, exactly; the same energy from
//! both engines; each execution model; memory tiers; the table across T; bad input.

use std::path::Path;
use synops::energy::{
    EnergyReport, Options, Profile, ResultFile, load_profiles, parse_profiles, read_result, select,
};
use synops::output::Summary;
use synops::{Engine, Simulation};

fn assert_has(message: &str, parts: &[&str]) {
    for p in parts {
        assert!(message.contains(p), "`{message}` lacks `{p}`");
    }
}

fn summary_of(network: &str, duration_ms: f64, engine: Engine) -> Summary {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("networks")
        .join(network);
    let options = synops::network::CompileOptions {
        duration_ms: Some(duration_ms),
        ..Default::default()
    };
    let net = synops::compile_file(&path, &options).unwrap();
    let mut sim = Simulation::new(&net, engine);
    sim.run(|_| {}).unwrap();
    Summary::new(&net, engine, &sim.counts, 0.0, 1.0)
}

fn example_summary() -> Summary {
    summary_of("example.toml", 200.0, Engine::Event)
}

fn memory() -> Options {
    Options {
        memory: true,
        ..Default::default()
    }
}

fn item(r: &EnergyReport, device: usize, part: &str, op: &str) -> f64 {
    r.devices[device]
        .items
        .iter()
        .filter(|i| i.part == part && i.operation == op)
        .map(|i| i.energy_j)
        .sum()
}

const PROFILE_HEAD: &str = "[[profile]]\nname = \"x\"\ndescription = \"d\"\nkind = \"neuromorphic\"\noperating_point = \"here\"\n";

#[test]
fn loihi_charges_every_neuron_every_step_active_and_inactive_apart() {
    let s = example_summary();
    let profiles = load_profiles(None).unwrap();
    let loihi = select(&profiles, &["loihi".into()]).unwrap();
    let r = EnergyReport::from_run(&s, &loihi, &memory()).unwrap();
    let seconds = s.duration_ms * 1e-3;
    let mut expected = 0.0;
    for p in &s.populations {
        if p.model.is_some() {
            let active = p.active_neuron_steps as f64 / seconds * 81.0 * 1e-12;
            let inactive = (p.neuron_steps - p.active_neuron_steps) as f64 / seconds * 52.0 * 1e-12;
            assert_eq!(item(&r, 0, &p.name, "neuron_update_active"), active);
            assert_eq!(item(&r, 0, &p.name, "neuron_update_inactive"), inactive);
            expected += active + inactive;
        }
        let spikes = p.spikes as f64 / seconds * 1.7 * 1e-12;
        assert_eq!(item(&r, 0, &p.name, "spike"), spikes);
        expected += spikes;
    }
    for p in &s.projections {
        let e = p.synaptic_events as f64 / seconds * 23.6 * 1e-12;
        assert_eq!(item(&r, 0, &p.name, "sop"), e);
        expected += e;
    }
    assert!(!s.drives.is_empty());
    for d in &s.drives {
        let e = d.events as f64 / seconds * 23.6 * 1e-12;
        assert_eq!(
            item(&r, 0, &format!("drive into {}", d.target), "external_sop"),
            e
        );
        expected += e;
    }
    let total = r.devices[0].total_j;
    assert!(
        (total - expected).abs() <= 1e-12 * expected,
        "{total} vs {expected}"
    );
    // The run as run: the same energy times the duration, integer counts.
    let whole = r.devices[0].run_total_j.unwrap();
    assert!((whole - total * seconds).abs() <= 1e-12 * whole);
    assert!(r.devices[0].items.iter().all(|i| i.run_count.is_some()));
    // Loihi's SOP energy includes its synaptic memory: no weight fetch charged apart.
    assert!(
        r.devices[0]
            .items
            .iter()
            .all(|i| i.operation != "memory_access")
    );
    assert!(r.assumptions.iter().any(|a| a.device == "loihi"
        && a.quantity == "inactive_neuron_update_pj"
        && a.value_pj == 52.0
        && a.operating_point.contains("0.75 V")));
}

#[test]
fn event_and_clock_runs_cost_the_same_on_every_device() {
    let profiles = load_profiles(None).unwrap();
    let all: Vec<&Profile> = profiles.iter().collect();
    for (network, ms) in [
        ("cuba.toml", 100.0),
        ("brunel.toml", 20.0),
        ("example.toml", 200.0),
    ] {
        let event = summary_of(network, ms, Engine::Event);
        let clock = summary_of(network, ms, Engine::Clock);
        if network != "brunel.toml" {
            // (Under Brunel's dense drive the event engine too updates every neuron.)
            assert_ne!(event.neuron_updates, clock.neuron_updates, "{network}");
        }
        let a = EnergyReport::from_run(&event, &all, &memory()).unwrap();
        let b = EnergyReport::from_run(&clock, &all, &memory()).unwrap();
        for (x, y) in a.devices.iter().zip(&b.devices) {
            assert_eq!(x.total_j, y.total_j, "{network} on {}", x.device);
            assert!(x.total_j > 0.0);
        }
    }
}

#[test]
fn cuba_on_loihi_is_above_the_floor_of_the_chip() {
    let s = summary_of("cuba.toml", 100.0, Engine::Event);
    let profiles = load_profiles(None).unwrap();
    let loihi = select(&profiles, &["loihi".into()]).unwrap();
    let r = EnergyReport::from_run(&s, &loihi, &memory()).unwrap();
    let seconds = s.duration_ms * 1e-3;
    let floor = (s.neuron_steps as f64 * 52e-12 + s.synaptic_events as f64 * 23.6e-12) / seconds;
    assert!(
        r.devices[0].total_j >= floor,
        "{} < {floor}",
        r.devices[0].total_j
    );
    // Most CUBA neuron-steps are inactive: the floor is most of the energy.
    assert!(r.devices[0].total_j < 1.2 * floor);
}

#[test]
fn brunel_external_drive_is_its_own_line() {
    let s = summary_of("brunel.toml", 10.0, Engine::Event);
    let profiles = load_profiles(None).unwrap();
    let loihi = select(&profiles, &["loihi".into(), "truenorth".into()]).unwrap();
    let r = EnergyReport::from_run(&s, &loihi, &memory()).unwrap();
    for d in 0..2 {
        let external: f64 = r.devices[d]
            .items
            .iter()
            .filter(|i| i.operation == "external_sop")
            .map(|i| i.run_count.unwrap() as f64)
            .sum();
        assert_eq!(external, s.external_events as f64);
        assert!(external > 0.0);
    }
    assert!(r.notes.iter().any(|n| n.contains("Poisson drives")));
}

#[test]
fn kerasspiking_profile_matches_a_hand_computation() {
    let s = example_summary();
    let profiles = load_profiles(None).unwrap();
    let ks = select(&profiles, &["loihi-kerasspiking".into()]).unwrap();
    let r = EnergyReport::from_run(&s, &ks, &memory()).unwrap();
    // KerasSpiking's ModelEnergy: every neuron at every step at 81 pJ, every synop at
    // (23.6 + 3.5) pJ; the drive's input events are synops too.
    let synops = (s.synaptic_events + s.external_events) as f64;
    let hand = (s.neuron_steps as f64 * 81.0 + synops * 27.1) * 1e-12 / (s.duration_ms * 1e-3);
    let total = r.devices[0].total_j;
    assert!(((total - hand) / hand).abs() <= 1e-12, "{total} vs {hand}");
}

#[test]
fn event_and_all_in_devices_charge_what_their_model_says() {
    let s = example_summary();
    let seconds = s.duration_ms * 1e-3;
    let text = format!(
        "{PROFILE_HEAD}execution = \"event\"\nsop_pj = 2.0\nneuron_update_pj = 5.0\n[profile.sources]\nsop_pj = \"s\"\nneuron_update_pj = \"s\"\n"
    );
    let event = parse_profiles(&text, Path::new("p.toml")).unwrap();
    let r = EnergyReport::from_run(&s, &[&event[0]], &memory()).unwrap();
    for p in s.populations.iter().filter(|p| p.model.is_some()) {
        let e = p.active_neuron_steps as f64 / seconds * 5.0 * 1e-12;
        assert_eq!(item(&r, 0, &p.name, "neuron_update"), e);
    }
    assert!(s.active_neuron_steps < s.neuron_steps);
    let profiles = load_profiles(None).unwrap();
    let truenorth = select(&profiles, &["truenorth".into()]).unwrap();
    let r = EnergyReport::from_run(&s, &truenorth, &memory()).unwrap();
    let ops: Vec<&str> = r.devices[0]
        .items
        .iter()
        .map(|i| i.operation.as_str())
        .collect();
    assert!(
        ops.iter().all(|&o| o == "sop" || o == "external_sop"),
        "{ops:?}"
    );
    let events = (s.synaptic_events + s.external_events) as f64;
    let expected = events * 26e-12 / seconds;
    assert!((r.devices[0].total_j - expected).abs() <= 1e-12 * expected);
    assert!(
        r.assumptions
            .iter()
            .any(|a| a.operating_point.contains("calibration point"))
    );
}

#[test]
fn digital_neuron_updates_cost_their_model_and_weights_pick_a_memory_tier() {
    let s = summary_of("cuba.toml", 20.0, Engine::Event);
    let profiles = load_profiles(None).unwrap();
    let fp32 = select(&profiles, &["cmos45-fp32".into()]).unwrap();
    let r = EnergyReport::from_run(&s, &fp32, &memory()).unwrap();
    let upd = r.devices[0]
        .items
        .iter()
        .find(|i| i.operation == "neuron_update")
        .unwrap();
    // lif_exp: 5 multiplies at 3.7 pJ, 7 adds at 0.9 pJ.
    assert!((upd.pj_per_op - (5.0 * 3.7 + 7.0 * 0.9)).abs() < 1e-12);
    // 320,000 weights x 4 B do not fit in 1 MB of SRAM: DRAM.
    assert_has(
        r.devices[0].memory_tier.as_ref().unwrap(),
        &["DRAM", "x 4 B"],
    );
    let reads: f64 = r.devices[0]
        .items
        .iter()
        .filter(|i| i.operation == "memory_access")
        .map(|i| i.count)
        .sum();
    let sops: f64 = r.devices[0]
        .items
        .iter()
        .filter(|i| i.operation == "sop")
        .map(|i| i.count)
        .sum();
    assert_eq!(reads, sops);
    let p = &fp32[0];
    assert_eq!(p.memory_tier(8192).unwrap().read_pj, 10.0);
    assert_eq!(p.memory_tier(8193).unwrap().read_pj, 20.0);
    assert_eq!(p.memory_tier(1 << 20).unwrap().read_pj, 100.0);
    assert_eq!(p.memory_tier((1 << 20) + 1).unwrap().read_pj, 1300.0);
    let off = EnergyReport::from_run(&s, &fp32, &Options::default()).unwrap();
    assert!(off.devices[0].memory_tier.is_none());
    assert!(
        off.devices[0]
            .items
            .iter()
            .all(|i| i.operation != "memory_access")
    );
}

#[test]
fn bad_profile_files_are_refused() {
    let base = format!(
        "{PROFILE_HEAD}execution = \"clock\"\nsop_pj = 1.0\nneuron_update_pj = 1.0\n[profile.sources]\nsop_pj = \"somewhere\"\nneuron_update_pj = \"s\"\n"
    );
    parse_profiles(&base, Path::new("p.toml")).unwrap();
    let refused = |text: &str, parts: &[&str]| {
        let e = parse_profiles(text, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert_has(&e, &["p.toml"]);
        assert_has(&e, parts);
    };
    refused(
        &base.replace("sop_pj = 1.0", "sop_pj = 1.0\nsop_nj = 2.0"),
        &["unknown field `sop_nj`"],
    );
    refused(
        &base.replace("sop_pj = 1.0", "sop_pj = -1.0"),
        &["profile \"x\".sop_pj", ">= 0", "-1"],
    );
    refused(
        &base.replace("sop_pj = \"somewhere\"", ""),
        &["profile \"x\".sop_pj", "no source"],
    );
    refused(
        &base.replace("sop_pj = \"somewhere\"", "sop_pj = \"s\"\nmac_pj = \"x\""),
        &["sources.mac_pj", "does not give"],
    );
    refused(
        &base.replace("execution = \"clock\"\n", ""),
        &["missing field `execution`"],
    );
    refused(
        &base.replace("\"clock\"", "\"sometimes\""),
        &["unknown variant `sometimes`"],
    );
    refused(
        &base.replace("\"clock\"", "\"all_in\""),
        &["profile \"x\".neuron_update_pj", "all-in"],
    );
    let tiers = "[[profile.memory]]\nname = \"S\"\ncapacity_bytes = 10\nread_pj = 1.0\n[[profile.memory]]\nname = \"D\"\nread_pj = 9.0\n";
    let with_memory = base.replace(
        "[profile.sources]\n",
        &format!("{tiers}[profile.sources]\nmemory = \"m\"\n"),
    );
    parse_profiles(&with_memory, Path::new("p.toml")).unwrap();
    refused(
        &with_memory
            .replace("neuron_update_pj = 1.0\n", "")
            .replace("neuron_update_pj = \"s\"\n", "")
            .replace("\"clock\"", "\"all_in\""),
        &["profile \"x\".memory", "all-in"],
    );
    refused(
        &with_memory.replace("capacity_bytes = 10\n", ""),
        &["memory[0]", "capacity_bytes"],
    );
    let profiles = load_profiles(None).unwrap();
    let e = select(&profiles, &["loihi2".into()])
        .unwrap_err()
        .to_string();
    assert_has(&e, &["unknown device `loihi2`", "loihi"]);
}

fn tiny_eval() -> serde_json::Value {
    let at = |t: u32, acc: f64, sops: f64, spikes: f64, active: f64| {
        serde_json::json!({"t": t, "accuracy": acc, "sops_per_sample": sops, "sops_per_layer": [0.0, sops],
            "spikes_per_sample": spikes, "spikes_per_layer": [0.0, spikes, 0.0], "neuron_updates_per_sample": 30.0,
            "neuron_updates_per_layer": [20.0, 10.0], "clock_equivalent_updates_per_sample": 20.0 * f64::from(t),
            "neuron_steps_per_layer": [10.0 * f64::from(t), 10.0 * f64::from(t)],
            "active_neuron_steps_per_layer": [active, 10.0 * f64::from(t)]})
    };
    serde_json::json!({
        "model": "m", "ann_accuracy": 0.9, "ann_macs_per_sample": 1100, "ann_macs_per_layer": [1000, 100],
        "ann_bias_adds_per_layer": [10, 10], "ann_nonzero_macs_per_layer": [500.0, 60.0],
        "layer_names": ["h", "o"], "layer_neurons": [10, 10], "layer_models": ["if", "if"],
        "fan_out_per_layer": [10, 10], "input_units": 100, "samples": 1,
        "timesteps": [at(5, 0.8, 100.0, 10.0, 40.0), at(10, 0.9, 200.0, 20.0, 70.0)],
        "input_encoding": "analog", "input_layer_ops": "analog", "input_macs_per_sample": 500.0,
        "normalization": "max", "readout": "potential", "layers": [], "wall_s": 0.0, "synops_version": "x"
    })
}

#[test]
fn eval_energy_compares_ann_and_snn_on_the_same_scope() {
    let eval: synops::eval::EvalReport = serde_json::from_value(tiny_eval()).unwrap();
    let profiles = load_profiles(None).unwrap();
    let loihi = select(&profiles, &["loihi".into()]).unwrap();
    let fp32 = select(&profiles, &["cmos45-fp32".into()]).unwrap()[0];
    let r = EnergyReport::from_eval(&eval, Some(10), &loihi, fp32, &Options::default()).unwrap();
    // ANN: dense MACs, bias adds, one activation per hidden neuron.
    let ann = 1100.0 * 4.6 + 20.0 * 0.9 + 10.0 * 0.9;
    // SNN on Loihi: input current on the host, SOPs, every neuron at every step, spikes.
    let neurons = 70.0 * 81.0 + 30.0 * 52.0 + 100.0 * 81.0;
    let snn = 500.0 * 4.6 + 200.0 * 23.6 + neurons + 20.0 * 1.7;
    let c = &r.comparisons[0];
    assert!(
        (c.ann_j - ann * 1e-12).abs() < 1e-24,
        "{} vs {}",
        c.ann_j,
        ann * 1e-12
    );
    assert!(
        (c.snn_j - snn * 1e-12).abs() < 1e-24,
        "{} vs {}",
        c.snn_j,
        snn * 1e-12
    );
    // Rate: 20 hidden spikes / 10 neurons / 10 steps = 0.2; SOPs and spikes scale with it.
    assert!((c.measured_rate - 0.2).abs() < 1e-12);
    // Every neuron at every step costs Loihi more than the whole ANN: no break-even rate.
    assert!(500.0 * 4.6 + neurons > ann && c.break_even_rate.is_none());
    // TrueNorth pays per synaptic event only: the SOP energy scales with the rate.
    let truenorth = select(&profiles, &["truenorth".into()]).unwrap();
    let r =
        EnergyReport::from_eval(&eval, Some(10), &truenorth, fp32, &Options::default()).unwrap();
    let expected = 0.2 * (ann - 500.0 * 4.6) / (200.0 * 26.0);
    assert!((r.comparisons[0].break_even_rate.unwrap() - expected).abs() < 1e-12);
    assert!(EnergyReport::from_eval(&eval, Some(25), &loihi, fp32, &Options::default()).is_err());
    // Zero-skipping ANN, only when asked, and said so.
    let skip = Options {
        ann_skip_zeros: true,
        ..Default::default()
    };
    let r = EnergyReport::from_eval(&eval, Some(10), &loihi, fp32, &skip).unwrap();
    let ann = 560.0 * 4.6 + 20.0 * 0.9 + 10.0 * 0.9;
    assert!((r.comparisons[0].ann_j - ann * 1e-12).abs() < 1e-24);
    assert!(r.notes.iter().any(|n| n.contains("zero inputs skipped")));
    // With memory: one fetch per MAC for the ANN, 1,100 weights x 4 B in 8 KB of SRAM.
    let r = EnergyReport::from_eval(&eval, Some(10), &loihi, fp32, &memory()).unwrap();
    let ann_dev = r.devices.last().unwrap();
    assert_has(
        ann_dev.memory_tier.as_ref().unwrap(),
        &["SRAM 8 KB", "1100 weights"],
    );
    let ann = 1100.0 * (4.6 + 10.0) + 20.0 * 0.9 + 10.0 * 0.9;
    assert!((ann_dev.total_j - ann * 1e-12).abs() < 1e-24);
}

#[test]
fn the_table_across_time_steps_lists_every_t() {
    let eval: synops::eval::EvalReport = serde_json::from_value(tiny_eval()).unwrap();
    let profiles = load_profiles(None).unwrap();
    let devices = select(&profiles, &["loihi".into(), "truenorth".into()]).unwrap();
    let fp32 = select(&profiles, &["cmos45-fp32".into()]).unwrap()[0];
    let r = EnergyReport::from_eval(&eval, None, &devices, fp32, &memory()).unwrap();
    assert_eq!(r.timesteps, Some(10));
    let ts: Vec<u32> = r.across_timesteps.iter().map(|x| x.t).collect();
    assert_eq!(ts, [5, 10]);
    for row in &r.across_timesteps {
        let at = EnergyReport::from_eval(&eval, Some(row.t), &devices, fp32, &memory()).unwrap();
        for (d, c) in row.devices.iter().zip(&at.comparisons) {
            assert_eq!(d.snn_j, c.snn_j);
            assert_eq!(d.ann_over_snn, c.ann_over_snn);
        }
        assert_eq!(row.accuracy, if row.t == 5 { 0.8 } else { 0.9 });
    }
    assert!(r.across_timesteps[0].devices[0].snn_j < r.across_timesteps[1].devices[0].snn_j);
    let md = r.markdown();
    assert_has(
        &md,
        &[
            "| T | accuracy | SOPs | loihi | ANN / loihi | truenorth |",
            "| 5 | 80.00% |",
        ],
    );
}

#[test]
fn bad_result_files_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("summary.json");
    let summary = serde_json::to_value(example_summary()).unwrap();
    std::fs::write(&path, summary.to_string()).unwrap();
    assert!(matches!(read_result(&path).unwrap(), ResultFile::Run(_)));
    let refused = |value: &serde_json::Value, name: &str, parts: &[&str]| {
        let path = dir.path().join(name);
        std::fs::write(&path, value.to_string()).unwrap();
        let e = read_result(&path).err().expect("refused").to_string();
        assert_has(&e, &[name]);
        assert_has(&e, parts);
    };
    let mut v = summary.clone();
    v.as_object_mut().unwrap().remove("active_neuron_steps");
    refused(&v, "summary.json", &["missing field `active_neuron_steps`"]);
    let mut v = summary.clone();
    v["populations"][0]["spikes"] = "many".into();
    refused(
        &v,
        "summary.json",
        &["populations[0].spikes", "invalid type"],
    );
    let mut v = summary.clone();
    v["duration_ms"] = 0.0.into();
    refused(&v, "summary.json", &["duration_ms", "> 0 ms", "got 0"]);
    let mut v = summary.clone();
    v["populations"][0]["active_neuron_steps"] = (u64::MAX / 2).into();
    refused(
        &v,
        "summary.json",
        &["populations[0].active_neuron_steps", "exceed"],
    );
    refused(&serde_json::json!([1, 2]), "summary.json", &["JSON object"]);
    let eval = tiny_eval();
    let good = dir.path().join("eval.json");
    std::fs::write(&good, eval.to_string()).unwrap();
    assert!(matches!(read_result(&good).unwrap(), ResultFile::Eval(_)));
    let mut v = eval.clone();
    v["timesteps"][1]["sops_per_layer"] = serde_json::json!([1.0]);
    refused(
        &v,
        "eval.json",
        &["timesteps[1].sops_per_layer", "has 1 entries", "has 2"],
    );
    let mut v = eval.clone();
    v["timesteps"][0]["spikes_per_layer"] = serde_json::json!([0.0, 1.0]);
    refused(
        &v,
        "eval.json",
        &["timesteps[0].spikes_per_layer", "the input first"],
    );
    let mut v = eval.clone();
    v["layer_models"] = serde_json::json!(["if", "hodgkin_huxley"]);
    refused(&v, "eval.json", &["layer_models[1]", "hodgkin_huxley"]);
    let mut v = eval.clone();
    v.as_object_mut().unwrap().remove("layer_models");
    refused(&v, "eval.json", &["missing field `layer_models`"]);
    let mut v = eval.clone();
    v["ann_weights_per_layer"] = serde_json::json!([10]);
    refused(&v, "eval.json", &["ann_weights_per_layer"]);
    let mut v = eval.clone();
    v["weight_bytes_per_layer"] = serde_json::json!([10]);
    refused(&v, "eval.json", &["weight_bytes_per_layer"]);
    let mut v = eval.clone();
    v["weight_bits_per_layer"] = serde_json::json!([8, 0]);
    refused(
        &v,
        "eval.json",
        &["weight_bits_per_layer[1]", "is 0", "1 to 64"],
    );
    let mut v = eval;
    v["timesteps"][0]["active_neuron_steps_per_layer"] = serde_json::json!([1.0, -1.0]);
    refused(
        &v,
        "eval.json",
        &["active_neuron_steps_per_layer[1]", ">= 0"],
    );
    std::fs::write(&path, "{").unwrap();
    assert!(read_result(&path).is_err());
}

#[test]
fn plastic_weight_updates_are_charged_where_a_device_prices_them() {
    let s = summary_of("stdp_song.toml", 2000.0, Engine::Event);
    let updates = s.projections[0].synaptic_updates;
    assert!(updates > 0);
    let profiles = load_profiles(None).unwrap();
    let devices = select(&profiles, &["loihi".into(), "truenorth".into()]).unwrap();
    let r = EnergyReport::from_run(&s, &devices, &memory()).unwrap();
    let seconds = s.duration_ms * 1e-3;
    let charged = item(&r, 0, "inputs->neuron", "synaptic_update");
    let want = updates as f64 / seconds * 120e-12;
    assert!(
        (charged - want).abs() <= 1e-12 * want,
        "{charged} J against {want} J"
    );
    assert_eq!(item(&r, 1, "inputs->neuron", "synaptic_update"), 0.0);
    let note = "`truenorth` gives no energy per synaptic update";
    assert!(r.notes.iter().any(|n| n.contains(note)), "{:?}", r.notes);
}
