//! A short ALI run on the 8-Gaussian ring: against a frozen encoder and generator the
//! joint discriminator's estimate of KL(p(x,z) || q(x,z)) keeps growing; when they train,
//! they pull it back toward zero.

use candle_core::{Device, Tensor};
use gen_ali::{Ali, AliConfig, EncoderKind, LatentPrior, PairLoss};
use gen_core::model::{Batch, DataInfo};
use gen_core::Family;
use gen_core::Setup;
use gen_core::{Model, Rng};
use gen_nn::optim::OptimizerConfig;

fn config(g_lr: f64) -> AliConfig {
    AliConfig {
        family: "ali".into(),
        latent: 2,
        prior: LatentPrior::Gaussian,
        hidden: vec![64, 64],
        d_hidden: vec![64, 64],
        dropout: 0.2,
        activation: gen_nn::nn::Activation::LeakyRelu,
        encoder: EncoderKind::Gaussian,
        batch_norm: false,
        loss: PairLoss::Standard,
        lambda: 0.0,
        d_steps: gen_core::adversarial::Steps(1),
        g_steps: gen_core::adversarial::Steps(1),
        d_lr: None,
        g_lr: Some(g_lr),
        label_smoothing: 0.0,
    }
}

/// `n` points from 8 Gaussians (sigma 0.02) on a circle of radius 2.
fn ring(n: usize, rng: &mut Rng) -> Batch {
    let v: Vec<f32> = (0..n)
        .flat_map(|_| {
            let a = std::f64::consts::TAU * rng.below(8) as f64 / 8.0;
            [
                (2.0 * a.cos() + 0.02 * rng.normal()) as f32,
                (2.0 * a.sin() + 0.02 * rng.normal()) as f32,
            ]
        })
        .collect();
    Batch::inputs(Tensor::from_vec(v, (n, 2), &Device::Cpu).unwrap())
}

/// The ring's description as the model sees it.
fn ring_info() -> DataInfo {
    DataInfo::points("ring", 2, 1000)
}

/// Held-out estimates of KL(p || q) every 50 of `iterations`.
fn forward_kl_trace(g_lr: f64, iterations: usize) -> Vec<f64> {
    let info = ring_info();
    let opt = OptimizerConfig {
        lr: 1e-3,
        betas: [0.5, 0.999],
        ..Default::default()
    };
    let mut rng = Rng::new(3);
    let mut ali = Ali::new(config(g_lr), &mut Setup::cpu(&info, &opt, &mut rng)).unwrap();
    let held_out = ring(1000, &mut Rng::new(4));
    let mut out = vec![];
    for it in 0..iterations {
        ali.train_step(&ring(128, &mut rng), &mut rng).unwrap();
        if it % 50 == 49 {
            let r = ali.evaluate(&held_out, &mut Rng::new(5)).unwrap();
            out.push(r.joint_kl.term("forward_kl").unwrap());
        }
    }
    out
}

#[test]
fn encoder_and_generator_pull_the_joint_estimate_toward_zero() {
    let late = |v: &[f64]| v[v.len() - 5..].iter().sum::<f64>() / 5.0;
    let frozen = forward_kl_trace(1e-30, 1000);
    let trained = forward_kl_trace(1e-3, 1000);
    assert!(late(&frozen) > 2.0, "frozen: {frozen:?}");
    assert!(late(&trained) < 0.5, "trained: {trained:?}");
    assert!(late(&trained) < 0.2 * late(&frozen));
}

/// `lambda > 0`: the iteration's last encoder+generator step reports both drift terms,
/// positive (the first step moved both maps away from their snapshots); an evaluation reports them as 0; `lambda: 0` has neither.
#[test]
fn drift_terms_on_both_paths() {
    let info = ring_info();
    let mut cfg = config(1e-3);
    cfg.lambda = 2.0;
    cfg.g_steps = gen_core::adversarial::Steps(2);
    let mut rng = Rng::new(3);
    let opt = OptimizerConfig::default();
    let mut ali = Ali::new(cfg.clone(), &mut Setup::cpu(&info, &opt, &mut rng)).unwrap();
    let r = ali.train_step(&ring(64, &mut rng), &mut rng).unwrap();
    let (e, g) = (
        r.joint_kl.term("encoder_drift").unwrap(),
        r.joint_kl.term("generator_drift").unwrap(),
    );
    assert!(e > 0.0 && g > 0.0, "{r:?}");
    let ev = ali.evaluate(&ring(64, &mut rng), &mut rng).unwrap();
    assert_eq!(ev.joint_kl.term("encoder_drift"), Some(0.0));
    assert_eq!(ev.joint_kl.term("generator_drift"), Some(0.0));

    cfg.lambda = 0.0;
    let mut plain = Ali::new(cfg, &mut Setup::cpu(&info, &opt, &mut Rng::new(3))).unwrap();
    let r = plain.train_step(&ring(64, &mut rng), &mut rng).unwrap();
    assert_eq!(r.joint_kl.term("encoder_drift"), None);
}
