//! The text VAE through the binary on the Tang couplets: one epoch of each shipped poem
//! config (and the GRU language model) on a subset, its samples and reconstructions as
//! text in the event file (read back by TensorBoard's own reader), `gen sample`,
//! `gen interpolate` between a test couplet and a couplet given as text, and `gen eval`'s
//! text figures.

use crate::support;
use support::*;

fn train(config: &str, sets: &[&str], dir: &std::path::Path) {
    let mut args = vec![
        "train",
        config,
        "--run-dir",
        dir.to_str().unwrap(),
        "--set",
        "train.epochs=1",
        "--set",
        "data.train_subset=300",
        "--set",
        "data.test_subset=60",
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    ok(&gen(&args));
}

/// Lines of ten characters each (a couplet without punctuation; `□` for an unknown one).
fn couplets(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn each_poem_config_trains_and_writes_couplets_as_text() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = [
        ("configs/poem-vae.yaml", vec![]),
        ("configs/poem-vae-rnn.yaml", vec![]),
        (
            "configs/poem-vae-rnn.yaml",
            vec![
                "model.latent=0",
                "model.free_bits=0",
                "model.kl_warmup_epochs=0",
            ],
        ),
    ];
    for (i, (config, sets)) in runs.iter().enumerate() {
        let run = tmp.path().join(format!("run{i}"));
        train(config, sets, &run);
        let view = tensorboard_view(&run);
        let samples = couplets(view["texts"]["samples"].as_str().expect("samples as text"));
        assert_eq!(samples.len(), 20, "{config}: {samples:?}");
        // The conv decoder writes all ten positions; the GRU may end a line early.
        assert!(
            samples
                .iter()
                .all(|s| (1..=10).contains(&s.chars().count())),
            "{samples:?}"
        );
        assert!(
            samples.iter().all(|s| !s.chars().any(|c| c.is_ascii())),
            "{samples:?}"
        );
        let coded = sets.is_empty();
        match view["texts"].get("reconstructions") {
            Some(r) => {
                assert!(coded, "{config}: the language model has no code");
                let lines = couplets(r.as_str().unwrap());
                assert_eq!(lines.len(), 20);
                assert!(lines.iter().all(|l| l.contains(" → ")), "{lines:?}");
            }
            None => assert!(!coded, "{config}: no reconstructions"),
        }
        assert!(run.join("samples-epoch-001.txt").is_file());

        let printed = stdout(&gen(&["sample", run.to_str().unwrap(), "-n", "7"]));
        assert_eq!(couplets(&printed).len(), 7, "{printed}");

        let interpolate = gen(&[
            "interpolate",
            run.to_str().unwrap(),
            "--from",
            "0",
            "--to",
            "秦川雄帝宅函谷壯皇居",
            "--steps",
            "4",
        ]);
        if coded {
            ok(&interpolate);
            assert_eq!(couplets(&stdout(&interpolate)).len(), 4);
        } else {
            assert!(!interpolate.status.success());
            assert!(
                stderr(&interpolate).contains("no encoder"),
                "{}",
                stderr(&interpolate)
            );
        }

        ok(&gen(&[
            "eval",
            run.to_str().unwrap(),
            "--importance-samples",
            "3",
        ]));
        let eval: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
        let m = &eval["metrics"];
        let nll_key = if coded { "nll/importance" } else { "nll/exact" };
        let nll = m[nll_key].as_f64().unwrap();
        let per_char = m["nll/per_char"].as_f64().unwrap();
        assert!((nll / 10.0 - per_char).abs() < 1e-9, "{nll} {per_char}");
        assert!((m["text/perplexity"].as_f64().unwrap() - per_char.exp()).abs() < 1e-6);
        // The n-gram baselines on the same split: more context never hurts this much.
        let uni = m["baseline/unigram/nll"].as_f64().unwrap();
        let kn3 = m["baseline/kn3/nll"].as_f64().unwrap();
        assert!(kn3 < uni, "{kn3} vs {uni}");
        for k in [
            "text/novel_samples",
            "text/novel_lines",
            "text/distinct_1",
            "text/distinct_2",
        ] {
            let v = m[k].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{k} {v}");
        }
    }
}

#[test]
fn free_bits_without_a_code_is_a_config_error_naming_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("lm.yaml");
    std::fs::write(
        &cfg,
        "model:\n  family: text-vae\n  decoder: gru\n  latent: 0\n  free_bits: 0.1\ndata:\n  name: tang-couplets\n",
    )
    .unwrap();
    let out = gen(&["train", cfg.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "lm.yaml:5:3: `model.free_bits`: there is no KL term without a code (latent: 0)"
        ),
        "{}",
        stderr(&out)
    );
    std::fs::write(
        &cfg,
        "model:\n  family: text-vae\n  decoder: gru\n  free_bits: -1\ndata:\n  name: tang-couplets\n",
    )
    .unwrap();
    let out = gen(&["train", cfg.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("lm.yaml:4:3: `model.free_bits`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_text_family_on_images_and_an_image_family_on_text_say_which_fits() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("x.yaml");
    std::fs::write(
        &cfg,
        "model:\n  family: vae\ndata:\n  name: tang-couplets\n",
    )
    .unwrap();
    let out = gen(&[
        "train",
        cfg.to_str().unwrap(),
        "--run-dir",
        tmp.path().join("a").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("family: text-vae"),
        "{}",
        stderr(&out)
    );
    std::fs::write(&cfg, "model:\n  family: text-vae\ndata:\n  name: mnist\n").unwrap();
    let out = gen(&[
        "train",
        cfg.to_str().unwrap(),
        "--run-dir",
        tmp.path().join("b").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("tang-couplets"), "{}", stderr(&out));
}

#[test]
fn a_text_run_saves_its_vocabulary_and_refuses_other_text() {
    let tmp = tempfile::tempdir().unwrap();
    let train_file = tmp.path().join("train.txt");
    let test_file = tmp.path().join("test.txt");
    std::fs::write(&train_file, "abcab\nbcabc\ncabca\naabbc\n".repeat(8)).unwrap();
    std::fs::write(&test_file, "abcba\ncbacb\n").unwrap();
    let cfg = tmp.path().join("names.yaml");
    std::fs::write(
        &cfg,
        format!(
            "model:\n  family: text-vae\n  latent: 4\n  embedding: 8\n  conv_layers: 1\n\
             data:\n  name: text\n  train: {}\n  test: {}\n  max_len: 6\n  min_count: 1\n\
             train:\n  epochs: 1\n  batch_size: 8\n",
            train_file.display(),
            test_file.display()
        ),
    )
    .unwrap();
    let run = tmp.path().join("run");
    ok(&gen(&[
        "train",
        cfg.to_str().unwrap(),
        "--run-dir",
        run.to_str().unwrap(),
    ]));
    // Line i is id i: the special tokens, then the characters by falling count (a and b
    // are seen 7 times per repeat of the four lines and tie, broken by code point; c 6).
    let vocab = std::fs::read_to_string(run.join("vocab.txt")).unwrap();
    let lines: Vec<&str> = vocab.lines().collect();
    assert_eq!(lines, ["<pad>", "<unk>", "<end>", "a", "b", "c"], "{vocab}");
    ok(&gen(&["sample", run.to_str().unwrap(), "-n", "2"]));

    // The same run opened on other text would read its ids as other characters.
    std::fs::write(&train_file, "xyzxy\n".repeat(8)).unwrap();
    let out = gen(&["sample", run.to_str().unwrap(), "-n", "2"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("vocab.txt") && err.contains("data changed since training"),
        "{err}"
    );
}
