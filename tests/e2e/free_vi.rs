//! `encoder: free` (per-datapoint VI) through the binary on a real MNIST subset: it trains,
//! its held-out bound improves with refinement steps, and a resumed run ends with the
//! same table of Gaussians, bit for bit, as an uninterrupted one.

use crate::support;

use std::collections::HashMap;
use std::path::Path;
use support::*;

const SETS: &[&str] = &[
    "--set",
    "model.encoder=free",
    "--set",
    "model.kl_warmup_epochs=0",
    "--set",
    "model.hidden=[100]",
    "--set",
    "model.latent=10",
    "--set",
    "model.test_steps=50",
    "--set",
    "data.train_subset=2000",
    "--set",
    "data.test_subset=200",
];

fn train(dir: &Path, epochs: usize) -> std::process::Output {
    let mut args = vec![
        "train",
        "configs/vae-binarized.yaml",
        "--run-dir",
        dir.to_str().unwrap(),
    ];
    args.extend(SETS);
    let e = format!("train.epochs={epochs}");
    args.extend(["--set", &e]);
    gen(&args)
}

fn checkpoint(dir: &Path) -> HashMap<String, candle_core::Tensor> {
    candle_core::safetensors::load(
        dir.join("checkpoint.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap()
}

fn bytes(t: &candle_core::Tensor) -> Vec<u8> {
    let v: Vec<f32> = t
        .to_dtype(candle_core::DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn resume_keeps_the_table_of_gaussians_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("interrupted"), tmp.path().join("straight"));
    ok(&train(&a, 1));
    ok(&train(&b, 2));
    ok(&gen(&[
        "train",
        "--resume",
        a.to_str().unwrap(),
        "--set",
        "train.epochs=2",
    ]));
    let (ca, cb) = (checkpoint(&a), checkpoint(&b));
    let table: Vec<&String> = ca.keys().filter(|k| k.starts_with("local.")).collect();
    assert_eq!(
        table.len(),
        7,
        "mean, log-variance, their Adam moments, steps: {table:?}"
    );
    for k in table {
        assert_eq!(ca[k].dims(), cb[k].dims(), "{k}");
        assert!(
            bytes(&ca[k]) == bytes(&cb[k]),
            "{k}: resumed vs uninterrupted"
        );
    }
    assert_eq!(
        ca["local.mean"].dims(),
        &[2000, 10],
        "one row per training example"
    );
    // Every row was visited twice, five Adam steps each time.
    let steps: Vec<u32> = ca["local.steps"].to_vec1().unwrap();
    assert!(steps.iter().all(|&s| s == 10), "{:?}", &steps[..10]);
}

#[test]
fn the_free_model_learns_and_refinement_tightens_its_held_out_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("free");
    ok(&train(&dir, 4));
    let s = scalars(&dir);
    let first = s.iter().find(|(_, t, _)| t == "loss/test").unwrap().2;
    let (_, last_loss) = last(&s, "loss/test").unwrap();
    assert!(last_loss < first - 5.0, "test bound {first} -> {last_loss}");
    let (_, kl) = last(&s, "joint_kl/latent_kl").unwrap();
    assert!(kl > 2.0, "the free Gaussians carry information: KL {kl}");
    let refined = |steps: &str| {
        ok(&gen(&[
            "eval",
            dir.to_str().unwrap(),
            "--refine",
            steps,
            "--importance-samples",
            "50",
            "--quality-samples",
            "0",
        ]));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("eval.json")).unwrap()).unwrap();
        assert!(
            json["metrics"]["refine/amortization_gap"].is_null(),
            "no encoder, no gap"
        );
        // The likelihood sampled from each example's fitted Gaussian lies below its bound.
        let nll = json["metrics"]["nll/importance"]
            .as_f64()
            .expect("nll/importance");
        let (_, test_bound) = last(&scalars(&dir), "loss/test").unwrap();
        assert!(nll < test_bound as f64, "{nll} vs -ELBO {test_bound}");
        json["metrics"]["refine/neg_elbo_refined"].as_f64().unwrap()
    };
    let (few, many) = (refined("10"), refined("300"));
    assert!(
        many < few - 1.0,
        "-ELBO[q*] after 10 steps {few}, after 300 {many}"
    );
}
