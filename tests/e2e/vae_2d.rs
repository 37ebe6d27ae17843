//! A VAE with a 2-D latent logs the code scatter and the decoded manifold, as PNG files
//! and TensorBoard images (read back with TensorBoard's own reader).

use crate::support;

use support::*;

#[test]
fn two_dimensional_latent_logs_codes_and_manifold() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    ok(&gen(&[
        "train",
        "configs/vae.yaml",
        "--set",
        "model.latent=2",
        "--set",
        "train.epochs=1",
        "--set",
        "log.pictures_every=1",
        "--run-dir",
        run.to_str().unwrap(),
    ]));
    assert!(run.join("codes-epoch-001.png").exists());
    assert!(run.join("manifold-epoch-001.png").exists());
    let out = std::process::Command::new(tensorboard_python())
        .arg(repo().join("tests/tb_read.py"))
        .arg(&run)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["images"]["codes"]["decoded"],
        serde_json::json!([604, 550, 3]) /* 512-px plot framed by its axes */
    );
    // 20 x 20 decoded images of 28 px with a 2 px border.
    assert_eq!(
        v["images"]["manifold"]["decoded"],
        serde_json::json!([602, 602, 1])
    );
}
