//! Trainable parameters and the layers models are built from.
//!
//! Layers take a scope of the parameter store ([`crate::vars::Vb`], candle-nn's
//! `VarBuilder` convention); parameters are created from the workspace's seeded [`Rng`]
//! (candle's CPU generator cannot be seeded) and live in a named, ordered [`Params`] store
//! that checkpoints and histograms read.

use crate::norm::BatchNorm;
use crate::vars::{Init, Vb};
use candle_core::{Result, Tensor, Var};
use gen_base::rng::Rng;

pub use crate::params::Params;

/// Element-wise non-linearities, named as in configs (defined beside the fused kernel
/// that applies them).
pub use gen_kernels::Activation;

/// `y = x W + b` with `W` stored as `(in, out)`, initialized like PyTorch's default:
/// uniform in ±1/sqrt(in) for weight and bias.
#[derive(Clone)]
pub struct Linear {
    pub weight: Var,
    pub bias: Var,
}

impl Linear {
    /// `vb.weight` and `vb.bias`.
    pub fn new(vb: &Vb, fan_in: usize, fan_out: usize) -> Result<Self> {
        let bound = Init::Uniform(1.0 / (fan_in as f64).sqrt());
        Ok(Linear {
            weight: vb.var((fan_in, fan_out), "weight", bound)?,
            bias: vb.var(fan_out, "bias", bound)?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_act(x, Activation::Identity)
    }

    /// `act(x W + b)`, with bias and activation fused into one pass each way on the CPU.
    pub fn forward_act(&self, x: &Tensor, act: Activation) -> Result<Tensor> {
        if gen_kernels::fused::fusable(x) && x.rank() == 2 && x.dtype() == self.weight.dtype() {
            return gen_kernels::fused::linear_act(x, &self.weight, &self.bias, act);
        }
        act.apply(&x.matmul(&self.weight)?.broadcast_add(&self.bias)?)
    }

    pub fn fan_out(&self) -> usize {
        self.bias.dims()[0]
    }
}

/// A stack of linear layers with an activation between them (and optionally after the last),
/// optionally with batch norm before each hidden activation.
#[derive(Clone)]
pub struct Mlp {
    pub layers: Vec<Linear>,
    pub activation: Activation,
    pub activate_last: bool,
    /// One per hidden layer, or none.
    pub norms: Vec<BatchNorm>,
}

impl Mlp {
    /// `sizes` lists every width from input to output, e.g. `[784, 400, 20]`; layer `i`
    /// is `vb.<i>`.
    pub fn new(
        vb: &Vb,
        sizes: &[usize],
        activation: Activation,
        activate_last: bool,
    ) -> Result<Self> {
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, w)| Linear::new(&vb.pp(i), w[0], w[1]))
            .collect::<Result<Vec<_>>>()?;
        Ok(Mlp {
            layers,
            activation,
            activate_last,
            norms: vec![],
        })
    }

    /// With `batch_norm`, the stack without an activation after the last layer and with
    /// batch norm after every hidden layer's linear map (the PyTorch-GAN and BiGAN MNIST
    /// generators): `vb.bn<i>` trained, `buffers.bn<i>` the running averages. Without it,
    /// the plain stack of [`Mlp::new`] (the adversarial families' generators either way).
    pub fn maybe_normed(
        vb: &Vb,
        buffers: &Vb,
        sizes: &[usize],
        activation: Activation,
        batch_norm: bool,
    ) -> Result<Self> {
        let mut mlp = Self::new(vb, sizes, activation, false)?;
        if batch_norm {
            mlp.norms = sizes[1..sizes.len() - 1]
                .iter()
                .enumerate()
                .map(|(i, &c)| {
                    let name = format!("bn{i}");
                    BatchNorm::new(&vb.pp(&name), &buffers.pp(&name), c, Init::Const(1.0))
                })
                .collect::<Result<Vec<_>>>()?;
        }
        Ok(mlp)
    }

