//! The variational autoencoder in the joint-KL view.
//!
//! `p(z|x)` is a diagonal Gaussian from the encoder, `q(z) = N(0, I)`, `q(x|z)` a
//! Bernoulli (logits) or Gaussian decoder. The joint KL `KL(p(x,z) || q(x,z))`, up to the
//! data entropy, is `E[-log q(x|z)] + KL(p(z|x) || q(z))` — minus the ELBO — and the
//! model reports exactly those two terms: `reconstruction` and `latent_kl`.

mod config;
mod conv;
mod model;
mod nll;

pub use config::{
    DecoderKind, DecoderVariance, EncoderKind, KlEstimator, Network, Objective, VaeConfig,
};
pub use model::Vae;
pub use nll::log_mean_exp;

use gen_core::{Build, BuildContext, Model, ModelEntry, Result};

/// The registration the `gen` binary lists.
pub const ENTRY: ModelEntry = ModelEntry {
    name: "vae",
    about: "variational autoencoder: Gaussian p(z|x), reparameterized, loss = -ELBO = reconstruction + latent_kl",
    build: Build::Steps(build),
};

fn build(ctx: BuildContext<'_>) -> Result<Box<dyn Model>> {
    let cfg: VaeConfig = ctx.config.section("model")?;
    cfg.validate().map_err(|e| e.locate_in(ctx.config))?;
    let mnist_like = ctx.data.kind
        == (gen_core::model::DataKind::Image {
            channels: 1,
            height: 28,
            width: 28,
        });
    if cfg.network == Network::Conv && !mnist_like {
        let e = gen_core::config::ConfigError::invalid(
            "model.network",
            format!(
                "the conv networks are built for 28x28 gray images, and `{}` is not; use `network: mlp`",
                ctx.data.name
            ),
        );
        return Err(e.locate_in(ctx.config).into());
    }
    if cfg.conditional && ctx.data.classes.is_none() {
        let e = gen_core::config::ConfigError::invalid(
            "model.conditional",
            format!(
                "`{}` has no labels to condition on; the conditional VAE needs a labelled data set (mnist, fashion-mnist)",
                ctx.data.name
            ),
        );
        return Err(e.locate_in(ctx.config).into());
    }
    if cfg.decoder == DecoderKind::Bernoulli && !ctx.data.is_image() {
        let e = gen_core::config::ConfigError::invalid(
            "model.decoder",
            format!(
                "a Bernoulli decoder models values in [0, 1], but `{}` is a set of real-valued points; use `decoder: gaussian`",
                ctx.data.name
            ),
        );
        return Err(e.locate_in(ctx.config).into());
    }
    Ok(Box::new(Vae::new(
        cfg,
        ctx.data,
        ctx.optimizer.clone(),
        ctx.device,
        ctx.dtype,
        ctx.rng,
    )?))
}
