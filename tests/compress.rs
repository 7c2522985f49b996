//! Quantized and pruned conversions: the engine's spikes against an independent whole-number
//! reference, pruned synapses absent from the tables, weight bytes in the reports, the sweep
//! and its Pareto front, and bad options refused.

mod common;
use std::path::{Path, PathBuf};
use std::process::Command;
use synops::convert::compress::{PruneScope, Pruning, Quantization, ScaleMode};
use synops::convert::{self, ConvertOptions, LoadOptions};
use synops::data::Split;
use synops::data::mnist::load as load_mnist;
use synops::eval::{ConvertedNetwork, evaluate};
use synops::network::compiled::Weights;
use synops::{Engine, Simulation};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn synops() -> Command {
    Command::new(env!("CARGO_BIN_EXE_synops"))
}

/// mlp_small converted with `options`, calibrated on 500 training images, written into `dir`.
fn converted(dir: &Path, options: &ConvertOptions) -> (convert::Converted, PathBuf) {
    let model = root().join("models/mlp_small/model.safetensors");
    let ann = convert::load_model(&model, &LoadOptions::default()).unwrap();
    let train = load_mnist(&root().join("data/mnist"), Split::Train)
        .unwrap()
        .truncate(500);
    let c = convert::convert(&ann, &train, "mlp_small", options).unwrap();
    let path = c.write(&dir.join("net")).unwrap().0;
    (c, path)
}

fn int8_pruned() -> ConvertOptions {
    ConvertOptions {
        encoding: convert::InputEncoding::Regular,
        initial_potential: 0.5,
        timesteps: 30,
        quantization: Some(Quantization {
            bits: 8,
            scale: ScaleMode::Channel,
        }),
        pruning: Some(Pruning {
            fraction: 0.5,
            scope: PruneScope::Global,
            bias_correction: true,
        }),
        ..Default::default()
    }
}

/// A tensor of the written weights file as whole numbers (i8, i16 or whole-number f32).
fn whole(tensors: &safetensors::SafeTensors, name: &str) -> Vec<i64> {
    let t = tensors.tensor(name).unwrap();
    match t.dtype() {
        safetensors::Dtype::I8 => t.data().iter().map(|&b| i64::from(b as i8)).collect(),
        safetensors::Dtype::I16 => (t.data().chunks(2))
            .map(|c| i64::from(i16::from_le_bytes([c[0], c[1]])))
            .collect(),
        safetensors::Dtype::F32 => (t.data().chunks(4))
            .map(|c| {
                let x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                assert_eq!(x.fract(), 0.0, "{name}: {x} is not a whole number");
                x as i64
            })
            .collect(),
        other => panic!("{name}: unexpected dtype {other:?}"),
    }
}

/// One quantized layer in whole numbers: `w[out][in] = q * K[out]`, its biases and threshold.
struct IntegerLayer {
    weights: Vec<Vec<i64>>,
    bias: Vec<i64>,
}

fn integer_layer(tensors: &safetensors::SafeTensors, name: &str, inputs: usize) -> IntegerLayer {
    let q = whole(tensors, &format!("{name}.weight"));
    let k = whole(tensors, &format!("{name}.weight_scale"));
    let outputs = q.len() / inputs;
    let weights = (0..outputs)
        .map(|o| {
            let scale = if k.len() == 1 { k[0] } else { k[o] };
            (0..inputs).map(|i| q[o * inputs + i] * scale).collect()
        })
        .collect();
    IntegerLayer {
        weights,
        bias: whole(tensors, &format!("{name}.bias")),
    }
}

