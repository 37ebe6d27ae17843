//! The training loop's view of a run: its config, its data and the device batches go to.
//! The loop itself is in train.rs; the memory estimate measures through `test_batch`.

use crate::run_config::RunConfig;
use anyhow::Result;
use candle_core::{Device, Tensor};
use gen_core::model::Batch;
use gen_data::{Dataset, Split};

pub struct Trainer<'a> {
    pub cfg: &'a RunConfig,
    pub data: &'a Dataset,
    pub device: Device,
}

impl Trainer<'_> {
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
}
