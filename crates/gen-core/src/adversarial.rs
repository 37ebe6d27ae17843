//! The two-player machinery every adversarial estimator shares (GAN, AAE, ALI/BiGAN).
//!
//! A binary label y marks samples as from the data side (y = 1) or the generator side
//! (y = 0). The discriminator's logit `l(x)` is trained by logistic regression on y, so at
//! its optimum `l(x) = log p(x) / q(x)`: a density-ratio estimate, from which
//! `E_p[l] ~ KL(p || q)` and `E_q[-l] ~ KL(q || p)`. The generator side minimizes its own
//! loss on the same logits; each player has its own parameters and optimizer.

use crate::config::ConfigError;
use crate::model::Batch;
use crate::nn::Params;
use crate::objective::{scalar, Terms};
use crate::optim::{Adam, OptimizerConfig};
use crate::{Report, Rng};
use candle_core::{Result, Tensor};
use serde::{Deserialize, Serialize};

/// `log(1 + e^x)`, stable for any x.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?
}

/// The discriminator's loss: `-E_p[log D] - E_q[log(1 - D)]` with `D = sigmoid(l)`, i.e.
/// `E_p[softplus(-l)] + E_q[softplus(l)]`.
pub fn discriminator_loss(real_logits: &Tensor, fake_logits: &Tensor) -> Result<Tensor> {
    softplus(&real_logits.neg()?)?.mean_all()? + softplus(fake_logits)?.mean_all()?
}

/// The discriminator's loss with one-sided label smoothing (Salimans et al. 2016): data
/// labelled `1 - s` instead of 1. The optimal logit becomes `log((1 - s) p / (q + s p))`
/// instead of `log p/q`, so the ratio estimates are biased toward zero by about `s` where
/// p and q are close: a regularizer of the discriminator, not part of the joint KL.
pub fn smoothed_discriminator_loss(
    real_logits: &Tensor,
    fake_logits: &Tensor,
    s: f64,
) -> Result<Tensor> {
    if s == 0.0 {
        return discriminator_loss(real_logits, fake_logits);
    }
    let real = ((softplus(&real_logits.neg()?)? * (1.0 - s))? + (softplus(real_logits)? * s)?)?;
    real.mean_all()? + softplus(fake_logits)?.mean_all()?
}

/// How the generator side is pushed by the discriminator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GeneratorLoss {
    /// `E_q[-log D]` (Goodfellow et al.'s practical choice; strong gradients early).
    #[default]
    Nonsaturating,
    /// `E_q[log(1 - D)]`, the minimax game's own term.
    Minimax,
}

/// The generator side's loss on the logits of its samples.
pub fn generator_loss(kind: GeneratorLoss, fake_logits: &Tensor) -> Result<Tensor> {
    match kind {
        GeneratorLoss::Nonsaturating => softplus(&fake_logits.neg()?)?.mean_all(),
        GeneratorLoss::Minimax => softplus(fake_logits)?.mean_all()?.neg(),
    }
}

/// What the discriminator's logits say about the two distributions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RatioEstimates {
    /// `E_p[l]`, estimating `KL(p || q)`.
    pub forward_kl: f64,
    /// `E_q[-l]`, estimating `KL(q || p)`.
    pub reverse_kl: f64,
    /// Fraction of both sets the discriminator classifies right (`l > 0` for data).
    pub accuracy: f64,
}

pub fn ratio_estimates(real_logits: &Tensor, fake_logits: &Tensor) -> Result<RatioEstimates> {
    let r: Vec<f64> = real_logits
        .flatten_all()?
        .to_dtype(candle_core::DType::F64)?
        .to_vec1()?;
    let f: Vec<f64> = fake_logits
        .flatten_all()?
        .to_dtype(candle_core::DType::F64)?
        .to_vec1()?;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let right = r.iter().filter(|&&l| l > 0.0).count() + f.iter().filter(|&&l| l < 0.0).count();
    Ok(RatioEstimates {
        forward_kl: mean(&r),
        reverse_kl: -mean(&f),
        accuracy: right as f64 / (r.len() + f.len()).max(1) as f64,
    })
}

/// PacGAN packing: `(B, D)` rows become `(B / m, m D)`, each row `m` samples side by side
/// (rows beyond a multiple of `m` are dropped).
pub fn pack(x: &Tensor, m: usize) -> Result<Tensor> {
    if m <= 1 {
        return Ok(x.clone());
    }
    let (b, d) = x.dims2()?;
    let keep = b / m * m;
    x.narrow(0, 0, keep)?.reshape((keep / m, m * d))
}

