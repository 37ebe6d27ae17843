//! Fixed priors `q(z)` over codes.

use candle_core::{DType, Device, Result, Tensor};
use gen_base::Rng;
use serde::{Deserialize, Serialize};

/// A fixed prior over codes, named as in configs (`model.prior`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LatentPrior {
    /// N(0, I).
    #[default]
    Gaussian,
    /// Uniform on [-1, 1]^latent (BiGAN's choice).
    Uniform,
}

impl LatentPrior {
    /// `n` draws of `latent` coordinates.
    pub fn sample(
        self,
        (n, latent): (usize, usize),
        dtype: DType,
        device: &Device,
        rng: &mut Rng,
    ) -> Result<Tensor> {
        match self {
            LatentPrior::Gaussian => rng.randn((n, latent), dtype, device),
            LatentPrior::Uniform => rng.rand_uniform((n, latent), -1.0, 1.0, dtype, device),
        }
    }
}
