//! NIR import: sinabs' own spikes reproduced step for step, each model's jump against its ODE,
//! the NIR paper's files, and bad files refused with the node and what is wrong.

mod common;

use hdf5_pure::FileBuilder;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use synops::nir::{self, Options, ResetMode, SpikeArea, TimeUnit};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/nir")
        .join(name)
}

fn synops(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_synops"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `synops import-nir FILE --dt-ms DT --time-unit UNIT --reset RESET --out OUT --quiet`.
fn import_nir(file: &str, dt_ms: &str, (unit, reset): (&str, &str), out: &str) {
    ok(synops(&[
        "import-nir",
        file,
        "--dt-ms",
        dt_ms,
        "--time-unit",
        unit,
        "--reset",
        reset,
        "--out",
        out,
        "--quiet",
    ]));
}

/// `(population, index) -> spike steps` of a run's spikes.csv, at `dt_ms`.
fn spikes(dir: &Path, dt_ms: f64) -> BTreeMap<(String, u32), Vec<u32>> {
    let text = std::fs::read_to_string(dir.join("spikes.csv")).unwrap();
    let mut out: BTreeMap<(String, u32), Vec<u32>> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        let step = (c[0].parse::<f64>().unwrap() / dt_ms).round() as u32;
        out.entry((c[1].to_string(), c[2].parse().unwrap()))
            .or_default()
            .push(step);
    }
    out
}

/// Write spike events `(step, index)` as a spike_source file, each at `step + 1` (a spike
/// source's first step).
fn write_input(path: &Path, events: &[(u32, u32)], dt_ms: f64) {
    let mut text = String::from("time_ms,index\n");
    let mut sorted = events.to_vec();
    sorted.sort();
    for (t, i) in sorted {
        text += &format!("{},{i}\n", f64::from(t + 1) * dt_ms);
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn sinabs_cnn_spikes_are_reproduced_step_for_step_on_both_engines() {
    // Recorded by benches/nir/sinabs_oracle.py: sinabs' IAF layers (reset by subtraction, one
    // spike per step) of Conv -> IF -> SumPool -> Conv -> IF -> Flatten -> Linear -> IF.
    let oracle: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("sinabs_cnn.json")).unwrap())
            .unwrap();
    let steps = oracle["steps"].as_u64().unwrap() as u32;
    let pairs = |v: &serde_json::Value| -> Vec<(u32, u32)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_u64().unwrap() as u32, p[1].as_u64().unwrap() as u32))
            .collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cnn");
    let file = fixture("sinabs_cnn.nir");
    import_nir(
        file.to_str().unwrap(),
        "1",
        ("steps", "subtract"),
        out.to_str().unwrap(),
    );
    write_input(
        &dir.path().join("cnn.input.csv"),
        &pairs(&oracle["input"]),
        1.0,
    );
    let layers = oracle["layers"].as_object().unwrap();
    assert_eq!(layers.len(), 3);
    for engine in ["event", "clock"] {
        let results = dir.path().join(engine);
        let net = dir.path().join("cnn.toml");
        ok(synops(&[
            "run",
            net.to_str().unwrap(),
            "--engine",
            engine,
            "--duration-ms",
            &(steps + 4).to_string(),
            "--out",
            results.to_str().unwrap(),
            "--quiet",
        ]));
        let got = spikes(&results, 1.0);
        for (depth, (node, events)) in layers.iter().enumerate() {
            // Layer k (from 1) of synops spikes k + 1 steps after sinabs' step: the input
            // file's first step, then one step per projection.
            let shift = depth as u32 + 2;
            let mut expected: Vec<(u32, u32)> = pairs(events);
            expected.sort();
            let mut mine: Vec<(u32, u32)> = got
                .iter()
                .filter(|((p, _), _)| p == node)
                .flat_map(|((_, i), ts)| ts.iter().map(move |t| (t - shift, *i)))
                .filter(|(t, _)| *t < steps)
                .collect();
            mine.sort();
            assert!(!expected.is_empty());
            assert_eq!(mine, expected, "layer `{node}` on the {engine} engine");
        }
    }
}

/// A NIR file written here: nodes `(name, type, [(parameter, shape, values)])` and edges.
type NodeSpec<'a> = (&'a str, &'a str, Vec<(&'a str, Vec<u64>, Vec<f64>)>);