/// One player: its own optimizer over its own variables.
pub struct Player {
    pub opt: Adam,
}

impl Player {
    /// The player owning the entries of `params` whose names start with one of `prefixes`
    /// (e.g. an autoencoder: `["encoder.", "decoder."]`).
    pub fn new(params: &Params, prefixes: &[&str], cfg: OptimizerConfig) -> Self {
        let vars = params
            .named()
            .iter()
            .filter(|(n, _)| prefixes.iter().any(|p| n.starts_with(p)))
            .map(|(_, v)| v.clone())
            .collect();
        Player {
            opt: Adam::new(vars, cfg),
        }
    }

    /// Backpropagates `loss` and updates this player's variables only.
    pub fn step(&mut self, loss: &Tensor) -> Result<()> {
        self.opt.backward_step(loss)
    }
}

/// Both players of an adversarial model, saved and scaled together. The discriminator's
/// optimizer state goes under `d_optimizer.`, the other side's under `side_prefix`.
pub struct Players {
    pub d: Player,
    pub side: Player,
    side_prefix: &'static str,
    /// Steps per iteration: (discriminator, other player).
    steps: (usize, usize),
    /// One-sided label smoothing of the discriminator's data labels.
    label_smoothing: f64,
}

impl Players {
    /// The discriminator owns `discriminator.*`; the other side owns `side` (e.g.
    /// `["generator."]`, or `["encoder.", "decoder."]`) and saves under `side_prefix`.
    pub fn new(
        params: &Params,
        schedule: &Schedule,
        base: &OptimizerConfig,
        side: &[&str],
        side_prefix: &'static str,
    ) -> Self {
        let (d_opt, side_opt) = schedule.optimizers(base);
        Players {
            d: Player::new(params, &["discriminator."], d_opt),
            side: Player::new(params, side, side_opt),
            side_prefix,
            steps: (schedule.d_steps, schedule.g_steps),
            label_smoothing: schedule.label_smoothing,
        }
    }
}

/// Both players' optimizers, saved and scaled together.
impl crate::model::Optimizers for Players {
    fn export(&self) -> crate::Result<Vec<(String, Tensor)>> {
        let mut s = self.d.opt.export("d_optimizer.")?;
        s.extend(self.side.opt.export(self.side_prefix)?);
        Ok(s)
    }

    fn load(&mut self, state: &std::collections::HashMap<String, Tensor>) -> crate::Result<()> {
        self.d.opt.load("d_optimizer.", state)?;
        self.side.opt.load(self.side_prefix, state)
    }

    /// Scales both learning rates (a schedule's per-epoch factor).
    fn set_lr_scale(&mut self, scale: f64) {
        self.d.opt.set_lr_scale(scale);
        self.side.opt.set_lr_scale(scale);
    }
}

/// An adversarial family, as the two-player step sees it: the discriminator's logits on
/// the two sides, the other player's terms, and what the discriminator's density-ratio
/// estimates are in this family's joint-KL decomposition. [`step`] runs the iteration.
pub trait TwoPlayer {
    /// Both players, for their optimizer steps (and how many each takes).
    fn players(&mut self) -> &mut Players;

    /// The prefix of this family's metrics (`gan`, `aae`, `ali`).
    fn tag(&self) -> &'static str;

    /// The discriminator's logits for one of its steps: on the side labelled y = 1 and on
    /// the side labelled y = 0, with the other player's outputs detached.
    fn discriminator_logits(&self, batch: &Batch, rng: &mut Rng)
        -> crate::Result<(Tensor, Tensor)>;

    /// Called once between the discriminator's steps and the other player's (the GAN
    /// snapshots `G_old` here).
    fn before_other_steps(&mut self) -> crate::Result<()> {
        Ok(())
    }

    /// The other player's terms for one of its steps; their weighted sum is its loss.
    fn other_terms(&self, batch: &Batch, rng: &mut Rng) -> crate::Result<Terms>;

    /// The discriminator's estimates as this family's joint-KL terms: by default
    /// `forward_kl` (`E_p[l]`) and `reverse_kl` (`E_q[-l]`), as the GAN and ALI report
    /// them; the AAE reports `aggregate_latent_kl` instead.
    fn ratio_terms(&self, est: &RatioEstimates) -> Vec<(&'static str, f64)> {
        vec![
            ("forward_kl", est.forward_kl),
            ("reverse_kl", est.reverse_kl),
        ]
    }

