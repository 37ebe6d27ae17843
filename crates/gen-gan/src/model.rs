//! The GAN's players, its iteration and its report.
//!
//! With a label y (1 = data, 0 = generated) the GAN minimizes `KL(q(x,y) || p(x,y))`. The
//! discriminator step is logistic regression on y; the generator step, with the optimal
//! discriminator substituted, is `E_z[-log D(G(z))] + KL(q(x) || q_old(x))`, and reading
//! the generator's output as a narrow Gaussian turns the second term into
//! `lambda * mean((G(z) - G_old(z))^2)`, where `G_old` is the generator before this
//! iteration's generator steps.

use crate::config::{GanConfig, Network};
use crate::{dcgan, infogan};
use candle_core::Tensor;
use gen_core::adversarial::drift::Snapshot;
use gen_core::adversarial::{self, drift, generator_loss, pack, Players, TwoPlayer};
use gen_core::model::Batch;
use gen_core::{Family, Frame, KlDirection, Model, Report, Result, Rng, Setup, Store, Terms};
use gen_dist::prior::LatentPrior;
use gen_nn::nn::{widths, BatchNormed, Mlp, Pass};
use gen_nn::vars::Vb;

/// The generator network: an MLP (batch norm optional), or the DCGAN stack.
type Generator = Box<dyn BatchNormed + Send + Sync>;

/// The discriminator network, on packed rows.
pub enum DiscriminatorNet {
    Mlp(Mlp),
    Dcgan(dcgan::Discriminator),
    Infogan(infogan::Discriminator),
}

pub struct Gan {
    cfg: GanConfig,
    /// Its device, dtype and data shape.
    frame: Frame,
    /// Both players' parameters (`generator.*`, `discriminator.*`), the generator's
    /// batch-norm averages and the two optimizers.
    store: Store<Players>,
    generator: Generator,
    discriminator: DiscriminatorNet,
    /// The generator before this iteration's generator steps (not saved: it is a copy).
    old: Snapshot<Generator>,
}

impl Family for Gan {
    type Config = GanConfig;

    fn new(cfg: GanConfig, setup: &mut Setup<'_>) -> Result<Self> {
        let dim = setup.data.dim();
        let vb = setup.vb();
        let buffers_vb = setup.vb();
        let g_sizes = widths(cfg.latent, cfg.hidden.iter().copied(), dim);
        // The generator under `vb.<name>`, its batch-norm averages under `buffers.<name>`.
        let build_generator = |vb: &Vb, buffers: &Vb, name: &str| -> Result<Generator> {
            let (vb, buffers) = (vb.pp(name), buffers.pp(name));
            Ok(match cfg.network {
                Network::Mlp => Box::new(Mlp::generator(
                    &vb,
                    &buffers,
                    &g_sizes,
                    cfg.g_activation,
                    cfg.batch_norm,
                )?),
                Network::Dcgan => Box::new(dcgan::Generator::new(&vb, &buffers, cfg.latent)?),
                Network::Infogan => Box::new(infogan::Generator::new(&vb, &buffers, cfg.latent)?),
            })
        };
        let generator = build_generator(&vb, &buffers_vb, "generator")?;
        let discriminator = match cfg.network {
            Network::Mlp => {
                // The discriminator mirrors the generator: widest layer first.
                let d_sizes = widths(dim * cfg.pack, cfg.hidden.iter().rev().copied(), 1);
                let d = Mlp::new(&vb.pp("discriminator"), &d_sizes, cfg.d_activation)?;
                DiscriminatorNet::Mlp(d)
            }
            Network::Dcgan => DiscriminatorNet::Dcgan(dcgan::Discriminator::new(
                &vb.pp("discriminator"),
                cfg.pack,
            )?),
            // Its batch norms' averages are never read: a scratch store, not saved.
            Network::Infogan => DiscriminatorNet::Infogan(infogan::Discriminator::new(
                &vb.pp("discriminator"),
                &setup.vb().pp("discriminator"),
                cfg.pack,
            )?),
        };
        // G_old's own store continues the same random stream (its values are overwritten by
        // the first snapshot anyway); it runs on batch statistics only, so its averages are
        // never read.
        let old_vb = vb.after();
        let old = build_generator(&old_vb, &vb.after(), "generator_old")?;
        setup.continue_after(&old_vb);
        let (params, buffers) = (vb.params(), buffers_vb.params());
        let players = cfg.players(&params, setup, &["generator."], "g_optimizer.");
        Ok(Gan {
            store: Store::new(&cfg, KlDirection::Reverse, params, players).with_buffers(buffers),
            cfg,
            frame: setup.frame(),
            generator,
            discriminator,
            old: Snapshot::new(&old_vb, &["generator."], old),
        })
    }
}

impl Gan {
    /// `G(z)` as rows, in the players' space: images with pixels in [-1, 1] (tanh), raw
    /// values for points.
    fn generate(&self, net: &Generator, z: &Tensor, pass: Pass) -> Result<Tensor> {
        let out = net.forward_pass(z, pass)?;
        match self.cfg.network {
            Network::Mlp => self.frame.players_output(out),
            Network::Dcgan | Network::Infogan => Ok(out), // they end in tanh themselves
        }
    }

