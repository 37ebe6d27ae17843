//! The core of `gen`: one objective, many estimators.
//!
//! Every model in the workspace minimizes the joint KL divergence
//! `KL(p(x,z) || q(x,z))` between the data side `p(x,z) = p~(x) p(z|x)` and the
//! generator side `q(x,z) = q(z) q(x|z)` (or its reverse, for adversarial models).
//! This crate defines that contract ([`objective`], [`model`]) and the pieces every
//! estimator is built from: distributions, KL divergences, layers, an optimizer and a
//! seedable random number generator. It knows no concrete model, and has no `unsafe`:
//! the fused kernels its layers use on the CPU live in `gen-kernels`.

#![forbid(unsafe_code)]

pub mod adversarial;
pub mod calibration;
pub mod checks;
pub mod config;
pub mod data_info;
pub mod device;
pub mod dist;
pub mod error;
pub mod fit;
pub mod gallery;
pub mod gradcheck;
pub mod kl;
pub mod knn;
pub mod linalg;
pub mod local_vi;
pub mod loss;
pub mod memory;
pub mod mmd;
pub mod model;
pub mod modes;
pub mod nn;
pub mod norm;
pub mod objective;
pub mod optim;
pub mod params;
pub mod picture;
pub mod plot;
pub mod rng;
pub mod sample_quality;
pub mod store;
pub mod vars;

pub use error::{Error, Result};
pub use fit::{FitModel, FitObserver, Iteration, Points};
pub use model::{
    Batch, Build, BuildContext, DataInfo, EvalOptions, Family, Model, ModelEntry, Prediction,
    RefineOptions, RefineStart, Refinement,
};
pub use objective::{descend, JointKl, KlDirection, Report, ReportMean, Terms};
pub use rng::Rng;
/// The YAML library configs are read with, re-exported so model crates use the same one.
pub use serde_norway as yaml;
pub use store::{Store, Stored};

/// The fused kernels, fast math, thread helper and CPU set-up under the layers.
pub use gen_kernels as kernels;