    /// The name under `tag()` of the other player's whole loss, if it is reported as a
    /// metric (`g_loss`, `eg_loss`).
    fn other_loss_name(&self) -> Option<&'static str> {
        None
    }
}

/// One iteration of the game: `d_steps` discriminator updates on logistic regression for
/// y, the hook, then `g_steps` updates of the other player on its terms. The report holds
/// the last discriminator step's estimates, loss and accuracy and the last other step's
/// terms; its `loss` is the other player's.
pub fn step<M: TwoPlayer + ?Sized>(
    m: &mut M,
    batch: &Batch,
    rng: &mut Rng,
) -> crate::Result<Report> {
    let (d_steps, g_steps) = m.players().steps;
    let smoothing = m.players().label_smoothing;
    let mut last_d = None;
    for _ in 0..d_steps {
        let (real, fake) = m.discriminator_logits(batch, rng)?;
        let loss = smoothed_discriminator_loss(&real, &fake, smoothing)?;
        m.players().d.step(&loss)?;
        last_d = Some((real.detach(), fake.detach(), scalar(&loss)?));
    }
    let (real, fake, d_loss) =
        last_d.ok_or_else(|| crate::Error::Msg("d_steps must be at least 1".into()))?;
    m.before_other_steps()?;
    let mut last_other = None;
    for _ in 0..g_steps {
        let terms = m.other_terms(batch, rng)?;
        let loss = terms.loss()?;
        m.players().side.step(&loss)?;
        // Read now, so this step's graph is freed before the next step builds its own.
        last_other = Some(terms.report_with_loss(scalar(&loss)?)?);
    }
    let other = last_other.ok_or_else(|| crate::Error::Msg("g_steps must be at least 1".into()))?;
    report(&*m, &real, &fake, d_loss, other)
}

/// The report of a two-player model from the discriminator's logits and loss and the
/// other player's report (a training step's, or an evaluation's).
pub fn report<M: TwoPlayer + ?Sized>(
    m: &M,
    real_logits: &Tensor,
    fake_logits: &Tensor,
    d_loss: f64,
    other: Report,
) -> crate::Result<Report> {
    let est = ratio_estimates(real_logits, fake_logits)?;
    let mut r = other;
    let other_loss = r.loss;
    let mut terms: Vec<(String, f64)> = m
        .ratio_terms(&est)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    terms.append(&mut r.joint_kl.terms);
    r.joint_kl.terms = terms;
    r.joint_kl.additive = false;
    let tag = m.tag();
    let mut metrics = vec![(format!("{tag}/d_loss"), d_loss)];
    if let Some(name) = m.other_loss_name() {
        metrics.push((format!("{tag}/{name}"), other_loss));
    }
    metrics.append(&mut r.metrics);
    metrics.push((format!("{tag}/d_accuracy"), est.accuracy));
    r.metrics = metrics;
    Ok(r)
}

/// The report of an evaluation: the discriminator's loss on the logits, the other
/// player's terms as they are (no step).
pub fn evaluation_report<M: TwoPlayer + ?Sized>(
    m: &M,
    real_logits: &Tensor,
    fake_logits: &Tensor,
    other: &Terms,
) -> crate::Result<Report> {
    let d_loss = scalar(&discriminator_loss(real_logits, fake_logits)?)?;
    report(m, real_logits, fake_logits, d_loss, other.report()?)
}

/// How many updates each player takes per iteration, and their learning rates.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub d_steps: usize,
    pub g_steps: usize,
    /// `None`: `train.optimizer.lr`.
    pub d_lr: Option<f64>,
    pub g_lr: Option<f64>,
    /// One-sided label smoothing `s`: the discriminator trains on data labels `1 - s`.
    pub label_smoothing: f64,
}

