//! A family's config and the checks it shares with the others.
//!
//! A family's `model` section is a serde struct implementing [`FamilyConfig`]; the
//! builder reads it with [`crate::BuildContext::model_config`], which runs its one
//! `validate` against the data and places any error at the file, line and key it came
//! from. The checks several families make against the data live here, once.

use gen_base::config::ConfigError;
use gen_base::data_info::{DataInfo, DataKind};
use serde::de::DeserializeOwned;

/// A family's `model` section.
pub trait FamilyConfig: DeserializeOwned {
    /// The family models token sequences (text), not images or points.
    const TEXT: bool = false;

    /// The checks of the values on their own; errors name `model.<key>`.
    fn validate(&self) -> Result<(), ConfigError>;

    /// The checks against the data (a network for 28x28 images, labels to condition on);
    /// none unless the family has some.
    fn validate_for(&self, data: &DataInfo) -> Result<(), ConfigError> {
        let _ = data;
        Ok(())
    }
}

/// Text data goes to text families only, and the other way round; the error names
/// `model.family` and the families that fit.
pub fn modality<C: FamilyConfig>(data: &DataInfo) -> Result<(), ConfigError> {
    let text = data.vocab().is_some();
    if text == C::TEXT {
        return Ok(());
    }
    let message = match text {
        true => format!(
            "`{}` is text (sequences of characters), which this family does not model; use \
             `family: text-vae`",
            data.name
        ),
        false => format!(
            "this family models text, and `{}` is not text; use `data.name: tang-couplets` \
             or `data.name: text` with your own lines",
            data.name
        ),
    };
    Err(ConfigError::invalid("model.family", message))
}

/// `key` selects networks built for 28x28 gray images (`what`: "the conv networks are").
pub fn image_28x28(data: &DataInfo, key: &str, what: &str) -> Result<(), ConfigError> {
    let mnist_like = data.kind
        == DataKind::Image {
            channels: 1,
            height: 28,
            width: 28,
        };
    if mnist_like {
        return Ok(());
    }
    Err(ConfigError::invalid(
        key,
        format!(
            "{what} built for 28x28 gray images, and `{}` is not; use `network: mlp`",
            data.name
        ),
    ))
}

/// `key` models values in [0, 1] (`what`: "a Bernoulli decoder"); `fix` is the setting
/// for real-valued points.
pub fn values_in_unit_interval(
    data: &DataInfo,
    key: &str,
    what: &str,
    fix: &str,
) -> Result<(), ConfigError> {
    if data.is_image() {
        return Ok(());
    }
    Err(ConfigError::invalid(
        key,
        format!(
            "{what} models values in [0, 1], but `{}` is a set of real-valued points; use `{fix}`",
            data.name
        ),
    ))
}

/// `key` needs class labels; `why` ends the message ("has no labels to condition on; ...").
pub fn labelled(data: &DataInfo, key: &str, why: &str) -> Result<usize, ConfigError> {
    data.classes
        .ok_or_else(|| ConfigError::invalid(key, format!("`{}` {why}", data.name)))
}

/// For `skip_serializing_if`: an option left at 0 stays out of a run's resolved config,
/// so configs (and resume checks) of runs from before the option existed are unchanged.
pub fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// For `skip_serializing_if`: a switch left off stays out of the resolved config.
pub fn is_false(v: &bool) -> bool {
    !*v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(kind: DataKind, classes: Option<usize>) -> DataInfo {
        DataInfo {
            name: "set".into(),
            kind,
            classes,
            modes: None,
            train_size: 1000,
            targets: None,
        }
    }

    #[test]
    fn shared_checks_name_the_key_and_the_data() {
        let mnist = data(
            DataKind::Image {
                channels: 1,
                height: 28,
                width: 28,
            },
            Some(10),
        );
        let ring = data(DataKind::Points { dim: 2 }, None);
        assert!(image_28x28(&mnist, "model.network", "x is").is_ok());
        let e = image_28x28(&ring, "model.network", "the DCGAN pair is").unwrap_err();
        assert_eq!(e.path, "model.network");
        assert!(
            e.to_string()
                .contains("the DCGAN pair is built for 28x28 gray images, and `set` is not"),
            "{e}"
        );
        assert!(values_in_unit_interval(&mnist, "k", "w", "f").is_ok());
        let e = values_in_unit_interval(
            &ring,
            "model.decoder",
            "a Bernoulli decoder",
            "decoder: gaussian",
        )
        .unwrap_err();
        assert!(e.to_string().contains("use `decoder: gaussian`"), "{e}");
        assert_eq!(labelled(&mnist, "k", "w").unwrap(), 10);
        let e = labelled(&ring, "model.conditional", "has no labels").unwrap_err();
        assert!(e.to_string().contains("`set` has no labels"), "{e}");
    }
}
