//! ANN-to-SNN conversion: importers, the ANN forward pass, exact spike counts of a hand-made
//! converted network, and a fast accuracy check on real MNIST images.

mod common;
use common::write_safetensors;
use std::path::{Path, PathBuf};
use synops::convert::ann::{Ann, DenseLayer, Layout};
use synops::convert::{self, ConvertOptions, LoadOptions};
use synops::data::Split;
use synops::data::mnist::load as load_mnist;
use synops::eval::{ConvertedNetwork, EarlyExit, evaluate, evaluate_with};
use synops::{Engine, Simulation};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn model() -> PathBuf {
    root().join("models/mlp_small/model.safetensors")
}

fn mnist() -> PathBuf {
    root().join("data/mnist")
}

/// The fixtures of the development setup (other export formats of the same model); absent in
/// a user's clone, where the tests that need them say so and pass.
fn fixtures() -> Option<PathBuf> {
    let dir = root().join("../shared/fixtures/mlp_small");
    if dir.exists() {
        Some(dir)
    } else {
        eprintln!("skipped: ../shared/fixtures/mlp_small is not present");
        None
    }
}

#[test]
fn ann_matches_pytorch_logits_and_accuracy() {
    let ann = convert::load_model(&model(), &LoadOptions::default()).unwrap();
    assert_eq!(ann.layers.len(), 2);
    assert_eq!((ann.n_in(), ann.n_out()), (784, 10));
    assert!(ann.layers[0].relu && !ann.layers[1].relu);
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("models/mlp_small/reference.json")).unwrap(),
    )
    .unwrap();
    let test = load_mnist(&mnist(), Split::Test).unwrap();
    assert_eq!(test.len(), 10_000);
    for (k, idx) in reference["test_indices"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let i = idx.as_u64().unwrap() as usize;
        assert_eq!(
            test.labels[i] as u64,
            reference["test_labels"][k].as_u64().unwrap()
        );
        let logits = ann.forward(test.image(i));
        for (o, expected) in reference["logits"][k]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let e = expected.as_f64().unwrap();
            assert!(
                (f64::from(logits[o]) - e).abs() < 1e-4,
                "image {i} logit {o}: {} vs {e}",
                logits[o]
            );
        }
    }
    let correct = (0..test.len())
        .filter(|&i| ann.predict(test.image(i)) == test.labels[i] as usize)
        .count();
    // meta.json: ann_test_accuracy 0.9749
    assert_eq!(correct, 9749);
    assert_eq!(ann.macs_per_layer().iter().sum::<u64>(), 203_264);
}

#[test]
fn every_export_format_gives_the_same_layers() {
    let Some(dir) = fixtures() else { return };
    let reference =
        convert::load_model(&dir.join("model.safetensors"), &LoadOptions::default()).unwrap();
    for file in ["model.npz", "model.onnx", "model_dynamo.onnx"] {
        let ann = convert::load_model(&dir.join(file), &LoadOptions::default()).unwrap();
        assert_eq!(ann.layers.len(), reference.layers.len(), "{file}");
        for (a, b) in ann.layers.iter().zip(&reference.layers) {
            assert_eq!(
                (a.n_in, a.n_out, a.relu),
                (b.n_in, b.n_out, b.relu),
                "{file}"
            );
            assert_eq!(a.weight, b.weight, "{file}: weights");
            assert_eq!(a.bias, b.bias, "{file}: biases");
        }
    }
}

#[test]
fn named_modules_and_keras_layouts_are_ordered_by_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("named.safetensors");
    // fc_out comes first alphabetically but last in the chain; kernels are [in, out].
    write_safetensors(
        &path,
        &[
            ("fc_out.kernel", vec![3, 2], vec![1.0; 6]),
            (
                "fc_in.kernel",
                vec![4, 3],
                (0..12).map(|x| x as f32).collect(),
            ),
            ("fc_in.bias", vec![3], vec![0.5; 3]),
        ],
    );
    let ann = convert::load_model(&path, &LoadOptions::default()).unwrap();
    let names: Vec<&str> = ann.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["fc_in", "fc_out"]);
    assert_eq!((ann.layers[0].n_in, ann.layers[0].n_out), (4, 3));
    // [in, out] kernel transposed to [out, in]: W[o][i] = kernel[i][o] = 3 i + o.
    assert_eq!(ann.layers[0].weight[4 + 1], 4.0);
    let explicit = LoadOptions {
        order: Some(vec!["fc_in".into(), "fc_out".into()]),
        layout: Layout::InOut,
    };
    assert_eq!(convert::load_model(&path, &explicit).unwrap(), ann);
}

