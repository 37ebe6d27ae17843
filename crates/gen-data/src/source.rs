//! Where the IDX files of a dataset are looked for, in order:
//! 1. the config's `data.dir`;
//! 2. `$GEN_DATA_DIR/<name>/`;
//! 3. the repository's copy, `data/<name>/` (MNIST ships with it);
//! 4. `/usr/share/datasets/<name>/` (Debian's `dataset-fashion-mnist` package);
//! 5. the user cache, `$XDG_CACHE_HOME/gen/<name>/` or `~/.cache/gen/<name>/`;
//!
//! and, if none has all four files, a download into the cache (see [`crate::download`]).

use crate::config::{DataConfig, DatasetName};
use crate::download::{self, Part};
use crate::error::DataError;
use std::path::{Path, PathBuf};

/// The four files of an IDX dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxFiles {
    pub train_images: PathBuf,
    pub train_labels: PathBuf,
    pub test_images: PathBuf,
    pub test_labels: PathBuf,
}

/// The official files and checksums (as in ../shared/data/README.md), in the order
/// train images, train labels, test images, test labels.
pub fn parts(name: DatasetName) -> Option<[Part; 4]> {
    let p = |stem, rank, gz_sha256| Part {
        stem,
        rank,
        gz_sha256,
    };
    match name {
        DatasetName::Mnist => Some([
            p(
                "train-images",
                "idx3",
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            ),
            p(
                "train-labels",
                "idx1",
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            ),
            p(
                "t10k-images",
                "idx3",
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            ),
            p(
                "t10k-labels",
                "idx1",
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            ),
        ]),
        DatasetName::FashionMnist => Some([
            p(
                "train-images",
                "idx3",
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            ),
            p(
                "train-labels",
                "idx1",
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            ),
            p(
                "t10k-images",
                "idx3",
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            ),
            p(
                "t10k-labels",
                "idx1",
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            ),
        ]),
        _ => None,
    }
}

/// Default download mirrors (base URLs ending in `/`).
pub fn default_mirrors(name: DatasetName) -> Vec<String> {
    let v: &[&str] = match name {
        DatasetName::Mnist => &[
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ],
        DatasetName::FashionMnist => &[
            "https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        ],
        _ => &[],
    };
    v.iter().map(|s| s.to_string()).collect()
}

/// The user cache directory for a dataset.
pub fn cache_dir(name: &str) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("gen").join(name))
}

/// The directories searched before the cache, in order (see the module docs).
pub fn search_dirs(cfg: &DataConfig, repo_data: Option<&Path>) -> Vec<PathBuf> {
    let name = cfg.name.as_str();
    let mut dirs = vec![];
    if let Some(d) = &cfg.dir {
        dirs.push(d.clone());
    }
    if let Some(env) = std::env::var_os("GEN_DATA_DIR").filter(|v| !v.is_empty()) {
        dirs.push(PathBuf::from(env).join(cfg.name.folder()));
    }
    if let Some(r) = repo_data {
        dirs.push(r.join(cfg.name.folder()));
    }
    dirs.push(PathBuf::from("/usr/share/datasets").join(name));
    dirs
}

/// The four files in `dir`, if all are there.
pub fn find_in(dir: &Path, parts: &[Part; 4]) -> Option<IdxFiles> {
    let find = |p: &Part| {
        p.candidates()
            .iter()
            .map(|c| dir.join(c))
            .find(|f| f.is_file())
    };
    Some(IdxFiles {
        train_images: find(&parts[0])?,
        train_labels: find(&parts[1])?,
        test_images: find(&parts[2])?,
        test_labels: find(&parts[3])?,
    })
}

/// Where to look and where to download to.
#[derive(Clone, Debug)]
pub struct Locator {
    /// Directories searched in order.
    pub search: Vec<PathBuf>,
    /// Download destination, searched after `search`.
    pub cache: Option<PathBuf>,
    /// Base URLs tried in order.
    pub mirrors: Vec<String>,
}

impl Locator {
    /// The standard look-up order of the module docs, from the config and environment.
    pub fn from_env(cfg: &DataConfig, repo_data: Option<&Path>) -> Self {
        Locator {
            search: search_dirs(cfg, repo_data),
            cache: cache_dir(cfg.name.as_str()),
            mirrors: cfg
                .mirrors
                .clone()
                .unwrap_or_else(|| default_mirrors(cfg.name)),
        }
    }

    /// Finds the files locally or downloads them; the error lists everything tried.
    pub fn resolve(&self, name: DatasetName) -> Result<IdxFiles, DataError> {
        let parts = parts(name).ok_or_else(|| {
            DataError::Invalid(format!("`{}` is not an IDX dataset", name.as_str()))
        })?;
        let mut searched = self.search.clone();
        searched.extend(self.cache.clone());
        if let Some(files) = searched.iter().find_map(|d| find_in(d, &parts)) {
            return Ok(files);
        }
        let mut tried = vec![];
        if let Some(cache) = &self.cache {
            match download::fetch_all(&self.mirrors, &parts, cache) {
                Ok(()) => {
                    if let Some(files) = find_in(cache, &parts) {
                        return Ok(files);
                    }
                }
                Err(t) => tried = t,
            }
        }
        Err(DataError::NotFound {
            name: name.as_str().into(),
            searched,
            tried,
        })
    }
}

/// Finds the files by the standard look-up order, downloading if needed.
pub fn resolve(cfg: &DataConfig, repo_data: Option<&Path>) -> Result<IdxFiles, DataError> {
    Locator::from_env(cfg, repo_data).resolve(cfg.name)
}
