//! A short AAE run on 2-D toy data: the latent discriminator pulls the aggregate
//! posterior toward the prior, so the MMD between codes and prior draws falls — and stays
//! well above that without the adversary.

use candle_core::{Device, Tensor};
use gen_aae::{Aae, AaeConfig, EncoderKind, PriorConfig, Reconstruction};
use gen_core::model::{Batch, DataInfo};
use gen_core::Family;
use gen_core::Setup;
use gen_core::{Model, Rng};
use gen_nn::optim::OptimizerConfig;

fn config(adv_weight: f64, encoder: EncoderKind) -> AaeConfig {
    AaeConfig {
        family: "aae".into(),
        latent: 2,
        hidden: vec![64, 64],
        d_hidden: vec![64, 64],
        activation: Default::default(),
        encoder,
        reconstruction: Reconstruction::Mse,
        adv_weight,
        recon_weight: 1.0,
        prior: PriorConfig::default(),
        d_steps: gen_core::adversarial::Steps(1),
        g_steps: gen_core::adversarial::Steps(1),
        d_lr: None,
        g_lr: None,
        label_smoothing: 0.0,
    }
}

/// `n` points on a circle of radius 3 with a little noise, in 4-D (two coordinates
/// repeated), so the encoder has to compress.
fn circle(n: usize, rng: &mut Rng) -> Batch {
    let v: Vec<f32> = (0..n)
        .flat_map(|_| {
            let a = std::f64::consts::TAU * rng.uniform();
            let (x, y) = (
                3.0 * a.cos() + 0.05 * rng.normal(),
                3.0 * a.sin() + 0.05 * rng.normal(),
            );
            [x as f32, y as f32, (x - y) as f32, (x + y) as f32]
        })
        .collect();
    Batch::inputs(Tensor::from_vec(v, (n, 4), &Device::Cpu).unwrap())
}

fn mmd(model: &Aae, held_out: &Batch) -> f64 {
    let r = model.evaluate(held_out, &mut Rng::new(9)).unwrap();
    r.metrics
        .iter()
        .find(|(k, _)| k == "aae/mmd2_to_prior")
        .unwrap()
        .1
}

/// (MMD at initialization, MMD after `steps` training steps).
fn run(adv_weight: f64, encoder: EncoderKind, steps: usize) -> (f64, f64) {
    let info = DataInfo::points("circle", 4, 1000);
    let opt = OptimizerConfig {
        lr: 1e-3,
        betas: [0.5, 0.999],
        ..Default::default()
    };
    let mut rng = Rng::new(1);
    let mut model = Aae::new(
        config(adv_weight, encoder),
        &mut Setup::cpu(&info, &opt, &mut rng),
    )
    .unwrap();
    let held_out = circle(1000, &mut Rng::new(2));
    let before = mmd(&model, &held_out);
    for _ in 0..steps {
        model.train_step(&circle(128, &mut rng), &mut rng).unwrap();
    }
    (before, mmd(&model, &held_out))
}

/// The deterministic encoder starts far from N(0, I) (codes of a random network); its
/// MMD^2 falls, to well below what reconstruction alone leaves.
#[test]
fn the_adversary_pulls_deterministic_codes_toward_the_prior() {
    let (before, with_adversary) = run(1.0, EncoderKind::Deterministic, 1500);
    let (_, without) = run(0.0, EncoderKind::Deterministic, 1500);
    assert!(
        with_adversary < 0.3 * before,
        "MMD^2 {before} -> {with_adversary}"
    );
    assert!(
        with_adversary < 0.3 * without,
        "with the adversary {with_adversary}, without {without}"
    );
}

/// The Gaussian encoder starts near the prior (unit variances around small means);
/// reconstruction alone shrinks the variances and spreads the means away from it, the
/// adversary holds the codes much closer.
#[test]
fn the_adversary_keeps_gaussian_codes_near_the_prior() {
    let (_, with_adversary) = run(1.0, EncoderKind::Gaussian, 1500);
    let (_, without) = run(0.0, EncoderKind::Gaussian, 1500);
    assert!(
        with_adversary < 0.3 * without,
        "with the adversary {with_adversary}, without {without}"
    );
}

/// Four labelled clusters in 4-D, `n` points: class c sits at 3 e_c.
fn clusters(n: usize, rng: &mut Rng) -> Batch {
    let mut x = Vec::with_capacity(n * 4);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let c = rng.below(4);
        for d in 0..4 {
            let centre = if d == c { 3.0 } else { 0.0 };
            x.push((centre + 0.1 * rng.normal()) as f32);
        }
        labels.push(c as u32);
    }
    Batch::labelled(
        Tensor::from_vec(x, (n, 4), &Device::Cpu).unwrap(),
        Tensor::new(labels, &Device::Cpu).unwrap(),
    )
}

/// The supervised variant: the class picks the prior component, so after training the
/// codes of class c sit in component c: nearest to its mean, and mostly within 3 sigma.
#[test]
fn supervised_prior_puts_each_class_in_its_component() {
    let mut cfg = config(1.0, EncoderKind::Deterministic);
    cfg.prior = PriorConfig {
        kind: gen_aae::PriorKind::Mixture,
        components: 4,
        radius: 4.0,
        sigma: 0.5,
        supervised: true,
    };
    let info = DataInfo {
        classes: Some(4),
        ..DataInfo::points("clusters", 4, 1000)
    };
    let opt = OptimizerConfig {
        lr: 1e-3,
        betas: [0.5, 0.999],
        ..Default::default()
    };
    let mut rng = Rng::new(3);
    let mut model = Aae::new(cfg, &mut Setup::cpu(&info, &opt, &mut rng)).unwrap();
    for _ in 0..1500 {
        model
            .train_step(&clusters(128, &mut rng), &mut rng)
            .unwrap();
    }
    let test = clusters(400, &mut Rng::new(4));
    let codes: Vec<Vec<f32>> = model.encode_mean(&test.x).unwrap().to_vec2().unwrap();
    let labels: Vec<u32> = test.labels.unwrap().to_vec1().unwrap();
    let means = model.prior().means().to_vec();
    let dist2 = |z: &[f32], m: &[f64]| -> f64 {
        z.iter().zip(m).map(|(a, b)| (*a as f64 - b).powi(2)).sum()
    };
    let mut inside = 0;
    let mut right = 0;
    for (z, &c) in codes.iter().zip(&labels) {
        if (0..4).all(|k| dist2(z, &means[c as usize]) <= dist2(z, &means[k])) {
            right += 1;
        }
        let nearest = (0..4)
            .min_by(|&a, &b| dist2(z, &means[a]).total_cmp(&dist2(z, &means[b])))
            .unwrap();
        if nearest == c as usize && dist2(z, &means[c as usize]).sqrt() < 3.0 * 0.5 {
            inside += 1;
        }
    }
    // Unsupervised, the four classes would land in the four components in one of 24
    // orders; the prior itself puts 98.9% of its mass within 3 sigma.
    assert!(
        right as f64 >= 0.95 * codes.len() as f64 && inside as f64 >= 0.7 * codes.len() as f64,
        "{inside} of {} codes in their class's component ({right} nearest to it)",
        codes.len()
    );
}
