//! Data sets in NumPy archives (`npz:FILE`): the same samples as MNIST's IDX files give the
//! same data and the same evaluation; any data set converts and evaluates; bad archives are
//! refused with the array and what is wrong.

mod common;
use common::{npy, npy_f32, npy_i64, npz};
use std::path::{Path, PathBuf};
use synops::Engine;
use synops::convert::ann::{Ann, DenseLayer};
use synops::convert::{self, ConvertOptions};
use synops::data::{DataSource, Split};
use synops::eval::{ConvertedNetwork, evaluate};

fn mnist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist")
}

fn write(dir: &Path, name: &str, arrays: &[(&str, Vec<u8>)]) -> PathBuf {
    let owned: Vec<(String, Vec<u8>)> = arrays
        .iter()
        .map(|(n, b)| (n.to_string(), b.clone()))
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, npz(&owned)).unwrap();
    path
}

fn npz_source(path: &Path, options: &str) -> DataSource {
    DataSource::parse(&format!("npz:{}{options}", path.display())).unwrap()
}

#[test]
fn mnist_as_npz_gives_the_same_samples_and_the_same_evaluation() {
    let idx = synops::data::mnist::load(&mnist(), Split::Test)
        .unwrap()
        .truncate(40);
    let labels: Vec<i64> = idx.labels.iter().map(|&l| i64::from(l)).collect();
    let dir = tempfile::tempdir().unwrap();
    // Named arrays, u8 labels: what `np.savez(f, images=x, labels=y.astype(np.uint8))` writes.
    let u8_labels: Vec<u8> = idx.labels.iter().map(|&l| l as u8).collect();
    let path = write(
        dir.path(),
        "mnist.npz",
        &[
            ("images", npy_f32(&[40, 1, 28, 28], &idx.images)),
            ("labels", npy("|u1", &[40], &u8_labels)),
            ("y", npy_i64(&[40], &labels)),
        ],
    );
    let data = npz_source(&path, ",x=images,y=labels")
        .load(Split::Test)
        .unwrap();
    assert_eq!(data.images, idx.images);
    assert_eq!(data.labels, idx.labels);
    assert_eq!(data.shape, vec![1, 28, 28]);
    // Ten classes are present in the first 40 test images.
    assert_eq!(data.classes, 10);

    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mlp_small/model.safetensors");
    let ann = convert::load_model(&model, &Default::default()).unwrap();
    let c = convert::convert(&ann, &data, "mlp_small", &ConvertOptions::default()).unwrap();
    let net = c.write(&dir.path().join("snn")).unwrap().0;
    let cn = ConvertedNetwork::load(&net, 25).unwrap();
    let a = evaluate(&cn, &data, &[25], Engine::Event, |_| {}).unwrap();
    let b = evaluate(&cn, &idx, &[25], Engine::Event, |_| {}).unwrap();
    assert_eq!(a.timesteps[0].accuracy, b.timesteps[0].accuracy);
    assert_eq!(
        a.timesteps[0].sops_per_sample,
        b.timesteps[0].sops_per_sample
    );
    assert!(a.timesteps[0].accuracy > 0.8, "{}", a.timesteps[0].accuracy);
}

