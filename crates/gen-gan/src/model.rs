//! The GAN's players, its iteration and its report.
//!
//! With a label y (1 = data, 0 = generated) the GAN minimizes `KL(q(x,y) || p(x,y))`. The
//! discriminator step is logistic regression on y; the generator step, with the optimal
//! discriminator substituted, is `E_z[-log D(G(z))] + KL(q(x) || q_old(x))`, and reading
//! the generator's output as a narrow Gaussian turns the second term into
//! `lambda * mean((G(z) - G_old(z))^2)`, where `G_old` is the generator before this
//! iteration's generator steps.

use crate::config::GanConfig;
use candle_core::{DType, Device, Tensor};
use gen_core::adversarial::{
    discriminator_loss, generator_loss, pack, ratio_estimates, Player, RatioEstimates,
};
use gen_core::dist::sigmoid;
use gen_core::model::{Batch, DataInfo, DataKind};
use gen_core::nn::{Init, Mlp, Params};
use gen_core::optim::OptimizerConfig;
use gen_core::picture::Picture;
use gen_core::{JointKl, KlDirection, Model, Report, Result, Rng};
use std::collections::HashMap;

pub struct Gan {
    cfg: GanConfig,
    data: DataInfo,
    /// Both players' parameters: `generator.*` and `discriminator.*`.
    params: Params,
    generator: Mlp,
    discriminator: Mlp,
    /// The generator before this iteration's generator steps (not saved: it is a copy).
    old_params: Params,
    old_generator: Mlp,
    d: Player,
    g: Player,
    device: Device,
    dtype: DType,
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

impl Gan {
    pub fn new(
        cfg: GanConfig,
        data: &DataInfo,
        optimizer: &OptimizerConfig,
        device: Device,
        dtype: DType,
        rng: &mut Rng,
    ) -> Result<Self> {
        let dim = data.dim();
        let mut params = Params::new();
        let mut init = Init {
            rng,
            dtype,
            device: device.clone(),
        };
        let g_sizes: Vec<usize> = std::iter::once(cfg.latent)
            .chain(cfg.hidden.iter().copied())
            .chain(std::iter::once(dim))
            .collect();
        // The discriminator mirrors the generator: widest layer first.
        let d_sizes: Vec<usize> = std::iter::once(dim * cfg.pack)
            .chain(cfg.hidden.iter().rev().copied())
            .chain(std::iter::once(1))
            .collect();
        let generator = Mlp::new(
            &mut params,
            "generator",
            &g_sizes,
            cfg.g_activation,
            false,
            &mut init,
        )?;
        let discriminator = Mlp::new(
            &mut params,
            "discriminator",
            &d_sizes,
            cfg.d_activation,
            false,
            &mut init,
        )?;
        let mut old_params = Params::new();
        let old_generator = Mlp::new(
            &mut old_params,
            "generator_old",
            &g_sizes,
            cfg.g_activation,
            false,
            &mut init,
        )?;
        let (d_opt, g_opt) = cfg.schedule().optimizers(optimizer);
        Ok(Gan {
            d: Player::new(&params, "discriminator.", d_opt),
            g: Player::new(&params, "generator.", g_opt),
            cfg,
            data: data.clone(),
            params,
            generator,
            discriminator,
            old_params,
            old_generator,
            device,
            dtype,
        })
    }

    /// `G(z)`: pixels through a sigmoid for images, raw values for points.
    pub fn generate(&self, net: &Mlp, z: &Tensor) -> Result<Tensor> {
        let out = net.forward(z)?;
        Ok(if self.data.is_image() {
            sigmoid(&out)?
        } else {
            out
        })
    }

    /// The discriminator's logits on `x`, `pack` samples per logit.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self
            .discriminator
            .forward(&pack(x, self.cfg.pack)?)?
            .flatten_all()?)
    }

    fn noise(&self, n: usize, rng: &mut Rng) -> Result<Tensor> {
        Ok(rng.randn((n, self.cfg.latent), self.dtype, &self.device)?)
    }

    /// Copies the generator into `G_old`.
    pub fn snapshot(&self) -> Result<()> {
        let current = self
            .params
            .named()
            .iter()
            .filter(|(n, _)| n.starts_with("generator."));
        for ((_, old), (_, new)) in self.old_params.named().iter().zip(current) {
            old.set(&new.as_tensor().detach())?;
        }
        Ok(())
    }

    /// The old-generator term `lambda * mean((G(z) - G_old(z))^2)` for noise `z`, and the
    /// generator's output `G(z)` it was computed from.
    pub fn drift(&self, z: &Tensor) -> Result<(Tensor, Tensor)> {
        let fake = self.generate(&self.generator, z)?;
        let old = self.generate(&self.old_generator, z)?.detach();
        let term = ((&fake - &old)?.sqr()?.mean_all()? * self.cfg.lambda)?;
        Ok((term, fake))
    }

    fn report(&self, est: RatioEstimates, d_loss: f64, g_loss: f64, drift: f64) -> Report {
        Report {
            loss: g_loss,
            joint_kl: JointKl::estimates(
                KlDirection::Reverse,
                vec![
                    ("forward_kl", est.forward_kl),
                    ("reverse_kl", est.reverse_kl),
                    ("generator_drift", drift),
                ],
            ),
            metrics: vec![
                ("gan/d_loss".into(), d_loss),
                ("gan/g_loss".into(), g_loss),
                ("gan/d_accuracy".into(), est.accuracy),
            ],
        }
    }

    fn input(&self, batch: &Batch) -> Result<Tensor> {
        Ok(batch.x.to_dtype(self.dtype)?.to_device(&self.device)?)
    }
}

