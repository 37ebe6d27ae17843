//! The encoder's and generator's pair losses against hand-computed values.

use candle_core::{Device, Tensor};
use gen_ali::{pair_loss, PairLoss};

/// Both loss forms against hand-computed values on fixed logits, with
/// `softplus(a) = log(1 + e^a)`: standard = mean softplus(enc) + mean softplus(-gen),
/// joint_kl = mean softplus(-enc) + mean softplus(-gen).
#[test]
fn pair_losses_against_hand_computed_values() {
    let sp = |a: f64| (1.0 + a.exp()).ln();
    let enc = Tensor::new(&[1.5f64, -0.5], &Device::Cpu).unwrap();
    let gen = Tensor::new(&[-2.0f64, 0.25, 3.0], &Device::Cpu).unwrap();
    let g = (sp(2.0) + sp(-0.25) + sp(-3.0)) / 3.0;
    let standard = pair_loss(PairLoss::Standard, &enc, &gen)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert!((standard - ((sp(1.5) + sp(-0.5)) / 2.0 + g)).abs() < 1e-12);
    let joint = pair_loss(PairLoss::JointKl, &enc, &gen)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert!((joint - ((sp(-1.5) + sp(0.5)) / 2.0 + g)).abs() < 1e-12);
    // The same numbers as -log(1 - D) and -log D with D = sigmoid(logit).
    let d = |a: f64| 1.0 / (1.0 + (-a).exp());
    let standard_d = (-(1.0 - d(1.5)).ln() - (1.0 - d(-0.5)).ln()) / 2.0
        + (-d(-2.0).ln() - d(0.25).ln() - d(3.0).ln()) / 3.0;
    assert!((standard - standard_d).abs() < 1e-12);
}
