//! The `model` section for `family: aae`.

use gen_base::config::ConfigError;
use gen_core::checks::{self, FamilyConfig};
use gen_core::model::DataInfo;
use gen_nn::nn::{Activation, EncoderKind};
use serde::{Deserialize, Serialize};

gen_core::two_player_config! {
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AaeConfig {
    /// Always `aae` here (the registry has already dispatched on it).
    pub family: String,
    /// Dimension of the code z.
    #[serde(default = "defaults::latent")]
    pub latent: usize,
    /// Encoder widths from x down; the decoder mirrors them.
    #[serde(default = "defaults::hidden")]
    pub hidden: Vec<usize>,
    /// The latent discriminator's widths from z up.
    #[serde(default = "defaults::hidden")]
    pub d_hidden: Vec<usize>,
    /// Activation of encoder and decoder (the discriminator uses LeakyReLU 0.2).
    #[serde(default)]
    pub activation: Activation,
    /// `deterministic` by default, the AAE paper's choice.
    #[serde(default = "defaults::deterministic")]
    pub encoder: EncoderKind,
    #[serde(default)]
    pub reconstruction: Reconstruction,
    /// Weight of the encoder's adversarial loss `-log D(E(x))`.
    #[serde(default = "defaults::one_f")]
    pub adv_weight: f64,
    /// Weight of the reconstruction term.
    #[serde(default = "defaults::one_f")]
    pub recon_weight: f64,
    #[serde(default)]
    pub prior: PriorConfig,
}
g_steps = 1;
}

/// The decoder's reconstruction loss, summed over the values of an example.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reconstruction {
    /// Bernoulli `-log q(x|z)` on logits (values in [0, 1], e.g. pixels).
    #[default]
    Bce,
    /// Squared error `|x - G(z)|^2` (a unit Gaussian's `-log q(x|z)` up to constants,
    /// times 2).
    Mse,
}

/// The prior q(z) the aggregate posterior is pushed toward.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorConfig {
    #[serde(default)]
    pub kind: PriorKind,
    /// `mixture`: number of components, their means evenly spaced on a circle of `radius`
    /// in the first two dimensions of z (0 elsewhere), each N(mean, sigma^2 I).
    #[serde(default = "defaults::ten")]
    pub components: usize,
    #[serde(default = "defaults::radius")]
    pub radius: f64,
    #[serde(default = "defaults::sigma")]
    pub sigma: f64,
    /// `mixture`: the example's class picks its component (the AAE paper's supervised
    /// variant); the discriminator also sees the class, one-hot.
    #[serde(default)]
    pub supervised: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PriorKind {
    /// N(0, I).
    #[default]
    Gaussian,
    /// Gaussians on a circle.
    Mixture,
}

impl Default for PriorConfig {
    fn default() -> Self {
        PriorConfig {
            kind: PriorKind::Gaussian,
            components: defaults::ten(),
            radius: defaults::radius(),
            sigma: defaults::sigma(),
            supervised: false,
        }
    }
}

gen_base::defaults! {
    latent: usize = 8;
    hidden: Vec<usize> = vec![512, 512];
    one_f: f64 = 1.0;
    ten: usize = 10;
    radius: f64 = 4.0;
    sigma: f64 = 0.5;
    deterministic: EncoderKind = EncoderKind::Deterministic;
}

impl AaeConfig {
    /// The supervised prior needs one component per class.
    fn validate_prior_for(
        &self,
        data_name: &str,
        classes: Option<usize>,
    ) -> Result<(), ConfigError> {
        if !self.prior.supervised {
            return Ok(());
        }
        match classes {
            None => Err(ConfigError::invalid(
                "model.prior.supervised",
                format!("`{data_name}` has no labels, so no class can pick a component"),
            )),
            Some(k) if k != self.prior.components => Err(ConfigError::invalid(
                "model.prior.components",
                format!(
                    "the supervised prior needs one component per class: `{data_name}` has {k} classes, the prior {} components",
                    self.prior.components
                ),
            )),
            Some(_) => Ok(()),
        }
    }
}

impl FamilyConfig for AaeConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |k: &str, m: String| Err(ConfigError::invalid(format!("model.{k}"), m));
        self.schedule().validate()?;
        gen_base::config::check_sizes(
            self.latent,
            &[("hidden", &self.hidden), ("d_hidden", &self.d_hidden)],
        )?;
        for (k, w) in [
            ("adv_weight", self.adv_weight),
            ("recon_weight", self.recon_weight),
        ] {
            gen_base::config::non_negative(&format!("model.{k}"), w)?;
        }
        if self.adv_weight == 0.0 && self.recon_weight == 0.0 {
            return bad(
                "adv_weight",
                "adv_weight and recon_weight are both 0: the autoencoder would learn nothing"
                    .into(),
            );
        }
        let p = &self.prior;
        if p.kind == PriorKind::Mixture {
            if p.components < 2 {
                return bad(
                    "prior.components",
                    format!(
                        "a mixture needs at least 2 components, got {} (for one, use kind: gaussian)",
                        p.components
                    ),
                );
            }
            if self.latent < 2 {
                return bad(
                    "latent",
                    "the mixture prior places its means on a circle in the first two dimensions of z, so it needs latent >= 2".into(),
                );
            }
            gen_base::config::positive("model.prior.sigma", p.sigma)?;
            gen_base::config::non_negative("model.prior.radius", p.radius)?;
        } else if p.supervised {
            return bad(
                "prior.supervised",
                "the supervised variant picks a mixture component per class; set prior.kind: mixture".into(),
            );
        }
        Ok(())
    }

    fn validate_for(&self, data: &DataInfo) -> Result<(), ConfigError> {
        self.validate_prior_for(&data.name, data.classes)?;
        if self.reconstruction == Reconstruction::Bce {
            checks::values_in_unit_interval(
                data,
                "model.reconstruction",
                "`bce`",
                "reconstruction: mse",
            )?;
        }
        Ok(())
    }
}