/// Integrate-and-fire in whole numbers: a spike of step `s` arrives at step `s + 1`, the bias
/// every step, a spike when `v >= theta`, reset by subtraction. Returns the spikes `(step,
/// neuron)` and the final potentials.
fn integer_if(
    layer: &IntegerLayer,
    input: &[(u32, u32)],
    (theta, v_init, steps): (i64, i64, u32),
    spiking: bool,
) -> (Vec<(u32, u32)>, Vec<i64>) {
    let mut v = vec![v_init; layer.bias.len()];
    let mut out = Vec::new();
    for t in 1..=steps {
        for (j, vj) in v.iter_mut().enumerate() {
            *vj += layer.bias[j];
        }
        for &(_, i) in input.iter().filter(|s| s.0 + 1 == t) {
            for (j, vj) in v.iter_mut().enumerate() {
                *vj += layer.weights[j][i as usize];
            }
        }
        for (j, vj) in v.iter_mut().enumerate() {
            if spiking && *vj >= theta {
                out.push((t, j as u32));
                *vj -= theta;
            }
        }
    }
    (out, v)
}

/// The engines' spikes and read-out of quantized networks (8-bit per channel and half
/// pruned: listed 8-bit synapses; 4-bit per layer: 8-bit rows; 6-bit powers of two) are those
/// of the whole-number reference, exactly, on both engines.
#[test]
fn quantized_network_matches_a_whole_number_reference_exactly() {
    let quantized = |bits, scale| ConvertOptions {
        quantization: Some(Quantization { bits, scale }),
        pruning: None,
        ..int8_pruned()
    };
    for options in [
        int8_pruned(),
        quantized(4, ScaleMode::Layer),
        quantized(6, ScaleMode::Pow2),
    ] {
        matches_the_whole_number_reference(&options);
    }
}

fn matches_the_whole_number_reference(options: &ConvertOptions) {
    let dir = tempfile::tempdir().unwrap();
    let (c, path) = converted(dir.path(), options);
    let theta: Vec<i64> = c.quantized.iter().map(|q| q.threshold as i64).collect();
    assert!(c.quantized.iter().all(|q| q.threshold.fract() == 0.0));
    let text =
        std::fs::read_to_string(&path).unwrap() + "\n[[record.spikes]]\npopulation = \"input\"\n";
    std::fs::write(&path, text).unwrap();
    let net = synops::compile_file(&path, &Default::default()).unwrap();
    let bytes = std::fs::read(path.with_extension("safetensors")).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let hidden = integer_layer(&tensors, "hidden1", 784);
    let output = integer_layer(&tensors, "output", 256);
    for engine in [Engine::Event, Engine::Clock] {
        let mut sim = Simulation::new(&net, engine);
        sim.run(|_| {}).unwrap();
        let spikes = |pop: u32| -> Vec<(u32, u32)> {
            (sim.recorded.spikes.iter())
                .filter(|s| s.1 == pop)
                .map(|s| (s.0, s.2))
                .collect()
        };
        let input = spikes(0);
        assert!(input.len() > 100, "{} input spikes", input.len());
        let (h_spikes, _) = integer_if(&hidden, &input, (theta[0], theta[0] / 2, 30), true);
        assert!(h_spikes.len() > 50, "{} hidden spikes", h_spikes.len());
        assert_eq!(spikes(1), h_spikes, "{engine:?}: hidden spikes");
        let (_, v_out) = integer_if(&output, &h_spikes, (theta[1], theta[1] / 2, 30), false);
        for (o, &v) in v_out.iter().enumerate() {
            let engine_v = sim.state(2, o as u32).unwrap().v;
            assert_eq!(engine_v, v as f64, "{engine:?}: output {o}");
        }
    }
}

