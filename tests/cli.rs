//! The `synops` binary, run in a temporary folder as a user would.

use std::path::Path;
use std::process::Command;

fn synops(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_synops"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("synops runs")
}

fn networks() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("networks")
}

#[test]
fn run_writes_summary_and_spikes() {
    let dir = tempfile::tempdir().unwrap();
    let example = networks().join("example.toml");
    let out = synops(
        &["run", example.to_str().unwrap(), "--duration-ms", "200"],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("mean rate"), "{stdout}");
    let results = dir.path().join("results/example");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results.join("summary.json")).unwrap())
            .unwrap();
    for key in [
        "network",
        "engine",
        "neurons",
        "synapses",
        "dt_ms",
        "duration_ms",
        "seed",
        "spikes",
        "synaptic_events",
        "neuron_updates",
        "build_s",
        "wall_s",
        "events_per_s",
        "mean_rate_hz",
        "peak_rss_mb",
        "populations",
        "projections",
        "synops_version",
    ] {
        assert!(summary.get(key).is_some(), "summary.json lacks {key}");
    }
    assert_eq!(summary["duration_ms"], 200.0);
    assert_eq!(summary["engine"], "event");
    let spikes = std::fs::read_to_string(results.join("spikes.csv")).unwrap();
    assert!(spikes.starts_with("time_ms,population,index\n"));
    let recorded = spikes.lines().count() - 1;
    let pops = summary["populations"].as_array().unwrap();
    let exc_inh: u64 = pops[..2]
        .iter()
        .map(|p| p["spikes"].as_u64().unwrap())
        .sum();
    assert!(
        recorded as u64 >= exc_inh,
        "all exc and inh spikes are recorded"
    );
    assert!(results.join("traces.csv").exists());
    assert!(results.join("rates.csv").exists());
    // No temporary files are left behind.
    for entry in std::fs::read_dir(&results).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(!name.starts_with('.'), "left {name}");
    }
}

#[test]
fn engines_write_identical_spike_files() {
    let dir = tempfile::tempdir().unwrap();
    let example = networks().join("example.toml");
    for engine in ["event", "clock"] {
        let out = synops(
            &[
                "run",
                example.to_str().unwrap(),
                "--engine",
                engine,
                "--out",
                engine,
                "--quiet",
            ],
            dir.path(),
        );
        assert!(out.status.success());
        assert!(out.stdout.is_empty(), "--quiet prints nothing");
    }
    let read = |e: &str| std::fs::read(dir.path().join(e).join("spikes.csv")).unwrap();
    assert_eq!(read("event"), read("clock"));
}

