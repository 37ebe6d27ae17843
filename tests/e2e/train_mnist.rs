//! A real one-epoch VAE training on MNIST through the binary, and its event file read
//! back by TensorBoard's own reader.

use crate::support;

use std::path::PathBuf;
use std::sync::OnceLock;
use support::*;

/// The run is shared by the tests below (one epoch of real MNIST costs seconds).
fn run() -> &'static (tempfile::TempDir, PathBuf, String) {
    static RUN: OnceLock<(tempfile::TempDir, PathBuf, String)> = OnceLock::new();
    RUN.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let o = gen(&[
            "train",
            "configs/vae.yaml",
            "--set",
            "train.epochs=1",
            "--run-dir",
            dir.to_str().unwrap(),
        ]);
        ok(&o);
        (tmp, dir, stdout(&o))
    })
}

#[test]
fn one_epoch_of_mnist_reaches_test_loss_below_135() {
    let (_, dir, out) = run();
    let s = scalars(dir);
    let (step, test_loss) = last(&s, "loss/test").expect("loss/test logged");
    assert_eq!(step, 469, "60000 / 128 rounded up steps in one epoch");
    assert!(test_loss < 135.0, "test loss {test_loss}");
    let (_, rec) = last(&s, "joint_kl/reconstruction").unwrap();
    let (_, kl) = last(&s, "joint_kl/latent_kl").unwrap();
    let (_, total) = last(&s, "joint_kl/total").unwrap();
    assert!(
        (rec + kl - total).abs() < 1e-3 * total,
        "terms add up: {rec} + {kl} vs {total}"
    );
    assert!(
        (total - test_loss).abs() < 1e-3 * total,
        "beta = 1: loss is the joint KL"
    );
    assert!(
        kl > 5.0 && rec > 50.0,
        "a trained VAE uses its latent: kl {kl}, rec {rec}"
    );
    assert!(out.contains("epoch 1/1"), "{out}");
}

#[test]
fn run_directory_holds_config_checkpoint_and_pictures() {
    let (_, dir, _) = run();
    for f in [
        "config.yaml",
        "checkpoint.safetensors",
        "samples-epoch-001.png",
        "reconstructions-epoch-001.png",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing in {}", dir.display());
    }
    let cfg = std::fs::read_to_string(dir.join("config.yaml")).unwrap();
    assert!(
        cfg.contains("latent: 20") && cfg.contains("epochs: 1") && cfg.contains("kind: adam"),
        "{cfg}"
    );
    let png = image::open(dir.join("samples-epoch-001.png")).unwrap();
    assert_eq!((png.width(), png.height()), (8 * 30 + 2, 8 * 30 + 2));
}

#[test]
fn tensorboard_reads_the_event_file() {
    let (_, dir, _) = run();
    let v = tensorboard_view(dir);
    for tag in [
        "loss/train",
        "loss/test",
        "joint_kl/total",
        "joint_kl/reconstruction",
        "joint_kl/latent_kl",
        "train/joint_kl/total",
        "speed/samples_per_s",
    ] {
        let series = v["scalars"][tag]
            .as_array()
            .unwrap_or_else(|| panic!("scalar {tag} missing: {}", v["scalars"]));
        assert_eq!(series[0][0], 469, "{tag} at the epoch's last step");
    }
    let test_loss = v["scalars"]["loss/test"][0][1].as_f64().unwrap();
    assert_eq!(
        test_loss as f32,
        last(&scalars(dir), "loss/test").unwrap().1,
        "both readers agree"
    );
    for name in ["samples", "reconstructions"] {
        let img = &v["images"][name];
        assert_eq!(
            img["declared"],
            serde_json::json!([242, 242]),
            "{name}: {img}"
        );
        assert_eq!(
            img["decoded"],
            serde_json::json!([242, 242, 1]),
            "{name}: {img}"
        );
    }
    assert_eq!(
        v["histograms"]["weights/encoder.0.weight"]["num"],
        784.0 * 400.0
    );
    assert_eq!(v["histograms"]["weights/decoder.1.bias"]["num"], 784.0);
    assert!(
        v["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "config"),
        "{}",
        v["tensors"]
    );
    // The HParams tab: the flattened config as hyperparameters, in the group of its
    // settings (not of its directory's name: tests/sweep.rs checks seeds share one), ended.
    let hp = &v["hparams"];
    let group = hp["group"].as_str().unwrap();
    assert!(group.starts_with("vae-") && group.len() == 12, "{hp}");
    assert_eq!(hp["values"]["model.latent"], 20.0);
    assert_eq!(hp["values"]["model.hidden"], "[400]");
    assert_eq!(hp["values"]["train.optimizer.kind"], "adam");
    assert_eq!(hp["values"]["data.name"], "mnist");
    assert_eq!(hp["status"], 1, "STATUS_SUCCESS: {hp}");
}

/// `gen eval` on the trained run: the importance-sampled NLL lies below minus the ELBO
/// (a tighter bound), the per-coordinate KLs add up to the latent KL, and the code probes
/// are within their ranges.
#[test]
fn eval_reports_importance_nll_per_dimension_kl_and_probes() {
    let (_, dir, _) = run();
    let o = gen(&["eval", dir.to_str().unwrap(), "--importance-samples", "10"]);
    ok(&o);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("eval.json")).unwrap()).unwrap();
    let m = &json["metrics"];
    let f = |k: &str| m[k].as_f64().unwrap_or_else(|| panic!("no {k}: {m}"));
    let (nll, elbo_loss) = (f("nll/importance"), f("loss/test"));
    assert!(
        nll < elbo_loss && nll > 0.8 * elbo_loss,
        "nll {nll}, -ELBO {elbo_loss}"
    );
    let kl_sum: f64 = (0..20).map(|i| f(&format!("vae/kl_dim_{i:02}"))).sum();
    let kl = f("joint_kl/latent_kl");
    assert!((kl_sum - kl).abs() < 1e-3 * kl, "{kl_sum} vs {kl}");
    let active = f("codes/active_units");
    assert!((1.0..=20.0).contains(&active), "{active}");
    let acc = f("codes/1nn_test_accuracy");
    assert!(acc > 0.8 && acc <= 1.0, "{acc}");
    // Sample quality with the shipped classifier: one epoch's blurry samples are far from
    // the test set but keep its classes, and precision/recall are fractions.
    let (fd, is, class_kl) = (f("quality/fd"), f("quality/is"), f("quality/class_kl"));
    assert!(
        fd > 1.0 && (1.0..=10.0).contains(&is) && class_kl < 0.5,
        "{m}"
    );
    for k in ["quality/precision", "quality/recall"] {
        assert!((0.0..=1.0).contains(&f(k)), "{k}: {m}");
    }
    assert_eq!(f("quality/samples"), 10_000.0);
    // The figures are also the run's eval scalars for TensorBoard (and its HParams table).
    let ev = tensorboard_view(&dir.join("eval"));
    assert_eq!(
        ev["scalars"]["quality/fd"][0][1].as_f64().unwrap() as f32,
        fd as f32
    );
    // 0 skips the NLL (tests/compare.rs); a negative count is a usage error.
    let bad = gen(&["eval", dir.to_str().unwrap(), "--importance-samples=-1"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("importance-samples"),
        "{}",
        stderr(&bad)
    );
}