impl Model for Gan {
    fn direction(&self) -> KlDirection {
        KlDirection::Reverse
    }

    fn train_step(&mut self, batch: &Batch, rng: &mut Rng) -> Result<Report> {
        let real = self.input(batch)?;
        let b = real.dim(0)?;
        let mut d_state = None;
        for _ in 0..self.cfg.d_steps {
            let fake = self
                .generate(&self.generator, &self.noise(b, rng)?)?
                .detach();
            let (lr, lf) = (self.logits(&real)?, self.logits(&fake)?);
            let loss = discriminator_loss(&lr, &lf)?;
            self.d.step(&loss)?;
            d_state = Some((ratio_estimates(&lr, &lf)?, scalar(&loss)?));
        }
        let (est, d_loss) = d_state.expect("d_steps >= 1");
        let with_drift = self.cfg.lambda > 0.0;
        if with_drift {
            self.snapshot()?;
        }
        let (mut g_loss, mut drift_sum) = (0.0, 0.0);
        for _ in 0..self.cfg.g_steps {
            let z = self.noise(b, rng)?;
            let (loss, drift) = if with_drift {
                let (drift, fake) = self.drift(&z)?;
                let adv = generator_loss(self.cfg.loss, &self.logits(&fake)?)?;
                ((adv + &drift)?, scalar(&drift)?)
            } else {
                let fake = self.generate(&self.generator, &z)?;
                (generator_loss(self.cfg.loss, &self.logits(&fake)?)?, 0.0)
            };
            self.g.step(&loss)?;
            g_loss = scalar(&loss)?;
            drift_sum += drift;
        }
        Ok(self.report(est, d_loss, g_loss, drift_sum / self.cfg.g_steps as f64))
    }

    fn evaluate(&self, batch: &Batch, rng: &mut Rng) -> Result<Report> {
        let real = self.input(batch)?;
        let fake = self.generate(&self.generator, &self.noise(real.dim(0)?, rng)?)?;
        let (lr, lf) = (self.logits(&real)?, self.logits(&fake)?);
        let d_loss = scalar(&discriminator_loss(&lr, &lf)?)?;
        let g_loss = scalar(&generator_loss(self.cfg.loss, &lf)?)?;
        Ok(self.report(ratio_estimates(&lr, &lf)?, d_loss, g_loss, 0.0))
    }

    fn pictures(&self, _batch: &Batch, rng: &mut Rng) -> Result<Vec<(String, Picture)>> {
        // 2-D data: the trainer draws samples over the true modes from `sample`.
        let DataKind::Image {
            channels,
            height,
            width,
        } = self.data.kind
        else {
            return Ok(vec![]);
        };
        let x = self
            .generate(&self.generator, &self.noise(64, rng)?)?
            .detach();
        let images = x.reshape((64, channels, height, width))?;
        Ok(vec![("samples".to_string(), Picture::grid(&images, 8)?)])
    }

    fn params(&self) -> &Params {
        &self.params
    }

    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut s = self.params.export("model.");
        s.extend(self.d.opt.export("d_optimizer.")?);
        s.extend(self.g.opt.export("g_optimizer.")?);
        Ok(s)
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.params.load("model.", state)?;
        self.d.opt.load("d_optimizer.", state)?;
        self.g.opt.load("g_optimizer.", state)
    }

    fn resolved_config(&self) -> gen_core::yaml::Value {
        gen_core::yaml::to_value(&self.cfg).unwrap_or(gen_core::yaml::Value::Null)
    }

    fn sample(&self, n: usize, rng: &mut Rng) -> Result<Option<Tensor>> {
        let x = self
            .generate(&self.generator, &self.noise(n, rng)?)?
            .detach();
        Ok(Some(x))
    }
}