#[test]
fn bad_input_exits_2_with_a_message_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "version = 1\nname = \"bad\"\n[simulation]\ndt_ms = 0.1\nduration_ms = 10.0\nsed = 1\n",
    )
    .unwrap();
    let out = synops(&["run", "bad.toml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml:6:1") && stderr.contains("did you mean `seed`?"),
        "{stderr}"
    );
    assert!(!dir.path().join("results").exists());
    let out = synops(&["run", "missing.toml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml: cannot read"));
    let out = synops(&["validate", "bad.toml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_clocked_models_and_noise_exit_2_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let coba = std::fs::read_to_string(networks().join("coba.toml")).unwrap();
    let izhikevich = std::fs::read_to_string(networks().join("izhikevich.toml")).unwrap();
    let cases = [
        // NaN, wrong type, huge, unknown field of a model's own parameters.
        (
            coba.replacen("g_leak_ns = 10.0", "g_leak_ns = nan", 1),
            "g_leak_ns",
        ),
        (
            coba.replacen("tau_m_ms = 20.0", "tau_m_ms = \"20\"", 1),
            "expected a number",
        ),
        (
            coba.replacen("e_inh_mv = -80.0", "e_inh_mv = 1e309", 1),
            "net.toml:27",
        ),
        (
            coba.replacen("e_inh_mv = -80.0", "e_inh_mv = -1e300", 1),
            "beyond ±1e6 mV",
        ),
        (
            coba.replacen(
                "tau_syn_inh_ms = 10.0",
                "tau_syn_inh_ms = 10.0\nmethd = \"euler\"",
                1,
            ),
            "did you mean `method`?",
        ),
        (
            coba.replacen("weight_ns = 67.0", "weight_ns = 1e300", 1),
            "weight_ns",
        ),
        (
            izhikevich.replacen("std_mv = 5.0", "std_mv = nan", 1),
            "std_mv",
        ),
        (
            izhikevich.replacen("c = [-65.0, 0.0, 15.0]", "c = [-65.0, 0.0]", 1),
            "net.toml",
        ),
        // Truncated in the middle of a population.
        (
            coba[..coba.find("tau_syn_exc_ms").unwrap()].to_string(),
            "net.toml",
        ),
    ];
    for (text, named) in cases {
        std::fs::write(dir.path().join("net.toml"), &text).unwrap();
        let out = synops(&["run", "net.toml", "--out", "out"], dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(named), "{named}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!dir.path().join("out").exists());
    }
}

#[test]
fn validate_and_graph() {
    let dir = tempfile::tempdir().unwrap();
    let cuba = networks().join("cuba.toml");
    let out = synops(&["validate", cuba.to_str().unwrap()], dir.path());
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("4000 neurons"));
    let out = synops(
        &["graph", cuba.to_str().unwrap(), "-o", "cuba.dot"],
        dir.path(),
    );
    assert!(out.status.success());
    let dot = std::fs::read_to_string(dir.path().join("cuba.dot")).unwrap();
    assert!(dot.starts_with("digraph \"cuba\""));
    assert_eq!(dot.matches(" -> ").count(), 4);
}

#[test]
fn profile_and_threads_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let cuba = networks().join("cuba.toml");
    let out = synops(
        &[
            "run",
            cuba.to_str().unwrap(),
            "--duration-ms",
            "100",
            "--threads",
            "2",
            "--profile",
            "--out",
            "o",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("profile (thread time)"));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("o/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["threads"], 2);
    let profile = &summary["profile"];
    let phase = |k: &str| profile[k].as_f64().unwrap_or(-1.0);
    for key in [
        "drives_s",
        "delivery_s",
        "updates_s",
        "checks_s",
        "sequential_s",
    ] {
        assert!(phase(key) >= 0.0, "{key}: {profile}");
    }
    // CUBA has no Poisson drive; its neurons receive spikes and are checked.
    assert!(
        phase("updates_s") > 0.0 && phase("delivery_s") > 0.0,
        "{profile}"
    );
}

#[test]
fn thread_counts_write_identical_spike_files() {
    let dir = tempfile::tempdir().unwrap();
    let brunel = networks().join("brunel.toml");
    for threads in ["1", "2", "3", "4"] {
        let out = synops(
            &[
                "run",
                brunel.to_str().unwrap(),
                "--duration-ms",
                "50",
                "--threads",
                threads,
                "--out",
                threads,
                "--quiet",
            ],
            dir.path(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let read = |t: &str| std::fs::read(dir.path().join(t).join("spikes.csv")).unwrap();
    let one = read("1");
    assert!(one.len() > 1000, "spikes were written");
    for threads in ["2", "3", "4"] {
        assert!(
            read(threads) == one,
            "{threads} threads: different spikes.csv"
        );
    }
}

#[test]
fn energy_options_that_do_not_apply_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let summary = fixtures.join("run/summary.json");
    for extra in [["--timesteps", "10"], ["--ann-skip-zeros", "--no-memory"]] {
        let mut args = vec!["energy", summary.to_str().unwrap()];
        args.extend(extra);
        let out = synops(&args, dir.path());
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("applies to an evaluation") && err.contains("summary.json"),
            "{err}"
        );
    }
    let eval = fixtures.join("eval/eval.json");
    let out = synops(
        &["energy", eval.to_str().unwrap(), "--hops", "1,-2"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--hops"));
    // Without --timesteps every T of the evaluation is listed.
    let out = synops(
        &["energy", eval.to_str().unwrap(), "--device", "loihi"],
        dir.path(),
    );
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for t in ["| 10 |", "| 25 |", "| 50 |", "| 100 |"] {
        assert!(text.contains(t), "{text}");
    }
}

#[test]
fn options_are_checked_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let example = networks().join("example.toml");
    let example = example.to_str().unwrap();
    // An unknown energy device is refused before the run: nothing is written.
    let out = synops(
        &["run", example, "--energy", "loihi3", "--out", "r"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown device `loihi3`"));
    assert!(!dir.path().join("r").exists());
    let out = synops(
        &["run", example, "--threads", "0", "--out", "r"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--threads must be at least 1"));
    assert!(!dir.path().join("r").exists());
    // Too many threads are bounded, with a note, and the summary records the threads used.
    let out = synops(
        &[
            "run",
            example,
            "--threads",
            "1000",
            "--duration-ms",
            "10",
            "--out",
            "r",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--threads 1000: running on 1"));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["threads"], 1);
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let data = format!("mnist:{}", model.display());
    let out = synops(
        &["eval", example, "--data", &data, "--samples", "0"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--samples must be at least 1"));
    let out = synops(
        &[
            "eval",
            example,
            "--data",
            &data,
            "--timesteps",
            "10,4000000000",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most 1000000 steps"));
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mlp_small/model.safetensors");
    let out = synops(
        &[
            "convert",
            model.to_str().unwrap(),
            "--calibration",
            &data,
            "--out",
            "c",
            "--initial-potential",
            "1.5",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--initial-potential is a fraction of the threshold in [0, 1), got 1.5")
    );
    assert!(!dir.path().join("c.toml").exists());
    // A malformed data argument is refused before the network is read (example.toml is not a
    // converted network: reading it first would give another error).
    for (arg, message) in [
        ("npz:d.npz,z=1", "unknown npz option `z=`"),
        ("cifar:d", "data must be given as mnist:DIR"),
    ] {
        let out = synops(&["eval", example, "--data", arg], dir.path());
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{arg}: {err}");
    }
}

#[test]
fn a_missing_file_is_named_once_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["run", "missing.toml"],
        vec!["energy", "missing.json"],
        vec!["plot", "raster", "missing", "-o", "x.png"],
    ] {
        let out = synops(&args, dir.path());
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("missing") && err.contains("cannot read"),
            "{err}"
        );
        let reason = err.rsplit(": ").next().unwrap().trim();
        assert_eq!(err.matches(reason).count(), 1, "said twice: {err}");
        assert!(!err.contains("entity not found"), "{err}");
    }
}

#[test]
fn eval_threads_change_nothing_but_the_time() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("models/mlp_small/model.safetensors");
    let data = format!("mnist:{}", root.join("data/mnist").display());
    let out = synops(
        &[
            "convert",
            model.to_str().unwrap(),
            "--calibration",
            &data,
            "--calibration-samples",
            "200",
            "--out",
            "snn",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reports = Vec::new();
    for threads in ["1", "2"] {
        let folder = format!("e{threads}");
        let out = synops(
            &[
                "eval",
                "snn.toml",
                "--data",
                &data,
                "--samples",
                "60",
                "--timesteps",
                "10,30",
                "--threads",
                threads,
                "--early-exit",
                "2",
                "--out",
                &folder,
                "--quiet",
            ],
            dir.path(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(dir.path().join(&folder).join("eval.json")).unwrap();
        let mut report: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(report["threads"].as_u64().unwrap().to_string(), threads);
        let o = report.as_object_mut().unwrap();
        o.remove("wall_s");
        o.remove("threads");
        reports.push(report);
    }
    assert_eq!(reports[0], reports[1]);
    assert_eq!(
        reports[0]["early_exit"]["timesteps"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let out = synops(
        &["eval", "snn.toml", "--data", &data, "--threads", "0"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--threads must be at least 1"));
    for (args, message) in [
        (
            ["--early-exit", "0"],
            "--early-exit must be a positive lead, got 0",
        ),
        (
            ["--early-exit", "NaN"],
            "--early-exit must be a positive lead, got NaN",
        ),
        (
            ["--early-exit-steps", "0"],
            "--early-exit-steps must be at least 1",
        ),
    ] {
        let mut all = vec!["eval", "snn.toml", "--data", &data];
        all.extend(args);
        let out = synops(&all, dir.path());
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{stderr}");
        assert!(!dir.path().join("results").exists(), "nothing written");
    }
}
