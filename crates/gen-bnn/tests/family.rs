//! The `bnn` family's terms against hand computations: the reported weight KL is the
//! closed-form KL over every parameter divided by N, MAP's term is the prior's negative
//! log density divided by N, Blundell's minibatch weights average to one, and both
//! networks train.

use candle_core::{DType, Device, Tensor};
use gen_bnn::{Bnn, BnnConfig, KlWeighting};
use gen_core::model::{Batch, DataInfo, DataKind, Prediction};
use gen_core::Setup;
use gen_core::{Family, Model, Rng};
use gen_nn::optim::OptimizerConfig;

fn config(yaml: &str) -> BnnConfig {
    gen_core::yaml::from_str(&format!("family: bnn\n{yaml}")).unwrap()
}

fn points(dim: usize, classes: usize, n: usize) -> DataInfo {
    DataInfo {
        classes: Some(classes),
        ..DataInfo::points("points", dim, n)
    }
}

fn build(cfg: BnnConfig, data: &DataInfo, dtype: DType) -> Bnn {
    Bnn::new(
        cfg,
        &mut Setup {
            data,
            optimizer: &OptimizerConfig::default(),
            device: Device::Cpu,
            dtype,
            rng: &mut Rng::new(1),
        },
    )
    .unwrap()
}

/// Two Gaussian blobs in 4-D, labelled by blob.
fn blobs(n: usize, rng: &mut Rng) -> Batch {
    let mut x = Vec::with_capacity(4 * n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = (i % 2) as u32;
        let centre = if c == 0 { -1.0 } else { 1.0 };
        for _ in 0..4 {
            x.push((centre + 0.7 * rng.normal()) as f32);
        }
        labels.push(c);
    }
    Batch::labelled(
        Tensor::from_vec(x, (n, 4), &Device::Cpu).unwrap(),
        Tensor::new(labels, &Device::Cpu).unwrap(),
    )
}

fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn term(r: &gen_core::Report, name: &str) -> f64 {
    r.joint_kl
        .term(name)
        .unwrap_or_else(|| panic!("no term {name}: {r:?}"))
}

#[test]
fn weight_kl_is_the_closed_form_kl_over_every_parameter_divided_by_n() {
    let data = points(4, 2, 500);
    let s = 0.7;
    let model = build(
        config(&format!(
            "hidden: [6]\nprior: {{kind: gaussian, sigma: {s}}}\nposterior_init: -3.0"
        )),
        &data,
        DType::F64,
    );
    let batch = blobs(16, &mut Rng::new(2));
    let r = model.evaluate(&batch, &mut Rng::new(3)).unwrap();
    // By hand: the parameters come in (mean, rho) pairs named `*_mu` and `*_rho`.
    let named = model.params().named();
    let mut kl = 0.0;
    for (name, var) in named.iter().filter(|(n, _)| n.ends_with("_mu")) {
        let rho_name = name.replace("_mu", "_rho");
        let rho = &named.iter().find(|(n, _)| *n == rho_name).unwrap().1;
        for (m, r) in values(var.as_tensor()).iter().zip(values(rho.as_tensor())) {
            let sigma = (1.0 + r.exp()).ln();
            kl += (s / sigma).ln() + (sigma * sigma + m * m) / (2.0 * s * s) - 0.5;
        }
    }
    let reported = term(&r, "weight_kl");
    assert!(
        (reported - kl / 500.0).abs() < 1e-9 * kl,
        "{reported} vs {}",
        kl / 500.0
    );
    let total = r.joint_kl.total().unwrap();
    assert!(
        (total - term(&r, "nll") - reported).abs() < 1e-12,
        "the two terms add up"
    );
}

#[test]
fn map_term_is_the_negative_log_prior_divided_by_n() {
    let data = points(4, 2, 250);
    let model = build(
        config("weights: map\nhidden: [5]\nprior: {kind: gaussian, sigma: 0.5}"),
        &data,
        DType::F64,
    );
    let r = model
        .evaluate(&blobs(8, &mut Rng::new(4)), &mut Rng::new(5))
        .unwrap();
    let mut neg_log_prior = 0.0;
    for (_, v) in model.params().named() {
        for w in values(v.as_tensor()) {
            neg_log_prior +=
                0.5 * (w / 0.5).powi(2) + (0.5f64).ln() + 0.5 * (2.0 * std::f64::consts::PI).ln();
        }
    }
    let reported = term(&r, "weight_neg_log_prior");
    assert!(
        (reported - neg_log_prior / 250.0).abs() < 1e-9,
        "{reported} vs {}",
        neg_log_prior / 250.0
    );
    assert!(r.joint_kl.term("weight_kl").is_none());
}

#[test]
fn blundell_weights_halve_and_average_to_one_per_epoch() {
    for m in [1usize, 2, 7, 469, 2000] {
        let w: Vec<f64> = (1..=m)
            .map(|i| KlWeighting::Blundell.minibatch_weight(i, m))
            .collect();
        let mean = w.iter().sum::<f64>() / m as f64;
        assert!((mean - 1.0).abs() < 1e-12, "M = {m}: mean weight {mean}");
        if m > 1 {
            assert!((w[0] / w[1] - 2.0).abs() < 1e-12);
        }
        assert!(w.iter().all(|v| v.is_finite()));
    }
    assert_eq!(KlWeighting::PerExample.minibatch_weight(3, 10), 1.0);
}