    /// `G(z)` as the generator step sees it (tracked for gradients; batch statistics; images
    /// in [-1, 1]).
    pub fn sample_tracked(&self, z: &Tensor) -> Result<Tensor> {
        self.generate(&self.generator, z, Pass::Frozen)
    }

    /// Samples from the current generator (batch norm on its running averages), in the
    /// data's space: images back in [0, 1].
    pub fn samples(&self, z: &Tensor) -> Result<Tensor> {
        let x = self.generate(&self.generator, z, Pass::Eval)?.detach();
        self.frame.from_players(&x)
    }

    /// The discriminator's logits on rows `x`, `pack` samples per logit.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        self.logits_of(x, false)
    }

    /// The same with the discriminator held fixed where its network allows (the DCGAN's:
    /// its weights get no gradient in the generator's steps, which never use one).
    fn logits_of(&self, x: &Tensor, frozen: bool) -> Result<Tensor> {
        let packed = pack(x, self.cfg.pack)?;
        let out = match &self.discriminator {
            DiscriminatorNet::Mlp(m) => m.forward(&packed)?,
            DiscriminatorNet::Dcgan(d) => d.forward(&packed, frozen)?,
            DiscriminatorNet::Infogan(d) => d.forward(&packed, frozen)?,
        };
        Ok(out.flatten_all()?)
    }

    fn noise(&self, n: usize, rng: &mut Rng) -> Result<Tensor> {
        self.frame
            .codes(LatentPrior::Gaussian, (n, self.cfg.latent), rng)
    }

    /// Copies the generator into `G_old`.
    pub fn snapshot(&self) -> Result<()> {
        Ok(self.old.take(&self.store.params)?)
    }

    /// The old-generator term `mean((G(z) - G_old(z))^2)` for noise `z` (its weight is
    /// `lambda`), and the generator's output `G(z)` it was computed from.
    pub fn drift(&self, z: &Tensor) -> Result<(Tensor, Tensor)> {
        let fake = self.generate(&self.generator, z, Pass::Train)?;
        let old = self.generate(&self.old.nets, z, Pass::Frozen)?;
        Ok((drift::drift(&fake, &old)?, fake))
    }

    /// The generator's terms on the discriminator's logits of its samples: the
    /// adversarial loss, and the old-generator term (reported as 0, and not optimized,
    /// when there is none: `lambda: 0`, or an evaluation).
    fn generator_terms(&self, fake_logits: &Tensor, drift: Option<Tensor>) -> Result<Terms> {
        let adv = generator_loss(self.cfg.loss, fake_logits)?;
        let terms = Terms::estimates(KlDirection::Reverse).part("adversarial", adv.clone(), 1.0);
        Ok(drift::with_drift(
            terms,
            "generator_drift",
            drift,
            self.cfg.lambda,
            &adv,
        )?)
    }
}

/// The GAN as a two-player game: the discriminator against the generator, whose terms
/// are its adversarial loss and the old-generator term.
impl TwoPlayer for Gan {
    gen_core::players_in!(store, "gan");

    fn discriminator_logits(&self, batch: &Batch, rng: &mut Rng) -> Result<(Tensor, Tensor)> {
        let real = self.frame.players_input(batch)?;
        let fake = self
            .generate(
                &self.generator,
                &self.noise(real.dim(0)?, rng)?,
                Pass::Frozen,
            )?
            .detach();
        Ok((self.logits(&real)?, self.logits(&fake)?))
    }

    /// `G_old` is the generator as the discriminator just saw it.
    fn before_other_steps(&mut self) -> Result<()> {
        if self.cfg.lambda > 0.0 {
            self.snapshot()?;
        }
        Ok(())
    }

    fn other_terms(&self, batch: &Batch, rng: &mut Rng) -> Result<Terms> {
        let z = self.noise(batch.size(), rng)?;
        let (fake, drift) = if self.cfg.lambda > 0.0 {
            let (drift, fake) = self.drift(&z)?;
            (fake, Some(drift))
        } else {
            (self.generate(&self.generator, &z, Pass::Train)?, None)
        };
        self.generator_terms(&self.logits_of(&fake, true)?, drift)
    }

    fn other_loss_name(&self) -> Option<&'static str> {
        Some("g_loss")
    }
}

impl Model for Gan {
    gen_core::two_player_model!(store);

    fn evaluate(&self, batch: &Batch, rng: &mut Rng) -> Result<Report> {
        let real = self.frame.players_input(batch)?;
        let z = self.noise(real.dim(0)?, rng)?;
        let fake = self.generate(&self.generator, &z, Pass::Eval)?.detach();
        let (lr, lf) = (self.logits(&real)?, self.logits(&fake)?);
        adversarial::evaluation_report(self, &lr, &lf, &self.generator_terms(&lf, None)?)
    }

    fn sample(&self, n: usize, rng: &mut Rng) -> Result<Option<Tensor>> {
        Ok(Some(self.samples(&self.noise(n, rng)?)?))
    }
}
