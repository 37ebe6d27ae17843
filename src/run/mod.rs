//! A run: its config, its directory and lock, its checkpoints, how it is loaded back, and
//! the session (config, data, device) a command works in.

pub mod checkpoint;
pub mod config;
pub mod dir;
pub mod loader;
pub mod lock;
pub mod progress;
pub mod session;
pub mod setup;
pub mod summaries;
pub mod vocab;
