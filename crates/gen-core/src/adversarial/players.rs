//! The two players' optimizers: each owns its own variables, and both are saved and scaled
//! together.

use crate::adversarial::Schedule;
use candle_core::{Result, Tensor};
use gen_nn::nn::Params;
use gen_nn::optim::{Adam, Optimizer, OptimizerConfig};

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
    pub(crate) steps: (usize, usize),
    /// One-sided label smoothing of the discriminator's data labels.
    pub(crate) label_smoothing: f64,
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
