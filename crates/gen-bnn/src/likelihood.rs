//! `P(y|x, θ)`: the network's output read as a categorical over classes or a Gaussian
//! over targets, and the Monte-Carlo predictive `E_Q[P(y|x, θ)]` over draws of θ.

use candle_core::{Tensor, Var, D};
use gen_core::model::{Batch, Prediction, Targets};
use gen_core::objective::sum;
use gen_core::{Error, Result};
use gen_dist::dist::{Categorical, LN_2PI};
use gen_nn::vars::{Init, Vb};

/// The likelihood and its parameters besides the network.
pub enum Head {
    Categorical { classes: usize },
    Gaussian(GaussianHead),
}

/// Targets standardized by the training set's mean and scale (the network predicts
/// `(y - mean) / std`), with noise in the targets' units, fixed or learned.
pub struct GaussianHead {
    mean: Tensor,
    std: Tensor,
    noise: f64,
    /// `vb.log_noise`: one learned log standard deviation per target.
    log_noise: Option<Var>,
}

impl GaussianHead {
    pub fn new(vb: &Vb, targets: &Targets, noise: f64, learn: bool) -> Result<Self> {
        let row = |v: &[f64]| -> Result<Tensor> {
            Ok(Tensor::from_vec(v.to_vec(), (1, v.len()), vb.device())?.to_dtype(vb.dtype())?)
        };
        let log_noise = learn
            .then(|| vb.var(targets.dim, "log_noise", Init::Const(noise.ln())))
            .transpose()?;
        Ok(GaussianHead {
            mean: row(&targets.mean)?,
            std: row(&targets.std)?,
            noise,
            log_noise,
        })
    }

    /// The means in the targets' units, from the network's standardized outputs.
    fn means(&self, out: &Tensor) -> Result<Tensor> {
        Ok(out.broadcast_mul(&self.std)?.broadcast_add(&self.mean)?)
    }

    /// The noise's log standard deviation per target, `(1, targets)`.
    fn log_sigma(&self, like: &Tensor) -> Result<Tensor> {
        Ok(match &self.log_noise {
            Some(v) => v.as_tensor().unsqueeze(0)?,
            None => {
                (Tensor::ones((1, like.dim(1)?), like.dtype(), like.device())? * self.noise.ln())?
            }
        })
    }

    /// `-log N(y; mean, sigma^2)` summed over targets, per example.
    fn nll(&self, out: &Tensor, y: &Tensor) -> Result<Tensor> {
        let mean = self.means(out)?;
        let log_sigma = self.log_sigma(out)?;
        let z = (y - mean)?.broadcast_div(&log_sigma.exp()?)?;
        let per = ((z.sqr()? * 0.5)?.broadcast_add(&log_sigma)? + 0.5 * LN_2PI)?;
        Ok(per.sum(D::Minus1)?)
    }
}

impl Head {
    /// The network's output width.
    pub fn outputs(&self, targets: Option<&Targets>) -> usize {
        match self {
            Head::Categorical { classes } => *classes,
            Head::Gaussian(_) => targets.map_or(1, |t| t.dim),
        }
    }

    /// `-log P(y|x, θ)` per example for one draw's outputs.
    pub fn nll(&self, out: &Tensor, batch: &Batch) -> Result<Tensor> {
        match self {
            Head::Categorical { .. } => {
                let labels = batch.labels.as_ref().ok_or_else(|| {
                    Error::Msg("likelihood: categorical needs labels in every batch".into())
                })?;
                Ok(Categorical::new(out.clone()).log_prob(labels)?.neg()?)
            }
            Head::Gaussian(g) => {
                let y = batch.targets.as_ref().ok_or_else(|| {
                    Error::Msg("likelihood: gaussian needs targets in every batch".into())
                })?;
                g.nll(out, &y.to_dtype(out.dtype())?)
            }
        }
    }

    /// The Monte-Carlo predictive from several draws' outputs: class probabilities
    /// averaged, or the Gaussian mixture's mean and variance (noise plus the spread of the
    /// draws' means, by the law of total variance).
    pub fn predictive(&self, outs: &[Tensor]) -> Result<Prediction> {
        let s = outs.len() as f64;
        match self {
            Head::Categorical { .. } => {
                let probs = outs.iter().map(|o| Categorical::new(o.clone()).probs());
                let total = sum(probs)?.ok_or_else(|| Error::Msg("no draws".into()))?;
                Ok(Prediction::Classes((total / s)?))
            }
            Head::Gaussian(g) => {
                let means = outs
                    .iter()
                    .map(|o| g.means(o))
                    .collect::<Result<Vec<_>>>()?;
                let stacked = Tensor::stack(&means, 0)?;
                let mean = stacked.mean(0)?;
                let spread = stacked.broadcast_sub(&mean)?.sqr()?.mean(0)?;
                let noise_var = (g.log_sigma(&mean)? * 2.0)?.exp()?;
                let variance = spread.broadcast_add(&noise_var)?;
                Ok(Prediction::Values { mean, variance })
            }
        }
    }
}
