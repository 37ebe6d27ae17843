//! The `model` section for `family: ali`.

use gen_base::config::ConfigError;
use gen_core::adversarial::drift;
use gen_core::checks::FamilyConfig;
use gen_dist::prior::LatentPrior;
use gen_nn::nn::{Activation, EncoderKind};
use serde::{Deserialize, Serialize};

gen_core::two_player_config! {
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliConfig {
    /// Always `ali` here (the registry has already dispatched on it).
    pub family: String,
    /// Dimension of z.
    #[serde(default = "defaults::latent")]
    pub latent: usize,
    /// The prior q(z).
    #[serde(default)]
    pub prior: LatentPrior,
    /// Generator widths from z up; the encoder mirrors them from x down.
    #[serde(default = "defaults::hidden")]
    pub hidden: Vec<usize>,
    /// The joint discriminator's widths, on the concatenated (x, z).
    #[serde(default = "defaults::hidden")]
    pub d_hidden: Vec<usize>,
    /// Dropout after every hidden layer of the discriminator (training only), as ALI uses.
    #[serde(default = "defaults::dropout")]
    pub dropout: f64,
    /// Activation of generator and encoder (the discriminator uses LeakyReLU 0.2).
    #[serde(default = "defaults::leaky")]
    pub activation: Activation,
    #[serde(default)]
    pub encoder: EncoderKind,
    /// Batch norm after each hidden layer of the generator (BiGAN's MNIST generator).
    #[serde(default, skip_serializing_if = "gen_core::checks::is_false")]
    pub batch_norm: bool,
    /// The encoder's and generator's loss on the discriminator's logits.
    #[serde(default)]
    pub loss: PairLoss,
    /// Weight of the joint-KL drift on both paths,
    /// `lambda * (mean((G(z) - G_old(z))^2) + mean((E(x) - E_old(x))^2))`, the players
    /// before the iteration's encoder+generator steps (the GAN's old-generator term, for
    /// both of ALI's maps; 0 = off).
    #[serde(default, skip_serializing_if = "gen_core::checks::is_zero")]
    pub lambda: f64,
}
g_steps = 1;
}

/// The encoder's and generator's loss. Pairs from the encoder are the discriminator's
/// "real" side (y = 1), so `D = sigmoid(logit)` is the probability of an encoder pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairLoss {
    /// The flipped-label non-saturating form of ALI/BiGAN practice:
    /// `E_x[-log(1 - D(x, E(x)))] + E_z[-log D(G(z), z)]`.
    #[default]
    Standard,
    /// Su's joint-KL form, `-log D` on both paths:
    /// `E_x[-log D(x, E(x))] + E_z[-log D(G(z), z)]`.
    JointKl,
}

gen_base::defaults! {
    latent: usize = 64;
    hidden: Vec<usize> = vec![512, 512];
    dropout: f64 = 0.2;
    leaky: Activation = Activation::LeakyRelu;
}

impl FamilyConfig for AliConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        self.schedule().validate()?;
        gen_base::config::check_sizes(
            self.latent,
            &[("hidden", &self.hidden), ("d_hidden", &self.d_hidden)],
        )?;
        drift::validate(self.lambda, self.g_steps.0, "off")?;
        gen_base::config::fraction("model.dropout", self.dropout, "of units dropped")
    }
}
