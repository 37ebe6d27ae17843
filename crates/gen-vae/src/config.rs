//! The `model` section for `family: vae`.

use gen_base::config::ConfigError;
use gen_core::checks::{self, FamilyConfig};
use gen_core::model::DataInfo;
use gen_nn::nn::{Activation, EncoderKind};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaeConfig {
    /// Always `vae` here (the registry has already dispatched on it).
    pub family: String,
    /// `mlp`, or `conv`: the convolutional encoder and decoder for 28x28 gray images
    /// (`hidden` and `activation` are then unused).
    #[serde(default)]
    pub network: Network,
    /// Hidden widths of the encoder; the decoder mirrors them.
    #[serde(default = "defaults::hidden")]
    pub hidden: Vec<usize>,
    /// Dimension of z.
    #[serde(default = "defaults::latent")]
    pub latent: usize,
    #[serde(default)]
    pub activation: Activation,
    #[serde(default)]
    pub decoder: DecoderKind,
    /// Standard deviation of the Gaussian decoder (ignored by `bernoulli`); with
    /// `decoder_variance: learned`, its starting value.
    #[serde(default = "defaults::one")]
    pub decoder_sigma: f64,
    /// The Gaussian decoder's standard deviation: `fixed` at `decoder_sigma`, or `learned`
    /// (one per data coordinate, trained with the rest).
    #[serde(default)]
    pub decoder_variance: DecoderVariance,
    #[serde(default)]
    pub kl: KlEstimator,
    /// Weight of `latent_kl` in the loss (1 = the ELBO; the report stays unweighted).
    #[serde(default = "defaults::one")]
    pub beta: f64,
    /// KL warm-up: the weight of `latent_kl` in training rises linearly over the first
    /// this many epochs (epoch e of W trains with `beta * e / W`), then stays at `beta`.
    /// 0 (the default): no warm-up. Test losses always use `beta`. Left out of the resolved
    /// config when 0, so runs saved before this key existed still resume.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub kl_warmup_epochs: usize,
    /// Reparameterized samples of z per data point (k of the IWAE bound).
    #[serde(default = "defaults::samples")]
    pub samples: usize,
    /// What the training step maximizes.
    #[serde(default)]
    pub objective: Objective,
    /// `gaussian`: the VAE's p(z|x); `deterministic`: a plain autoencoder (z = E(x), no
    /// KL term), the baseline; `free`: no encoder, every training example keeps its own
    /// Gaussian (per-datapoint VI), trained with the decoder.
    #[serde(default)]
    pub encoder: VaeEncoder,
    /// `encoder: free`: Adam's learning rate of the examples' own Gaussians (each row is
    /// updated once per epoch, so it needs a larger rate than the decoder's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_lr: Option<f64>,
    /// `encoder: free`: Adam steps on each batch's Gaussians per visit (the first together
    /// with the decoder's step, the rest with the decoder frozen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_steps: Option<usize>,
    /// `encoder: free`: at most this many Adam steps fit a held-out example's Gaussian (from
    /// the prior, decoder frozen) for the test report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_steps: Option<usize>,
    /// The conditional VAE: the class (one-hot) enters encoder and decoder, so samples
    /// can be drawn per class (`gen sample --class C`). Needs labelled data.
    #[serde(default)]
    pub conditional: bool,
    /// `q(z)`: N(0, I) (`kind: gaussian`, the default), or learned with the model: a
    /// `mixture` of `components` diagonal Gaussians, or the `vamp` prior (the encoder's
    /// posteriors at `components` learned pseudo-inputs). Left out of the resolved config
    /// when it is N(0, I), so runs saved before this key existed still resume.
    #[serde(default, skip_serializing_if = "PriorConfig::is_standard")]
    pub prior: PriorConfig,
}

/// `model.prior` of the VAE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorConfig {
    #[serde(default)]
    pub kind: PriorKind,
    /// `mixture`: its Gaussians; `vamp`: its pseudo-inputs (Tomczak and Welling's 500).
    #[serde(default = "defaults::components")]
    pub components: usize,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PriorKind {
    /// N(0, I).
    #[default]
    Gaussian,
    /// Learned means, variances and weights.
    Mixture,
    /// The VampPrior.
    Vamp,
}

impl Default for PriorConfig {
    fn default() -> Self {
        PriorConfig {
            kind: PriorKind::Gaussian,
            components: defaults::components(),
        }
    }
}

impl PriorConfig {
    pub fn is_standard(&self) -> bool {
        self.kind == PriorKind::Gaussian
    }
}

