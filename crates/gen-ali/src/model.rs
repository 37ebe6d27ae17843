//! ALI/BiGAN's three networks, their iteration and their report.
//!
//! Pairs `(x, z)` come from the data side `p(x,z) = p~(x) p(z|x)` (data through the
//! encoder, label y = 1) or the generator side `q(x,z) = q(z) q(x|z)` (prior through the
//! generator, y = 0). The joint discriminator's logit estimates `log p(x,z) / q(x,z)`, so
//! `E_p[l]` estimates `KL(p || q)` and `E_q[-l]` estimates `KL(q || p)`.

use crate::config::{AliConfig, PairLoss};
use candle_core::Tensor;
use gen_core::adversarial::drift::{self, Snapshot};
use gen_core::adversarial::{self, softplus, Players, TwoPlayer};
use gen_core::model::Batch;
use gen_core::objective::scalar;
use gen_core::{Family, Frame, KlDirection, Model, Report, Result, Rng, Setup, Store, Terms};
use gen_dist::dist::sample_code;
use gen_nn::nn::{widths, Activation, BatchNormed, Encode, Encoder, Mlp, Pass};
use gen_nn::vars::Vb;

/// The encoder's and generator's loss on the logits of encoder pairs (`enc`) and
/// generator pairs (`gen`); see [`PairLoss`].
pub fn pair_loss(kind: PairLoss, enc: &Tensor, gen: &Tensor) -> Result<Tensor> {
    let generator = softplus(&gen.neg()?)?.mean_all()?;
    let encoder = match kind {
        PairLoss::Standard => softplus(enc)?.mean_all()?,
        PairLoss::JointKl => softplus(&enc.neg()?)?.mean_all()?,
    };
    Ok((encoder + generator)?)
}

/// One pass over both kinds of pairs: the logits, and the noise and samples behind them.
struct Pairs {
    enc: Tensor,
    gen: Tensor,
    z: Tensor,
    fake: Tensor,
}

pub struct Ali {
    cfg: AliConfig,
    /// Its device, dtype and data shape.
    frame: Frame,
    /// `encoder.*`, `generator.*`, `discriminator.*`, the generator's batch-norm averages
    /// (empty without `batch_norm`) and the two players' optimizers.
    store: Store<Players>,
    encoder: Encoder,
    generator: Mlp,
    /// The joint discriminator on concatenated `(x, z)`: LeakyReLU 0.2 and dropout after
    /// every hidden layer, one logit out.
    discriminator: Mlp,
    /// With `lambda > 0`, the encoder and generator before this iteration's steps
    /// (`encoder_old.*`, `generator_old.*`).
    old: Option<Snapshot<(Encoder, Mlp)>>,
}

impl Family for Ali {
    type Config = AliConfig;

    fn new(cfg: AliConfig, setup: &mut Setup<'_>) -> Result<Self> {
        let dim = setup.data.dim();
        let vb = setup.vb();
        let enc_sizes = widths(dim, cfg.hidden.iter().rev().copied(), cfg.latent);
        let gen_sizes = widths(cfg.latent, cfg.hidden.iter().copied(), dim);
        // The encoder and generator (`old`: their copies' names end in `_old`).
        let maps = |vb: &Vb, buffers: &Vb, old: &str| -> Result<(Encoder, Mlp)> {
            let (encoder, generator) = (format!("encoder{old}"), format!("generator{old}"));
            let act = cfg.activation;
            let encoder = Encoder::new(&vb.pp(encoder), &enc_sizes, act, cfg.encoder)?;
            let (vb, buffers) = (vb.pp(&generator), buffers.pp(&generator));
            let generator = Mlp::generator(&vb, &buffers, &gen_sizes, act, cfg.batch_norm)?;
            Ok((encoder, generator))
        };
        let buffers_vb = setup.vb();
        let (encoder, generator) = maps(&vb, &buffers_vb, "")?;
        let d_sizes = widths(dim + cfg.latent, cfg.d_hidden.iter().copied(), 1);
        let discriminator = Mlp::new(&vb.pp("discriminator"), &d_sizes, Activation::LeakyRelu)?
            .with_dropout(cfg.dropout);
        // The old copies' own store continues the same random stream after the players'
        // (their values are overwritten by the first snapshot); they run on batch
        // statistics only, so their batch-norm averages are never read.
        let old = if cfg.lambda > 0.0 {
            let old_vb = vb.after();
            let maps = maps(&old_vb, &vb.after(), "_old")?;
            Some(Snapshot::new(&old_vb, &["encoder.", "generator."], maps))
        } else {
            None
        };
        setup.continue_after(&vb);
        let params = vb.params();
        let players = cfg.players(&params, setup, &["encoder.", "generator."], "eg_optimizer.");
        Ok(Ali {
            store: Store::new(&cfg, KlDirection::Reverse, params, players)
                .with_buffers(buffers_vb.params()),
            cfg,
            frame: setup.frame(),
            encoder,
            generator,
            discriminator,
            old,
        })
    }
}

impl Ali {
    /// Draws from the prior q(z).
    fn prior(&self, n: usize, rng: &mut Rng) -> Result<Tensor> {
        self.frame.codes(self.cfg.prior, (n, self.cfg.latent), rng)
    }

    /// `net(z)` in the players' space (images: tanh, pixels in [-1, 1]); `pass` says which
    /// statistics batch norm (if any) uses.
    fn generate(&self, net: &Mlp, z: &Tensor, pass: Pass) -> Result<Tensor> {
        self.frame.players_output(net.forward_pass(z, pass)?)
    }

    /// `G(z)` in the data's space (batch norm on its averages).
    fn generate_data(&self, z: &Tensor) -> Result<Tensor> {
        let x = self.generate(&self.generator, z, Pass::Eval)?;
        self.frame.from_players(&x)
    }