fn nir_file(path: &Path, nodes: &[NodeSpec], edges: &[(&str, &str)]) {
    let mut b = FileBuilder::new();
    b.create_dataset("version").with_vlen_strings(&["0.2.0"]);
    let mut root = b.create_group("node");
    root.create_dataset("type").with_vlen_strings(&["NIRGraph"]);
    let flat: Vec<&str> = edges.iter().flat_map(|(s, t)| [*s, *t]).collect();
    root.create_dataset("edges")
        .with_vlen_strings(&flat)
        .with_shape(&[edges.len() as u64, 2]);
    let mut group = root.create_group("nodes");
    for (name, kind, params) in nodes {
        let mut g = group.create_group(name);
        g.create_dataset("type").with_vlen_strings(&[kind]);
        for (p, shape, values) in params {
            g.create_dataset(p).with_f64_data(values).with_shape(shape);
        }
        group.add_group(g.finish());
    }
    root.add_group(group.finish());
    b.add_group(root.finish());
    b.write(path).unwrap();
}

fn one(v: f64) -> (Vec<u64>, Vec<f64>) {
    (vec![1], vec![v])
}

/// Import `nodes` (one input neuron, one target neuron), drive the input with one spike at
/// step 0, and return the target's `(time_ms, v_mv, i_exc_mv)` samples, the input arriving at
/// step 2.
fn trace_after_one_spike(
    dir: &Path,
    target: NodeSpec,
    weight: f64,
    dt_ms: f64,
) -> Vec<(f64, f64, f64)> {
    let path = dir.join("g.nir");
    let (s, w) = one(weight);
    nir_file(
        &path,
        &[
            ("input", "Input", vec![("shape", vec![1], vec![1.0])]),
            ("fc", "Linear", vec![("weight", vec![1, 1], w)]),
            target,
            ("output", "Output", vec![("shape", s, vec![1.0])]),
        ],
        &[("input", "fc"), ("fc", "n"), ("n", "output")],
    );
    let options = Options {
        dt_ms,
        time_unit: TimeUnit::Seconds,
        reset: ResetMode::Value,
        spike: SpikeArea::Dirac,
    };
    let (graph, lowered) = nir::import(&path, &options).unwrap();
    let out = dir.join("g");
    nir::write(&lowered, &path, &graph.version, &options, &out).unwrap();
    write_input(&dir.join("g.input.csv"), &[(0, 0)], dt_ms);
    let toml = dir.join("g.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text += "\n[[record.traces]]\npopulation = \"n\"\nindices = [0]\n";
    std::fs::write(&toml, text).unwrap();
    let results = dir.join("run");
    ok(synops(&[
        "run",
        toml.to_str().unwrap(),
        "--duration-ms",
        &(60.0 * dt_ms).to_string(),
        "--out",
        results.to_str().unwrap(),
        "--quiet",
    ]));
    let traces = std::fs::read_to_string(results.join("traces.csv")).unwrap();
    let header: Vec<&str> = traces.lines().next().unwrap().split(',').collect();
    let i_col = header.iter().position(|h| *h == "i_exc_mv");
    traces
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<f64> = l
                .split(',')
                .enumerate()
                .map(|(k, x)| if k == 1 { 0.0 } else { x.parse().unwrap() })
                .collect();
            (c[0], c[3], i_col.map_or(0.0, |k| c[k]))
        })
        .collect()
}