/// Where `p(z|x)` comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VaeEncoder {
    /// An encoder network's diagonal Gaussian (amortized VI).
    #[default]
    Gaussian,
    /// An encoder network's point code (the plain autoencoder).
    Deterministic,
    /// No network: a table of Gaussians, one per training example.
    Free,
}

impl VaeEncoder {
    /// The network's output, for the encoders that have one.
    pub fn network(self) -> Option<EncoderKind> {
        match self {
            VaeEncoder::Gaussian => Some(EncoderKind::Gaussian),
            VaeEncoder::Deterministic => Some(EncoderKind::Deterministic),
            VaeEncoder::Free => None,
        }
    }
}

/// Defaults of the free model's keys.
pub const DEFAULT_LOCAL_LR: f64 = 0.3;
pub const DEFAULT_LOCAL_STEPS: usize = 5;
pub const DEFAULT_TEST_STEPS: usize = 200;

impl VaeConfig {
    pub fn local_lr(&self) -> f64 {
        self.local_lr.unwrap_or(DEFAULT_LOCAL_LR)
    }

    pub fn local_steps(&self) -> usize {
        self.local_steps.unwrap_or(DEFAULT_LOCAL_STEPS)
    }

    pub fn test_steps(&self) -> usize {
        self.test_steps.unwrap_or(DEFAULT_TEST_STEPS)
    }
}

/// The bound on log q(x) a training step maximizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// The ELBO, averaged over the `samples` draws.
    #[default]
    Elbo,
    /// Burda et al.'s importance-weighted bound `E[log (1/k) sum_i w_i]` over k = `samples`
    /// draws, `w_i = q(x|z_i) q(z_i) / p(z_i|x)`; tighter than the ELBO for k > 1.
    Iwae,
}

/// The likelihood q(x|z).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecoderKind {
    /// Bernoulli on logits; for pixels in [0, 1] (binary or continuous).
    #[default]
    Bernoulli,
    /// Gaussian with fixed standard deviation `decoder_sigma`.
    Gaussian,
}

/// The encoder/decoder networks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    #[default]
    Mlp,
    /// Two stride-2 convolutions down, two stride-2 transposed convolutions up (28x28x1).
    Conv,
}

/// Whether the Gaussian decoder's standard deviation is trained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecoderVariance {
    #[default]
    Fixed,
    /// A log standard deviation per data coordinate, a parameter of the decoder.
    Learned,
}

/// How `KL(p(z|x) || q(z))` is estimated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KlEstimator {
    /// The closed form for Gaussians.
    #[default]
    Analytic,
    /// Monte Carlo, `log p(z|x) - log q(z)` at the sampled z.
    Sampled,
}

