//! The `model` section for `family: bnn`.

use crate::prior::WeightPrior;
use gen_base::config::{positive, ConfigError};
use gen_core::checks::{self, FamilyConfig};
use gen_core::model::DataInfo;
use gen_nn::nn::Activation;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BnnConfig {
    /// Always `bnn` here (the registry has already dispatched on it).
    pub family: String,
    #[serde(default)]
    pub weights: Weights,
    #[serde(default)]
    pub network: Network,
    /// Hidden widths of the MLP (Blundell et al.: 2x400 to 2x1200 on MNIST).
    #[serde(default = "defaults::hidden")]
    pub hidden: Vec<usize>,
    #[serde(default = "defaults::relu")]
    pub activation: Activation,
    /// `P(y|x, θ)`; by default categorical on labelled data, Gaussian on targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub likelihood: Option<Likelihood>,
    /// The Gaussian likelihood's noise standard deviation, in the targets' units (the
    /// fixed value, or the start of the learned one).
    #[serde(default = "defaults::one")]
    pub noise: f64,
    /// Learn the Gaussian noise (one log-scale per target) instead of fixing it.
    #[serde(default)]
    pub learn_noise: bool,
    /// `P(θ)`, the same for every weight and bias.
    #[serde(default = "defaults::prior")]
    pub prior: WeightPrior,
    /// Every posterior scale starts at `softplus(posterior_init)` (Blundell et al.: -5 to
    /// -4, scales near 0.007 to 0.018).
    #[serde(default = "defaults::rho")]
    pub posterior_init: f64,
    #[serde(default)]
    pub estimator: Estimator,
    /// Monte-Carlo draws of θ per training step (the bound's expectation).
    #[serde(default = "defaults::one_usize")]
    pub train_samples: usize,
    /// Monte-Carlo draws of θ averaged in the predictive `p(y|x) = E_Q[P(y|x, θ)]`.
    #[serde(default = "defaults::test_samples")]
    pub test_samples: usize,
    #[serde(default)]
    pub kl_weighting: KlWeighting,
}

/// Whether the weights have a posterior.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weights {
    /// A diagonal-Gaussian posterior `Q(θ)` (Bayes by Backprop).
    #[default]
    Bayes,
    /// One value per weight, maximum likelihood: the baseline.
    Point,
    /// One value per weight, maximum a posteriori: `-log P(θ) / N` joins the loss (the
    /// Gaussian prior is weight decay).
    Map,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// Fully connected layers of `hidden` widths.
    #[default]
    Mlp,
    /// LeNet-5 for 28x28 gray images: conv 5x5 (6, padded) - pool - conv 5x5 (16) - pool -
    /// 120 - 84 - out.
    Lenet,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Likelihood {
    /// A class from softmax logits; `-log_prob` is the cross entropy.
    Categorical,
    /// Real targets with Gaussian noise; `-log_prob` is a scaled squared error.
    Gaussian,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Estimator {
    /// The local reparameterization trick (Kingma et al. 2015): pre-activations drawn per
    /// example from their Gaussian; lower variance.
    #[default]
    Local,
    /// Weights drawn once per minibatch and Monte-Carlo draw (Blundell et al.).
    Reparameterization,
}

/// How the weights' KL is shared between examples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KlWeighting {
    /// `KL / N` per example: the bound on the whole training set, divided by N.
    #[default]
    PerExample,
    /// Blundell et al.'s schedule: minibatch i of M carries `2^(M-i) / (2^M - 1)` of the
    /// KL, so early minibatches of an epoch lean on the prior and later ones on the data.
    Blundell,
}

impl KlWeighting {
    /// The weight of `weight_kl` (the KL divided by N) in the loss of minibatch `i`
    /// (1-based) of an epoch of `m`: 1, or Blundell et al.'s `pi_i M` with
    /// `pi_i = 2^(M-i) / (2^M - 1)`. Both average to 1 over an epoch, so the epoch's loss
    /// is the bound on the whole training set divided by N either way.
    pub fn minibatch_weight(self, i: usize, m: usize) -> f64 {
        match self {
            KlWeighting::PerExample => 1.0,
            KlWeighting::Blundell => {
                let (i, m) = (i as f64, m.max(1) as f64);
                // 2^(M-i) / (2^M - 1) = 2^-i / (1 - 2^-M), without overflow.
                (-i).exp2() / (1.0 - (-m).exp2()) * m
            }
        }
    }
}

