//! What every crate of `gen` shares, the data reader included: the config reader and its
//! errors (file, line, key and a suggestion), the error type, the seedable random number
//! generator, and a data set's description ([`data_info::DataInfo`]). It knows no layer
//! and no model, so `gen-data` can build on it without linking the model stack.

#![forbid(unsafe_code)]

pub mod config;
pub mod data_info;
mod defaults;
pub mod error;
pub mod rng;
pub mod vocab;

pub use data_info::{DataInfo, DataKind, KnownModes, Targets};
pub use error::{Error, Result};
pub use rng::Rng;
/// The YAML library configs are read with, re-exported so every crate uses the same one.
pub use serde_norway as yaml;
pub use vocab::Vocabulary;