gen_base::defaults! {
    hidden: Vec<usize> = vec![400];
    latent: usize = 20;
    samples: usize = 1;
    one: f64 = 1.0;
    components: usize = 500;
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl VaeConfig {
    /// The factor on `beta` in the training loss of 1-based `epoch` (see `kl_warmup_epochs`).
    pub fn kl_warmup_scale(&self, epoch: usize) -> f64 {
        if self.kl_warmup_epochs == 0 {
            1.0
        } else {
            (epoch as f64 / self.kl_warmup_epochs as f64).min(1.0)
        }
    }
}

impl VaeConfig {
    /// The free model's keys belong to it, and it has no network to be conv, conditional
    /// or an IWAE proposal.
    fn validate_free(&self) -> Result<(), ConfigError> {
        let bad = |k: &str, m: String| Err(ConfigError::invalid(format!("model.{k}"), m));
        if self.encoder != VaeEncoder::Free {
            for (key, given) in [
                ("local_lr", self.local_lr.is_some()),
                ("local_steps", self.local_steps.is_some()),
                ("test_steps", self.test_steps.is_some()),
            ] {
                if given {
                    return bad(
                        key,
                        "belongs to encoder: free (the examples' own Gaussians)".into(),
                    );
                }
            }
            return Ok(());
        }
        gen_base::config::positive("model.local_lr", self.local_lr())?;
        if self.local_steps() == 0 {
            return bad("local_steps", "at least 1 step per visit is needed".into());
        }
        if self.test_steps() == 0 {
            return bad("test_steps", "at least 1 step fits a test example".into());
        }
        if self.network == Network::Conv || self.conditional {
            return bad(
                "encoder",
                "encoder: free has no network; use network: mlp and conditional: false".into(),
            );
        }
        if self.objective == Objective::Iwae || self.samples != 1 {
            return bad(
                "encoder",
                "encoder: free trains the ELBO with one sample (objective: elbo, samples: 1)"
                    .into(),
            );
        }
        if self.kl == KlEstimator::Sampled {
            return bad(
                "kl",
                "encoder: free uses the analytic KL (kl: analytic)".into(),
            );
        }
        Ok(())
    }
}

impl VaeConfig {
    /// A learned prior: components >= 1, its KL by Monte Carlo, and an unconditional
    /// Gaussian encoder for it to be the prior of.
    fn validate_prior(&self) -> Result<(), ConfigError> {
        if self.prior.is_standard() {
            return Ok(());
        }
        let bad = |k: &str, m: String| Err(ConfigError::invalid(format!("model.{k}"), m));
        if self.prior.components == 0 {
            return bad(
                "prior.components",
                "a learned prior needs at least 1 component".into(),
            );
        }
        if self.encoder != VaeEncoder::Gaussian {
            return bad(
                "prior",
                "a learned prior belongs to the VAE with a Gaussian encoder (encoder: gaussian); the plain autoencoder has no KL term and the free encoder fits from N(0, I)".into(),
            );
        }
        if self.conditional {
            return bad(
                "prior",
                "a learned prior is for the unconditional VAE; the conditional VAE keeps N(0, I) per class".into(),
            );
        }
        if self.kl == KlEstimator::Analytic {
            return bad(
                "kl",
                "the KL to a learned prior has no closed form; set kl: sampled (a Monte Carlo estimate with the prior's log-density, as Tomczak and Welling)".into(),
            );
        }
        Ok(())
    }
}

impl FamilyConfig for VaeConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |k: &str, m: String| Err(ConfigError::invalid(format!("model.{k}"), m));
        gen_base::config::check_sizes(self.latent, &[("hidden", &self.hidden)])?;
        gen_base::config::non_negative("model.beta", self.beta)?;
        if self.samples == 0 {
            return bad(
                "samples",
                "at least 1 sample of z per data point is needed".into(),
            );
        }
        if self.network == Network::Conv
            && (self.conditional || self.encoder == VaeEncoder::Deterministic)
        {
            return bad(
                "network",
                "the conv networks are built for the Gaussian, unconditional VAE; use network: mlp for conditional: true or encoder: deterministic".into(),
            );
        }
        if self.encoder == VaeEncoder::Deterministic {
            if self.objective == Objective::Iwae {
                return bad(
                    "objective",
                    "the IWAE bound needs a Gaussian encoder (encoder: gaussian)".into(),
                );
            }
            if self.samples != 1 {
                return bad(
                    "samples",
                    format!(
                        "a deterministic encoder gives one code per input; samples must be 1, got {}",
                        self.samples
                    ),
                );
            }
        }
        if self.objective == Objective::Iwae && self.beta != 1.0 {
            return bad(
                "beta",
                format!(
                    "the IWAE bound has no KL term to weight; remove beta (got {}) or use objective: elbo",
                    self.beta
                ),
            );
        }
        if self.kl_warmup_epochs > 0
            && (self.objective == Objective::Iwae || self.encoder == VaeEncoder::Deterministic)
        {
            return bad(
                "kl_warmup_epochs",
                format!(
                    "{} has no KL term for a warm-up to weight; remove it (got {})",
                    if self.objective == Objective::Iwae {
                        "the IWAE bound"
                    } else {
                        "a deterministic encoder"
                    },
                    self.kl_warmup_epochs
                ),
            );
        }
        if self.decoder_variance == DecoderVariance::Learned
            && self.decoder != DecoderKind::Gaussian
        {
            return bad(
                "decoder_variance",
                "a learned variance belongs to the Gaussian decoder; set decoder: gaussian".into(),
            );
        }
        self.validate_free()?;
        self.validate_prior()?;
        gen_base::config::positive("model.decoder_sigma", self.decoder_sigma)?;
        Ok(())
    }

    fn validate_for(&self, data: &DataInfo) -> Result<(), ConfigError> {
        if self.prior.kind == PriorKind::Vamp && self.prior.components > data.train_size {
            return Err(ConfigError::invalid(
                "model.prior.components",
                format!(
                    "{} pseudo-inputs are more than the {} training examples; the VampPrior approximates the mean of the posteriors over the training set, so use at most that many",
                    self.prior.components, data.train_size
                ),
            ));
        }
        if self.network == Network::Conv {
            checks::image_28x28(data, "model.network", "the conv networks are")?;
        }
        if self.conditional {
            checks::labelled(
                data,
                "model.conditional",
                "has no labels to condition on; the conditional VAE needs a labelled data set (mnist, fashion-mnist)",
            )?;
        }
        if self.decoder == DecoderKind::Bernoulli {
            checks::values_in_unit_interval(
                data,
                "model.decoder",
                "a Bernoulli decoder",
                "decoder: gaussian",
            )?;
        }
        Ok(())
    }
}
