//! One iteration of the two-player game, and its report.

use crate::adversarial::{
    discriminator_loss, ratio_estimates, smoothed_discriminator_loss, Players, RatioEstimates,
};
use crate::model::Batch;
use crate::objective::{scalar, Terms};
use crate::{Report, Rng};
use candle_core::Tensor;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adversarial::Schedule;
    use candle_core::Device;
    use gen_nn::optim::OptimizerConfig;

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

    #[test]
    fn one_iteration_runs_each_player_its_steps_in_order() {
        use crate::model::Optimizers;
        let vb = gen_nn::vars::Vb::new(Rng::new(0), candle_core::DType::F64, &Device::Cpu);
        let init = gen_nn::vars::Init::Const(1.0);
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
