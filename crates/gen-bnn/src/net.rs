//! The networks: an MLP or LeNet-5 whose layers hold a posterior over their weights
//! (`weights: bayes`) or point values (`weights: point`/`map`).

use crate::config::{BnnConfig, Estimator, Network, Weights};
use crate::conv::BayesConv;
use crate::layer::BayesLinear;
use crate::posterior::GaussianWeights;
use crate::prior::WeightPrior;
use candle_core::{Result, Tensor};
use gen_core::Rng;
use gen_nn::nn::{widths, Activation, Conv2d, Linear, Module};
use gen_nn::vars::Vb;

/// A fully connected layer.
enum Dense {
    Bayes(BayesLinear),
    Point(Linear),
}

/// A convolution (stride 1).
enum Conv {
    Bayes(BayesConv),
    Point(Conv2d),
}

impl Dense {
    fn new(vb: &Vb, fan_in: usize, fan_out: usize, cfg: &BnnConfig) -> Result<Self> {
        Ok(match cfg.weights {
            Weights::Bayes => {
                Dense::Bayes(BayesLinear::new(vb, fan_in, fan_out, cfg.posterior_init)?)
            }
            Weights::Point | Weights::Map => Dense::Point(Linear::new(vb, fan_in, fan_out)?),
        })
    }

    fn forward(&self, x: &Tensor, act: Activation, by: Estimator, rng: &mut Rng) -> Result<Tensor> {
        match (self, by) {
            (Dense::Point(l), _) => l.forward_act(x, act),
            (Dense::Bayes(l), Estimator::Local) => act.apply(&l.forward_local(x, rng)?),
            (Dense::Bayes(l), Estimator::Reparameterization) => {
                act.apply(&l.forward_with(x, &l.draw(rng)?)?)
            }
        }
    }
}

impl Conv {
    fn new(
        vb: &Vb,
        c_in: usize,
        c_out: usize,
        k: usize,
        pad: usize,
        cfg: &BnnConfig,
    ) -> Result<Self> {
        Ok(match cfg.weights {
            Weights::Bayes => {
                Conv::Bayes(BayesConv::new(vb, c_in, c_out, k, pad, cfg.posterior_init)?)
            }
            Weights::Point | Weights::Map => {
                Conv::Point(Conv2d::new(vb, (c_in, c_out, k), 1, pad)?)
            }
        })
    }

    fn forward(&self, x: &Tensor, by: Estimator, rng: &mut Rng) -> Result<Tensor> {
        match (self, by) {
            (Conv::Point(c), _) => c.forward(x),
            (Conv::Bayes(c), Estimator::Local) => c.forward_local(x, rng),
            (Conv::Bayes(c), Estimator::Reparameterization) => c.forward_with(x, &c.draw(rng)?),
        }
    }
}

/// The network from inputs to the likelihood's parameters (logits, or standardized means).
pub struct Net {
    convs: Vec<Conv>,
    dense: Vec<Dense>,
    activation: Activation,
}

impl Net {
    /// `vb.<i>` per MLP layer; LeNet's `vb.conv1`, `vb.conv2`, `vb.fc1`.. `vb.fc3`.
    pub fn new(vb: &Vb, cfg: &BnnConfig, inputs: usize, outputs: usize) -> Result<Self> {
        let (convs, sizes, names): (Vec<Conv>, Vec<usize>, Vec<String>) = match cfg.network {
            Network::Mlp => {
                let sizes = widths(inputs, cfg.hidden.iter().copied(), outputs);
                let names = (0..sizes.len() - 1).map(|i| i.to_string()).collect();
                (vec![], sizes, names)
            }
            Network::Lenet => {
                let convs = vec![
                    Conv::new(&vb.pp("conv1"), 1, 6, 5, 2, cfg)?,
                    Conv::new(&vb.pp("conv2"), 6, 16, 5, 0, cfg)?,
                ];
                let names = ["fc1", "fc2", "fc3"].map(String::from).to_vec();
                (convs, vec![16 * 5 * 5, 120, 84, outputs], names)
            }
        };
        let dense = sizes
            .windows(2)
            .zip(&names)
            .map(|(w, name)| Dense::new(&vb.pp(name), w[0], w[1], cfg))
            .collect::<Result<Vec<_>>>()?;
        Ok(Net {
            convs,
            dense,
            activation: cfg.activation,
        })
    }

    /// One forward pass on rows `x` (flattened images for LeNet), Bayesian weights drawn
    /// by the estimator `by`.
    pub fn forward(&self, x: &Tensor, by: Estimator, rng: &mut Rng) -> Result<Tensor> {
        Ok(self.forward_features(x, by, rng)?.1)
    }

    /// The penultimate layer's activations (the last hidden layer: LeNet's 84 units) and
    /// the outputs; the first are the features `gen eval` measures samples in.
    pub fn forward_features(
        &self,
        x: &Tensor,
        by: Estimator,
        rng: &mut Rng,
    ) -> Result<(Tensor, Tensor)> {
        let mut h = x.clone();
        if !self.convs.is_empty() {
            h = h.reshape(((), 1, 28, 28))?;
            for c in &self.convs {
                h = self
                    .activation
                    .apply(&c.forward(&h, by, rng)?)?
                    .max_pool2d(2)?;
            }
            h = h.flatten_from(1)?;
        }
        let (last, hidden) = self
            .dense
            .split_last()
            .expect("a network has an output layer");
        for d in hidden {
            h = d.forward(&h, self.activation, by, rng)?;
        }
        let out = last.forward(&h, Activation::Identity, by, rng)?;
        Ok((h, out))
    }

    /// Every Bayesian weight and bias tensor, named as the parameters are (`0.weight`,
    /// `conv1.bias`, ...); none for point weights.
    pub fn posteriors(&self) -> Vec<(String, &GaussianWeights)> {
        let lenet = !self.convs.is_empty();
        let convs = self.convs.iter().enumerate().filter_map(|(i, c)| match c {
            Conv::Bayes(c) => Some((format!("conv{}", i + 1), &c.weight, &c.bias)),
            Conv::Point(_) => None,
        });
        let dense = self.dense.iter().enumerate().filter_map(|(i, d)| match d {
            Dense::Bayes(l) => {
                let name = if lenet {
                    format!("fc{}", i + 1)
                } else {
                    i.to_string()
                };
                Some((name, &l.weight, &l.bias))
            }
            Dense::Point(_) => None,
        });
        convs
            .chain(dense)
            .flat_map(|(layer, w, b)| {
                [(format!("{layer}.weight"), w), (format!("{layer}.bias"), b)]
            })
            .collect()
    }

    /// `KL(Q(θ) || P(θ))` over every Bayesian tensor: closed form for a Gaussian prior, a
    /// one-draw Monte-Carlo estimate (its own draw, from `rng`) for the scale mixture.
    pub fn kl(&self, prior: &WeightPrior, rng: &mut Rng) -> Result<Option<Tensor>> {
        let posteriors = self.posteriors();
        gen_core::objective::sum(posteriors.into_iter().map(|(_, w)| w.kl(prior, rng)))
    }
}
