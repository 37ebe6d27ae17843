//! The text VAE's networks over rows of character ids `(B, L)`.

use candle_core::{DType, Result, Tensor, D};
use gen_base::vocab::{END, PAD, UNK};
use gen_base::Rng;
use gen_dist::loss::linear_categorical_nll_rows;
use gen_nn::nn::{Embedding, GatedConv1d, Gru, Linear, Module};
use gen_nn::vars::Vb;

/// Su's encoder: characters embedded, residual gated convolutions (kernel 3), the average
/// over positions, and two dense heads for the mean and log-variance of `p(z|x)`.
pub struct CnnEncoder {
    embed: Embedding,
    convs: Vec<GatedConv1d>,
    mean: Linear,
    logvar: Linear,
}

impl CnnEncoder {
    pub fn new(vb: &Vb, vocab: usize, width: usize, layers: usize, latent: usize) -> Result<Self> {
        Ok(CnnEncoder {
            embed: Embedding::new(&vb.pp("embed"), vocab, width)?,
            convs: (0..layers)
                .map(|i| GatedConv1d::new(&vb.pp(format!("conv{i}")), width, 3, true))
                .collect::<Result<_>>()?,
            mean: Linear::new(&vb.pp("mean"), width, latent)?,
            logvar: Linear::new(&vb.pp("logvar"), width, latent)?,
        })
    }

    /// The mean and log-variance `(B, latent)` of `p(z|x)` for ids `x` `(B, L)`.
    pub fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let mut h = self.embed.lookup(x)?;
        for conv in &self.convs {
            h = conv.forward(&h)?;
        }
        let pooled = h.mean(1)?;
        Ok((self.mean.forward(&pooled)?, self.logvar.forward(&pooled)?))
    }
}

/// Su's decoder: a dense layer from the code to `L x width`, one residual gated convolution,
/// and a softmax over the vocabulary at each position, all positions at once.
pub struct ConvDecoder {
    dense: Linear,
    conv: GatedConv1d,
    out: Linear,
    len: usize,
    width: usize,
}

impl ConvDecoder {
    pub fn new(vb: &Vb, latent: usize, len: usize, width: usize, vocab: usize) -> Result<Self> {
        Ok(ConvDecoder {
            dense: Linear::new(&vb.pp("dense"), latent, len * width)?,
            conv: GatedConv1d::new(&vb.pp("conv"), width, 3, true)?,
            out: Linear::new(&vb.pp("out"), width, vocab)?,
            len,
            width,
        })
    }

    /// The last hidden layer at codes `z`, a row per position `(B L, width)`: the output
    /// layer [`ConvDecoder::out`] makes them the logits of `q(x|z)`.
    pub fn hidden(&self, z: &Tensor) -> Result<Tensor> {
        let b = z.dim(0)?;
        let h = self.dense.forward(z)?.reshape((b, self.len, self.width))?;
        self.conv.forward(&h)?.reshape((b * self.len, self.width))
    }

    /// The logits of `q(x|z)`, a row per position `(B L, vocab)`.
    pub fn forward(&self, z: &Tensor) -> Result<Tensor> {
        self.out.forward(&self.hidden(z)?)
    }

    pub fn out(&self) -> &Linear {
        &self.out
    }
}

/// Bowman's decoder: a GRU over the previous characters, each step's input the character's
/// embedding beside the code, its state started from the code; without a code (`latent:
/// 0`) the language model.
pub struct GruDecoder {
    embed: Embedding,
    init: Option<Linear>,
    gru: Gru,
    out: Linear,
    latent: usize,
}

impl GruDecoder {
    pub fn new(vb: &Vb, latent: usize, width: usize, hidden: usize, vocab: usize) -> Result<Self> {
        Ok(GruDecoder {
            embed: Embedding::new(&vb.pp("embed"), vocab, width)?,
            init: match latent {
                0 => None,
                _ => Some(Linear::new(&vb.pp("init"), latent, hidden)?),
            },
            gru: Gru::new(&vb.pp("gru"), width + latent, hidden)?,
            out: Linear::new(&vb.pp("out"), hidden, vocab)?,
            latent,
        })
    }

    /// The state before the first character: `tanh(z W + b)`, or zeros without a code.
    fn start(&self, z: Option<&Tensor>, like: &Tensor, b: usize) -> Result<Tensor> {
        match (z, &self.init) {
            (Some(z), Some(init)) => init.forward(z)?.tanh(),
            _ => Tensor::zeros((b, self.gru.hidden()), like.dtype(), like.device()),
        }
    }

    /// One step's input: the embedded characters `(B, ..)` beside the code.
    fn inputs(&self, ids: &Tensor, z: Option<&Tensor>) -> Result<Tensor> {
        let e = self.embed.lookup(ids)?;
        match z {
            Some(z) if self.latent > 0 => {
                let z = match e.rank() {
                    3 => z
                        .unsqueeze(1)?
                        .broadcast_as((e.dim(0)?, e.dim(1)?, self.latent))?,
                    _ => z.clone(),
                };
                Tensor::cat(&[&e, &z.to_dtype(e.dtype())?], e.rank() - 1)
            }
            _ => Ok(e),
        }
    }

