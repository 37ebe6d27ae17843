//! ALI (Dumoulin et al.) and BiGAN (Donahue et al.) in the joint-KL view.
//!
//! A discriminator on `(x, z)` pairs judges the data side `p~(x) p(z|x)` (data through
//! the encoder) against the generator side `q(z) q(x|z)` (prior through the generator),
//! so its logit estimates `log p(x,z) / q(x,z)` and the family matches the two joints
//! directly; with the label y it minimizes the reverse divergence `KL(q(x,z,y) ||
//! p(x,z,y))`. The encoder and generator train on `standard` (flipped-label) or
//! `joint_kl` (Su's `-log D` on both paths) losses.

#![forbid(unsafe_code)]

mod config;
mod model;

pub use config::{AliConfig, PairLoss};
pub use gen_dist::prior::LatentPrior;
pub use model::{pair_loss, Ali};

use gen_core::ModelEntry;
pub use gen_nn::nn::EncoderKind;

/// The registration the `gen` binary lists.
pub const ENTRY: ModelEntry = ModelEntry::steps::<Ali>(
    "ali",
    "ALI/BiGAN: discriminator on (x, z) pairs, logit = log p(x,z)/q(x,z); Gaussian (ALI) or deterministic (BiGAN) encoder",
);
