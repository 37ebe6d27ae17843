//! The layers models are built from, one concept per file, as candle-nn modules: a dense
//! layer and a convolution ([`candle_nn::Module`]), an MLP ([`candle_nn::ModuleT`]: train
//! or evaluate through `forward_t`, batch norm and dropout optional), an encoder, dropout.
//!
//! Layers take a scope of the parameter store ([`crate::vars::Vb`], candle-nn's
//! `VarBuilder` convention); parameters are created from the workspace's seeded
//! [`gen_base::Rng`] (candle's CPU generator cannot be seeded) and live in a named, ordered
//! [`Params`] store that checkpoints and histograms read.

mod conv;
mod dropout;
mod embedding;
mod encoder;
mod gated_conv;
mod gru;
mod linear;
mod mlp;

pub use crate::norm::{BatchNormed, Pass};
pub use crate::params::Params;
pub use candle_nn::{Module, ModuleT};
pub use conv::Conv2d;
pub use dropout::dropout;
pub use embedding::Embedding;
pub use encoder::{Encode, Encoder, EncoderKind};
pub use gated_conv::GatedConv1d;
pub use gru::Gru;
pub use linear::Linear;
pub use mlp::{widths, Mlp};

/// Element-wise non-linearities, named as in configs (defined beside the fused kernel
/// that applies them).
pub use gen_kernels::Activation;
