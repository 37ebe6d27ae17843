//! Bayesian neural networks in the joint-KL view (Blundell et al. 2015, "Weight
//! Uncertainty in Neural Networks").
//!
//! The weights are a global latent `z = θ`: the inference side is a diagonal Gaussian
//! `Q(θ)` (a mean and a softplus-parameterized scale per weight and bias), the generative
//! side `P(θ) P(y|x, θ)`. Since every example shares θ, the joint KL per example is
//! `E_Q[-log P(y|x, θ)] + KL(Q(θ) || P(θ)) / N`, minus the ELBO per example: the terms
//! `nll` and `weight_kl`.
//!
//! - [`BayesLinear`], [`BayesConv`]: layers that draw their weights per minibatch, or
//!   their pre-activations per example (the local reparameterization);
//! - [`WeightPrior`]: a Gaussian, or Blundell's scale mixture;
//! - [`Bnn`]: the family (an MLP or LeNet-5; categorical or Gaussian likelihood; point
//!   weights as the baseline), with its config [`BnnConfig`].

#![forbid(unsafe_code)]

mod config;
mod conv;
mod features;
mod layer;
mod likelihood;
mod model;
mod net;
mod posterior;
mod prior;

pub use config::{BnnConfig, Estimator, KlWeighting, Likelihood, Network, Weights};
pub use conv::BayesConv;
pub use features::FeatureNet;
pub use layer::{BayesLinear, Draw};
pub use model::Bnn;
pub use net::Net;
pub use posterior::GaussianWeights;
pub use prior::WeightPrior;

use gen_core::ModelEntry;

/// The registration the `gen` binary lists.
pub const ENTRY: ModelEntry = ModelEntry::steps::<Bnn>(
    "bnn",
    "Bayesian neural network (Bayes by Backprop): weights as the latent, nll + KL(Q(θ)||P(θ))/N; point weights as the baseline",
);
