//! The GAN in the joint-KL view (Su, arXiv 1807.05936).
//!
//! A binary label y (data or generated) augments x, and the GAN minimizes the reverse
//! divergence `KL(q(x,y) || p(x,y))`: the discriminator's logit estimates
//! `log p~(x) / q(x)`, and the generator's step carries the term
//! `KL(q(x) || q_old(x))` that standard GANs drop, here as
//! `lambda * mean((G(z) - G_old(z))^2)`. PacGAN packing (`pack: m`) is built in.

mod config;
mod dcgan;
mod model;

pub use config::{GanConfig, Network};
pub use model::Gan;

use gen_core::model::DataKind;
use gen_core::{Build, BuildContext, Model, ModelEntry, Result};

/// The registration the `gen` binary lists.
pub const ENTRY: ModelEntry = ModelEntry {
    name: "gan",
    about: "GAN: discriminator logit = log p~(x)/q(x); generator step with lambda * |G(z) - G_old(z)|^2 (Su's joint-KL term); PacGAN packing",
    build: Build::Steps(build),
};

fn build(ctx: BuildContext<'_>) -> Result<Box<dyn Model>> {
    let cfg: GanConfig = ctx.config.section("model")?;
    cfg.validate().map_err(|e| e.locate_in(ctx.config))?;
    let mnist_like = ctx.data.kind
        == (DataKind::Image {
            channels: 1,
            height: 28,
            width: 28,
        });
    if cfg.network == Network::Dcgan && !mnist_like {
        let e = gen_core::config::ConfigError::invalid(
            "model.network",
            format!(
                "the DCGAN pair is built for 28x28 gray images, and `{}` is not; use `network: mlp`",
                ctx.data.name
            ),
        );
        return Err(e.locate_in(ctx.config).into());
    }
    Ok(Box::new(Gan::new(
        cfg,
        ctx.data,
        ctx.optimizer,
        ctx.device,
        ctx.dtype,
        ctx.rng,
    )?))
}