#[test]
fn each_model_jumps_as_its_ode_integrates_a_unit_impulse() {
    let dir = tempfile::tempdir().unwrap();
    let dt = 0.1;
    let arrival = 2.0 * dt;
    let high = |v| ("v_threshold", vec![1], vec![v]);
    // IF: dv/dt = R I, a jump of R w.
    let (r, w) = (2.5, 0.75);
    let samples = trace_after_one_spike(
        dir.path(),
        ("n", "IF", vec![("r", vec![1], vec![r]), high(1e5)]),
        w,
        dt,
    );
    for &(t, v, _) in &samples {
        let expected = if t >= arrival - 1e-9 { r * w } else { 0.0 };
        assert!(
            (v - expected).abs() < 1e-12,
            "IF at {t} ms: {v} against {expected}"
        );
    }
    // LIF: tau dv/dt = v_leak - v + R I: a jump of R w / tau, then relaxation to v_leak.
    let (tau, v_leak) = (0.002, 0.3);
    let samples = trace_after_one_spike(
        dir.path(),
        (
            "n",
            "LIF",
            vec![
                ("tau", vec![1], vec![tau]),
                ("r", vec![1], vec![r]),
                ("v_leak", vec![1], vec![v_leak]),
                high(1e5),
            ],
        ),
        w,
        dt,
    );
    let tau_ms = tau * 1000.0;
    for &(t, v, _) in &samples {
        let relax = v_leak * (1.0 - (-t / tau_ms).exp());
        let jump = if t >= arrival - 1e-9 {
            r * w / tau * (-(t - arrival) / tau_ms).exp()
        } else {
            0.0
        };
        let expected = relax + jump;
        assert!(
            (v - expected).abs() < 1e-9 * expected.abs().max(1.0),
            "LIF at {t} ms: {v} against {expected}"
        );
    }
    // CubaLIF: tau_syn dI/dt = -I + w_in S, tau_mem dv/dt = -v + R I: the current jumps by
    // w_in w / tau_syn and v follows the difference of two exponentials.
    let (tau_syn, tau_mem, w_in) = (0.0005, 0.002, 1.5);
    let samples = trace_after_one_spike(
        dir.path(),
        (
            "n",
            "CubaLIF",
            vec![
                ("tau_syn", vec![1], vec![tau_syn]),
                ("tau_mem", vec![1], vec![tau_mem]),
                ("r", vec![1], vec![r]),
                ("w_in", vec![1], vec![w_in]),
                high(1e5),
            ],
        ),
        w,
        dt,
    );
    let (ts, tm) = (tau_syn * 1000.0, tau_mem * 1000.0);
    let i0 = r * w_in * w / tau_syn;
    let mut reached = 0.0f64;
    for &(t, v, i) in &samples {
        let s = t - arrival;
        let (ei, ev) = if s >= -1e-9 {
            let i_t = i0 * (-s / ts).exp();
            let v_t = i0 * ts / (tm - ts) * ((-s / tm).exp() - (-s / ts).exp());
            (i_t, v_t)
        } else {
            (0.0, 0.0)
        };
        assert!(
            (i - ei).abs() < 1e-9 * i0,
            "CubaLIF current at {t} ms: {i} against {ei}"
        );
        assert!(
            (v - ev).abs() < 1e-9 * i0,
            "CubaLIF v at {t} ms: {v} against {ev}"
        );
        reached = reached.max(v);
    }
    assert!(reached > 100.0, "the potential rose ({reached})");
}

/// The NIR paper's example files (vendored with their licence).
fn paper() -> PathBuf {
    fixture("paper")
}

#[test]
fn the_nir_papers_files_import_and_run_or_name_what_is_wrong() {
    let paper = paper();
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, Option<&str>); 8] = [
        ("01_lif_lif_norse", "seconds", None),
        ("01_lif_lif_rockpool", "seconds", None),
        (
            "01_lif_debug_spike_representation_two_lif_neurons",
            "seconds",
            None,
        ),
        ("02_cnn_cnn_sinabs", "steps", None),
        ("03_rnn_braille_noDelay_bias_zero", "seconds", None),
        ("03_rnn_braille_noDelay_noBias_subtract", "seconds", None),
        (
            "03_rnn_extras_braille_noDelay_bias_zero_subgraph",
            "seconds",
            Some("the edge `input` -> `lif` names a missing node `lif`"),
        ),
        (
            "03_rnn_extras_braille_noDelay_noBias_subtract_subgraph",
            "seconds",
            Some("the edge `input` -> `lif` names a missing node `lif`"),
        ),
    ];
    for (name, unit, refusal) in cases {
        let file = paper.join(format!("{name}.nir"));
        let out = dir.path().join(name);
        let result = synops(&[
            "import-nir",
            file.to_str().unwrap(),
            "--dt-ms",
            "0.1",
            "--time-unit",
            unit,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        if let Some(message) = refusal {
            assert_eq!(result.status.code(), Some(2), "{name}");
            let err = String::from_utf8_lossy(&result.stderr);
            assert!(err.contains(message) && err.contains(name), "{name}: {err}");
            assert!(!dir.path().join(format!("{name}.toml")).exists());
            continue;
        }
        ok(result);
        // Drive every input with spikes at every fifth step and run.
        let net = dir.path().join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&net).unwrap();
        let inputs: Vec<(String, usize)> = text
            .split("[[population]]")
            .filter(|p| p.contains("spike_source"))
            .map(|p| {
                let field = |key: &str| {
                    p.lines()
                        .find_map(|l| l.strip_prefix(key))
                        .unwrap()
                        .trim()
                        .trim_matches('"')
                        .to_string()
                };
                (field("file = "), field("size = ").parse().unwrap())
            })
            .collect();
        assert_eq!(inputs.len(), 1, "{name}");
        for (file, size) in &inputs {
            let events: Vec<(u32, u32)> = (0..40)
                .step_by(5)
                .flat_map(|t| {
                    (0..*size as u32)
                        .filter(move |i| (i + t) % 3 == 0)
                        .map(move |i| (t, i))
                })
                .collect();
            write_input(&dir.path().join(file), &events, 0.1);
        }
        let results = dir.path().join(format!("{name}-run"));
        ok(synops(&[
            "run",
            net.to_str().unwrap(),
            "--duration-ms",
            "5",
            "--out",
            results.to_str().unwrap(),
            "--quiet",
        ]));
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(results.join("summary.json")).unwrap())
                .unwrap();
        assert!(
            summary["synaptic_events"].as_u64().unwrap() > 0,
            "{name}: no input was delivered"
        );
    }
}

