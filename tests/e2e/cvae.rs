//! The conditional VAE through the binary: one epoch on MNIST, then `gen sample --class c`
//! for every digit, judged by a nearest-class-mean classifier fitted here on the MNIST
//! training set: the samples must carry their class far above chance.

use crate::support;

use support::*;

#[test]
fn class_conditional_samples_are_recognized_as_their_class() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    ok(&gen(&[
        "train",
        "configs/cvae.yaml",
        "--set",
        "train.epochs=1",
        "--run-dir",
        run.to_str().unwrap(),
    ]));

    // The classifier: the mean image of each digit in the training set.
    let cfg: gen_data::DataConfig = serde_norway::from_str("name: mnist").unwrap();
    let data = gen_data::Dataset::load(&cfg, Some(&repo().join("data"))).unwrap();
    let labels = data.train.labels.as_ref().unwrap();
    let mut means = vec![vec![0f64; 784]; 10];
    let mut counts = [0usize; 10];
    for (i, &l) in labels.iter().enumerate() {
        counts[l as usize] += 1;
        for (m, &v) in means[l as usize].iter_mut().zip(data.train.row(i)) {
            *m += v as f64;
        }
    }
    for (m, &c) in means.iter_mut().zip(&counts) {
        m.iter_mut().for_each(|v| *v /= c as f64);
    }
    let classify = |x: &[f64]| -> usize {
        let d = |m: &Vec<f64>| x.iter().zip(m).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
        (0..10)
            .min_by(|&a, &b| d(&means[a]).total_cmp(&d(&means[b])))
            .unwrap()
    };

    let (mut right, mut total) = (0, 0);
    for class in 0..10 {
        let npy = tmp.path().join(format!("c{class}.npy"));
        let c = class.to_string();
        ok(&gen(&[
            "sample",
            run.to_str().unwrap(),
            "--class",
            &c,
            "-n",
            "20",
            "-o",
            npy.to_str().unwrap(),
        ]));
        let a = gen_data::npy::parse(&std::fs::read(&npy).unwrap()).unwrap();
        assert_eq!((a.rows, a.cols), (20, 784));
        for row in a.data.chunks(784) {
            right += (classify(row) == class) as usize;
            total += 1;
        }
    }
    let accuracy = right as f64 / total as f64;
    eprintln!("conditional samples classified as their class: {right} of {total}");
    // The classifier itself gets about 82% of real test digits right.
    assert!(
        accuracy > 0.7,
        "{right} of {total} samples classified as their class (chance 10%)"
    );

    let o = gen(&[
        "sample",
        run.to_str().unwrap(),
        "--class",
        "10",
        "-o",
        "x.png",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("classes 0 to 9"), "{}", stderr(&o));
    // Its codes need the class too, so gen encode says why it has none to give.
    let npy = tmp.path().join("codes.npy");
    let o = gen(&["encode", run.to_str().unwrap(), "-o", npy.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("conditional one"), "{}", stderr(&o));
}