    /// Evaluation pass (batch norm, if any, on its running averages).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_norm(x, false, false)
    }

    /// `train`: batch norm on the batch's statistics (`update`: also moving the running
    /// averages); otherwise on the averages. Without batch norm the flags do nothing.
    pub fn forward_norm(&self, x: &Tensor, train: bool, update: bool) -> Result<Tensor> {
        let mut h = x.clone();
        let n = self.layers.len();
        for (i, layer) in self.layers.iter().enumerate() {
            let act = if i + 1 < n || self.activate_last {
                self.activation
            } else {
                Activation::Identity
            };
            h = match self.norms.get(i) {
                Some(bn) => act.apply(&bn.forward(&layer.forward(&h)?, train, update)?)?,
                None => layer.forward_act(&h, act)?,
            };
        }
        Ok(h)
    }
}

/// What an encoder outputs, named as in configs (`model.encoder`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncoderKind {
    /// A diagonal Gaussian `p(z|x)`, reparameterized (VAE, ALI; an option of the AAE).
    #[default]
    Gaussian,
    /// The code itself, `z = E(x)` (the plain autoencoder, the AAE paper's, BiGAN).
    Deterministic,
}

/// An encoder: an MLP from x through `hidden` widths (activated), then a linear head for
/// the code's mean and, for a Gaussian `p(z|x)`, one for its log-variance. Parameters are
/// `vb.<i>.*`, `vb.mean.*` and `vb.logvar.*`.
#[derive(Clone)]
pub struct Encoder {
    pub body: Mlp,
    pub mean: Linear,
    pub logvar: Option<Linear>,
}

impl Encoder {
    pub fn new(
        vb: &Vb,
        input: usize,
        hidden: &[usize],
        latent: usize,
        activation: Activation,
        kind: EncoderKind,
    ) -> Result<Self> {
        let sizes: Vec<usize> = std::iter::once(input)
            .chain(hidden.iter().copied())
            .collect();
        let body = Mlp::new(vb, &sizes, activation, true)?;
        let top = *sizes.last().unwrap_or(&input);
        let mean = Linear::new(&vb.pp("mean"), top, latent)?;
        let logvar = (kind == EncoderKind::Gaussian)
            .then(|| Linear::new(&vb.pp("logvar"), top, latent))
            .transpose()?;
        Ok(Encoder { body, mean, logvar })
    }

    /// The code's mean and (Gaussian encoder) log-variance at inputs `x`.
    pub fn forward(&self, x: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        let h = self.body.forward(x)?;
        let logvar = self.logvar.as_ref().map(|l| l.forward(&h)).transpose()?;
        Ok((self.mean.forward(&h)?, logvar))
    }
}

/// A 2-D (transposed) convolution with a bias over `(B, C, H, W)`, square kernels, one
/// group; initialized like PyTorch (uniform in +-1/sqrt(fan_in), fan_in = in channels x
/// k x k). On the CPU it runs on gen-kernels' gemm-based im2col/col2im kernels.
#[derive(Clone)]
pub struct Conv2d {
    /// `(out, in, k, k)`, or `(in, out, k, k)` when transposed (PyTorch's layouts).
    pub weight: Var,
    pub bias: Var,
    pub stride: usize,
    pub pad: usize,
    pub transposed: bool,
}

