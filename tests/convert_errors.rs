//! Bad models, weights and data give clear errors that name the file and the tensor, operator
//! or field; the command line exits with code 2 and writes nothing.

mod common;
use common::{bytes_field, varint, write_safetensors};
use std::path::{Path, PathBuf};
use std::process::Command;
use synops::convert::{self, LoadOptions};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn load_error(path: &Path) -> String {
    match convert::load_model(path, &LoadOptions::default()) {
        Ok(_) => panic!("{} was accepted", path.display()),
        Err(e) => e.to_string(),
    }
}

fn assert_has(message: &str, parts: &[&str]) {
    for p in parts {
        assert!(message.contains(p), "`{message}` lacks `{p}`");
    }
}

#[test]
fn shapes_that_do_not_chain_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    write_safetensors(
        &path,
        &[
            ("0.weight", vec![4, 3], vec![0.0; 12]),
            ("2.weight", vec![2, 5], vec![0.0; 10]),
        ],
    );
    assert_has(
        &load_error(&path),
        &["m.safetensors", "layer `2` takes 5 inputs", "do not chain"],
    );
}

#[test]
fn nan_weights_are_refused_with_the_tensor_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    write_safetensors(
        &path,
        &[("0.weight", vec![2, 2], vec![0.0, f32::NAN, 0.0, 0.0])],
    );
    assert_has(
        &load_error(&path),
        &[
            "m.safetensors",
            "tensor `0.weight`",
            "non-finite",
            "index 1",
        ],
    );
}

#[test]
fn a_bias_without_its_weight_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    write_safetensors(
        &path,
        &[
            ("0.weight", vec![2, 2], vec![0.0; 4]),
            ("1.bias", vec![2], vec![0.0; 2]),
        ],
    );
    assert_has(&load_error(&path), &["bias `1.bias`", "no matching weight"]);
}

#[test]
fn truncated_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = std::fs::read(root().join("models/mlp_small/model.safetensors")).unwrap();
    let path = dir.path().join("cut.safetensors");
    std::fs::write(&path, &model[..model.len() / 2]).unwrap();
    assert_has(
        &load_error(&path),
        &[
            "cut.safetensors",
            "not a valid safetensors file",
            "truncated",
        ],
    );
    let path = dir.path().join("cut.onnx");
    std::fs::write(&path, &model[..1000]).unwrap();
    let e = load_error(&path);
    assert!(
        e.contains("cut.onnx") && (e.contains("malformed ONNX") || e.contains("no graph")),
        "{e}"
    );
    let path = dir.path().join("cut.npz");
    std::fs::write(&path, b"PK\x03\x04garbage").unwrap();
    assert_has(&load_error(&path), &["cut.npz", "not a valid .npz"]);
    let path = dir.path().join("model.pt");
    std::fs::write(&path, b"x").unwrap();
    assert_has(&load_error(&path), &["model.pt", "unknown model format"]);
}

fn onnx_with_op(op: &str) -> Vec<u8> {
    let mut node = Vec::new();
    bytes_field(1, b"input", &mut node);
    bytes_field(2, b"y", &mut node);
    bytes_field(3, b"conv0", &mut node);
    bytes_field(4, op.as_bytes(), &mut node);
    let mut input = Vec::new();
    bytes_field(1, b"input", &mut input);
    let mut output = Vec::new();
    bytes_field(1, b"y", &mut output);
    let mut graph = Vec::new();
    bytes_field(1, &node, &mut graph);
    bytes_field(11, &input, &mut graph);
    bytes_field(12, &output, &mut graph);
    let mut model = Vec::new();
    varint(1 << 3, &mut model);
    varint(7, &mut model); // ir_version
    bytes_field(7, &graph, &mut model);
    model
}

#[test]
fn unsupported_onnx_operators_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lstm.onnx");
    std::fs::write(&path, onnx_with_op("LSTM")).unwrap();
    assert_has(
        &load_error(&path),
        &[
            "lstm.onnx",
            "node `conv0` (LSTM)",
            "operator LSTM is not supported",
            "supported: Conv, BatchNormalization",
        ],
    );
    std::fs::write(&path, onnx_with_op("Relu")).unwrap();
    assert_has(
        &load_error(&path),
        &[
            "node `conv0` (Relu)",
            "Relu must follow a Conv, Gemm or MatMul",
        ],
    );
    // A convolution needs the input's [channels, rows, cols] from the graph.
    std::fs::write(&path, onnx_with_op("Conv")).unwrap();
    assert_has(
        &load_error(&path),
        &[
            "node `conv0` (Conv)",
            "needs a [channels, rows, cols] input",
        ],
    );
}

