//! The GAN in the joint-KL view (Su, arXiv 1807.05936).
//!
//! A binary label y (data or generated) augments x, and the GAN minimizes the reverse
//! divergence `KL(q(x,y) || p(x,y))`: the discriminator's logit estimates
//! `log p~(x) / q(x)`, and the generator's step carries the term
//! `KL(q(x) || q_old(x))` that standard GANs drop, here as
//! `lambda * mean((G(z) - G_old(z))^2)`. PacGAN packing (`pack: m`) is built in.

#![forbid(unsafe_code)]

mod config;
mod dcgan;
mod infogan;
mod model;

pub use config::{GanConfig, Network};
pub use model::Gan;

use gen_core::ModelEntry;

/// The registration the `gen` binary lists.
pub const ENTRY: ModelEntry = ModelEntry::steps::<Gan>(
    "gan",
    "GAN: discriminator logit = log p~(x)/q(x); generator step with lambda * |G(z) - G_old(z)|^2 (Su's joint-KL term); PacGAN packing",
);