/// Pruned weights are not stored: the tables hold the kept synapses, none of them zero, a
/// byte per weight and a scale per target; unpruned 8-bit rows take a byte per weight too.
#[test]
fn pruned_synapses_are_not_stored_and_quantized_weights_take_a_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (c, path) = converted(dir.path(), &int8_pruned());
    let net = synops::compile_file(&path, &Default::default()).unwrap();
    let kept: Vec<u64> = c.compression.iter().map(|l| l.kept).collect();
    let total: u64 = c.compression.iter().map(|l| l.weights).sum();
    assert_eq!(total, 784 * 256 + 256 * 10);
    assert_eq!(kept.iter().sum::<u64>(), total / 2);
    assert_eq!(net.synapses(), total / 2);
    for (p, &kept) in net.projections.iter().zip(&kept) {
        match &p.weights {
            Weights::PerSynapseI8(w) => {
                assert_eq!(w.values.len() as u64, kept);
                assert!(w.values.iter().all(|&q| q != 0), "{}", p.name);
            }
            _ => panic!(
                "{}: a pruned 8-bit layer is stored as 8-bit synapses",
                p.name
            ),
        }
    }
    let bytes = |net: &synops::CompiledNetwork| -> Vec<u64> {
        net.projections.iter().map(|p| p.weight_bytes()).collect()
    };
    assert_eq!(bytes(&net), [kept[0] + 256 * 4, kept[1] + 10 * 4]);
    let compiled = |options: &ConvertOptions| {
        let path = converted(dir.path(), options).1;
        synops::compile_file(&path, &Default::default()).unwrap()
    };
    let int8 = ConvertOptions {
        pruning: None,
        ..int8_pruned()
    };
    assert_eq!(
        bytes(&compiled(&ConvertOptions::default())),
        [784 * 256 * 4, 2560 * 4]
    );
    // A byte per weight and a 4-byte scale per target (channel scales).
    assert_eq!(
        bytes(&compiled(&int8)),
        [784 * 256 + 256 * 4, 2560 + 10 * 4]
    );
    // Pruned float weights are listed as floats.
    let pruned = ConvertOptions {
        quantization: None,
        ..int8_pruned()
    };
    let pruned = compiled(&pruned);
    assert!(matches!(
        pruned.projections[0].weights,
        Weights::PerSynapse(_)
    ));
    assert_eq!(pruned.synapses(), total / 2);
}

/// Bias correction gives every pruned layer's output channels back their mean pre-activation
/// over the calibration samples (layer by layer, the layers before corrected), and it helps:
/// with 80% pruned, the corrected ANN is more accurate than the uncorrected one.
#[test]
fn bias_correction_restores_the_mean_pre_activations() {
    let dir = tempfile::tempdir().unwrap();
    let pruned = |bias_correction| ConvertOptions {
        pruning: Some(Pruning {
            fraction: 0.8,
            scope: PruneScope::Global,
            bias_correction,
        }),
        ..Default::default()
    };
    let float = converted(dir.path(), &ConvertOptions::default()).0;
    let corrected = converted(dir.path(), &pruned(true)).0;
    let uncorrected = converted(dir.path(), &pruned(false)).0;
    let train = load_mnist(&root().join("data/mnist"), Split::Train)
        .unwrap()
        .truncate(500);
    let mean = |c: &convert::Converted, k: usize| -> Vec<f64> {
        let ann = c.ann.linear_at(k);
        let mut sum = vec![0f64; ann.neuron_layers().unwrap()[k].neurons()];
        for i in 0..train.len() {
            for (s, &y) in sum.iter_mut().zip(&ann.neuron_outputs(train.image(i))[k]) {
                *s += f64::from(y) / train.len() as f64;
            }
        }
        sum
    };
    for k in 0..2 {
        let (f, c, u) = (mean(&float, k), mean(&corrected, k), mean(&uncorrected, k));
        let off = |m: &[f64]| {
            (m.iter().zip(&f))
                .map(|(a, b)| (a - b).abs())
                .fold(0f64, f64::max)
        };
        assert!(
            off(&c) < 1e-5,
            "layer {k}: corrected means off by {}",
            off(&c)
        );
        assert!(
            off(&u) > 100.0 * off(&c).max(1e-6),
            "layer {k}: {} uncorrected",
            off(&u)
        );
    }
    let test = load_mnist(&root().join("data/mnist"), Split::Test)
        .unwrap()
        .truncate(1000);
    let accuracy = |c: &convert::Converted| {
        (0..test.len())
            .filter(|&i| c.ann.predict(test.image(i)) == test.labels[i] as usize)
            .count()
    };
    let (c, u) = (accuracy(&corrected), accuracy(&uncorrected));
    assert!(
        c > u,
        "80% pruned: {c} correct with bias correction, {u} without"
    );
}

