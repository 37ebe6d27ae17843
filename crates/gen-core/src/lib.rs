//! The core of `gen`: one objective, many estimators.
//!
//! Every model in the workspace minimizes the joint KL divergence
//! `KL(p(x,z) || q(x,z))` between the data side `p(x,z) = p~(x) p(z|x)` and the
//! generator side `q(x,z) = q(z) q(x|z)` (or its reverse, for adversarial models).
//! This crate defines that contract: the terms and how they are descended
//! ([`objective`]), what a family is and what it can do ([`model`], [`fit`] for the
//! closed-form ones), the two-player step ([`adversarial`]), the parameter and optimizer
//! store every family keeps ([`store`]), config checks ([`checks`]) and the sample grid
//! ([`gallery`]). It knows no concrete model. What it is built from lives in crates of one
//! job each: `gen-base` (config reader, errors, RNG, data description), `gen-nn` (layers,
//! optimizer), `gen-dist` (distributions, KL, per-datapoint VI), `gen-metrics` and
//! `gen-plot`.

#![forbid(unsafe_code)]

pub mod adversarial;
pub mod checks;
pub mod fit;
pub mod frame;
pub mod gallery;
pub mod model;
pub mod objective;
pub mod store;

pub use fit::{FitModel, FitObserver, Iteration, Points};
pub use frame::Frame;
pub use gen_base::{yaml, Error, Result, Rng};
pub use model::{
    Batch, Build, BuildContext, DataInfo, EvalOptions, Family, Model, ModelEntry, Prediction,
    RefineOptions, RefineStart, Refinement, Setup,
};
pub use objective::{descend, JointKl, KlDirection, Report, ReportMean, Terms};
pub use store::{Store, Stored};

/// The layers crate, for the paths inside this crate's macros.
#[doc(hidden)]
pub use gen_nn as __gen_nn;

/// The fused kernels, fast math, thread helper and CPU set-up under the layers.
pub use gen_kernels as kernels;
