//! The VAE's networks, its joint-KL terms and its training step.

use crate::config::{
    DecoderKind, DecoderVariance, KlEstimator, Network, Objective, VaeConfig, VaeEncoder,
};
use crate::conv::{ConvDecoder, ConvEncoder};
use crate::prior::{Components, Prior};
use candle_core::{DType, Device, Tensor, Var};
use gen_core::gallery;
use gen_core::model::Batch;
use gen_core::{
    descend, Family, Frame, KlDirection, Model, Report, Result, Rng, Setup, Store, Terms,
};
use gen_dist::dist::{sigmoid, DiagGaussian, LN_2PI};
use gen_dist::kl;
use gen_dist::local_vi::LocalTable;
use gen_dist::loss::{bce_with_logits_per_example, logsumexp_keepdim, sum_per_example};
use gen_nn::nn::{widths, Encode, Encoder, Mlp, ModuleT};
use gen_nn::optim::Adam;
use gen_nn::vars::Init;
use gen_plot::picture::Picture;

/// Where `encoder: free`'s table of per-example Gaussians lives in a checkpoint (beside
/// `model.` and `optimizer.`).
pub const TABLE_PREFIX: &str = "local.";

pub struct Vae {
    pub(crate) cfg: VaeConfig,
    /// Its device, dtype and data shape.
    pub(crate) frame: Frame,
    /// The encoder's and decoder's parameters and their Adam.
    pub(crate) store: Store<Adam>,
    /// The MLP or conv encoder; none with `encoder: free`.
    encoder: Option<Box<dyn Encode + Send + Sync>>,
    /// The Gaussian decoder's learned log standard deviation per coordinate.
    log_sigma: Option<Var>,
    /// Number of classes conditioned on (0: not conditional).
    classes: usize,
    /// The MLP or transposed-conv decoder.
    decoder: Box<dyn ModuleT + Send + Sync>,
    /// `encoder: free`: every training example's own Gaussian.
    pub(crate) local: Option<LocalTable>,
    /// The weight of `latent_kl` in training steps: `beta`, or less during a KL warm-up.
    pub(crate) kl_weight: f64,
    /// `q(z)`: N(0, I) or learned (its parameters in `store`, under `prior.`).
    prior: Prior,
}

impl Family for Vae {
    type Config = VaeConfig;

    fn new(cfg: VaeConfig, setup: &mut Setup<'_>) -> Result<Self> {
        let dim = setup.data.dim();
        // The conditional VAE appends the one-hot class to the encoder's and decoder's inputs.
        let classes = if cfg.conditional {
            setup.data.classes.ok_or_else(|| {
                gen_core::Error::Msg(format!(
                    "`{}` has no labels to condition on",
                    setup.data.name
                ))
            })?
        } else {
            0
        };
        let vb = setup.vb();
        let (encoder, decoder) = match cfg.network {
            Network::Conv => (
                Some(Box::new(ConvEncoder::new(&vb.pp("encoder"), cfg.latent)?)
                    as Box<dyn Encode + Send + Sync>),
                Box::new(ConvDecoder::new(&vb.pp("decoder"), cfg.latent)?)
                    as Box<dyn ModuleT + Send + Sync>,
            ),
            Network::Mlp => {
                let encoder = match cfg.encoder.network() {
                    Some(kind) => {
                        let sizes = widths(dim + classes, cfg.hidden.iter().copied(), cfg.latent);
                        let encoder =
                            Encoder::new(&vb.pp("encoder"), &sizes, cfg.activation, kind)?;
                        Some(Box::new(encoder) as Box<dyn Encode + Send + Sync>)
                    }
                    None => None,
                };
                let dec_sizes = widths(cfg.latent + classes, cfg.hidden.iter().rev().copied(), dim);
                let decoder = Mlp::new(&vb.pp("decoder"), &dec_sizes, cfg.activation)?;
                (encoder, Box::new(decoder) as Box<dyn ModuleT + Send + Sync>)
            }
        };
        let log_sigma = match cfg.decoder_variance {
            DecoderVariance::Learned => Some(vb.pp("decoder").var(
                dim,
                "log_sigma",
                Init::Const(cfg.decoder_sigma.ln()),
            )?),
            DecoderVariance::Fixed => None,
        };
        // Made last, so that a standard prior (no parameters) leaves the others' draws as
        // they were before learned priors existed.
        let prior = Prior::new(&cfg.prior, &vb.pp("prior"), cfg.latent, dim)?;
        setup.continue_after(&vb);
        let params = vb.params();
        let opt = Adam::new(params.vars(), setup.optimizer.clone());
        let local = (cfg.encoder == VaeEncoder::Free)
            .then(|| LocalTable::new(setup.data.train_size, cfg.latent));
        Ok(Vae {
            prior,
            local,
            log_sigma,
            kl_weight: cfg.beta,
            store: Store::new(&cfg, KlDirection::Forward, params, opt),
            cfg,
            frame: setup.frame(),
            encoder,
            decoder,
            classes,
        })
    }
}

impl Vae {
    /// p(z|x) for inputs `x` of shape `(B, dim)`; an error for the plain autoencoder
    /// (`encoder: deterministic`), which has only [`Vae::code_mean`].
    pub fn posterior(&self, x: &Tensor) -> Result<DiagGaussian> {
        self.posterior_given(x, None)
    }

