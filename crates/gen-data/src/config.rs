//! The `data` section of a config.

use gen_base::config::ConfigError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetName {
    Mnist,
    FashionMnist,
    Ring,
    Grid,
    Spiral,
    Moons,
    /// Regression toy: `y = x^3 + eps`, `eps ~ N(0, sigma^2)` (sigma 3), x uniform in
    /// [-4, 4] (Hernandez-Lobato and Adams 2015).
    Cubic,
    /// Points read from `train` / `test` files.
    File,
    /// The five-character couplets of the Tang poems ([`crate::text`]).
    TangCouplets,
    /// A user's lines from `train` / `test` UTF-8 files, characters as tokens.
    Text,
}

impl DatasetName {
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetName::Mnist => "mnist",
            DatasetName::FashionMnist => "fashion-mnist",
            DatasetName::Ring => "ring",
            DatasetName::Grid => "grid",
            DatasetName::Spiral => "spiral",
            DatasetName::Moons => "moons",
            DatasetName::Cubic => "cubic",
            DatasetName::File => "file",
            DatasetName::TangCouplets => "tang-couplets",
            DatasetName::Text => "text",
        }
    }

    /// The 2-D toy densities (ring, grid, spiral, moons).
    pub fn is_toy(self) -> bool {
        matches!(
            self,
            DatasetName::Ring | DatasetName::Grid | DatasetName::Spiral | DatasetName::Moons
        )
    }

    /// Sequences of characters (the couplets, a user's lines).
    pub fn is_text(self) -> bool {
        matches!(self, DatasetName::TangCouplets | DatasetName::Text)
    }

    /// The folder under `$GEN_DATA_DIR` and the repository's `data/` that holds it.
    pub fn folder(self) -> &'static str {
        match self {
            DatasetName::TangCouplets => "chinese-poetry",
            other => other.as_str(),
        }
    }

    /// Sets sampled from a seed (the 2-D toys and the regression toy).
    pub fn is_sampled(self) -> bool {
        self.is_toy() || self == DatasetName::Cubic
    }
}

/// How pixel intensities become model inputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pixels {
    /// Gray levels scaled to [0, 1] (the PyTorch VAE example).
    #[default]
    Continuous,
    /// Each pixel re-sampled as Bernoulli(intensity) every time it is drawn; the test set
    /// is binarized once, with `binarize_seed`, so evaluations are comparable.
    Dynamic,
    /// Binarized once, with `binarize_seed`, train and test alike.
    Static,
    /// Gray levels above 0.5 become 1, the rest 0, train and test alike: no randomness
    /// (the TensorFlow VAE tutorials' `np.where(x > .5, 1.0, 0.0)`).
    Threshold,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    pub name: DatasetName,
    /// A directory holding the four IDX files; searched first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    #[serde(default)]
    pub pixels: Pixels,
    #[serde(default)]
    pub binarize_seed: u64,
    /// Base URLs to download the `.gz` files from when no local copy exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirrors: Option<Vec<String>>,
    /// Image sets and files: keep only the first this many training examples (in file
    /// order), for quick studies on a subset. Left out of the resolved config when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_subset: Option<usize>,
    /// Image sets and files: keep only the first this many test examples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_subset: Option<usize>,
    /// Toy sets: number of training and test points.
    #[serde(default = "defaults::train_size")]
    pub train_size: usize,
    #[serde(default = "defaults::test_size")]
    pub test_size: usize,
    /// Toy sets: ring radius, or half-width of the grid (default 2 for the ring, 4 for the grid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius: Option<f64>,
    /// Toy sets: standard deviation of each mode or of the noise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma: Option<f64>,
    /// Toy sets: seed of the sampled points.
    #[serde(default)]
    pub seed: u64,
    /// `name: file`: the training points, a `.npy` or `.csv` file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<PathBuf>,
    /// `name: file`: the test points (same number of columns); without it, figures
    /// labelled "test" are computed on the training points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<PathBuf>,
    /// Text sets: characters seen fewer times than this on the training side become the
    /// unknown token (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_count: Option<usize>,
    /// `name: text`: the longest example in characters (default: the longest training
    /// line); each example is then `max_len + 1` tokens, its end token and padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<usize>,
    /// `name: text`: cut lines longer than `max_len` instead of stopping with an error.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncate: bool,
    /// `name: file`: the columns that are regression targets (by index from 0, or by a
    /// `.csv` header's name); the other columns are the inputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Column>,
}

