//! Every figure kind renders from the small fixtures in `tests/fixtures`; bad input gives a
//! clear error, exit code 2 and no file.

use std::path::{Path, PathBuf};
use std::process::Command;
use synops::plot::{Kind, plot};

fn fixtures(which: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(which)
}

fn input(kind: Kind) -> PathBuf {
    match kind {
        Kind::Accuracy | Kind::Tradeoff | Kind::Layers | Kind::EnergyVsT => fixtures("eval"),
        Kind::Weights => fixtures("weights"),
        Kind::Pareto => fixtures("sweep"),
        _ => fixtures("run"),
    }
}

/// Decode a PNG: (width, height, RGB(A) bytes, bytes per pixel).
fn decode(path: &Path) -> (u32, u32, Vec<u8>, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf, info.color_type.samples())
}

#[test]
fn every_kind_renders_a_png_of_the_requested_size_that_is_not_blank() {
    let dir = tempfile::tempdir().unwrap();
    for kind in Kind::ALL {
        let out = dir.path().join(format!("{}.png", kind.name()));
        plot(kind, &input(kind), &out, (800, 500))
            .unwrap_or_else(|e| panic!("{}: {e}", kind.name()));
        let (w, h, pixels, channels) = decode(&out);
        assert_eq!((w, h), (800, 500), "{}", kind.name());
        let colored = pixels
            .chunks(channels)
            .filter(|p| p[..3].iter().any(|&c| c < 200))
            .count();
        let mut distinct: Vec<&[u8]> = pixels.chunks(channels).collect();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(
            colored > 2000,
            "{}: only {colored} drawn pixels",
            kind.name()
        );
        assert!(
            distinct.len() > 10,
            "{}: {} colours",
            kind.name(),
            distinct.len()
        );
    }
}

fn svg(kind: Kind, input: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f.svg");
    plot(kind, input, &out, (800, 500)).unwrap();
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn svg_raster_has_one_mark_per_spike() {
    let spikes = std::fs::read_to_string(fixtures("run/spikes.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    let text = svg(Kind::Raster, &fixtures("run"));
    // One circle per spike plus one legend marker per recorded population (exc, inh, integrator).
    assert_eq!(text.matches("<circle").count(), spikes + 3);
    assert!(text.contains("time [ms]") && text.contains("spike raster"));
}

#[test]
fn svg_energy_has_one_bar_per_part_and_device() {
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures("eval/energy.json")).unwrap())
            .unwrap();
    let devices = report["devices"].as_array().unwrap();
    let mut parts: Vec<&str> = devices
        .iter()
        .flat_map(|d| {
            d["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["part"].as_str().unwrap())
        })
        .collect();
    parts.sort_unstable();
    parts.dedup();
    let text = svg(Kind::Energy, &fixtures("eval"));
    // First device's colour: one bar per part plus its legend swatch.
    assert_eq!(text.matches("fill=\"#1F77B4\"").count(), parts.len() + 1);
    assert!(text.contains("energy ["));
}

#[test]
fn svg_accuracy_marks_every_time_step_and_the_ann() {
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures("eval/eval.json")).unwrap())
            .unwrap();
    let steps = eval["timesteps"].as_array().unwrap().len();
    let text = svg(Kind::Accuracy, &fixtures("eval"));
    assert_eq!(text.matches("<circle").count(), steps);
    assert!(
        text.contains("ANN ") && text.contains("time steps T") && text.contains("accuracy [%]")
    );
}

#[test]
fn missing_or_malformed_input_is_refused_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f.png");
    let e = plot(Kind::Raster, dir.path(), &out, (400, 300))
        .unwrap_err()
        .to_string();
    assert!(e.contains("spikes.csv") && e.contains("cannot read"), "{e}");
    std::fs::write(
        dir.path().join("spikes.csv"),
        "time_ms,population,index\n1.0,exc,0\n",
    )
    .unwrap();
    let e = plot(Kind::Raster, dir.path(), &out, (400, 300))
        .unwrap_err()
        .to_string();
    assert!(e.contains("summary.json"), "{e}");
    std::fs::copy(
        fixtures("run/summary.json"),
        dir.path().join("summary.json"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("spikes.csv"),
        "time_ms,population,index\n1.0,exc,0\nx,exc,1\n",
    )
    .unwrap();
    let e = plot(Kind::Raster, dir.path(), &out, (400, 300))
        .unwrap_err()
        .to_string();
    assert!(e.contains("spikes.csv:3") && e.contains("`x`"), "{e}");
    std::fs::write(dir.path().join("eval.json"), "{\"model\": 1}").unwrap();
    let e = plot(Kind::Accuracy, dir.path(), &out, (400, 300))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("eval.json") && e.contains("not a synops eval.json"),
        "{e}"
    );
    // A sweep whose points lack a device's energy, or hold an impossible value.
    let sweep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures("sweep/sweep.json")).unwrap())
            .unwrap();
    for (path, value, said) in [
        (
            "/points/3/energy",
            serde_json::json!([]),
            "points[3]: 0 energies for 2 devices",
        ),
        (
            "/points/1/accuracy",
            serde_json::json!(1.5),
            "points[1].accuracy: 1.5",
        ),
        (
            "/points/0/energy/1/energy_j",
            serde_json::json!(0.0),
            "energy 0 J",
        ),
    ] {
        let mut v = sweep.clone();
        *v.pointer_mut(path).unwrap() = value;
        std::fs::write(dir.path().join("sweep.json"), v.to_string()).unwrap();
        let e = plot(Kind::Pareto, dir.path(), &out, (400, 300))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sweep.json: ") && e.contains(said),
            "{path}: {e}"
        );
    }
    let e = plot(
        Kind::Accuracy,
        &fixtures("eval"),
        &dir.path().join("f.jpg"),
        (400, 300),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains(".png or .svg"), "{e}");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.ends_with(".png") && !n.contains(".tmp")),
        "{names:?}"
    );
}

