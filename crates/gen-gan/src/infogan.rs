//! The InfoGAN pair for 28x28 images: the MNIST networks of Chen et al. 2016 (InfoGAN),
//! which Lucic et al. 2018 ("Are GANs Created Equal?") trained every GAN variant with. It
//! is the DCGAN pair widened by a 1024-unit dense layer on each side, with batch norm in
//! the discriminator too (after its second convolution and its dense layer).

use crate::dcgan::{normal, Conv, Dense, Upsampler, BASE, MID};
use candle_core::{Result, Tensor};
use gen_core::kernels::Activation::{Identity, LeakyRelu};
use gen_nn::norm::{BatchNorm, BatchNormed, Pass};
use gen_nn::vars::Vb;

/// Width of the dense layer each player adds to the DCGAN pair.
const WIDE: usize = 1024;

/// z -> dense 1024 -> BN, ReLU -> dense to 128x7x7 -> the DCGAN generator's conv stages;
/// returned flat, `(B, 784)`.
pub struct Generator {
    hidden: Dense,
    bn_hidden: BatchNorm,
    project: Dense,
    stages: Upsampler,
}

impl Generator {
    /// Trained parameters under `vb` (`hidden`, `bn_hidden`, `project`, then the stages'
    /// `bn0`, `up1`, `bn1`, `up2`), batch-norm averages under `buffers`.
    pub fn new(vb: &Vb, buffers: &Vb, latent: usize) -> Result<Self> {
        Ok(Generator {
            hidden: Dense::new(&vb.pp("hidden"), latent, WIDE)?,
            bn_hidden: BatchNorm::new(
                &vb.pp("bn_hidden"),
                &buffers.pp("bn_hidden"),
                WIDE,
                normal(1.0),
            )?,
            project: Dense::new(&vb.pp("project"), WIDE, BASE * 49)?,
            stages: Upsampler::new(vb, buffers)?,
        })
    }
}

impl BatchNormed for Generator {
    fn forward_pass(&self, z: &Tensor, pass: Pass) -> Result<Tensor> {
        let h = self.hidden.forward(z, false)?;
        let h = self.bn_hidden.forward_pass(&h, pass)?.relu()?;
        self.stages
            .forward_pass(&self.project.forward(&h, false)?, pass)
    }
}

/// Packed images `(B, pack * 784)` -> conv to 64x14x14, LeakyReLU -> conv to 128x7x7, BN,
/// LeakyReLU -> dense 1024, BN, LeakyReLU -> dense to one logit. Its batch norm always
/// normalizes by the batch it is given (real and generated batches come separately, as in
/// the DCGAN recipe); running averages would never be read, so it keeps none.
pub struct Discriminator {
    down1: Conv,
    down2: Conv,
    bn2: BatchNorm,
    hidden: Dense,
    bn_hidden: BatchNorm,
    out: Dense,
    pack: usize,
}

impl Discriminator {
    /// Parameters under `vb`: `down1`, `down2`, `bn2`, `hidden`, `bn_hidden`, `out`;
    /// `scratch` holds the batch norms' unused averages (not saved).
    pub fn new(vb: &Vb, scratch: &Vb, pack: usize) -> Result<Self> {
        let bn = |name: &str, c| BatchNorm::new(&vb.pp(name), &scratch.pp(name), c, normal(1.0));
        Ok(Discriminator {
            down1: Conv::new(&vb.pp("down1"), pack, MID, false)?,
            down2: Conv::new(&vb.pp("down2"), MID, BASE, false)?,
            bn2: bn("bn2", BASE)?,
            hidden: Dense::new(&vb.pp("hidden"), BASE * 49, WIDE)?,
            bn_hidden: bn("bn_hidden", WIDE)?,
            out: Dense::new(&vb.pp("out"), WIDE, 1)?,
            pack,
        })
    }

    /// The logits; `frozen`: with the layers' weights detached (the generator's steps; the
    /// batch norms' scales still get gradients there, which its optimizer ignores).
    pub fn forward(&self, packed: &Tensor, frozen: bool) -> Result<Tensor> {
        let b = packed.dim(0)?;
        let x = packed.reshape((b, self.pack, 28, 28))?;
        let h = self.down1.forward(&x, LeakyRelu, frozen)?;
        let h = self.down2.forward(&h, Identity, frozen)?;
        let h = LeakyRelu.apply(&self.bn2.forward_pass(&h, Pass::Frozen)?)?;
        let h = self.hidden.forward(&h.reshape((b, BASE * 49))?, frozen)?;
        let h = LeakyRelu.apply(&self.bn_hidden.forward_pass(&h, Pass::Frozen)?)?;
        self.out.forward(&h, frozen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use gen_core::Rng;

    fn vb() -> Vb {
        Vb::new(Rng::new(5), DType::F32, &Device::Cpu)
    }

    /// The pair's shapes and ranges, and its size: the two 1024-unit layers put about
    /// 6.5 million weights in each player (hand count below).
    #[test]
    fn shapes_ranges_and_parameter_counts() {
        let (vb, buffers, scratch) = (vb(), vb(), vb());
        let g = Generator::new(&vb.pp("g"), &buffers.pp("g"), 100).unwrap();
        let d = Discriminator::new(&vb.pp("d"), &scratch.pp("d"), 1).unwrap();
        let mut rng = vb.rng();
        let z = rng.randn((4, 100), DType::F32, &Device::Cpu).unwrap();
        let x = g.forward_pass(&z, Pass::Train).unwrap();
        assert_eq!(x.dims(), &[4, 784]);
        let v: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        assert!(v.iter().all(|p| (-1.0..=1.0).contains(p)));
        assert_eq!(d.forward(&x, false).unwrap().dims(), &[4, 1]);
        let params = vb.params();
        let count = |prefix: &str| -> usize {
            params
                .named()
                .iter()
                .filter(|(n, _)| n.starts_with(prefix))
                .map(|(_, v)| v.elem_count())
                .sum()
        };
        // G: 100*1024+1024 + 2*1024 + 1024*6272+6272 + 2*128 + 128*64*16+64 + 2*64 + 64*16+1.
        let g_count = 103_424 + 2_048 + 6_428_800 + 256 + 131_136 + 128 + 1_025;
        // D: 16*64+64 + 64*128*16+128 + 2*128 + 6272*1024+1024 + 2*1024 + 1024+1.
        let d_count = 1_088 + 131_200 + 256 + 6_423_552 + 2_048 + 1_025;
        assert_eq!((count("g."), count("d.")), (g_count, d_count));
    }
}
