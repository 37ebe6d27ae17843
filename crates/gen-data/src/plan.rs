//! A data set sized before it is loaded: what a model is built from (where that does not
//! depend on the values) and the memory the load will take, from the IDX headers, the
//! toy sets' config or the files' sizes. Commands check the memory before reading
//! anything big, and build the model before the data arrives.

use crate::config::{DataConfig, DatasetName};
use crate::dataset::{image_info, toy_info, Dataset};
use crate::error::DataError;
use crate::idx;
use crate::source::Locator;
use gen_base::data_info::DataInfo;
use std::path::Path;

/// A data set not yet loaded.
#[derive(Clone, Debug)]
pub struct DataPlan {
    /// What a model is built from; `None` where it depends on the values (regression
    /// targets' statistics, a file's columns): then the model is built after the load.
    pub info: Option<DataInfo>,
    /// Memory the load takes at its peak (an upper bound for `.npy`/`.csv` files).
    pub bytes: u64,
    cfg: DataConfig,
    locator: Locator,
}

/// Bytes a loaded example of `dim` values holds: f32 values and a u32 label.
fn per_example(dim: usize) -> u64 {
    dim as u64 * 4 + 4
}

impl Dataset {
    /// Sizes the data set a config names (IDX files are found or downloaded, their headers
    /// read); `repo_data` is the repository's `data/` folder.
    pub fn plan(cfg: &DataConfig, repo_data: Option<&Path>) -> Result<DataPlan, DataError> {
        Self::plan_from(cfg, Locator::from_env(cfg, repo_data))
    }

    /// [`Dataset::plan`] with an explicit look-up plan.
    pub fn plan_from(cfg: &DataConfig, locator: Locator) -> Result<DataPlan, DataError> {
        let (info, bytes) = match cfg.name {
            n if n.is_toy() => (
                Some(toy_info(cfg)),
                (cfg.train_size as u64 + cfg.test_size as u64) * per_example(2),
            ),
            // y = x^3 + eps: one input, one target; the targets' statistics need the draw.
            DatasetName::Cubic => (
                None,
                (cfg.train_size as u64 + cfg.test_size as u64) * per_example(2),
            ),
            DatasetName::File => (None, file_bytes(cfg)),
            // The vocabulary comes from the text: the model waits for the load. The couplets
            // hold about 10 MB as strings and rows; a user's text a few times its size.
            DatasetName::TangCouplets => (None, 64 << 20),
            DatasetName::Text => (None, file_bytes(cfg) * 4),
            _ => {
                let files = locator.resolve(cfg.name)?;
                let (train, test) = (
                    idx::read_dims(&files.train_images)?,
                    idx::read_dims(&files.test_images)?,
                );
                match (&train[..], &test[..]) {
                    (&[n, rows, cols], &[m, ..]) if n > 0 && rows * cols > 0 => {
                        let dim = rows * cols;
                        let mut info = image_info(cfg, dim, n);
                        if let Some(k) = cfg.train_subset {
                            info.train_size = n.min(k);
                        }
                        // The loaded values and labels, and while the training images
                        // load, their decompressed bytes and the compressed file.
                        let loaded = (n + m) as u64 * per_example(dim);
                        let compressed = std::fs::metadata(&files.train_images)
                            .map(|m| m.len())
                            .unwrap_or(0);
                        (Some(info), loaded + (n * dim) as u64 + compressed)
                    }
                    // A malformed set: the load reports what is wrong.
                    _ => (None, 0),
                }
            }
        };
        Ok(DataPlan {
            info,
            bytes,
            cfg: cfg.clone(),
            locator,
        })
    }
}

/// Memory bound of `name: file` data from the files' sizes: a `.csv` value takes at least
/// 2 bytes on disk ("0,") and 12 in memory (f32 and f64), a `.npy` one at least 4 (f32).
/// A file that cannot be read counts 0: the load reports it.
fn file_bytes(cfg: &DataConfig) -> u64 {
    let mut total = 0;
    for path in cfg.train.iter().chain(cfg.test.iter()) {
        let len = std::fs::metadata(path).map_or(0, |m| m.len());
        let is_npy = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
        total += len * if is_npy { 3 } else { 6 };
    }
    // Without `data.test` the training points are copied as the test set.
    if cfg.test.is_none() {
        2 * total
    } else {
        total
    }
}

impl DataPlan {
    /// Reads the data set.
    pub fn load(&self) -> Result<Dataset, DataError> {
        Dataset::load_from(&self.cfg, &self.locator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::encode;
    use std::path::PathBuf;

    fn config(yaml: &str) -> DataConfig {
        gen_base::yaml::from_str(yaml).unwrap()
    }

    /// The plan's info is the loaded set's, and its bytes cover what the load holds.
    #[test]
    fn an_image_plan_matches_the_load() {
        let dir = tempfile::tempdir().unwrap();
        let (n, m, side) = (12usize, 5usize, 4usize);
        let write = |name: &str, dims: &[usize], fill: u8| {
            let count: usize = dims.iter().product();
            std::fs::write(dir.path().join(name), encode(dims, &vec![fill; count])).unwrap();
        };
        write("train-images-idx3-ubyte", &[n, side, side], 200);
        write("train-labels-idx1-ubyte", &[n], 3);
        write("t10k-images-idx3-ubyte", &[m, side, side], 100);
        write("t10k-labels-idx1-ubyte", &[m], 1);
        let locator = Locator {
            search: vec![PathBuf::from(dir.path())],
            cache: None,
            mirrors: vec![],
        };
        for yaml in ["name: mnist", "name: mnist\ntrain_subset: 7"] {
            let cfg = config(yaml);
            let plan = Dataset::plan_from(&cfg, locator.clone()).unwrap();
            let data = plan.load().unwrap();
            assert_eq!(plan.info.as_ref(), Some(&data.info), "{yaml}");
            let held = 4 * (data.train.x.len() + data.test.x.len()) + 4 * (n + m);
            assert!(plan.bytes >= held as u64, "{} < {held}", plan.bytes);
        }
    }

    #[test]
    fn toy_plans_need_no_data_and_cubic_waits_for_it() {
        let cfg = config("name: ring\ntrain_size: 1000\ntest_size: 10");
        let plan = Dataset::plan(&cfg, None).unwrap();
        assert_eq!(plan.bytes, 1010 * 12);
        assert_eq!(plan.info.as_ref(), Some(&plan.load().unwrap().info));
        // A billion points are sized, not drawn.
        let big = config("name: grid\ntrain_size: 1000000000");
        assert!(Dataset::plan(&big, None).unwrap().bytes > 11_000_000_000);
        let cubic = Dataset::plan(&config("name: cubic"), None).unwrap();
        assert!(cubic.info.is_none());
    }
}
