//! The text VAE: its networks, its two terms of the joint KL, and what it can draw.

use crate::config::{TextDecoder, TextVaeConfig};
use crate::nets::{argmax_ids, counted, token_nll, CnnEncoder, ConvDecoder, GruDecoder};
use candle_core::{DType, Tensor};
use gen_core::model::Batch;
use gen_core::objective::scalar;
use gen_core::{
    descend, Family, Frame, KlDirection, Model, Report, Result, Rng, Setup, Store, Terms,
};
use gen_dist::dist::DiagGaussian;
use gen_dist::kl;
use gen_nn::optim::Adam;

/// The decoder `q(x|z)`.
pub(crate) enum Decoder {
    Conv(ConvDecoder),
    Gru(GruDecoder),
}

pub struct TextVae {
    pub(crate) cfg: TextVaeConfig,
    pub(crate) frame: Frame,
    /// `encoder.*` (none for the language model) and `decoder.*`, and one Adam.
    store: Store<Adam>,
    pub(crate) encoder: Option<CnnEncoder>,
    pub(crate) decoder: Decoder,
    /// Characters per example (with the end token and padding).
    pub(crate) len: usize,
    kl_weight: f64,
}

impl Family for TextVae {
    type Config = TextVaeConfig;

    fn new(cfg: TextVaeConfig, setup: &mut Setup<'_>) -> Result<Self> {
        let vocab = setup
            .data
            .vocab()
            .ok_or_else(|| gen_core::Error::Msg("the text VAE needs text data".into()))?
            .len();
        let len = setup.data.dim();
        let vb = setup.vb();
        let (width, latent) = (cfg.embedding, cfg.latent);
        let encoder = match latent {
            0 => None,
            _ => Some(CnnEncoder::new(
                &vb.pp("encoder"),
                vocab,
                width,
                cfg.conv_layers,
                latent,
            )?),
        };
        let dvb = vb.pp("decoder");
        let decoder = match cfg.decoder {
            TextDecoder::Conv => Decoder::Conv(ConvDecoder::new(&dvb, latent, len, width, vocab)?),
            TextDecoder::Gru => {
                Decoder::Gru(GruDecoder::new(&dvb, latent, width, cfg.gru_hidden, vocab)?)
            }
        };
        setup.continue_after(&vb);
        let params = vb.params();
        let opt = Adam::new(params.vars(), setup.optimizer.clone());
        Ok(TextVae {
            store: Store::new(&cfg, KlDirection::Forward, params, opt),
            kl_weight: cfg.beta,
            cfg,
            frame: setup.frame(),
            encoder,
            decoder,
            len,
        })
    }
}

impl TextVae {
    /// `p(z|x)` for id rows `x`, or `None` without a code.
    pub fn posterior(&self, x: &Tensor) -> Result<Option<DiagGaussian>> {
        match &self.encoder {
            Some(e) => {
                let (mean, logvar) = e.forward(x)?;
                Ok(Some(DiagGaussian::new(mean, logvar)))
            }
            None => Ok(None),
        }
    }

    /// `-log q(x|z)` per example `(B,)` at codes `z` (`None`: the language model) for
    /// ids `x`. `train`: a training step, with its rng (the GRU's character dropout); the
    /// output layer then makes its gradients with the values.
    pub(crate) fn nll(
        &self,
        z: Option<&Tensor>,
        x: &Tensor,
        train: Option<&mut Rng>,
    ) -> Result<Tensor> {
        let training = train.is_some();
        let (hidden, out) = match &self.decoder {
            Decoder::Conv(d) => (d.hidden(z.expect("the conv decoder has a code"))?, d.out()),
            Decoder::Gru(d) => {
                let p = self.cfg.char_dropout;
                let thin = train.filter(|_| p > 0.0).map(|rng| (p, rng));
                (d.hidden(z, x, thin)?, d.out())
            }
        };
        Ok(token_nll(&hidden, out, x, training)?)
    }

    /// The terms on ids `x`: `reconstruction` `E[-log q(x|z)]` and `latent_kl`
    /// `KL(p(z|x) || N(0, I))` (analytic) at weight `kl_weight`, per example; the ELBO per
    /// character as a metric. `train`: character dropout on.
    fn terms(&self, x: &Tensor, kl_weight: f64, rng: &mut Rng, train: bool) -> Result<Terms> {
        let q = self.posterior(x)?;
        let z = q.as_ref().map(|q| q.rsample(rng)).transpose()?;
        let reconstruction = self.nll(z.as_ref(), x, train.then_some(rng))?.mean_all()?;
        let chars = scalar(&counted(x)?.mean_all()?)?;
        let mut terms = Terms::additive(KlDirection::Forward);
        let mut total = scalar(&reconstruction)?;
        terms = terms.term("reconstruction", reconstruction, 1.0);
        if let Some(q) = &q {
            let latent_kl = match self.cfg.free_bits {
                lambda if train && lambda > 0.0 => free_bits_kl(q, lambda)?,
                _ => kl::gaussian_std_normal(q)?.mean_all()?,
            };
            total += scalar(&latent_kl)?;
            terms = terms.term("latent_kl", latent_kl, kl_weight);
        }
        Ok(terms.number("text/elbo_nats_per_char", total / chars.max(1.0)))
    }