/// Nodes, edges, and the parts the refusal must name.
type BadCase<'a> = (Vec<NodeSpec<'a>>, Vec<(&'a str, &'a str)>, &'a [&'a str]);

fn import_error(nodes: &[NodeSpec], edges: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.nir");
    nir_file(&path, nodes, edges);
    let options = Options {
        dt_ms: 1.0,
        time_unit: TimeUnit::Seconds,
        reset: ResetMode::Value,
        spike: SpikeArea::Dirac,
    };
    match nir::import(&path, &options) {
        Ok(_) => panic!("accepted"),
        Err(e) => {
            let text = e.to_string();
            assert!(text.contains("bad.nir"), "{text}");
            text
        }
    }
}

#[test]
fn bad_graphs_are_refused_naming_the_node_and_what_is_wrong() {
    let input = || ("input", "Input", vec![("shape", vec![1], vec![2.0])]);
    let lin = |n: u64| {
        (
            "fc",
            "Linear",
            vec![("weight", vec![n, 2], vec![0.5; 2 * n as usize])],
        )
    };
    let lif = |tau: Vec<f64>| {
        let n = tau.len() as u64;
        (
            "n",
            "LIF",
            vec![("tau", vec![n], tau), ("v_threshold", vec![1], vec![1.0])],
        )
    };
    let chain = [("input", "fc"), ("fc", "n")];
    let cases: Vec<BadCase> = vec![
        (
            vec![
                input(),
                lin(2),
                ("n", "Threshold", vec![("threshold", vec![2], vec![1.0; 2])]),
            ],
            chain.to_vec(),
            &["node `n` is a `Threshold`", "does not import"],
        ),
        (
            vec![input(), lin(2), lif(vec![0.01, 0.02])],
            chain.to_vec(),
            &[
                "node `n` (LIF): `tau` ranges from 0.01 to 0.02",
                "one value",
            ],
        ),
        (
            vec![input(), lin(2), lif(vec![-1.0, -1.0])],
            chain.to_vec(),
            &["`tau` = -1", "above 0"],
        ),
        (
            vec![input(), lin(3), lif(vec![0.01, 0.01])],
            chain.to_vec(),
            &[
                "input -> fc",
                "carries 3 values into `n`, which has 2 neurons",
            ],
        ),
        (
            vec![input(), lin(2), lif(vec![0.01, 0.01])],
            vec![("input", "fc"), ("fc", "m")],
            &["missing node `m`"],
        ),
        (
            vec![
                input(),
                lin(2),
                ("n", "LIF", vec![("tau", vec![2], vec![0.01; 2])]),
            ],
            chain.to_vec(),
            &["node `n` (LIF) has no `v_threshold`"],
        ),
        (
            vec![input(), lin(2)],
            vec![("input", "fc")],
            &["no neuron node"],
        ),
    ];
    for (nodes, edges, parts) in cases {
        let e = import_error(&nodes, &edges);
        for p in parts {
            assert!(e.contains(p), "`{e}` lacks `{p}`");
        }
    }
}

#[test]
fn files_that_are_not_nir_and_bad_options_exit_2_writing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.nir");
    std::fs::write(&junk, b"not an HDF5 file at all").unwrap();
    let out = dir.path().join("net");
    for (file, dt, message) in [
        (junk.clone(), "1", "not a NIR file"),
        (dir.path().join("absent.nir"), "1", "absent.nir"),
        (fixture("sinabs_cnn.nir"), "0", "--dt-ms: 0 is not a step"),
        (fixture("sinabs_cnn.nir"), "NaN", "--dt-ms"),
    ] {
        let result = synops(&[
            "import-nir",
            file.to_str().unwrap(),
            "--dt-ms",
            dt,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(result.status.code(), Some(2));
        let err = String::from_utf8_lossy(&result.stderr);
        assert!(err.contains(message), "{err}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only junk.nir is there");
    }
}

/// The oracle's input as `(step, index)` pairs, and its steps.
fn oracle_input() -> (Vec<(u32, u32)>, u32) {
    let oracle: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("sinabs_cnn.json")).unwrap())
            .unwrap();
    let events = oracle["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_u64().unwrap() as u32, p[1].as_u64().unwrap() as u32))
        .collect();
    (events, oracle["steps"].as_u64().unwrap() as u32)
}