/// Square hidden layers cannot be ordered by shape; the names order them, in the common
/// PyTorch and Keras styles. Without numbers or stages, the error names the way out.
#[test]
fn layers_are_ordered_by_their_names() {
    let dir = tempfile::tempdir().unwrap();
    // 6 -> 5 -> 5 -> 3: the two 5 x 5 layers could go either way round by shape.
    let dense = |out: usize, inp: usize, fill: f32| (vec![out, inp], vec![fill; out * inp]);
    let styles: [[&str; 3]; 5] = [
        ["fc1", "fc2", "fc3"],
        ["features.0", "features.10", "classifier.2"],
        ["layer1.0", "layer2.0", "head"],
        ["dense", "dense_1", "dense_2"],
        ["input", "hidden", "output"],
    ];
    for names in styles {
        let path = dir.path().join("m.safetensors");
        // Written in the reverse order of the network (the file's order says nothing).
        let (w1, w2, w3) = (dense(5, 6, 0.1), dense(5, 5, 0.2), dense(3, 5, 0.3));
        let tensors = [
            (format!("{}.weight", names[2]), w3.0, w3.1),
            (format!("{}.weight", names[1]), w2.0, w2.1),
            (format!("{}.weight", names[0]), w1.0, w1.1),
        ];
        let refs: Vec<(&str, Vec<usize>, Vec<f32>)> = tensors
            .iter()
            .map(|(n, s, v)| (n.as_str(), s.clone(), v.clone()))
            .collect();
        write_safetensors(&path, &refs);
        let ann = convert::load_model(&path, &LoadOptions::default()).unwrap();
        let order: Vec<&str> = ann.layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(order, names, "{names:?}");
        assert_eq!(ann.layers[1].weight[0], 0.2, "{names:?}");
    }
    // Words alone do not order square layers.
    let path = dir.path().join("words.safetensors");
    let (a, b, c) = (dense(5, 6, 0.1), dense(5, 5, 0.2), dense(3, 5, 0.3));
    write_safetensors(
        &path,
        &[
            ("alpha.weight", a.0, a.1),
            ("beta.weight", b.0, b.1),
            ("gamma.weight", c.0, c.1),
        ],
    );
    let e = convert::load_model(&path, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot order the layers alpha, beta, gamma by their names or shapes")
            && e.contains("--layers alpha,beta,gamma"),
        "{e}"
    );
}

/// A hand-made converted network: two IF neurons driven by constant currents 0.5 and 0.25 per
/// step (threshold 1, reset by subtraction) into a non-spiking read-out. Every count is known.
#[test]
fn hand_made_network_has_exact_spike_counts() {
    let dir = tempfile::tempdir().unwrap();
    write_safetensors(
        &dir.path().join("w.safetensors"),
        &[
            ("hidden.weight", vec![2, 2], vec![0.5, 0.0, 0.0, 0.25]),
            ("out.weight", vec![1, 2], vec![1.0, 2.0]),
            ("out.bias", vec![1], vec![0.125]),
        ],
    );
    let text = r#"version = 1
name = "hand"
[simulation]
dt_ms = 1.0
duration_ms = 100.0
[[population]]
name = "input"
size = 2
model = "analog"
values = [1.0, 1.0]
[[population]]
name = "hidden"
size = 2
model = "if"
v_th_mv = 1.0
reset = "subtract"
[[population]]
name = "out"
size = 1
model = "if"
v_th_mv = 1.0
spiking = false
bias_tensor = { file = "w.safetensors", tensor = "out.bias" }
[[projection]]
source = "input"
target = "hidden"
connectivity = { rule = "dense", file = "w.safetensors", tensor = "hidden.weight" }
delay_ms = 1.0
[[projection]]
source = "hidden"
target = "out"
connectivity = { rule = "dense", file = "w.safetensors", tensor = "out.weight" }
delay_ms = 1.0
[[record.spikes]]
population = "hidden"
"#;
    let path = dir.path().join("hand.toml");
    std::fs::write(&path, text).unwrap();
    let net = synops::compile_file(&path, &Default::default()).unwrap();
    for engine in [Engine::Event, Engine::Clock] {
        let mut sim = Simulation::new(&net, engine);
        sim.run(|_| {}).unwrap();
        // Neuron 0 spikes at steps 2, 4, ..., 100; neuron 1 at 4, 8, ..., 100.
        let s0: Vec<u32> = sim
            .recorded
            .spikes
            .iter()
            .filter(|s| s.2 == 0)
            .map(|s| s.0)
            .collect();
        let s1: Vec<u32> = sim
            .recorded
            .spikes
            .iter()
            .filter(|s| s.2 == 1)
            .map(|s| s.0)
            .collect();
        assert_eq!(
            s0,
            (1..=50).map(|k| 2 * k).collect::<Vec<_>>(),
            "{engine:?}"
        );
        assert_eq!(
            s1,
            (1..=25).map(|k| 4 * k).collect::<Vec<_>>(),
            "{engine:?}"
        );
        assert_eq!(sim.counts.spikes, vec![0, 75, 0]);
        // Spikes of step 100 arrive after the end: 49 + 24 delivered over one synapse each.
        assert_eq!(sim.counts.synaptic_events, vec![0, 73]);
        // The constant currents cost 2 inputs x 2 targets multiply-accumulates, once.
        assert_eq!(sim.counts.current_macs, vec![4, 0]);
        // Event engine: the hidden neurons are evaluated exactly when they spike (their crossing
        // is predicted), the read-out at the 49 steps where spikes arrive (3, 5, ..., 99).
        let expected = match engine {
            Engine::Event => vec![0, 75, 49],
            Engine::Clock => vec![0, 200, 100],
        };
        assert_eq!(sim.counts.neuron_updates, expected, "{engine:?}");
        let v = sim.state(2, 0).unwrap().v;
        assert!(
            (v - (49.0 * 1.0 + 24.0 * 2.0 + 100.0 * 0.125)).abs() < 1e-9,
            "{engine:?}: {v}"
        );
    }
}

