//! `--resume` continues a run at the next step, with the same numbers as an
//! uninterrupted run.

use crate::support;

use support::*;

const SETS: &[&str] = &[
    "--set",
    "data.name=ring",
    "--set",
    "data.train_size=2000",
    "--set",
    "data.test_size=500",
    "--set",
    "model.hidden=[32]",
    "--set",
    "model.latent=2",
    "--set",
    "model.decoder=gaussian",
    "--set",
    "model.decoder_sigma=0.1",
];

fn train(dir: &std::path::Path, epochs: usize) -> std::process::Output {
    let mut args = vec![
        "train",
        "configs/vae.yaml",
        "--run-dir",
        dir.to_str().unwrap(),
    ];
    args.extend(SETS);
    let e = format!("train.epochs={epochs}");
    args.extend(["--set", &e]);
    gen(&args)
}

#[test]
fn resume_continues_at_the_next_step_and_matches_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("interrupted"), tmp.path().join("straight"));
    ok(&train(&a, 1));
    ok(&train(&b, 2));
    let steps_per_epoch: i64 = (2000 + 127) / 128;
    assert_eq!(last(&scalars(&a), "loss/test").unwrap().0, steps_per_epoch);

    let o = gen(&[
        "train",
        "--resume",
        a.to_str().unwrap(),
        "--set",
        "train.epochs=2",
    ]);
    ok(&o);
    assert!(
        stdout(&o).contains(&format!("at epoch 2 (step {})", steps_per_epoch + 1)),
        "{}",
        stdout(&o)
    );
    let (sa, sb) = (scalars(&a), scalars(&b));
    for tag in ["loss/train", "loss/test", "joint_kl/latent_kl"] {
        let (step_a, va) = last(&sa, tag).unwrap();
        let (step_b, vb) = last(&sb, tag).unwrap();
        assert_eq!(step_a, 2 * steps_per_epoch, "{tag}");
        assert_eq!(
            (step_a, va),
            (step_b, vb),
            "{tag}: resumed vs uninterrupted"
        );
    }

    // Finished runs say how to continue; a changed model shape is refused.
    let o = gen(&["train", "--resume", a.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("already finished 2 of 2 epochs"),
        "{}",
        stderr(&o)
    );
    let o = gen(&[
        "train",
        "--resume",
        a.to_str().unwrap(),
        "--set",
        "train.epochs=3",
        "--set",
        "model.latent=3",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("model.latent: 2 -> 3"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"));
}
