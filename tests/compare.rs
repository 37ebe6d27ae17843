//! `gen compare` on runs of two families (a VAE on MNIST, EM on a toy set): one table with
//! blanks where a figure does not apply, csv and json that hold the same, the PNG of the
//! sample grids, and the error for a run that was not evaluated.

mod support;

use std::path::PathBuf;
use support::*;

fn train_and_eval(tmp: &std::path::Path, name: &str, config: &str, sets: &[&str]) -> PathBuf {
    let dir = tmp.join(name);
    let mut args = vec!["train", config, "--run-dir", dir.to_str().unwrap()];
    for s in sets {
        args.extend(["--set", s]);
    }
    ok(&gen(&args));
    ok(&gen(&[
        "eval",
        dir.to_str().unwrap(),
        "--importance-samples",
        "2",
        "--quality-samples",
        "500",
    ]));
    dir
}

#[test]
fn compares_runs_of_different_families() {
    let tmp = tempfile::tempdir().unwrap();
    let vae = train_and_eval(
        tmp.path(),
        "vae",
        "configs/vae.yaml",
        &["train.epochs=1", "model.hidden=[64]"],
    );
    let em = train_and_eval(tmp.path(), "em", "configs/em-gmm.yaml", &[]);
    let (v, e) = (vae.to_str().unwrap(), em.to_str().unwrap());

    let o = gen(&["compare", v, e, "--format", "csv"]);
    ok(&o);
    let out = stdout(&o);
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3, "{out}");
    let col = |name: &str| {
        rows[0]
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no {name}: {out}"))
    };
    assert!(rows.iter().all(|r| r.len() == rows[0].len()));
    let (fd, family, bic) = (col("quality/fd"), col("family"), col("BIC (train)"));
    assert_eq!((rows[1][family], rows[2][family]), ("vae", "em"));
    assert!(
        rows[1][fd].parse::<f64>().unwrap() > 0.0 && rows[2][fd].is_empty(),
        "{out}"
    );
    assert!(rows[1][bic].is_empty() && !rows[2][bic].is_empty(), "{out}");
    // csv keeps the per-dimension KLs; the terminal table leaves them to csv and json.
    assert!(rows[0].contains(&"vae/kl_dim_00"));
    let table = gen(&["compare", v, e]);
    ok(&table);
    assert!(!stdout(&table).contains("kl_dim_00") && stdout(&table).contains("quality/fd"));

    let json = gen(&["compare", v, e, "--format", "json"]);
    ok(&json);
    let j: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(j[0]["family"], "vae");
    assert!(j[0]["metrics"]["quality/fd"].as_f64().unwrap() > 0.0);
    assert!(j[1]["metrics"].get("quality/fd").is_none());

    let png = tmp.path().join("grids.png");
    ok(&gen(&[
        "compare",
        v,
        e,
        "--format",
        "md",
        "--png",
        png.to_str().unwrap(),
    ]));
    let img = image::open(&png).unwrap();
    assert!(
        img.width() > 2 * 242 && img.height() > 242,
        "{}x{}",
        img.width(),
        img.height()
    );

    // `gen export`: the parameters alone, loadable by the safetensors reader.
    let weights = tmp.path().join("vae.safetensors");
    ok(&gen(&["export", v, "-o", weights.to_str().unwrap()]));
    let bytes = std::fs::read(&weights).unwrap();
    let t = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert!(!t.names().is_empty() && t.names().iter().all(|n| n.starts_with("model.")));
    let ckpt = std::fs::metadata(vae.join("checkpoint.safetensors"))
        .unwrap()
        .len();
    assert!(
        (bytes.len() as u64) < ckpt / 2,
        "no optimizer moments: {} vs {ckpt}",
        bytes.len()
    );
    // A feature network must be a classifier.
    let o = gen(&[
        "eval",
        v,
        "--importance-samples",
        "2",
        "--classifier",
        weights.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("the feature network is a `family: bnn` classifier"),
        "{}",
        stderr(&o)
    );

    let fresh = tmp.path().join("fresh");
    ok(&gen(&[
        "train",
        "configs/em-gmm.yaml",
        "--run-dir",
        fresh.to_str().unwrap(),
    ]));
    let bad = gen(&["compare", v, fresh.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("no eval.json: run `gen eval"),
        "{}",
        stderr(&bad)
    );

    // `--importance-samples 0` skips the importance-sampled NLL (and says so).
    let before = std::fs::read_to_string(vae.join("eval.json")).unwrap();
    assert!(before.contains("nll/importance"), "{before}");
    let quick = gen(&[
        "eval",
        v,
        "--importance-samples",
        "0",
        "--quality-samples",
        "0",
    ]);
    ok(&quick);
    assert!(
        stdout(&quick).contains("--importance-samples 0"),
        "{}",
        stdout(&quick)
    );
    let after = std::fs::read_to_string(vae.join("eval.json")).unwrap();
    assert!(
        !after.contains("nll/importance") && after.contains("loss/test"),
        "{after}"
    );
}