#[test]
fn run_input_from_a_grid_or_nir_event_data_equals_the_spike_file() {
    let (events, steps) = oracle_input();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cnn");
    let file = fixture("sinabs_cnn.nir");
    import_nir(
        file.to_str().unwrap(),
        "1",
        ("steps", "subtract"),
        out.to_str().unwrap(),
    );
    write_input(&dir.path().join("cnn.input.csv"), &events, 1.0);
    let net = dir.path().join("cnn.toml");
    let run = |name: &str, extra: &[&str]| {
        let results = dir.path().join(name);
        let mut args = vec![
            "run",
            net.to_str().unwrap(),
            "--out",
            results.to_str().unwrap(),
            "--quiet",
        ];
        args.extend_from_slice(extra);
        ok(synops(&args));
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(results.join("summary.json")).unwrap())
                .unwrap();
        (
            std::fs::read_to_string(results.join("spikes.csv")).unwrap(),
            summary["duration_ms"].as_f64().unwrap(),
        )
    };
    let duration = (steps + 1).to_string();
    let (from_csv, _) = run("csv", &["--duration-ms", &duration]);
    let mut grid = vec![0i64; steps as usize * 128];
    for &(t, i) in &events {
        grid[t as usize * 128 + i as usize] = 1;
    }
    let npz = dir.path().join("grid.npz");
    std::fs::write(
        &npz,
        common::npz(&[(
            "input".into(),
            common::npy_i64(&[steps as usize, 2, 8, 8], &grid),
        )]),
    )
    .unwrap();
    let (from_grid, grid_ms) = run("grid", &["--input", npz.to_str().unwrap()]);
    assert_eq!(
        grid_ms,
        f64::from(steps + 1),
        "the input's steps and one more"
    );
    assert_eq!(from_grid, from_csv);
    // NIR EventData: times in seconds, within each 1 ms step.
    let idx: Vec<i64> = events.iter().map(|e| i64::from(e.1)).collect();
    let time: Vec<f32> = events
        .iter()
        .map(|e| (f64::from(e.0) * 1e-3 + 2e-4) as f32)
        .collect();
    let npz = dir.path().join("events.npz");
    std::fs::write(
        &npz,
        common::npz(&[
            ("idx".into(), common::npy_i64(&[idx.len()], &idx)),
            ("time".into(), common::npy_f32(&[time.len()], &time)),
            ("n_neurons".into(), common::npy_i64(&[], &[128])),
        ]),
    )
    .unwrap();
    let (from_events, _) = run(
        "events",
        &["--input", npz.to_str().unwrap(), "--duration-ms", &duration],
    );
    assert_eq!(from_events, from_csv);
    // Bad inputs: named, exit 2.
    let bad = |arrays: Vec<(String, Vec<u8>)>, message: &str| {
        let path = dir.path().join("bad.npz");
        std::fs::write(&path, common::npz(&arrays)).unwrap();
        let results = dir.path().join("bad");
        let r = synops(&[
            "run",
            net.to_str().unwrap(),
            "--input",
            path.to_str().unwrap(),
            "--out",
            results.to_str().unwrap(),
        ]);
        assert_eq!(r.status.code(), Some(2));
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains("bad.npz") && err.contains(message), "{err}");
        assert!(!results.exists());
    };
    bad(
        vec![("input".into(), common::npy_i64(&[2, 127], &[0; 254]))],
        "the population has 128 neurons",
    );
    let mut two = vec![0i64; 256];
    two[130] = 2;
    bad(
        vec![("input".into(), common::npy_i64(&[2, 128], &two))],
        "row 1, neuron 2: 2 spikes",
    );
    bad(
        vec![("other".into(), common::npy_i64(&[2, 128], &[0; 256]))],
        "no array for the spike source `input`",
    );
    bad(
        vec![
            ("idx".into(), common::npy_i64(&[1], &[128])),
            ("time".into(), common::npy_f32(&[1], &[0.001])),
        ],
        "neuron 128 is not one of the population's 128",
    );
}

