//! `train.ema`: the parameters' moving average is saved with them, resumes exactly, is
//! drawn from by `gen sample --ema` and scored by `gen eval` as its own figures.

use crate::support;

use std::path::Path;
use support::*;

/// The ring GAN, small, with the average at `ema`.
fn ring(dir: &Path, epochs: usize, ema: &str) -> std::process::Output {
    let e = format!("train.epochs={epochs}");
    let a = format!("train.ema={ema}");
    gen(&[
        "train",
        "configs/gan-ring.yaml",
        "--run-dir",
        dir.to_str().unwrap(),
        "--set",
        "data.train_size=2048",
        "--set",
        "data.test_size=512",
        "--set",
        &e,
        "--set",
        &a,
    ])
}

/// `gen sample RUN -n 64 --seed 3 -o FILE` (with `--ema`), its output.
fn sample(run: &Path, out: &Path, ema: bool) -> std::process::Output {
    let mut args = vec![
        "sample",
        run.to_str().unwrap(),
        "-n",
        "64",
        "--seed",
        "3",
        "-o",
        out.to_str().unwrap(),
    ];
    if ema {
        args.push("--ema");
    }
    gen(&args)
}

/// The same, succeeding: the file's bytes.
fn drawn(run: &Path, out: &Path, ema: bool) -> Vec<u8> {
    ok(&sample(run, out, ema));
    std::fs::read(out).unwrap()
}

#[test]
fn the_average_resumes_exactly_and_is_what_sample_ema_draws() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, plain) = (
        tmp.path().join("resumed"),
        tmp.path().join("straight"),
        tmp.path().join("plain"),
    );
    ok(&ring(&a, 1, "0.99"));
    ok(&gen(&[
        "train",
        "--resume",
        a.to_str().unwrap(),
        "--set",
        "train.epochs=2",
    ]));
    ok(&ring(&b, 2, "0.99"));
    let out = |n: &str| tmp.path().join(n);
    let (ema_a, ema_b) = (
        drawn(&a, &out("a.npy"), true),
        drawn(&b, &out("b.npy"), true),
    );
    assert_eq!(ema_a, ema_b, "the resumed run's average differs");
    // The average is not the last parameters (16 steps at a decay of at most 0.99)...
    assert_ne!(ema_a, drawn(&b, &out("b-last.npy"), false));
    // Without --ema, a run that kept an average says so and names the flag.
    let hint = "kept a moving average of its parameters (train.ema); these samples are from its last parameters, --ema draws from the average";
    let said = |run: &Path, ema: bool| {
        let o = sample(run, &out("hint.npy"), ema);
        ok(&o);
        stderr(&o)
    };
    let told = said(&b, false);
    assert!(told.contains(hint), "{told}");
    assert!(!said(&b, true).contains(hint));
    // ...and the run without one draws from its parameters as before, says nothing of an
    // average, and says there is none to draw from when asked.
    ok(&ring(&plain, 2, "0"));
    assert!(!said(&plain, false).contains("moving average"));
    assert_eq!(
        drawn(&plain, &out("p.npy"), false),
        drawn(&b, &out("b-last2.npy"), false)
    );
    let o = sample(&plain, &out("x.npy"), true);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("kept no moving average of its parameters; train with train.ema"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn gen_eval_scores_the_average_as_its_own_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("gan");
    ok(&gen(&[
        "train",
        "configs/gan.yaml",
        "--run-dir",
        run.to_str().unwrap(),
        "--set",
        "train.epochs=1",
        "--set",
        "data.train_subset=640",
        "--set",
        "data.test_subset=500",
        "--set",
        "train.ema=0.9",
    ]));
    ok(&gen(&[
        "eval",
        run.to_str().unwrap(),
        "--quality-samples",
        "500",
    ]));
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    let m = &eval["metrics"];
    for k in ["fd", "is", "precision", "recall", "class_kl"] {
        let raw = m[format!("quality/{k}")].as_f64().unwrap();
        let avg = m[format!("quality_ema/{k}")].as_f64().unwrap();
        assert!(raw.is_finite() && avg.is_finite(), "{k}: {raw} {avg}");
        if k == "fd" {
            assert_ne!(raw, avg, "the same samples twice");
        }
    }
    assert!(m.get("quality_ema/is_test").is_none());
}

#[test]
fn a_decay_outside_zero_to_one_names_the_key_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("ema.yaml");
    std::fs::write(
        &cfg,
        "model:\n  family: gan\ndata:\n  name: ring\ntrain:\n  epochs: 1\n  ema: 1.0\n",
    )
    .unwrap();
    let o = gen(&["train", cfg.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("ema.yaml:7:3: `train.ema`: the moving average's decay is in [0, 1)"),
        "{}",
        stderr(&o)
    );
}