/// Two features, two classes: the class is the larger feature. An identity layer into a
/// ReLU layer, then an identity output.
#[test]
fn any_data_set_converts_and_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let x: Vec<f32> = vec![0.9, 0.1, 0.2, 0.7, 0.6, 0.3, 0.05, 0.8, 0.5, 0.45, 0.1, 0.3];
    let y: Vec<i64> = vec![0, 1, 0, 1, 0, 1];
    let path = write(
        dir.path(),
        "two.npz",
        &[("x", npy_f32(&[6, 2], &x)), ("y", npy_i64(&[6], &y))],
    );
    let data = npz_source(&path, "").load(Split::Train).unwrap();
    assert_eq!((data.len(), data.pixels, data.classes), (6, 2, 2));
    let identity = |name: &str, relu| DenseLayer {
        name: name.into(),
        n_in: 2,
        n_out: 2,
        weight: vec![1.0, 0.0, 0.0, 1.0],
        bias: vec![0.0, 0.0],
        relu,
    };
    let ann = Ann::dense(vec![identity("hidden", true), identity("out", false)]);
    let c = convert::convert(&ann, &data, "two", &ConvertOptions::default()).unwrap();
    let net = c.write(&dir.path().join("two_snn")).unwrap().0;
    let cn = ConvertedNetwork::load(&net, 100).unwrap();
    let report = evaluate(&cn, &data, &[100], Engine::Event, |_| {}).unwrap();
    assert_eq!(report.ann_accuracy, 1.0);
    assert_eq!(report.timesteps[0].accuracy, 1.0);
    // A three-class data set does not fit this two-output model.
    let path = write(
        dir.path(),
        "three.npz",
        &[
            ("x", npy_f32(&[6, 2], &x)),
            ("y", npy_i64(&[6], &[0, 1, 2, 0, 1, 2])),
        ],
    );
    let three = npz_source(&path, "").load(Split::Test).unwrap();
    let e = convert::convert(&ann, &three, "two", &ConvertOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("2 outputs but the data has 3 classes"),
        "{e}"
    );
    let e = evaluate(&cn, &three, &[10], Engine::Event, |_| {}).unwrap_err();
    assert!(
        e.to_string()
            .contains("2 outputs but the data has 3 classes"),
        "{e}"
    );
    // Samples of another shape are refused before any work.
    let path = write(
        dir.path(),
        "wide.npz",
        &[
            ("x", npy_f32(&[2, 3], &x[..6])),
            ("y", npy_i64(&[2], &[0, 1])),
        ],
    );
    let wide = npz_source(&path, "").load(Split::Test).unwrap();
    let e = convert::convert(&ann, &wide, "two", &ConvertOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("inputs of shape [2] (2 values) but the samples have shape [3]"),
        "{e}"
    );
}

/// An archive's name, its arrays, and what the error must say.
type Case = (
    &'static str,
    Vec<(&'static str, Vec<u8>)>,
    &'static [&'static str],
);

#[test]
fn bad_archives_name_the_array_and_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let x = npy_f32(&[2, 2], &[0.0, 1.0, 0.5, 0.5]);
    let y = npy_i64(&[2], &[0, 1]);
    let cases: Vec<Case> = vec![
        (
            "no_y",
            vec![("x", x.clone())],
            &["no array `y` (the labels)", "holds: x"],
        ),
        (
            "int_x",
            vec![("x", npy_i64(&[2, 2], &[0, 1, 2, 3])), ("y", y.clone())],
            &["array `x` (the samples) holds integers", "float32"],
        ),
        (
            "float_y",
            vec![("x", x.clone()), ("y", npy_f32(&[2], &[0.0, 1.0]))],
            &["array `y` (the labels) holds floats"],
        ),
        (
            "short_y",
            vec![("x", x.clone()), ("y", npy_i64(&[1], &[0]))],
            &["array `y` has shape [1]; 2 samples need labels of shape [2]"],
        ),
        (
            "negative",
            vec![("x", x.clone()), ("y", npy_i64(&[2], &[0, -3]))],
            &["label -3 of sample 1 is not a class index"],
        ),
        (
            "flat_x",
            vec![("x", npy_f32(&[2], &[0.0, 1.0])), ("y", y.clone())],
            &["array `x` has shape [2]; samples must be [N, ...]"],
        ),
        (
            "nan",
            vec![
                ("x", npy_f32(&[2, 2], &[0.0, 1.0, f32::NAN, 0.5])),
                ("y", y.clone()),
            ],
            &["sample 1 has a non-finite value (NaN)"],
        ),
        (
            "truncated",
            vec![("x", x[..x.len() - 3].to_vec()), ("y", y.clone())],
            &["array `x`", "does not match", "truncated?"],
        ),
        (
            "big_endian",
            vec![("x", npy(">f4", &[2, 2], &[0; 16])), ("y", y.clone())],
            &["array `x`", "dtype '>f4' is not supported"],
        ),
    ];
    for (name, arrays, expected) in cases {
        let path = write(dir.path(), &format!("{name}.npz"), &arrays);
        let e = npz_source(&path, "")
            .load(Split::Test)
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("{name}.npz")), "{name}: {e}");
        for part in expected {
            assert!(e.contains(part), "{name}: `{part}` not in: {e}");
        }
    }
    let e = npz_source(&dir.path().join("missing.npz"), "")
        .load(Split::Test)
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.npz"), "{e}");
    let path = dir.path().join("garbage.npz");
    std::fs::write(&path, b"not a zip").unwrap();
    let e = npz_source(&path, "")
        .load(Split::Test)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a valid .npz (zip) archive"), "{e}");
}
