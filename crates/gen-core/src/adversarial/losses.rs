//! The losses of the two-player game on the discriminator's logits, and what the logits
//! estimate: the discriminator's logit `l(x)` is trained by logistic regression on y, so at
//! its optimum `l(x) = log p(x) / q(x)`.

use candle_core::{Result, Tensor};
use serde::{Deserialize, Serialize};

/// `log(1 + e^x)`, stable for any x.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?
}

/// The discriminator's loss: `-E_p[log D] - E_q[log(1 - D)]` with `D = sigmoid(l)`, i.e.
/// `E_p[softplus(-l)] + E_q[softplus(l)]`.
pub fn discriminator_loss(real_logits: &Tensor, fake_logits: &Tensor) -> Result<Tensor> {
    softplus(&real_logits.neg()?)?.mean_all()? + softplus(fake_logits)?.mean_all()?
}

/// The discriminator's loss with one-sided label smoothing (Salimans et al. 2016): data
/// labelled `1 - s` instead of 1. The optimal logit becomes `log((1 - s) p / (q + s p))`
/// instead of `log p/q`, so the ratio estimates are biased toward zero by about `s` where
/// p and q are close: a regularizer of the discriminator, not part of the joint KL.
pub fn smoothed_discriminator_loss(
    real_logits: &Tensor,
    fake_logits: &Tensor,
    s: f64,
) -> Result<Tensor> {
    if s == 0.0 {
        return discriminator_loss(real_logits, fake_logits);
    }
    let real = ((softplus(&real_logits.neg()?)? * (1.0 - s))? + (softplus(real_logits)? * s)?)?;
    real.mean_all()? + softplus(fake_logits)?.mean_all()?
}

/// How the generator side is pushed by the discriminator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GeneratorLoss {
    /// `E_q[-log D]` (Goodfellow et al.'s practical choice; strong gradients early).
    #[default]
    Nonsaturating,
    /// `E_q[log(1 - D)]`, the minimax game's own term.
    Minimax,
}

/// The generator side's loss on the logits of its samples.
pub fn generator_loss(kind: GeneratorLoss, fake_logits: &Tensor) -> Result<Tensor> {
    match kind {
        GeneratorLoss::Nonsaturating => softplus(&fake_logits.neg()?)?.mean_all(),
        GeneratorLoss::Minimax => softplus(fake_logits)?.mean_all()?.neg(),
    }
}

/// What the discriminator's logits say about the two distributions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RatioEstimates {
    /// `E_p[l]`, estimating `KL(p || q)`.
    pub forward_kl: f64,
    /// `E_q[-l]`, estimating `KL(q || p)`.
    pub reverse_kl: f64,
    /// Fraction of both sets the discriminator classifies right (`l > 0` for data).
    pub accuracy: f64,
}

pub fn ratio_estimates(real_logits: &Tensor, fake_logits: &Tensor) -> Result<RatioEstimates> {
    let r: Vec<f64> = real_logits
        .flatten_all()?
        .to_dtype(candle_core::DType::F64)?
        .to_vec1()?;
    let f: Vec<f64> = fake_logits
        .flatten_all()?
        .to_dtype(candle_core::DType::F64)?
        .to_vec1()?;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let right = r.iter().filter(|&&l| l > 0.0).count() + f.iter().filter(|&&l| l < 0.0).count();
    Ok(RatioEstimates {
        forward_kl: mean(&r),
        reverse_kl: -mean(&f),
        accuracy: right as f64 / (r.len() + f.len()).max(1) as f64,
    })
}

/// PacGAN packing: `(B, D)` rows become `(B / m, m D)`, each row `m` samples side by side
/// (rows beyond a multiple of `m` are dropped).
pub fn pack(x: &Tensor, m: usize) -> Result<Tensor> {
    if m <= 1 {
        return Ok(x.clone());
    }
    let (b, d) = x.dims2()?;
    let keep = b / m * m;
    x.narrow(0, 0, keep)?.reshape((keep / m, m * d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn t(v: &[f64]) -> Tensor {
        Tensor::new(v, &Device::Cpu).unwrap()
    }

    fn scalar(x: Tensor) -> f64 {
        x.to_scalar::<f64>().unwrap()
    }

    #[test]
    fn losses_against_hand_computed_values() {
        let sp = |x: f64| (1.0 + x.exp()).ln();
        let (real, fake) = (t(&[2.0, -1.0]), t(&[0.5, -3.0, 1.0]));
        let d = scalar(discriminator_loss(&real, &fake).unwrap());
        let want_d = (sp(-2.0) + sp(1.0)) / 2.0 + (sp(0.5) + sp(-3.0) + sp(1.0)) / 3.0;
        assert!((d - want_d).abs() < 1e-12);
        let ns = scalar(generator_loss(GeneratorLoss::Nonsaturating, &fake).unwrap());
        assert!((ns - (sp(-0.5) + sp(3.0) + sp(-1.0)) / 3.0).abs() < 1e-12);
        let mm = scalar(generator_loss(GeneratorLoss::Minimax, &fake).unwrap());
        assert!((mm + (sp(0.5) + sp(-3.0) + sp(1.0)) / 3.0).abs() < 1e-12);
        // softplus stays finite where exp overflows
        assert!((scalar(softplus(&t(&[800.0])).unwrap().sum_all().unwrap()) - 800.0).abs() < 1e-9);
        let e = ratio_estimates(&real, &fake).unwrap();
        assert_eq!((e.forward_kl, e.reverse_kl), (0.5, 1.5 / 3.0));
        assert_eq!(e.accuracy, 2.0 / 5.0);
    }

    #[test]
    fn pack_puts_m_samples_side_by_side() {
        let x = Tensor::arange(0f64, 10.0, &Device::Cpu)
            .unwrap()
            .reshape((5, 2))
            .unwrap();
        let p = pack(&x, 2).unwrap();
        assert_eq!(p.dims(), &[2, 4]);
        assert_eq!(
            p.to_vec2::<f64>().unwrap(),
            vec![vec![0.0, 1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0, 7.0]]
        );
    }

    /// By hand: a data logit 2 and a fake logit -1 with s = 0.1 give
    /// `0.9 softplus(-2) + 0.1 softplus(2) + softplus(-1)`; s = 0 is the plain loss.
    #[test]
    fn smoothed_loss_by_hand() {
        let sp = |x: f64| (1.0 + x.exp()).ln();
        let (real, fake) = (t(&[2.0]), t(&[-1.0]));
        let got: f64 = smoothed_discriminator_loss(&real, &fake, 0.1)
            .unwrap()
            .to_scalar()
            .unwrap();
        let want = 0.9 * sp(-2.0) + 0.1 * sp(2.0) + sp(-1.0);
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        let plain: f64 = smoothed_discriminator_loss(&real, &fake, 0.0)
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!((plain - sp(-2.0) - sp(-1.0)).abs() < 1e-12);
    }
}
