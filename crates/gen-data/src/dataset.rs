//! Loaded datasets: flat `f32` rows, labels, and batch assembly.

use crate::config::{DataConfig, DatasetName, Pixels};
use crate::error::DataError;
use crate::source::Locator;
use crate::{idx, points_file, toy};
use gen_core::model::{DataInfo, DataKind};
use gen_core::Rng;
use std::path::Path;

/// One split: `n` rows of `dim` values, and labels when the data has them.
#[derive(Clone, Debug)]
pub struct Split {
    pub x: Vec<f32>,
    /// The values at full precision, for data that came as float64 (`.npy`/`.csv` files);
    /// closed-form fits (EM) use these.
    pub x_f64: Option<Vec<f64>>,
    pub labels: Option<Vec<u32>>,
    pub n: usize,
    pub dim: usize,
}

impl Split {
    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * self.dim..(i + 1) * self.dim]
    }

    /// Copies rows `idx` into a flat buffer, binarizing with `rng` if given (dynamic pixels).
    pub fn gather(
        &self,
        idx: &[usize],
        binarize: Option<&mut Rng>,
    ) -> (Vec<f32>, Option<Vec<u32>>) {
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
        (x, labels)
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
        if cfg.name.is_toy() {
            return Ok(Self::toy(cfg));
        }
        if cfg.name == DatasetName::File {
            return Self::files(cfg);
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
        let side = (train.dim as f64).sqrt() as usize;
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
            info: DataInfo {
                name: cfg.name.as_str().into(),
                kind: DataKind::Image {
                    channels: 1,
                    height: side,
                    width: train.dim / side,
                },
                classes: Some(10),
                modes: None,
            },
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
                n,
                dim: 2,
            }
        };
        let classes = match cfg.name {
            DatasetName::Ring => 8,
            DatasetName::Grid => 25,
            DatasetName::Moons => 2,
            _ => 1,
        };
        Dataset {
            info: DataInfo {
                name: cfg.name.as_str().into(),
                kind: DataKind::Points { dim: 2 },
                classes: Some(classes),
                modes: matches!(cfg.name, DatasetName::Ring | DatasetName::Grid).then(|| {
                    gen_core::modes::KnownModes {
                        centres: toy::modes(cfg.name, cfg.radius)
                            .into_iter()
                            .map(|c| c.to_vec())
                            .collect(),
                        sigma: cfg.sigma.unwrap_or(toy::default_sigma(cfg.name)),
                    }
                }),
            },
            pixels: Pixels::Continuous,
            test_is_train: false,
            train: split(cfg.train_size, &mut rng),
            test: split(cfg.test_size, &mut test_rng),
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
        let split = |a: crate::npy::Array2| Split {
            x: a.data.iter().map(|&v| v as f32).collect(),
            x_f64: Some(a.data),
            labels: None,
            n: a.rows,
            dim: a.cols,
        };
        let dim = train.cols;
        Ok(Dataset {
            info: DataInfo {
                name: train_path.display().to_string(),
                kind: DataKind::Points { dim },
                classes: None,
                modes: None,
            },
            pixels: Pixels::Continuous,
            test_is_train: cfg.test.is_none(),
            train: split(train),
            test: split(test),
        })
    }

    /// A training batch: dynamic binarization draws fresh pixels from `rng`.
    pub fn train_batch(&self, idx: &[usize], rng: &mut Rng) -> (Vec<f32>, Option<Vec<u32>>) {
        let binarize = (self.pixels == Pixels::Dynamic).then_some(rng);
        self.train.gather(idx, binarize)
    }
}

/// Reads an images file and a labels file and checks they agree.
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
        n,
        dim,
    })
}