/// `gen encode`, `gen reconstruct` and `gen interpolate` on the trained run: the files,
/// their shapes, and clear errors for bad arguments.
#[test]
fn latent_commands_write_codes_reconstructions_and_interpolations() {
    let (_, dir, _) = run();
    let tmp = tempfile::tempdir().unwrap();
    let d = dir.to_str().unwrap();
    let npy = tmp.path().join("codes.npy");
    ok(&gen(&["encode", d, "-o", npy.to_str().unwrap()]));
    let a = gen_data::npy::parse(&std::fs::read(&npy).unwrap()).unwrap();
    assert_eq!((a.rows, a.cols), (10_000, 20), "test-set code means");
    assert!(a.data.iter().all(|v| v.is_finite()));

    let png_size = |p: &std::path::Path| -> (u32, u32) {
        let b = std::fs::read(p).unwrap();
        assert!(b.starts_with(b"\x89PNG"));
        let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        (be(16), be(20))
    };
    let recon = tmp.path().join("recon.png");
    ok(&gen(&[
        "reconstruct",
        d,
        "-n",
        "16",
        "-o",
        recon.to_str().unwrap(),
    ]));
    // 16 images = 2 rows of inputs + 2 rows of reconstructions, 8 wide, 28 px + 2 px border.
    assert_eq!(png_size(&recon), (8 * 30 + 2, 4 * 30 + 2));
    let line = tmp.path().join("line.png");
    ok(&gen(&[
        "interpolate",
        d,
        "--from",
        "0",
        "--to",
        "7",
        "--steps",
        "6",
        "-o",
        line.to_str().unwrap(),
    ]));
    // Test image 0, the six decoded points, test image 7.
    assert_eq!(png_size(&line), (8 * 30 + 2, 30 + 2));
    // The row opens with test image 0 itself: the same cell as the first input `gen
    // reconstruct` drew.
    let (a, b) = (
        image::open(&line).unwrap().to_luma8(),
        image::open(&recon).unwrap().to_luma8(),
    );
    for (x, y) in (0..32).flat_map(|x| (0..32).map(move |y| (x, y))) {
        assert_eq!(a.get_pixel(x, y), b.get_pixel(x, y), "({x}, {y})");
    }

    for (args, expect) in [
        (
            vec![
                "interpolate",
                d,
                "--from",
                "0",
                "--to",
                "10000",
                "-o",
                "x.png",
            ],
            "the test set has 10000 examples",
        ),
        (
            vec![
                "interpolate",
                d,
                "--from",
                "0",
                "--to",
                "1",
                "--steps",
                "1",
                "-o",
                "x.png",
            ],
            "--steps must be at least 2",
        ),
        (vec!["reconstruct", d, "-o", "x.npy"], "must end in .png"),
        (vec!["encode", d, "-o", "x.png"], "must end in .npy"),
    ] {
        let o = gen(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(stderr(&o).contains(expect), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"));
    }
}
