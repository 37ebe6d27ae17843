//! `gen`: train and evaluate generative models as minimizers of one joint KL divergence.
//!
//! The binary (src/main.rs) parses the command line and calls [`commands::dispatch`].
//! Four folders, one job each:
//! - [`run`]: a run as it sits on disk and in memory: its config (the loader the fuzz
//!   targets drive), directory, lock, checkpoints, progress bars, summaries, and the
//!   [`run::session::Session`] (config, data, device) every command works in;
//! - [`train`]: the training loop, closed-form fits, when checkpoints are taken, what
//!   `--resume` may change, signals, non-finite steps and the memory estimate;
//! - [`sweep`]: many runs from one file: the grid, the sweep directory, the local and
//!   Slurm executors and each job's state;
//! - [`commands`]: one file (or folder) per subcommand.
//!
//! Models are known only through [`registry`].

#![forbid(unsafe_code)]

pub mod cli;
pub mod commands;
pub mod cores;
pub mod flags;
pub mod registry;
pub mod run;
pub mod sweep;
pub mod train;