/// Import `file`, export it, import the export, run both on `events` (into their one input)
/// and return the two spike files.
fn round_trip(
    file: &Path,
    unit: &str,
    reset: &str,
    events: &[(u32, u32)],
    dt_ms: f64,
) -> (String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let dt = dt_ms.to_string();
    let import = |from: &Path, out: &Path, unit: &str| {
        ok(synops(&[
            "import-nir",
            from.to_str().unwrap(),
            "--dt-ms",
            &dt,
            "--time-unit",
            unit,
            "--reset",
            reset,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]))
    };
    let first = dir.path().join("first");
    import(file, &first, unit);
    let exported = dir.path().join("exported.nir");
    let notes = ok(synops(&[
        "export-nir",
        first.with_extension("toml").to_str().unwrap(),
        "-o",
        exported.to_str().unwrap(),
    ]));
    let second = dir.path().join("second");
    import(&exported, &second, "seconds");
    let run = |net: &Path, name: &str| {
        let text = std::fs::read_to_string(net.with_extension("toml")).unwrap();
        let input = text
            .lines()
            .find_map(|l| l.strip_prefix("file = "))
            .unwrap()
            .trim_matches('"')
            .to_string();
        write_input(&dir.path().join(input), events, dt_ms);
        let results = dir.path().join(name);
        ok(synops(&[
            "run",
            net.with_extension("toml").to_str().unwrap(),
            "--duration-ms",
            &(50.0 * dt_ms).to_string(),
            "--out",
            results.to_str().unwrap(),
            "--quiet",
        ]));
        std::fs::read_to_string(results.join("spikes.csv")).unwrap()
    };
    (run(&first, "a"), run(&second, "b"), notes)
}

#[test]
fn an_exported_network_imports_back_to_the_same_spikes() {
    let (events, _) = oracle_input();
    let (a, b, notes) = round_trip(
        &fixture("sinabs_cnn.nir"),
        "steps",
        "subtract",
        &events,
        1.0,
    );
    assert!(a.lines().count() > 100, "the network spikes");
    // (Population names differ: the export names nodes after the populations.)
    assert_eq!(a, b);
    assert!(notes.contains("resets by subtraction"), "{notes}");
    let paper = paper();
    let braille = paper.join("03_rnn_braille_noDelay_bias_zero.nir");
    let events: Vec<(u32, u32)> = (0..30)
        .flat_map(|t| {
            (0..12)
                .filter(move |i| (i * 7 + t) % 5 == 0)
                .map(move |i| (t, i))
        })
        .collect();
    let (a, b, _) = round_trip(&braille, "seconds", "value", &events, 0.1);
    assert!(a.lines().count() > 10, "the braille network spikes");
    assert_eq!(a, b, "CubaLIF, recurrent, with biases");
}

#[test]
fn networks_nir_cannot_express_are_refused_naming_what() {
    let networks = Path::new(env!("CARGO_MANIFEST_DIR")).join("networks");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.nir");
    for (net, message) in [
        ("coba.toml", "a clocked model has no NIR node"),
        ("brunel.toml", "NIR has no refractory period"),
        ("stdp_song.toml", "a clocked model"),
    ] {
        let r = synops(&[
            "export-nir",
            networks.join(net).to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(r.status.code(), Some(2), "{net}");
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains(message) && err.contains(net), "{net}: {err}");
        assert!(!out.exists());
    }
}

#[test]
fn a_spike_held_for_one_step_jumps_dt_times_a_unit_impulse() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.nir");
    nir_file(
        &path,
        &[
            ("input", "Input", vec![("shape", vec![1], vec![1.0])]),
            ("fc", "Linear", vec![("weight", vec![1, 1], vec![0.5])]),
            (
                "n",
                "CubaLIF",
                vec![
                    ("tau_syn", vec![1], vec![2e-4]),
                    ("tau_mem", vec![1], vec![1e-3]),
                    ("r", vec![1], vec![10.0]),
                    ("w_in", vec![1], vec![2.0]),
                    ("v_threshold", vec![1], vec![1.0]),
                ],
            ),
        ],
        &[("input", "fc"), ("fc", "n")],
    );
    let jump = |spike| {
        let options = Options {
            dt_ms: 0.1,
            time_unit: TimeUnit::Seconds,
            reset: ResetMode::Value,
            spike,
        };
        let (_, lowered) = nir::import(&path, &options).unwrap();
        let nir::lower::Synapses::Dense(w) = &lowered.projections[0].synapses else {
            panic!("a dense projection")
        };
        w[0]
    };
    // R w_in w / tau_syn = 10 x 2 x 0.5 / 2e-4; held for one step of 1e-4 s: 1e-4 of that.
    let dirac = jump(SpikeArea::Dirac);
    assert!((dirac - 50_000.0).abs() < 1e-9, "{dirac}");
    let step = jump(SpikeArea::Step);
    assert!((step - 5.0).abs() < 1e-12, "{step}");
}

