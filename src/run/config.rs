//! The top level of a config: `model` (read by the model's own crate), `data`, `train`,
//! `device` and `log`.

use gen_base::config::{closest, ConfigError, ConfigSource};
use gen_data::DataConfig;
use gen_nn::device::DeviceName;
use gen_nn::optim::OptimizerConfig;
use serde::{Deserialize, Serialize};

/// The whole document; checks that no unknown top-level key is present.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // the sections are read one by one below, with their own errors
struct Document {
    model: ModelHeader,
    data: serde::de::IgnoredAny,
    #[serde(default)]
    train: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    device: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    log: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    checkpoint: Option<serde::de::IgnoredAny>,
}

/// Only the family; the rest of `model` belongs to the model's crate.
#[derive(Debug, Deserialize)]
struct ModelHeader {
    family: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Batch size for test-set evaluation (does not change the result, only speed).
    #[serde(default = "default_eval_batch")]
    pub eval_batch_size: usize,
    /// Seeds initialization, data order and noise.
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    /// How the learning rate changes over the epochs.
    #[serde(default)]
    pub lr_schedule: LrSchedule,
    /// Start from the parameters of another run of the same family and shapes (its
    /// latest checkpoint; the optimizer starts fresh), e.g. to fine-tune with another
    /// objective. Relative paths are relative to the working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<std::path::PathBuf>,
    /// What a NaN or infinite loss or gradient does.
    #[serde(default)]
    pub on_nonfinite: OnNonFinite,
    /// Keep an exponential moving average of the parameters with this decay (e.g. 0.999;
    /// 0 = none): saved in checkpoints, scored by `gen eval` as its own figures
    /// (`quality_ema/*`) and drawn from by `gen sample --ema`.
    #[serde(default, skip_serializing_if = "gen_core::checks::is_zero")]
    pub ema: f64,
}

/// What the session does when a step's loss or gradient is not finite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnNonFinite {
    /// Stop, naming the step and the term; the last good checkpoint stays.
    #[default]
    Stop,
    /// Undo the step (parameters and optimizer state as before it) and go on; stop after
    /// [`MAX_SKIPPED_IN_A_ROW`] skipped batches in a row. Copies the state every step.
    SkipBatch,
}

/// `skip_batch` gives up after this many non-finite batches in a row.
pub const MAX_SKIPPED_IN_A_ROW: usize = 10;

/// When and how many checkpoints a run keeps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Checkpoints kept: the newest as checkpoint.safetensors, the others as
    /// checkpoint-step-<step>.safetensors.
    #[serde(default = "two")]
    pub keep: usize,
    /// Also checkpoint every this many steps inside an epoch (0 = only at epoch ends).
    #[serde(default)]
    pub every_steps: u64,
    /// Also checkpoint when this many minutes passed since the last one (0 = never).
    #[serde(default = "ten")]
    pub every_minutes: f64,
}

fn two() -> usize {
    2
}
fn ten() -> f64 {
    10.0
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            keep: 2,
            every_steps: 0,
            every_minutes: 10.0,
        }
    }
}

/// A learning-rate schedule over epochs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// `train.optimizer.lr` throughout.
    #[default]
    Constant,
    /// Half a cosine from `lr` at the first epoch toward 0 after the last.
    Cosine,
}

impl LrSchedule {
    /// The factor on the learning rate during `epoch` (1-based) of `epochs`.
    pub fn scale(self, epoch: usize, epochs: usize) -> f64 {
        match self {
            LrSchedule::Constant => 1.0,
            LrSchedule::Cosine => {
                let t = (epoch.saturating_sub(1)) as f64 / epochs.max(1) as f64;
                0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}

fn default_epochs() -> usize {
    10
}
fn default_batch() -> usize {
    128
}
fn default_eval_batch() -> usize {
    1000
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: default_epochs(),
            batch_size: default_batch(),
            eval_batch_size: default_eval_batch(),
            seed: 0,
            optimizer: OptimizerConfig::default(),
            lr_schedule: LrSchedule::Constant,
            init_from: None,
            on_nonfinite: OnNonFinite::Stop,
            ema: 0.0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Write sample and reconstruction grids (PNG and TensorBoard) every this many epochs (0 = never).
    #[serde(default = "one")]
    pub pictures_every: usize,
    /// Write weight histograms every this many epochs (0 = never).
    #[serde(default = "one")]
    pub histograms_every: usize,
    /// Write the training loss as `train/step_loss` every this many steps (0 = never).
    #[serde(default = "ten_steps")]
    pub loss_every: u64,
}

fn ten_steps() -> u64 {
    10
}

fn one() -> usize {
    1
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            pictures_every: 1,
            histograms_every: 1,
            loss_every: 10,
        }
    }
}

/// The sections the session itself reads.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub family: String,
    pub data: DataConfig,
    pub train: TrainConfig,
    pub device: DeviceName,
    pub log: LogConfig,
    pub checkpoint: CheckpointConfig,
}

