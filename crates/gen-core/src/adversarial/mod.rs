//! The two-player machinery every adversarial estimator shares (GAN, AAE, ALI/BiGAN).
//!
//! A binary label y marks samples as from the data side (y = 1) or the generator side
//! (y = 0). The discriminator's logit `l(x)` is trained by logistic regression on y, so at
//! its optimum `l(x) = log p(x) / q(x)`: a density-ratio estimate, from which
//! `E_p[l] ~ KL(p || q)` and `E_q[-l] ~ KL(q || p)`. The generator side minimizes its own
//! loss on the same logits; each player has its own parameters and optimizer.
//!
//! A family brings its networks and [`TwoPlayer`] (the discriminator's logits and the
//! other player's terms); [`step`] runs the iteration, [`Players`] the two optimizers,
//! [`two_player_config!`](crate::two_player_config) declares the shared settings in the
//! family's config and [`drift`] is the old-copy term of the joint-KL derivation.

pub mod drift;
mod game;
mod losses;
mod players;
mod settings;

pub use game::{evaluation_report, report, step, TwoPlayer};
pub use losses::{
    discriminator_loss, generator_loss, pack, ratio_estimates, smoothed_discriminator_loss,
    softplus, GeneratorLoss, RatioEstimates,
};
pub use players::{Player, Players};
pub use settings::{Schedule, Steps};