/// eval.json reports the kept weights, their bits and bytes per layer, and the SOPs of a
/// pruned network count only the synapses it has.
#[test]
fn eval_reports_weight_bytes_per_layer_and_fewer_sops() {
    let dir = tempfile::tempdir().unwrap();
    let test = load_mnist(&root().join("data/mnist"), Split::Test)
        .unwrap()
        .truncate(50);
    let run = |options: &ConvertOptions, sub: &str| {
        let d = dir.path().join(sub);
        std::fs::create_dir_all(&d).unwrap();
        let path = converted(&d, options).1;
        let cn = ConvertedNetwork::load(&path, 30).unwrap();
        evaluate(&cn, &test, &[30], Engine::Event, |_| {}).unwrap()
    };
    let float = run(
        &ConvertOptions {
            encoding: convert::InputEncoding::Regular,
            ..Default::default()
        },
        "float",
    );
    let compressed = run(&int8_pruned(), "int8");
    assert_eq!(compressed.weight_bits_per_layer, [8, 8]);
    assert_eq!(float.weight_bits_per_layer, [32, 32]);
    assert_eq!(float.weight_bytes_per_layer, [784 * 256 * 4, 2560 * 4]);
    let kept: u64 = compressed.weights_kept_per_layer.iter().sum();
    assert_eq!(kept, (784 * 256 + 2560) / 2);
    let bytes: u64 = compressed.weight_bytes_per_layer.iter().sum();
    assert!(bytes >= kept && bytes <= kept + 4 * 266, "{bytes}");
    let (f, q) = (&float.timesteps[0], &compressed.timesteps[0]);
    assert!(
        q.sops_per_sample < 0.8 * f.sops_per_sample,
        "{} vs {}",
        q.sops_per_sample,
        f.sops_per_sample
    );
    assert!(
        q.accuracy >= f.accuracy - 0.06,
        "{} vs {}",
        q.accuracy,
        f.accuracy
    );
}

/// Pruning a convolution drops its zero taps: they are neither delivered nor counted, so the
/// SOPs fall with the kept weights, and both engines agree.
#[test]
fn pruned_convolutions_skip_their_zero_taps() {
    let dir = tempfile::tempdir().unwrap();
    let model = root().join("models/cnn_small/model.onnx");
    let ann = convert::load_model(&model, &LoadOptions::default()).unwrap();
    let train = load_mnist(&root().join("data/mnist"), Split::Train)
        .unwrap()
        .truncate(200);
    let test = load_mnist(&root().join("data/mnist"), Split::Test)
        .unwrap()
        .truncate(8);
    let eval = |pruning: Option<Pruning>, engine: Engine| {
        let options = ConvertOptions {
            pruning,
            ..Default::default()
        };
        let c = convert::convert(&ann, &train, "cnn_small", &options).unwrap();
        let path = c.write(&dir.path().join("cnn")).unwrap().0;
        let cn = ConvertedNetwork::load(&path, 10).unwrap();
        evaluate(&cn, &test, &[10], engine, |_| {}).unwrap()
    };
    let half = Some(Pruning {
        fraction: 0.5,
        scope: PruneScope::Layer,
        bias_correction: true,
    });
    let full = eval(None, Engine::Event);
    let pruned = eval(half, Engine::Event);
    let clock = eval(half, Engine::Clock);
    assert_eq!(
        pruned.timesteps[0].sops_per_sample,
        clock.timesteps[0].sops_per_sample
    );
    assert_eq!(pruned.timesteps[0].accuracy, clock.timesteps[0].accuracy);
    for (l, (&kept, &all)) in (pruned.weights_kept_per_layer.iter())
        .zip(&full.weights_kept_per_layer)
        .enumerate()
    {
        assert_eq!(kept, all.div_ceil(2).max(all / 2), "layer {l}");
        assert!(
            pruned.fan_out_per_layer[l] < full.fan_out_per_layer[l],
            "layer {l}: fan-out {} vs {}",
            pruned.fan_out_per_layer[l],
            full.fan_out_per_layer[l]
        );
    }
    let ratio = pruned.timesteps[0].sops_per_sample / full.timesteps[0].sops_per_sample;
    assert!(ratio < 0.7, "SOPs ratio {ratio}");
}

