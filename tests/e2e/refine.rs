//! `gen eval --refine` on a real MNIST VAE: each test example's fitted Gaussian bounds
//! log p(x) at least as tightly as the encoder's, and below the importance-sampled
//! estimate; the figures reach eval.json, refine.npy and TensorBoard's own reader.

use crate::support;

use std::path::PathBuf;
use std::sync::OnceLock;
use support::*;

const TEST_EXAMPLES: usize = 300;

/// A small VAE, two epochs on 10,000 dynamically binarized MNIST digits, refined on the
/// first 300 test digits (shared by the tests below).
fn refined() -> &'static (tempfile::TempDir, PathBuf, String) {
    static RUN: OnceLock<(tempfile::TempDir, PathBuf, String)> = OnceLock::new();
    RUN.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let subset = format!("data.test_subset={TEST_EXAMPLES}");
        ok(&gen(&[
            "train",
            "configs/vae-binarized.yaml",
            "--set",
            "train.epochs=2",
            "--set",
            "model.kl_warmup_epochs=0",
            "--set",
            "model.hidden=[200]",
            "--set",
            "model.latent=20",
            "--set",
            "data.train_subset=10000",
            "--set",
            &subset,
            "--run-dir",
            dir.to_str().unwrap(),
        ]));
        let o = gen(&[
            "eval",
            dir.to_str().unwrap(),
            "--refine",
            "300",
            "--importance-samples",
            "500",
            "--quality-samples",
            "0",
        ]);
        ok(&o);
        (tmp, dir, stdout(&o))
    })
}

fn metric(dir: &std::path::Path, name: &str) -> f64 {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("eval.json")).unwrap()).unwrap();
    json["metrics"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("{name} in eval.json: {json}"))
}

#[test]
fn refined_bound_lies_between_the_amortized_bound_and_the_likelihood() {
    let (_, dir, out) = refined();
    let a = gen_data::npy::read(&dir.join("refine.npy")).unwrap();
    assert_eq!((a.rows, a.cols), (TEST_EXAMPLES, 3), "{out}");
    let mut above = 0;
    for r in a.data.chunks(3) {
        let (amortized, refined, nll) = (r[0], r[1], r[2]);
        // Never worse than the encoder's start, on the same draws: exactly.
        assert!(refined <= amortized, "row {r:?}");
        // -log p(x) <= -ELBO[q*] up to the Monte-Carlo error of both estimates.
        assert!(nll <= refined + 1.0, "row {r:?}");
        if nll > refined {
            above += 1;
        }
    }
    assert!(
        above < TEST_EXAMPLES / 10,
        "{above} rows with the NLL above -ELBO[q*]"
    );
    let amortization = metric(dir, "refine/amortization_gap");
    let approximation = metric(dir, "refine/approximation_gap");
    assert!(
        amortization > 0.5,
        "refinement gains on a 2-epoch encoder: {amortization}"
    );
    assert!(approximation > 0.0, "{approximation}");
    let total = metric(dir, "refine/inference_gap");
    assert!((amortization + approximation - total).abs() < 1e-9);
    let nll_encoder = metric(dir, "nll/importance");
    let nll_refined = metric(dir, "refine/nll");
    // The fitted Gaussian is the better proposal.
    assert!(
        nll_refined < nll_encoder + 0.05,
        "{nll_refined} vs {nll_encoder}"
    );
}

#[test]
fn tensorboard_reads_the_per_example_histograms_and_the_gaps() {
    let (_, dir, _) = refined();
    let view = tensorboard_view(&dir.join("eval"));
    for tag in ["refine/elbo_amortized", "refine/elbo_refined"] {
        let num = view["histograms"][tag]["num"].as_f64();
        assert_eq!(num, Some(TEST_EXAMPLES as f64), "{tag}: {view}");
    }
    let scalars = view["scalars"].to_string();
    for tag in ["refine/amortization_gap", "refine/approximation_gap"] {
        assert!(scalars.contains(tag), "{tag}: {scalars}");
    }
}

#[test]
fn refine_needs_a_gaussian_encoder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ae");
    ok(&gen(&[
        "train",
        "configs/ae.yaml",
        "--set",
        "train.epochs=1",
        "--set",
        "data.train_subset=1000",
        "--set",
        "data.test_subset=100",
        "--run-dir",
        dir.to_str().unwrap(),
    ]));
    let o = gen(&[
        "eval",
        dir.to_str().unwrap(),
        "--refine",
        "10",
        "--quality-samples",
        "0",
    ]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("--refine") && err.contains("deterministic"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let o = gen(&[
        "eval",
        dir.to_str().unwrap(),
        "--refine",
        "10",
        "--refine-lr=0",
        "--quality-samples",
        "0",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--refine-lr must be a positive number, got 0"),
        "{}",
        stderr(&o)
    );
}
