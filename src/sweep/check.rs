//! Every job's config is checked before the first job starts, as `gen train` would read
//! it (the model built, not trained), so that a typo in the grid fails in seconds with
//! the key and value named, not on a cluster node an hour later.

use super::spec::Spec;
use crate::run::config::{default_key_paths, RunConfig};
use crate::run::session::Session;
use crate::run::setup::{build_fit, build_steps, load_data_config, plan_data};
use anyhow::Result;
use candle_core::Device;
use gen_base::config::ConfigSource;
use gen_core::model::Build;
use gen_core::Rng;
use std::collections::HashMap;

/// Checks jobs' configs, loading each distinct data set once.
#[derive(Default)]
pub struct Checker {
    data: HashMap<String, gen_data::Dataset>,
}

impl Checker {
    /// Checks the job with `overrides`; with `estimate`, also returns the bytes its
    /// training is estimated to take (as `gen train` prints it).
    pub fn check(
        &mut self,
        spec: &Spec,
        overrides: &[String],
        estimate: bool,
    ) -> Result<Option<u64>> {
        let sets: Vec<String> = spec.sets.iter().chain(overrides).cloned().collect();
        self.check_sets(spec, &sets, estimate)
            .map_err(|e| blame_the_grid(e, spec))
    }

    fn check_sets(&mut self, spec: &Spec, sets: &[String], estimate: bool) -> Result<Option<u64>> {
        let src = ConfigSource::new(spec.config.display().to_string(), spec.config_text.clone())
            .with_known_paths(default_key_paths())
            .with_overrides(sets)?;
        let cfg = RunConfig::parse(&src)?;
        let entry = crate::registry::find(&cfg.family).expect("validated by RunConfig::parse");
        let plan = plan_data(&cfg)?;
        let key = serde_json::to_string(&cfg.data)?;
        if !self.data.contains_key(&key) && (plan.info.is_none() || estimate) {
            self.data.insert(key.clone(), load_data_config(&cfg.data)?);
        }
        let data = self.data.get(&key);
        let info = match (&plan.info, data) {
            (Some(info), _) => info.clone(),
            (None, Some(d)) => d.info.clone(),
            (None, None) => unreachable!("loaded above"),
        };
        let mut rng = Rng::new(0);
        match entry.build {
            Build::Steps(build) => {
                let model = build_steps(build, &src, &cfg, &info, &Device::Cpu, &mut rng)?;
                if let (true, Some(data)) = (estimate, data) {
                    let session = Session {
                        cfg: &cfg,
                        data,
                        device: Device::Cpu,
                    };
                    let e = crate::train::memory::training_estimate(
                        model.as_ref(),
                        &session,
                        plan.bytes,
                    )?;
                    return Ok(Some(e.total()));
                }
            }
            Build::Fit(build) => {
                build_fit(build, &src, &cfg, &info, &mut rng)?;
                if estimate {
                    return Ok(Some(plan.bytes * 3));
                }
            }
        }
        Ok(None)
    }
}

/// A config error caused by a grid value names the grid's line and the value, not the
/// `--set` it was applied as; the rest pass as they are (a sweep's own `--set` ones
/// already name their `--set`).
fn blame_the_grid(e: anyhow::Error, spec: &Spec) -> anyhow::Error {
    let text = format!("{e:#}");
    for axis in &spec.axes {
        for value in &axis.values {
            let prefix = format!("--set {}={value}: ", axis.key);
            if let Some(rest) = text.strip_prefix(&prefix) {
                return match rest.contains("unknown field") {
                    true => anyhow::anyhow!("{}: grid key `{}`: {rest}", axis.origin, axis.key),
                    false => anyhow::anyhow!(
                        "{}: grid `{}`, value `{value}`: {rest}",
                        axis.origin,
                        axis.key
                    ),
                };
            }
        }
    }
    e
}