/// Import `nodes`/`edges` (time in steps, dt 1 ms, reset by subtraction), drive `input` with
/// `events`, run 30 steps and return spikes.csv.
fn import_and_run(
    dir: &Path,
    name: &str,
    nodes: &[NodeSpec],
    edges: &[(&str, &str)],
    events: &[(u32, u32)],
) -> String {
    let path = dir.join(format!("{name}.nir"));
    nir_file(&path, nodes, edges);
    let out = dir.join(name);
    import_nir(
        path.to_str().unwrap(),
        "1",
        ("steps", "subtract"),
        out.to_str().unwrap(),
    );
    write_input(&dir.join(format!("{name}.input.csv")), events, 1.0);
    let results = dir.join(format!("{name}-run"));
    ok(synops(&[
        "run",
        out.with_extension("toml").to_str().unwrap(),
        "--duration-ms",
        "30",
        "--out",
        results.to_str().unwrap(),
        "--quiet",
    ]));
    std::fs::read_to_string(results.join("spikes.csv")).unwrap()
}

#[test]
fn conv1d_equals_its_matrix_and_a_delay_node_delays_by_its_steps() {
    let dir = tempfile::tempdir().unwrap();
    // Conv1d 2 -> 3 channels, width 3, stride 2, padding 1, on [2, 10]: output [3, 5].
    let (cin, cout, k, len, out_len) = (2usize, 3usize, 3usize, 10usize, 5usize);
    let kernel: Vec<f64> = (0..cout * cin * k)
        .map(|i| ((i * 5 % 11) as f64 - 3.0) / 8.0)
        .collect();
    let mut matrix = vec![0.0; cout * out_len * cin * len];
    for o in 0..cout {
        for x in 0..out_len {
            for c in 0..cin {
                for j in 0..k {
                    let pos = (2 * x + j) as i64 - 1;
                    if (0..len as i64).contains(&pos) {
                        matrix[(o * out_len + x) * cin * len + c * len + pos as usize] +=
                            kernel[(o * cin + c) * k + j];
                    }
                }
            }
        }
    }
    let input = (
        "input",
        "Input",
        vec![("shape", vec![2], vec![cin as f64, len as f64])],
    );
    let neurons = || {
        (
            "n",
            "IF",
            vec![
                (
                    "r",
                    vec![cout as u64, out_len as u64],
                    vec![1.0; cout * out_len],
                ),
                ("v_threshold", vec![1], vec![1.0]),
            ],
        )
    };
    let events: Vec<(u32, u32)> = (0..20)
        .flat_map(|t| {
            (0..20)
                .filter(move |i| (i * 3 + t) % 4 == 0)
                .map(move |i| (t, i))
        })
        .collect();
    let conv = import_and_run(
        dir.path(),
        "conv",
        &[
            input.clone(),
            (
                "c",
                "Conv1d",
                vec![
                    (
                        "weight",
                        vec![cout as u64, cin as u64, k as u64],
                        kernel.clone(),
                    ),
                    ("stride", vec![1], vec![2.0]),
                    ("padding", vec![1], vec![1.0]),
                    ("dilation", vec![1], vec![1.0]),
                    ("groups", vec![], vec![1.0]),
                    ("input_shape", vec![1], vec![len as f64]),
                ],
            ),
            neurons(),
        ],
        &[("input", "c"), ("c", "n")],
        &events,
    );
    let dense = import_and_run(
        dir.path(),
        "dense",
        &[
            input.clone(),
            (
                "f",
                "Linear",
                vec![(
                    "weight",
                    vec![(cout * out_len) as u64, (cin * len) as u64],
                    matrix.clone(),
                )],
            ),
            neurons(),
        ],
        &[("input", "f"), ("f", "n")],
        &events,
    );
    assert!(conv.lines().count() > 10, "the layer spikes");
    assert_eq!(conv, dense, "Conv1d against its matrix");
    // The same matrix behind a Delay of 3 steps: every spike 3 steps later.
    let delayed = import_and_run(
        dir.path(),
        "delayed",
        &[
            input,
            ("d", "Delay", vec![("delay", vec![1], vec![3.0])]),
            (
                "f",
                "Linear",
                vec![(
                    "weight",
                    vec![(cout * out_len) as u64, (cin * len) as u64],
                    matrix,
                )],
            ),
            neurons(),
        ],
        &[("input", "d"), ("d", "f"), ("f", "n")],
        &events,
    );
    let shift = |text: &str, by: f64| -> Vec<String> {
        text.lines()
            .skip(1)
            .map(|l| {
                let (t, rest) = l.split_once(',').unwrap();
                format!("{},{rest}", t.parse::<f64>().unwrap() + by)
            })
            .filter(|l| l.split(',').next().unwrap().parse::<f64>().unwrap() <= 30.0)
            .collect()
    };
    assert_eq!(shift(&delayed, 0.0), shift(&dense, 3.0));
}

