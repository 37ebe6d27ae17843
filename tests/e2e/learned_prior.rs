//! The VAE's learned priors through the binary: a VampPrior run trains, resumes, samples
//! and draws its pseudo-inputs, and its importance-sampled NLL lies below its test -ELBO;
//! bad prior settings are config errors naming the key and the line.

use crate::support;

use std::path::Path;
use support::{gen, ok, stderr};

fn vamp_run(dir: &Path, epochs: usize) -> std::process::Output {
    gen(&[
        "train",
        "configs/vae.yaml",
        "--run-dir",
        dir.to_str().unwrap(),
        "--set",
        "data.train_subset=3000",
        "--set",
        "data.test_subset=300",
        "--set",
        &format!("train.epochs={epochs}"),
        "--set",
        "model.hidden=[200]",
        "--set",
        "model.prior={kind: vamp, components: 30}",
        "--set",
        "model.kl=sampled",
    ])
}

#[test]
fn a_vamp_prior_run_trains_resumes_samples_and_bounds_its_nll_below_the_elbo() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vamp");
    ok(&vamp_run(&dir, 2));
    assert!(
        dir.join("pseudo_inputs-epoch-002.png").is_file(),
        "no picture of the pseudo-inputs"
    );
    let cfg = std::fs::read_to_string(dir.join("config.yaml")).unwrap();
    assert!(
        cfg.contains("kind: vamp") && cfg.contains("components: 30"),
        "{cfg}"
    );
    // Resumed, the prior's parameters come back with the rest.
    ok(&gen(&[
        "train",
        "--resume",
        dir.to_str().unwrap(),
        "--set",
        "train.epochs=3",
    ]));
    ok(&gen(&[
        "eval",
        dir.to_str().unwrap(),
        "--importance-samples",
        "100",
        "--quality-samples",
        "0",
    ]));
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("eval.json")).unwrap()).unwrap();
    let (nll, elbo) = (
        eval["metrics"]["nll/importance"].as_f64().unwrap(),
        eval["metrics"]["loss/test"].as_f64().unwrap(),
    );
    assert!(nll < elbo, "NLL {nll} is not below the test -ELBO {elbo}");
    assert!(
        elbo - nll < 30.0,
        "NLL {nll} implausibly far below -ELBO {elbo}"
    );
    let png = tmp.path().join("s.png");
    ok(&gen(&[
        "sample",
        dir.to_str().unwrap(),
        "-n",
        "16",
        "-o",
        png.to_str().unwrap(),
    ]));
    assert!(png.is_file());
}

#[test]
fn bad_prior_settings_name_the_key_and_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let zero = write(
        "zero.yaml",
        "model:\n  family: vae\n  kl: sampled\n  prior:\n    kind: vamp\n    components: 0\ndata:\n  name: mnist\n",
    );
    let o = gen(&["train", zero.to_str().unwrap()]);
    assert!(
        stderr(&o).contains(
            "zero.yaml:6:5: `model.prior.components`: a learned prior needs at least 1 component"
        ),
        "{}",
        stderr(&o)
    );
    let many = write(
        "many.yaml",
        "model:\n  family: vae\n  kl: sampled\n  prior:\n    kind: vamp\n    components: 600\ndata:\n  name: mnist\n  train_subset: 500\n",
    );
    let o = gen(&["train", many.to_str().unwrap()]);
    assert!(stderr(&o).contains("many.yaml:6:5: `model.prior.components`: 600 pseudo-inputs are more than the 500 training examples"), "{}", stderr(&o));
    let analytic = write(
        "analytic.yaml",
        "model:\n  family: vae\n  prior:\n    kind: mixture\ndata:\n  name: mnist\n",
    );
    let o = gen(&["train", analytic.to_str().unwrap()]);
    assert!(
        stderr(&o)
            .contains("`model.kl`: the KL to a learned prior has no closed form; set kl: sampled"),
        "{}",
        stderr(&o)
    );
    let gan = write(
        "gan.yaml",
        "model:\n  family: gan\n  prior:\n    kind: vamp\ndata:\n  name: mnist\n",
    );
    let o = gen(&["train", gan.to_str().unwrap()]);
    assert!(
        stderr(&o).contains("gan.yaml:3:3: `model.prior`: unknown field `prior`"),
        "{}",
        stderr(&o)
    );
}
