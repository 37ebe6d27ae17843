//! The convolutional VAE's networks for 28x28 gray images, the TensorFlow convolutional-VAE
//! tutorial's shape: two stride-2 convolutions down (28 -> 14 -> 7), a dense layer to the
//! code's mean and log-variance; a dense layer up to 32x7x7 and two stride-2 transposed
//! convolutions (7 -> 14 -> 28), then a 3x3 convolution to one channel of logits.

use candle_core::Tensor;
use gen_core::kernels::Activation::Relu;
use gen_core::Result;
use gen_nn::nn::{Conv2d, Encode, Linear, Module};
use gen_nn::vars::Vb;

/// Channels after the first and second convolutions (and before the last two up).
const C1: usize = 32;
const C2: usize = 64;

pub struct ConvEncoder {
    down1: Conv2d,
    down2: Conv2d,
    mean: Linear,
    logvar: Linear,
}

impl ConvEncoder {
    /// Parameters under `vb` (`encoder`): `conv1`, `conv2`, `mean`, `logvar`.
    pub fn new(vb: &Vb, latent: usize) -> Result<Self> {
        Ok(ConvEncoder {
            down1: Conv2d::new(&vb.pp("conv1"), (1, C1, 3), 2, 1)?,
            down2: Conv2d::new(&vb.pp("conv2"), (C1, C2, 3), 2, 1)?,
            mean: Linear::new(&vb.pp("mean"), C2 * 49, latent)?,
            logvar: Linear::new(&vb.pp("logvar"), C2 * 49, latent)?,
        })
    }
}

impl Encode for ConvEncoder {
    /// Rows of 784 pixels -> (mean, log-variance) of the code.
    fn encode(&self, x: &Tensor) -> candle_core::Result<(Tensor, Option<Tensor>)> {
        let b = x.dim(0)?;
        let h = self.down1.forward_act(&x.reshape((b, 1, 28, 28))?, Relu)?;
        let h = self.down2.forward_act(&h, Relu)?.reshape((b, C2 * 49))?;
        Ok((self.mean.forward(&h)?, Some(self.logvar.forward(&h)?)))
    }
}

pub struct ConvDecoder {
    project: Linear,
    up1: Conv2d,
    up2: Conv2d,
    out: Conv2d,
}

impl ConvDecoder {
    /// Parameters under `vb` (`decoder`): `project`, `up1`, `up2`, `out`.
    pub fn new(vb: &Vb, latent: usize) -> Result<Self> {
        Ok(ConvDecoder {
            project: Linear::new(&vb.pp("project"), latent, C1 * 49)?,
            up1: Conv2d::transposed(&vb.pp("up1"), (C1, C2, 4), 2, 1)?,
            up2: Conv2d::transposed(&vb.pp("up2"), (C2, C1, 4), 2, 1)?,
            out: Conv2d::new(&vb.pp("out"), (C1, 1, 3), 1, 1)?,
        })
    }
}

impl Module for ConvDecoder {
    /// Codes -> rows of 784 logits.
    fn forward(&self, z: &Tensor) -> candle_core::Result<Tensor> {
        let b = z.dim(0)?;
        let h = self.project.forward(z)?.relu()?.reshape((b, C1, 7, 7))?;
        let h = self.up1.forward_act(&h, Relu)?;
        let h = self.up2.forward_act(&h, Relu)?;
        self.out.forward(&h)?.reshape((b, 784))
    }
}