/// `synops sweep` evaluates the grid, flags a Pareto front per device, and `plot pareto`
/// draws it.
#[test]
fn sweep_writes_the_grid_and_its_pareto_front() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let status = synops()
        .args(["sweep", "models/mlp_small/model.safetensors"])
        .args([
            "--calibration",
            "mnist:data/mnist",
            "--calibration-samples",
            "300",
        ])
        .args(["--data", "mnist:data/mnist", "--samples", "40"])
        .args([
            "--bits",
            "32,8,4",
            "--prune",
            "0,0.5",
            "--timesteps",
            "10,30",
        ])
        .args([
            "--device",
            "loihi,cmos45-fp32/cmos45-int8",
            "--quiet",
            "--plots",
        ])
        .arg("--out")
        .arg(&out)
        .current_dir(root())
        .status()
        .unwrap();
    assert!(status.success());
    let report: synops::sweep::SweepReport =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(report.points.len(), 3 * 2 * 2);
    assert_eq!(report.devices, ["loihi", "cmos45-fp32/cmos45-int8"]);
    for p in &report.points {
        assert!(out.join(&p.network).exists(), "{}", p.network);
        let expected_profile = if p.bits == 32 {
            "cmos45-fp32"
        } else {
            "cmos45-int8"
        };
        assert_eq!(p.energy[1].profile, expected_profile);
        if p.bits == 32 && p.prune == 0.0 {
            assert_eq!(p.energy[0].saved, Some(0.0));
        }
    }
    let float = &report.points[0];
    let int8 = report
        .points
        .iter()
        .find(|p| p.bits == 8 && p.prune == 0.0)
        .unwrap();
    assert_eq!(float.weight_bytes, 4 * float.weights);
    assert!(int8.weight_bytes < float.weight_bytes / 3);
    assert!(
        int8.energy[1].saved.unwrap() > 0.0,
        "integer arithmetic saves energy"
    );
    for d in 0..2 {
        let front = report.front(d);
        assert!(!front.is_empty());
        // Along the front, energy and accuracy rise together; no point beats a front point.
        for w in front.windows(2) {
            assert!(w[1].accuracy > w[0].accuracy, "{d}");
        }
        for f in &front {
            let beaten = report.points.iter().any(|p| {
                p.accuracy >= f.accuracy
                    && p.energy[d].energy_j <= f.energy[d].energy_j
                    && (p.accuracy > f.accuracy || p.energy[d].energy_j < f.energy[d].energy_j)
            });
            assert!(!beaten);
        }
    }
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 12);
    assert!(
        std::fs::read_to_string(out.join("sweep.md"))
            .unwrap()
            .contains("## Pareto front on loihi")
    );
    assert!(std::fs::metadata(out.join("pareto.png")).unwrap().len() > 10_000);
}

