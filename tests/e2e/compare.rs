//! `gen compare` on runs of two families (a VAE on MNIST, EM on a toy set): one table with
//! blanks where a figure does not apply, csv and json that hold the same, the PNG of the
//! sample grids, and the error for a run that was not evaluated.

use crate::support;

use std::path::PathBuf;
use support::*;

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

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
    // One parameters column (EM reports its count as a figure, the VAE's comes from the
    // checkpoint), and every digit of eval.json in csv.
    assert_eq!(
        rows[0].iter().filter(|h| h.contains("parameters")).count(),
        1,
        "{out}"
    );
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(vae.join("eval.json")).unwrap()).unwrap();
    let loss = eval["metrics"]["loss/test"].as_f64().unwrap();
    assert_eq!(
        rows[1][col("loss/test")].parse::<f64>().unwrap(),
        loss,
        "{out}"
    );
    assert_eq!(eval["conditions"]["importance_samples"], 2);
    assert_eq!(eval["conditions"]["quality_samples"], 500);
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
    // An unevaluated run is left out with a warning; alone, it is an error.
    let mixed = gen(&["compare", v, fresh.to_str().unwrap(), "--format", "csv"]);
    ok(&mixed);
    assert_eq!(stdout(&mixed).lines().count(), 2, "{}", stdout(&mixed));
    assert!(
        stderr(&mixed).contains("has no eval.json and is left out"),
        "{}",
        stderr(&mixed)
    );
    let bad = gen(&["compare", fresh.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("no eval.json: run `gen eval"),
        "{}",
        stderr(&bad)
    );

    // The same model evaluated at another K: both NLLs are shown with their K, and a
    // warning says they are not comparable.
    let other_k = tmp.path().join("vae-k3");
    copy_dir(&vae, &other_k);
    let k3 = other_k.to_str().unwrap();
    ok(&gen(&[
        "eval",
        k3,
        "--importance-samples",
        "3",
        "--quality-samples",
        "500",
    ]));
    let both = gen(&["compare", v, k3]);
    ok(&both);
    let warning = stderr(&both);
    assert!(
        warning.contains(
            "nll/importance measured with different importance samples K (vae: 2, vae-k3: 3)"
        ),
        "{warning}"
    );
    let table = stdout(&both);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert!(
        header.contains(&"K") && header.contains(&"quality n"),
        "{table}"
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
