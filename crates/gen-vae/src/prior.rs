//! The generative side's `q(z)`: N(0, I), or learned with the rest of the model (a mixture
//! of diagonal Gaussians, or Tomczak and Welling's VampPrior, the mixture of the encoder's
//! own posteriors at K learned pseudo-inputs). In the joint-KL view the prior is one more
//! factor of `q(x, z) = q(z) q(x|z)`, so learning it is minimizing the same objective over
//! more of `q`; the KL term is then estimated by Monte Carlo with the mixture's density.

use crate::config::{PriorConfig, PriorKind};
use candle_core::{Tensor, Var, D};
use gen_core::{Result, Rng};
use gen_dist::dist::LN_2PI;
use gen_dist::loss::{log_softmax, logsumexp_keepdim};
use gen_nn::vars::{Init, Vb};

/// Tomczak and Welling's initialization of the pseudo-inputs: N(0.05, 0.01) per pixel
/// (their MNIST code), kept in [0, 1] by a clamp as their hardtanh does.
const PSEUDO_MEAN: f64 = 0.05;
const PSEUDO_STD: f64 = 0.01;

pub enum Prior {
    /// N(0, I).
    Standard,
    /// `sum_k softmax(logits)_k N(z; means_k, diag(exp(logvars_k)))`.
    Mixture {
        means: Var,
        logvars: Var,
        logits: Var,
    },
    /// `(1/K) sum_k p(z | u_k)`, the encoder's Gaussian at pseudo-input `u_k` (`(K, dim)`,
    /// used clamped to [0, 1]).
    Vamp { pseudo: Var },
}

impl Prior {
    /// The prior `cfg` names; learned ones' parameters under `vb` (`prior.*`).
    pub fn new(cfg: &PriorConfig, vb: &Vb, latent: usize, dim: usize) -> Result<Self> {
        let k = cfg.components;
        Ok(match cfg.kind {
            PriorKind::Gaussian => Prior::Standard,
            // Means spread like draws of N(0, I), unit variances, equal weights: at the
            // start, close to the standard prior.
            PriorKind::Mixture => Prior::Mixture {
                means: vb.var(
                    (k, latent),
                    "means",
                    Init::Normal {
                        mean: 0.0,
                        std: 1.0,
                    },
                )?,
                logvars: vb.var((k, latent), "logvars", Init::Const(0.0))?,
                logits: vb.var(k, "logits", Init::Const(0.0))?,
            },
            PriorKind::Vamp => Prior::Vamp {
                pseudo: vb.var(
                    (k, dim),
                    "pseudo_inputs",
                    Init::Normal {
                        mean: PSEUDO_MEAN,
                        std: PSEUDO_STD,
                    },
                )?,
            },
        })
    }

    /// The pseudo-inputs as the encoder sees them (`(K, dim)`, in [0, 1]).
    pub fn pseudo_inputs(&self) -> Result<Option<Tensor>> {
        Ok(match self {
            Prior::Vamp { pseudo } => Some(pseudo.as_tensor().clamp(0f32, 1f32)?),
            _ => None,
        })
    }
}

/// A mixture of diagonal Gaussians: `means`, `logvars` `(K, D)` and log weights `(K,)`.
pub struct Components {
    pub means: Tensor,
    pub logvars: Tensor,
    pub log_weights: Tensor,
}

impl Components {
    /// The learned mixture's components (its weights normalized).
    pub fn of_mixture(means: &Var, logvars: &Var, logits: &Var) -> Result<Self> {
        Ok(Components {
            means: means.as_tensor().clone(),
            logvars: logvars.as_tensor().clone(),
            log_weights: log_softmax(&logits.as_tensor().unsqueeze(0)?, 1)?.squeeze(0)?,
        })
    }

    /// The same components cut from the graph (for evaluation).
    pub fn detach(self) -> Self {
        Components {
            means: self.means.detach(),
            logvars: self.logvars.detach(),
            log_weights: self.log_weights.detach(),
        }
    }

    /// Equal weights `1/K` over the Gaussians `(means, logvars)`.
    pub fn uniform(means: Tensor, logvars: Tensor) -> Result<Self> {
        let k = means.dim(0)?;
        let log_weights = (Tensor::ones(k, means.dtype(), means.device())? * -(k as f64).ln())?;
        Ok(Components {
            means,
            logvars,
            log_weights,
        })
    }

    /// `log sum_k w_k N(z; m_k, diag(exp(v_k)))` for each row of `z` `(B, D)`: `(B,)`.
    ///
    /// The quadratic form expanded, `sum_d (z_d - m_kd)^2 / s_kd = z^2 . (1/s_k) - 2 z .
    /// (m_k / s_k) + sum_d m_kd^2 / s_kd`, so that the `(B, K)` table is two matrix
    /// products instead of a `(B, K, D)` broadcast (K = 500 made that the step's largest
    /// cost).
    pub fn log_density(&self, z: &Tensor) -> Result<Tensor> {
        let precision = self.logvars.neg()?.exp()?; // (K, D)
        let weighted_means = (&self.means * &precision)?;
        let quad_z = z.sqr()?.matmul(&precision.t()?)?; // (B, K)
        let cross = z.matmul(&weighted_means.t()?)?; // (B, K)
        let d = z.dim(1)? as f64;
        let constant = ((&weighted_means * &self.means)? + &self.logvars)?
            .sum(D::Minus1)?
            .affine(1.0, d * LN_2PI)?; // (K,)
        let per_component = ((quad_z - (cross * 2.0)?)?.broadcast_add(&constant.unsqueeze(0)?)?
            * -0.5)?
            .broadcast_add(&self.log_weights.unsqueeze(0)?)?;
        Ok(logsumexp_keepdim(&per_component, 1)?.squeeze(1)?)
    }