    /// p(z|x, y) for the conditional VAE (`y` one-hot rows), p(z|x) with `None`.
    pub fn posterior_given(&self, x: &Tensor, y: Option<&Tensor>) -> Result<DiagGaussian> {
        match self.encode_given(x, y)? {
            (mean, Some(logvar)) => Ok(DiagGaussian::new(mean, logvar)),
            (_, None) => Err(gen_core::Error::Msg(
                "a deterministic encoder has no posterior distribution".into(),
            )),
        }
    }

    /// The code's mean E[z|x] (the code itself for the plain autoencoder).
    pub fn code_mean(&self, x: &Tensor) -> Result<Tensor> {
        self.code_mean_given(x, None)
    }

    pub fn code_mean_given(&self, x: &Tensor, y: Option<&Tensor>) -> Result<Tensor> {
        Ok(self.encode_given(x, y)?.0)
    }

    /// The encoder's mean and log-variance at `x` (and `y`); an error without an encoder.
    fn encode_given(&self, x: &Tensor, y: Option<&Tensor>) -> Result<(Tensor, Option<Tensor>)> {
        let encoder = self.encoder.as_ref().ok_or_else(|| {
            gen_core::Error::Msg(
                "encoder: free has no network to give p(z|x) of a new x; its Gaussian is fitted (gen eval --refine)".into(),
            )
        })?;
        Ok(encoder.encode(&join(x, y)?)?)
    }

    /// The decoder's output: logits (Bernoulli) or means (Gaussian).
    pub fn decoder_output(&self, z: &Tensor) -> Result<Tensor> {
        self.decoder_output_given(z, None)
    }

    /// The decoder's output at codes `z` and (conditional VAE) classes `y`, one-hot.
    pub fn decoder_output_given(&self, z: &Tensor, y: Option<&Tensor>) -> Result<Tensor> {
        Ok(self.decoder.forward_t(&join(z, y)?, false)?)
    }

    /// The decoder's mean image E[x|z], in [0, 1] for Bernoulli.
    pub fn decode_mean(&self, z: &Tensor) -> Result<Tensor> {
        self.decode_mean_given(z, None)
    }

    pub fn decode_mean_given(&self, z: &Tensor, y: Option<&Tensor>) -> Result<Tensor> {
        let out = self.decoder_output_given(z, y)?;
        Ok(match self.cfg.decoder {
            DecoderKind::Bernoulli => sigmoid(&out)?,
            DecoderKind::Gaussian => out,
        })
    }

    /// -log q(x|z) per example.
    pub(crate) fn neg_log_likelihood(&self, out: &Tensor, x: &Tensor) -> Result<Tensor> {
        Ok(match self.cfg.decoder {
            DecoderKind::Bernoulli => bce_with_logits_per_example(out, x)?,
            DecoderKind::Gaussian => match &self.log_sigma {
                None => {
                    let s = self.cfg.decoder_sigma;
                    let sq = ((out - x)?.sqr()? * (0.5 / (s * s)))?;
                    (sum_per_example(&sq)? + x.dim(1)? as f64 * (s.ln() + 0.5 * LN_2PI))?
                }
                // sum_j (x_j - mu_j)^2 / (2 sigma_j^2) + log sigma_j + log(2 pi) / 2
                Some(log_sigma) => {
                    let inv_var = (log_sigma.as_tensor() * -2.0)?.exp()?;
                    let sq = ((out - x)?.sqr()?.broadcast_mul(&inv_var)? * 0.5)?;
                    let per_dim = (sq.broadcast_add(log_sigma.as_tensor())? + 0.5 * LN_2PI)?;
                    sum_per_example(&per_dim)?
                }
            },
        })
    }

    /// log q(x|z) per example, for decoder outputs `out`.
    pub fn log_likelihood(&self, out: &Tensor, x: &Tensor) -> Result<Tensor> {
        Ok(self.neg_log_likelihood(out, x)?.neg()?)
    }

    /// The objective's terms on `x`, drawing the reparameterization noise from `rng`.
    pub fn terms(&self, x: &Tensor, rng: &mut Rng) -> Result<Terms> {
        self.terms_given(x, None, rng)
    }

    /// The terms with the classes `y` (one-hot) conditioned on, for the conditional VAE.
    pub fn terms_given(&self, x: &Tensor, y: Option<&Tensor>, rng: &mut Rng) -> Result<Terms> {
        self.terms_weighted(x, y, self.cfg.beta, rng)
    }

    /// The joint-KL decomposition on `x`: `reconstruction = E[-log q(x|z)]` and
    /// `latent_kl = KL(p(z|x) || q(z))`, the latter weighted by `kl_weight` in the loss
    /// (the report's terms stay unweighted). With `objective: iwae` both are reported
    /// only and the loss is minus `vae/iwae_bound`; a deterministic encoder has only
    /// `reconstruction`.
    fn terms_weighted(
        &self,
        x: &Tensor,
        y: Option<&Tensor>,
        kl_weight: f64,
        rng: &mut Rng,
    ) -> Result<Terms> {
        let terms = Terms::additive(KlDirection::Forward);
        if self.cfg.encoder == VaeEncoder::Deterministic {
            // A point-mass posterior has no finite KL: the objective is the reconstruction.
            let reconstruction = self
                .neg_log_likelihood(
                    &self.decoder_output_given(&self.code_mean_given(x, y)?, y)?,
                    x,
                )?
                .mean_all()?;
            return Ok(terms.term("reconstruction", reconstruction, 1.0));
        }
        let q = self.posterior_given(x, y)?;
        self.terms_of(&q, x, y, kl_weight, rng)
    }

