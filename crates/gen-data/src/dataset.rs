//! Loaded datasets: flat `f32` rows, labels, and batch assembly.

use crate::config::{Column, DataConfig, DatasetName, Pixels};
use crate::error::DataError;
use crate::source::Locator;
use crate::{idx, points_file, text, toy};
use gen_base::data_info::{DataInfo, DataKind, Targets};
use gen_base::Rng;
use std::path::Path;

/// One split: `n` rows of `dim` values, and labels or regression targets when the data
/// has them.
#[derive(Clone, Debug)]
pub struct Split {
    pub x: Vec<f32>,
    /// The values at full precision, for data that came as float64 (`.npy`/`.csv` files);
    /// closed-form fits (EM) use these.
    pub x_f64: Option<Vec<f64>>,
    pub labels: Option<Vec<u32>>,
    /// Rows of `target_dim` regression targets.
    pub targets: Option<Vec<f32>>,
    pub target_dim: usize,
    pub n: usize,
    pub dim: usize,
}

/// Rows copied out of a split: flat inputs, and their labels and targets if any.
#[derive(Clone, Debug)]
pub struct Rows {
    pub x: Vec<f32>,
    pub labels: Option<Vec<u32>>,
    pub targets: Option<Vec<f32>>,
}

impl Split {
    /// Keeps the first `n` examples (all of them if there are fewer).
    pub fn keep_first(&mut self, n: usize) {
        let n = n.min(self.n);
        self.x.truncate(n * self.dim);
        if let Some(x) = &mut self.x_f64 {
            x.truncate(n * self.dim);
        }
        if let Some(l) = &mut self.labels {
            l.truncate(n);
        }
        if let Some(t) = &mut self.targets {
            t.truncate(n * self.target_dim);
        }
        self.n = n;
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * self.dim..(i + 1) * self.dim]
    }

    /// Copies rows `idx` into a flat buffer, binarizing with `rng` if given (dynamic pixels).
    pub fn gather(&self, idx: &[usize], binarize: Option<&mut Rng>) -> Rows {
        let mut x = Vec::with_capacity(idx.len() * self.dim);
        for &i in idx {
            x.extend_from_slice(self.row(i));
        }
        if let Some(rng) = binarize {
            binarize_in_place(&mut x, rng);
        }
        let labels = self
            .labels
            .as_ref()
            .map(|l| idx.iter().map(|&i| l[i]).collect());
        let d = self.target_dim;
        let targets = self.targets.as_ref().map(|t| {
            idx.iter()
                .flat_map(|&i| t[i * d..(i + 1) * d].iter().copied())
                .collect()
        });
        Rows { x, labels, targets }
    }
}

fn binarize_in_place(x: &mut [f32], rng: &mut Rng) {
    for v in x {
        *v = if (rng.uniform() as f32) < *v {
            1.0
        } else {
            0.0
        };
    }
}

/// 1 where the gray level is above one half, else 0.
fn threshold_in_place(x: &mut [f32]) {
    for v in x {
        *v = if *v > 0.5 { 1.0 } else { 0.0 };
    }
}

#[derive(Clone, Debug)]
pub struct Dataset {
    pub info: DataInfo,
    pub pixels: Pixels,
    pub train: Split,
    pub test: Split,
    /// No separate test set was given (`name: file` without `test`): `test` is a copy of
    /// `train`.
    pub test_is_train: bool,
}

impl Dataset {
    /// Loads the dataset a config names; `repo_data` is the repository's `data/` folder.
    pub fn load(cfg: &DataConfig, repo_data: Option<&Path>) -> Result<Dataset, DataError> {
        Self::load_from(cfg, &Locator::from_env(cfg, repo_data))
    }

    /// Loads with an explicit look-up plan (see [`Locator`]).
    pub fn load_from(cfg: &DataConfig, locator: &Locator) -> Result<Dataset, DataError> {
        let mut data = Self::load_whole(cfg, locator)?;
        // Cut after binarization, so a subset's pixels are those of the whole set.
        if let Some(n) = cfg.train_subset {
            data.train.keep_first(n);
            data.info.train_size = data.train.n;
        }
        if let Some(n) = cfg.test_subset {
            data.test.keep_first(n);
        }
        Ok(data)
    }

