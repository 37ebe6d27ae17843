//! `gen`: train and evaluate generative models as minimizers of one joint KL divergence.
//!
//! A thin dispatcher: the CLI ([`cli`]), the run config ([`run_config`]), the training
//! loop ([`train`]) and checkpoints ([`checkpoint`]). Models are known only through
//! [`registry`].

#![forbid(unsafe_code)]

#[global_allocator]
static GLOBAL: gen_kernels::alloc::Counting = gen_kernels::alloc::Counting;

mod bench;
mod checkpoint;
mod cli;
mod compare;
mod eval;
mod export;
mod fit_run;
mod interrupt;
mod latent;
mod list;
mod memory;
mod nonfinite;
mod predict;
mod predictive;
mod probe;
mod progress;
mod quality;
mod refine;
mod resume;
mod run_dir;
mod run_loader;
mod run_lock;
mod run_setup;
mod sample;
mod saver;
mod summaries;
mod train;
mod trainer;

use clap::Parser;
// The config loader and the registry are the library half (src/lib.rs).
use gen::{registry, run_config};

fn main() {
    let cli = cli::Cli::parse();
    gen_kernels::alloc::keep_freed_memory();
    gen_core::kernels::runtime::init();
    let result = match cli.command {
        cli::Command::Train(args) => train::run(args),
        cli::Command::Bench(args) => bench::run(args),
        cli::Command::Eval(args) => eval::run(args),
        cli::Command::Sample(args) => sample::run(args),
        cli::Command::Encode(args) => latent::encode(args),
        cli::Command::Predict(args) => predict::run(args),
        cli::Command::Reconstruct(args) => latent::reconstruct(args),
        cli::Command::Interpolate(args) => latent::interpolate(args),
        cli::Command::Score(args) => quality::score_file(args),
        cli::Command::Compare(args) => compare::run(args),
        cli::Command::Export(args) => export::run(args),
        cli::Command::List => {
            list::print();
            Ok(())
        }
    };
    if let Err(e) = result {
        if let Some(i) = e.downcast_ref::<interrupt::Interrupted>() {
            eprintln!("{i}");
            std::process::exit(i.code);
        }
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
