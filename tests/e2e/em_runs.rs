//! `gen train` and `gen eval` on EM configs, through the real binary: point files in,
//! TensorBoard scalars, the fit picture, the checkpoint and eval.json out; and every kind
//! of bad point file rejected with a message naming the problem.

use crate::support;

use std::path::Path;
use support::*;

/// Writes `rows` as a .csv file.
fn csv(path: &Path, rows: &[Vec<f64>]) {
    let text: String = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
                + "\n"
        })
        .collect();
    std::fs::write(path, format!("x,y\n{text}")).unwrap();
}

/// Four well-separated 2-D clusters, `n` points, deterministic.
fn clusters(n: usize) -> Vec<Vec<f64>> {
    let centres = [[0.0, 0.0], [6.0, 0.0], [0.0, 6.0], [6.0, 6.0]];
    (0..n)
        .map(|i| {
            let c = centres[i % 4];
            let (a, b) = (
                (i as f64 * 0.618).fract() - 0.5,
                (i as f64 * 0.382).fract() - 0.5,
            );
            vec![c[0] + a, c[1] + b]
        })
        .collect()
}

fn config(dir: &Path, train: &Path, test: Option<&Path>, components: usize) -> std::path::PathBuf {
    let test = test
        .map(|t| format!("  test: {}\n", t.display()))
        .unwrap_or_default();
    let text = format!(
        "model:\n  family: em\n  components: {components}\n  covariance: full\n  max_iter: 50\n\
         data:\n  name: file\n  train: {}\n{test}",
        train.display()
    );
    let path = dir.join("em.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn fit_logs_the_alternation_and_eval_reports_loglik_and_bic() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    csv(&d.join("train.csv"), &clusters(2000));
    csv(&d.join("test.csv"), &clusters(400));
    let cfg = config(d, &d.join("train.csv"), Some(&d.join("test.csv")), 4);
    let run = d.join("run");
    let o = gen(&[
        "train",
        cfg.to_str().unwrap(),
        "--run-dir",
        run.to_str().unwrap(),
    ]);
    ok(&o);
    let out = stdout(&o);
    assert!(out.contains("converged after"), "{out}");
    for f in ["checkpoint.safetensors", "config.yaml", "fit.png"] {
        assert!(run.join(f).exists(), "{f} missing");
    }

    // Read back with TensorBoard's own reader.
    let o = std::process::Command::new(tensorboard_python())
        .arg(repo().join("tests/tb_read.py"))
        .arg(&run)
        .output()
        .unwrap();
    assert!(o.status.success(), "tensorboard reader: {}", stderr(&o));
    let tb: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let series = |tag: &str| -> Vec<(i64, f64)> {
        tb["scalars"][tag]
            .as_array()
            .unwrap_or_else(|| panic!("no scalar {tag}: {}", tb["scalars"]))
            .iter()
            .map(|e| (e[0].as_i64().unwrap(), e[1].as_f64().unwrap()))
            .collect()
    };
    // The gap is logged at every half-step: 0 after each E-step (odd steps), >= 0 after
    // each M-step (even steps), and the joint KL falls at every half-step.
    let gap = series("joint_kl/posterior_gap");
    assert!(gap.len() >= 3, "{gap:?}");
    for (step, v) in &gap[1..] {
        if step % 2 == 1 {
            assert_eq!(*v, 0.0, "after the E-step at half-step {step}");
        } else {
            assert!(*v >= 0.0, "after the M-step at half-step {step}: {v}");
        }
    }
    let total = series("joint_kl/total");
    for w in total.windows(2) {
        assert!(
            w[1].1 <= w[0].1 + 1e-5 * w[0].1.abs(),
            "joint KL rose: {w:?}"
        );
    }
    let ll = series("loglik/train");
    let ll_test = series("loglik/test");
    assert!(
        !ll.is_empty() && ll_test.len() == ll.len() + 1,
        "{ll:?} {ll_test:?}"
    );
    assert_eq!(
        tb["images"]["fit"]["decoded"],
        serde_json::json!([604, 550, 3]) /* 512-px plot framed by its axes */
    );

    let o = gen(&["eval", run.to_str().unwrap()]);
    ok(&o);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    let m = &json["metrics"];
    let train_ll = m["loglik/train (per sample)"].as_f64().unwrap();
    let bic = m["BIC (train)"].as_f64().unwrap();
    let params = m["parameters"].as_f64().unwrap();
    assert_eq!(params, 4.0 * (2.0 + 3.0) + 3.0); // means + full covariances + weights
                                                 // BIC = -2 n loglik + p ln n, from the printed parts.
    let want = -2.0 * 2000.0 * train_ll + params * 2000f64.ln();
    assert!((bic - want).abs() < 1e-6 * want.abs(), "{bic} vs {want}");
    // The last logged training log-likelihood is the evaluated one (f32 in the event file).
    assert!((ll.last().unwrap().1 - train_ll).abs() < 1e-4 * train_ll.abs().max(1.0));
    assert!(stdout(&o).contains("loglik/test (per sample)"));

    // Samples from the fitted mixture land near the four clusters.
    let npy = d.join("samples.npy");
    ok(&gen(&[
        "sample",
        run.to_str().unwrap(),
        "-n",
        "400",
        "-o",
        npy.to_str().unwrap(),
    ]));
    let a = gen_data::npy::parse(&std::fs::read(&npy).unwrap()).unwrap();
    assert_eq!((a.rows, a.cols), (400, 2));
    let near = a
        .data
        .chunks(2)
        .filter(|p| {
            [[0.0, 0.0], [6.0, 0.0], [0.0, 6.0], [6.0, 6.0]]
                .iter()
                .any(|c: &[f64; 2]| (p[0] - c[0]).abs() < 1.5 && (p[1] - c[1]).abs() < 1.5)
        })
        .count();
    assert!(near >= 390, "{near} of 400 samples near a cluster");
}

#[test]
fn bad_point_files_are_named_with_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let good = d.join("good.csv");
    csv(&good, &clusters(100));
    let mut with_nan = clusters(10);
    with_nan[3][1] = f64::NAN;
    csv(&d.join("nan.csv"), &with_nan);
    let mut with_inf = clusters(10);
    with_inf[7][0] = f64::INFINITY;
    csv(&d.join("inf.csv"), &with_inf);
    csv(&d.join("three.csv"), &clusters(3));
    std::fs::write(d.join("wide.csv"), "1,2,3\n4,5,6\n").unwrap();
    std::fs::write(d.join("text.csv"), "1,2\n3,oops\n").unwrap();
    std::fs::write(d.join("ragged.csv"), "1,2\n3,4,5\n").unwrap();
    std::fs::write(
        d.join("bad.npy"),
        b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8'",
    )
    .unwrap();
    std::fs::write(d.join("points.json"), "[[1, 2]]").unwrap();

    let cases: Vec<(&str, Option<&str>, usize, &str)> = vec![
        (
            "nan.csv",
            None,
            2,
            "row 3 (counting data rows only, from 0), column 1 is NaN",
        ),
        (
            "inf.csv",
            None,
            2,
            "row 7 (counting data rows only, from 0), column 0 is inf",
        ),
        (
            "three.csv",
            None,
            8,
            "only 3 training points for 8 components",
        ),
        (
            "good.csv",
            Some("wide.csv"),
            2,
            "test points have 3 columns",
        ),
        (
            "text.csv",
            None,
            2,
            "line 2, column 2: `oops` is not a number",
        ),
        ("ragged.csv", None, 2, "line 2 has 3 values, line 1 has 2"),
        ("bad.npy", None, 2, "the header is cut short"),
        ("points.json", None, 2, "unknown file type"),
        ("missing.csv", None, 2, "does not exist"),
    ];
    for (train, test, k, expect) in cases {
        let cfg = config(d, &d.join(train), test.map(|t| d.join(t)).as_deref(), k);
        let o = gen(&[
            "train",
            cfg.to_str().unwrap(),
            "--runs",
            d.join("runs").to_str().unwrap(),
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{train}: {err}");
        assert!(!err.contains("panicked"), "{train}: {err}");
        assert!(
            err.contains(expect),
            "{train}: expected `{expect}` in {err}"
        );
    }
}