    /// `n` draws: a component by its weight, then its Gaussian.
    pub fn sample(&self, n: usize, rng: &mut Rng) -> Result<Tensor> {
        let weights: Vec<f64> = self
            .log_weights
            .to_dtype(candle_core::DType::F64)?
            .exp()?
            .to_vec1()?;
        let u: Vec<f64> = rng
            .rand_uniform(
                n,
                0.0,
                1.0,
                candle_core::DType::F64,
                &candle_core::Device::Cpu,
            )?
            .to_vec1()?;
        let picks: Vec<u32> = u.iter().map(|&u| pick(&weights, u) as u32).collect();
        let idx = Tensor::new(picks, self.means.device())?;
        let mean = self.means.index_select(&idx, 0)?;
        let logvar = self.logvars.index_select(&idx, 0)?;
        let eps = rng.randn(mean.shape(), mean.dtype(), mean.device())?;
        Ok((mean + (logvar * 0.5)?.exp()?.mul(&eps)?)?)
    }
}

/// The index whose cumulative weight first exceeds `u` (the last one for rounding).
fn pick(weights: &[f64], u: f64) -> usize {
    let mut acc = 0.0;
    for (i, w) in weights.iter().enumerate() {
        acc += w;
        if u < acc {
            return i;
        }
    }
    weights.len() - 1
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use candle_core::{DType, Device};

    /// `log sum_k w_k prod_d N(z_d; m_kd, exp(v_kd))`, term by term in f64 (no log-sum-exp:
    /// the tests' values are moderate), the reference both priors are checked against.
    pub(crate) fn direct_log_density<M: AsRef<[f64]>>(
        z: &[f64],
        weights: &[f64],
        means: &[M],
        logvars: &[M],
    ) -> f64 {
        let mut sum = 0.0;
        for (k, w) in weights.iter().enumerate() {
            let mut density = *w;
            for (d, zd) in z.iter().enumerate() {
                let var = logvars[k].as_ref()[d].exp();
                density *= (-(zd - means[k].as_ref()[d]).powi(2) / (2.0 * var)).exp()
                    / (2.0 * std::f64::consts::PI * var).sqrt();
            }
            sum += density;
        }
        sum.ln()
    }

    /// The mixture's log-density against a direct f64 computation: log of the weighted sum
    /// of the components' densities (no log-sum-exp, the values are moderate).
    #[test]
    fn mixture_log_density_is_the_log_of_the_weighted_sum() {
        let dev = Device::Cpu;
        let means: [[f64; 2]; 3] = [[0.0, 1.0], [-2.0, 0.5], [1.5, -1.0]];
        let logvars: [[f64; 2]; 3] = [[0.0, 0.3], [-0.5, 0.2], [0.4, -0.3]];
        let weights = [0.2, 0.5, 0.3];
        let c = Components {
            means: Tensor::new(&means, &dev)
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap(),
            logvars: Tensor::new(&logvars, &dev)
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap(),
            log_weights: Tensor::new(&weights.map(f64::ln), &dev).unwrap(),
        };
        let zs: [[f64; 2]; 3] = [[0.3, -0.7], [-1.0, 2.0], [2.5, 0.1]];
        let got: Vec<f64> = c
            .log_density(&Tensor::new(&zs, &dev).unwrap())
            .unwrap()
            .to_vec1()
            .unwrap();
        for (row, z) in zs.iter().enumerate() {
            let want = direct_log_density(z, &weights, &means, &logvars);
            assert!(
                (got[row] - want).abs() < 1e-12,
                "row {row}: {} vs {want}",
                got[row]
            );
        }
    }

    #[test]
    fn one_standard_component_is_the_standard_normal() {
        let dev = Device::Cpu;
        let c = Components::uniform(
            Tensor::zeros((1, 3), DType::F64, &dev).unwrap(),
            Tensor::zeros((1, 3), DType::F64, &dev).unwrap(),
        )
        .unwrap();
        let z = Tensor::new(&[[0.5, -1.0, 2.0]], &dev).unwrap();
        let got: f64 = c.log_density(&z).unwrap().to_vec1::<f64>().unwrap()[0];
        let want = -1.5 * (2.0 * std::f64::consts::PI).ln() - 0.5 * (0.25 + 1.0 + 4.0);
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }

    #[test]
    fn draws_follow_the_weights() {
        assert_eq!(pick(&[0.2, 0.5, 0.3], 0.1), 0);
        assert_eq!(pick(&[0.2, 0.5, 0.3], 0.69), 1);
        assert_eq!(pick(&[0.2, 0.5, 0.3], 0.71), 2);
        assert_eq!(pick(&[0.2, 0.5, 0.3], 1.0), 2);
        // Components far apart: every draw lands near the one picked, in proportion.
        let dev = Device::Cpu;
        let c = Components {
            means: Tensor::new(&[[-100f64], [100.0]], &dev).unwrap(),
            logvars: Tensor::new(&[[-4f64], [-4.0]], &dev).unwrap(),
            log_weights: Tensor::new(&[0.25f64.ln(), 0.75f64.ln()], &dev).unwrap(),
        };
        let z: Vec<f64> = c
            .sample(4000, &mut Rng::new(0))
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let right = z.iter().filter(|v| **v > 0.0).count() as f64 / 4000.0;
        assert!((right - 0.75).abs() < 0.03, "{right}");
        assert!(z.iter().all(|v| (v.abs() - 100.0).abs() < 1.0));
    }
}
