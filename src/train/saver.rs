//! When the training loop checkpoints, and how it stops for a signal.

use crate::run::checkpoint::{Checkpointer, Position};
use crate::run::summaries::Summaries;
use crate::train::interrupt::{Interrupt, Interrupted};
use anyhow::Result;
use gen_core::{Model, Report};
use gen_nn::average::WeightAverage;
use std::path::Path;
use std::time::Instant;

/// Writes the run's checkpoints: at epoch ends, every `checkpoint.every_steps` steps or
/// `every_minutes` minutes, and when a signal asks the run to stop.
pub struct Saver<'a> {
    pub ckpt: Checkpointer,
    pub resolved: &'a str,
    pub dir: &'a Path,
    pub last: Instant,
    pub interrupt: Interrupt,
    /// The parameters' moving average (`train.ema`), saved with them.
    pub average: Option<WeightAverage>,
}

impl Saver<'_> {
    /// Flushes the event file, then writes the checkpoint: in this order a run killed at
    /// any point and resumed from its newest checkpoint has lost no logged step (a kill
    /// between the two re-logs identical steps from the older checkpoint).
    pub fn save(&mut self, model: &dyn Model, pos: &Position, sums: &mut Summaries) -> Result<()> {
        sums.flush()?;
        let mut state = model.state()?;
        if let Some(avg) = &self.average {
            state.extend(avg.export(model.params()));
        }
        self.ckpt.save(state, pos, self.resolved)?;
        self.last = Instant::now();
        Ok(())
    }

    /// Whether a checkpoint is due inside an epoch, after step `pos.step`.
    pub fn due(&self, cfg: &crate::run::config::CheckpointConfig, step: u64) -> bool {
        let minutes = cfg.every_minutes;
        self.interrupt.received().is_some()
            || (cfg.every_steps > 0 && step.is_multiple_of(cfg.every_steps))
            || (minutes > 0.0 && self.last.elapsed().as_secs_f64() >= 60.0 * minutes)
    }

    /// The error `gen train` ends with after a signal (the checkpoint is written).
    pub fn interrupted(&self, pos: &Position, sums: &mut Summaries) -> anyhow::Error {
        let _ = sums.flush();
        let (signal, code) = self.interrupt.received().unwrap_or(("SIGINT", 130));
        anyhow::Error::new(Interrupted {
            code,
            message: format!(
                "{signal}: stopped after step {} and saved a checkpoint in {}; continue with: gen train --resume {}",
                pos.step,
                self.dir.display(),
                self.dir.display()
            ),
        })
    }
}

pub enum EpochEnd {
    Done(Report, f64),
    Interrupted,
}
