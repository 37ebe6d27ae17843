//! What a model knows of its data: the shape of an example, the classes, the regression
//! targets and the size of the training set.

use crate::vocab::Vocabulary;
use candle_core::Tensor;
use std::sync::Arc;

/// The shape of one example.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// Images `channels x height x width`, pixels in [0, 1].
    Image {
        channels: usize,
        height: usize,
        width: usize,
    },
    /// Points in R^dim (toy densities, tabular data).
    Points { dim: usize },
    /// Sequences of `len` token ids (stored as exact small floats), characters of `vocab`;
    /// `ended`: each example's characters are followed by the end token (and padding), as
    /// lines of varying length are; fixed-length examples (the couplets) have none.
    Text {
        len: usize,
        vocab: Arc<Vocabulary>,
        ended: bool,
    },
}

/// What a model needs to know about its data to build itself.
#[derive(Clone, Debug, PartialEq)]
pub struct DataInfo {
    pub name: String,
    pub kind: DataKind,
    /// Number of classes, when the data has labels.
    pub classes: Option<usize>,
    /// The modes, for toy sets made of known Gaussians (ring, grid).
    pub modes: Option<KnownModes>,
    /// Training examples: the `N` a global latent's KL is shared by (Bayesian weights).
    pub train_size: usize,
    /// Regression targets, when the data has them.
    pub targets: Option<Targets>,
}

/// Regression targets: their number per example, and their mean and standard deviation
/// over the training set (so a network can predict in standardized units).
#[derive(Clone, Debug, PartialEq)]
pub struct Targets {
    pub dim: usize,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Targets {
    /// The targets' count, mean and standard deviation (1 where a column is constant) of
    /// rows of `dim` values.
    pub fn of(values: &[f32], dim: usize) -> Targets {
        let n = (values.len() / dim.max(1)).max(1) as f64;
        let mut mean = vec![0.0; dim];
        for row in values.chunks(dim) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v as f64 / n;
            }
        }
        let mut var = vec![0.0; dim];
        for row in values.chunks(dim) {
            for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
                *s += (v as f64 - m).powi(2) / n;
            }
        }
        let std = var
            .into_iter()
            .map(|v| if v > 0.0 { v.sqrt() } else { 1.0 })
            .collect();
        Targets { dim, mean, std }
    }
}

impl DataInfo {
    /// `train_size` points in R^dim, without labels, modes or targets.
    pub fn points(name: &str, dim: usize, train_size: usize) -> DataInfo {
        DataInfo {
            name: name.to_string(),
            kind: DataKind::Points { dim },
            classes: None,
            modes: None,
            train_size,
            targets: None,
        }
    }

    /// `train_size` images of `(channels, height, width)`, without labels or targets.
    pub fn images(
        name: &str,
        (channels, height, width): (usize, usize, usize),
        train_size: usize,
    ) -> DataInfo {
        DataInfo {
            kind: DataKind::Image {
                channels,
                height,
                width,
            },
            ..DataInfo::points(name, channels * height * width, train_size)
        }
    }

    /// `train_size` sequences of `len` token ids from `vocab` (`ended`: see
    /// [`DataKind::Text`]).
    pub fn text(
        name: &str,
        (len, ended): (usize, bool),
        vocab: Vocabulary,
        train_size: usize,
    ) -> DataInfo {
        DataInfo {
            kind: DataKind::Text {
                len,
                vocab: Arc::new(vocab),
                ended,
            },
            ..DataInfo::points(name, len, train_size)
        }
    }

    /// The vocabulary of a text set.
    pub fn vocab(&self) -> Option<&Vocabulary> {
        match &self.kind {
            DataKind::Text { vocab, .. } => Some(vocab),
            _ => None,
        }
    }

    /// A line of text as an example's ids, for text data (`None` otherwise); an error says
    /// how many characters fit when it is too long.
    pub fn encode_line(&self, line: &str) -> Option<Result<Vec<u32>, String>> {
        let DataKind::Text { len, vocab, ended } = &self.kind else {
            return None;
        };
        let room = len - usize::from(*ended);
        let n = line.chars().count();
        Some(match n <= room {
            true => Ok(vocab.encode(line, *len, *ended)),
            false => Err(format!(
                "{n} characters, and this data's examples hold at most {room}"
            )),
        })
    }

    /// Values per example.
    pub fn dim(&self) -> usize {
        match self.kind {
            DataKind::Image {
                channels,
                height,
                width,
            } => channels * height * width,
            DataKind::Points { dim } => dim,
            DataKind::Text { len, .. } => len,
        }
    }

    pub fn is_image(&self) -> bool {
        matches!(self.kind, DataKind::Image { .. })
    }

    /// Rows of pixel values as a batch of images `(N, C, H, W)` clamped to [0, 1], or
    /// `None` for points.
    pub fn as_images(&self, flat: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(match self.kind {
            DataKind::Image {
                channels,
                height,
                width,
            } => Some(
                flat.clamp(0.0, 1.0)?
                    .reshape(((), channels, height, width))?,
            ),
            DataKind::Points { .. } | DataKind::Text { .. } => None,
        })
    }
}

/// The modes of a toy data set: centres and the common standard deviation.
#[derive(Clone, Debug, PartialEq)]
pub struct KnownModes {
    pub centres: Vec<Vec<f64>>,
    pub sigma: f64,
}
