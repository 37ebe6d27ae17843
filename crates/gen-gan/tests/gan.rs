//! The GAN's old-generator term against finite differences, and a short run on the
//! 8-Gaussian ring where the discriminator's estimate of KL(p~ || q) first grows and then
//! falls back toward zero as the generator catches up.

use candle_core::{DType, Device, Tensor};
use gen_core::adversarial::{generator_loss, GeneratorLoss};
use gen_core::model::{Batch, DataInfo};
use gen_core::Family;
use gen_core::Setup;
use gen_core::{Model, Rng};
use gen_gan::{Gan, GanConfig};
use gen_nn::gradcheck::assert_gradients_match;
use gen_nn::optim::OptimizerConfig;

fn config(lambda: f64) -> GanConfig {
    GanConfig {
        family: "gan".into(),
        network: Default::default(),
        latent: 3,
        hidden: vec![5],
        g_activation: Default::default(),
        batch_norm: false,
        d_activation: gen_nn::nn::Activation::LeakyRelu,
        loss: Default::default(),
        lambda,
        pack: 1,
        d_steps: gen_core::adversarial::Steps(1),
        g_steps: gen_core::adversarial::Steps(2),
        d_lr: None,
        g_lr: None,
        label_smoothing: 0.0,
    }
}

fn points(dim: usize) -> DataInfo {
    DataInfo::points("test", dim, 1000)
}

/// Backpropagated gradients of `f(gan)` with respect to the generator's parameters equal
/// central finite differences: every element, or `per_tensor` evenly spaced ones.
fn check_generator_gradient(
    gan: &Gan,
    per_tensor: Option<usize>,
    f: impl Fn(&Gan) -> Tensor,
) -> usize {
    assert_gradients_match(gan.params(), &["generator."], per_tensor, 1e-6, || f(gan))
}

/// d/dtheta of lambda * mean((G_theta(z) - G_old(z))^2), with G_old a perturbed copy.
#[test]
fn old_generator_term_gradient_matches_finite_differences() {
    let gan = Gan::new(
        config(3.0),
        &mut Setup {
            dtype: DType::F64,
            ..Setup::cpu(&points(2), &OptimizerConfig::default(), &mut Rng::new(1))
        },
    )
    .unwrap();
    gan.snapshot().unwrap();
    let mut rng = Rng::new(2);
    for (n, v) in gan.params().named() {
        if n.starts_with("generator.") {
            let noise = rng.randn(v.shape(), DType::F64, &Device::Cpu).unwrap();
            v.set(&(v.as_tensor() + (noise * 0.3).unwrap()).unwrap())
                .unwrap();
        }
    }
    let z = rng.randn((4, 3), DType::F64, &Device::Cpu).unwrap();
    let t0 = gan.drift(&z).unwrap().0.to_scalar::<f64>().unwrap();
    assert!(
        t0 > 1e-3,
        "G and G_old differ, so the term is positive: {t0}"
    );
    let checked = check_generator_gradient(&gan, None, |g| g.drift(&z).unwrap().0);
    assert_eq!(checked, 3 * 5 + 5 + 5 * 2 + 2);
}

/// The generator's adversarial loss reaches it through the (packed) discriminator: its
/// gradient matches finite differences, for both loss forms.
#[test]
fn adversarial_gradient_reaches_the_generator() {
    for loss in [GeneratorLoss::Nonsaturating, GeneratorLoss::Minimax] {
        let mut cfg = config(0.0);
        cfg.pack = 2;
        cfg.loss = loss;
        let gan = Gan::new(
            cfg,
            &mut Setup {
                dtype: DType::F64,
                ..Setup::cpu(&points(2), &OptimizerConfig::default(), &mut Rng::new(4))
            },
        )
        .unwrap();
        let z = Rng::new(5).randn((6, 3), DType::F64, &Device::Cpu).unwrap();
        let f = |g: &Gan| {
            let fake = g.sample_tracked(&z).unwrap();
            generator_loss(loss, &g.logits(&fake).unwrap()).unwrap()
        };
        assert!(check_generator_gradient(&gan, None, f) > 0);
    }
}

fn mnist_shape() -> DataInfo {
    DataInfo::images("images", (1, 28, 28), 1000)
}

/// At MNIST's shapes (z 100 -> 256 -> 512 -> 784 sigmoid pixels, the discriminator
/// mirrored) the adversarial gradient still matches finite differences: the fused linear
/// kernels split wide layers into blocks that the small case above never reaches.
#[test]
fn adversarial_gradient_matches_finite_differences_at_mnist_shapes() {
    let mut cfg = config(0.0);
    cfg.latent = 100;
    cfg.hidden = vec![256, 512];
    let gan = Gan::new(
        cfg,
        &mut Setup {
            dtype: DType::F64,
            ..Setup::cpu(
                &mnist_shape(),
                &OptimizerConfig::default(),
                &mut Rng::new(6),
            )
        },
    )
    .unwrap();
    let z = Rng::new(7)
        .randn((16, 100), DType::F64, &Device::Cpu)
        .unwrap();
    let f = |g: &Gan| {
        let fake = g.sample_tracked(&z).unwrap();
        generator_loss(GeneratorLoss::Nonsaturating, &g.logits(&fake).unwrap()).unwrap()
    };
    assert_eq!(check_generator_gradient(&gan, Some(12), f), 6 * 12);
}

