//! Bad input gets a clear error, a non-zero exit and no panic. Each file under
//! tests/bad-configs/ ends with `# expect: <text>` lines that its error must contain.

use crate::support;

use std::io::Write;
use std::path::Path;
use support::*;

fn assert_clean_failure(o: &std::process::Output, what: &str) {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "{what}: expected failure, got success\n{}",
        stdout(o)
    );
    assert_eq!(o.status.code(), Some(1), "{what}: exit code\n{err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{what}: panicked\n{err}"
    );
    assert!(
        err.lines().any(|l| l.starts_with("error: ")),
        "{what}: {err}"
    );
}

#[test]
fn every_bad_config_is_rejected_with_its_message() {
    let dir = repo().join("tests/bad-configs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 30, "the corpus has {} configs", files.len());
    let tmp = tempfile::tempdir().unwrap();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let expects: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(
            !expects.is_empty(),
            "{} has no `# expect:` line",
            f.display()
        );
        let rel = f.strip_prefix(repo()).unwrap();
        let o = gen(&[
            "train",
            rel.to_str().unwrap(),
            "--runs",
            tmp.path().to_str().unwrap(),
        ]);
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        assert_clean_failure(&o, &name);
        let err = stderr(&o);
        for e in expects {
            assert!(err.contains(e), "{name}: expected `{e}` in:\n{err}");
        }
    }
    // Nothing was trained, so no run directory was left behind.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

/// A `--set` mistake is blamed on the `--set` (not on a line of the file), says what is
/// expected in a user's words and suggests the key in the section it belongs to.
#[test]
fn set_mistakes_name_the_set_the_expected_form_and_the_right_key() {
    let cases: &[(&str, &[&str])] = &[
        (
            "optimizer.lr=1e-4",
            &[
                "--set optimizer.lr=1e-4: ",
                "did you mean `train.optimizer.lr`?",
            ],
        ),
        ("model.lr=1e-4", &["did you mean `train.optimizer.lr`?"]),
        ("train.latent=3", &["did you mean `model.latent`?"]),
        ("train.batchsize=32", &["did you mean `batch_size`?"]),
        (
            "train.epochs=-1",
            &["--set train.epochs=-1: `train.epochs`: expected a whole number >= 0, got -1"],
        ),
        ("log.pictures_every=yes", &["expected a whole number >= 0"]),
        (
            "train.optimizer.lr=fast",
            &["expected a number (e.g. 0.001 or 1e-3), got the text \"fast\""],
        ),
        (
            "model.hidden=400,400",
            &[
                "expected a list, written [a, b]",
                "--set 'model.hidden=[400, 400]'",
            ],
        ),
    ];
    for (set, expects) in cases {
        let o = gen(&["train", "configs/vae.yaml", "--set", set]);
        assert_clean_failure(&o, set);
        let err = stderr(&o);
        assert!(
            !err.contains("configs/vae.yaml:"),
            "{set}: blamed on the file: {err}"
        );
        assert!(
            !err.contains("usize") && !err.contains("f64"),
            "{set}: {err}"
        );
        for e in *expects {
            assert!(err.contains(e), "{set}: expected `{e}` in {err}");
        }
    }
}

/// A config key written as a flag gets the `--set` that says it, not clap's `-- --epochs`.
#[test]
fn a_config_key_written_as_a_flag_gets_its_set() {
    for (args, expect) in [
        (&["--epochs", "1"][..], "--set train.epochs=1"),
        (&["--batch-size=32"][..], "--set train.batch_size=32"),
        (&["--lr", "3e-4"][..], "--set train.optimizer.lr=3e-4"),
    ] {
        let mut all = vec!["train", "configs/vae.yaml"];
        all.extend(args);
        let o = gen(&all);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(expect),
            "{args:?}: expected `{expect}` in {err}"
        );
        assert!(!err.contains("-- --"), "{args:?}: {err}");
    }
}

