//! Run set-up that `gen train`, the closed-form fits, `gen eval`, `gen sample` and the
//! latent commands share: the config (a file with `--set`s, or a run directory's), the
//! data it names, and the model built from both.

use crate::cli::TrainArgs;
use crate::run::config::RunConfig;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
use gen_base::config::{ConfigError, ConfigSource};
use gen_core::fit::{FitModel, Points};
use gen_core::model::{BuildContext, Model};
use gen_core::Rng;
use gen_core::Setup;
use gen_data::{Dataset, Pixels, Split};
use std::path::{Path, PathBuf};

/// The repository's `data/` folder (MNIST ships there).
fn repo_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// The config a `gen train` invocation names (or the saved one of `--resume`), with the
/// `--set` overrides applied, and the run's name.
pub fn read_config(args: &TrainArgs) -> Result<(ConfigSource, String)> {
    let (src, run_name) = match (&args.config, &args.resume) {
        (_, Some(dir)) => (run_dir_config(dir)?, String::new()),
        (Some(path), None) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the config {}", path.display()))?;
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "run".into());
            (ConfigSource::new(path.display().to_string(), text), stem)
        }
        (None, None) => bail!("give a config file or --resume RUN_DIR"),
    };
    let src = src.with_known_paths(crate::run::config::default_key_paths());
    Ok((src.with_overrides(&args.sets)?, run_name))
}

/// The resolved `config.yaml` a run directory holds.
pub fn run_dir_config(dir: &Path) -> Result<ConfigSource> {
    let path = dir.join("config.yaml");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (is {} a run directory?)",
            path.display(),
            dir.display()
        )
    })?;
    Ok(ConfigSource::new(path.display().to_string(), text))
}

/// Sizes the data a config names without loading it (see [`gen_data::DataPlan`]).
pub fn plan_data(cfg: &RunConfig) -> Result<gen_data::DataPlan> {
    Ok(Dataset::plan(&cfg.data, Some(&repo_data()))?)
}

/// Loads the data a `data` section names (e.g. `gen eval --ood`'s other data set).
pub fn load_data_config(data: &gen_data::DataConfig) -> Result<Dataset> {
    Ok(Dataset::load(data, Some(&repo_data()))?)
}

/// The `data` section `name: <name>` with every default, for a data set named on the
/// command line (`flag`, e.g. `--ood`, names it in the error).
pub fn data_config_named(name: &str, flag: &str) -> Result<gen_data::DataConfig> {
    serde_norway::from_str(&format!("name: {name}")).map_err(|_| {
        let known: Vec<&str> = gen_data::DATASETS.iter().map(|(n, _)| *n).collect();
        anyhow::anyhow!(
            "{flag} {name}: not a data set gen knows; one of {}",
            known.join(", ")
        )
    })
}

/// The split as f64 points (exact values when the file held float64).
pub fn points(s: &Split) -> Points {
    match &s.x_f64 {
        Some(x) => Points {
            x: x.clone(),
            n: s.n,
            dim: s.dim,
            labels: s.labels.clone(),
        },
        None => Points::from_f32(&s.x, s.dim, s.labels.clone()),
    }
}

/// Rejects data settings a whole-data-set fit cannot honour.
pub fn check_data(src: &ConfigSource, cfg: &RunConfig) -> Result<()> {
    if cfg.data.pixels == Pixels::Dynamic {
        let e = ConfigError::invalid(
            "data.pixels",
            format!(
                "`{}` fits one fixed data set, but dynamic binarization redraws the pixels every epoch; \
                 use `continuous` or `static`",
                cfg.family
            ),
        );
        return Err(e.locate_in(src).into());
    }
    Ok(())
}

/// A gradient-step model (f32) for the config and data, initialized from `rng`.
pub fn build_steps(
    build: fn(BuildContext<'_>) -> gen_core::Result<Box<dyn Model>>,
    src: &ConfigSource,
    cfg: &RunConfig,
    data: &gen_core::DataInfo,
    device: &Device,
    rng: &mut Rng,
) -> Result<Box<dyn Model>> {
    Ok(build(BuildContext {
        config: src,
        setup: Setup {
            data,
            device: device.clone(),
            dtype: DType::F32,
            optimizer: &cfg.train.optimizer,
            rng,
        },
    })?)
}

/// A closed-form model (f64, on the CPU) for the config and data.
pub fn build_fit(
    build: fn(BuildContext<'_>) -> gen_core::Result<Box<dyn FitModel>>,
    src: &ConfigSource,
    cfg: &RunConfig,
    data: &gen_core::DataInfo,
    rng: &mut Rng,
) -> Result<Box<dyn FitModel>> {
    Ok(build(BuildContext {
        config: src,
        setup: Setup {
            data,
            device: Device::Cpu,
            dtype: DType::F64,
            optimizer: &cfg.train.optimizer,
            rng,
        },
    })?)
}