    /// The terms for the Gaussians `q` of the rows of `x` (the encoder's, or free ones).
    pub(crate) fn terms_of(
        &self,
        q: &DiagGaussian,
        x: &Tensor,
        y: Option<&Tensor>,
        kl_weight: f64,
        rng: &mut Rng,
    ) -> Result<Terms> {
        let terms = Terms::additive(KlDirection::Forward);
        let m = self.cfg.samples;
        let (post, xs, ys) = if m == 1 {
            (q.clone(), x.clone(), y.cloned())
        } else {
            let rep = |t: &Tensor| t.repeat((m, 1));
            let ys = y.map(rep).transpose()?;
            (
                DiagGaussian::new(rep(&q.mean)?, rep(&q.logvar)?),
                rep(x)?,
                ys,
            )
        };
        let z = post.rsample(rng)?;
        let nll = self.neg_log_likelihood(&self.decoder_output_given(&z, ys.as_ref())?, &xs)?;
        let log_prior = || self.prior_log_density(&z);
        let reconstruction = nll.mean_all()?;
        let latent_kl = match self.cfg.kl {
            KlEstimator::Analytic => kl::gaussian_std_normal(q)?,
            KlEstimator::Sampled => kl::monte_carlo(&post.log_prob(&z)?, &log_prior()?)?,
        }
        .mean_all()?;
        Ok(match self.cfg.objective {
            Objective::Elbo => terms.term("reconstruction", reconstruction, 1.0).term(
                "latent_kl",
                latent_kl,
                kl_weight,
            ),
            Objective::Iwae => {
                // Rows are m blocks of the batch: log w as (m, B), log-mean-exp over m.
                let log_w =
                    ((log_prior()? - post.log_prob(&z)?)? - &nll)?.reshape((m, x.dim(0)?))?;
                let bound = (logsumexp_keepdim(&log_w, 0)? - (m as f64).ln())?.mean_all()?;
                terms
                    .term("reconstruction", reconstruction, 0.0)
                    .term("latent_kl", latent_kl, 0.0)
                    .metric("vae/iwae_bound", bound, -1.0)
            }
        })
    }

    /// The batch's classes one-hot, for the conditional VAE (`None` otherwise).
    pub fn condition(&self, batch: &Batch) -> Result<Option<Tensor>> {
        if self.classes == 0 {
            return Ok(None);
        }
        let labels = batch.labels.as_ref().ok_or_else(|| {
            gen_core::Error::Msg("the conditional VAE needs labelled batches".into())
        })?;
        let labels: Vec<u32> = labels.to_dtype(DType::U32)?.to_vec1()?;
        Ok(Some(self.one_hot(&labels)?))
    }

    /// Classes as one-hot rows `(n, classes)`.
    pub fn one_hot(&self, classes: &[u32]) -> Result<Tensor> {
        let k = self.classes;
        let mut v = vec![0f32; classes.len() * k];
        for (i, &c) in classes.iter().enumerate() {
            v[i * k + (c as usize).min(k - 1)] = 1.0;
        }
        self.frame
            .here(&Tensor::from_vec(v, (classes.len(), k), &Device::Cpu)?)
    }

    /// A learned prior as a mixture of diagonal Gaussians (the VampPrior's are the
    /// encoder's posteriors at its pseudo-inputs); `None` for N(0, I).
    pub(crate) fn prior_components(&self) -> Result<Option<Components>> {
        Ok(match &self.prior {
            Prior::Standard => None,
            Prior::Mixture {
                means,
                logvars,
                logits,
            } => Some(Components::of_mixture(means, logvars, logits)?),
            Prior::Vamp { .. } => {
                let u = self.prior.pseudo_inputs()?.expect("a VampPrior has them");
                let q = self.posterior(&u)?;
                Some(Components::uniform(q.mean, q.logvar)?)
            }
        })
    }

    /// `log q(z)` of each row of `z`.
    pub(crate) fn prior_log_density(&self, z: &Tensor) -> Result<Tensor> {
        match self.prior_components()? {
            Some(c) => c.log_density(z),
            None => Ok(DiagGaussian::standard_like(z)?.log_prob(z)?),
        }
    }

    /// `n` draws of z from the prior.
    fn prior_sample(&self, n: usize, rng: &mut Rng) -> Result<Tensor> {
        match self.prior_components()? {
            Some(c) => Ok(c.detach().sample(n, rng)?),
            None => Ok(rng.randn((n, self.cfg.latent), self.frame.dtype, &self.frame.device)?),
        }
    }

    /// The VampPrior's pseudo-inputs, for a picture (`None` for other priors).
    pub fn pseudo_inputs(&self) -> Result<Option<Tensor>> {
        self.prior.pseudo_inputs()
    }

    /// Decoder means at `n` prior draws for the given classes (cycled), or unconditionally.
    fn sample_classes(&self, n: usize, classes: Option<&[u32]>, rng: &mut Rng) -> Result<Tensor> {
        let z = self.prior_sample(n, rng)?;
        let y = match classes {
            Some(c) if self.classes > 0 => {
                let cycled: Vec<u32> = (0..n).map(|i| c[i % c.len()]).collect();
                Some(self.one_hot(&cycled)?)
            }
            _ => None,
        };
        Ok(self.decode_mean_given(&z, y.as_ref())?.detach())
    }
}

