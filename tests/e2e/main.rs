//! The end-to-end tests: the real `gen` binary on real data, one module per subject.
//! One test binary rather than one per file, so that they build and link once and run
//! two at a time across subjects (cargo runs test binaries one after another).

mod support;

mod aae_runs;
mod ali_runs;
mod average;
mod bad_inputs;
mod bnn_runs;
mod cli;
mod compare;
mod cvae;
mod em_runs;
mod first_hour;
mod free_vi;
mod gan_runs;
mod learned_prior;
mod limits;
mod old_runs;
mod readme;
mod refine;
mod resume;
mod sample_quality;
mod survive;
mod sweep;
mod text_runs;
mod train_mnist;
mod vae_2d;
