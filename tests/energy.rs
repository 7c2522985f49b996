//! Energy reports: counts x constants, exactly; the all-in rule; bad profile files.

use std::path::Path;
use synops::energy::{
    EnergyReport, ResultFile, load_profiles, parse_profiles, read_result, select,
};
use synops::output::Summary;
use synops::{Engine, Simulation};

fn assert_has(message: &str, parts: &[&str]) {
    for p in parts {
        assert!(message.contains(p), "`{message}` lacks `{p}`");
    }
}

fn example_summary() -> Summary {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("networks/example.toml");
    let net = synops::compile_file(&path, &Default::default()).unwrap();
    let mut sim = Simulation::new(&net, Engine::Event);
    sim.run(|_| {});
    Summary::new(&net, Engine::Event, &sim.counts, 0.0, 1.0)
}

#[test]
fn run_energy_is_counts_times_constants() {
    let summary = example_summary();
    let profiles = load_profiles(None).unwrap();
    let devices = select(&profiles, &["loihi".into(), "spinnaker2".into()]).unwrap();
    let report = EnergyReport::from_run(&summary, &devices, false).unwrap();
    let seconds = summary.duration_ms * 1e-3;
    for (d, (sop, upd)) in report.devices.iter().zip([(23.6, 81.0), (450.0, 2190.0)]) {
        let mut expected = 0.0;
        for p in &summary.projections {
            let e = p.synaptic_events as f64 / seconds * sop * 1e-12;
            let it = d
                .items
                .iter()
                .find(|i| i.part == p.name && i.operation == "sop")
                .unwrap();
            assert_eq!(it.energy_j, e);
            expected += e;
        }
        for p in summary.populations.iter().filter(|p| p.neuron_updates > 0) {
            let e = p.neuron_updates as f64 / seconds * upd * 1e-12;
            let it = d
                .items
                .iter()
                .find(|i| i.part == p.name && i.operation == "neuron_update")
                .unwrap();
            assert_eq!(it.energy_j, e);
            expected += e;
        }
        assert!((d.total_j - expected).abs() <= 1e-12 * expected);
    }
    assert!(report.assumptions.iter().any(|a| a.device == "loihi"
        && a.quantity == "sop_pj"
        && a.source.contains("pre-silicon")));
}

#[test]
fn all_in_profiles_take_no_memory_terms() {
    let summary = example_summary();
    let profiles = load_profiles(None).unwrap();
    let truenorth = select(&profiles, &["truenorth".into()]).unwrap();
    let e = EnergyReport::from_run(&summary, &truenorth, true)
        .unwrap_err()
        .to_string();
    assert_has(&e, &["truenorth", "all-in"]);
    // Without memory terms TrueNorth is charged per synaptic event only.
    let r = EnergyReport::from_run(&summary, &truenorth, false).unwrap();
    assert!(r.devices[0].items.iter().all(|i| i.operation == "sop"));
    // With memory terms a device that has them charges one access per SOP.
    let fp32 = select(&profiles, &["cmos45-fp32".into()]).unwrap();
    let r = EnergyReport::from_run(&summary, &fp32, true).unwrap();
    let sops: f64 = r.devices[0]
        .items
        .iter()
        .filter(|i| i.operation == "sop")
        .map(|i| i.count)
        .sum();
    let mem: f64 = r.devices[0]
        .items
        .iter()
        .filter(|i| i.operation == "memory_access")
        .map(|i| i.count)
        .sum();
    assert_eq!(sops, mem);
    // A profile file cannot declare both.
    let text = "[[profile]]\nname = \"x\"\ndescription = \"d\"\nkind = \"neuromorphic\"\nall_in = true\nsop_pj = 1.0\nmemory_access_pj = 2.0\n[profile.sources]\nsop_pj = \"s\"\nmemory_access_pj = \"s\"\n";
    let e = parse_profiles(text, Path::new("p.toml"))
        .unwrap_err()
        .to_string();
    assert_has(&e, &["p.toml", "profile \"x\".memory_access_pj", "all-in"]);
}