#[test]
fn calibration_matches_the_reference_statistics() {
    let ann = convert::load_model(&model(), &LoadOptions::default()).unwrap();
    let train = load_mnist(&mnist(), Split::Train).unwrap();
    assert_eq!(train.len(), 10_000);
    let stats = convert::calibrate(&ann, &train, 99.9);
    // reference.json, activation_stats_calibration of layer 0.
    assert!(
        (stats[0].0 - 10.890386581420898).abs() < 1e-4,
        "max {}",
        stats[0].0
    );
    assert!(
        (stats[0].1 - 6.2905354499816895).abs() < 1e-4,
        "p99.9 {}",
        stats[0].1
    );
}

fn converted(dir: &Path, calibration: usize, options: &ConvertOptions) -> PathBuf {
    let ann = convert::load_model(&model(), &LoadOptions::default()).unwrap();
    let train = load_mnist(&mnist(), Split::Train)
        .unwrap()
        .truncate(calibration);
    let c = convert::convert(&ann, &train, "mlp_small", options).unwrap();
    c.write(&dir.join("mlp_small_snn")).unwrap().0
}

/// The default-suite version of the accuracy run: 300 test images.
#[test]
fn converted_mlp_classifies_mnist_like_the_ann() {
    let dir = tempfile::tempdir().unwrap();
    let path = converted(dir.path(), 2000, &ConvertOptions::default());
    let cn = ConvertedNetwork::load(&path, 100).unwrap();
    let test = load_mnist(&mnist(), Split::Test).unwrap().truncate(300);
    let report = evaluate(&cn, &test, &[25, 100], Engine::Event, |_| {}).unwrap();
    assert_eq!(report.samples, 300);
    let t100 = &report.timesteps[1];
    assert!(
        (t100.accuracy - report.ann_accuracy).abs() <= 2.0 / 300.0 + 1e-12,
        "T=100: {} vs ANN {}",
        t100.accuracy,
        report.ann_accuracy
    );
    assert!(report.timesteps[0].accuracy >= report.ann_accuracy - 0.02);
    // Counts grow with T; the input current costs MACs, not SOPs.
    assert!(t100.sops_per_sample > report.timesteps[0].sops_per_sample);
    assert_eq!(t100.sops_per_layer[0], 0.0);
    assert!(report.input_macs_per_sample > 0.0 && report.input_macs_per_sample < 784.0 * 256.0);
    assert!(
        report.layers[0].correlation > 0.99,
        "hidden rate vs activation: {}",
        report.layers[0].correlation
    );
    // The clock engine predicts the same classes.
    let clock = evaluate(&cn, &test, &[25, 100], Engine::Clock, |_| {}).unwrap();
    for (a, b) in report.timesteps.iter().zip(&clock.timesteps) {
        assert_eq!(a.accuracy, b.accuracy);
        assert_eq!(a.sops_per_sample, b.sops_per_sample);
        assert_eq!(
            a.active_neuron_steps_per_layer,
            b.active_neuron_steps_per_layer
        );
    }
    // Hence the same energy on every device, although the engines did different work.
    let profiles = synops::energy::load_profiles(None).unwrap();
    let all: Vec<&synops::energy::Profile> = profiles.iter().collect();
    let fp32 = synops::energy::select(&profiles, &["cmos45-fp32".into()]).unwrap()[0];
    let options = synops::energy::Options {
        memory: true,
        ..Default::default()
    };
    let energy = |r| synops::energy::EnergyReport::from_eval(r, None, &all, fp32, &options);
    let (e, c) = (energy(&report).unwrap(), energy(&clock).unwrap());
    for (a, b) in e.devices.iter().zip(&c.devices) {
        assert_eq!(a.total_j, b.total_j, "{}", a.device);
    }
    assert_ne!(
        report.timesteps[1].neuron_updates_per_sample,
        clock.timesteps[1].neuron_updates_per_sample
    );
}