/// `t` with the one-hot classes `y` appended as columns (unchanged without them).
fn join(t: &Tensor, y: Option<&Tensor>) -> Result<Tensor> {
    Ok(match y {
        Some(y) => Tensor::cat(&[t, y], 1)?,
        None => t.clone(),
    })
}

impl Model for Vae {
    fn objective(&self) -> String {
        match self.cfg.encoder {
            VaeEncoder::Deterministic => {
                "reconstruction only, E[-log q(x|z)] at z = f(x): a plain \
                autoencoder (no KL term, so no bound on KL(p(x,z) || q(x,z)))"
                    .to_string()
            }
            _ => self.direction().to_string(),
        }
    }

    gen_core::stored_in!(store);

    fn train_step(&mut self, batch: &Batch, rng: &mut Rng) -> Result<Report> {
        if self.local.is_some() {
            return self.free_train_step(batch, rng);
        }
        let x = self.frame.input(batch)?;
        let y = self.condition(batch)?;
        let terms = self.terms_weighted(&x, y.as_ref(), self.kl_weight, rng)?;
        descend(&mut self.store.opt, &terms)
    }

    fn evaluate(&self, batch: &Batch, rng: &mut Rng) -> Result<Report> {
        if self.local.is_some() {
            return self.free_evaluate(batch, rng);
        }
        let y = self.condition(batch)?;
        self.terms_given(&self.frame.input(batch)?, y.as_ref(), rng)?
            .report()
    }

    /// The conditional VAE's samples (a row of 8 per class) and reconstructions (given
    /// the class); a 2-D code's scatter and decoded manifold.
    fn pictures(&self, batch: &Batch, rng: &mut Rng) -> Result<Vec<(String, Picture)>> {
        let mut out = vec![];
        if self.classes > 0 {
            let classes: Vec<u32> = (0..self.classes as u32).flat_map(|c| [c; 8]).collect();
            let samples = self.sample_classes(classes.len(), Some(&classes), rng)?;
            if let Some(samples) = self.frame.data.as_images(&samples)? {
                out.push(("samples".to_string(), Picture::grid(&samples, 8)?));
            }
            let n = batch.size().min(gallery::RECONSTRUCTIONS);
            if n > 0 {
                let x = self.frame.input(batch)?.narrow(0, 0, n)?;
                let y = self
                    .condition(batch)?
                    .map(|y| y.narrow(0, 0, n))
                    .transpose()?;
                let recon = self
                    .decode_mean_given(&self.code_mean_given(&x, y.as_ref())?, y.as_ref())?
                    .detach();
                if let (Some(xi), Some(ri)) = (
                    self.frame.data.as_images(&x)?,
                    self.frame.data.as_images(&recon)?,
                ) {
                    out.push((
                        "reconstructions".to_string(),
                        Picture::reconstructions(&xi, &ri)?,
                    ));
                }
            }
        }
        if self.cfg.latent == 2 && batch.size() > 0 && self.classes == 0 && self.local.is_none() {
            out.extend(self.latent_pictures(batch)?);
        }
        // The VampPrior's pseudo-inputs, as the encoder sees them.
        if let Some(u) = self.prior.pseudo_inputs()? {
            let shown = u.narrow(0, 0, u.dim(0)?.min(100))?;
            if let Some(images) = self.frame.data.as_images(&shown)? {
                out.push(("pseudo_inputs".to_string(), Picture::grid(&images, 10)?));
            }
        }
        Ok(out)
    }

    fn set_epoch(&mut self, epoch: usize) {
        self.kl_weight = self.cfg.beta * self.cfg.kl_warmup_scale(epoch);
    }

    /// `nll/importance`: minus the importance-sampled bound on log q(x) with
    /// `options.importance_samples` samples (nats per example; the free model samples from
    /// each example's fitted Gaussian), and `vae/kl_dim_<i>`: the analytic
    /// KL(p(z_i|x) || N(0, 1)) of each latent coordinate (models with an encoder).
    fn eval_metrics(
        &self,
        batch: &Batch,
        options: &gen_core::EvalOptions,
        rng: &mut Rng,
    ) -> Result<Vec<(String, f64)>> {
        if self.local.is_some() {
            // No encoder: the proposal is each example's Gaussian fitted from the prior, as
            // for the test report.
            let x = self.frame.input(batch)?;
            let q = self.fit_from_prior(&x, self.cfg.test_steps(), rng)?;
            let ll = self.log_likelihood_is_with(&q, &x, None, options.importance_samples, rng)?;
            let nll = -ll.iter().sum::<f64>() / ll.len().max(1) as f64;
            return Ok(vec![("nll/importance".to_string(), nll)]);
        }
        if self.cfg.encoder == VaeEncoder::Deterministic {
            return Ok(vec![]); // no posterior: no likelihood bound, no KL
        }
        let x = self.frame.input(batch)?;
        let y = self.condition(batch)?;
        let ll = self.log_likelihood_is_given(&x, y.as_ref(), options.importance_samples, rng)?;
        let mut out = vec![(
            "nll/importance".to_string(),
            -ll.iter().sum::<f64>() / ll.len().max(1) as f64,
        )];
        let q = self.posterior_given(&x, y.as_ref())?;
        // 0.5 (mu^2 + sigma^2 - 1 - log sigma^2) per coordinate, averaged over examples.
        let per_dim = ((((q.mean.sqr()? + q.logvar.exp()?)? - 1.0)? - &q.logvar)? * 0.5)?
            .mean(0)?
            .to_dtype(DType::F64)?
            .to_vec1::<f64>()?;
        for (i, v) in per_dim.into_iter().enumerate() {
            out.push((format!("vae/kl_dim_{i:02}"), v));
        }
        Ok(out)
    }