#[test]
fn bad_profile_files_are_refused() {
    let base = "[[profile]]\nname = \"x\"\ndescription = \"d\"\nkind = \"digital\"\nmac_pj = 1.0\n[profile.sources]\nmac_pj = \"somewhere\"\n";
    parse_profiles(base, Path::new("p.toml")).unwrap();
    let e = parse_profiles(
        &base.replace("mac_pj = 1.0", "mac_pj = 1.0\nmac_nj = 2.0"),
        Path::new("p.toml"),
    )
    .unwrap_err()
    .to_string();
    assert_has(&e, &["p.toml", "unknown field `mac_nj`"]);
    let e = parse_profiles(
        &base.replace("mac_pj = 1.0", "mac_pj = -1.0"),
        Path::new("p.toml"),
    )
    .unwrap_err()
    .to_string();
    assert_has(&e, &["profile \"x\".mac_pj", ">= 0", "-1"]);
    let e = parse_profiles(
        &base.replace("mac_pj = \"somewhere\"", ""),
        Path::new("p.toml"),
    )
    .unwrap_err()
    .to_string();
    assert_has(&e, &["profile \"x\".mac_pj", "no source"]);
    let e = parse_profiles(
        &base.replace(
            "mac_pj = \"somewhere\"",
            "mac_pj = \"somewhere\"\nsop_pj = \"x\"",
        ),
        Path::new("p.toml"),
    )
    .unwrap_err()
    .to_string();
    assert_has(&e, &["sources.sop_pj", "does not give"]);
    let profiles = load_profiles(None).unwrap();
    let e = select(&profiles, &["loihi2".into()])
        .unwrap_err()
        .to_string();
    assert_has(&e, &["unknown device `loihi2`", "loihi"]);
}

#[test]
fn eval_energy_compares_ann_and_snn_exactly() {
    let eval: synops::eval::EvalReport = serde_json::from_value(serde_json::json!({
        "model": "m", "ann_accuracy": 0.9, "ann_macs_per_sample": 1100, "ann_macs_per_layer": [1000, 100],
        "ann_bias_adds_per_layer": [10, 10], "layer_names": ["h", "o"], "layer_neurons": [10, 10],
        "fan_out_per_layer": [10, 10], "input_units": 100, "samples": 1,
        "timesteps": [{"t": 10, "accuracy": 0.9, "sops_per_sample": 200.0, "sops_per_layer": [0.0, 200.0],
            "spikes_per_sample": 20.0, "spikes_per_layer": [0.0, 20.0, 0.0], "neuron_updates_per_sample": 30.0,
            "neuron_updates_per_layer": [20.0, 10.0], "clock_equivalent_updates_per_sample": 200.0}],
        "input_encoding": "analog", "input_layer_ops": "analog", "input_macs_per_sample": 500.0,
        "normalization": "max", "readout": "potential", "layers": [], "wall_s": 0.0, "synops_version": "x"
    }))
    .unwrap();
    let profiles = load_profiles(None).unwrap();
    let loihi = select(&profiles, &["loihi".into()]).unwrap();
    let fp32 = select(&profiles, &["cmos45-fp32".into()]).unwrap()[0];
    let r = EnergyReport::from_eval(&eval, Some(10), &loihi, fp32, false).unwrap();
    let ann = 1100.0 * 4.6 + 20.0 * 0.9 + 20.0 * 0.9;
    let snn = 500.0 * 4.6 + 200.0 * 23.6 + 30.0 * 81.0;
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
    // Rate: 20 hidden spikes / 10 neurons / 10 steps = 0.2; the SOP energy scales with it.
    assert!((c.measured_rate - 0.2).abs() < 1e-12);
    let fixed = 500.0 * 4.6 + 30.0 * 81.0;
    let expected = 0.2 * (ann - fixed) / (200.0 * 23.6);
    assert!((c.break_even_rate.unwrap() - expected).abs() < 1e-12);
    assert!(EnergyReport::from_eval(&eval, Some(25), &loihi, fp32, false).is_err());
}

#[test]
fn result_files_are_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("summary.json");
    std::fs::write(&path, serde_json::to_string(&example_summary()).unwrap()).unwrap();
    assert!(matches!(read_result(&path).unwrap(), ResultFile::Run(_)));
    std::fs::write(&path, "{\"network\": 3}").unwrap();
    let e = read_result(&path).err().unwrap().to_string();
    assert_has(&e, &["summary.json", "not a synops result"]);
    std::fs::write(&path, "{").unwrap();
    assert!(read_result(&path).is_err());
}
