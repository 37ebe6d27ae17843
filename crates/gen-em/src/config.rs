//! The `model` section for `family: em`.

use gen_base::config::ConfigError;
use gen_core::checks::FamilyConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmConfig {
    /// Always `em` here (the registry has already dispatched on it).
    pub family: String,
    /// Number of mixture components (the values z takes).
    #[serde(default = "defaults::components")]
    pub components: usize,
    #[serde(default)]
    pub covariance: CovarianceType,
    /// Added to every covariance's diagonal, keeping it positive definite.
    #[serde(default = "defaults::reg_covar")]
    pub reg_covar: f64,
    #[serde(default)]
    pub init: InitMethod,
    /// Start from these parameters instead (a safetensors file with `weights`, `means` and
    /// `covariances`, such as a previous run's checkpoint.safetensors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
    /// Restarts from fresh initializations; the one with the best training
    /// log-likelihood is kept.
    #[serde(default = "defaults::one")]
    pub n_init: usize,
    /// Stop when the mean log-likelihood changes by less than this in one iteration.
    #[serde(default = "defaults::tol")]
    pub tol: f64,
    #[serde(default = "defaults::max_iter")]
    pub max_iter: usize,
}

/// The shape of each component's covariance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CovarianceType {
    /// A full symmetric matrix per component (through its Cholesky factor).
    #[default]
    Full,
    /// A diagonal per component.
    Diag,
    /// One variance per component.
    Spherical,
}

/// How the first responsibilities are chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum InitMethod {
    /// Hard assignments from k-means (k-means++ seeding, then Lloyd iterations).
    #[default]
    #[serde(rename = "kmeans++")]
    KmeansPlusPlus,
    /// k distinct training points drawn at random as centres; every point assigned to the
    /// nearest (no k-means iterations).
    #[serde(rename = "random")]
    Random,
}

gen_base::defaults! {
    components: usize = 8;
    reg_covar: f64 = 1e-6;
    one: usize = 1;
    tol: f64 = 1e-3;
    max_iter: usize = 100;
}

impl FamilyConfig for EmConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |k: &str, m: String| Err(ConfigError::invalid(format!("model.{k}"), m));
        if self.components == 0 {
            return bad("components", "must be at least 1".into());
        }
        gen_base::config::non_negative("model.reg_covar", self.reg_covar)?;
        gen_base::config::non_negative("model.tol", self.tol)?;
        if self.max_iter == 0 {
            return bad("max_iter", "must be at least 1".into());
        }
        if self.n_init == 0 {
            return bad("n_init", "must be at least 1".into());
        }
        if let Some(p) = &self.init_from {
            if !p.is_file() {
                return bad(
                    "init_from",
                    format!(
                        "no file at `{}` (give a safetensors file with weights, means and covariances, \
                         e.g. a run's checkpoint.safetensors)",
                        p.display()
                    ),
                );
            }
        }
        if self.init_from.is_some() && self.n_init > 1 {
            return bad(
                "n_init",
                "restarts need fresh initializations; with `init_from` use n_init: 1".into(),
            );
        }
        Ok(())
    }
}
