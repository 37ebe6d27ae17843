//! The `model` section for `family: gan`.

use gen_base::config::ConfigError;
use gen_core::adversarial::{drift, GeneratorLoss};
use gen_core::checks::{self, FamilyConfig};
use gen_core::model::DataInfo;
use gen_nn::nn::Activation;
use serde::{Deserialize, Serialize};

gen_core::two_player_config! {
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GanConfig {
    /// Always `gan` here (the registry has already dispatched on it).
    pub family: String,
    /// The players' networks.
    #[serde(default)]
    pub network: Network,
    /// Dimension of the generator's input noise z ~ N(0, I).
    #[serde(default = "defaults::latent")]
    pub latent: usize,
    /// Hidden widths of the generator's MLP, from z up; the discriminator uses them in
    /// reverse, from x down.
    #[serde(default = "defaults::hidden")]
    pub hidden: Vec<usize>,
    #[serde(default)]
    pub g_activation: Activation,
    /// Batch norm after each hidden layer of the MLP generator (PyTorch-GAN's MNIST
    /// generator; the DCGAN generator always has it).
    #[serde(default, skip_serializing_if = "gen_core::checks::is_false")]
    pub batch_norm: bool,
    #[serde(default = "defaults::leaky")]
    pub d_activation: Activation,
    /// The generator's loss on the discriminator's logits.
    #[serde(default)]
    pub loss: GeneratorLoss,
    /// Weight of the old-generator term `lambda * mean((G(z) - G_old(z))^2)` (0 = plain GAN).
    #[serde(default = "defaults::lambda")]
    pub lambda: f64,
    /// PacGAN: the discriminator judges this many samples at once (1 = off).
    #[serde(default = "defaults::one")]
    pub pack: usize,
}
// G_old is the generator before an iteration's first generator step: the term needs two.
g_steps = 2;
}

/// Which pair of networks plays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// MLPs of widths `hidden` (any data).
    #[default]
    Mlp,
    /// The DCGAN conv pair for 28x28 gray images (`hidden` and the activations unused).
    Dcgan,
    /// The InfoGAN pair for 28x28 gray images: the DCGAN pair with a 1024-unit dense layer
    /// on each side and batch norm in the discriminator (`hidden` and the activations unused).
    Infogan,
}

impl Network {
    /// Whether it is one of the conv pairs for 28x28 images.
    pub fn is_conv(self) -> bool {
        matches!(self, Network::Dcgan | Network::Infogan)
    }
}

gen_base::defaults! {
    latent: usize = 64;
    hidden: Vec<usize> = vec![128, 128];
    leaky: Activation = Activation::LeakyRelu;
    lambda: f64 = 5.0;
    one: usize = 1;
}

impl FamilyConfig for GanConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |k: &str, m: String| Err(ConfigError::invalid(format!("model.{k}"), m));
        self.schedule().validate()?;
        gen_base::config::check_sizes(self.latent, &[("hidden", &self.hidden)])?;
        drift::validate(self.lambda, self.g_steps.0, "plain GAN")?;
        if self.pack == 0 {
            return bad("pack", "must be at least 1 (1 = no packing)".into());
        }
        Ok(())
    }

    fn validate_for(&self, data: &DataInfo) -> Result<(), ConfigError> {
        if self.network.is_conv() {
            checks::image_28x28(data, "model.network", "the conv pairs (dcgan, infogan) are")?;
            if self.batch_norm {
                return Err(ConfigError::invalid(
                    "model.batch_norm",
                    "is for the MLP generator; the conv generators always have batch norm",
                ));
            }
        }
        Ok(())
    }
}
