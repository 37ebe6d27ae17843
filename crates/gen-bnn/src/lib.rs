//! Bayesian neural networks in the joint-KL view (Blundell et al. 2015, "Weight
//! Uncertainty in Neural Networks").
//!
//! The weights are a global latent `z = θ`: the inference side is a diagonal Gaussian
//! `Q(θ)` (a mean and a softplus-parameterized scale per weight and bias), the generative
//! side `P(θ) P(y|x, θ)`. Since every example shares θ, the joint KL per example is
//! `E_Q[-log P(y|x, θ)] + KL(Q(θ) || P(θ)) / N`, minus the ELBO per example.
//!
//! This crate holds the layer ([`BayesLinear`]: weights sampled per minibatch, or the
//! local reparameterization of the pre-activations) and the priors ([`WeightPrior`]: a
//! Gaussian, or Blundell's scale mixture). The family around them (config, networks,
//! likelihoods, evaluation) is not built yet.

mod layer;
mod prior;

pub use layer::BayesLinear;
pub use prior::WeightPrior;
