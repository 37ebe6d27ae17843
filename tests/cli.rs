//! The binary explains itself.

mod support;

use support::*;

#[test]
fn help_and_list() {
    let o = gen(&["--help"]);
    ok(&o);
    assert!(
        stdout(&o).contains("joint KL") && stdout(&o).contains("train"),
        "{}",
        stdout(&o)
    );
    let o = gen(&["train", "--help"]);
    ok(&o);
    for want in [
        "--set",
        "--resume",
        "--run-dir",
        "runs/<config-name>-<timestamp>",
    ] {
        assert!(
            stdout(&o).contains(want),
            "train --help lacks {want}: {}",
            stdout(&o)
        );
    }
    let o = gen(&["list"]);
    ok(&o);
    let out = stdout(&o);
    for want in [
        "vae",
        "mnist",
        "fashion-mnist",
        "ring",
        "grid",
        "spiral",
        "moons",
    ] {
        assert!(out.contains(want), "gen list lacks {want}: {out}");
    }
}

#[test]
fn bench_runs_the_reference_step() {
    let o = gen(&[
        "bench", "--batch", "4,8", "--runs", "1", "--steps", "2", "--warmup", "1",
    ]);
    ok(&o);
    let out = stdout(&o);
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with(['4', '8']))
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    for r in rows {
        let rate: f64 = r.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(rate > 0.0, "{r}");
    }
    assert!(out.contains("peak RSS"), "{out}");
    let o = gen(&["bench", "--batch", "0"]);
    assert!(
        !o.status.success() && stderr(&o).contains("at least 1"),
        "{}",
        stderr(&o)
    );
}
