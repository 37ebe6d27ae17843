//! One module per subcommand; [`dispatch`] is all the binary calls.

pub mod bench;
pub mod compare;
pub mod eval;
pub mod export;
pub mod latent;
pub mod list;
pub mod predict;
pub mod sample;

use crate::cli::Command;

/// Runs one subcommand. `gen train` is the training loop itself ([`crate::train`]); `gen
/// score` is the sample-quality part of `gen eval`.
pub fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Train(args) => crate::train::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Sample(args) => sample::run(args),
        Command::Encode(args) => latent::encode(args),
        Command::Predict(args) => predict::run(args),
        Command::Reconstruct(args) => latent::reconstruct(args),
        Command::Interpolate(args) => latent::interpolate(args),
        Command::Score(args) => eval::quality::score_file(args),
        Command::Compare(args) => compare::run(args),
        Command::Sweep(args) => crate::sweep::run(args),
        Command::Export(args) => export::run(args),
        Command::List => {
            list::print();
            Ok(())
        }
    }
}
