//! Probability distributions over batches.
//!
//! The first dimension of every parameter tensor is the batch; all further dimensions are
//! the event, so `log_prob` and `entropy` return one value per example (shape `(B,)`).

use crate::loss::{bce_with_logits_per_example, log_softmax, sum_per_example};
use candle_core::{DType, Result, Tensor, D};
use gen_base::rng::Rng;

/// ln(2 pi), for Gaussian densities.
pub const LN_2PI: f64 = 1.837_877_066_409_345_3;

/// A Gaussian with diagonal covariance, parameterized by mean and log-variance.
#[derive(Clone, Debug)]
pub struct DiagGaussian {
    pub mean: Tensor,
    pub logvar: Tensor,
}

/// z ~ p(z|x) from an encoder's output: a reparameterized draw for a Gaussian encoder
/// (mean and log-variance), the code itself for a deterministic one (no log-variance).
pub fn sample_code((mean, logvar): (Tensor, Option<Tensor>), rng: &mut Rng) -> Result<Tensor> {
    match logvar {
        None => Ok(mean),
        Some(logvar) => DiagGaussian::new(mean, logvar).rsample(rng),
    }
}

impl DiagGaussian {
    pub fn new(mean: Tensor, logvar: Tensor) -> Self {
        DiagGaussian { mean, logvar }
    }

    /// N(0, I) with the shape of `like`.
    pub fn standard_like(like: &Tensor) -> Result<Self> {
        Ok(DiagGaussian {
            mean: like.zeros_like()?,
            logvar: like.zeros_like()?,
        })
    }

    pub fn mean(&self) -> &Tensor {
        &self.mean
    }

    pub fn std(&self) -> Result<Tensor> {
        (&self.logvar * 0.5)?.exp()
    }

    /// A reparameterized sample `mean + std * eps`, differentiable in both parameters.
    pub fn rsample(&self, rng: &mut Rng) -> Result<Tensor> {
        let eps = rng.randn(self.mean.shape(), self.mean.dtype(), self.mean.device())?;
        self.rsample_with(&eps)
    }

    /// The reparameterized sample for given standard-normal noise.
    pub fn rsample_with(&self, eps: &Tensor) -> Result<Tensor> {
        if gen_kernels::fused::fusable(&self.mean) {
            return gen_kernels::fused::reparameterize(&self.mean, &self.logvar, eps);
        }
        &self.mean + (self.std()? * eps)?
    }

    /// A sample with no gradient.
    pub fn sample(&self, rng: &mut Rng) -> Result<Tensor> {
        Ok(self.rsample(rng)?.detach())
    }

    /// log density summed over the event dimensions.
    pub fn log_prob(&self, x: &Tensor) -> Result<Tensor> {
        let sq = ((x - &self.mean)?.sqr()? * (self.logvar.neg()?.exp()?))?;
        let per_dim = ((sq + &self.logvar)? + LN_2PI)? * -0.5;
        sum_per_example(&per_dim?)
    }

    /// Differential entropy: 0.5 * sum(1 + ln 2pi + logvar).
    pub fn entropy(&self) -> Result<Tensor> {
        sum_per_example(&((&self.logvar + (1.0 + LN_2PI))? * 0.5)?)
    }
}

/// Independent Bernoulli variables given by their logits.
#[derive(Clone, Debug)]
pub struct Bernoulli {
    pub logits: Tensor,
}

impl Bernoulli {
    pub fn new(logits: Tensor) -> Self {
        Bernoulli { logits }
    }

    /// The success probabilities, sigmoid(logits).
    pub fn mean(&self) -> Result<Tensor> {
        sigmoid(&self.logits)
    }

    /// 0/1 sample (no gradient).
    pub fn sample(&self, rng: &mut Rng) -> Result<Tensor> {
        let p = self.mean()?.detach();
        let u = rng.rand_uniform(p.shape(), 0.0, 1.0, p.dtype(), p.device())?;
        u.lt(&p)?.to_dtype(p.dtype())
    }

