//! A short GAN run on the ring through the real binary: mode metrics in TensorBoard (read
//! back with TensorBoard's own reader), the 2-D samples picture, `gen eval`'s mode
//! figures and `gen sample` as .npy and .png.

use crate::support;

use support::*;

#[test]
fn gan_ring_logs_mode_metrics_and_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let o = gen(&[
        "train",
        "configs/gan-ring.yaml",
        "--set",
        "data.train_size=2048",
        "--set",
        "data.test_size=512",
        "--set",
        "train.epochs=2",
        "--set",
        "log.pictures_every=1",
        "--run-dir",
        run.to_str().unwrap(),
    ]);
    ok(&o);
    assert!(stdout(&o).contains("modes "), "{}", stdout(&o));

    let tb = std::process::Command::new(tensorboard_python())
        .arg(repo().join("tests/tb_read.py"))
        .arg(&run)
        .output()
        .unwrap();
    assert!(tb.status.success(), "{}", stderr(&tb));
    let v: serde_json::Value = serde_json::from_slice(&tb.stdout).unwrap();
    for tag in [
        "modes/captured",
        "modes/high_quality",
        "modes/kl_to_uniform",
        "joint_kl/forward_kl",
        "joint_kl/reverse_kl",
        "train/joint_kl/generator_drift",
        "train/gan/d_accuracy",
    ] {
        let series = v["scalars"][tag]
            .as_array()
            .unwrap_or_else(|| panic!("no {tag}: {}", v["scalars"]));
        assert_eq!(series.len(), 2, "{tag}: one value per epoch");
    }
    let captured = v["scalars"]["modes/captured"][1][1].as_f64().unwrap();
    assert!((0.0..=8.0).contains(&captured));
    assert_eq!(
        v["images"]["samples"]["decoded"],
        serde_json::json!([604, 550, 3]) /* 512-px plot framed by its axes */
    );
    assert!(run.join("samples-epoch-002.png").exists());

    let o = gen(&["eval", run.to_str().unwrap()]);
    ok(&o);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    // gen eval draws the same 2,500 samples (fixed seed) as the last epoch's evaluation.
    assert_eq!(
        json["metrics"]["modes/captured"].as_f64().unwrap(),
        captured
    );

    let npy = tmp.path().join("s.npy");
    ok(&gen(&[
        "sample",
        run.to_str().unwrap(),
        "-n",
        "300",
        "-o",
        npy.to_str().unwrap(),
    ]));
    let a = gen_data::npy::parse(&std::fs::read(&npy).unwrap()).unwrap();
    assert_eq!((a.rows, a.cols), (300, 2));
    assert!(a.data.iter().all(|x| x.is_finite()));
    let png = tmp.path().join("s.png");
    ok(&gen(&[
        "sample",
        run.to_str().unwrap(),
        "-o",
        png.to_str().unwrap(),
    ]));
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    let o = gen(&["sample", run.to_str().unwrap(), "-o", "x.txt"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(".png"), "{}", stderr(&o));
}