    fn load_whole(cfg: &DataConfig, locator: &Locator) -> Result<Dataset, DataError> {
        if cfg.name.is_toy() {
            return Ok(Self::toy(cfg));
        }
        if cfg.name == DatasetName::Cubic {
            return Ok(Self::cubic(cfg));
        }
        if cfg.name == DatasetName::File {
            return Self::files(cfg);
        }
        if cfg.name.is_text() {
            return Self::text(cfg, locator);
        }
        let files = locator.resolve(cfg.name)?;
        let train = read_split(&files.train_images, &files.train_labels)?;
        let mut test = read_split(&files.test_images, &files.test_labels)?;
        if test.dim != train.dim {
            return Err(DataError::corrupt(
                &files.test_images,
                format!(
                    "images have {} pixels, the training images {}",
                    test.dim, train.dim
                ),
            ));
        }
        let mut train = train;
        let mut rng = Rng::new(cfg.binarize_seed);
        match cfg.pixels {
            Pixels::Continuous => {}
            Pixels::Dynamic => binarize_in_place(&mut test.x, &mut rng),
            Pixels::Static => {
                binarize_in_place(&mut train.x, &mut rng);
                binarize_in_place(&mut test.x, &mut rng);
            }
            Pixels::Threshold => {
                threshold_in_place(&mut train.x);
                threshold_in_place(&mut test.x);
            }
        }
        Ok(Dataset {
            info: image_info(cfg, train.dim, train.n),
            pixels: cfg.pixels,
            train,
            test,
            test_is_train: false,
        })
    }

    fn toy(cfg: &DataConfig) -> Dataset {
        let mut rng = Rng::new(cfg.seed);
        let mut test_rng = rng.fork();
        let split = |n, rng: &mut Rng| {
            let (x, labels) = toy::sample(cfg.name, n, cfg.radius, cfg.sigma, rng);
            Split {
                x,
                x_f64: None,
                labels: Some(labels),
                targets: None,
                target_dim: 0,
                n,
                dim: 2,
            }
        };
        Dataset {
            info: toy_info(cfg),
            pixels: Pixels::Continuous,
            test_is_train: false,
            train: split(cfg.train_size, &mut rng),
            test: split(cfg.test_size, &mut test_rng),
        }
    }

    /// The regression toy `y = x^3 + eps` ([`toy::cubic`]); test points from the same
    /// distribution, drawn from a fork of the seed.
    fn cubic(cfg: &DataConfig) -> Dataset {
        let mut rng = Rng::new(cfg.seed);
        let mut test_rng = rng.fork();
        let sigma = cfg.sigma.unwrap_or(toy::CUBIC_SIGMA);
        let split = |n, rng: &mut Rng| {
            let (x, y) = toy::cubic(n, sigma, rng);
            Split {
                x,
                x_f64: None,
                labels: None,
                targets: Some(y),
                target_dim: 1,
                n,
                dim: 1,
            }
        };
        let train = split(cfg.train_size, &mut rng);
        let test = split(cfg.test_size, &mut test_rng);
        Dataset {
            info: DataInfo {
                name: "cubic".into(),
                kind: DataKind::Points { dim: 1 },
                classes: None,
                modes: None,
                train_size: train.n,
                targets: Some(Targets::of(train.targets.as_deref().unwrap_or(&[]), 1)),
            },
            pixels: Pixels::Continuous,
            test_is_train: false,
            train,
            test,
        }
    }

