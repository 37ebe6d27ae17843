//! Command-line interface.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Train generative models (VAE, and the other families as they land) as minimizers of
/// the joint KL divergence KL(p(x,z) || q(x,z)), logging to TensorBoard.
///
/// Example: gen train configs/vae.yaml, then: tensorboard --logdir runs
#[derive(Parser, Debug)]
#[command(name = "gen", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a model described by a YAML config; writes a run directory under runs/.
    Train(TrainArgs),
    /// List the model families and datasets this build knows.
    List,
}

#[derive(Args, Debug)]
#[command(
    after_help = "A new run goes to runs/<config-name>-<timestamp>/ (never overwriting one) and holds the \
resolved config.yaml, the TensorBoard event file, checkpoint.safetensors and PNG grids per epoch.\n\n\
Examples:\n  gen train configs/vae.yaml\n  gen train configs/vae.yaml --set train.epochs=2 --set model.latent=2\n  \
gen train --resume runs/vae-20261121-101500 --set train.epochs=20"
)]
pub struct TrainArgs {
    /// The YAML config (see configs/ and the README's config reference).
    #[arg(required_unless_present = "resume", conflicts_with = "resume")]
    pub config: Option<PathBuf>,

    /// Override a config value: --set train.epochs=5 (repeatable; the value is YAML).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    pub sets: Vec<String>,

    /// Write the run here instead of runs/<name>-<timestamp>/ (must not exist or be empty).
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    pub run_dir: Option<PathBuf>,

    /// Continue a run from its checkpoint and saved config (raise the budget with --set train.epochs=N).
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,

    /// Parent directory of new runs.
    #[arg(long, value_name = "DIR", default_value = "runs")]
    pub runs: PathBuf,
}
