//! Convolutional ANNs from ONNX: `models/cnn_small` (both exporters of `torch.onnx.export`)
//! gives PyTorch's logits and accuracy, and converts into a spiking network of convolution
//! kernels that follows its ANN; hand-made graphs check batch-normalization folding, padding
//! and the refusals.

mod common;
use common::{Attr, OnnxGraph};
use std::path::{Path, PathBuf};
use synops::Engine;
use synops::convert::features::FeatureLayer;
use synops::convert::{self, LoadOptions};
use synops::data::Split;
use synops::eval::{ConvertedNetwork, evaluate};

fn cnn(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models/cnn_small")
        .join(file)
}

fn meta() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(cnn("meta.json")).unwrap()).unwrap()
}

fn test_images() -> synops::data::Dataset {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    synops::data::mnist::load(&dir, Split::Test).unwrap()
}

#[test]
fn both_exports_give_pytorchs_logits() {
    let meta = meta();
    let reference = meta["reference_logits_first32"].as_array().unwrap();
    let test = test_images();
    for file in ["model.onnx", "model_dynamo.onnx"] {
        let ann = convert::load_model(&cnn(file), &LoadOptions::default()).unwrap();
        assert_eq!(ann.input_shape, [1, 28, 28], "{file}");
        let shapes: Vec<[usize; 3]> = ann.features.iter().map(FeatureLayer::out_shape).collect();
        assert_eq!(
            shapes,
            [[12, 24, 24], [12, 12, 12], [32, 8, 8], [32, 4, 4]],
            "{file}"
        );
        assert!(matches!(&ann.features[0], FeatureLayer::Conv(c) if c.relu));
        assert_eq!((ann.layers[0].n_in, ann.n_out()), (512, 10), "{file}");
        let macs = ann.feature_macs() + ann.macs_per_layer().iter().sum::<u64>();
        assert_eq!(
            macs,
            meta["ann_macs_per_sample"].as_u64().unwrap(),
            "{file}"
        );
        let mut worst = 0f64;
        for (i, logits) in reference.iter().enumerate() {
            let ours = ann.forward(test.image(i));
            for (a, b) in ours.iter().zip(logits.as_array().unwrap()) {
                worst = worst.max((f64::from(*a) - b.as_f64().unwrap()).abs());
            }
        }
        assert!(
            worst < 1e-4,
            "{file}: logits differ from PyTorch's by {worst}"
        );
    }
    // The two exports hold the same layers (under other names).
    let a = convert::load_model(&cnn("model.onnx"), &LoadOptions::default()).unwrap();
    let b = convert::load_model(&cnn("model_dynamo.onnx"), &LoadOptions::default()).unwrap();
    for (x, y) in a.features.iter().zip(&b.features) {
        match (x, y) {
            (FeatureLayer::Conv(x), FeatureLayer::Conv(y)) => {
                assert_eq!(
                    (&x.weight, &x.bias, x.out_shape()),
                    (&y.weight, &y.bias, y.out_shape())
                )
            }
            (FeatureLayer::AvgPool(x), FeatureLayer::AvgPool(y)) => {
                assert_eq!((x.kernel, x.stride, x.pads), (y.kernel, y.stride, y.pads))
            }
            _ => panic!("layer kinds differ: {} and {}", x.name(), y.name()),
        }
    }
    assert_eq!(a.layers[0].weight, b.layers[0].weight);
}

/// The ANN's accuracy on all 10,000 test images is PyTorch's (`meta.json`); the first 1,000
/// in the default suite, every image with `--ignored`.
fn accuracy_on(images: usize) -> (f64, f64) {
    let ann = convert::load_model(&cnn("model_dynamo.onnx"), &LoadOptions::default()).unwrap();
    let test = test_images().truncate(images);
    let correct = (0..test.len())
        .filter(|&i| ann.predict(test.image(i)) == test.labels[i] as usize)
        .count();
    (
        correct as f64 / test.len() as f64,
        meta()["ann_test_accuracy"].as_f64().unwrap(),
    )
}

#[test]
fn accuracy_on_the_first_thousand_images() {
    let (ours, _) = accuracy_on(1000);
    assert!(ours > 0.97, "{ours}");
}

#[test]
#[ignore = "the whole test set: a few seconds in release"]
fn full_test_set_accuracy_is_pytorchs() {
    let (ours, pytorch) = accuracy_on(10_000);
    assert_eq!(ours, pytorch);
}

/// `cnn_small` converted with 200 calibration images: its two convolutions and the linear
/// layer after the flatten become IF layers, the poolings fold into the projections after them.
fn converted_cnn(dir: &Path) -> (convert::Converted, PathBuf) {
    let ann = convert::load_model(&cnn("model.onnx"), &LoadOptions::default()).unwrap();
    let mnist = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let calibration = synops::data::mnist::load(&mnist, Split::Train)
        .unwrap()
        .truncate(200);
    let converted = convert::convert(&ann, &calibration, "cnn_small", &Default::default()).unwrap();
    let (path, _) = converted.write(&dir.join("cnn_snn")).unwrap();
    (converted, path)
}