#[test]
fn cli_level_mistakes() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["train", "configs/nope.yaml"],
            "cannot read the config configs/nope.yaml",
        ),
        (
            vec!["train", "configs/vae.yaml", "--set", "train.epochs"],
            "expected KEY.PATH=VALUE",
        ),
        (
            vec!["train", "configs/vae.yaml", "--set", "train..epochs=3"],
            "not a dotted key path",
        ),
        (
            vec!["train", "configs/vae.yaml", "--set", "train.epochs=zero"],
            "--set train.epochs=zero: `train.epochs`: expected a whole number >= 0",
        ),
        (
            vec!["train", "configs/vae.yaml", "--set", "model.latnet=3"],
            "did you mean `latent`",
        ),
        (vec!["train", "--resume", t], "a run directory?"),
    ];
    for (args, expect) in cases {
        let o = gen(&args);
        assert_clean_failure(&o, &format!("{args:?}"));
        assert!(
            stderr(&o).contains(expect),
            "{args:?}: expected `{expect}` in {}",
            stderr(&o)
        );
    }
    // An existing, non-empty --run-dir is never overwritten.
    std::fs::write(tmp.path().join("keep.txt"), "precious").unwrap();
    let o = gen(&["train", "configs/vae.yaml", "--run-dir", t]);
    assert_clean_failure(&o, "existing run dir");
    assert!(stderr(&o).contains("never overwritten"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("keep.txt")).unwrap(),
        "precious"
    );
    // An output directory that cannot be created (its parent is a file; root-proof, unlike
    // permissions) is an error before any training.
    let under_file = format!("{t}/keep.txt/runs");
    let o = gen(&["train", "configs/vae.yaml", "--runs", &under_file]);
    assert_clean_failure(&o, "unwritable runs dir");
    assert!(
        stderr(&o).contains("cannot create the run directory"),
        "{}",
        stderr(&o)
    );
    assert!(
        !stdout(&o).contains("epoch 1/"),
        "it trained: {}",
        stdout(&o)
    );
    // A truly empty file.
    let empty = tmp.path().join("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    let o = gen(&["train", empty.to_str().unwrap()]);
    assert_clean_failure(&o, "empty file");
    assert!(stderr(&o).contains("the config is empty"));
}

fn gz(path: &Path, bytes: &[u8]) {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    std::fs::write(path, e.finish().unwrap()).unwrap();
}

#[test]
fn corrupt_data_files_are_named_in_the_error() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bad magic", b"GIF89a....".to_vec(), "bad magic number"),
        (
            "truncated",
            idx(&[2, 28, 28], &[0; 100]),
            "truncated: the header promises 1568 bytes",
        ),
        (
            "not gzip inside",
            vec![0x1f, 0x8b, 0, 0, 1, 2, 3],
            "broken gzip stream",
        ),
    ];
    for (what, images, expect) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::write(d.join("train-images-idx3-ubyte"), &images).unwrap();
        gz(&d.join("train-labels-idx1-ubyte.gz"), &idx(&[2], &[1, 2]));
        gz(
            &d.join("t10k-images-idx3-ubyte.gz"),
            &idx(&[1, 28, 28], &[0; 784]),
        );
        gz(&d.join("t10k-labels-idx1-ubyte.gz"), &idx(&[1], &[3]));
        let set = format!("data.dir={}", d.display());
        let o = gen(&[
            "train",
            "configs/vae.yaml",
            "--set",
            &set,
            "--runs",
            d.to_str().unwrap(),
        ]);
        assert_clean_failure(&o, what);
        let err = stderr(&o);
        assert!(err.contains(expect), "{what}: expected `{expect}` in {err}");
        assert!(
            err.contains("train-images-idx3-ubyte"),
            "{what}: names the file: {err}"
        );
    }
}