    /// Prior draws `(n, latent)`, or `None` without a code.
    fn prior(&self, n: usize, rng: &mut Rng) -> Result<Option<Tensor>> {
        match self.cfg.latent {
            0 => Ok(None),
            d => Ok(Some(rng.randn(
                (n, d),
                self.frame.dtype,
                &self.frame.device,
            )?)),
        }
    }

    /// Id rows `(n, L)` from codes `z` (`None`: the language model): the conv decoder's
    /// most likely character per position (Su's way), the GRU's characters one after
    /// another, drawn (`greedy`: the most likely).
    pub fn generate(
        &self,
        z: Option<&Tensor>,
        n: usize,
        greedy: bool,
        rng: &mut Rng,
    ) -> Result<Tensor> {
        Ok(match &self.decoder {
            Decoder::Conv(d) => argmax_ids(
                &d.forward(z.expect("the conv decoder has a code"))?,
                self.len,
            )?,
            Decoder::Gru(d) => d.generate(z, n, self.len, greedy, rng)?,
        })
    }
}

/// The batch's KL with the gradient of its free-bits form: the value is the ELBO's (so the
/// logged loss stays -ELBO), the descent direction the floored one's.
fn free_bits_kl(q: &DiagGaussian, lambda: f64) -> Result<Tensor> {
    let per_dim = kl::gaussian_std_normal_per_dim(q)?;
    let kl = per_dim.sum(1)?.mean_all()?;
    let floored = kl::free_bits(&per_dim, lambda)?;
    Ok((&floored + (kl - &floored)?.detach())?)
}

impl Model for TextVae {
    gen_core::stored_in!(store);

    fn train_step(&mut self, batch: &Batch, rng: &mut Rng) -> Result<Report> {
        let terms = self.terms(&self.frame.input(batch)?, self.kl_weight, rng, true)?;
        descend(&mut self.store.opt, &terms)
    }

    fn evaluate(&self, batch: &Batch, rng: &mut Rng) -> Result<Report> {
        self.terms(&self.frame.input(batch)?, self.cfg.beta, rng, false)?
            .report()
    }

    fn set_epoch(&mut self, epoch: usize) {
        self.kl_weight = self.cfg.kl_weight(epoch);
    }

    fn eval_metrics(
        &self,
        batch: &Batch,
        options: &gen_core::EvalOptions,
        rng: &mut Rng,
    ) -> Result<Vec<(String, f64)>> {
        self.likelihood_rows(&self.frame.input(batch)?, options.importance_samples, rng)
    }

    /// The code means `E[z|x]` (none for the language model).
    fn encode(&self, x: &Tensor) -> Result<Option<Tensor>> {
        let q = self.posterior(&self.frame.here(x)?)?;
        Ok(q.map(|q| q.mean.detach()))
    }

    /// The most likely characters given codes `z`, as id rows.
    fn decode(&self, z: &Tensor) -> Result<Option<Tensor>> {
        if self.cfg.latent == 0 {
            return Ok(None);
        }
        let z = self.frame.here(z)?;
        let mut rng = Rng::new(0); // greedy decoding draws nothing
        Ok(Some(self.generate(Some(&z), z.dim(0)?, true, &mut rng)?))
    }

    /// Id rows decoded from prior draws (the language model: drawn from nothing).
    fn sample(&self, n: usize, rng: &mut Rng) -> Result<Option<Tensor>> {
        let z = self.prior(n, rng)?;
        Ok(Some(
            self.generate(z.as_ref(), n, false, rng)?
                .to_dtype(DType::F32)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// The value is the batch's KL; the gradient is the floored KL's: by hand, a batch of
    /// two with code means (a, 0) and (b, 0.2) at unit variance has per-dimension KLs
    /// m^2 / 2, batch means (a^2 + b^2) / 4 and 0.01; with lambda 0.05 only the first
    /// dimension is above the floor, and its gradient is m / B.
    #[test]
    fn free_bits_keeps_the_kl_value_and_floors_its_gradient() {
        let d = Device::Cpu;
        let mean =
            Var::from_tensor(&Tensor::new(&[[0.6f64, 0.0], [0.4, 0.2]], &d).unwrap()).unwrap();
        let logvar = Tensor::zeros((2, 2), DType::F64, &d).unwrap();
        let q = DiagGaussian::new(mean.as_tensor().clone(), logvar);
        let kl = free_bits_kl(&q, 0.05).unwrap();
        let want = (0.36 + 0.16 + 0.04) / 2.0 / 2.0;
        let got = kl.to_scalar::<f64>().unwrap();
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        let grads = kl.backward().unwrap();
        let g: Vec<Vec<f64>> = grads.get(mean.as_tensor()).unwrap().to_vec2().unwrap();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(g[0][0], 0.3) && close(g[1][0], 0.2), "{g:?}");
        assert!(close(g[0][1], 0.0) && close(g[1][1], 0.0), "{g:?}");
    }
}
