//! KL divergences: analytic where a closed form exists, Monte Carlo otherwise.
//! Each returns one value per example (shape `(B,)`).

use crate::dist::{Bernoulli, Categorical, DiagGaussian};
use crate::loss::sum_per_example;
use candle_core::{Result, Tensor, D};

/// KL(N(mean, diag exp(logvar)) || N(0, I)) = -1/2 sum(1 + logvar - mean^2 - exp(logvar)).
pub fn gaussian_std_normal(p: &DiagGaussian) -> Result<Tensor> {
    if gen_kernels::fused::fusable(&p.mean) && p.mean.rank() >= 2 {
        return gen_kernels::fused::kl_std_normal_rows(&p.mean, &p.logvar);
    }
    sum_per_example(&gaussian_std_normal_per_dim(p)?)
}

/// KL(N(mean, diag exp(logvar)) || N(0, I)) per example and code dimension, `(B, D)`.
pub fn gaussian_std_normal_per_dim(p: &DiagGaussian) -> Result<Tensor> {
    let inner = ((p.logvar.exp()? + p.mean.sqr()?)? - &p.logvar)? - 1.0;
    inner? * 0.5
}

/// The free-bits KL (Kingma et al. 2016, "Improved Variational Inference with Inverse
/// Autoregressive Flow", eq. 15) from the KL per example and dimension `(B, D)`:
/// `sum_d max(lambda, mean_b KL_bd)`, per example. A dimension whose batch-average KL is
/// below `lambda` nats costs a constant and passes no gradient, so the encoder may put up
/// to `lambda` nats into each dimension for free; above it, the KL is the KL.
pub fn free_bits(per_dim: &Tensor, lambda: f64) -> Result<Tensor> {
    per_dim.mean(0)?.maximum(lambda)?.sum_all()
}

/// KL(p || q) between two diagonal Gaussians.
pub fn gaussian_gaussian(p: &DiagGaussian, q: &DiagGaussian) -> Result<Tensor> {
    let var_ratio = (&p.logvar - &q.logvar)?.exp()?;
    let mahalanobis = ((&p.mean - &q.mean)?.sqr()? * q.logvar.neg()?.exp()?)?;
    let inner = (((var_ratio + mahalanobis)? - (&p.logvar - &q.logvar)?)? - 1.0)?;
    sum_per_example(&(inner * 0.5)?)
}

/// KL(p || q) between categoricals over the last dimension.
pub fn categorical_categorical(p: &Categorical, q: &Categorical) -> Result<Tensor> {
    let lp = p.log_probs()?;
    (lp.exp()? * (lp - q.log_probs()?)?)?.sum(D::Minus1)
}

/// KL(p || q) between products of Bernoullis.
pub fn bernoulli_bernoulli(p: &Bernoulli, q: &Bernoulli) -> Result<Tensor> {
    // KL = -H(p) - E_p[log q] = -H(p) + BCE(q_logits, p_mean)
    let pm = p.mean()?;
    let cross = crate::loss::bce_with_logits_per_example(&q.logits, &pm)?;
    cross - p.entropy()?
}

