//! VAEs over characters in the joint-KL view: `p(z|x)` a Gaussian from a CNN over the
//! characters (Su's poem VAE), `q(x|z)` a categorical per position, either all at once from
//! the code (Su's non-autoregressive decoder) or one character after another from a GRU
//! that also sees the characters before (Bowman et al. 2016). The loss is the VAE's,
//! `E[-log q(x|z)] + KL(p(z|x) || q(z))` summed over the characters, minimizing the forward
//! joint KL. With `latent: 0` the GRU alone is the language model the GRU VAE is measured
//! against: a decoder that ignores its code (KL collapse) is no better than it.

#![forbid(unsafe_code)]

mod config;
mod model;
mod nets;
mod nll;

pub use config::{TextDecoder, TextVaeConfig};
pub use model::TextVae;

use gen_core::ModelEntry;

/// The registration the `gen` binary lists.
pub const ENTRY: ModelEntry = ModelEntry::steps::<TextVae>(
    "text-vae",
    "VAE over characters: CNN encoder, and a non-autoregressive conv (Su) or GRU (Bowman) decoder; latent: 0 = GRU language model",
);
