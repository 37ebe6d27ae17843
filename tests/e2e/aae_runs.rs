//! A one-epoch AAE on real MNIST through the binary, with a 2-D code under the supervised
//! mixture prior: the joint-KL terms, MMD and discriminator accuracy in TensorBoard (read
//! back with TensorBoard's own reader), the pictures, `gen eval` and `gen sample`.

use crate::support;

use support::*;

#[test]
fn aae_2d_supervised_logs_terms_pictures_and_evaluates() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let o = gen(&[
        "train",
        "configs/aae-2d.yaml",
        "--set",
        "model.hidden=[128]",
        "--set",
        "model.d_hidden=[64]",
        "--set",
        "model.prior.supervised=true",
        "--set",
        "train.epochs=1",
        "--set",
        "log.pictures_every=1",
        // 10,000 test images in batches of 3,333: the last holds one, too few for an
        // unbiased MMD, so that metric is the mean over the batches that have it.
        "--set",
        "train.eval_batch_size=3333",
        "--run-dir",
        run.to_str().unwrap(),
    ]);
    ok(&o);
    assert!(
        stdout(&o).contains("KL(p(x,z) || q(x,z))"),
        "{}",
        stdout(&o)
    );

    let tb = std::process::Command::new(tensorboard_python())
        .arg(repo().join("tests/tb_read.py"))
        .arg(&run)
        .output()
        .unwrap();
    assert!(tb.status.success(), "{}", stderr(&tb));
    let v: serde_json::Value = serde_json::from_slice(&tb.stdout).unwrap();
    let value = |tag: &str| -> f64 {
        let series = v["scalars"][tag]
            .as_array()
            .unwrap_or_else(|| panic!("no {tag}: {}", v["scalars"]));
        series.last().unwrap()[1].as_f64().unwrap()
    };
    // One epoch of MNIST: reconstructions far better than the ~540 nats of p = 0.5.
    let rec = value("joint_kl/reconstruction");
    assert!(rec > 50.0 && rec < 250.0, "reconstruction {rec}");
    assert!(value("joint_kl/aggregate_latent_kl").is_finite());
    assert!(value("train/aae/d_loss") > 0.0);
    let acc = value("aae/d_accuracy");
    assert!((0.0..=1.0).contains(&acc), "{acc}");
    let mmd = value("aae/mmd2_to_prior");
    assert!(mmd.is_finite() && mmd < 1.0, "mmd^2 {mmd}");
    for (name, shape) in [
        (
            "codes",
            serde_json::json!([604, 550, 3]), /* 512-px plot framed by its axes */
        ),
        // (width, height, channels): 8 samples per row, one row per component (10), each
        // 28 px + 2 px padding.
        ("samples", serde_json::json!([242, 302, 1])),
    ] {
        assert_eq!(v["images"][name]["decoded"], shape, "{name}");
    }
    assert!(run.join("codes-epoch-001.png").exists());
    assert!(run.join("reconstructions-epoch-001.png").exists());

    ok(&gen(&["eval", run.to_str().unwrap()]));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    let m = &json["metrics"];
    // gen eval repeats the last epoch's evaluation (same noise seed).
    assert!((m["aae/mmd2_to_prior"].as_f64().unwrap() - mmd).abs() < 1e-4 * (1.0 + mmd.abs()));
    assert!(m["aae/recon_mse"].as_f64().unwrap() < 0.1);

    let npy = tmp.path().join("s.npy");
    ok(&gen(&[
        "sample",
        run.to_str().unwrap(),
        "-n",
        "20",
        "-o",
        npy.to_str().unwrap(),
    ]));
    let a = gen_data::npy::parse(&std::fs::read(&npy).unwrap()).unwrap();
    assert_eq!((a.rows, a.cols), (20, 784));
    assert!(a.data.iter().all(|x| (0.0..=1.0).contains(x)));
}
