//! The multi-layer perceptron, with batch norm and dropout when asked.

use super::{dropout, Activation, Linear};
use crate::norm::{BatchNorm, BatchNormed, Pass};
use crate::vars::{Init, Vb};
use candle_core::{Result, Tensor};
use gen_base::Rng;

/// A stack of linear layers with an activation between them (and, for an encoder's body,
/// after the last), optionally with batch norm before each hidden activation and dropout
/// after it.
#[derive(Clone)]
pub struct Mlp {
    layers: Vec<Linear>,
    activation: Activation,
    /// The activation after the last layer too (an encoder's body), or none (an output).
    activate_last: bool,
    /// One per hidden layer, or none.
    norms: Vec<BatchNorm>,
    /// The probability of dropping a hidden unit in [`Mlp::forward_dropout`].
    dropout: f64,
}

/// Every width of a stack from `input` through `hidden` to `output`, as [`Mlp::new`] takes
/// them.
pub fn widths(input: usize, hidden: impl IntoIterator<Item = usize>, output: usize) -> Vec<usize> {
    std::iter::once(input)
        .chain(hidden)
        .chain(std::iter::once(output))
        .collect()
}

impl Mlp {
    /// Linear layers of the widths in `sizes` (every width from input to output, e.g.
    /// `[784, 400, 20]`; layer `i` is `vb.<i>`), `activation` between them, the last one
    /// linear: a decoder's, generator's or discriminator's output.
    pub fn new(vb: &Vb, sizes: &[usize], activation: Activation) -> Result<Self> {
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, w)| Linear::new(&vb.pp(i), w[0], w[1]))
            .collect::<Result<Vec<_>>>()?;
        Ok(Mlp {
            layers,
            activation,
            activate_last: false,
            norms: vec![],
            dropout: 0.0,
        })
    }

    /// The same with `activation` after the last layer too: the body under an encoder's
    /// heads.
    pub fn activated(vb: &Vb, sizes: &[usize], activation: Activation) -> Result<Self> {
        Ok(Mlp {
            activate_last: true,
            ..Self::new(vb, sizes, activation)?
        })
    }

    /// With batch norm after every hidden layer's linear map (the PyTorch-GAN and BiGAN
    /// MNIST generators): `vb.bn<i>` trained, `buffers.bn<i>` the running averages, made
    /// after the layers (so their initial values follow the layers' in the seed's stream).
    pub fn with_batch_norm(mut self, vb: &Vb, buffers: &Vb) -> Result<Self> {
        let hidden: Vec<usize> = self.layers[..self.layers.len() - 1]
            .iter()
            .map(Linear::fan_out)
            .collect();
        self.norms = hidden
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let name = format!("bn{i}");
                BatchNorm::new(&vb.pp(&name), &buffers.pp(&name), c, Init::Const(1.0))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(self)
    }

    /// A generator's stack: [`Mlp::new`] under `vb`, with [`Mlp::with_batch_norm`] (its
    /// averages under `buffers`) when `batch_norm` (a config's `batch_norm`).
    pub fn generator(
        vb: &Vb,
        buffers: &Vb,
        sizes: &[usize],
        activation: Activation,
        batch_norm: bool,
    ) -> Result<Self> {
        let plain = Self::new(vb, sizes, activation)?;
        match batch_norm {
            true => plain.with_batch_norm(vb, buffers),
            false => Ok(plain),
        }
    }

    /// With dropout of probability `p` after every hidden activation, in
    /// [`Mlp::forward_dropout`] (ALI's discriminator).
    pub fn with_dropout(self, p: f64) -> Self {
        Mlp { dropout: p, ..self }
    }

    /// The evaluation pass (batch norm, if any, on its running averages; no dropout).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_pass(x, Pass::Eval)
    }

    /// A training pass with dropout drawn from `rng` (batch norm as [`Pass::Frozen`]).
    pub fn forward_dropout(&self, x: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        self.run(x, Pass::Frozen, Some(rng))
    }

    fn run(&self, x: &Tensor, pass: Pass, mut rng: Option<&mut Rng>) -> Result<Tensor> {
        let mut h = x.clone();
        let n = self.layers.len();
        for (i, layer) in self.layers.iter().enumerate() {
            let hidden = i + 1 < n;
            let act = if hidden || self.activate_last {
                self.activation
            } else {
                Activation::Identity
            };
            h = match self.norms.get(i) {
                Some(bn) => act.apply(
                    &bn.forward_pass(&layer.forward_act(&h, Activation::Identity)?, pass)?,
                )?,
                None => layer.forward_act(&h, act)?,
            };
            if let (true, Some(r)) = (hidden, rng.as_deref_mut()) {
                h = dropout(&h, self.dropout, r)?;
            }
        }
        Ok(h)
    }
}

impl BatchNormed for Mlp {
    /// Without batch norm every pass is the same.
    fn forward_pass(&self, x: &Tensor, pass: Pass) -> Result<Tensor> {
        self.run(x, pass, None)
    }
}

impl candle_nn::ModuleT for Mlp {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_pass(x, Pass::from(train))
    }
}