    /// Points from `data.train` and `data.test` (`.npy` or `.csv`).
    fn files(cfg: &DataConfig) -> Result<Dataset, DataError> {
        let train_path = cfg
            .train
            .as_deref()
            .ok_or_else(|| DataError::Invalid("`name: file` needs `data.train`".into()))?;
        let train = points_file::read(train_path)?;
        let test = match &cfg.test {
            Some(p) => {
                let t = points_file::read(p)?;
                if t.cols != train.cols {
                    return Err(DataError::corrupt(
                        p,
                        format!(
                            "test points have {} columns, the training points ({}) have {}",
                            t.cols,
                            train_path.display(),
                            train.cols
                        ),
                    ));
                }
                t
            }
            None => train.clone(),
        };
        let target_cols = target_columns(&cfg.targets, &train, train_path)?;
        let split = |a: crate::npy::Array2| {
            let (x, targets) = split_columns(&a.data, a.cols, &target_cols);
            Split {
                x: x.iter().map(|&v| v as f32).collect(),
                x_f64: Some(x),
                labels: None,
                targets: (!target_cols.is_empty())
                    .then(|| targets.iter().map(|&v| v as f32).collect()),
                target_dim: target_cols.len(),
                n: a.rows,
                dim: a.cols - target_cols.len(),
            }
        };
        let (train, test) = (split(train), split(test));
        let targets = train
            .targets
            .as_deref()
            .map(|t| Targets::of(t, train.target_dim));
        Ok(Dataset {
            info: DataInfo {
                name: train_path.display().to_string(),
                kind: DataKind::Points { dim: train.dim },
                classes: None,
                modes: None,
                train_size: train.n,
                targets,
            },
            pixels: Pixels::Continuous,
            test_is_train: cfg.test.is_none(),
            train,
            test,
        })
    }

    /// A text set: the couplets found by `locator`'s search (the IDX look-up order), or the
    /// lines of `data.train` / `data.test`; rows of token ids over the training side's
    /// vocabulary.
    fn text(cfg: &DataConfig, locator: &Locator) -> Result<Dataset, DataError> {
        let (corpus, len, end, name) = if cfg.name == DatasetName::TangCouplets {
            let corpus = text::tang_couplets(&locator.search)?;
            (
                corpus,
                text::COUPLET_LEN,
                false,
                "tang-couplets".to_string(),
            )
        } else {
            let train_path = cfg
                .train
                .as_deref()
                .ok_or_else(|| DataError::Invalid("`name: text` needs `data.train`".into()))?;
            let train = text::read_lines(train_path)?;
            let test = match &cfg.test {
                Some(p) => text::read_lines(p)?,
                None => train.clone(),
            };
            let longest = train.iter().map(|l| l.chars().count()).max().unwrap_or(1);
            let max_len = cfg.max_len.unwrap_or(longest);
            text::check_lengths(train_path, &train, max_len, cfg.truncate)?;
            if let Some(p) = &cfg.test {
                text::check_lengths(p, &test, max_len, cfg.truncate)?;
            }
            let name = train_path.display().to_string();
            (text::Corpus { train, test }, max_len + 1, true, name)
        };
        let vocab = text::vocabulary(&corpus.train, cfg.min_count())?;
        let split = |examples: &[String]| Split {
            x: text::encode_rows(&vocab, examples, len, end),
            x_f64: None,
            labels: None,
            targets: None,
            target_dim: 0,
            n: examples.len(),
            dim: len,
        };
        let (train, test) = (split(&corpus.train), split(&corpus.test));
        Ok(Dataset {
            info: DataInfo::text(&name, (len, end), vocab, train.n),
            pixels: Pixels::Continuous,
            test_is_train: cfg.name == DatasetName::Text && cfg.test.is_none(),
            train,
            test,
        })
    }

    /// A training batch: dynamic binarization draws fresh pixels from `rng`.
    pub fn train_batch(&self, idx: &[usize], rng: &mut Rng) -> Rows {
        let binarize = (self.pixels == Pixels::Dynamic).then_some(rng);
        self.train.gather(idx, binarize)
    }
}

/// Reads an images file and a labels file and checks they agree.
/// What a model learns from an IDX image set of `n` (before `train_subset`) square images.
pub(crate) fn image_info(cfg: &DataConfig, dim: usize, n: usize) -> DataInfo {
    let side = (dim as f64).sqrt() as usize;
    DataInfo {
        name: cfg.name.as_str().into(),
        kind: DataKind::Image {
            channels: 1,
            height: side,
            width: dim / side.max(1),
        },
        classes: Some(10),
        modes: None,
        train_size: n,
        targets: None,
    }
}