#[test]
fn spike_encoded_inputs_and_spike_readout_run() {
    let dir = tempfile::tempdir().unwrap();
    let options = ConvertOptions {
        encoding: convert::InputEncoding::Poisson,
        readout: convert::Readout::Spikes,
        ..Default::default()
    };
    let path = converted(dir.path(), 1000, &options);
    let cn = ConvertedNetwork::load(&path, 100).unwrap();
    let test = load_mnist(&mnist(), Split::Test).unwrap().truncate(100);
    let a = evaluate(&cn, &test, &[100], Engine::Event, |_| {}).unwrap();
    let b = evaluate(&cn, &test, &[100], Engine::Event, |_| {}).unwrap();
    assert_eq!(
        a.timesteps[0].accuracy, b.timesteps[0].accuracy,
        "reproducible"
    );
    assert!(
        a.timesteps[0].sops_per_layer[0] > 0.0,
        "input spikes are SOPs"
    );
    assert!(
        a.timesteps[0].accuracy > 0.85,
        "Poisson input at T=100: {}",
        a.timesteps[0].accuracy
    );
}

/// The whole test set with every export format (run with `cargo test --release -- --ignored`).
#[test]
#[ignore]
fn full_test_set_accuracy_targets() {
    let dir = tempfile::tempdir().unwrap();
    let mut models = vec![model()];
    if let Some(f) = fixtures() {
        models.extend(["model.npz", "model.onnx", "model_dynamo.onnx"].map(|m| f.join(m)));
    }
    let train = load_mnist(&mnist(), Split::Train).unwrap();
    let test = load_mnist(&mnist(), Split::Test).unwrap();
    for m in models {
        let ann = convert::load_model(&m, &LoadOptions::default()).unwrap();
        let c = convert::convert(&ann, &train, "mlp_small", &ConvertOptions::default()).unwrap();
        let path = c.write(&dir.path().join("full")).unwrap().0;
        let cn = ConvertedNetwork::load(&path, 100).unwrap();
        let r = evaluate(&cn, &test, &[25, 100], Engine::Event, |_| {}).unwrap();
        assert_eq!(r.ann_accuracy, 0.9749, "{}", m.display());
        assert!(
            (r.timesteps[0].accuracy - 0.9749).abs() <= 0.003,
            "{}: T=25 {}",
            m.display(),
            r.timesteps[0].accuracy
        );
        assert!(
            (r.timesteps[1].accuracy - 0.9749).abs() <= 0.001,
            "{}: T=100 {}",
            m.display(),
            r.timesteps[1].accuracy
        );
    }
}

