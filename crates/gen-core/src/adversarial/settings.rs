//! The players' settings every adversarial family shares: how many updates each player
//! takes per iteration, their learning rates and the discriminator's label smoothing.

use gen_base::config::ConfigError;
use gen_nn::optim::OptimizerConfig;

/// How many updates each player takes per iteration, and their learning rates.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub d_steps: usize,
    pub g_steps: usize,
    /// `None`: `train.optimizer.lr`.
    pub d_lr: Option<f64>,
    pub g_lr: Option<f64>,
    /// One-sided label smoothing `s`: the discriminator trains on data labels `1 - s`.
    pub label_smoothing: f64,
}

impl Schedule {
    /// Checks the values; errors name `model.<key>`.
    pub fn validate(&self) -> std::result::Result<(), ConfigError> {
        for (k, v) in [("d_steps", self.d_steps), ("g_steps", self.g_steps)] {
            if v == 0 {
                return Err(ConfigError::invalid(
                    format!("model.{k}"),
                    "must be at least 1",
                ));
            }
        }
        if !(0.0..0.5).contains(&self.label_smoothing) {
            return Err(ConfigError::invalid(
                "model.label_smoothing",
                format!(
                    "must be in [0, 0.5) (0 = off; 0.1 is the usual one-sided smoothing), got {}",
                    self.label_smoothing
                ),
            ));
        }
        for (k, v) in [("d_lr", self.d_lr), ("g_lr", self.g_lr)] {
            if let Some(lr) = v {
                gen_base::config::positive(&format!("model.{k}"), lr)?;
            }
        }
        Ok(())
    }

    /// The optimizer settings of (discriminator, generator side): `base` with each
    /// player's learning rate.
    pub fn optimizers(&self, base: &OptimizerConfig) -> (OptimizerConfig, OptimizerConfig) {
        let with = |lr: Option<f64>| OptimizerConfig {
            lr: lr.unwrap_or(base.lr),
            ..base.clone()
        };
        (with(self.d_lr), with(self.g_lr))
    }
}

/// A player's update count with its default `D` (1, but the GAN's generator takes 2: its
/// old-generator term needs a second step). In YAML it is a plain number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Steps<const D: usize>(pub usize);

impl<const D: usize> Default for Steps<D> {
    fn default() -> Self {
        Steps(D)
    }
}

/// Declares an adversarial family's `model` section: the struct as written, followed by the
/// players' settings every adversarial family shares, in the same YAML mapping:
/// `d_steps` (default 1), `g_steps` (default `g_steps = N` below), `d_lr`, `g_lr` (default
/// `train.optimizer.lr`) and `label_smoothing` (default 0), and a `schedule()` that hands
/// them to [`crate::adversarial::Players`]. The struct keeps `deny_unknown_fields`, so a
/// typo in any of its keys, shared or its own, is reported with the keys it could be.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// gen_core::two_player_config! {
///     #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
///     #[serde(deny_unknown_fields)]
///     pub struct ToyConfig {
///         pub family: String,
///     }
///     g_steps = 2;
/// }
/// let cfg: ToyConfig = gen_core::yaml::from_str("family: toy\nd_lr: 0.001").unwrap();
/// assert_eq!((cfg.d_steps.0, cfg.g_steps.0, cfg.d_lr), (1, 2, Some(0.001)));
/// assert_eq!(cfg.schedule().g_steps, 2);
/// ```
#[macro_export]
macro_rules! two_player_config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        }
        g_steps = $g:literal;
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            /// Discriminator updates per iteration.
            #[serde(default)]
            pub d_steps: $crate::adversarial::Steps<1>,
            /// Updates of the other player (generator, autoencoder, encoder + generator) per
            /// iteration.
            #[serde(default)]
            pub g_steps: $crate::adversarial::Steps<$g>,
            /// Learning rates of the players (default: `train.optimizer.lr`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub d_lr: Option<f64>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub g_lr: Option<f64>,
            /// One-sided label smoothing: the discriminator trains on data labels `1 - s`
            /// (0 = off).
            #[serde(default, skip_serializing_if = "gen_core::checks::is_zero")]
            pub label_smoothing: f64,
        }

        impl $name {
            /// The players' settings, for [`gen_core::adversarial::Players`].
            pub fn schedule(&self) -> $crate::adversarial::Schedule {
                $crate::adversarial::Schedule {
                    d_steps: self.d_steps.0,
                    g_steps: self.g_steps.0,
                    d_lr: self.d_lr,
                    g_lr: self.g_lr,
                    label_smoothing: self.label_smoothing,
                }
            }

            /// The players this config describes: the discriminator owns
            /// `discriminator.*` of `params`, the other side the entries under `side`
            /// (saved under `side_prefix`), each with the run's optimizer settings at its
            /// own learning rate.
            pub fn players(
                &self,
                params: &$crate::__gen_nn::params::Params,
                setup: &$crate::Setup<'_>,
                side: &[&str],
                side_prefix: &'static str,
            ) -> $crate::adversarial::Players {
                let base = setup.optimizer;
                $crate::adversarial::Players::new(params, &self.schedule(), base, side, side_prefix)
            }
        }
    };
}
