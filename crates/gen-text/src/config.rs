//! The `model` section for `family: text-vae`.

use gen_base::config::ConfigError;
use gen_core::checks::FamilyConfig;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextVaeConfig {
    /// Always `text-vae` here.
    pub family: String,
    /// Dimension of z; 0 = no code and no encoder: the GRU decoder alone, a language model.
    #[serde(default = "defaults::latent")]
    pub latent: usize,
    /// Width of the character embedding and of the gated convolutions (Su: 64).
    #[serde(default = "defaults::embedding")]
    pub embedding: usize,
    /// Residual gated convolutions of the encoder (Su: 2).
    #[serde(default = "defaults::conv_layers")]
    pub conv_layers: usize,
    #[serde(default)]
    pub decoder: TextDecoder,
    /// The GRU decoder's state width.
    #[serde(default = "defaults::gru_hidden")]
    pub gru_hidden: usize,
    /// Bowman's word dropout, per character: each of the GRU decoder's input characters is
    /// replaced by the unknown token with this probability while training, so the decoder
    /// must lean on the code.
    #[serde(default, skip_serializing_if = "gen_core::checks::is_zero")]
    pub char_dropout: f64,
    /// Free bits (Kingma et al. 2016), nats per code dimension: while training, a
    /// dimension whose KL (averaged over the batch) is below this costs this and passes no
    /// gradient, so the encoder may use it for free; 0 = off. The reported KL and loss stay
    /// the ELBO's.
    #[serde(default, skip_serializing_if = "gen_core::checks::is_zero")]
    pub free_bits: f64,
    /// Weight of the KL term (1 = the ELBO).
    #[serde(default = "defaults::beta")]
    pub beta: f64,
    /// KL annealing: the KL weight rises linearly from `beta / kl_warmup_epochs` in epoch 1
    /// to `beta` (Bowman's remedy; 0 = off).
    #[serde(default)]
    pub kl_warmup_epochs: usize,
}

/// How the characters are decoded from the code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextDecoder {
    /// Su's: a dense layer to length x width, a residual gated convolution, a softmax per
    /// position; all positions at once, each seeing the code only.
    #[default]
    Conv,
    /// Bowman's: a GRU started from the code and fed it at every step beside the previous
    /// character (autoregressive).
    Gru,
}

gen_base::defaults! {
    latent: usize = 64;
    embedding: usize = 64;
    conv_layers: usize = 2;
    gru_hidden: usize = 256;
    beta: f64 = 1.0;
}

impl TextVaeConfig {
    /// The KL weight in 1-based `epoch`.
    pub fn kl_weight(&self, epoch: usize) -> f64 {
        match self.kl_warmup_epochs {
            0 => self.beta,
            w => self.beta * (epoch as f64 / w as f64).min(1.0),
        }
    }
}

impl FamilyConfig for TextVaeConfig {
    const TEXT: bool = true;

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |k: &str, m: &str| Err(ConfigError::invalid(format!("model.{k}"), m));
        if self.embedding == 0 || self.gru_hidden == 0 {
            let key = if self.embedding == 0 {
                "embedding"
            } else {
                "gru_hidden"
            };
            return bad(key, "must be at least 1");
        }
        if self.latent == 0 && self.decoder == TextDecoder::Conv {
            return bad(
                "latent",
                "the conv decoder reads everything from the code; latent: 0 (no code) is the \
                 language model, with `decoder: gru`",
            );
        }
        if self.latent == 0 && self.kl_warmup_epochs > 0 {
            return bad(
                "kl_warmup_epochs",
                "there is no KL term without a code (latent: 0)",
            );
        }
        if self.latent == 0 && self.free_bits > 0.0 {
            return bad(
                "free_bits",
                "there is no KL term without a code (latent: 0)",
            );
        }
        gen_base::config::non_negative("model.free_bits", self.free_bits)?;
        if self.char_dropout > 0.0 && self.decoder == TextDecoder::Conv {
            return bad(
                "char_dropout",
                "character dropout thins the GRU decoder's inputs; the conv decoder has none",
            );
        }
        gen_base::config::fraction(
            "model.char_dropout",
            self.char_dropout,
            "of characters dropped",
        )?;
        gen_base::config::non_negative("model.beta", self.beta)
    }
}