    /// The GRU's states, a row per position `(B L, hidden)`, from which the output layer
    /// [`GruDecoder::out`] makes the logits of `q(x_t | x_<t, z)`, for targets `x` `(B, L)`
    /// (teacher forcing): the inputs are `x` shifted right after the start token; with
    /// `dropout` each input character after the first becomes the unknown token with
    /// probability p.
    pub fn hidden(
        &self,
        z: Option<&Tensor>,
        x: &Tensor,
        dropout: Option<(f64, &mut Rng)>,
    ) -> Result<Tensor> {
        let (b, l) = x.dims2()?;
        let ids: Vec<f32> = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        let mut inputs = Vec::with_capacity(b * l);
        let mut dropout = dropout;
        for row in ids.chunks(l) {
            inputs.push(END as f32);
            for &c in &row[..l - 1] {
                let drop = match &mut dropout {
                    Some((p, rng)) => rng.uniform() < *p,
                    None => false,
                };
                inputs.push(if drop { UNK as f32 } else { c });
            }
        }
        let inputs = Tensor::from_vec(inputs, (b, l), x.device())?;
        let h0 = self.start(z, &self.out.weight, b)?;
        let states = self.gru.forward(&self.inputs(&inputs, z)?, &h0)?;
        states.reshape((b * l, self.gru.hidden()))
    }

    pub fn out(&self) -> &Linear {
        &self.out
    }

    /// `len` characters per code, each drawn from `q(x_t | x_<t, z)` (`greedy`: the most
    /// likely one), as id rows `(B, len)`: after the end token, padding.
    pub fn generate(
        &self,
        z: Option<&Tensor>,
        b: usize,
        len: usize,
        greedy: bool,
        rng: &mut Rng,
    ) -> Result<Tensor> {
        let device = self.out.weight.device();
        let mut prev = Tensor::full(END as f32, b, device)?;
        let mut h = self.start(z, &self.out.weight, b)?;
        let mut steps: Vec<Vec<u32>> = Vec::with_capacity(len);
        for _ in 0..len {
            h = self.gru.step(&self.inputs(&prev, z)?, &h)?;
            let logits = self.out.forward(&h)?;
            let next: Vec<u32> = match greedy {
                true => logits.argmax(D::Minus1)?.to_vec1()?,
                false => gen_dist::dist::Categorical::new(logits)
                    .sample(rng)?
                    .to_vec1()?,
            };
            let f: Vec<f32> = next.iter().map(|&c| c as f32).collect();
            prev = Tensor::from_vec(f, b, device)?;
            steps.push(next);
        }
        // Row by row: the characters up to the first end token, then padding.
        let mut flat = Vec::with_capacity(b * len);
        for i in 0..b {
            let mut ended = false;
            for step in &steps {
                let c = if ended { PAD } else { step[i] };
                flat.push(c as f32);
                ended |= step[i] == END;
            }
        }
        Tensor::from_vec(flat, (b, len), device)
    }
}

/// `-log q(x|.)` per example `(B,)` from the last hidden layer's rows `(B L, width)`
/// through the output layer `out`, for target ids `x` `(B, L)`: the characters' negative
/// log-probabilities summed over positions, padding left out (the logits are never stored
/// whole: [`gen_dist::loss::linear_categorical_nll_rows`]; `training`: its gradients are
/// made with it).
pub fn token_nll(hidden: &Tensor, out: &Linear, x: &Tensor, training: bool) -> Result<Tensor> {
    let (b, l) = x.dims2()?;
    let layer = (out.weight.as_tensor(), out.bias.as_tensor());
    linear_categorical_nll_rows(hidden, layer, &x.flatten_all()?, Some(PAD), training)?
        .reshape((b, l))?
        .sum(1)
}

/// The characters counted per example (all but padding), `(B,)` as floats.
pub fn counted(x: &Tensor) -> Result<Tensor> {
    x.to_dtype(DType::U32)?
        .ne(PAD)?
        .to_dtype(DType::F64)?
        .sum(1)
}

/// The most likely character at each position of logit rows `(B L, V)`: id rows `(B, L)`
/// as floats.
pub fn argmax_ids(logits: &Tensor, len: usize) -> Result<Tensor> {
    logits
        .argmax(D::Minus1)?
        .reshape(((), len))?
        .to_dtype(DType::F32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Two positions over three characters, by hand: log-softmax of (0, ln 2, 0) at
    /// position 0 is (-ln 4, ln 2 - ln 4, -ln 4); target 1 costs ln 4 - ln 2 = ln 2.
    /// Position 1's target is padding and costs nothing.
    #[test]
    fn the_categorical_reconstruction_by_hand() {
        let l2 = 2f64.ln();
        // An identity output layer: the hidden rows are the logits.
        let eye = Tensor::eye(3, DType::F64, &Device::Cpu).unwrap();
        let out = Linear {
            weight: candle_core::Var::from_tensor(&eye).unwrap(),
            bias: candle_core::Var::zeros(3, DType::F64, &Device::Cpu).unwrap(),
        };
        let logits = Tensor::new(&[[0.0, l2, 0.0], [5.0, 1.0, 0.0]], &Device::Cpu).unwrap();
        let x = Tensor::new(&[[1f32, PAD as f32]], &Device::Cpu).unwrap();
        let nll: Vec<f64> = token_nll(&logits, &out, &x, false)
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!((nll[0] - l2).abs() < 1e-12, "{nll:?}");
        let x = Tensor::new(&[[1f32, 2.0]], &Device::Cpu).unwrap();
        let nll: Vec<f64> = token_nll(&logits, &out, &x, false)
            .unwrap()
            .to_vec1()
            .unwrap();
        let lse = (5f64.exp() + 1f64.exp() + 1.0).ln();
        assert!((nll[0] - (l2 + lse)).abs() < 1e-12, "{nll:?}");
        assert_eq!(counted(&x).unwrap().to_vec1::<f64>().unwrap(), [2.0]);
    }
}