#[test]
fn tiny_ann_conversion_uses_the_calibration_maximum() {
    let ann = Ann::dense(vec![
        DenseLayer {
            name: "a".into(),
            n_in: 1,
            n_out: 1,
            weight: vec![2.0],
            bias: vec![0.0],
            relu: true,
        },
        DenseLayer {
            name: "b".into(),
            n_in: 1,
            n_out: 1,
            weight: vec![3.0],
            bias: vec![1.0],
            relu: false,
        },
    ]);
    let data = synops::data::Dataset::new(vec![0.25, 0.5, 1.0], vec![0, 0, 0], vec![1], 1);
    let options = ConvertOptions {
        normalization: convert::Normalization::Max,
        ..Default::default()
    };
    let c = convert::convert(&ann, &data, "tiny", &options).unwrap();
    // Layer a: max activation 2 -> weight 2 / 2 = 1. Layer b: max 7 -> weight 3 * 2 / 7.
    assert_eq!(c.scales[0].scale, 2.0);
    assert_eq!(c.scales[1].scale, 7.0);
    assert!((c.ann.layers[0].weight[0] - 1.0).abs() < 1e-7);
    assert!((c.ann.layers[1].weight[0] - 6.0 / 7.0).abs() < 1e-6);
    assert!((c.ann.layers[1].bias[0] - 1.0 / 7.0).abs() < 1e-6);
    // One output cannot be evaluated against three classes.
    let dir = tempfile::tempdir().unwrap();
    let path = c.write(&dir.path().join("tiny")).unwrap().0;
    let cn = ConvertedNetwork::load(&path, 10).unwrap();
    let three = synops::data::Dataset::new(data.images.clone(), vec![0, 1, 2], vec![1], 3);
    let e = evaluate(&cn, &three, &[10], Engine::Event, |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("1 outputs but the data has 3 classes"), "{e}");
}

/// Bu et al. (ICLR 2022): with the potential starting at half the threshold and reset by
/// subtraction, a constant input `z` per step gives exactly `clip(floor(z T / θ + 1/2), 0, T)`
/// spikes in T steps (exact here: the inputs are dyadic, so every sum is exact, boundaries
/// included).
#[test]
fn half_threshold_start_rounds_the_spike_count() {
    let dir = tempfile::tempdir().unwrap();
    let z: Vec<f32> = vec![
        -0.25, 0.0, 0.03125, 0.125, 0.25, 0.375, 0.5, 0.625, 0.96875, 1.0, 1.5,
    ];
    write_safetensors(
        &dir.path().join("b.safetensors"),
        &[("hidden.bias", vec![z.len()], z.clone())],
    );
    for t in [10u32, 25, 50, 64] {
        let text = format!(
            r#"version = 1
name = "bu"
[simulation]
dt_ms = 1.0
duration_ms = {t}.0
[[population]]
name = "hidden"
size = {}
model = "if"
v_th_mv = 1.0
v_reset_mv = 0.0
v_init_mv = 0.5
reset = "subtract"
bias_tensor = {{ file = "b.safetensors", tensor = "hidden.bias" }}
[[record.spikes]]
population = "hidden"
"#,
            z.len()
        );
        let path = dir.path().join("bu.toml");
        std::fs::write(&path, text).unwrap();
        let net = synops::compile_file(&path, &Default::default()).unwrap();
        for engine in [Engine::Event, Engine::Clock] {
            let mut sim = Simulation::new(&net, engine);
            sim.run(|_| {}).unwrap();
            for (i, &zi) in z.iter().enumerate() {
                let count = sim
                    .recorded
                    .spikes
                    .iter()
                    .filter(|s| s.2 == i as u32)
                    .count();
                let expected = (f64::from(zi) * f64::from(t) + 0.5)
                    .floor()
                    .clamp(0.0, f64::from(t));
                assert_eq!(count as f64, expected, "z = {zi}, T = {t}, {engine:?}");
            }
        }
    }
}

/// Early exit: a sample that exits at step `s` reports the class and the SOPs of a run of `s`
/// steps; an exit that never triggers changes nothing.
#[test]
fn early_exit_keeps_the_class_and_sops_of_its_exit_step() {
    let dir = tempfile::tempdir().unwrap();
    let path = converted(dir.path(), 200, &ConvertOptions::default());
    let cn = ConvertedNetwork::load(&path, 100).unwrap();
    let test = load_mnist(&mnist(), Split::Test).unwrap().truncate(40);
    let rule = EarlyExit {
        margin: 2.0,
        steps: 5,
    };
    let report = evaluate_with(&cn, &test, &[100], Engine::Event, Some(rule), |_| {}).unwrap();
    let early = &report.early_exit.as_ref().unwrap().timesteps[0];
    assert!(early.exited > 0.5, "{early:?}");
    assert!(early.sops_per_sample < 0.7 * report.timesteps[0].sops_per_sample);
    for i in [0, 7, 13] {
        let one = test.clone().skip(i).truncate(1);
        let r = evaluate_with(&cn, &one, &[100], Engine::Event, Some(rule), |_| {}).unwrap();
        let e = &r.early_exit.unwrap().timesteps[0];
        let s = e.mean_steps as u32;
        let at_exit = evaluate(&cn, &one, &[s], Engine::Event, |_| {}).unwrap();
        assert_eq!(
            e.sops_per_sample, at_exit.timesteps[0].sops_per_sample,
            "sample {i}"
        );
        assert_eq!(e.accuracy, at_exit.timesteps[0].accuracy, "sample {i}");
    }
    let never = EarlyExit {
        margin: 1e9,
        steps: 5,
    };
    let r = evaluate_with(&cn, &test, &[50, 100], Engine::Event, Some(never), |_| {}).unwrap();
    for (e, t) in r.early_exit.unwrap().timesteps.iter().zip(&r.timesteps) {
        assert_eq!(
            (e.accuracy, e.sops_per_sample, e.exited),
            (t.accuracy, t.sops_per_sample, 0.0)
        );
        assert_eq!(e.mean_steps, f64::from(t.t));
    }
}

