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
