//! The adversarial autoencoder (Makhzani et al.) in the joint-KL view.
//!
//! The GAN argument applied to z: an encoder p(z|x), a label y for "from the prior q(z)"
//! against "from the encoder", and `KL(p(z,y) || q(z,y))`. The latent discriminator's
//! logit estimates `log q(z) / p(z)` for the aggregate posterior `p(z) = E_x[p(z|x)]`,
//! so the AAE reports `reconstruction = E[-log q(x|z)]` and
//! `aggregate_latent_kl ~ KL(p(z) || q(z))`, the two parts of the forward joint KL it
//! lowers. Priors: N(0, I), Gaussians on a circle, or that mixture with the class picking
//! the component (the supervised variant).

#![forbid(unsafe_code)]

mod config;
mod model;
mod pictures;
mod prior;

pub use config::{AaeConfig, PriorConfig, PriorKind, Reconstruction};
pub use model::Aae;
pub use prior::Prior;

use gen_core::ModelEntry;
pub use gen_nn::nn::EncoderKind;

/// The registration the `gen` binary lists.
pub const ENTRY: ModelEntry = ModelEntry::steps::<Aae>(
    "aae",
    "adversarial autoencoder: latent discriminator logit = log q(z)/p(z) for the aggregate posterior p(z); loss = reconstruction + adversarial",
);