    /// Decoder means `E[x|z]`.
    fn decode(&self, z: &Tensor) -> Result<Option<Tensor>> {
        if self.classes > 0 {
            return Ok(None); // the decoder needs a class
        }
        let z = self.frame.here(z)?;
        Ok(Some(self.decode_mean(&z)?.detach()))
    }

    /// Each example's Gaussian fitted on its own against the encoder's (not for the plain
    /// autoencoder, which has no posterior).
    fn refine(
        &self,
        batch: &Batch,
        options: &gen_core::RefineOptions,
        rng: &mut Rng,
        on_steps: &mut dyn FnMut(usize),
    ) -> Result<Option<gen_core::Refinement>> {
        if self.cfg.encoder == VaeEncoder::Deterministic {
            return Ok(None);
        }
        Ok(Some(self.refine_batch(batch, options, rng, on_steps)?))
    }

    /// Posterior means of `p(z|x)`.
    fn encode(&self, x: &Tensor) -> Result<Option<Tensor>> {
        if self.classes > 0 || self.local.is_some() {
            // The conditional encoder needs the class, so its codes are not features; a
            // free model has no encoder.
            return Ok(None);
        }
        let x = self.frame.here(x)?;
        Ok(Some(self.code_mean(&x)?.detach()))
    }

    /// With the free table (`encoder: free`), the parameters, the decoder's Adam and the
    /// examples' Gaussians with their own Adam (under `local.`).
    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut s = self.params().export(gen_core::model::PARAMS_PREFIX);
        s.extend(self.optimizers().export()?);
        if let Some(t) = &self.local {
            s.extend(t.export(TABLE_PREFIX)?);
        }
        Ok(s)
    }

    fn load_state(&mut self, state: &std::collections::HashMap<String, Tensor>) -> Result<()> {
        self.params().load(gen_core::model::PARAMS_PREFIX, state)?;
        self.optimizers_mut().load(state)?;
        if let Some(t) = &mut self.local {
            t.load(TABLE_PREFIX, state)?;
        }
        Ok(())
    }

    /// Decoder means `E[x|z]` at prior draws `z ~ N(0, I)` (the conditional VAE cycles
    /// through the classes).
    fn sample(&self, n: usize, rng: &mut Rng) -> Result<Option<Tensor>> {
        let all: Vec<u32> = (0..self.classes as u32).collect();
        Ok(Some(self.sample_classes(n, Some(&all), rng)?))
    }

    fn sample_class(&self, n: usize, class: usize, rng: &mut Rng) -> Result<Option<Tensor>> {
        if self.classes == 0 {
            return Ok(None);
        }
        Ok(Some(self.sample_classes(n, Some(&[class as u32]), rng)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gen_core::model::DataInfo;

    use gen_nn::optim::OptimizerConfig;

    fn tiny(decoder: DecoderKind, kl: KlEstimator, samples: usize) -> Vae {
        tiny_with(decoder, kl, samples, Objective::Elbo, 1.3)
    }

    fn tiny_with(
        decoder: DecoderKind,
        kl: KlEstimator,
        samples: usize,
        objective: Objective,
        beta: f64,
    ) -> Vae {
        let cfg = VaeConfig {
            family: "vae".into(),
            hidden: vec![4],
            latent: 2,
            activation: Default::default(),
            decoder,
            decoder_sigma: 0.7,
            kl,
            beta,
            samples,
            objective,
            encoder: Default::default(),
            conditional: false,
            decoder_variance: Default::default(),
            network: Default::default(),
            kl_warmup_epochs: 0,
            local_lr: None,
            local_steps: None,
            test_steps: None,
            prior: Default::default(),
        };
        let data = DataInfo::points("test", 5, 1000);
        Vae::new(
            cfg,
            &mut Setup {
                dtype: DType::F64,
                ..Setup::cpu(&data, &OptimizerConfig::default(), &mut Rng::new(11))
            },
        )
        .unwrap()
    }

    /// Backpropagated gradients equal central finite differences of the loss, for every
    /// parameter element, with the reparameterization noise held fixed.
    #[test]
    fn gradient_matches_finite_differences() {
        let x = Tensor::new(
            &[
                [0.1f64, 0.9, 0.4, 0.0, 1.0],
                [0.6, 0.2, 0.8, 0.3, 0.5],
                [1.0, 0.0, 0.5, 0.7, 0.2],
            ],
            &Device::Cpu,
        )
        .unwrap();
        for (dec, kl, m, objective, beta) in [
            (
                DecoderKind::Bernoulli,
                KlEstimator::Analytic,
                1,
                Objective::Elbo,
                1.3,
            ),
            (
                DecoderKind::Gaussian,
                KlEstimator::Sampled,
                2,
                Objective::Elbo,
                1.3,
            ),
            (
                DecoderKind::Bernoulli,
                KlEstimator::Analytic,
                3,
                Objective::Iwae,
                1.0,
            ),
        ] {
            let vae = tiny_with(dec, kl, m, objective, beta);
            let checked = assert_gradients_match(&vae, &x, 1e-6, None);
            assert_eq!(
                checked,
                vae.store.params.count(),
                "{dec:?}/{kl:?}/{objective:?}"
            );
        }
        // The learned-variance Gaussian decoder, its log sigma included.
        let vae = learned_variance();
        assert_eq!(
            assert_gradients_match(&vae, &x, 1e-6, None),
            vae.store.params.count()
        );
    }

    /// The tiny VAE with a learned prior (KL by Monte Carlo, as a learned prior needs).
    fn with_prior(kind: crate::config::PriorKind, components: usize, objective: Objective) -> Vae {
        let mut vae = tiny_with(
            DecoderKind::Bernoulli,
            KlEstimator::Sampled,
            if objective == Objective::Iwae { 3 } else { 1 },
            objective,
            1.0,
        );
        let mut cfg = vae.cfg.clone();
        cfg.prior = crate::config::PriorConfig { kind, components };
        gen_core::checks::FamilyConfig::validate(&cfg).unwrap();
        let data = DataInfo::points("test", 5, 1000);
        vae = Vae::new(
            cfg,
            &mut Setup {
                dtype: DType::F64,
                ..Setup::cpu(&data, &OptimizerConfig::default(), &mut Rng::new(11))
            },
        )
        .unwrap();
        vae
    }

    /// With a learned prior every parameter's gradient, the prior's included, matches
    /// finite differences (ELBO with the Monte Carlo KL, and the IWAE bound).
    #[test]
    fn learned_priors_gradients_match_finite_differences() {
        use crate::config::PriorKind;
        let x = two_rows();
        for (kind, objective) in [
            (PriorKind::Mixture, Objective::Elbo),
            (PriorKind::Vamp, Objective::Elbo),
            (PriorKind::Vamp, Objective::Iwae),
        ] {
            let vae = with_prior(kind, 3, objective);
            let names: Vec<String> = vae
                .store
                .params
                .named()
                .iter()
                .map(|(n, _)| n.clone())
                .collect();
            assert!(names.iter().any(|n| n.starts_with("prior.")), "{names:?}");
            let checked = assert_gradients_match(&vae, &x, 1e-6, None);
            assert_eq!(checked, vae.store.params.count(), "{kind:?}/{objective:?}");
        }
    }

    /// The VampPrior's log-density is the mixture of the encoder's Gaussians at its
    /// (clamped) pseudo-inputs with weights 1/K, computed here directly in f64.
    #[test]
    fn vamp_log_density_is_the_mixture_of_the_posteriors_at_the_pseudo_inputs() {
        let vae = with_prior(crate::config::PriorKind::Vamp, 3, Objective::Elbo);
        let u = vae.pseudo_inputs().unwrap().unwrap();
        let q = vae.posterior(&u).unwrap();
        let (means, logvars): (Vec<Vec<f64>>, Vec<Vec<f64>>) =
            (q.mean.to_vec2().unwrap(), q.logvar.to_vec2().unwrap());
        let zs = [[0.3f64, -0.7], [-1.2, 0.4]];
        let got: Vec<f64> = vae
            .prior_log_density(&Tensor::new(&zs, &Device::Cpu).unwrap())
            .unwrap()
            .to_vec1()
            .unwrap();
        for (row, z) in zs.iter().enumerate() {
            let want =
                crate::prior::tests::direct_log_density(z, &[1.0 / 3.0; 3], &means, &logvars);
            assert!((got[row] - want).abs() < 1e-10, "{} vs {want}", got[row]);
        }
        // Pseudo-inputs start in [0, 1] near Tomczak and Welling's 0.05.
        let u: Vec<Vec<f64>> = u.to_vec2().unwrap();
        assert!(u.iter().flatten().all(|v| (0.0..=0.2).contains(v)), "{u:?}");
    }

    /// A one-component mixture set by hand to N(0, I) gives the standard prior's terms,
    /// IWAE bound and importance-sampled likelihood on the same draws.
    #[test]
    fn a_one_component_mixture_at_the_origin_is_the_standard_prior() {
        use crate::config::PriorKind;
        let x = two_rows();
        for objective in [Objective::Elbo, Objective::Iwae] {
            let learned = with_prior(PriorKind::Mixture, 1, objective);
            for (name, v) in learned.store.params.named() {
                if name.starts_with("prior.") {
                    v.set(&v.zeros_like().unwrap()).unwrap();
                }
            }
            let standard = tiny_with(
                DecoderKind::Bernoulli,
                KlEstimator::Sampled,
                if objective == Objective::Iwae { 3 } else { 1 },
                objective,
                1.0,
            );
            let a = learned
                .terms(&x, &mut Rng::new(5))
                .unwrap()
                .report()
                .unwrap();
            let b = standard
                .terms(&x, &mut Rng::new(5))
                .unwrap()
                .report()
                .unwrap();
            assert!(
                (a.loss - b.loss).abs() < 1e-12,
                "{objective:?}: {} vs {}",
                a.loss,
                b.loss
            );
            let (ra, ka) = rec_and_kl(&a);
            let (rb, kb) = rec_and_kl(&b);
            assert!(
                (ra - rb).abs() < 1e-12 && (ka - kb).abs() < 1e-12,
                "{objective:?}"
            );
            let la = learned.log_likelihood_is(&x, 7, &mut Rng::new(3)).unwrap();
            let lb = standard.log_likelihood_is(&x, 7, &mut Rng::new(3)).unwrap();
            for (p, q) in la.iter().zip(&lb) {
                assert!((p - q).abs() < 1e-12, "{p} vs {q}");
            }
        }
    }

    /// Checks backpropagated gradients of the loss (reparameterization noise fixed) against
    /// central finite differences: every element, or `per_tensor` evenly spaced ones of each
    /// parameter tensor. Returns how many elements were checked.
    fn assert_gradients_match(vae: &Vae, x: &Tensor, tol: f64, per_tensor: Option<usize>) -> usize {
        gen_nn::gradcheck::assert_gradients_match(&vae.store.params, &[""], per_tensor, tol, || {
            vae.terms(x, &mut Rng::new(99)).unwrap().loss().unwrap()
        })
    }

    /// Two 5-dimensional inputs in [0, 1].
    fn two_rows() -> Tensor {
        Tensor::new(
            &[[0.1f64, 0.9, 0.4, 0.0, 1.0], [0.6, 0.2, 0.8, 0.3, 0.5]],
            &Device::Cpu,
        )
        .unwrap()
    }

    /// The report's `reconstruction` and `latent_kl` terms.
    fn rec_and_kl(r: &Report) -> (f64, f64) {
        (
            r.joint_kl.term("reconstruction").unwrap(),
            r.joint_kl.term("latent_kl").unwrap(),
        )
    }

    #[test]
    fn report_terms_add_up_to_the_joint_kl() {
        let vae = tiny(DecoderKind::Bernoulli, KlEstimator::Analytic, 1);
        let x = Tensor::new(&[[0.1f64, 0.9, 0.4, 0.0, 1.0]], &Device::Cpu).unwrap();
        let batch = Batch::inputs(x);
        let r = vae.evaluate(&batch, &mut Rng::new(0)).unwrap();
        let (rec, kl) = rec_and_kl(&r);
        assert!((r.joint_kl.total().unwrap() - (rec + kl)).abs() < 1e-12);
        assert!(
            (r.loss - (rec + 1.3 * kl)).abs() < 1e-9,
            "beta weights the loss only"
        );
        assert!(kl >= 0.0 && rec > 0.0);
    }

    /// During a KL warm-up of 4 epochs, epoch e trains on `rec + beta * e/4 * kl`: the
    /// report's loss says so, the step equals a plain step with that beta, and test losses
    /// keep the full beta.
    #[test]
    fn kl_warmup_weights_training_steps_only() {
        let x = two_rows();
        let batch = Batch::inputs(x);
        let warming = |epoch: usize| {
            let mut vae = tiny(DecoderKind::Bernoulli, KlEstimator::Analytic, 1);
            vae.cfg.kl_warmup_epochs = 4;
            vae.set_epoch(epoch);
            vae
        };
        for (epoch, scale) in [(1, 0.25), (2, 0.5), (4, 1.0), (9, 1.0)] {
            let mut vae = warming(epoch);
            let r = vae.train_step(&batch, &mut Rng::new(5)).unwrap();
            let (rec, kl) = rec_and_kl(&r);
            assert!(
                (r.loss - (rec + 1.3 * scale * kl)).abs() < 1e-9,
                "epoch {epoch}: loss {} vs rec {rec} + {} kl {kl}",
                r.loss,
                1.3 * scale
            );
            let mut plain = tiny_with(
                DecoderKind::Bernoulli,
                KlEstimator::Analytic,
                1,
                Objective::Elbo,
                1.3 * scale,
            );
            plain.train_step(&batch, &mut Rng::new(5)).unwrap();
            for ((name, a), (_, b)) in vae
                .store
                .params
                .named()
                .iter()
                .zip(plain.store.params.named())
            {
                let d = (a.as_tensor() - b.as_tensor())
                    .unwrap()
                    .abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f64>()
                    .unwrap();
                assert!(d < 1e-12, "epoch {epoch}: {name} differs by {d}");
            }
        }
        let r = warming(1).evaluate(&batch, &mut Rng::new(5)).unwrap();
        let (rec, kl) = rec_and_kl(&r);
        assert!(
            (r.loss - (rec + 1.3 * kl)).abs() < 1e-9,
            "test loss keeps beta"
        );
    }

    /// The IWAE bound on the same draws: at k = 1 it is the ELBO with the sampled KL;
    /// for k > 1 it is at least the ELBO averaged over those k draws (Jensen, per example),
    /// and strictly above it here.
    #[test]
    fn iwae_bound_against_the_elbo_on_the_same_draws() {
        let x = two_rows();
        let scalar = |t: &Tensor| t.to_scalar::<f64>().unwrap();
        for k in [1, 8] {
            let iwae = tiny_with(
                DecoderKind::Bernoulli,
                KlEstimator::Sampled,
                k,
                Objective::Iwae,
                1.0,
            );
            let elbo = tiny_with(
                DecoderKind::Bernoulli,
                KlEstimator::Sampled,
                k,
                Objective::Elbo,
                1.0,
            );
            let bound = scalar(
                iwae.terms(&x, &mut Rng::new(5))
                    .unwrap()
                    .get("vae/iwae_bound")
                    .unwrap(),
            );
            let t = elbo.terms(&x, &mut Rng::new(5)).unwrap();
            let elbo_value = -scalar(&t.loss().unwrap());
            if k == 1 {
                assert!(
                    (bound - elbo_value).abs() < 1e-12,
                    "{bound} vs {elbo_value}"
                );
            } else {
                assert!(bound > elbo_value + 1e-6, "{bound} vs {elbo_value}");
            }
            // The loss is minus the bound.
            let loss = scalar(&iwae.terms(&x, &mut Rng::new(5)).unwrap().loss().unwrap());
            assert!((loss + bound).abs() < 1e-12);
        }
    }

    /// The plain autoencoder: the loss is the reconstruction of the code itself, with no
    /// KL term and no posterior to sample.
    #[test]
    fn deterministic_encoder_is_a_plain_autoencoder() {
        let mut vae = tiny(DecoderKind::Bernoulli, KlEstimator::Analytic, 1);
        vae.cfg.encoder = VaeEncoder::Deterministic;
        let x = Tensor::new(&[[0.1f64, 0.9, 0.4, 0.0, 1.0]], &Device::Cpu).unwrap();
        let t = vae.terms(&x, &mut Rng::new(1)).unwrap();
        let (loss, rec) = (
            t.loss().unwrap().to_scalar::<f64>().unwrap(),
            t.get("reconstruction").unwrap().to_scalar::<f64>().unwrap(),
        );
        assert_eq!(loss, rec);
        // Two draws of the noise give the same loss: nothing is sampled.
        let again = vae
            .terms(&x, &mut Rng::new(2))
            .unwrap()
            .loss()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert_eq!(loss, again);
        let r = t.report().unwrap();
        assert_eq!(r.joint_kl.terms.len(), 1);
    }

    /// A Gaussian decoder whose per-coordinate log sigma is a parameter, started at
    /// ln(decoder_sigma) and moved off it so coordinates differ.
    fn learned_variance() -> Vae {
        let mut cfg = tiny(DecoderKind::Gaussian, KlEstimator::Analytic, 1).cfg;
        cfg.decoder_variance = DecoderVariance::Learned;
        cfg.beta = 1.0;
        let data = DataInfo::points("test", 5, 1000);
        Vae::new(
            cfg,
            &mut Setup {
                dtype: DType::F64,
                ..Setup::cpu(&data, &OptimizerConfig::default(), &mut Rng::new(11))
            },
        )
        .unwrap()
    }

    /// At its starting value (every log sigma = ln 0.7) the learned-variance loss equals the
    /// fixed sigma = 0.7 loss; with different sigmas per coordinate it follows the closed
    /// form sum_j (x_j - mu_j)^2 / (2 s_j^2) + ln s_j + ln(2 pi) / 2.
    #[test]
    fn learned_variance_matches_the_closed_form() {
        let x = Tensor::new(&[[0.1f64, 0.9, 0.4, 0.0, 1.0]], &Device::Cpu).unwrap();
        let fixed = tiny_with(
            DecoderKind::Gaussian,
            KlEstimator::Analytic,
            1,
            Objective::Elbo,
            1.0,
        );
        let learned = learned_variance();
        let loss = |v: &Vae| {
            v.terms(&x, &mut Rng::new(3))
                .unwrap()
                .loss()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap()
        };
        assert!((loss(&fixed) - loss(&learned)).abs() < 1e-12);
        let s = [0.5f64, 1.0, 2.0, 0.3, 0.7];
        learned
            .log_sigma
            .as_ref()
            .unwrap()
            .set(&Tensor::new(&s.map(f64::ln), &Device::Cpu).unwrap())
            .unwrap();
        let mu = Tensor::new(&[[0.2f64, 0.1, 0.9, -0.3, 0.5]], &Device::Cpu).unwrap();
        let got: f64 = learned
            .neg_log_likelihood(&mu, &x)
            .unwrap()
            .to_vec1::<f64>()
            .unwrap()[0];
        let xv = [0.1f64, 0.9, 0.4, 0.0, 1.0];
        let mv = [0.2, 0.1, 0.9, -0.3, 0.5];
        let want: f64 = (0..5)
            .map(|j| {
                (xv[j] - mv[j]).powi(2) / (2.0 * s[j] * s[j])
                    + s[j].ln()
                    + 0.5 * (2.0 * std::f64::consts::PI).ln()
            })
            .sum();
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }

    /// The conv VAE on 28x28 images: backpropagated gradients match central finite
    /// differences on a sample of every parameter tensor's elements (f64), and shapes
    /// come out as rows of 784 logits.
    #[test]
    fn conv_gradient_matches_finite_differences() {
        let mut cfg = tiny(DecoderKind::Bernoulli, KlEstimator::Analytic, 1).cfg;
        cfg.network = Network::Conv;
        cfg.beta = 1.0;
        let data = DataInfo::images("images", (1, 28, 28), 1000);
        let vae = Vae::new(
            cfg,
            &mut Setup {
                dtype: DType::F64,
                ..Setup::cpu(&data, &OptimizerConfig::default(), &mut Rng::new(4))
            },
        )
        .unwrap();
        let x = Rng::new(5)
            .rand_uniform((2, 784), 0.0, 1.0, DType::F64, &Device::Cpu)
            .unwrap();
        let z = Tensor::zeros((3, 2), DType::F64, &Device::Cpu).unwrap();
        assert_eq!(vae.decoder_output(&z).unwrap().dims(), &[3, 784]);
        let checked = assert_gradients_match(&vae, &x, 1e-5, Some(5));
        assert!(checked >= 40, "{checked}");
    }
}