/// Single-sample Monte Carlo estimate `log p(z) - log q(z)` at `z ~ p`; unbiased for
/// KL(p || q) and, with `z` reparameterized, differentiable.
pub fn monte_carlo(log_p_z: &Tensor, log_q_z: &Tensor) -> Result<Tensor> {
    log_p_z - log_q_z
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use gen_base::rng::Rng;

    fn scalar(t: Tensor) -> f64 {
        t.to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap()[0]
    }

    #[test]
    fn discrete_kl_closed_form() {
        // P = (0.2, 0.4, 0.4), Q = (0.4, 0.2, 0.4): KL = 0.2 ln(1/2) + 0.4 ln 2 = 0.2 ln 2.
        let d = Device::Cpu;
        let p = Categorical::from_probs(&Tensor::new(&[[0.2f64, 0.4, 0.4]], &d).unwrap()).unwrap();
        let q = Categorical::from_probs(&Tensor::new(&[[0.4f64, 0.2, 0.4]], &d).unwrap()).unwrap();
        let kl = scalar(categorical_categorical(&p, &q).unwrap());
        assert!((kl - 0.2 * 2f64.ln()).abs() < 1e-12, "{kl}");
        assert!((kl - 0.1386).abs() < 1e-4);
    }

    #[test]
    fn gaussian_kl_closed_forms_agree() {
        let d = Device::Cpu;
        let p = DiagGaussian::new(
            Tensor::new(&[[1.0f64, -0.5]], &d).unwrap(),
            Tensor::new(&[[0.3f64, -1.2]], &d).unwrap(),
        );
        let std = DiagGaussian::standard_like(&p.mean).unwrap();
        let a = scalar(gaussian_std_normal(&p).unwrap());
        let b = scalar(gaussian_gaussian(&p, &std).unwrap());
        // by hand: 0.5 * sum(exp(lv) + m^2 - lv - 1)
        let want = 0.5 * ((0.3f64.exp() + 1.0 - 0.3 - 1.0) + ((-1.2f64).exp() + 0.25 + 1.2 - 1.0));
        assert!(
            (a - want).abs() < 1e-12 && (b - want).abs() < 1e-12,
            "{a} {b} {want}"
        );
    }

    #[test]
    fn analytic_and_monte_carlo_gaussian_kl_agree_within_sampling_error() {
        let d = Device::Cpu;
        let n = 200_000;
        let row_m = Tensor::new(&[[0.7f64, -0.4, 1.1]], &d).unwrap();
        let row_lv = Tensor::new(&[[-0.6f64, 0.4, 0.0]], &d).unwrap();
        let q_m = Tensor::new(&[[0.2f64, 0.1, -0.3]], &d).unwrap();
        let q_lv = Tensor::new(&[[0.5f64, -0.2, 0.3]], &d).unwrap();
        let expand = |t: &Tensor| t.broadcast_as((n, 3)).unwrap().contiguous().unwrap();
        let p = DiagGaussian::new(expand(&row_m), expand(&row_lv));
        let q = DiagGaussian::new(expand(&q_m), expand(&q_lv));
        let analytic = scalar(
            gaussian_gaussian(
                &DiagGaussian::new(row_m, row_lv),
                &DiagGaussian::new(q_m, q_lv),
            )
            .unwrap(),
        );
        let z = p.rsample(&mut Rng::new(5)).unwrap();
        let mc: Vec<f64> = monte_carlo(&p.log_prob(&z).unwrap(), &q.log_prob(&z).unwrap())
            .unwrap()
            .to_vec1()
            .unwrap();
        let mean = mc.iter().sum::<f64>() / n as f64;
        let sd = (mc.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        let stderr = sd / (n as f64).sqrt();
        assert!(
            (mean - analytic).abs() < 4.0 * stderr,
            "mc {mean} ± {stderr} vs {analytic}"
        );
        assert!(stderr < 0.01);
    }

    #[test]
    fn per_dimension_kl_sums_to_the_kl() {
        let d = Device::Cpu;
        let p = DiagGaussian::new(
            Tensor::new(&[[1.0f64, -0.5], [0.2, 0.0]], &d).unwrap(),
            Tensor::new(&[[0.3f64, -1.2], [0.0, 0.7]], &d).unwrap(),
        );
        let dims = gaussian_std_normal_per_dim(&p).unwrap();
        assert_eq!(dims.dims(), &[2, 2]);
        let rows: Vec<f64> = dims.sum(1).unwrap().to_vec1().unwrap();
        let want: Vec<f64> = gaussian_std_normal(&p).unwrap().to_vec1().unwrap();
        for (a, b) in rows.iter().zip(&want) {
            assert!((a - b).abs() < 1e-12, "{a} {b}");
        }
    }

    /// By hand: two examples, three dimensions with batch-average KLs 0.05, 0.5 and 0.2
    /// against lambda = 0.25: the value is 0.25 + 0.5 + 0.25, and only the second
    /// dimension (above the floor) has a gradient, 1/B per example.
    #[test]
    fn free_bits_floors_each_dimension_and_stops_its_gradient() {
        let d = Device::Cpu;
        let kl = candle_core::Var::from_tensor(
            &Tensor::new(&[[0.0f64, 0.7, 0.1], [0.1, 0.3, 0.3]], &d).unwrap(),
        )
        .unwrap();
        let fb = free_bits(kl.as_tensor(), 0.25).unwrap();
        assert!((scalar(fb.reshape(1).unwrap()) - 1.0).abs() < 1e-12);
        let grads = fb.backward().unwrap();
        let g: Vec<Vec<f64>> = grads.get(kl.as_tensor()).unwrap().to_vec2().unwrap();
        assert_eq!(g, vec![vec![0.0, 0.5, 0.0], vec![0.0, 0.5, 0.0]]);
        // lambda = 0: the batch-mean KL, every dimension's gradient 1/B.
        let plain = free_bits(kl.as_tensor(), 0.0).unwrap();
        assert!((scalar(plain.reshape(1).unwrap()) - 0.75).abs() < 1e-12);
    }

    #[test]
    fn bernoulli_kl_by_hand() {
        let d = Device::Cpu;
        let logit = |p: f64| (p / (1.0 - p)).ln();
        let p = Bernoulli::new(Tensor::new(&[[logit(0.3)]], &d).unwrap());
        let q = Bernoulli::new(Tensor::new(&[[logit(0.6)]], &d).unwrap());
        let want = 0.3 * (0.3f64 / 0.6).ln() + 0.7 * (0.7f64 / 0.4).ln();
        assert!((scalar(bernoulli_bernoulli(&p, &q).unwrap()) - want).abs() < 1e-12);
    }
}
