//! A run's session: its config, its data and the device batches go to, with what every
//! command computes from them (a batch, the test-set report, the mode samples). The
//! training loop (src/train/) and `gen eval` both work in one; the memory estimate
//! measures through `test_batch`.

use crate::run::config::RunConfig;
use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use gen_core::model::{Batch, Model};
use gen_core::{Report, ReportMean, Rng};
use gen_data::{Dataset, Split};

/// Fixed seeds for evaluation noise and the mode samples, so epochs are comparable.
const EVAL_SEED: u64 = 0x5EED_0E7A;
const MODES_SEED: u64 = 0x5EED_0D35;

/// Samples drawn for the mode-coverage metrics and the 2-D scatter (the PacGAN/VEEGAN
/// protocol's 2,500).
pub const MODE_SAMPLES: usize = 2500;

/// What every command works in: a run's config, its data and the device batches go to.
pub struct Session<'a> {
    pub cfg: &'a RunConfig,
    pub data: &'a Dataset,
    pub device: Device,
}

impl Session<'_> {
    pub(crate) fn batch(&self, rows: gen_data::Rows, split: &Split) -> Result<Batch> {
        let n = rows.x.len() / split.dim;
        let dev = &self.device;
        Ok(Batch {
            x: Tensor::from_vec(rows.x, (n, split.dim), dev)?,
            labels: rows.labels.map(|l| Tensor::new(l, dev)).transpose()?,
            targets: rows
                .targets
                .map(|t| Tensor::from_vec(t, (n, split.target_dim), dev))
                .transpose()?,
            train_rows: None,
        })
    }

    pub fn test_batch(&self, idx: &[usize]) -> Result<Batch> {
        let rows = self.data.test.gather(idx, None);
        self.batch(rows, &self.data.test)
    }

    /// 2,500 samples (fixed seed, flattened), drawn once per evaluation for the mode
    /// metrics and the 2-D picture; `None` when the data needs neither or the model
    /// cannot sample.
    pub fn mode_samples(&self, model: &dyn Model) -> Result<Option<Vec<f64>>> {
        let is_2d = self.data.train.dim == 2 && !self.data.info.is_image();
        if self.data.info.modes.is_none() && !is_2d {
            return Ok(None);
        }
        match model.sample(MODE_SAMPLES, &mut Rng::new(MODES_SEED))? {
            Some(x) => Ok(Some(gen_core::objective::values(&x)?)),
            None => Ok(None),
        }
    }

    /// Mode coverage of `samples`, when the data has known modes.
    pub fn mode_scores(&self, samples: &[f64]) -> Option<gen_metrics::modes::ModeScores> {
        let modes = self.data.info.modes.as_ref()?;
        Some(gen_metrics::modes::score(
            samples,
            self.data.train.dim,
            modes,
        ))
    }

    /// For 2-D data: `samples` over the test points and the true modes, as the picture
    /// `samples`.
    pub fn scatter(&self, samples: &[f64]) -> Option<(String, gen_plot::picture::Picture)> {
        if self.data.train.dim != 2 || self.data.info.is_image() {
            return None;
        }
        // As many test points as samples at most: the data should not hide the samples.
        let shown = self.data.test.x.len().min(samples.len());
        let data: Vec<f64> = self.data.test.x[..shown]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let pic = gen_plot::plot::samples_over_modes(samples, self.data.info.modes.as_ref(), &data);
        Some(("samples".to_string(), pic))
    }

    /// The mean report over the whole test set, with fixed noise.
    pub fn evaluate(&self, model: &dyn Model) -> Result<Report> {
        let mut rng = Rng::new(EVAL_SEED);
        let mut mean = ReportMean::default();
        let idx: Vec<usize> = (0..self.data.test.n).collect();
        for chunk in idx.chunks(self.cfg.train.eval_batch_size) {
            let r = model.evaluate(&self.test_batch(chunk)?, &mut rng)?;
            mean.add(&r, chunk.len())?;
        }
        mean.mean().context("empty test set")
    }
}
