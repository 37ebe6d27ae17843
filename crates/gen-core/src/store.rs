//! What core keeps for every gradient-trained model, so a family holds it in one field:
//! the parameters, the buffers, the optimizers (one Adam, or both players), the direction
//! of the divergence and the resolved `model` section.

use crate::{KlDirection, Result};
use candle_core::Tensor;
use gen_nn::optim::Adam;
use gen_nn::params::Params;
use std::collections::HashMap;

/// A model's optimizer state, however many players it has: saved, restored and scaled
/// together. One Adam saves under `optimizer.`; two players under their own prefixes.
pub trait Optimizers {
    fn export(&self) -> Result<Vec<(String, Tensor)>>;
    fn load(&mut self, state: &HashMap<String, Tensor>) -> Result<()>;
    fn set_lr_scale(&mut self, scale: f64);
}

impl Optimizers for Adam {
    fn export(&self) -> Result<Vec<(String, Tensor)>> {
        Ok(Adam::export(self, "optimizer.")?)
    }

    fn load(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        Adam::load(self, "optimizer.", state)
    }

    fn set_lr_scale(&mut self, scale: f64) {
        Adam::set_lr_scale(self, scale)
    }
}

/// A model's state that is not its own: built once by the family's constructor.
pub struct Store<O> {
    /// The trainable parameters.
    pub params: Params,
    /// Saved tensors that are not optimized (batch-norm running averages).
    pub buffers: Option<Params>,
    /// The optimizers: [`gen_nn::optim::Adam`] or [`crate::adversarial::Players`].
    pub opt: O,
    direction: KlDirection,
    resolved: serde_norway::Value,
}

impl<O: Optimizers> Store<O> {
    /// `config` is the family's `model` section with every default filled in.
    pub fn new<C: serde::Serialize>(
        config: &C,
        direction: KlDirection,
        params: Params,
        opt: O,
    ) -> Self {
        Store {
            params,
            buffers: None,
            opt,
            direction,
            resolved: serde_norway::to_value(config).unwrap_or(serde_norway::Value::Null),
        }
    }

    /// The same with saved, unoptimized tensors.
    pub fn with_buffers(mut self, buffers: Params) -> Self {
        self.buffers = Some(buffers);
        self
    }
}

/// A [`Store`] whatever its optimizers: what [`crate::Model`]'s provided methods read.
pub trait Stored: Send {
    fn direction(&self) -> KlDirection;
    fn params(&self) -> &Params;
    fn buffers(&self) -> Option<&Params>;
    fn optimizers(&self) -> &dyn Optimizers;
    fn optimizers_mut(&mut self) -> &mut dyn Optimizers;
    fn resolved_config(&self) -> serde_norway::Value;
}

impl<O: Optimizers + Send> Stored for Store<O> {
    fn direction(&self) -> KlDirection {
        self.direction
    }
    fn params(&self) -> &Params {
        &self.params
    }
    fn buffers(&self) -> Option<&Params> {
        self.buffers.as_ref()
    }
    fn optimizers(&self) -> &dyn Optimizers {
        &self.opt
    }
    fn optimizers_mut(&mut self) -> &mut dyn Optimizers {
        &mut self.opt
    }
    fn resolved_config(&self) -> serde_norway::Value {
        self.resolved.clone()
    }
}

/// [`crate::Model`]'s `store` and `store_mut` for a family whose [`Store`] is the field
/// `$field`: `impl Model for Vae { gen_core::stored_in!(store); fn train_step ... }`.
#[macro_export]
macro_rules! stored_in {
    ($field:ident) => {
        fn store(&self) -> &dyn $crate::Stored {
            &self.$field
        }

        fn store_mut(&mut self) -> &mut dyn $crate::Stored {
            &mut self.$field
        }
    };
}

/// The `impl Model` lines every two-player family shares: [`stored_in!`] and a training
/// step that is the one adversarial iteration ([`crate::adversarial::step`]). The family
/// writes what is its own: `evaluate` and its optional capabilities.
#[macro_export]
macro_rules! two_player_model {
    ($field:ident) => {
        $crate::stored_in!($field);

        fn train_step(
            &mut self,
            batch: &$crate::Batch,
            rng: &mut $crate::Rng,
        ) -> $crate::Result<$crate::Report> {
            $crate::adversarial::step(self, batch, rng)
        }
    };
}

/// [`crate::adversarial::TwoPlayer`]'s `players` and `tag` for a family whose
/// `Store<Players>` is the field `$field` and whose reports are tagged `$tag`:
/// `impl TwoPlayer for Ali { gen_core::players_in!(store, "ali"); ... }`.
#[macro_export]
macro_rules! players_in {
    ($field:ident, $tag:literal) => {
        fn players(&mut self) -> &mut $crate::adversarial::Players {
            &mut self.$field.opt
        }

        fn tag(&self) -> &'static str {
            $tag
        }
    };
}
