//! Where a family's tensors live and what its data look like: one value a family keeps
//! instead of three fields, with the conversions every family needs.

use crate::model::{Batch, DataInfo};
use crate::Result;
use candle_core::{DType, Device, Tensor};
use gen_base::Rng;
use gen_dist::prior::LatentPrior;

/// A family's device, dtype and data shape, from [`crate::Setup::frame`].
#[derive(Clone, Debug)]
pub struct Frame {
    pub data: DataInfo,
    pub device: Device,
    pub dtype: DType,
}

impl Frame {
    /// A batch's inputs, on this device in this dtype.
    pub fn input(&self, batch: &Batch) -> Result<Tensor> {
        self.here(&batch.x)
    }

    /// A tensor from elsewhere (a user's codes, a grid of points), on this device in this
    /// dtype.
    pub fn here(&self, t: &Tensor) -> Result<Tensor> {
        Ok(t.to_dtype(self.dtype)?.to_device(&self.device)?)
    }

    /// Inputs in the adversarial players' space: images from [0, 1] to [-1, 1] (the
    /// generators end in tanh), points as they are.
    pub fn players_input(&self, batch: &Batch) -> Result<Tensor> {
        let x = self.input(batch)?;
        Ok(match self.data.is_image() {
            true => ((x * 2.0)? - 1.0)?,
            false => x,
        })
    }

    /// A generator's last layer into the players' space: tanh for images, as it is for
    /// points.
    pub fn players_output(&self, out: Tensor) -> Result<Tensor> {
        Ok(match self.data.is_image() {
            true => out.tanh()?,
            false => out,
        })
    }

    /// `n` codes of `latent` coordinates drawn from `prior`, here.
    pub fn codes(
        &self,
        prior: LatentPrior,
        (n, latent): (usize, usize),
        rng: &mut Rng,
    ) -> Result<Tensor> {
        Ok(prior.sample((n, latent), self.dtype, &self.device, rng)?)
    }

    /// From the players' space back to the data's: images to [0, 1].
    pub fn from_players(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match self.data.is_image() {
            true => ((x + 1.0)? * 0.5)?,
            false => x.clone(),
        })
    }
}