impl Conv2d {
    /// `vb.weight` and `vb.bias`.
    pub fn new(
        vb: &Vb,
        c_in: usize,
        c_out: usize,
        k: usize,
        stride: usize,
        pad: usize,
        transposed: bool,
    ) -> Result<Self> {
        let fan_in = if transposed { c_out } else { c_in } * k * k;
        let bound = Init::Uniform(1.0 / (fan_in as f64).sqrt());
        let shape = if transposed {
            (c_in, c_out, k, k)
        } else {
            (c_out, c_in, k, k)
        };
        let weight = vb.var(shape, "weight", bound)?;
        let bias = vb.var(c_out, "bias", bound)?;
        Ok(Conv2d {
            weight,
            bias,
            stride,
            pad,
            transposed,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_act(x, Activation::Identity)
    }

    /// `act(conv(x) + bias)`; on the CPU the bias and the activation ride along with the
    /// product's change of layout (one pass each way).
    pub fn forward_act(&self, x: &Tensor, act: Activation) -> Result<Tensor> {
        let (s, p) = (self.stride, self.pad);
        if gen_kernels::fused::fusable(x) {
            let (w, b) = (&self.weight, &self.bias);
            return if self.transposed {
                gen_kernels::fused::conv_transpose2d_bias_act(x, w, b, (s, p), act)
            } else {
                gen_kernels::fused::conv2d_bias_act(x, w, b, (s, p), act)
            };
        }
        let y = if self.transposed {
            x.conv_transpose2d(&self.weight, p, 0, s, 1)?
        } else {
            x.conv2d(&self.weight, p, s, 1, 1)?
        };
        let c = self.bias.dim(0)?;
        act.apply(&y.broadcast_add(&self.bias.reshape((1, c, 1, 1))?)?)
    }
}

/// Inverted dropout: each value is zeroed with probability `p` and the rest scaled by
/// `1 / (1 - p)`, so the expectation is unchanged (use only while training).
pub fn dropout(x: &Tensor, p: f64, rng: &mut Rng) -> Result<Tensor> {
    if p <= 0.0 {
        return Ok(x.clone());
    }
    let keep = 1.0 / (1.0 - p);
    let mask: Vec<f64> = (0..x.elem_count())
        .map(|_| if rng.uniform() >= p { keep } else { 0.0 })
        .collect();
    let mask = Tensor::from_vec(mask, x.shape(), &candle_core::Device::Cpu)?
        .to_dtype(x.dtype())?
        .to_device(x.device())?;
    x * mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use std::collections::HashMap;

    /// About a fraction p of the values is zeroed, the others are scaled by 1/(1-p), and
    /// the gradient goes through the kept values with the same scale.
    #[test]
    fn dropout_drops_a_fraction_and_keeps_the_mean() {
        let x = Var::from_tensor(
            &Tensor::ones((200, 100), DType::F64, &candle_core::Device::Cpu).unwrap(),
        )
        .unwrap();
        let y = dropout(x.as_tensor(), 0.25, &mut gen_base::Rng::new(1)).unwrap();
        let v: Vec<f64> = y.flatten_all().unwrap().to_vec1().unwrap();
        let zeros = v.iter().filter(|&&a| a == 0.0).count() as f64 / v.len() as f64;
        assert!((zeros - 0.25).abs() < 0.01, "{zeros}");
        assert!(v.iter().all(|&a| a == 0.0 || (a - 4.0 / 3.0).abs() < 1e-12));
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!((mean - 1.0).abs() < 0.02, "{mean}");
        let g = y.sum_all().unwrap().backward().unwrap();
        let gv: Vec<f64> = g.get(&x).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(gv, v, "d(sum y)/dx is the mask itself for x = 1");
    }

    #[test]
    fn linear_computes_affine_map_and_params_roundtrip() {
        let vb = Vb::new(Rng::new(0), DType::F64, &Device::Cpu);
        let l = Linear::new(&vb.pp("l"), 2, 3).unwrap();
        let params = vb.params();
        let w: Vec<Vec<f64>> = l.weight.to_vec2().unwrap();
        let b: Vec<f64> = l.bias.to_vec1().unwrap();
        assert!(w.iter().flatten().all(|x| x.abs() <= 1.0 / 2f64.sqrt()));
        let x = Tensor::new(&[[1.0f64, -2.0]], &Device::Cpu).unwrap();
        let y: Vec<Vec<f64>> = l.forward(&x).unwrap().to_vec2().unwrap();
        for j in 0..3 {
            let want = w[0][j] - 2.0 * w[1][j] + b[j];
            assert!((y[0][j] - want).abs() < 1e-12);
        }
        let saved: HashMap<_, _> = params
            .export("m.")
            .into_iter()
            .map(|(k, t)| (k, t.copy().unwrap()))
            .collect();
        l.weight.set(&l.weight.zeros_like().unwrap()).unwrap();
        params.load("m.", &saved).unwrap();
        assert_eq!(l.weight.to_vec2::<f64>().unwrap(), w);
        let mut wrong = saved.clone();
        wrong.insert(
            "m.l.bias".into(),
            Tensor::zeros(4, DType::F64, &Device::Cpu).unwrap(),
        );
        let err = params.load("m.", &wrong).unwrap_err().to_string();
        assert!(err.contains("m.l.bias") && err.contains("[4]"), "{err}");
    }
}