#[test]
fn a_converted_cnn_follows_its_ann() {
    let dir = tempfile::tempdir().unwrap();
    let (converted, path) = converted_cnn(dir.path());
    let names: Vec<&str> = converted.scales.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["hidden1", "hidden2", "output"]);
    let cn = ConvertedNetwork::load(&path, 50).unwrap();
    // The ANN rebuilt from the network file (kernels, folded poolings, biases) is the scaled one.
    let test = test_images().truncate(60);
    for i in 0..5 {
        assert_eq!(
            cn.ann.forward(test.image(i)),
            converted.ann.forward(test.image(i))
        );
    }
    let sizes: Vec<u32> = cn.net.populations.iter().map(|p| p.size).collect();
    assert_eq!(sizes, [784, 12 * 24 * 24, 32 * 8 * 8, 10]);
    let report = evaluate(&cn, &test, &[25, 50], Engine::Event, |_| {}).unwrap();
    let at50 = &report.timesteps[1];
    assert!(
        at50.accuracy >= report.ann_accuracy - 1.0 / 60.0,
        "SNN {} against ANN {}",
        at50.accuracy,
        report.ann_accuracy
    );
    // Diagnostics and counts cover every layer, convolutions included.
    assert_eq!(report.layers.len(), 3);
    for l in &report.layers {
        assert!(
            l.correlation > 0.99,
            "{}: correlation {}",
            l.layer,
            l.correlation
        );
    }
    assert_eq!(
        report.ann_macs_per_layer,
        [12 * 25 * 576, 12 * 32 * 25 * 64, 5120]
    );
    // The kernels are stored once: what the energy model's memory tier is sized by.
    assert_eq!(report.ann_weights_per_layer, [12 * 25, 32 * 12 * 25, 5120]);
    assert_eq!(report.stored_weights(), 15_020);
    assert!(at50.sops_per_layer[1] > 0.0 && at50.sops_per_layer[2] > 0.0);
    assert!(report.ann_nonzero_macs_per_layer[1] < report.ann_macs_per_layer[1] as f64);
}

#[test]
fn a_converted_cnn_gives_the_same_spikes_on_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = converted_cnn(dir.path());
    let cn = ConvertedNetwork::load(&path, 30).unwrap();
    let test = test_images().truncate(4);
    let event = evaluate(&cn, &test, &[10, 30], Engine::Event, |_| {}).unwrap();
    let clock = evaluate(&cn, &test, &[10, 30], Engine::Clock, |_| {}).unwrap();
    for (e, c) in event.timesteps.iter().zip(&clock.timesteps) {
        assert_eq!(e.accuracy, c.accuracy);
        assert_eq!(e.sops_per_layer, c.sops_per_layer);
        assert_eq!(e.spikes_per_layer, c.spikes_per_layer);
    }
}

#[test]
fn a_missing_or_damaged_external_data_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model_dynamo.onnx");
    std::fs::copy(cnn("model_dynamo.onnx"), &model).unwrap();
    let e = convert::load_model(&model, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("model_dynamo.onnx.data"), "{e}");
    let data = std::fs::read(cnn("model_dynamo.onnx.data")).unwrap();
    std::fs::write(
        dir.path().join("model_dynamo.onnx.data"),
        &data[..data.len() / 2],
    )
    .unwrap();
    let e = convert::load_model(&model, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model_dynamo.onnx.data") && e.contains("truncated"),
        "{e}"
    );
}

/// Conv 2 -> 3 (3 x 3, stride 2, SAME_UPPER padding), BatchNormalization, Relu,
/// GlobalAveragePool, Flatten, Gemm 3 -> 2, on a 2 x 5 x 5 input.
fn small_graph(after_conv: &str) -> OnnxGraph {
    let mut g = OnnxGraph::default();
    g.input("x", &[1, 2, 5, 5]);
    let w: Vec<f32> = (0..3 * 2 * 9)
        .map(|k| ((k * 7) % 13) as f32 / 13.0 - 0.4)
        .collect();
    g.tensor("W", &[3, 2, 3, 3], &w);
    g.tensor("B", &[3], &[0.1, -0.2, 0.3]);
    g.tensor("gamma", &[3], &[1.5, 0.5, -1.0]);
    g.tensor("beta", &[3], &[0.2, 0.0, 0.1]);
    g.tensor("mean", &[3], &[0.3, -0.1, 0.05]);
    g.tensor("var", &[3], &[0.8, 2.0, 0.1]);
    g.tensor("Wd", &[2, 3], &[1.0, -1.0, 0.5, 0.25, 2.0, -0.5]);
    g.tensor("Bd", &[2], &[0.0, 0.1]);
    g.node(
        "conv",
        "Conv",
        &["x", "W", "B"],
        "c",
        &[
            Attr::Ints("strides", vec![2, 2]),
            Attr::Str("auto_pad", "SAME_UPPER"),
        ],
    );
    let mut last = "c";
    if after_conv == "bn" {
        g.node(
            "bn",
            "BatchNormalization",
            &["c", "gamma", "beta", "mean", "var"],
            "n",
            &[Attr::Float("epsilon", 1e-3)],
        );
        last = "n";
    }
    g.node("relu", "Relu", &[last], "r", &[]);
    g.node("gap", "GlobalAveragePool", &["r"], "p", &[]);
    g.node("flat", "Flatten", &["p"], "f", &[]);
    g.node(
        "fc",
        "Gemm",
        &["f", "Wd", "Bd"],
        "y",
        &[Attr::Int("transB", 1)],
    );
    g.output("y");
    g
}