/// A column of a data file: its index from 0, or its name in a `.csv` header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Column {
    Index(usize),
    Name(String),
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Column::Index(i) => write!(f, "{i}"),
            Column::Name(n) => write!(f, "`{n}`"),
        }
    }
}

gen_base::defaults! {
    train_size: usize = 50_000;
    test_size: usize = 10_000;
}

impl DataConfig {
    /// Text sets: the `min_count` in effect.
    pub fn min_count(&self) -> usize {
        self.min_count.unwrap_or(2)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |k: &str, m: String| Err(ConfigError::invalid(format!("data.{k}"), m));
        let text_keys = [
            ("min_count", self.min_count.is_some()),
            ("max_len", self.max_len.is_some()),
            ("truncate", self.truncate),
        ];
        if let Some((key, _)) = text_keys.iter().find(|(_, set)| *set) {
            if !self.name.is_text() {
                return bad(
                    key,
                    format!(
                        "applies to text sets (`tang-couplets`, `text`), not to `{}`",
                        self.name.as_str()
                    ),
                );
            }
            if self.name == DatasetName::TangCouplets && *key != "min_count" {
                return bad(
                    key,
                    "the couplets are all ten characters long; max_len and \
                                 truncate apply to `name: text`"
                        .into(),
                );
            }
        }
        if self.min_count == Some(0) || self.max_len == Some(0) {
            let key = if self.min_count == Some(0) {
                "min_count"
            } else {
                "max_len"
            };
            return bad(key, "must be at least 1".into());
        }
        if self.name.is_text() && self.pixels != Pixels::Continuous {
            return bad(
                "pixels",
                "binarization applies to images only, not to text".into(),
            );
        }
        if self.name == DatasetName::Text && self.train.is_none() {
            return bad(
                "train",
                "`name: text` needs `train: PATH` (a UTF-8 file, one example per line)".into(),
            );
        }
        if self.name == DatasetName::File {
            if self.train.is_none() {
                return bad(
                    "train",
                    "`name: file` needs `train: PATH` (a .npy or .csv of points, one per row)"
                        .into(),
                );
            }
            if self.pixels != Pixels::Continuous {
                return bad(
                    "pixels",
                    "binarization applies to images only, not to points from a file".into(),
                );
            }
            return Ok(());
        }
        if !self.targets.is_empty() {
            return bad(
                "targets",
                format!(
                    "target columns are read only with `name: file`; `{}` {}",
                    self.name.as_str(),
                    if self.name == DatasetName::Cubic {
                        "has its target already"
                    } else {
                        "has none"
                    }
                ),
            );
        }
        for (key, given) in [("train", &self.train), ("test", &self.test)] {
            if given.is_some() && self.name != DatasetName::Text {
                return bad(
                    key,
                    format!(
                        "data files are read only with `name: file` or `name: text`, not with `name: {}`",
                        self.name.as_str()
                    ),
                );
            }
        }
        for (key, given) in [
            ("train_subset", self.train_subset),
            ("test_subset", self.test_subset),
        ] {
            match given {
                Some(0) => return bad(key, "must be at least 1".into()),
                Some(_) if self.name.is_sampled() => {
                    return bad(
                        key,
                        format!(
                            "`{}` is sampled: set train_size / test_size instead",
                            self.name.as_str()
                        ),
                    )
                }
                _ => {}
            }
        }
        if self.name.is_sampled() {
            if self.train_size == 0 || self.test_size == 0 {
                return bad(
                    "train_size",
                    "toy sets need at least one training and one test point".into(),
                );
            }
            if self.pixels != Pixels::Continuous {
                return bad(
                    "pixels",
                    format!(
                        "`{}` is a set of points; binarization applies to images only",
                        self.name.as_str()
                    ),
                );
            }
            if let Some(s) = self.sigma {
                gen_base::config::positive("data.sigma", s)?;
            }
            if let Some(r) = self.radius {
                gen_base::config::positive("data.radius", r)?;
            }
        } else {
            if let Some(d) = &self.dir {
                if !d.is_dir() {
                    return bad("dir", format!("`{}` is not a directory", d.display()));
                }
            }
        }
        Ok(())
    }
}