gen_base::defaults! {
    hidden: Vec<usize> = vec![400, 400];
    relu: Activation = Activation::Relu;
    one: f64 = 1.0;
    one_usize: usize = 1;
    test_samples: usize = 10;
    rho: f64 = -5.0;
    /// Blundell et al.'s best MNIST prior: pi 1/2, -log sigma1 = 0, -log sigma2 = 6.
    prior: WeightPrior = WeightPrior::ScaleMixture {
        pi: 0.5,
        sigma1: 1.0,
        sigma2: (-6.0f64).exp(),
    };
}

impl BnnConfig {
    /// The likelihood in force: the configured one, or what the data calls for.
    pub fn likelihood_for(&self, data: &DataInfo) -> Likelihood {
        self.likelihood.unwrap_or(if data.targets.is_some() {
            Likelihood::Gaussian
        } else {
            Likelihood::Categorical
        })
    }
}

impl FamilyConfig for BnnConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |k: &str, m: String| Err(ConfigError::invalid(format!("model.{k}"), m));
        gen_base::config::check_sizes(1, &[("hidden", &self.hidden)])?;
        match self.prior {
            WeightPrior::Gaussian { sigma } => positive("model.prior.sigma", sigma)?,
            WeightPrior::ScaleMixture { pi, sigma1, sigma2 } => {
                if !(pi > 0.0 && pi < 1.0) {
                    return bad(
                        "prior.pi",
                        format!("must be in (0, 1) (the weight of the wide component), got {pi}"),
                    );
                }
                for (k, s) in [("sigma1", sigma1), ("sigma2", sigma2)] {
                    positive(&format!("model.prior.{k}"), s)?;
                }
                if sigma2 >= sigma1 {
                    return bad(
                        "prior.sigma2",
                        format!(
                            "must be below sigma1 (the narrow component), got {sigma2} >= {sigma1}"
                        ),
                    );
                }
            }
        }
        if !self.posterior_init.is_finite() || self.posterior_init > 5.0 {
            return bad(
                "posterior_init",
                format!(
                    "is rho, the scale being softplus(rho): use about -5 to -4, got {}",
                    self.posterior_init
                ),
            );
        }
        if !(self.noise > 0.0 && self.noise.is_finite()) {
            return bad(
                "noise",
                format!("must be a positive standard deviation, got {}", self.noise),
            );
        }
        for (k, n) in [
            ("train_samples", self.train_samples),
            ("test_samples", self.test_samples),
        ] {
            if n == 0 {
                return bad(k, "must be at least 1".into());
            }
        }
        // Point weights have nothing to sample; say so rather than ignore it.
        let draws_set = self.train_samples != 1 || self.test_samples != defaults::test_samples();
        if self.weights != Weights::Bayes && draws_set {
            let k = if self.train_samples != 1 {
                "train_samples"
            } else {
                "test_samples"
            };
            return bad(
                k,
                "draws of the weights need `weights: bayes`; point weights have one value".into(),
            );
        }
        Ok(())
    }

    fn validate_for(&self, data: &DataInfo) -> Result<(), ConfigError> {
        if self.network == Network::Lenet {
            checks::image_28x28(data, "model.network", "LeNet is")?;
        }
        match self.likelihood_for(data) {
            Likelihood::Categorical => {
                checks::labelled(
                    data,
                    "model.likelihood",
                    "has no class labels for `likelihood: categorical`; regression data names its target columns (`data.targets`) and uses `likelihood: gaussian`",
                )?;
            }
            Likelihood::Gaussian => {
                if data.targets.is_none() {
                    return Err(ConfigError::invalid(
                        "model.likelihood",
                        format!(
                            "`likelihood: gaussian` is regression, and `{}` has no targets: name the target columns with `data.targets` (a `name: file` set), or use `data.name: cubic`",
                            data.name
                        ),
                    ));
                }
            }
        }
        if self.learn_noise && self.likelihood_for(data) != Likelihood::Gaussian {
            return Err(ConfigError::invalid(
                "model.learn_noise",
                "noise is a parameter of `likelihood: gaussian` only".to_string(),
            ));
        }
        Ok(())
    }
}
