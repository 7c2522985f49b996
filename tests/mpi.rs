//! `mpirun -np N synops run` (the `mpi` feature): the files of 1, 2, 3 and 4 ranks x 1 and 2
//! threads are byte-identical to one process's, on Brunel, CUBA, a network with traces and
//! a converted CNN; a failure on one rank ends the job with one message and no output.
//!
//! Built only with `--features mpi`; needs `mpirun` (Open MPI) on the PATH, and runs it with
//! `--oversubscribe` (more ranks than cores).
#![cfg(feature = "mpi")]

mod common;
use std::path::Path;
use std::process::{Command, Output};

const SYNOPS: &str = env!("CARGO_BIN_EXE_synops");

/// `mpirun -np ranks synops args...` in `dir` (allowed to run as root, as in containers).
fn mpirun(ranks: usize, args: &[&str], dir: &Path) -> Output {
    Command::new("mpirun")
        // (A job that hangs is ended: mpirun --timeout.)
        .args([
            "--oversubscribe",
            "--timeout",
            "300",
            "-np",
            &ranks.to_string(),
            SYNOPS,
        ])
        .args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
        .current_dir(dir)
        .output()
        .expect("mpirun runs (install Open MPI: openmpi-bin)")
}

/// The files a run wrote, with the summary's timing and machine fields left out.
fn outputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).unwrap();
            if name != "summary.json" {
                return (name, bytes);
            }
            let mut summary: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let fields = summary.as_object_mut().unwrap();
            for key in [
                "build_s",
                "wall_s",
                "events_per_s",
                "peak_rss_mb",
                "threads",
                "ranks",
            ] {
                fields.remove(key);
            }
            (name, summary.to_string().into_bytes())
        })
        .collect()
}

/// One process's files against those of every number of ranks and threads.
fn assert_rank_independent(dir: &Path, network: &str, extra: &[&str]) {
    let run = |ranks: usize, threads: usize, out: &str| {
        let mut args = vec!["run", network, "--quiet", "--out", out];
        let threads = threads.to_string();
        args.extend(["--threads", &threads]);
        args.extend(extra);
        let result = if ranks == 0 {
            Command::new(SYNOPS)
                .args(&args)
                .current_dir(dir)
                .output()
                .unwrap()
        } else {
            mpirun(ranks, &args, dir)
        };
        assert!(
            result.status.success(),
            "{network} on {ranks} ranks: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        outputs(&dir.join(out))
    };
    let reference = run(0, 1, "single");
    assert!(
        reference
            .iter()
            .any(|(name, bytes)| name == "spikes.csv" && bytes.len() > 100)
    );
    for ranks in 1..=4 {
        for threads in [1, 2] {
            let got = run(ranks, threads, &format!("r{ranks}t{threads}"));
            assert_eq!(
                reference.len(),
                got.len(),
                "{network}: files on {ranks} ranks"
            );
            for ((name, want), (_, have)) in reference.iter().zip(&got) {
                assert!(
                    want == have,
                    "{network}: {name} differs on {ranks} ranks x {threads} threads"
                );
            }
        }
    }
}

fn shipped(name: &str) -> String {
    common::networks()
        .join(format!("{name}.toml"))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn brunel_files_are_identical_on_1_to_4_ranks() {
    let dir = tempfile::tempdir().unwrap();
    assert_rank_independent(dir.path(), &shipped("brunel"), &["--duration-ms", "100"]);
}

#[test]
fn cuba_files_are_identical_on_1_to_4_ranks_with_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    let cuba = shipped("cuba");
    assert_rank_independent(dir.path(), &cuba, &["--duration-ms", "200"]);
    assert_rank_independent(
        dir.path(),
        &cuba,
        &["--duration-ms", "200", "--engine", "clock"],
    );
}

#[test]
fn traces_and_subset_drives_are_identical_on_1_to_4_ranks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mixed.toml"), common::MIXED_NETWORK).unwrap();
    assert_rank_independent(dir.path(), "mixed.toml", &[]);
    assert!(dir.path().join("single/traces.csv").exists());
}

/// Convert the shipped `model` (calibrated on `samples` MNIST images) into `dir/out.toml`;
/// returns the MNIST data argument.
fn convert(dir: &Path, model: &str, samples: &str, out: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = format!("mnist:{}", root.join("data/mnist").display());
    let converted = Command::new(SYNOPS)
        .args([
            "convert",
            root.join(model).to_str().unwrap(),
            "--calibration",
            &data,
        ])
        .args(["--calibration-samples", samples, "--out", out])
        .current_dir(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&converted.stderr);
    assert!(converted.status.success(), "{stderr}");
    data
}

#[test]
fn a_converted_cnn_is_identical_on_1_to_4_ranks() {
    let dir = tempfile::tempdir().unwrap();
    convert(dir.path(), "models/cnn_small/model.onnx", "50", "cnn");
    assert_rank_independent(dir.path(), "cnn.toml", &[]);
}