fn write_model(dir: &Path, name: &str, g: &OnnxGraph) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, g.bytes()).unwrap();
    path
}

#[test]
fn batch_normalization_folds_into_the_convolution() {
    let dir = tempfile::tempdir().unwrap();
    let folded = convert::load_model(
        &write_model(dir.path(), "bn.onnx", &small_graph("bn")),
        &LoadOptions::default(),
    )
    .unwrap();
    let plain = convert::load_model(
        &write_model(dir.path(), "plain.onnx", &small_graph("")),
        &LoadOptions::default(),
    )
    .unwrap();
    let FeatureLayer::Conv(conv) = &plain.features[0] else {
        panic!("a conv first")
    };
    // SAME_UPPER, stride 2, 3 x 3 on 5 x 5: 3 x 3 outputs, one row and column of padding each side.
    assert_eq!((conv.out_shape(), conv.pads), ([3, 3, 3], [1, 1, 1, 1]));
    let x: Vec<f32> = (0..50).map(|k| ((k * 11) % 17) as f32 / 17.0).collect();
    // The unfolded network: the plain convolution without its ReLU, then the normalization.
    let mut linear = conv.clone();
    linear.relu = false;
    let mut c = vec![0.0f32; 27];
    linear.forward(&x, &mut c);
    let (gamma, beta, mean, var) = (
        [1.5, 0.5, -1.0],
        [0.2, 0.0, 0.1],
        [0.3, -0.1, 0.05],
        [0.8, 2.0, 0.1],
    );
    let pooled: Vec<f64> = (0..3)
        .map(|ch| {
            let n = |v: f32| {
                ((f64::from(v) - mean[ch]) / (var[ch] + 1e-3f64).sqrt() * gamma[ch] + beta[ch])
                    .max(0.0)
            };
            c[ch * 9..(ch + 1) * 9].iter().map(|&v| n(v)).sum::<f64>() / 9.0
        })
        .collect();
    let wd = [[1.0, -1.0, 0.5], [0.25, 2.0, -0.5]];
    let bd = [0.0, 0.1];
    let ours = folded.forward(&x);
    for o in 0..2 {
        let expected: f64 = bd[o] + (0..3).map(|k| wd[o][k] * pooled[k]).sum::<f64>();
        assert!(
            (f64::from(ours[o]) - expected).abs() < 1e-5,
            "output {o}: {} vs {expected}",
            ours[o]
        );
    }
    assert_ne!(folded.forward(&x), plain.forward(&x));
}

#[test]
fn unsupported_nodes_are_refused_with_the_node_named() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &[&str]); 4] = [
        ("MaxPool", "mp", &["node `mp` (MaxPool)", "average pooling"]),
        (
            "Sigmoid",
            "sig",
            &["node `sig` (Sigmoid)", "operator Sigmoid is not supported"],
        ),
        (
            "BatchNormalization",
            "late_bn",
            &["node `late_bn`", "cannot be folded"],
        ),
        (
            "Reshape",
            "rs",
            &["node `rs` (Reshape)", "only a Reshape to [batch, values]"],
        ),
    ];
    for (op, name, expected) in cases {
        let mut g = OnnxGraph::default();
        g.input("x", &[1, 1, 4, 4]);
        g.tensor("W", &[1, 1, 1, 1], &[1.0]);
        g.tensor("s", &[1], &[1.0]);
        g.int_tensor("shape", &[1, 1, 16, 1]);
        g.node("conv", "Conv", &["x", "W"], "c", &[]);
        g.node(
            "pool",
            "AveragePool",
            &["c"],
            "p",
            &[
                Attr::Ints("kernel_shape", vec![2, 2]),
                Attr::Ints("strides", vec![2, 2]),
            ],
        );
        let inputs: Vec<&str> = match op {
            "BatchNormalization" => vec!["p", "s", "s", "s", "s"],
            "Reshape" => vec!["p", "shape"],
            _ => vec!["p"],
        };
        g.node(
            name,
            op,
            &inputs,
            "y",
            &[Attr::Ints("kernel_shape", vec![2, 2])],
        );
        g.output("y");
        let path = write_model(dir.path(), &format!("{name}.onnx"), &g);
        let e = convert::load_model(&path, &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("{name}.onnx")), "{e}");
        for part in expected {
            assert!(e.contains(part), "`{part}` not in: {e}");
        }
    }
}
