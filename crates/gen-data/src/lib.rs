//! Datasets for `gen`.
//!
//! - `mnist` and `fashion-mnist` from their four IDX files (gzipped or raw), found by a
//!   fixed look-up order ([`source`]) and, failing that, downloaded from a mirror list
//!   and verified against pinned SHA-256 sums ([`download`]).
//! - Toy 2-D densities with known modes ([`toy`]).
//! - The regression toy `y = x^3 + eps` (`cubic`, [`toy::cubic`]).
//! - Any point set in a `.npy` or `.csv` file (`name: file`, [`points_file`]), with
//!   regression target columns if `targets` names them.
//!
//! - Text: the Tang couplets and a user's lines as character ids ([`text`]).
//!
//! Pixels can be continuous, dynamically or statically binarized ([`Pixels`]).

#![forbid(unsafe_code)]

pub mod config;
pub mod csv;
pub mod dataset;
pub mod download;
pub mod error;
pub mod idx;
pub mod npy;
pub mod plan;
pub mod points_file;
pub mod source;
pub mod text;
pub mod toy;

pub use config::{DataConfig, Pixels};
pub use dataset::{Dataset, Rows, Split};
pub use error::DataError;
pub use plan::DataPlan;

/// Every dataset name `data.name` accepts.
pub const DATASETS: &[(&str, &str)] = &[
    (
        "mnist",
        "handwritten digits, 28x28 gray, 60k train / 10k test (ships with the repository)",
    ),
    (
        "fashion-mnist",
        "Zalando clothing images, 28x28 gray, 60k / 10k (found locally or downloaded)",
    ),
    ("ring", "8 Gaussians on a circle (2-D toy)"),
    ("grid", "25 Gaussians on a 5x5 lattice (2-D toy)"),
    ("spiral", "a noisy spiral (2-D toy)"),
    ("moons", "two interleaved half circles (2-D toy)"),
    (
        "cubic",
        "regression toy y = x^3 + N(0, 3^2), x uniform in [-4, 4] (1 input, 1 target)",
    ),
    (
        "tang-couplets",
        "five-character couplets of the Tang poems, 10 characters each (ships with the repository)",
    ),
    (
        "text",
        "your own lines from data.train (and data.test), UTF-8, one example per line, characters as tokens",
    ),
    (
        "file",
        "points from data.train (and data.test): a 2-D .npy (float32/float64) or a numeric .csv",
    ),
];