#[test]
fn eval_feeds_each_sample_to_an_imported_network_and_reads_the_most_spiking_output() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.nir");
    nir_file(
        &path,
        &[
            ("input", "Input", vec![("shape", vec![1], vec![2.0])]),
            (
                "fc",
                "Linear",
                vec![("weight", vec![2, 2], vec![1.0, 0.0, 0.0, 1.0])],
            ),
            (
                "n",
                "IF",
                vec![
                    ("r", vec![2], vec![1.0, 1.0]),
                    ("v_threshold", vec![1], vec![1.0]),
                ],
            ),
            ("output", "Output", vec![("shape", vec![1], vec![2.0])]),
        ],
        &[("input", "fc"), ("fc", "n"), ("n", "output")],
    );
    let out = dir.path().join("two");
    import_nir(
        path.to_str().unwrap(),
        "1",
        ("steps", "value"),
        out.to_str().unwrap(),
    );
    // Sample i spikes on input neuron i % 2 at steps 0, 1 and 2 (5 steps, 2 neurons).
    let (n, steps) = (4usize, 5usize);
    let mut x = vec![0f32; n * steps * 2];
    for i in 0..n {
        for t in 0..3 {
            x[(i * steps + t) * 2 + i % 2] = 1.0;
        }
    }
    let evaluate = |labels: &[i64], name: &str| -> serde_json::Value {
        let data = dir.path().join(format!("{name}.npz"));
        std::fs::write(
            &data,
            common::npz(&[
                ("x".into(), common::npy_f32(&[n, steps, 2], &x)),
                ("y".into(), common::npy_i64(&[n], labels)),
            ]),
        )
        .unwrap();
        let results = dir.path().join(name);
        ok(synops(&[
            "eval",
            out.with_extension("toml").to_str().unwrap(),
            "--data",
            &format!("npz:{}", data.display()),
            "--timesteps",
            "1,5",
            "--out",
            results.to_str().unwrap(),
            "--quiet",
        ]));
        serde_json::from_str(&std::fs::read_to_string(results.join("eval.json")).unwrap()).unwrap()
    };
    let right = evaluate(&[0, 1, 0, 1], "right");
    assert_eq!(right["kind"], "spiking");
    assert_eq!(right["output"], "n");
    // After 1 step no output spike yet (ties read neuron 0: half right); after 5, all.
    assert_eq!(right["timesteps"][0]["accuracy"], 0.5);
    assert_eq!(right["timesteps"][1]["accuracy"], 1.0);
    // Three input spikes (steps 1-3) and three output spikes (steps 2-4) per sample.
    assert_eq!(right["timesteps"][1]["spikes_per_sample"], 6.0);
    let wrong = evaluate(&[1, 0, 1, 0], "wrong");
    assert_eq!(wrong["timesteps"][1]["accuracy"], 0.0);
    // A value that is not a spike count is refused with the sample, step and neuron.
    x[3] = 0.5;
    let data = dir.path().join("bad.npz");
    std::fs::write(
        &data,
        common::npz(&[
            ("x".into(), common::npy_f32(&[n, steps, 2], &x)),
            ("y".into(), common::npy_i64(&[n], &[0, 1, 0, 1])),
        ]),
    )
    .unwrap();
    let r = synops(&[
        "eval",
        out.with_extension("toml").to_str().unwrap(),
        "--data",
        &format!("npz:{}", data.display()),
        "--timesteps",
        "5",
        "--out",
        dir.path().join("bad").to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("sample 0, step 1, neuron 1: 0.5"), "{err}");
}
