//! Opening a finished run: its saved config, its data and its model with the
//! checkpoint's state loaded (for `gen eval` and `gen sample`).

use crate::checkpoint::{self, Position};
use crate::run_config::RunConfig;
use crate::run_setup::{build_fit, build_steps, check_data, load_data, run_dir_config};
use anyhow::{Context, Result};
use candle_core::Device;
use gen_core::fit::FitModel;
use gen_core::{Build, Model, Rng};
use gen_data::Dataset;
use std::path::Path;

pub enum LoadedModel {
    Steps(Box<dyn Model>),
    Fit(Box<dyn FitModel>),
}

pub struct LoadedRun {
    pub cfg: RunConfig,
    pub data: Dataset,
    pub model: LoadedModel,
    pub pos: Position,
    pub device: Device,
}

pub fn load(dir: &Path) -> Result<LoadedRun> {
    let src = run_dir_config(dir)?;
    let cfg = RunConfig::parse(&src)?;
    let entry = crate::registry::find(&cfg.family).expect("validated by RunConfig::parse");
    let checkpoint::Loaded {
        tensors: state,
        pos,
        ..
    } = checkpoint::load_family(dir, &cfg.family)?;
    let mut rng = Rng::new(cfg.train.seed);
    let loading = || format!("loading {}", dir.display());
    let (model, device, data) = match entry.build {
        Build::Fit(build) => {
            check_data(&src, &cfg)?;
            let data = load_data(&cfg)?;
            let mut model = build_fit(build, &src, &cfg, &data, &mut rng)?;
            model.load_state(&state).with_context(loading)?;
            (LoadedModel::Fit(model), Device::Cpu, data)
        }
        Build::Steps(build) => {
            let device = cfg.device.open().map_err(anyhow::Error::msg)?;
            let data = load_data(&cfg)?;
            let mut model = build_steps(build, &src, &cfg, &data, &device, &mut rng)?;
            model.load_state(&state).with_context(loading)?;
            (LoadedModel::Steps(model), device, data)
        }
    };
    Ok(LoadedRun {
        cfg,
        data,
        model,
        pos,
        device,
    })
}