    /// The discriminator's logits `(B,)` on pairs (players' space); `rng` turns dropout on.
    fn logits(&self, x: &Tensor, z: &Tensor, rng: Option<&mut Rng>) -> Result<Tensor> {
        let pairs = Tensor::cat(&[x, z], 1)?;
        let logits = match rng {
            Some(rng) => self.discriminator.forward_dropout(&pairs, rng)?,
            None => self.discriminator.forward(&pairs)?,
        };
        Ok(logits.flatten_all()?)
    }

    /// Logits of encoder pairs and generator pairs for one batch, and the noise and samples
    /// behind them. Training (`train`): batch statistics and dropout, the encoder and
    /// generator tracked or not (`track`); otherwise an evaluation.
    fn pairs(&self, x: &Tensor, rng: &mut Rng, train: bool, track: bool) -> Result<Pairs> {
        let z = self.prior(x.dim(0)?, rng)?;
        let mut fake = self.generate(&self.generator, &z, Pass::from(train))?;
        let mut code = sample_code(self.encoder.encode(x)?, rng)?;
        if !track {
            (fake, code) = (fake.detach(), code.detach());
        }
        let enc = self.logits(x, &code, train.then_some(&mut *rng))?;
        let gen = self.logits(&fake, &z, train.then_some(&mut *rng))?;
        Ok(Pairs { enc, gen, z, fake })
    }

    /// The encoder's and generator's terms on the logits of one pass; with `lambda > 0`
    /// the two drift terms (reported as 0, and not optimized, without `drift`: an
    /// evaluation).
    fn pair_terms(
        &self,
        enc: &Tensor,
        gen: &Tensor,
        drift: Option<(Tensor, Tensor)>,
    ) -> Result<Terms> {
        let pair = pair_loss(self.cfg.loss, enc, gen)?;
        let mut terms = Terms::estimates(KlDirection::Reverse);
        if self.cfg.lambda > 0.0 {
            let (e, g) = drift.unzip();
            let lambda = self.cfg.lambda;
            terms = drift::with_drift(terms, "encoder_drift", e, lambda, &pair)?;
            terms = drift::with_drift(terms, "generator_drift", g, lambda, &pair)?;
        }
        Ok(terms.part("pair_loss", pair, 1.0))
    }
}

/// ALI as a two-player game: the joint discriminator against encoder and generator.
impl TwoPlayer for Ali {
    gen_core::players_in!(store, "ali");

    fn discriminator_logits(&self, batch: &Batch, rng: &mut Rng) -> Result<(Tensor, Tensor)> {
        let p = self.pairs(&self.frame.players_input(batch)?, rng, true, false)?;
        Ok((p.enc, p.gen))
    }

    /// Copies the encoder and the generator into their old versions (for the drift).
    fn before_other_steps(&mut self) -> Result<()> {
        let params = &self.store.params;
        Ok(self.old.as_ref().map_or(Ok(()), |old| old.take(params))?)
    }

    /// The pair loss, and with `lambda > 0` the drift of both maps from their copies before
    /// this iteration's steps: `mean((E(x) - E_old(x))^2)` on the code means and
    /// `mean((G(z) - G_old(z))^2)` on the samples already drawn.
    fn other_terms(&self, batch: &Batch, rng: &mut Rng) -> Result<Terms> {
        let x = self.frame.players_input(batch)?;
        let p = self.pairs(&x, rng, true, true)?;
        let drift = match &self.old {
            Some(Snapshot {
                nets: (encoder, generator),
                ..
            }) => Some((
                drift::drift(&self.encoder.encode(&x)?.0, &encoder.encode(&x)?.0)?,
                drift::drift(&p.fake, &self.generate(generator, &p.z, Pass::Frozen)?)?,
            )),
            None => None,
        };
        self.pair_terms(&p.enc, &p.gen, drift)
    }

    fn other_loss_name(&self) -> Option<&'static str> {
        Some("eg_loss")
    }
}

impl Model for Ali {
    gen_core::two_player_model!(store);

    /// Without dropout: the estimates, the losses, and the two reconstruction errors.
    fn evaluate(&self, batch: &Batch, rng: &mut Rng) -> Result<Report> {
        let x = self.frame.players_input(batch)?;
        let p = self.pairs(&x, rng, false, false)?;
        let back = self.generate_data(&self.encoder.encode(&x)?.0.detach())?;
        let x_err = scalar(&(back - self.frame.input(batch)?)?.sqr()?.mean_all()?)?;
        let z_back = self.encoder.encode(&p.fake)?.0;
        let z_err = scalar(&(z_back - &p.z)?.sqr()?.mean_all()?)?;
        let terms = self
            .pair_terms(&p.enc, &p.gen, None)?
            .number("ali/recon_x_mse", x_err)
            .number("ali/recon_z_mse", z_err);
        adversarial::evaluation_report(self, &p.enc, &p.gen, &terms)
    }

    /// `G(z)` in the data's space.
    fn decode(&self, z: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(self.generate_data(&self.frame.here(z)?)?.detach()))
    }

    /// Encoder means `E[z|x]` for `x` in the data's space.
    fn encode(&self, x: &Tensor) -> Result<Option<Tensor>> {
        let x = self.frame.players_input(&Batch::inputs(x.clone()))?;
        Ok(Some(self.encoder.encode(&x)?.0.detach()))
    }

    /// `G(z)` at prior draws, in the data's space.
    fn sample(&self, n: usize, rng: &mut Rng) -> Result<Option<Tensor>> {
        Ok(Some(self.generate_data(&self.prior(n, rng)?)?.detach()))
    }
}
