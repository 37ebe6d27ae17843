//! The binary explains itself.

use crate::support;

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

/// The table's rows: (threads, batch, gen samples/s, GFLOP/s).
fn bench_rows(out: &str) -> Vec<(usize, usize, f64, f64)> {
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (t, b) = (f.first()?.parse().ok()?, f.get(1)?.parse().ok()?);
            Some((t, b, f.get(2)?.parse().ok()?, f.get(5)?.parse().ok()?))
        })
        .collect()
}

#[test]
fn bench_runs_the_reference_step() {
    let o = gen(&[
        "bench",
        "--batch",
        "4,8",
        "--threads",
        "1",
        "--runs",
        "1",
        "--steps",
        "2",
        "--warmup",
        "1",
    ]);
    ok(&o);
    let out = stdout(&o);
    let rows = bench_rows(&out);
    assert_eq!(
        rows.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        [(1, 4), (1, 8)],
        "{out}"
    );
    for r in rows {
        assert!(r.2 > 0.0 && r.3 > 0.0, "{out}");
    }
    assert!(out.contains("GFLOP per sample"), "{out}");
    let o = gen(&["bench", "--batch", "0"]);
    assert!(
        !o.status.success() && stderr(&o).contains("at least 1"),
        "{}",
        stderr(&o)
    );
    let o = gen(&["bench", "--model", "resnet"]);
    assert!(
        !o.status.success() && stderr(&o).contains("one of vae, conv-vae, dcgan"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bench_times_the_conv_models_on_two_threads() {
    let o = gen(&[
        "bench",
        "--model",
        "conv-vae,dcgan",
        "--batch",
        "2",
        "--threads",
        "2",
        "--runs",
        "1",
        "--steps",
        "1",
        "--warmup",
        "0",
    ]);
    ok(&o);
    let out = stdout(&o);
    assert!(
        out.contains("conv VAE step") && out.contains("DCGAN iteration"),
        "{out}"
    );
    assert_eq!(bench_rows(&out).len(), 2, "{out}");
}
