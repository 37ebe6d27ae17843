//! ALI through the real binary: a short grid run with the mode metrics and the joint
//! estimates in TensorBoard (read back with TensorBoard's own reader), and a one-epoch
//! BiGAN-style MNIST run whose codes `gen eval` probes with a 1-nearest-neighbour
//! classifier.

use crate::support;

use support::*;

fn tb(run: &std::path::Path) -> serde_json::Value {
    tensorboard_view(run)
}

#[test]
fn ali_grid_logs_joint_estimates_and_mode_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    ok(&gen(&[
        "train",
        "configs/ali-grid.yaml",
        "--set",
        "data.train_size=2048",
        "--set",
        "data.test_size=512",
        "--set",
        "train.epochs=2",
        "--set",
        "model.loss=joint_kl",
        "--run-dir",
        run.to_str().unwrap(),
    ]));
    let v = tb(&run);
    for tag in [
        "joint_kl/forward_kl",
        "joint_kl/reverse_kl",
        "ali/recon_x_mse",
        "ali/recon_z_mse",
        "ali/d_accuracy",
        "train/ali/eg_loss",
        "modes/captured",
        "modes/high_quality",
    ] {
        let series = v["scalars"][tag]
            .as_array()
            .unwrap_or_else(|| panic!("no {tag}: {}", v["scalars"]));
        assert_eq!(series.len(), 2, "{tag}: one value per epoch");
    }
    ok(&gen(&["eval", run.to_str().unwrap()]));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    let captured = json["metrics"]["modes/captured"].as_f64().unwrap();
    assert!((0.0..=25.0).contains(&captured));
    // The toy sets label each point with its mode, so the codes are probed too.
    let acc = json["metrics"]["codes/1nn_test_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
}

#[test]
fn bigan_codes_are_probed_by_nearest_neighbours() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    ok(&gen(&[
        "train",
        "configs/bigan.yaml",
        "--set",
        "model.hidden=[128]",
        "--set",
        "model.d_hidden=[128]",
        "--set",
        "train.epochs=1",
        "--set",
        "log.pictures_every=1",
        "--run-dir",
        run.to_str().unwrap(),
    ]));
    assert!(run.join("samples-epoch-001.png").exists());
    assert!(run.join("reconstructions-epoch-001.png").exists());
    let o = gen(&["eval", run.to_str().unwrap()]);
    ok(&o);
    assert!(
        stdout(&o).contains("codes/1nn_test_accuracy"),
        "{}",
        stdout(&o)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    let acc = json["metrics"]["codes/1nn_test_accuracy"].as_f64().unwrap();
    // Ten classes: chance is about 0.1; even one epoch's codes carry the digit.
    assert!(acc > 0.3 && acc <= 1.0, "1-NN accuracy {acc}");
    let x = json["metrics"]["ali/recon_x_mse"].as_f64().unwrap();
    assert!(x.is_finite() && x < 0.5, "{x}");
}