impl RunConfig {
    pub fn parse(src: &ConfigSource) -> Result<Self, ConfigError> {
        let doc: Document = src.whole().map_err(|mut e| {
            if e.path.is_empty() {
                e.message = e.message.replace(
                    "a section (keys indented under it)",
                    "a mapping with the sections model, data, train, device, log, checkpoint",
                );
            }
            e
        })?;
        let family = doc.model.family;
        if crate::registry::find(&family).is_none() {
            let names = crate::registry::names();
            let hint = match closest(&family, &names) {
                Some(n) => format!("did you mean `{n}`?"),
                None => format!("known families: {} (see `gen list`)", names.join(", ")),
            };
            let mut e =
                ConfigError::invalid("model.family", format!("unknown model family `{family}`"))
                    .locate_in(src);
            e.hint = Some(hint);
            return Err(e);
        }
        let data: DataConfig = src.section("data")?;
        let train: TrainConfig = src.optional_section("train")?.unwrap_or_default();
        let device: DeviceName = src.optional_section("device")?.unwrap_or_default();
        let log: LogConfig = src.optional_section("log")?.unwrap_or_default();
        let checkpoint: CheckpointConfig = src.optional_section("checkpoint")?.unwrap_or_default();
        let cfg = RunConfig {
            family,
            data,
            train,
            device,
            log,
            checkpoint,
        };
        cfg.validate().map_err(|e| e.locate_in(src))?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let t = &self.train;
        if t.epochs == 0 {
            return Err(ConfigError::invalid("train.epochs", "must be at least 1"));
        }
        if t.batch_size == 0 {
            return Err(ConfigError::invalid(
                "train.batch_size",
                "must be at least 1",
            ));
        }
        if t.eval_batch_size == 0 {
            return Err(ConfigError::invalid(
                "train.eval_batch_size",
                "must be at least 1",
            ));
        }
        t.optimizer.validate("train.optimizer")?;
        if !(0.0..1.0).contains(&t.ema) {
            return Err(ConfigError::invalid(
                "train.ema",
                format!(
                    "the moving average's decay is in [0, 1) (0.999 is usual; 0 = none), got {}",
                    t.ema
                ),
            ));
        }
        if self.checkpoint.keep == 0 {
            return Err(ConfigError::invalid(
                "checkpoint.keep",
                "must be at least 1 (the newest checkpoint is what --resume continues)",
            ));
        }
        let m = self.checkpoint.every_minutes;
        if !(m.is_finite() && m >= 0.0) {
            return Err(ConfigError::invalid(
                "checkpoint.every_minutes",
                "must be a number of minutes >= 0 (0 = only at epoch ends)",
            ));
        }
        self.data.validate()
    }

    /// The session's sections as YAML values, for the run's resolved config.
    pub fn resolved(&self, model: gen_core::yaml::Value) -> String {
        use gen_core::yaml::{to_value, Mapping, Value};
        let mut m = Mapping::new();
        m.insert("model".into(), model);
        m.insert("data".into(), to_value(&self.data).unwrap_or(Value::Null));
        m.insert("train".into(), to_value(&self.train).unwrap_or(Value::Null));
        m.insert(
            "device".into(),
            to_value(self.device).unwrap_or(Value::Null),
        );
        m.insert("log".into(), to_value(&self.log).unwrap_or(Value::Null));
        m.insert(
            "checkpoint".into(),
            to_value(&self.checkpoint).unwrap_or(Value::Null),
        );
        gen_core::yaml::to_string(&Value::Mapping(m)).unwrap_or_default()
    }
}

/// The key paths of every section but `model` with their defaults (`train.optimizer.lr`,
/// `data.train_subset`...): what a key given in the wrong section is matched against.
pub fn default_key_paths() -> Vec<String> {
    use gen_core::yaml::{to_value, Mapping, Value};
    let mut m = Mapping::new();
    if let Ok(data) = gen_core::yaml::from_str::<DataConfig>("name: mnist") {
        m.insert("data".into(), to_value(&data).unwrap_or(Value::Null));
    }
    m.insert(
        "train".into(),
        to_value(TrainConfig::default()).unwrap_or(Value::Null),
    );
    m.insert(
        "log".into(),
        to_value(LogConfig::default()).unwrap_or(Value::Null),
    );
    m.insert(
        "checkpoint".into(),
        to_value(CheckpointConfig::default()).unwrap_or(Value::Null),
    );
    m.insert("device".into(), Value::Null);
    gen_base::config::key_paths(&Value::Mapping(m))
}

#[cfg(test)]
mod tests {
    use super::LrSchedule;

    #[test]
    fn cosine_schedule_by_hand() {
        let s = LrSchedule::Cosine;
        assert_eq!(s.scale(1, 4), 1.0);
        // epoch 3 of 4: t = 1/2, 0.5 (1 + cos(pi/2)) = 0.5
        assert!((s.scale(3, 4) - 0.5).abs() < 1e-15);
        // last epoch: t = 3/4, 0.5 (1 - sqrt(2)/2)
        assert!((s.scale(4, 4) - 0.5 * (1.0 - 0.5f64.sqrt())).abs() < 1e-15);
        assert_eq!(LrSchedule::Constant.scale(4, 4), 1.0);
    }
}
