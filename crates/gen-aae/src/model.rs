//! The AAE's networks, its two players and its report.
//!
//! A label y marks codes as drawn from the prior q(z) (y = 1) or from the encoder
//! (y = 0). The latent discriminator's logit `l(z)` then estimates `log q(z) / p(z)`, with
//! `p(z)` the aggregate posterior `E_x[p(z|x)]`, so `E_codes[-l]` estimates
//! `KL(p(z) || q(z))`: the latent part of the forward joint KL, which the encoder lowers
//! by pushing `-log D(E(x))` down while the decoder reconstructs x.

use crate::config::{AaeConfig, PriorKind, Reconstruction};
use crate::prior::Prior;
use candle_core::{DType, Device, Tensor};
use gen_core::adversarial::{
    self, generator_loss, GeneratorLoss, Players, RatioEstimates, TwoPlayer,
};
use gen_core::gallery;
use gen_core::model::Batch;
use gen_core::objective::scalar;
use gen_core::{Family, Frame, KlDirection, Model, Report, Result, Rng, Setup, Store, Terms};
use gen_dist::dist::{sample_code, sigmoid};
use gen_dist::loss::{bce_with_logits_per_example, sum_per_example};
use gen_metrics::mmd::{mmd2_unbiased, ImqKernel};
use gen_nn::nn::{widths, Activation, Encode, Encoder, Mlp};
use gen_plot::picture::Picture;

pub struct Aae {
    cfg: AaeConfig,
    /// Its device, dtype and data shape.
    frame: Frame,
    prior: Prior,
    /// `encoder.*`, `decoder.*` and `discriminator.*`, and the two players' optimizers.
    store: Store<Players>,
    encoder: Encoder,
    decoder: Mlp,
    discriminator: Mlp,
}

/// One batch's codes and what the players make of them.
struct Pass {
    /// The codes z ~ p(z|x), tracked for gradients.
    codes: Tensor,
    /// The decoder's output at the codes (logits for `bce`, values for `mse`).
    out: Tensor,
    /// Reconstruction loss per example, batch mean.
    reconstruction: Tensor,
}

impl Family for Aae {
    type Config = AaeConfig;

    fn new(cfg: AaeConfig, setup: &mut Setup<'_>) -> Result<Self> {
        let dim = setup.data.dim();
        let vb = setup.vb();
        let enc_sizes = widths(dim, cfg.hidden.iter().copied(), cfg.latent);
        let encoder = Encoder::new(&vb.pp("encoder"), &enc_sizes, cfg.activation, cfg.encoder)?;
        let dec_sizes = widths(cfg.latent, cfg.hidden.iter().rev().copied(), dim);
        let decoder = Mlp::new(&vb.pp("decoder"), &dec_sizes, cfg.activation)?;
        let prior = Prior::new(&cfg.prior, cfg.latent);
        let d_in = cfg.latent
            + if cfg.prior.supervised {
                prior.components()
            } else {
                0
            };
        let d_sizes = widths(d_in, cfg.d_hidden.iter().copied(), 1);
        let discriminator = Mlp::new(&vb.pp("discriminator"), &d_sizes, Activation::LeakyRelu)?;
        setup.continue_after(&vb);
        let params = vb.params();
        let players = cfg.players(&params, setup, &["encoder.", "decoder."], "ae_optimizer.");
        Ok(Aae {
            store: Store::new(&cfg, KlDirection::Forward, params, players),
            cfg,
            frame: setup.frame(),
            prior,
            encoder,
            decoder,
            discriminator,
        })
    }
}

impl Aae {
    pub fn prior(&self) -> &Prior {
        &self.prior
    }

    /// p(z|x): its mean, and for the Gaussian encoder its log-variance.
    fn posterior(&self, x: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        Ok(self.encoder.encode(x)?)
    }