    /// log q(x) summed over the event; `x` may be fractional (the continuous relaxation).
    pub fn log_prob(&self, x: &Tensor) -> Result<Tensor> {
        bce_with_logits_per_example(&self.logits, x)?.neg()
    }

    pub fn entropy(&self) -> Result<Tensor> {
        bce_with_logits_per_example(&self.logits, &self.mean()?)
    }
}

/// A categorical distribution over the last dimension, given by logits of shape `(B, K)`.
#[derive(Clone, Debug)]
pub struct Categorical {
    pub logits: Tensor,
}

impl Categorical {
    pub fn new(logits: Tensor) -> Self {
        Categorical { logits }
    }

    pub fn from_probs(probs: &Tensor) -> Result<Self> {
        Ok(Categorical {
            logits: probs.log()?,
        })
    }

    pub fn log_probs(&self) -> Result<Tensor> {
        log_softmax(&self.logits, self.logits.rank() - 1)
    }

    pub fn probs(&self) -> Result<Tensor> {
        self.log_probs()?.exp()
    }

    /// log p(k) for class indices `k` of shape `(B,)` (u32).
    pub fn log_prob(&self, k: &Tensor) -> Result<Tensor> {
        self.log_probs()?
            .gather(&k.to_dtype(DType::U32)?.unsqueeze(1)?, 1)?
            .squeeze(1)
    }

    /// One index per row, by inverse CDF (no gradient).
    pub fn sample(&self, rng: &mut Rng) -> Result<Tensor> {
        let probs: Vec<Vec<f64>> = self.probs()?.to_dtype(DType::F64)?.to_vec2()?;
        let ks: Vec<u32> = probs
            .iter()
            .map(|row| {
                let u = rng.uniform();
                let mut acc = 0.0;
                for (k, p) in row.iter().enumerate() {
                    acc += p;
                    if u < acc {
                        return k as u32;
                    }
                }
                (row.len() - 1) as u32
            })
            .collect();
        Tensor::new(ks, self.logits.device())
    }

    pub fn entropy(&self) -> Result<Tensor> {
        let lp = self.log_probs()?;
        (lp.exp()? * lp)?.sum(D::Minus1)?.neg()
    }
}

