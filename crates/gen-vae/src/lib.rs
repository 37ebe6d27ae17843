//! The variational autoencoder in the joint-KL view.
//!
//! `p(z|x)` is a diagonal Gaussian from the encoder, `q(z) = N(0, I)` or learned
//! (prior.rs: a mixture, or the VampPrior), `q(x|z)` a
//! Bernoulli (logits) or Gaussian decoder. The joint KL `KL(p(x,z) || q(x,z))`, up to the
//! data entropy, is `E[-log q(x|z)] + KL(p(z|x) || q(z))` — minus the ELBO — and the
//! model reports exactly those two terms: `reconstruction` and `latent_kl`.
//! With `encoder: free` there is no encoder: each training example keeps its own Gaussian
//! (free.rs); `gen eval --refine` fits each test example's Gaussian on its own to measure
//! what the encoder's amortization costs (refine.rs).

#![forbid(unsafe_code)]

mod config;
mod conv;
mod free;
mod model;
mod nll;
mod pictures;
mod prior;
mod refine;

pub use config::{
    DecoderKind, DecoderVariance, KlEstimator, Network, Objective, PriorConfig, PriorKind,
    VaeConfig, VaeEncoder,
};
pub use model::Vae;
pub use nll::log_mean_exp;

use gen_core::ModelEntry;

/// The registration the `gen` binary lists.
pub const ENTRY: ModelEntry = ModelEntry::steps::<Vae>(
    "vae",
    "variational autoencoder: Gaussian p(z|x), reparameterized, loss = -ELBO = reconstruction + latent_kl",
);
