//! The `bnn` family through the binary: a Bayesian MLP on real MNIST (its terms, its
//! TensorBoard summaries read by TensorBoard's own reader, `gen eval`'s calibration and
//! out-of-distribution figures, `gen predict`), and the cubic toy regression, whose
//! predictive band must cover fresh points inside the data range and widen outside it.

use crate::support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use support::*;

/// One epoch of a small BNN on MNIST, shared by the tests below.
fn mnist_run() -> &'static (tempfile::TempDir, PathBuf, String) {
    static RUN: OnceLock<(tempfile::TempDir, PathBuf, String)> = OnceLock::new();
    RUN.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("bnn");
        let o = gen(&[
            "train",
            "configs/bnn-mnist.yaml",
            "--set",
            "train.epochs=1",
            "--set",
            "model.hidden=[100]",
            "--set",
            "model.test_samples=5",
            "--run-dir",
            dir.to_str().unwrap(),
        ]);
        ok(&o);
        (tmp, dir, stdout(&o))
    })
}

/// `gen predict RUN INPUT -o OUT`, which must succeed.
fn predict(run: &Path, input: &Path, out: &Path) {
    ok(&gen(&[
        "predict",
        run.to_str().unwrap(),
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]));
}

fn eval_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("eval.json")).unwrap()).unwrap()
}

#[test]
fn one_epoch_logs_the_terms_the_predictive_and_the_posterior_scales() {
    let (_, dir, out) = mnist_run();
    assert!(out.contains("predictive accuracy"), "{out}");
    let v = tensorboard_view(dir);
    let at = |tag: &str| -> f64 {
        v["scalars"][tag][0][1]
            .as_f64()
            .unwrap_or_else(|| panic!("scalar {tag} missing: {}", v["scalars"]))
    };
    let (nll, kl, total) = (
        at("joint_kl/nll"),
        at("joint_kl/weight_kl"),
        at("joint_kl/total"),
    );
    assert!(
        (nll + kl - total).abs() < 1e-4 * total,
        "{nll} + {kl} vs {total}"
    );
    assert!(kl > 0.0 && nll > 0.0 && nll < 0.5, "nll {nll}, kl/N {kl}");
    assert!(
        at("predictive/accuracy") > 0.9,
        "accuracy {}",
        at("predictive/accuracy")
    );
    // The posterior scales of the first layer: one per weight of 784 x 100.
    assert_eq!(
        v["histograms"]["posterior_scale/0.weight"]["num"], 78_400.0,
        "{}",
        v["histograms"]
    );
    assert_eq!(v["histograms"]["weights/net.0.weight_rho"]["num"], 78_400.0);
    assert_eq!(
        v["images"]["reliability"]["decoded"],
        serde_json::json!([512, 512, 3])
    );
}

#[test]
fn eval_reports_calibration_and_the_ood_auroc_and_draws_the_reliability_diagram() {
    let (_, dir, _) = mnist_run();
    let o = gen(&["eval", dir.to_str().unwrap(), "--ood", "fashion-mnist"]);
    ok(&o);
    let m = &eval_json(dir)["metrics"];
    let get = |k: &str| m[k].as_f64().unwrap_or_else(|| panic!("{k} missing: {m}"));
    let error = get("predictive/error");
    assert!(error > 0.0 && error < 0.1, "error {error}");
    assert!(get("predictive/ece") < 0.1 && get("predictive/brier") < 0.2);
    assert!(get("predictive/nll") < 0.4);
    let auroc = get("ood/fashion-mnist/auroc");
    assert!(auroc > 0.6 && auroc <= 1.0, "auroc {auroc}");
    assert!(get("ood/fashion-mnist/entropy") > get("predictive/entropy"));
    assert!(dir.join("reliability.png").exists());

    let ring = gen(&["eval", dir.to_str().unwrap(), "--ood", "ring"]);
    assert!(!ring.status.success());
    assert!(
        stderr(&ring)
            .contains("--ood ring: its examples have 2 values and this model's inputs 784"),
        "{}",
        stderr(&ring)
    );
    let typo = gen(&["eval", dir.to_str().unwrap(), "--ood", "fashion"]);
    assert!(
        stderr(&typo).contains("not a data set gen knows"),
        "{}",
        stderr(&typo)
    );
}

