//! A trained point-weights classifier of this family as the feature network of sample
//! quality (`gen eval`'s FD, IS, class coverage, precision/recall).

use crate::config::{BnnConfig, Estimator, Network, Weights};
use crate::net::Net;
use candle_core::{DType, Device, Tensor};
use gen_core::model::PARAMS_PREFIX;
use gen_core::{Result, Rng};
use gen_nn::vars::Vb;
use std::collections::HashMap;

pub struct FeatureNet {
    net: Net,
    inputs: usize,
    classes: usize,
}

impl FeatureNet {
    /// The network of `cfg` with the parameters a checkpoint saved (`model.net.*`), for
    /// rows of `inputs` values and `classes` classes.
    pub fn new(
        cfg: &BnnConfig,
        inputs: usize,
        classes: usize,
        tensors: &HashMap<String, Tensor>,
    ) -> Result<Self> {
        if cfg.weights == Weights::Bayes {
            return Err(gen_core::Error::Msg(
                "the feature network must have point weights (`weights: point` or `map`)".into(),
            ));
        }
        let vb = Vb::new(Rng::new(0), DType::F32, &Device::Cpu);
        let net = Net::new(&vb.pp("net"), cfg, inputs, classes)?;
        vb.params().load(PARAMS_PREFIX, tensors)?;
        Ok(FeatureNet {
            net,
            inputs,
            classes,
        })
    }

    /// The network `cfg` names, its input and output sizes read from the saved tensors.
    pub fn from_checkpoint(cfg: &BnnConfig, tensors: &HashMap<String, Tensor>) -> Result<Self> {
        let dims = |name: &str| -> Result<Vec<usize>> {
            let key = format!("{PARAMS_PREFIX}net.{name}");
            tensors
                .get(&key)
                .map(|t| t.dims().to_vec())
                .ok_or_else(|| gen_core::Error::State(format!("missing tensor `{key}`")))
        };
        let (inputs, last) = match cfg.network {
            Network::Lenet => (28 * 28, "fc3".to_string()),
            Network::Mlp => (dims("0.weight")?[0], cfg.hidden.len().to_string()),
        };
        let classes = dims(&format!("{last}.bias"))?[0];
        Self::new(cfg, inputs, classes, tensors)
    }

    pub fn inputs(&self) -> usize {
        self.inputs
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The penultimate layer's activations `(n, features)` and the class probabilities
    /// `(n, classes)` of rows `x` (pixels in [0, 1], as the classifier was trained).
    pub fn features(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let mut unused = Rng::new(0);
        let (h, logits) =
            self.net
                .forward_features(x, Estimator::Reparameterization, &mut unused)?;
        Ok((h, gen_dist::loss::log_softmax(&logits, 1)?.exp()?))
    }
}
