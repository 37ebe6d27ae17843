//! Opening a finished run: its saved config, its data and its model with the
//! checkpoint's state loaded (for `gen eval` and `gen sample`).

use crate::run::checkpoint::{self, Position};
use crate::run::config::RunConfig;
use crate::run::setup::{build_fit, build_steps, check_data, plan_data, run_dir_config};
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use gen_core::fit::FitModel;
use gen_core::{Build, DataInfo, Model, Rng};
use gen_data::Dataset;
use gen_nn::average::AVERAGE_PREFIX;
use std::collections::HashMap;
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
    /// The parameters' moving average the run kept (`train.ema`), as saved.
    pub average: Option<HashMap<String, Tensor>>,
}

/// A run's model without its data set (what drawing samples needs).
pub struct ModelRun {
    pub cfg: RunConfig,
    pub info: DataInfo,
    pub model: LoadedModel,
    /// The parameters' moving average the run kept (`train.ema`), as saved.
    pub average: Option<HashMap<String, Tensor>>,
}

impl ModelRun {
    /// Puts the moving average into the model's parameters (for good: reload the run to
    /// get its last parameters back); an error naming the fix when the run kept none.
    pub fn use_average(&self) -> Result<()> {
        use_average(&self.model, self.average.as_ref(), &self.cfg.family)
    }
}

impl LoadedRun {
    /// The same for a run loaded with its data.
    pub fn use_average(&self) -> Result<()> {
        use_average(&self.model, self.average.as_ref(), &self.cfg.family)
    }
}

fn use_average(
    model: &LoadedModel,
    average: Option<&HashMap<String, Tensor>>,
    family: &str,
) -> Result<()> {
    let (LoadedModel::Steps(model), Some(average)) = (model, average) else {
        bail!(
            "this `{family}` run kept no moving average of its parameters; train with train.ema (e.g. --set train.ema=0.999)"
        );
    };
    Ok(model.params().load(AVERAGE_PREFIX, average)?)
}

/// The run with its data set loaded.
pub fn load(dir: &Path) -> Result<LoadedRun> {
    let (run, data, pos, device) = open(dir, true)?;
    Ok(LoadedRun {
        cfg: run.cfg,
        data: data.expect("asked for"),
        model: run.model,
        pos,
        device,
        average: run.average,
    })
}

/// The run's model; its data set is read only when the model's shape depends on the
/// values (regression targets, `name: file` columns).
pub fn load_model(dir: &Path) -> Result<ModelRun> {
    Ok(open(dir, false)?.0)
}

fn open(dir: &Path, need_data: bool) -> Result<(ModelRun, Option<Dataset>, Position, Device)> {
    let src = run_dir_config(dir)?;
    let cfg = RunConfig::parse(&src)?;
    let entry = crate::registry::find(&cfg.family).expect("validated by RunConfig::parse");
    let checkpoint::Loaded {
        tensors: state,
        pos,
        ..
    } = checkpoint::load_family(dir, &cfg.family)?;
    let plan = plan_data(&cfg)?;
    let (data, info) = match plan.info {
        Some(info) if !need_data => (None, info),
        _ => {
            let data = plan.load()?;
            let info = data.info.clone();
            (Some(data), info)
        }
    };
    crate::run::vocab::check(dir, &info)?;
    let mut rng = Rng::new(cfg.train.seed);
    let loading = || format!("loading {}", dir.display());
    let (model, device) = match entry.build {
        Build::Fit(build) => {
            check_data(&src, &cfg)?;
            let mut model = build_fit(build, &src, &cfg, &info, &mut rng)?;
            model.load_state(&state).with_context(loading)?;
            (LoadedModel::Fit(model), Device::Cpu)
        }
        Build::Steps(build) => {
            let device = cfg.device.open().map_err(anyhow::Error::msg)?;
            let mut model = build_steps(build, &src, &cfg, &info, &device, &mut rng)?;
            model.load_state(&state).with_context(loading)?;
            (LoadedModel::Steps(model), device)
        }
    };
    let average: HashMap<String, Tensor> = state
        .into_iter()
        .filter(|(k, _)| k.starts_with(AVERAGE_PREFIX))
        .collect();
    let average = (!average.is_empty()).then_some(average);
    Ok((
        ModelRun {
            cfg,
            info,
            model,
            average,
        },
        data,
        pos,
        device,
    ))
}
