//! The gated 1-D convolution of Su's poem VAE (a GCNN layer, Dauphin et al. 2017): a
//! convolution to twice the width, one half gating the other, with a residual connection.
//!
//! The convolution is written as its im2col product: the `k` shifted copies of the
//! zero-padded sequence side by side, times one `(k C, 2C)` matrix. (candle-core 0.11's
//! `conv1d` backward pass gives wrong gradients for batches of more than one example on
//! the CPU; these ops' gradients are checked below.) On the CPU the layer is one fused op
//! (`gen_kernels::fused::gated_conv1d`, the batch split between the threads); the
//! composition of candle's ops remains for other devices, and the tests check both.

use super::Linear;
use crate::vars::Vb;
use candle_core::{Result, Tensor};
use candle_nn::Module;

/// `a * sigmoid(b)` (+ x) where `(a, b)` is a same-padded convolution of `x` over `(B, L,
/// C)` (positions, then channels, as Keras' `Conv1D`), kernel `k`, `C` channels in and out.
/// Initialized like PyTorch's `Conv1d` (uniform in ±1/sqrt(k C)).
#[derive(Clone)]
pub struct GatedConv1d {
    /// `vb.weight` `(k C, 2C)`: row `j C + c` is input channel `c` at offset `j - k/2`.
    pub map: Linear,
    channels: usize,
    k: usize,
    residual: bool,
}

impl GatedConv1d {
    /// `vb.weight` `(k C, 2C)` and `vb.bias` `(2C,)`; `k` odd so the length is kept.
    pub fn new(vb: &Vb, channels: usize, k: usize, residual: bool) -> Result<Self> {
        if k.is_multiple_of(2) {
            candle_core::bail!("a same-padded gated convolution needs an odd kernel, got {k}");
        }
        Ok(GatedConv1d {
            map: Linear::new(vb, k * channels, 2 * channels)?,
            channels,
            k,
            residual,
        })
    }
}

impl Module for GatedConv1d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if gen_kernels::fused::fusable(x) && x.dtype() == self.map.weight.dtype() {
            let (w, b) = (self.map.weight.as_tensor(), self.map.bias.as_tensor());
            return gen_kernels::fused::gated_conv1d(x, w, b, self.k, self.residual);
        }
        self.composed(x)
    }
}

impl GatedConv1d {
    /// The layer from candle's ops (off the CPU; the fused op's reference).
    fn composed(&self, x: &Tensor) -> Result<Tensor> {
        let (b, l, c) = x.dims3()?;
        let half = self.k / 2;
        let padded = x.pad_with_zeros(1, half, half)?;
        let windows = (0..self.k)
            .map(|j| padded.narrow(1, j, l))
            .collect::<Result<Vec<_>>>()?;
        let cols = Tensor::cat(&windows, 2)?.reshape((b * l, self.k * c))?;
        let h = self.map.forward(&cols)?.reshape((b, l, 2 * c))?;
        let c = self.channels;
        let gated = (h.narrow(2, 0, c)? * candle_nn::ops::sigmoid(&h.narrow(2, c, c)?)?)?;
        match self.residual {
            true => gated + x,
            false => Ok(gated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck;
    use candle_core::{DType, Device};
    use gen_base::Rng;

    /// The layer against the sum written out: `h[t, o] = b[o] + sum_{j, c} w[j C + c, o]
    /// x[t + j - 1, c]` (zero outside), then `h[:, :C] * sigmoid(h[:, C:]) + x`.
    #[test]
    fn matches_the_convolution_written_out_by_hand() {
        let vb = Vb::new(Rng::new(3), DType::F64, &Device::Cpu);
        let (c, l) = (2usize, 4usize);
        let g = GatedConv1d::new(&vb.pp("g"), c, 3, true).unwrap();
        let x = Rng::new(9)
            .randn((2, l, c), DType::F64, &Device::Cpu)
            .unwrap();
        let fused: Vec<Vec<Vec<f64>>> = g.forward(&x).unwrap().to_vec3().unwrap();
        let composed: Vec<Vec<Vec<f64>>> = g.composed(&x).unwrap().to_vec3().unwrap();
        let w: Vec<Vec<f64>> = g.map.weight.to_vec2().unwrap();
        let b: Vec<f64> = g.map.bias.to_vec1().unwrap();
        let xs: Vec<Vec<Vec<f64>>> = x.to_vec3().unwrap();
        for (n, seq) in xs.iter().enumerate() {
            let h = |o: usize, t: usize| {
                let mut s = b[o];
                for j in 0..3 {
                    let p = t as isize + j as isize - 1;
                    if (0..l as isize).contains(&p) {
                        for ci in 0..c {
                            s += w[j * c + ci][o] * seq[p as usize][ci];
                        }
                    }
                }
                s
            };
            for t in 0..l {
                for o in 0..c {
                    let want = h(o, t) / (1.0 + (-h(o + c, t)).exp()) + seq[t][o];
                    for have in [fused[n][t][o], composed[n][t][o]] {
                        assert!((have - want).abs() < 1e-12, "{n} {t} {o}: {have} {want}");
                    }
                }
            }
        }
    }

    #[test]
    fn its_gradients_match_finite_differences() {
        let vb = Vb::new(Rng::new(4), DType::F64, &Device::Cpu);
        let g = GatedConv1d::new(&vb.pp("g"), 3, 3, true).unwrap();
        let x = Rng::new(5)
            .randn((2, 5, 3), DType::F64, &Device::Cpu)
            .unwrap();
        let loss = || g.forward(&x).unwrap().sqr().unwrap().sum_all().unwrap();
        assert!(gradcheck::assert_gradients_match(&vb.params(), &[""], None, 1e-5, loss) > 0);
        let loss = || g.composed(&x).unwrap().sqr().unwrap().sum_all().unwrap();
        assert!(gradcheck::assert_gradients_match(&vb.params(), &[""], None, 1e-5, loss) > 0);
    }
}