#[test]
fn missing_dataset_names_the_paths_searched_and_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mirror = format!("data.mirrors=[\"http://{dead}/fm/\"]");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gen"))
        .args([
            "train",
            "configs/vae.yaml",
            "--set",
            "data.name=fashion-mnist",
            "--set",
            &mirror,
        ])
        .current_dir(repo())
        .env("GEN_DATA_DIR", tmp.path().join("nothing-here"))
        .env("XDG_CACHE_HOME", tmp.path().join("cache"))
        .output()
        .unwrap();
    assert_clean_failure(&o, "missing fashion-mnist");
    let err = stderr(&o);
    for want in [
        "dataset `fashion-mnist` not found",
        "nothing-here/fashion-mnist",
        "/usr/share/datasets/fashion-mnist",
        "cache/gen/fashion-mnist",
        &format!("http://{dead}/fm/train-images-idx3-ubyte.gz"),
        "--set data.dir=DIR",
        "GEN_DATA_DIR",
    ] {
        assert!(err.contains(want), "expected `{want}` in {err}");
    }
}

/// The four IDX files of a tiny valid data set (2 training, 1 test image) in `dir`, with
/// `role`'s file replaced by `bad` (kept gzipped if its name ends in .gz).
fn idx_set_with(dir: &Path, role: &str, bad: &Path) {
    let valid = [
        ("train-images", idx(&[2, 28, 28], &[7; 2 * 784])),
        ("train-labels", idx(&[2], &[1, 2])),
        ("test-images", idx(&[1, 28, 28], &[9; 784])),
        ("test-labels", idx(&[1], &[3])),
    ];
    for (name, bytes) in valid {
        let base = match name {
            "train-images" => "train-images-idx3-ubyte",
            "train-labels" => "train-labels-idx1-ubyte",
            "test-images" => "t10k-images-idx3-ubyte",
            _ => "t10k-labels-idx1-ubyte",
        };
        if name == role {
            let gz_name = bad.extension().is_some_and(|e| e == "gz");
            let to = if gz_name {
                format!("{base}.gz")
            } else {
                base.to_string()
            };
            std::fs::copy(bad, dir.join(to)).unwrap();
        } else {
            gz(&dir.join(format!("{base}.gz")), &bytes);
        }
    }
}

#[test]
fn every_corrupt_data_file_is_rejected_with_its_message() {
    let corpus = repo().join("tests/bad-data");
    let manifest = std::fs::read_to_string(corpus.join("EXPECT")).unwrap();
    let cases: Vec<Vec<&str>> = manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(" | ").collect())
        .collect();
    assert!(cases.len() >= 20, "the corpus has {} files", cases.len());
    for case in cases {
        let [file, role, expect] = case[..] else {
            panic!("bad EXPECT line {case:?}")
        };
        let bad = corpus.join(file);
        assert!(bad.exists(), "{file} is listed but missing (run make.py)");
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let mut sets: Vec<String> = vec![format!("train.epochs=1")];
        match role {
            "points" | "points-test" => {
                sets.push("data.name=file".into());
                sets.push("model.decoder=gaussian".into());
                if role == "points" {
                    sets.push(format!("data.train={}", bad.display()));
                } else {
                    let good = d.join("good.csv");
                    std::fs::write(&good, "1,2\n3,4\n").unwrap();
                    sets.push(format!("data.train={}", good.display()));
                    sets.push(format!("data.test={}", bad.display()));
                }
            }
            _ => {
                idx_set_with(d, role, &bad);
                sets.push(format!("data.dir={}", d.display()));
            }
        }
        let mut args = vec!["train", "configs/vae.yaml", "--runs", d.to_str().unwrap()];
        for s in &sets {
            args.extend(["--set", s.as_str()]);
        }
        let o = gen(&args);
        assert_clean_failure(&o, file);
        let err = stderr(&o);
        assert!(
            err.contains(expect),
            "{file}: expected `{expect}` in:\n{err}"
        );
        let named = file.trim_end_matches(".gz");
        let shown = role.starts_with("points") && err.contains(file)
            || !role.starts_with("points") && err.contains("-ubyte");
        assert!(shown, "{file}: the error names the file ({named}):\n{err}");
    }
}
