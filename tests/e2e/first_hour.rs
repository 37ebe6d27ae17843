//! What a new user meets in the first hour, through the binary: the messages of issue 33
//! that are not config errors (those are in bad_inputs.rs). Each asserts what the message
//! must contain, not its whole text.

use crate::support;
use support::*;

const SMALL: [&str; 6] = [
    "--set",
    "data.train_subset=500",
    "--set",
    "data.test_subset=100",
    "--set",
    "train.epochs=1",
];

fn train(config: &str, dir: &std::path::Path) -> String {
    let mut args = vec!["train", config, "--run-dir", dir.to_str().unwrap()];
    args.extend(SMALL);
    let o = gen(&args);
    ok(&o);
    stdout(&o)
}

#[test]
fn the_vae_and_the_autoencoder_say_what_they_minimize_and_eval_reads_well() {
    let tmp = tempfile::tempdir().unwrap();
    let vae = tmp.path().join("vae");
    let out = train("configs/vae.yaml", &vae);
    assert!(out.contains("for 1 epoch ->"), "{out}");
    assert!(out.contains("objective: KL(p(x,z) || q(x,z))"), "{out}");

    let ae = tmp.path().join("ae");
    let out = train("configs/ae.yaml", &ae);
    assert!(out.contains("no KL term"), "{out}");
    assert!(!out.contains("objective: KL("), "{out}");

    // The twenty per-dimension KLs are one line of the table, every value in eval.json.
    let v = vae.to_str().unwrap();
    let o = gen(&[
        "eval",
        v,
        "--importance-samples",
        "2",
        "--quality-samples",
        "0",
    ]);
    ok(&o);
    let table = stdout(&o);
    assert!(table.contains("1 epoch done"), "{table}");
    assert_eq!(table.matches("kl_dim").count(), 1, "{table}");
    assert!(
        table.contains("vae/kl_dim_00..19  ") && table.contains("20 values from"),
        "{table}"
    );
    let json = std::fs::read_to_string(vae.join("eval.json")).unwrap();
    assert!(json.contains("vae/kl_dim_19"), "{json}");

    // gen predict on a generative run says which run it needs, before looking at columns.
    let input = tmp.path().join("x.csv");
    std::fs::write(&input, "1,2\n").unwrap();
    let out_file = tmp.path().join("y.csv");
    let o = gen(&[
        "predict",
        v,
        input.to_str().unwrap(),
        "-o",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("needs a `family: bnn` run"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_closed_form_fit_says_which_settings_it_does_not_use() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("em");
    let o = gen(&[
        "train",
        "configs/em-gmm.yaml",
        "--run-dir",
        run.to_str().unwrap(),
        "--set",
        "train.epochs=3",
        "--set",
        "model.n_init=1",
    ]);
    ok(&o);
    assert!(
        stdout(&o).contains("`train.epochs` is not used"),
        "{}",
        stdout(&o)
    );
    let o = gen(&["eval", run.to_str().unwrap(), "--importance-samples", "10"]);
    ok(&o);
    assert!(
        stdout(&o).contains("--importance-samples is not used"),
        "{}",
        stdout(&o)
    );
}
