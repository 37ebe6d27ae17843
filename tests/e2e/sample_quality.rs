//! Sample quality through the binary (`gen score`, `gen eval`'s `quality/*`) with the
//! classifier gen ships, on real MNIST: the test set against itself, and sets that are
//! wrong in known ways (one class, blurred, noise), which must score in the expected
//! order; and the Fréchet distance against an independent computation in numpy.

use crate::support;

use gen_metrics::sample_quality::{frechet_distance, FeatureStats};
use std::collections::HashMap;
use std::path::Path;
use support::*;

/// The MNIST test images (pixels in [0, 1]) and labels, from $GEN_DATA_DIR.
fn mnist_test() -> (Vec<f32>, Vec<u32>) {
    let cfg: gen_data::DataConfig = serde_norway::from_str("name: mnist").unwrap();
    let data = gen_data::Dataset::load(&cfg, Some(&repo().join("data")))
        .expect("MNIST (set GEN_DATA_DIR)");
    (
        data.test.x.clone(),
        data.test.labels.clone().expect("labels"),
    )
}

fn write_npy(path: &Path, rows: &[f32]) {
    std::fs::write(path, gen_data::npy::encode_f32(rows.len() / 784, 784, rows)).unwrap();
}

/// `gen score FILE --data mnist`, its figures by name.
fn score(path: &Path) -> HashMap<String, f64> {
    let o = gen(&["score", path.to_str().unwrap(), "--data", "mnist"]);
    ok(&o);
    stdout(&o)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (k, v) = (w.next()?, w.next()?);
            Some((k.strip_prefix("quality/")?.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// A 5 x 5 box blur of each 28 x 28 image (edges clamped).
fn blurred(x: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    for (img, dst) in x.chunks_exact(784).zip(out.chunks_exact_mut(784)) {
        for r in 0..28i32 {
            for c in 0..28i32 {
                let mut s = 0.0;
                for dr in -2..=2 {
                    for dc in -2..=2 {
                        let (rr, cc) = ((r + dr).clamp(0, 27), (c + dc).clamp(0, 27));
                        s += img[(rr * 28 + cc) as usize];
                    }
                }
                dst[(r * 28 + c) as usize] = s / 25.0;
            }
        }
    }
    out
}

#[test]
fn known_sets_score_in_the_expected_order() {
    let (x, labels) = mnist_test();
    let tmp = tempfile::tempdir().unwrap();
    let file = |name: &str, rows: &[f32]| {
        let p = tmp.path().join(name);
        write_npy(&p, rows);
        p
    };
    // 2,000 rows each (the reference is always the whole test set).
    let n = 2000;
    let itself = score(&file("test.npy", &x));
    // The shipped classifier named explicitly, as its exported file, scores the same.
    let blur_file = file("blurred-explicit.npy", &blurred(&x[..500 * 784]));
    let named = gen(&[
        "score",
        blur_file.to_str().unwrap(),
        "--data",
        "mnist",
        "--classifier",
        "assets/classifier-mnist.safetensors",
    ]);
    let default = gen(&["score", blur_file.to_str().unwrap(), "--data", "mnist"]);
    ok(&named);
    let figures = |o: &std::process::Output| {
        stdout(o)
            .lines()
            .filter(|l| l.contains("quality/"))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(figures(&named), figures(&default));
    let ones: Vec<f32> = x
        .chunks_exact(784)
        .zip(&labels)
        .filter(|(_, &l)| l == 1)
        .flat_map(|(r, _)| r.iter().copied())
        .take(n * 784)
        .collect();
    let one_class = score(&file("ones.npy", &ones));
    let blur = score(&file("blurred.npy", &blurred(&x[..n * 784])));
    let mut rng = gen_core::Rng::new(1);
    let noise: Vec<f32> = (0..n * 784).map(|_| rng.uniform() as f32).collect();
    let noise = score(&file("noise.npy", &noise));

    // The test set against itself: the same Gaussian, every point inside its own ball.
    assert!(itself["fd"].abs() < 1e-3, "{itself:?}");
    assert_eq!((itself["precision"], itself["recall"]), (1.0, 1.0));
    assert!(itself["class_kl"].abs() < 1e-12);
    // quality/is_test is the test images' own IS, the same for every sample file.
    assert!(
        (itself["is"] - itself["is_test"]).abs() < 1e-9,
        "{itself:?}"
    );
    assert_eq!(blur["is_test"], itself["is_test"]);
    assert!(
        itself["is"] > 9.0,
        "a 99%-accurate classifier on balanced classes: {itself:?}"
    );

    // Distances grow from blurred digits to one class of real digits to noise.
    assert!(
        blur["fd"] > 1.0 && blur["fd"] < one_class["fd"],
        "{blur:?} {one_class:?}"
    );
    assert!(one_class["fd"] < noise["fd"], "{one_class:?} {noise:?}");
    // One class: real-looking (high precision) but nothing else is covered.
    assert!(
        one_class["precision"] > 0.9 && one_class["recall"] < 0.2,
        "{one_class:?}"
    );
    assert!(
        one_class["class_kl"] > 2.0 && one_class["is"] < 1.2,
        "{one_class:?}"
    );
    // Blur keeps the classes; noise is nowhere near a digit.
    assert!(blur["class_kl"] < 0.2, "{blur:?}");
    assert!(noise["precision"] < 0.01, "{noise:?}");
}

/// FD between two random feature sets with covariances that do not commute, against
/// numpy: `tr sqrt(S_a S_b)` from the eigenvalues of the non-symmetric product
/// (`numpy.linalg.eigvals`, LAPACK's general solver), not the symmetric route gen takes.
#[test]
fn frechet_distance_matches_numpy() {
    let (n, d) = (3000, 12);
    let mut rng = gen_core::Rng::new(7);
    let mix = |rng: &mut gen_core::Rng, shift: f64| -> Vec<f32> {
        let m: Vec<f64> = (0..d * d).map(|_| rng.normal()).collect();
        (0..n)
            .flat_map(|_| {
                let z: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
                (0..d)
                    .map(|i| (shift + (0..d).map(|k| m[i * d + k] * z[k]).sum::<f64>()) as f32)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let a = mix(&mut rng, 0.0);
    let b = mix(&mut rng, 0.5);
    let ours = frechet_distance(&FeatureStats::of(&a, d), &FeatureStats::of(&b, d));
    let tmp = tempfile::tempdir().unwrap();
    for (name, rows) in [("a.npy", &a), ("b.npy", &b)] {
        std::fs::write(tmp.path().join(name), gen_data::npy::encode_f32(n, d, rows)).unwrap();
    }
    let script = "import sys, numpy as np\n\
a = np.load(sys.argv[1]).astype(np.float64); b = np.load(sys.argv[2]).astype(np.float64)\n\
sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)\n\
root = np.sqrt(np.linalg.eigvals(sa @ sb).real.clip(min=0)).sum()\n\
print(((a.mean(0) - b.mean(0))**2).sum() + np.trace(sa) + np.trace(sb) - 2 * root)\n";
    let out = std::process::Command::new(tensorboard_python())
        .args(["-c", script])
        .arg(tmp.path().join("a.npy"))
        .arg(tmp.path().join("b.npy"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let numpy: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(ours > 1.0, "the sets differ: {ours}");
    assert!(
        (ours - numpy).abs() < 1e-8 * numpy.max(1.0),
        "gen {ours} numpy {numpy}"
    );
}

/// `gen score`'s mistakes: a missing file (named once), a wrong shape, a data set without a
/// shipped classifier, an unknown data set — each one line, status 1.
#[test]
fn score_errors_name_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let small = tmp.path().join("small.npy");
    std::fs::write(&small, gen_data::npy::encode_f32(3, 5, &[0.5; 15])).unwrap();
    let missing = tmp.path().join("missing.npy");
    let cases: [(&Path, &str, &str); 4] = [
        (&missing, "mnist", "missing.npy: No such file"),
        (&small, "mnist", "shape (3, 5), expected N x 784 images"),
        (&small, "ring", "for `ring` pass --classifier RUN_DIR"),
        (&small, "cifar", "--data cifar: not a data set gen knows"),
    ];
    for (file, data, want) in cases {
        let o = gen(&["score", file.to_str().unwrap(), "--data", data]);
        assert_eq!(o.status.code(), Some(1), "{want}");
        let err = stderr(&o);
        assert!(
            err.contains(want) && err.lines().count() == 1,
            "{want}: {err}"
        );
        assert_eq!(
            err.matches("No such file").count(),
            (data == "mnist" && file == missing) as usize
        );
    }
}
