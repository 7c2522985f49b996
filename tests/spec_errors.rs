//! Bad network files give one clear error naming the file, the field and the problem.

mod common;
use common::compile_text;
use std::path::Path;
use synops::Error;
use synops::network::{CompileOptions, compile};

const GOOD: &str = r#"version = 1
name = "t"
[simulation]
dt_ms = 0.1
duration_ms = 10.0
[[population]]
name = "a"
size = 10
model = "lif_delta"
tau_m_ms = 20.0
v_th_mv = 20.0
[[projection]]
source = "a"
target = "a"
connectivity = { rule = "fixed_probability", p = 0.5 }
weight_mv = 1.0
delay_ms = 1.0
"#;

fn error(text: &str) -> String {
    match compile_text(text, Path::new("net.toml")) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn assert_has(message: &str, parts: &[&str]) {
    for p in parts {
        assert!(message.contains(p), "`{message}` lacks `{p}`");
    }
}

#[test]
fn the_good_file_compiles() {
    compile_text(GOOD, Path::new("net.toml")).unwrap();
}

#[test]
fn malformed_toml_names_line_and_column() {
    let text = GOOD.replace("size = 10", "size = = 10");
    let e = error(&text);
    assert!(e.starts_with("net.toml:8:"), "{e}");
}

#[test]
fn unknown_field_suggests_the_nearest_name() {
    let e = error(&GOOD.replace("tau_m_ms", "tau_m"));
    assert_has(
        &e,
        &[
            "net.toml:10:",
            "unknown field `tau_m`",
            "did you mean `tau_m_ms`?",
        ],
    );
    let e = error(&GOOD.replace("[simulation]", "[simulation]\nsed = 3"));
    assert_has(&e, &["unknown field `sed`", "did you mean `seed`?"]);
}

#[test]
fn unknown_population_is_named_with_the_known_ones() {
    let e = error(&GOOD.replace("target = \"a\"", "target = \"b\""));
    assert_has(
        &e,
        &[
            "net.toml",
            "projection \"a->b\".target",
            "unknown population `b`",
            "known: a",
        ],
    );
}

#[test]
fn non_positive_time_constants_are_refused() {
    for bad in ["0.0", "-5.0"] {
        let e = error(&GOOD.replace("tau_m_ms = 20.0", &format!("tau_m_ms = {bad}")));
        assert_has(&e, &["population \"a\".tau_m_ms", "must be > 0"]);
    }
}

#[test]
fn probability_outside_unit_interval_is_refused() {
    let e = error(&GOOD.replace("p = 0.5", "p = 1.5"));
    assert_has(&e, &["connectivity.p", "[0, 1]", "1.5"]);
}

#[test]
fn delays_off_the_step_grid_name_the_nearest_valid_values() {
    let e = error(&GOOD.replace("delay_ms = 1.0", "delay_ms = 1.25"));
    assert_has(
        &e,
        &[
            "delay_ms",
            "1.25 ms is not a whole number of steps",
            "the nearest valid values are 1.2 ms and 1.3 ms",
        ],
    );
    let e = error(&GOOD.replace("delay_ms = 1.0", "delay_ms = 0.0"));
    assert_has(&e, &["delay_ms", "less than 1 step", "0.1 ms"]);
    // Below the first step, one valid value is the nearest (not "0.1 ms or 0.1 ms").
    let e = error(&GOOD.replace("delay_ms = 1.0", "delay_ms = 0.05"));
    assert_has(&e, &["delay_ms", "the nearest valid value is 0.1 ms"]);
    // Huge and tiny values are written short, never as hundreds of digits.
    for (from, to) in [
        ("delay_ms = 1.0", "delay_ms = 1e308"),
        ("delay_ms = 1.0", "delay_ms = -1e308"),
        ("dt_ms = 0.1", "dt_ms = 1e-300"),
        ("v_th_mv = 20.0", "v_th_mv = 1e308"),
        ("p = 0.5", "p = 1e308"),
        ("weight_mv = 1.0", "weight_mv = 1e308"),
    ] {
        let e = error(&GOOD.replace(from, to));
        assert!(e.len() < 300, "{to}: {e}");
        assert!(!e.contains("00000000"), "{to}: {e}");
        assert!(e.contains("e308") || e.contains("e-300"), "{to}: {e}");
    }
    // Rust type names never reach the user.
    let e = error(&GOOD.replace("{ rule = \"fixed_probability\", p = 0.5 }", "5"));
    assert_has(&e, &["expected a connectivity table such as"]);
    assert!(!e.contains("ConnectivitySpec"), "{e}");
    let e = error(&GOOD.replace("version = 1", "version = \"one\""));
    assert_has(&e, &["expected a whole number"]);
}

#[test]
fn nan_and_infinite_values_are_refused() {
    let e = error(&GOOD.replace("weight_mv = 1.0", "weight_mv = nan"));
    assert_has(&e, &["weight_mv", "finite"]);
    let e = error(&GOOD.replace("v_th_mv = 20.0", "v_th_mv = inf"));
    assert_has(&e, &["v_th_mv", "finite"]);
}

#[test]
fn parameters_of_another_model_are_refused() {
    let e = error(&GOOD.replace("v_th_mv = 20.0", "v_th_mv = 20.0\ntau_syn_exc_ms = 5.0"));
    assert_has(
        &e,
        &["tau_syn_exc_ms", "not a parameter of model `lif_delta`"],
    );
    let e = error(&GOOD.replace("tau_m_ms = 20.0\n", ""));
    assert_has(&e, &["population \"a\".tau_m_ms", "required"]);
}

#[test]
fn weights_of_the_wrong_sign_are_refused() {
    let e = error(&GOOD.replace("weight_mv = 1.0", "weight_mv = { uniform = [-1.0, 1.0] }"));
    assert_has(&e, &["weight_mv", "one sign per projection"]);
}

#[test]
fn too_large_networks_are_refused_before_allocating() {
    let text = GOOD.replace("size = 10", "size = 2000000").replace(
        "{ rule = \"fixed_probability\", p = 0.5 }",
        "{ rule = \"all_to_all\" }",
    );
    let spec = synops::network::parse_spec(&text, Path::new("net.toml")).unwrap();
    let options = CompileOptions {
        memory_limit_bytes: Some(1 << 30),
        ..Default::default()
    };
    match compile(&spec, Path::new("net.toml"), &options) {
        Err(e @ Error::TooLarge { .. }) => {
            assert_has(&e.to_string(), &["net.toml", "too large", "MB"])
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // The same file on this machine: 4e12 synapses cannot fit anywhere.
    let e = error(&text);
    assert_has(&e, &["too large"]);
}

#[test]
fn a_population_too_large_for_memory_is_refused_before_its_state_is_allocated() {
    // 4e9 neurons: 384 GB of state. Allocating first aborted the process.
    let text = GOOD
        .replace("size = 10", "size = 4000000000")
        .replace("p = 0.5", "p = 0.0");
    let spec = synops::network::parse_spec(&text, Path::new("net.toml")).unwrap();
    let options = CompileOptions {
        memory_limit_bytes: Some(1 << 30),
        ..Default::default()
    };
    match compile(&spec, Path::new("net.toml"), &options) {
        Err(e @ Error::TooLarge { .. }) => {
            assert_has(&e.to_string(), &["net.toml", "4000000000 neurons"])
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn a_synapse_list_whose_rows_cannot_fit_is_refused_before_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("s.csv");
    let rows: String = (0..100)
        .map(|i| format!("{},{}\n", i % 10, i / 10))
        .collect();
    std::fs::write(&csv, format!("source,target\n{rows}")).unwrap();
    let text = GOOD.replace(
        "{ rule = \"fixed_probability\", p = 0.5 }",
        "{ rule = \"from_file\", file = \"s.csv\" }",
    );
    let path = dir.path().join("net.toml");
    let spec = synops::network::parse_spec(&text, &path).unwrap();
    // 10 neurons fit in 2000 bytes; 100 rows at 64 bytes each do not.
    let options = CompileOptions {
        memory_limit_bytes: Some(2000),
        ..Default::default()
    };
    let e = compile(&spec, &path, &options).unwrap_err().to_string();
    assert_has(&e, &["s.csv", "101 lines need about"]);
    // And the list itself builds in the memory of this machine.
    compile(&spec, &path, &CompileOptions::default()).unwrap();
}

#[test]
fn files_that_are_not_regular_files_are_refused_without_reading() {
    let dir = tempfile::tempdir().unwrap();
    let e = synops::network::read_spec(dir.path())
        .unwrap_err()
        .to_string();
    assert_has(&e, &["not a regular file"]);
    if Path::new("/dev/zero").exists() {
        let e = synops::network::read_spec(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert_has(&e, &["/dev/zero", "not a regular file"]);
        let text = GOOD.replace(
            "{ rule = \"fixed_probability\", p = 0.5 }",
            "{ rule = \"from_file\", file = \"/dev/zero\" }",
        );
        assert_has(&error(&text), &["/dev/zero", "not a regular file"]);
    }
}

#[test]
fn missing_and_malformed_csv_files_are_reported_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("net.toml");
    let text = GOOD.replace(
        "[[projection]]",
        "[[population]]\nname = \"s\"\nsize = 2\nmodel = \"spike_source\"\nfile = \"spikes.csv\"\n[[projection]]",
    );
    let e = compile_text(&text, &net).unwrap_err().to_string();
    assert_has(&e, &["spikes.csv", "cannot read"]);
    std::fs::write(
        dir.path().join("spikes.csv"),
        "time_ms,index\n1.0,0\n2.0,x\n",
    )
    .unwrap();
    let e = compile_text(&text, &net).unwrap_err().to_string();
    assert_has(&e, &["spikes.csv:3", "`x` is not a number"]);
    std::fs::write(dir.path().join("spikes.csv"), "time_ms,index\n1.0,5\n").unwrap();
    let e = compile_text(&text, &net).unwrap_err().to_string();
    assert_has(&e, &["spikes.csv:2", "index 5"]);
    std::fs::write(dir.path().join("spikes.csv"), "time_ms,index\n1.05,0\n").unwrap();
    let e = compile_text(&text, &net).unwrap_err().to_string();
    assert_has(&e, &["spikes.csv:2", "not a whole number of steps"]);
    // A file without its header would lose its first spike; swapped columns are refused.
    std::fs::write(dir.path().join("spikes.csv"), "1.0,0\n2.0,1\n").unwrap();
    let e = compile_text(&text, &net).unwrap_err().to_string();
    assert_has(
        &e,
        &[
            "spikes.csv:1",
            "header `time_ms,index`",
            "found data `1.0,0`",
        ],
    );
    std::fs::write(dir.path().join("spikes.csv"), "index,time_ms\n0,1.0\n").unwrap();
    let e = compile_text(&text, &net).unwrap_err().to_string();
    assert_has(
        &e,
        &[
            "spikes.csv:1",
            "expected the header `time_ms,index`",
            "`index,time_ms`",
        ],
    );
}

#[test]
fn version_and_duplicates_are_checked() {
    let e = error(&GOOD.replace("version = 1", "version = 2"));
    assert_has(&e, &["version", "format version 1"]);
    let dup = GOOD.replace("[[projection]]", "[[population]]\nname = \"a\"\nsize = 1\nmodel = \"poisson\"\nrate_hz = 1.0\n[[projection]]");
    assert_has(&error(&dup), &["duplicate population name"]);
}

#[test]
fn indegree_larger_than_the_source_without_multapses_is_refused() {
    let e = error(&GOOD.replace(
        "{ rule = \"fixed_probability\", p = 0.5 }",
        "{ rule = \"fixed_indegree\", indegree = 11 }\nallow_multapses = false",
    ));
    assert_has(&e, &["indegree", "11"]);
}

#[test]
fn one_to_one_onto_itself_without_autapses_is_refused() {
    let e = error(&GOOD.replace(
        "{ rule = \"fixed_probability\", p = 0.5 }",
        "{ rule = \"one_to_one\" }\nallow_autapses = false",
    ));
    assert_has(&e, &["connectivity", "allow_autapses"]);
}

#[test]
fn poisson_rates_beyond_the_sampler_are_refused() {
    let text = GOOD.replace(
        "[[projection]]",
        "[[input]]\nkind = \"poisson\"\ntarget = \"a\"\nrate_hz = 5e6\nweight_mv = 0.1\n[[projection]]",
    );
    assert_has(&error(&text), &["input[0].rate_hz", "spikes per step"]);
    let text = GOOD.replace("rate_hz = 5e6", "rate_hz = -1.0");
    let text = text.replace(
        "[[projection]]",
        "[[input]]\nkind = \"poisson\"\ntarget = \"a\"\nrate_hz = -1.0\nweight_mv = 0.1\n[[projection]]",
    );
    assert_has(&error(&text), &["input[0].rate_hz", "must be >= 0"]);
}

#[test]
fn names_that_could_escape_results_or_break_a_csv_are_refused() {
    let cases = [
        ("name = \"t\"", "name = \"../../etc\"", "name"),
        ("name = \"t\"", "name = \"a,b\"", "name"),
        (
            "name = \"a\"",
            "name = \"exc\\ninh\"",
            "population \"exc\\ninh\".name",
        ),
        ("name = \"a\"", "name = \"x,y\"", "population \"x,y\".name"),
    ];
    for (from, to, field) in cases {
        let text = GOOD.replacen(from, to, 1);
        let text = if from == "name = \"a\"" {
            let new = &to["name = ".len()..];
            text.replace("source = \"a\"", &format!("source = {new}"))
                .replace("target = \"a\"", &format!("target = {new}"))
        } else {
            text
        };
        let e = error(&text);
        assert_has(&e, &["net.toml", field, "not allowed", "letters, digits"]);
    }
    let text = GOOD.replace("source = \"a\"", "name = \"p,q\"\nsource = \"a\"");
    assert_has(&error(&text), &["projection \"p,q\".name", "not allowed"]);
}