#[test]
fn missing_calibration_data_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let e = synops::data::mnist::load(dir.path(), synops::data::Split::Train)
        .unwrap_err()
        .to_string();
    assert_has(&e, &["train-images-idx3-ubyte.gz", "cannot read"]);
    std::fs::write(
        dir.path().join("train-images-idx3-ubyte"),
        [0u8, 0, 8, 3, 0, 0, 0, 5],
    )
    .unwrap();
    std::fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        [0u8, 0, 8, 1, 0, 0, 0, 5],
    )
    .unwrap();
    let e = synops::data::mnist::load(dir.path(), synops::data::Split::Train)
        .unwrap_err()
        .to_string();
    assert_has(&e, &["train-images-idx3-ubyte", "not an IDX image file"]);
}

#[test]
fn dense_projection_with_a_missing_or_misshapen_tensor_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_safetensors(
        &dir.path().join("w.safetensors"),
        &[("a.weight", vec![3, 2], vec![0.1; 6])],
    );
    let net = |tensor: &str| {
        format!(
            "version = 1\nname = \"d\"\n[simulation]\ndt_ms = 1.0\nduration_ms = 5.0\n[[population]]\nname = \"in\"\nsize = 2\nmodel = \"analog\"\n[[population]]\nname = \"out\"\nsize = 4\nmodel = \"if\"\nv_th_mv = 1.0\n[[projection]]\nsource = \"in\"\ntarget = \"out\"\nconnectivity = {{ rule = \"dense\", file = \"w.safetensors\", tensor = \"{tensor}\" }}\ndelay_ms = 1.0\n"
        )
    };
    let path = dir.path().join("d.toml");
    std::fs::write(&path, net("b.weight")).unwrap();
    let e = synops::compile_file(&path, &Default::default())
        .unwrap_err()
        .to_string();
    assert_has(
        &e,
        &["d.toml", "connectivity", "no tensor `b.weight`", "a.weight"],
    );
    std::fs::write(&path, net("a.weight")).unwrap();
    let e = synops::compile_file(&path, &Default::default())
        .unwrap_err()
        .to_string();
    assert_has(&e, &["shape [3, 2]", "needs [4, 2]"]);
}

#[test]
fn cli_convert_and_eval_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_synops");
    let model = root().join("models/mlp_small/model.safetensors");
    let out = Command::new(bin)
        .args([
            "convert",
            model.to_str().unwrap(),
            "--calibration",
            "mnist:nowhere",
            "--out",
            "snn",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nowhere/train-images-idx3-ubyte.gz"));
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing written"
    );
    let cuba = root().join("networks/cuba.toml");
    let out = Command::new(bin)
        .args(["eval", cuba.to_str().unwrap(), "--data", "mnist:nowhere"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a converted network"));
}

#[test]
fn a_layer_of_size_zero_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    write_safetensors(&path, &[("0.weight", vec![0, 4], vec![])]);
    assert_has(
        &load_error(&path),
        &[
            "m.safetensors",
            "tensor `0.weight`",
            "[0, 4]",
            "at least one",
        ],
    );
}

#[test]
fn cli_convert_checks_its_options_before_any_work_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_synops");
    let data = format!("mnist:{}", root().join("data/mnist").display());
    for (option, value, expected) in [
        ("--max-rate-hz", "-5", "--max-rate-hz must be above 0"),
        ("--max-rate-hz", "1e9", "at most 1000"),
        ("--max-rate-hz", "NaN", "--max-rate-hz must be above 0"),
        (
            "--calibration-samples",
            "0",
            "--calibration-samples must be at least 1",
        ),
    ] {
        // A missing model shows whether the options were checked first.
        let out = Command::new(bin)
            .args(["convert", "missing.safetensors", "--calibration", &data])
            .args(["--out", "snn", &format!("{option}={value}")])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{option} {value}: {stderr}");
    }
    // A model whose weights leave the range of f32 once normalized.
    let huge = dir.path().join("huge.safetensors");
    write_safetensors(
        &huge,
        &[
            ("0.weight", vec![2, 784], vec![3e38; 2 * 784]),
            ("2.weight", vec![10, 2], vec![3e38; 20]),
        ],
    );
    let out = Command::new(bin)
        .args(["convert", huge.to_str().unwrap(), "--calibration", &data])
        .args(["--calibration-samples", "10", "--out", "snn"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("huge.safetensors"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "huge.safetensors")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