impl Schedule {
    /// Checks the values; errors name `model.<key>`.
    pub fn validate(&self) -> std::result::Result<(), ConfigError> {
        for (k, v) in [("d_steps", self.d_steps), ("g_steps", self.g_steps)] {
            if v == 0 {
                return Err(ConfigError::invalid(
                    format!("model.{k}"),
                    "must be at least 1",
                ));
            }
        }
        if !(0.0..0.5).contains(&self.label_smoothing) {
            return Err(ConfigError::invalid(
                "model.label_smoothing",
                format!(
                    "must be in [0, 0.5) (0 = off; 0.1 is the usual one-sided smoothing), got {}",
                    self.label_smoothing
                ),
            ));
        }
        for (k, v) in [("d_lr", self.d_lr), ("g_lr", self.g_lr)] {
            if let Some(lr) = v {
                if !(lr > 0.0 && lr.is_finite()) {
                    return Err(ConfigError::invalid(
                        format!("model.{k}"),
                        format!("must be a positive number, got {lr}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The optimizer settings of (discriminator, generator side): `base` with each
    /// player's learning rate.
    pub fn optimizers(&self, base: &OptimizerConfig) -> (OptimizerConfig, OptimizerConfig) {
        let with = |lr: Option<f64>| OptimizerConfig {
            lr: lr.unwrap_or(base.lr),
            ..base.clone()
        };
        (with(self.d_lr), with(self.g_lr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn t(v: &[f64]) -> Tensor {
        Tensor::new(v, &Device::Cpu).unwrap()
    }

    fn scalar(x: Tensor) -> f64 {
        x.to_scalar::<f64>().unwrap()
    }

    #[test]
    fn losses_against_hand_computed_values() {
        let sp = |x: f64| (1.0 + x.exp()).ln();
        let (real, fake) = (t(&[2.0, -1.0]), t(&[0.5, -3.0, 1.0]));
        let d = scalar(discriminator_loss(&real, &fake).unwrap());
        let want_d = (sp(-2.0) + sp(1.0)) / 2.0 + (sp(0.5) + sp(-3.0) + sp(1.0)) / 3.0;
        assert!((d - want_d).abs() < 1e-12);
        let ns = scalar(generator_loss(GeneratorLoss::Nonsaturating, &fake).unwrap());
        assert!((ns - (sp(-0.5) + sp(3.0) + sp(-1.0)) / 3.0).abs() < 1e-12);
        let mm = scalar(generator_loss(GeneratorLoss::Minimax, &fake).unwrap());
        assert!((mm + (sp(0.5) + sp(-3.0) + sp(1.0)) / 3.0).abs() < 1e-12);
        // softplus stays finite where exp overflows
        assert!((scalar(softplus(&t(&[800.0])).unwrap().sum_all().unwrap()) - 800.0).abs() < 1e-9);
        let e = ratio_estimates(&real, &fake).unwrap();
        assert_eq!((e.forward_kl, e.reverse_kl), (0.5, 1.5 / 3.0));
        assert_eq!(e.accuracy, 2.0 / 5.0);
    }

    #[test]
    fn pack_puts_m_samples_side_by_side() {
        let x = Tensor::arange(0f64, 10.0, &Device::Cpu)
            .unwrap()
            .reshape((5, 2))
            .unwrap();
        let p = pack(&x, 2).unwrap();
        assert_eq!(p.dims(), &[2, 4]);
        assert_eq!(
            p.to_vec2::<f64>().unwrap(),
            vec![vec![0.0, 1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0, 7.0]]
        );
    }

    /// A toy game that records the order of calls: one discriminator weight `a` (logits
    /// `a` on data, `-a` on samples) and one generator weight `b`.
    struct Toy {
        players: Players,
        a: candle_core::Var,
        b: candle_core::Var,
        calls: std::cell::RefCell<Vec<&'static str>>,
    }

    impl TwoPlayer for Toy {
        fn players(&mut self) -> &mut Players {
            &mut self.players
        }
        fn tag(&self) -> &'static str {
            "toy"
        }
        fn discriminator_logits(&self, _: &Batch, _: &mut Rng) -> crate::Result<(Tensor, Tensor)> {
            self.calls.borrow_mut().push("d");
            // A computed tensor, as real logits are (a reshape would alias the weight,
            // which the optimizer updates in place).
            let a = (self.a.as_tensor() * 1.0)?.reshape(1)?;
            Ok((a.clone(), a.neg()?))
        }
        fn before_other_steps(&mut self) -> crate::Result<()> {
            self.calls.borrow_mut().push("hook");
            Ok(())
        }
        fn other_terms(&self, _: &Batch, _: &mut Rng) -> crate::Result<Terms> {
            self.calls.borrow_mut().push("g");
            let b = self.b.as_tensor();
            Ok(Terms::estimates(crate::KlDirection::Reverse)
                .part("adversarial", b.sqr()?, 1.0)
                .term("drift", (b * 0.5)?, 0.0))
        }
        fn ratio_terms(&self, est: &RatioEstimates) -> Vec<(&'static str, f64)> {
            vec![("forward_kl", est.forward_kl)]
        }
        fn other_loss_name(&self) -> Option<&'static str> {
            Some("g_loss")
        }
    }

    /// By hand: a data logit 2 and a fake logit -1 with s = 0.1 give
    /// `0.9 softplus(-2) + 0.1 softplus(2) + softplus(-1)`; s = 0 is the plain loss.
    #[test]
    fn smoothed_loss_by_hand() {
        let sp = |x: f64| (1.0 + x.exp()).ln();
        let (real, fake) = (t(&[2.0]), t(&[-1.0]));
        let got: f64 = smoothed_discriminator_loss(&real, &fake, 0.1)
            .unwrap()
            .to_scalar()
            .unwrap();
        let want = 0.9 * sp(-2.0) + 0.1 * sp(2.0) + sp(-1.0);
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        let plain: f64 = smoothed_discriminator_loss(&real, &fake, 0.0)
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!((plain - sp(-2.0) - sp(-1.0)).abs() < 1e-12);
    }

    #[test]
    fn one_iteration_runs_each_player_its_steps_in_order() {
        use crate::model::Optimizers;
        let vb = crate::vars::Vb::new(Rng::new(0), candle_core::DType::F64, &Device::Cpu);
        let init = crate::vars::Init::Const(1.0);
        let a = vb.pp("discriminator").var((), "a", init).unwrap();
        let b = vb.pp("generator").var((), "b", init).unwrap();
        let schedule = Schedule {
            d_steps: 3,
            g_steps: 2,
            d_lr: Some(0.1),
            g_lr: Some(0.01),
            label_smoothing: 0.0,
        };
        let players = Players::new(
            &vb.params(),
            &schedule,
            &OptimizerConfig::default(),
            &["generator."],
            "g_optimizer.",
        );
        let mut toy = Toy {
            players,
            a,
            b,
            calls: Default::default(),
        };
        let batch =
            Batch::inputs(Tensor::zeros((1, 1), candle_core::DType::F64, &Device::Cpu).unwrap());
        let r = step(&mut toy, &batch, &mut Rng::new(1)).unwrap();
        assert_eq!(*toy.calls.borrow(), ["d", "d", "d", "hook", "g", "g"]);
        // Each optimizer stepped its own player's times, at its own learning rate: Adam's
        // first steps move a weight by about lr against its gradient's sign.
        let steps: Vec<(String, f64)> = toy
            .players
            .export()
            .unwrap()
            .into_iter()
            .filter(|(k, _)| k.ends_with("step"))
            .map(|(k, t)| (k, t.to_vec1::<f64>().unwrap()[0]))
            .collect();
        assert_eq!(
            steps,
            [
                ("d_optimizer.step".to_string(), 3.0),
                ("g_optimizer.step".to_string(), 2.0)
            ]
        );
        let a = toy.a.as_tensor().to_scalar::<f64>().unwrap();
        let b = toy.b.as_tensor().to_scalar::<f64>().unwrap();
        assert!((a - 1.3).abs() < 1e-3, "a = {a}: 3 steps of 0.1 up");
        assert!((b - 0.98).abs() < 1e-3, "b = {b}: 2 steps of 0.01 down");
        // The report: the last discriminator step's estimate (before its update, a = 1.2),
        // the other player's terms and loss (before its last update, b = 0.99).
        let sp = |x: f64| (1.0 + x.exp()).ln();
        let d_loss = 2.0 * sp(-1.2);
        assert_eq!(r.joint_kl.terms[0].0, "forward_kl");
        assert!((r.joint_kl.terms[0].1 - 1.2).abs() < 1e-3);
        assert_eq!(r.joint_kl.terms[1].0, "drift");
        assert!((r.loss - 0.99f64 * 0.99).abs() < 1e-3, "{}", r.loss);
        let names: Vec<&str> = r.metrics.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["toy/d_loss", "toy/g_loss", "toy/d_accuracy"]);
        assert!((r.metrics[0].1 - d_loss).abs() < 1e-3);
        assert_eq!(r.metrics[1].1, r.loss);
        assert_eq!(r.metrics[2].1, 1.0);
    }
}