/// Bad knobs are refused before any work, naming the option, the value and what is valid.
#[test]
fn bad_quantization_pruning_and_grids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Runs `synops COMMAND MODEL COMMON... --out OUT EXTRA...`, which must fail with code 2;
    // returns what it said.
    let refused = |command: &str, common: &[&str], out: &str, extra: &[&str]| {
        let o = synops()
            .args([command, "models/mlp_small/model.safetensors"])
            .args(common)
            .arg("--out")
            .arg(dir.path().join(out))
            .args(extra)
            .current_dir(root())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{command} {extra:?}");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let convert = [
        "--calibration",
        "mnist:data/mnist",
        "--calibration-samples",
        "10",
    ];
    for (args, said) in [
        (&["--quantize", "13"][..], "2 to 12 bits"),
        (&["--quantize", "8:octave"], "unknown scale `octave`"),
        (&["--quantize", "eight"], "expected BITS"),
        (&["--prune", "magnitude:1.0"], "must be in [0, 1)"),
        (&["--prune", "random:0.5"], "expected magnitude:FRACTION"),
        (&["--prune", "magnitude:0.5:row"], "unknown scope `row`"),
        (
            &["--prune", "magnitude:0.5:layer:exact"],
            "expected magnitude:FRACTION",
        ),
    ] {
        let e = refused("convert", &convert, "x", args);
        assert!(e.contains(said), "{args:?}: {e}");
    }
    assert!(!dir.path().join("x.toml").exists());
    let sweep = [
        "--calibration",
        "mnist:data/mnist",
        "--data",
        "mnist:data/mnist",
    ];
    for (args, said) in [
        (&["--bits", "16"][..], "16 bits"),
        (&["--prune", "0.95,1"], "pruning fraction 1"),
        (&["--timesteps", "0,10"], "at least 1"),
        (&["--device", "loihi,tpu"], "tpu"),
        (&["--device", "cmos45-fp32/nope"], "nope"),
    ] {
        let e = refused("sweep", &sweep, "s", args);
        assert!(e.contains(said), "{args:?}: {e}");
    }
    assert!(
        !dir.path().join("s").exists(),
        "nothing written before the options are checked"
    );
}

/// A dense layer of whole-number weights `w` with scales `s`, in `w.safetensors`.
const SCALED_NET: &str = r#"version = 1
name = "q"
[simulation]
dt_ms = 1.0
duration_ms = 10.0
[[population]]
name = "in"
size = 3
model = "analog"
values = [1.0, 1.0, 1.0]
[[population]]
name = "out"
size = 2
model = "if"
v_th_mv = 4.0
[[projection]]
source = "in"
target = "out"
connectivity = { rule = "dense", file = "w.safetensors", tensor = "w", weight_scale = "s", drop_zeros = true }
delay_ms = 1.0
"#;

/// A weight-scale tensor that does not fit its layer, and whole numbers beyond what the engine
/// holds exactly, are named with the tensor and what fits.
#[test]
fn bad_weight_scales_and_wide_integers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let net = |scale: Vec<f32>| {
        common::write_safetensors(
            &dir.path().join("w.safetensors"),
            &[
                ("w", vec![2, 3], vec![1.0, 2.0, 0.0, -1.0, 3.0, 1.0]),
                ("s", vec![scale.len()], scale),
            ],
        );
        common::compile_text(SCALED_NET, &dir.path().join("q.toml"))
    };
    let ok = net(vec![2.0, 0.5]).unwrap();
    assert_eq!(ok.synapses(), 5, "the zero weight is dropped");
    for (scale, said) in [
        (
            vec![1.0, 1.0, 1.0],
            "tensor `s` has shape [3]; it needs one scale per output ([2])",
        ),
        (
            vec![1.0, 0.0],
            "entry 1 of tensor `s` is 0; a scale must be finite and > 0",
        ),
        (
            vec![f32::NAN, 1.0],
            "tensor `s` has a non-finite value at flat index 0",
        ),
    ] {
        let e = net(scale.clone()).unwrap_err().to_string();
        assert!(
            e.contains("q.toml: projection \"in->out\".connectivity"),
            "{e}"
        );
        assert!(e.contains(said), "{scale:?}: {e}");
    }
    // An I32 weight beyond 2^24 is not held exactly: refused with its value.
    let mut header = br#"{"w":{"dtype":"I32","shape":[2,3],"data_offsets":[0,24]},"s":{"dtype":"F32","shape":[1],"data_offsets":[24,28]}}"#.to_vec();
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend(&header);
    for v in [1i32, 2, 0, -1, (1 << 24) + 1, 1] {
        file.extend(v.to_le_bytes());
    }
    file.extend(1f32.to_le_bytes());
    std::fs::write(dir.path().join("w.safetensors"), file).unwrap();
    let e = common::compile_text(SCALED_NET, &dir.path().join("q.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("tensor `w` (I32) holds 16777217, beyond ±2^24"),
        "{e}"
    );
}