/// `n` points from 8 Gaussians (sigma 0.02) on a circle of radius 2.
fn ring(n: usize, rng: &mut Rng) -> Tensor {
    let v: Vec<f32> = (0..n)
        .flat_map(|_| {
            let a = std::f64::consts::TAU * rng.below(8) as f64 / 8.0;
            [
                (2.0 * a.cos() + 0.02 * rng.normal()) as f32,
                (2.0 * a.sin() + 0.02 * rng.normal()) as f32,
            ]
        })
        .collect();
    Tensor::from_vec(v, (n, 2), &Device::Cpu).unwrap()
}

/// The held-out forward-KL estimates every 50 of `iterations` on the ring, for a
/// generator learning at `g_lr`.
fn forward_kl_trace(g_lr: f64, iterations: usize) -> Vec<f64> {
    let mut cfg = config(5.0);
    cfg.latent = 16;
    cfg.hidden = vec![64, 64];
    cfg.g_lr = Some(g_lr);
    let opt = OptimizerConfig {
        lr: 1e-3,
        betas: [0.5, 0.999],
        ..Default::default()
    };
    let mut rng = Rng::new(3);
    let mut gan = Gan::new(cfg, &mut Setup::cpu(&points(2), &opt, &mut rng)).unwrap();
    let held_out = Batch::inputs(ring(1000, &mut Rng::new(4)));
    let mut estimates = vec![];
    for it in 0..iterations {
        let batch = Batch::inputs(ring(128, &mut rng));
        gan.train_step(&batch, &mut rng).unwrap();
        if it % 50 == 49 {
            let r = gan.evaluate(&held_out, &mut Rng::new(5)).unwrap();
            estimates.push(r.joint_kl.term("forward_kl").unwrap());
        }
    }
    estimates
}

/// Against a frozen generator the discriminator's estimate of KL(p~ || q) keeps growing;
/// when the generator trains, its steps pull the estimate back toward zero.
#[test]
fn generator_steps_pull_the_forward_kl_estimate_toward_zero() {
    let late = |v: &[f64]| v[v.len() - 5..].iter().sum::<f64>() / 5.0;
    let frozen = forward_kl_trace(1e-30, 1000);
    let trained = forward_kl_trace(1e-3, 1000);
    assert!(
        late(&frozen) > 1.0,
        "the discriminator did not separate a fixed generator: {frozen:?}"
    );
    assert!(
        late(&trained) < 0.5 * late(&frozen),
        "trained {:?} vs frozen {:?}",
        trained,
        frozen
    );
    assert!(late(&trained) < 0.5, "{trained:?}");
}

/// Different noise gives different images: the generator reads z (at initialization, on
/// MNIST's shape).
#[test]
fn samples_depend_on_the_noise() {
    let mut cfg = config(0.0);
    cfg.latent = 100;
    cfg.hidden = vec![256, 512];
    cfg.g_steps = gen_core::adversarial::Steps(1);
    let gan = Gan::new(
        cfg,
        &mut Setup::cpu(
            &mnist_shape(),
            &OptimizerConfig::default(),
            &mut Rng::new(1),
        ),
    )
    .unwrap();
    let x = gan.sample(8, &mut Rng::new(2)).unwrap().unwrap();
    let v: Vec<Vec<f32>> = x.to_vec2().unwrap();
    let spread: f32 = (0..784).map(|j| (v[0][j] - v[1][j]).abs()).sum::<f32>() / 784.0;
    assert!(spread > 1e-3, "two samples differ by {spread} per pixel");
}

/// With `batch_norm`, training steps move the generator's running averages (saved as
/// buffers), and samples use them: a sample does not depend on the other noise drawn in
/// its batch, as it would on batch statistics.
#[test]
fn batch_norm_generator_samples_from_its_running_averages() {
    let mut cfg = config(5.0);
    cfg.latent = 4;
    cfg.hidden = vec![16, 16];
    cfg.batch_norm = true;
    let mut rng = Rng::new(3);
    let mut gan = Gan::new(
        cfg,
        &mut Setup::cpu(&points(2), &OptimizerConfig::default(), &mut rng),
    )
    .unwrap();
    let buffers = |g: &Gan| -> Vec<(String, Vec<f32>)> {
        g.buffers()
            .unwrap()
            .export("")
            .into_iter()
            .map(|(n, t)| (n, t.flatten_all().unwrap().to_vec1().unwrap()))
            .collect()
    };
    let before = buffers(&gan);
    let names: Vec<&str> = before.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "generator.bn0.running_mean",
            "generator.bn0.running_var",
            "generator.bn1.running_mean",
            "generator.bn1.running_var"
        ]
    );
    for _ in 0..3 {
        gan.train_step(&Batch::inputs(ring(64, &mut rng)), &mut rng)
            .unwrap();
    }
    assert_ne!(before, buffers(&gan), "training moved the running averages");
    let z = Rng::new(9).randn((6, 4), DType::F32, &Device::Cpu).unwrap();
    let all: Vec<Vec<f32>> = gan.samples(&z).unwrap().to_vec2().unwrap();
    let first: Vec<Vec<f32>> = gan
        .samples(&z.narrow(0, 0, 2).unwrap())
        .unwrap()
        .to_vec2()
        .unwrap();
    assert_eq!(all[..2], first[..]);
}
