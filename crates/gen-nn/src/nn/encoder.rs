//! An encoder: an MLP body and linear heads for the code.

use super::{Activation, Linear, Mlp};
use crate::vars::Vb;
use candle_core::{Result, Tensor};
use candle_nn::Module;

/// What an encoder outputs, named as in configs (`model.encoder`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncoderKind {
    /// A diagonal Gaussian `p(z|x)`, reparameterized (VAE, ALI; an option of the AAE).
    #[default]
    Gaussian,
    /// The code itself, `z = E(x)` (the plain autoencoder, the AAE paper's, BiGAN).
    Deterministic,
}

/// An encoder: an MLP from x through `hidden` widths (activated), then a linear head for
/// the code's mean and, for a Gaussian `p(z|x)`, one for its log-variance. Parameters are
/// `vb.<i>.*`, `vb.mean.*` and `vb.logvar.*`.
#[derive(Clone)]
pub struct Encoder {
    pub body: Mlp,
    pub mean: Linear,
    pub logvar: Option<Linear>,
}

impl Encoder {
    /// `sizes`: every width from the input through the hidden layers to the code, as
    /// [`super::widths`] gives them.
    pub fn new(
        vb: &Vb,
        sizes: &[usize],
        activation: Activation,
        kind: EncoderKind,
    ) -> Result<Self> {
        let (body_sizes, latent) = (&sizes[..sizes.len() - 1], sizes[sizes.len() - 1]);
        let body = Mlp::activated(vb, body_sizes, activation)?;
        let top = body_sizes[body_sizes.len() - 1];
        let mean = Linear::new(&vb.pp("mean"), top, latent)?;
        let logvar = (kind == EncoderKind::Gaussian)
            .then(|| Linear::new(&vb.pp("logvar"), top, latent))
            .transpose()?;
        Ok(Encoder { body, mean, logvar })
    }
}

/// A network from inputs to a code: its mean and, for a Gaussian `p(z|x)`, its
/// log-variance (an MLP [`Encoder`], or a family's convolutional one).
pub trait Encode {
    fn encode(&self, x: &Tensor) -> Result<(Tensor, Option<Tensor>)>;
}

impl Encode for Encoder {
    fn encode(&self, x: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        let h = self.body.forward(x)?;
        let logvar = self.logvar.as_ref().map(|l| l.forward(&h)).transpose()?;
        Ok((self.mean.forward(&h)?, logvar))
    }
}