#[test]
fn cli_plot_exits_2_on_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_synops"))
        .args(["plot", "rates", "nowhere", "-o", "rates.png"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nowhere"));
    assert!(!dir.path().join("rates.png").exists());
    let out = Command::new(env!("CARGO_BIN_EXE_synops"))
        .args([
            "plot",
            "traces",
            fixtures("run").to_str().unwrap(),
            "-o",
            "traces.svg",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read_to_string(dir.path().join("traces.svg"))
            .unwrap()
            .contains("v [mV]")
    );
}

#[test]
fn figure_sizes_out_of_range_are_refused_before_drawing() {
    let dir = tempfile::tempdir().unwrap();
    for size in [(100_000_000, 700), (1200, 0), (1200, u32::MAX)] {
        let out = dir.path().join("r.png");
        let e = plot(Kind::Raster, &fixtures("run"), &out, size)
            .unwrap_err()
            .to_string();
        assert!(e.contains("200 to 10000 pixels"), "{e}");
        assert!(!out.exists());
    }
}

/// Run `f` on another thread and fail if it takes longer than `seconds` (a hang).
fn within<T: Send + 'static>(seconds: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || send.send(f()));
    receive
        .recv_timeout(std::time::Duration::from_secs(seconds))
        .expect("finished in time (no hang)")
}

#[test]
fn extreme_values_are_refused_quickly_and_write_nothing() {
    let cases = [
        (
            Kind::Traces,
            "traces.csv",
            "time_ms,population,index,v_mv,i_exc_mv,i_inh_mv\n0.1,exc,0,1e308,0,0\n0.2,exc,0,-1e308,0,0\n",
            "beyond ±1e300",
        ),
        (
            Kind::Traces,
            "traces.csv",
            "time_ms,population,index,v_mv,i_exc_mv,i_inh_mv\n-1e300,exc,0,1,0,0\n1e300,exc,0,2,0,0\n",
            "outside the run",
        ),
        (
            Kind::Isi,
            "spikes.csv",
            "time_ms,population,index\n1.0,exc,0\n1e300,exc,0\n2e300,exc,0\n",
            "outside the run",
        ),
        (
            Kind::Isi,
            "spikes.csv",
            "time_ms,population,index\n-1e308,exc,0\n1,exc,0\n1e308,exc,0\n",
            "beyond ±1e300",
        ),
    ];
    for (kind, file, text, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            fixtures("run/summary.json"),
            dir.path().join("summary.json"),
        )
        .unwrap();
        std::fs::write(dir.path().join(file), text).unwrap();
        let (input, out) = (dir.path().to_path_buf(), dir.path().join("f.png"));
        let result = within(10, move || plot(kind, &input, &out, (400, 300)));
        let e = result.unwrap_err().to_string();
        assert!(e.contains(file) && e.contains(expected), "{e}");
        assert!(!dir.path().join("f.png").exists());
    }
}

#[test]
fn an_output_folder_that_does_not_exist_is_named_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("missing/f.png");
    let e = plot(Kind::Raster, &fixtures("run"), &out, (400, 300))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("missing/f.png") && e.contains("cannot write"),
        "{e}"
    );
    assert!(!e.contains("ImageError") && !e.contains("Os {"), "{e}");
}