#[test]
fn eval_over_ranks_gives_the_report_of_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let data = convert(
        dir.path(),
        "models/mlp_small/model.safetensors",
        "100",
        "snn",
    );
    let eval = [
        "eval",
        "snn.toml",
        "--data",
        &data,
        "--samples",
        "300",
        "--timesteps",
        "10,25",
    ];
    let report = |ranks: usize| {
        let out = format!("e{ranks}");
        let mut args = eval.to_vec();
        args.extend([
            "--early-exit",
            "1",
            "--quiet",
            "--threads",
            "1",
            "--out",
            &out,
        ]);
        let result = if ranks == 0 {
            Command::new(SYNOPS)
                .args(&args)
                .current_dir(dir.path())
                .output()
                .unwrap()
        } else {
            mpirun(ranks, &args, dir.path())
        };
        assert!(
            result.status.success(),
            "{}",
            String::from_utf8_lossy(&result.stderr)
        );
        let text = std::fs::read(dir.path().join(&out).join("eval.json")).unwrap();
        let mut report: serde_json::Value = serde_json::from_slice(&text).unwrap();
        report.as_object_mut().unwrap().remove("wall_s");
        report
    };
    let single = report(0);
    assert!(single["timesteps"][1]["accuracy"].as_f64().unwrap() > 0.9);
    for ranks in [2, 3] {
        assert_eq!(single, report(ranks), "eval on {ranks} ranks");
    }
    // Only rank 0 writes: a rank's folder is the one asked for.
    assert!(!dir.path().join("results").exists());
}

#[test]
fn a_runaway_on_one_rank_ends_the_job_with_one_message_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    // Neuron 3000 of 4000 is on rank 1 of 2: its inhibitory inputs add up beyond the bound.
    let text = "version = 1\nname = \"runaway\"\n[simulation]\ndt_ms = 0.1\nduration_ms = 50.0\n\
        [[population]]\nname = \"a\"\nsize = 4000\nmodel = \"lif_delta\"\ntau_m_ms = 10.0\n\
        v_th_mv = 10.0\n[[input]]\nkind = \"poisson\"\ntarget = \"a\"\nrate_hz = 5000.0\n\
        weight_mv = -9e12\nindices = [3000]\n[[record.spikes]]\npopulation = \"a\"\n\
        [[projection]]\nsource = \"a\"\ntarget = \"a\"\ndelay_ms = 2.0\nweight_mv = 0.1\n\
        connectivity = { rule = \"fixed_indegree\", indegree = 2 }\n";
    std::fs::write(dir.path().join("runaway.toml"), text).unwrap();
    let out = mpirun(2, &["run", "runaway.toml", "--out", "out"], dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
    assert!(stderr.contains("neuron 3000"), "{stderr}");
    assert!(!dir.path().join("out").exists());
}

#[test]
fn bad_input_seen_by_one_rank_ends_the_job_with_its_message() {
    // Two ranks in two folders (mpirun's MPMD form): rank 1's network file is bad, rank 0's
    // is good. Rank 1 says why; rank 0 stops with it, silently; nothing is written.
    let dir = tempfile::tempdir().unwrap();
    let (good, bad) = (dir.path().join("good"), dir.path().join("bad"));
    std::fs::create_dir_all(&good).unwrap();
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::copy(shipped("cuba"), good.join("net.toml")).unwrap();
    std::fs::write(
        bad.join("net.toml"),
        "version = 1\nname = \"net\"\n[simulation]\ndt_ms = 0.0\nduration_ms = 10.0\n",
    )
    .unwrap();
    let out = Command::new("mpirun")
        .args(["--oversubscribe", "--timeout", "300"])
        .args([
            "-np",
            "1",
            "--wdir",
            good.to_str().unwrap(),
            SYNOPS,
            "run",
            "net.toml",
        ])
        .args(["--out", "out", ":"])
        .args([
            "-np",
            "1",
            "--wdir",
            bad.to_str().unwrap(),
            SYNOPS,
            "run",
            "net.toml",
        ])
        .args(["--out", "out"])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
    assert!(stderr.contains("dt_ms"), "{stderr}");
    assert!(!good.join("out").exists() && !bad.join("out").exists());
}

#[test]
fn bad_input_ends_the_job_with_one_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "version = 1\nname = \"bad\"\n[simulation]\ndt_ms = -1.0\n",
    )
    .unwrap();
    let out = mpirun(3, &["run", "bad.toml", "--out", "out"], dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
    assert!(stderr.contains("bad.toml"), "{stderr}");
    assert!(!dir.path().join("out").exists());
    // Options are refused before any work (before the file is read), once.
    let out = mpirun(2, &["run", "bad.toml", "--profile"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
    assert!(stderr.contains("--profile"), "{stderr}");
}
