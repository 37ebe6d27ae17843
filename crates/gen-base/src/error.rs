//! The error type shared by the core and the model crates.

use crate::config::ConfigError;

/// Errors a model or the training contract can return.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
    #[error(transparent)]
    Config(Box<ConfigError>),
    /// A state (checkpoint) that does not fit the model it is loaded into.
    #[error("checkpoint does not match the model: {0}")]
    State(String),
    /// Anything else a model wants to report in plain words.
    #[error("{0}")]
    Msg(String),
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(Box::new(e))
    }
}

pub type Result<T> = std::result::Result<T, Error>;