#[test]
fn spikes_listed_twice_or_out_of_order_still_draw_in_time() {
    // Found by the mutation suite: repeated rows made a CV of 0/0 and an endless axis.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures("run/summary.json"),
        dir.path().join("summary.json"),
    )
    .unwrap();
    let mut text = std::fs::read_to_string(fixtures("run/spikes.csv")).unwrap();
    text.push_str("190.0,inh,1\n190.2,inh,6\n195.0,integrator,1\n197.5,exc,32\n1.0,exc,32\n");
    std::fs::write(dir.path().join("spikes.csv"), text).unwrap();
    for kind in [Kind::Raster, Kind::Rates, Kind::Isi] {
        let (input, out) = (dir.path().to_path_buf(), dir.path().join("f.svg"));
        within(10, move || plot(kind, &input, &out, (400, 300))).unwrap();
    }
}

/// A copy of the `weights` fixture with its `weights.csv` replaced by `csv`.
fn weights_folder(csv: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures("weights/summary.json"),
        dir.path().join("summary.json"),
    )
    .unwrap();
    std::fs::write(dir.path().join("weights.csv"), csv).unwrap();
    dir
}

fn svg_with(input: &Path, synapses: &[u32]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f.svg");
    synops::plot::plot_with(Kind::Weights, input, &out, (900, 500), synapses).unwrap();
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn svg_weights_has_a_cell_per_snapshot_and_bin_and_a_line_per_chosen_synapse() {
    let csv = std::fs::read_to_string(fixtures("weights/weights.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    // The fixture: 12 synapses every 100 ms over 2 s (21 snapshots).
    assert_eq!(lines.len(), 1 + 21 * 12);
    let fewer = weights_folder(&(lines[..1 + 11 * 12].join("\n") + "\n"));
    let all = svg_with(&fixtures("weights"), &[]);
    let part = svg_with(fewer.path(), &[]);
    let rects = |s: &str| s.matches("<rect").count() as i64;
    assert_eq!(
        rects(&all) - rects(&part),
        10 * 40,
        "one cell per snapshot and bin"
    );
    // Each trace is a line and a legend mark; six by default, two when chosen.
    let chosen = svg_with(&fixtures("weights"), &[3, 7]);
    let lines_of = |s: &str| s.matches("<polyline").count() as i64;
    assert_eq!(lines_of(&all) - lines_of(&chosen), 2 * (6 - 2));
    assert!(chosen.contains("synapse 3") && chosen.contains("synapse 7"));
    assert!(!chosen.contains("synapse 5<"));
    assert!(all.contains("stdp_song") && all.contains("12 synapses"));
}

#[test]
fn bad_weight_files_and_choices_are_refused_with_the_line_and_write_nothing() {
    let header = "time_ms,projection,synapse,source,target,weight\n";
    let cases = [
        (
            format!("{header}0,p,0,0,0,0.1\n0,p,1,1,0,x\n"),
            "weights.csv:3",
            "`x`",
        ),
        (
            format!("{header}0,p,0,0,0,0.1\n0,p,0,0,0,0.2\n"),
            "weights.csv:3",
            "listed twice",
        ),
        (
            format!("{header}0,p,0,0,0,0.1\n0,p,1,1,0,0.1\n1,p,0,0,0,0.1\n2,p,0,0,0,0.1\n"),
            "weights.csv:5",
            "lists 1 synapses, the first one 2",
        ),
        (
            format!("{header}5,p,0,0,0,0.1\n1,p,0,0,0,0.1\n"),
            "weights.csv:3",
            "before its previous",
        ),
        (
            format!("{header}0,p,-1,0,0,0.1\n"),
            "weights.csv:2",
            "not a synapse index",
        ),
        (
            format!("{header}9999,p,0,0,0,0.1\n"),
            "weights.csv:2",
            "outside the run",
        ),
        (header.to_string(), "weights.csv", "no snapshot"),
        (
            "time_ms,weight\n".to_string(),
            "weights.csv:1",
            "expected `time_ms,projection",
        ),
    ];
    for (csv, place, what) in cases {
        let dir = weights_folder(&csv);
        let out = dir.path().join("w.png");
        let e = plot(Kind::Weights, dir.path(), &out, (400, 300))
            .unwrap_err()
            .to_string();
        assert!(e.contains(place) && e.contains(what), "{csv}: {e}");
        assert!(!out.exists());
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w.png");
    let e = synops::plot::plot_with(Kind::Weights, &fixtures("weights"), &out, (400, 300), &[12])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("synapse 12 is not in the file") && e.contains("12 synapses"),
        "{e}"
    );
    let e = synops::plot::plot_with(Kind::Raster, &fixtures("run"), &out, (400, 300), &[1])
        .unwrap_err()
        .to_string();
    assert!(e.contains("--synapses") && e.contains("raster"), "{e}");
    assert!(!out.exists());
}

#[test]
fn cli_plots_weights_with_chosen_synapses() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_synops"))
        .args(["plot", "weights"])
        .arg(fixtures("weights/weights.csv"))
        .args(["--synapses", "0,11", "-o", "w.svg"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("w.svg")).unwrap();
    assert!(text.contains("synapse 0") && text.contains("synapse 11"));
}
