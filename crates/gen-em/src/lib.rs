//! EM for Gaussian mixtures, in the joint-KL view.
//!
//! `z` is the component index, `q(z)` the mixture weights, `q(x|z)` a Gaussian (full,
//! diagonal or spherical covariance); `p(z|x)` is left free. EM minimizes
//! `KL(p(x,z) || q(x,z))` by alternation: the E-step over `p(z|x)` lands exactly on the
//! posterior `q(z|x)`, closing the gap to the marginal KL; the M-step over `q` is closed
//! form. See [`fit`] for the decomposition every iteration reports.

#![forbid(unsafe_code)]

pub mod config;
pub mod estep;
pub mod fit;
pub mod init;
pub mod linalg;
pub mod mixture;
pub mod model;
pub mod mstep;
mod pictures;

pub use config::{CovarianceType, EmConfig, InitMethod};
pub use mixture::Mixture;
pub use model::GaussianMixtureEm;

use gen_core::ModelEntry;

/// The registration the `gen` binary lists.
pub const ENTRY: ModelEntry = ModelEntry::fit::<GaussianMixtureEm>(
    "em",
    "Gaussian mixture fitted by EM: E-step p(z|x) = q(z|x), closed-form M-step (full/diag/spherical)",
);
