//! The element-wise non-linearities of the layers, unfused (any device, any dtype); the
//! fused linear kernel applies the same functions in its own pass.

use candle_core::{Result, Tensor};
use serde::{Deserialize, Serialize};

/// Element-wise non-linearities, named as in configs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    Relu,
    LeakyRelu,
    Tanh,
    Sigmoid,
    Identity,
}

impl Activation {
    pub fn apply(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Relu => x.relu(),
            Activation::LeakyRelu => x.maximum(&(x * 0.2)?),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => sigmoid(x),
            Activation::Identity => Ok(x.clone()),
        }
    }
}

pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    // exp(-softplus(-x)) is stable for both signs: softplus(-x) = relu(-x) + log1p(exp(-|x|)).
    let softplus_neg = (x.neg()?.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
    softplus_neg.neg()?.exp()
}