/// Trains on the blobs and checks that the bound falls and the predictive learns them.
fn trains(yaml: &str, data: DataInfo, steps: usize) {
    let mut model = build(config(yaml), &data, DType::F32);
    let mut rng = Rng::new(6);
    let held_out = blobs(200, &mut Rng::new(7));
    let before = model.evaluate(&held_out, &mut Rng::new(8)).unwrap().loss;
    for _ in 0..steps {
        model.train_step(&blobs(32, &mut rng), &mut rng).unwrap();
    }
    let after = model.evaluate(&held_out, &mut Rng::new(8)).unwrap();
    assert!(
        after.loss < before,
        "{yaml}: loss {before} -> {}",
        after.loss
    );
    let Some(Prediction::Classes(p)) = model.predict(&held_out.x, &mut Rng::new(9)).unwrap() else {
        panic!("a classifier predicts classes");
    };
    let p = values(&p);
    let labels: Vec<u32> = held_out.labels.unwrap().to_vec1().unwrap();
    let right = p
        .chunks(2)
        .zip(&labels)
        .filter(|(row, &l)| (row[1] > row[0]) == (l == 1))
        .count();
    assert!(
        right as f64 > 0.9 * labels.len() as f64,
        "{yaml}: {right}/200 right"
    );
    for row in p.chunks(2) {
        assert!((row[0] + row[1] - 1.0).abs() < 1e-5);
    }
}

#[test]
fn every_estimator_and_prior_trains() {
    let data = points(4, 2, 2000);
    for yaml in [
        "hidden: [16]\nestimator: local",
        "hidden: [16]\nestimator: reparameterization\ntrain_samples: 2",
        "hidden: [16]\nprior: {kind: gaussian, sigma: 1.0}\nkl_weighting: blundell",
        "hidden: [16]\nweights: point",
    ] {
        trains(yaml, data.clone(), 150);
    }
}

#[test]
fn lenet_takes_28x28_images_with_either_kind_of_weights() {
    let data = DataInfo {
        kind: DataKind::Image {
            channels: 1,
            height: 28,
            width: 28,
        },
        ..points(784, 10, 1000)
    };
    for weights in ["bayes", "point"] {
        let mut model = build(
            config(&format!("network: lenet\nweights: {weights}")),
            &data,
            DType::F32,
        );
        let mut rng = Rng::new(10);
        let x = rng.randn((3, 784), DType::F32, &Device::Cpu).unwrap();
        let batch = Batch::labelled(x.clone(), Tensor::new(&[1u32, 4, 9], &Device::Cpu).unwrap());
        let r = model.train_step(&batch, &mut rng).unwrap();
        assert!(r.loss.is_finite());
        let Some(Prediction::Classes(p)) = model.predict(&x, &mut rng).unwrap() else {
            panic!("LeNet predicts classes");
        };
        assert_eq!(p.dims(), &[3, 10]);
        // LeNet-5's parameter count: 61,706 weights and biases (twice that with a posterior).
        let per_value = if weights == "bayes" { 2 } else { 1 };
        assert_eq!(model.params().count(), 61_706 * per_value);
    }
}

/// `y = 2x - 1 + N(0, 0.5^2)` rows for a regression head.
fn line(n: usize, rng: &mut Rng) -> (Vec<f32>, Vec<f32>) {
    (0..n)
        .map(|_| {
            let x = 4.0 * rng.uniform() - 2.0;
            (x as f32, (2.0 * x - 1.0 + 0.5 * rng.normal()) as f32)
        })
        .unzip()
}

#[test]
fn learned_noise_reaches_the_residual_scale_and_the_predictive_adds_it() {
    let (xs, ys) = line(2000, &mut Rng::new(11));
    let data = DataInfo {
        classes: None,
        targets: Some(gen_core::model::Targets::of(&ys, 1)),
        ..points(1, 2, 2000)
    };
    let optimizer = OptimizerConfig {
        lr: 0.01,
        ..OptimizerConfig::default()
    };
    // Point weights: the maximum-likelihood noise is the residual standard deviation.
    let cfg =
        config("weights: point\nhidden: [16]\nlikelihood: gaussian\nnoise: 2.0\nlearn_noise: true");
    let mut model = Bnn::new(cfg, &mut Setup::cpu(&data, &optimizer, &mut Rng::new(1))).unwrap();
    let mut rng = Rng::new(12);
    for step in 0..1500 {
        let idx: Vec<usize> = (0..64).map(|k| (step * 64 + k) % 2000).collect();
        let x: Vec<f32> = idx.iter().map(|&i| xs[i]).collect();
        let y: Vec<f32> = idx.iter().map(|&i| ys[i]).collect();
        let batch = Batch {
            targets: Some(Tensor::from_vec(y, (64, 1), &Device::Cpu).unwrap()),
            ..Batch::inputs(Tensor::from_vec(x, (64, 1), &Device::Cpu).unwrap())
        };
        model.train_step(&batch, &mut rng).unwrap();
    }
    let log_noise = model
        .params()
        .named()
        .iter()
        .find(|(n, _)| n == "likelihood.log_noise")
        .map(|(_, v)| values(v.as_tensor())[0])
        .expect("a learned noise parameter");
    let sigma = log_noise.exp();
    assert!(
        (sigma - 0.5).abs() < 0.06,
        "learned noise {sigma}, true 0.5"
    );
    let x = Tensor::new(&[[0.0f32], [1.0]], &Device::Cpu).unwrap();
    let Some(Prediction::Values { mean, variance }) = model.predict(&x, &mut rng).unwrap() else {
        panic!("a regression predicts values");
    };
    let (m, v) = (values(&mean), values(&variance));
    assert!(
        (m[0] + 1.0).abs() < 0.15 && (m[1] - 1.0).abs() < 0.15,
        "means {m:?}"
    );
    // One point network: the predictive variance is the noise alone.
    for v in v {
        assert!((v - sigma * sigma).abs() < 1e-4, "{v} vs {}", sigma * sigma);
    }
}
