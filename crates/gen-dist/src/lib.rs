//! Distributions and what is computed from them: likelihoods ([`loss`], [`dist`]), fixed
//! priors over codes ([`prior`]), KL divergences, analytic and sampled ([`kl`]), and
//! per-datapoint variational inference
//! ([`local_vi`]: every example keeps its own Gaussian, fitted with the generator frozen).

#![forbid(unsafe_code)]

pub mod dist;
pub mod kl;
pub mod local_vi;
pub mod loss;
pub mod prior;