/// What a model learns from a toy 2-D set: no data needed.
pub(crate) fn toy_info(cfg: &DataConfig) -> DataInfo {
    let classes = match cfg.name {
        DatasetName::Ring => 8,
        DatasetName::Grid => 25,
        DatasetName::Moons => 2,
        _ => 1,
    };
    DataInfo {
        name: cfg.name.as_str().into(),
        kind: DataKind::Points { dim: 2 },
        classes: Some(classes),
        modes: matches!(cfg.name, DatasetName::Ring | DatasetName::Grid).then(|| {
            gen_base::KnownModes {
                centres: toy::modes(cfg.name, cfg.radius)
                    .into_iter()
                    .map(|c| c.to_vec())
                    .collect(),
                sigma: cfg.sigma.unwrap_or(toy::default_sigma(cfg.name)),
            }
        }),
        train_size: cfg.train_size,
        targets: None,
    }
}

fn read_split(images: &Path, labels: &Path) -> Result<Split, DataError> {
    let im = idx::read(images)?;
    let lb = idx::read(labels)?;
    if im.dims.len() != 3 {
        return Err(DataError::corrupt(images, format!(
            "expected an images file (3 dimensions: count, rows, columns), found {} dimension(s) — are the images and labels files swapped?",
            im.dims.len()
        )));
    }
    if lb.dims.len() != 1 {
        return Err(DataError::corrupt(
            labels,
            format!(
                "expected a labels file (1 dimension), found {} dimensions",
                lb.dims.len()
            ),
        ));
    }
    let n = im.dims[0];
    if lb.dims[0] != n {
        return Err(DataError::corrupt(
            labels,
            format!(
                "{} labels for {n} images in {}",
                lb.dims[0],
                images.display()
            ),
        ));
    }
    if let Some(bad) = lb.data.iter().position(|&l| l > 9) {
        return Err(DataError::corrupt(
            labels,
            format!(
                "label {} at index {bad} is not a digit class 0-9",
                lb.data[bad]
            ),
        ));
    }
    let dim = im.dims[1] * im.dims[2];
    if dim == 0 || n == 0 {
        return Err(DataError::corrupt(images, "no images in the file"));
    }
    let x = im.data.iter().map(|&p| p as f32 / 255.0).collect();
    Ok(Split {
        x,
        x_f64: None,
        labels: Some(lb.data.iter().map(|&l| l as u32).collect()),
        targets: None,
        target_dim: 0,
        n,
        dim,
    })
}

/// The indices of `data.targets` in a file's columns: names looked up in a `.csv` header;
/// an error names the column and what the file has.
fn target_columns(
    wanted: &[Column],
    file: &crate::npy::Array2,
    path: &Path,
) -> Result<Vec<usize>, DataError> {
    let mut cols = Vec::with_capacity(wanted.len());
    for c in wanted {
        let i = match c {
            Column::Index(i) if *i < file.cols => *i,
            Column::Index(i) => {
                return Err(DataError::Invalid(format!(
                    "data.targets: column {i} does not exist: {} has {} columns (0 to {})",
                    path.display(),
                    file.cols,
                    file.cols - 1
                )))
            }
            Column::Name(n) => file.names.iter().position(|h| h == n).ok_or_else(|| {
                let has = if file.names.is_empty() {
                    "no header line, so give column indices".to_string()
                } else {
                    format!("the columns {}", file.names.join(", "))
                };
                DataError::Invalid(format!(
                    "data.targets: no column named `{n}`: {} has {has}",
                    path.display()
                ))
            })?,
        };
        if cols.contains(&i) {
            return Err(DataError::Invalid(format!(
                "data.targets: column {c} is named twice"
            )));
        }
        cols.push(i);
    }
    if !cols.is_empty() && cols.len() == file.cols {
        return Err(DataError::Invalid(format!(
            "data.targets names every column of {}; leave at least one as an input",
            path.display()
        )));
    }
    Ok(cols)
}

/// Rows of `cols` values split into the input columns and the `targets` columns (in the
/// order given).
fn split_columns(data: &[f64], cols: usize, targets: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let mut x = Vec::with_capacity(data.len());
    let mut y = Vec::with_capacity(data.len() / cols.max(1) * targets.len());
    for row in data.chunks(cols) {
        x.extend(
            row.iter()
                .enumerate()
                .filter(|(c, _)| !targets.contains(c))
                .map(|(_, &v)| v),
        );
        y.extend(targets.iter().map(|&c| row[c]));
    }
    (x, y)
}