/// The layered loop (the event engine's arithmetic for chains of dense `if` layers) gives the
/// general engine's report, every count and diagnostic bit for bit: on `mlp_small` and on a
/// random 784-48-24-10 network whose spiking hidden layers receive spikes, under the options
/// that change its dynamics (reset, initial potential, read-out, normalization) and with an
/// early exit. Quantized layers and spike-encoded inputs run on the general engine.
#[test]
fn layered_loop_gives_the_general_engines_report() {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut layer = |name: &str, n_in: usize, n_out: usize, relu: bool| {
        let mut uniform = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.45) * 0.3
        };
        DenseLayer {
            name: name.into(),
            n_in,
            n_out,
            weight: (0..n_in * n_out).map(|_| uniform()).collect(),
            bias: (0..n_out).map(|_| uniform() * 0.2).collect(),
            relu,
        }
    };
    let random = Ann::dense(vec![
        layer("fc1", 784, 48, true),
        layer("fc2", 48, 24, true),
        layer("fc3", 24, 10, false),
    ]);
    let small = convert::load_model(&model(), &LoadOptions::default()).unwrap();
    let train = load_mnist(&mnist(), Split::Train).unwrap().truncate(300);
    let test = load_mnist(&mnist(), Split::Test).unwrap().truncate(40);
    let dir = tempfile::tempdir().unwrap();
    let variants = [
        ConvertOptions::default(),
        ConvertOptions {
            initial_potential: 0.5,
            normalization: convert::Normalization::Max,
            ..Default::default()
        },
        ConvertOptions {
            reset: convert::ConvertReset::Zero,
            readout: convert::Readout::Spikes,
            ..Default::default()
        },
    ];
    let rule = Some(EarlyExit {
        margin: 1.0,
        steps: 3,
    });
    for (k, options) in variants.iter().enumerate() {
        for (name, ann) in [("small", &small), ("random", &random)] {
            let c = convert::convert(ann, &train, name, options).unwrap();
            let path = c.write(&dir.path().join(format!("{name}{k}"))).unwrap().0;
            let mut cn = ConvertedNetwork::load(&path, 60).unwrap();
            assert!(cn.runs_layered(), "{name} {k}");
            let report = |cn: &ConvertedNetwork| {
                let r = evaluate_with(cn, &test, &[10, 25, 60], Engine::Event, rule, |_| {});
                let mut v = serde_json::to_value(r.unwrap()).unwrap();
                v.as_object_mut().unwrap().remove("wall_s");
                v
            };
            let layered = report(&cn);
            cn.layered_loop = false;
            assert!(!cn.runs_layered());
            let general = report(&cn);
            assert_eq!(layered, general, "{name}, options {k}");
            let spikes = layered["timesteps"][2]["spikes_per_layer"]
                .as_array()
                .unwrap();
            let hidden = &spikes[1..spikes.len() - 1];
            assert!(
                hidden.iter().all(|s| s.as_f64().unwrap() > 0.0),
                "{spikes:?}"
            );
        }
    }
    for options in [
        ConvertOptions {
            encoding: convert::InputEncoding::Poisson,
            ..Default::default()
        },
        ConvertOptions {
            quantization: Some(convert::compress::Quantization {
                bits: 8,
                scale: convert::compress::ScaleMode::Layer,
            }),
            ..Default::default()
        },
    ] {
        let c = convert::convert(&small, &train, "other", &options).unwrap();
        let path = c.write(&dir.path().join("other")).unwrap().0;
        assert!(!ConvertedNetwork::load(&path, 10).unwrap().runs_layered());
    }
}