/// The logistic function, computed without overflow.
/// The standard normal quantile `Phi^-1(p)` for p in (0, 1): Acklam's rational
/// approximation, relative error below 1.2e-9 (enough for spacing a grid of codes).
pub fn normal_quantile(p: f64) -> f64 {
    assert!(
        p > 0.0 && p < 1.0,
        "normal_quantile needs p in (0, 1), got {p}"
    );
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// The logistic function, stable for both signs (the one the layers use).
pub use gen_kernels::sigmoid;

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Against tabulated quantiles (R's qnorm to 16 digits), in the centre and both tails.
    #[test]
    fn normal_quantile_against_tables() {
        for (p, want) in [
            (0.5, 0.0),
            (0.975, 1.959_963_984_540_054),
            (0.025, -1.959_963_984_540_054),
            (0.8, 0.841_621_233_572_914_3),
            (0.01, -2.326_347_874_040_841),
            (1e-6, -4.753_424_308_822_899),
        ] {
            let got = normal_quantile(p);
            assert!(
                (got - want).abs() <= 1.2e-9 * want.abs().max(1.0),
                "p {p}: {got} vs {want}"
            );
        }
    }

    fn v1(t: Tensor) -> Vec<f64> {
        t.to_dtype(DType::F64).unwrap().to_vec1().unwrap()
    }

    #[test]
    fn gaussian_log_prob_and_entropy_closed_form() {
        let d = Device::Cpu;
        let g = DiagGaussian::new(
            Tensor::new(&[[0.5f64, -1.0]], &d).unwrap(),
            Tensor::new(&[[0.0f64, 2f64.ln() * 2.0]], &d).unwrap(), // std 1 and 2
        );
        let x = Tensor::new(&[[1.5f64, 1.0]], &d).unwrap();
        // N(1.5; 0.5, 1) * N(1; -1, 4): hand-computed.
        let want = -0.5 * (LN_2PI + 1.0) + (-0.5 * (LN_2PI + 4f64.ln() + 1.0));
        assert!((v1(g.log_prob(&x).unwrap())[0] - want).abs() < 1e-12);
        let h = 0.5 * (1.0 + LN_2PI) + 0.5 * (1.0 + LN_2PI + 4f64.ln());
        assert!((v1(g.entropy().unwrap())[0] - h).abs() < 1e-12);
    }

    #[test]
    fn gaussian_rsample_moments() {
        let d = Device::Cpu;
        let n = 100_000;
        let g = DiagGaussian::new(
            Tensor::full(3.0f32, (n, 1), &d).unwrap(),
            Tensor::full((0.25f32).ln(), (n, 1), &d).unwrap(),
        );
        let s = v1(g.rsample(&mut Rng::new(0)).unwrap().flatten_all().unwrap());
        let mean = s.iter().sum::<f64>() / n as f64;
        let var = s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!((mean - 3.0).abs() < 0.01, "{mean}");
        assert!((var - 0.25).abs() < 0.01, "{var}");
    }

    #[test]
    fn bernoulli_log_prob_entropy_and_sampling() {
        let d = Device::Cpu;
        let p = 0.8f64;
        let b = Bernoulli::new(Tensor::new(&[[(p / (1.0 - p)).ln(), 0.0]], &d).unwrap());
        let x = Tensor::new(&[[1.0f64, 0.0]], &d).unwrap();
        assert!((v1(b.log_prob(&x).unwrap())[0] - (p.ln() + 0.5f64.ln())).abs() < 1e-12);
        let h = -(p * p.ln() + (1.0 - p) * (1.0 - p).ln()) + 2f64.ln();
        assert!((v1(b.entropy().unwrap())[0] - h).abs() < 1e-12);
        let many =
            Bernoulli::new(Tensor::full((p / (1.0 - p)).ln() as f32, (50_000, 1), &d).unwrap());
        let s = v1(many
            .sample(&mut Rng::new(1))
            .unwrap()
            .flatten_all()
            .unwrap());
        let freq = s.iter().sum::<f64>() / s.len() as f64;
        assert!((freq - p).abs() < 0.01, "{freq}");
    }

    #[test]
    fn categorical_log_prob_entropy_sample() {
        let d = Device::Cpu;
        let probs = [0.2f64, 0.4, 0.4];
        let c = Categorical::from_probs(&Tensor::new(&[probs], &d).unwrap()).unwrap();
        let lp = v1(c.log_prob(&Tensor::new(&[1u32], &d).unwrap()).unwrap());
        assert!((lp[0] - 0.4f64.ln()).abs() < 1e-12);
        let h: f64 = -probs.iter().map(|p| p * p.ln()).sum::<f64>();
        assert!((v1(c.entropy().unwrap())[0] - h).abs() < 1e-12);
        let rows = Tensor::new(&[probs], &d)
            .unwrap()
            .broadcast_as((30_000, 3))
            .unwrap()
            .contiguous()
            .unwrap();
        let s = Categorical::from_probs(&rows)
            .unwrap()
            .sample(&mut Rng::new(2))
            .unwrap();
        let ks: Vec<u32> = s.to_vec1().unwrap();
        let f1 = ks.iter().filter(|&&k| k == 1).count() as f64 / ks.len() as f64;
        assert!((f1 - 0.4).abs() < 0.015, "{f1}");
    }

    #[test]
    fn sigmoid_is_stable() {
        let x = Tensor::new(&[-1000.0f32, 0.0, 1000.0], &Device::Cpu).unwrap();
        assert_eq!(v1(sigmoid(&x).unwrap()), vec![0.0, 0.5, 1.0]);
    }
}