    /// The code means E[z|x], for pictures and `gen encode`.
    pub fn encode_mean(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.posterior(x)?.0)
    }

    /// The decoder's mean output: pixels in [0, 1] for `bce`, values for `mse`.
    pub fn decode_mean(&self, z: &Tensor) -> Result<Tensor> {
        self.mean_of(self.decoder.forward(z)?)
    }

    /// The decoder's mean from its raw output (logits for `bce`).
    fn mean_of(&self, out: Tensor) -> Result<Tensor> {
        Ok(match self.cfg.reconstruction {
            Reconstruction::Bce => sigmoid(&out)?,
            Reconstruction::Mse => out,
        })
    }

    fn reconstruction(&self, out: &Tensor, x: &Tensor) -> Result<Tensor> {
        Ok(match self.cfg.reconstruction {
            Reconstruction::Bce => bce_with_logits_per_example(out, x)?,
            Reconstruction::Mse => sum_per_example(&(out - x)?.sqr()?)?,
        }
        .mean_all()?)
    }

    fn pass(&self, x: &Tensor, rng: &mut Rng) -> Result<Pass> {
        let codes = sample_code(self.posterior(x)?, rng)?;
        let out = self.decoder.forward(&codes)?;
        let reconstruction = self.reconstruction(&out, x)?;
        Ok(Pass {
            codes,
            out,
            reconstruction,
        })
    }

    /// The prior's components for a batch: the labels in the supervised variant, else
    /// uniform draws.
    fn components(&self, batch: &Batch, rng: &mut Rng) -> Result<Vec<usize>> {
        if self.cfg.prior.supervised {
            let labels = batch.labels.as_ref().ok_or_else(|| {
                gen_core::Error::Msg("the supervised prior needs labelled batches".into())
            })?;
            let v: Vec<u32> = labels.to_dtype(DType::U32)?.to_vec1()?;
            return Ok(v.into_iter().map(|c| c as usize).collect());
        }
        Ok(self.prior.pick(batch.size(), rng))
    }

    /// Prior draws for `components`, as a `(n, latent)` tensor.
    fn prior_draws(&self, components: &[usize], rng: &mut Rng) -> Result<Tensor> {
        let v = self.prior.sample_from(components, rng);
        let draws = Tensor::from_vec(v, (components.len(), self.cfg.latent), &Device::Cpu)?;
        self.frame.here(&draws)
    }

    /// The latent discriminator's logits on codes `z` (with the classes one-hot, in the
    /// supervised variant).
    pub fn logits(&self, z: &Tensor, components: &[usize]) -> Result<Tensor> {
        let input = if self.cfg.prior.supervised {
            let k = self.prior.components();
            let mut onehot = vec![0f32; components.len() * k];
            for (i, &c) in components.iter().enumerate() {
                onehot[i * k + c % k] = 1.0;
            }
            let onehot = Tensor::from_vec(onehot, (components.len(), k), &Device::Cpu)?;
            let onehot = self.frame.here(&onehot)?;
            Tensor::cat(&[z, &onehot], 1)?
        } else {
            z.clone()
        };
        Ok(self.discriminator.forward(&input)?.flatten_all()?)
    }

    /// The encoder's adversarial loss on its codes' logits.
    fn adversarial(&self, code_logits: &Tensor) -> Result<Tensor> {
        Ok(generator_loss(GeneratorLoss::Nonsaturating, code_logits)?)
    }

    /// The MMD kernel for codes of this prior (stated in the README and `gen eval`).
    pub fn kernel(&self) -> ImqKernel {
        ImqKernel::for_prior(self.cfg.latent, self.prior.mean_variance())
    }

    /// Encoder and decoder's terms for one pass and the latent discriminator's logits on
    /// its codes: `recon_weight * reconstruction + adv_weight * (-log D(E(x)))`.
    fn autoencoder_terms(&self, x: &Tensor, pass: &Pass, code_logits: &Tensor) -> Result<Terms> {
        Ok(Terms::estimates(KlDirection::Forward)
            .term(
                "reconstruction",
                pass.reconstruction.clone(),
                self.cfg.recon_weight,
            )
            .metric(
                "aae/adv_loss",
                self.adversarial(code_logits)?,
                self.cfg.adv_weight,
            )
            .number("aae/recon_mse", self.recon_mse(x, &pass.out)?))
    }

    /// Mean squared error per value between `x` and the decoder's mean for output `out`.
    fn recon_mse(&self, x: &Tensor, out: &Tensor) -> Result<f64> {
        let mean = self.mean_of(out.detach())?;
        scalar(&(mean - x)?.sqr()?.mean_all()?)
    }
}

/// The AAE as a two-player game on z: the latent discriminator (prior draws its "real"
/// side, codes its "fake" side) against encoder and decoder.
impl TwoPlayer for Aae {
    gen_core::players_in!(store, "aae");