#[test]
fn predict_writes_probabilities_and_entropy_per_row() {
    let (tmp, dir, _) = mnist_run();
    let input = tmp.path().join("in.npy");
    let rows: Vec<f32> = (0..3 * 784).map(|i| ((i % 29) as f32) / 29.0).collect();
    std::fs::write(&input, gen_data::npy::encode_f32(3, 784, &rows)).unwrap();
    let out = tmp.path().join("out.npy");
    predict(dir, &input, &out);
    let a = gen_data::npy::read(&out).unwrap();
    assert_eq!((a.rows, a.cols), (3, 11));
    for row in a.data.chunks(11) {
        let total: f64 = row[..10].iter().sum();
        assert!((total - 1.0).abs() < 1e-4, "{row:?}");
        let h: f64 = -row[..10]
            .iter()
            .filter(|&&p| p > 0.0)
            .map(|p| p * p.ln())
            .sum::<f64>();
        assert!(
            (h - row[10]).abs() < 1e-4,
            "entropy column {} vs {h}",
            row[10]
        );
    }
    let wrong = tmp.path().join("wrong.csv");
    std::fs::write(&wrong, "1,2,3\n").unwrap();
    let o = gen(&[
        "predict",
        dir.to_str().unwrap(),
        wrong.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(
        stderr(&o).contains("3 columns per row, but the model takes 784 inputs"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn toy_regression_band_covers_the_data_and_widens_away_from_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cubic");
    ok(&gen(&[
        "train",
        "configs/bnn-regression.yaml",
        "--set",
        "train.epochs=1000",
        "--run-dir",
        dir.to_str().unwrap(),
    ]));
    ok(&gen(&["eval", dir.to_str().unwrap()]));
    let m = &eval_json(&dir)["metrics"];
    // Fresh test points from x in [-4, 4]: the band mean +- 1.96 sd holds about 95%.
    let coverage = m["predictive/coverage_95"].as_f64().unwrap();
    assert!((0.88..=0.995).contains(&coverage), "coverage {coverage}");
    let rmse = m["predictive/rmse"].as_f64().unwrap();
    assert!(rmse < 6.0, "rmse {rmse} (noise alone is 3)");
    // The band's width on a grid from -8 to 8: the weights' uncertainty grows outside
    // the data, so the spread at |x| = 8 is well above the spread at 0.
    let grid = tmp.path().join("grid.csv");
    let xs: Vec<f64> = (-8..=8).map(|i| i as f64).collect();
    std::fs::write(
        &grid,
        xs.iter().map(|x| format!("{x}\n")).collect::<String>(),
    )
    .unwrap();
    let out = tmp.path().join("pred.csv");
    predict(&dir, &grid, &out);
    let p = gen_data::csv::parse(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!((p.rows, p.cols), (17, 2), "mean and sd per input");
    let sd = |x: i32| p.data[((x + 8) * 2 + 1) as usize];
    assert!(sd(0) >= 3.0, "the noise alone is 3: {}", sd(0));
    for edge in [-8, 8] {
        assert!(
            sd(edge) > 2.0 * sd(0),
            "sd at {edge}: {} vs {} at 0",
            sd(edge),
            sd(0)
        );
    }
    assert!(dir.join("predictive-epoch-1000.png").exists());
}

#[test]
fn regression_on_a_csv_names_its_target_column() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("houses.csv");
    let mut text = String::from("rooms,age,price\n");
    for i in 0..200 {
        let (rooms, age) = ((i % 7) as f64, (i % 13) as f64);
        text.push_str(&format!(
            "{rooms},{age},{}\n",
            3.0 * rooms - 0.5 * age + 10.0
        ));
    }
    std::fs::write(&data, text).unwrap();
    let train = |targets: &str, dir: &Path| {
        gen(&[
            "train",
            "configs/bnn-regression.yaml",
            "--set",
            "data.name=file",
            "--set",
            &format!("data.train={}", data.display()),
            "--set",
            &format!("data.targets={targets}"),
            "--set",
            "train.epochs=2",
            "--run-dir",
            dir.to_str().unwrap(),
        ])
    };
    let dir = tmp.path().join("run");
    let o = train("[price]", &dir);
    ok(&o);
    assert!(
        stdout(&o).contains("(200 train / 200 test"),
        "{}",
        stdout(&o)
    );
    let input = tmp.path().join("in.csv");
    std::fs::write(&input, "2,3\n5,1\n").unwrap();
    let out = tmp.path().join("out.csv");
    predict(&dir, &input, &out);
    let p = gen_data::csv::parse(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!((p.rows, p.cols), (2, 2));

    let typo = train("[prize]", &tmp.path().join("typo"));
    assert!(
        stderr(&typo).contains("data.targets: no column named `prize`")
            && stderr(&typo).contains("the columns rooms, age, price"),
        "{}",
        stderr(&typo)
    );
    let all = train("[0, 1, 2]", &tmp.path().join("all"));
    assert!(
        stderr(&all).contains("leave at least one as an input"),
        "{}",
        stderr(&all)
    );
    let twice = train("[2, price]", &tmp.path().join("twice"));
    assert!(
        stderr(&twice).contains("column `price` is named twice"),
        "{}",
        stderr(&twice)
    );
}