    fn discriminator_logits(&self, batch: &Batch, rng: &mut Rng) -> Result<(Tensor, Tensor)> {
        let comps = self.components(batch, rng)?;
        let prior = self.prior_draws(&comps, rng)?;
        let codes = sample_code(self.posterior(&self.frame.input(batch)?)?, rng)?.detach();
        Ok((self.logits(&prior, &comps)?, self.logits(&codes, &comps)?))
    }

    fn other_terms(&self, batch: &Batch, rng: &mut Rng) -> Result<Terms> {
        let x = self.frame.input(batch)?;
        let comps = self.components(batch, rng)?;
        let pass = self.pass(&x, rng)?;
        self.autoencoder_terms(&x, &pass, &self.logits(&pass.codes, &comps)?)
    }

    /// Prior draws are the discriminator's "real" side: `E_codes[-l]` estimates
    /// `KL(p(z) || q(z))`.
    fn ratio_terms(&self, est: &RatioEstimates) -> Vec<(&'static str, f64)> {
        vec![("aggregate_latent_kl", est.reverse_kl)]
    }
}

impl Model for Aae {
    gen_core::two_player_model!(store);

    /// On a test batch: reconstruction, the discriminator's estimates, and the unbiased
    /// MMD^2 between the batch's codes and as many prior draws.
    fn evaluate(&self, batch: &Batch, rng: &mut Rng) -> Result<Report> {
        let x = self.frame.input(batch)?;
        let comps = self.components(batch, rng)?;
        let prior = self.prior_draws(&comps, rng)?;
        let pass = self.pass(&x, rng)?;
        let codes = pass.codes.detach();
        let (lp, lc) = (self.logits(&prior, &comps)?, self.logits(&codes, &comps)?);
        let mmd2 = (batch.size() >= 2).then(|| -> Result<f64> {
            let flat = |t: &Tensor| -> Result<Vec<f64>> {
                Ok(t.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?)
            };
            Ok(mmd2_unbiased(
                &flat(&codes)?,
                &flat(&prior)?,
                self.cfg.latent,
                &self.kernel(),
            ))
        });
        let mut terms = self.autoencoder_terms(&x, &pass, &lc)?;
        if let Some(m) = mmd2.transpose()? {
            terms = terms.number("aae/mmd2_to_prior", m);
        }
        adversarial::evaluation_report(self, &lp, &lc, &terms)
    }

    /// A mixture prior's samples as one row of 8 per component, and 2-D codes over the
    /// prior's density.
    fn pictures(&self, batch: &Batch, rng: &mut Rng) -> Result<Vec<(String, Picture)>> {
        let mut out = vec![];
        if self.cfg.prior.kind == PriorKind::Mixture {
            let comps: Vec<usize> = (0..self.prior.components()).flat_map(|c| [c; 8]).collect();
            let z = self.prior_draws(&comps, rng)?;
            if let Some(images) = self.frame.data.as_images(&self.decode_mean(&z)?.detach())? {
                out.push(("samples".to_string(), Picture::grid(&images, 8)?));
            }
        }
        if self.cfg.latent == 2 && batch.size() > 0 {
            let codes = self.encode_mean(&self.frame.input(batch)?)?;
            let (codes, labels) = gallery::code_points(&codes, batch.labels.as_ref())?;
            out.push((
                "codes".to_string(),
                crate::pictures::codes_over_prior(&codes, labels.as_deref(), &self.prior),
            ));
        }
        Ok(out)
    }

    /// Decoder means at codes `z`.
    fn decode(&self, z: &Tensor) -> Result<Option<Tensor>> {
        let z = self.frame.here(z)?;
        Ok(Some(self.decode_mean(&z)?.detach()))
    }

    /// Code means `E[z|x]`.
    fn encode(&self, x: &Tensor) -> Result<Option<Tensor>> {
        let x = self.frame.here(x)?;
        Ok(Some(self.encode_mean(&x)?.detach()))
    }

    /// Decoder means at prior draws (components picked uniformly).
    fn sample(&self, n: usize, rng: &mut Rng) -> Result<Option<Tensor>> {
        let comps = self.prior.pick(n, rng);
        let z = self.prior_draws(&comps, rng)?;
        Ok(Some(self.decode_mean(&z)?.detach()))
    }
}
