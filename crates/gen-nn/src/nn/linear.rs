//! The dense layer.

use crate::vars::{Init, Vb};
use candle_core::{Result, Tensor, Var};
use gen_kernels::Activation;

/// `y = x W + b` with `W` stored as `(in, out)`, initialized like PyTorch's default:
/// uniform in ±1/sqrt(in) for weight and bias.
#[derive(Clone)]
pub struct Linear {
    pub weight: Var,
    pub bias: Var,
}

impl Linear {
    /// `vb.weight` and `vb.bias`.
    pub fn new(vb: &Vb, fan_in: usize, fan_out: usize) -> Result<Self> {
        let bound = Init::Uniform(1.0 / (fan_in as f64).sqrt());
        Ok(Linear {
            weight: vb.var((fan_in, fan_out), "weight", bound)?,
            bias: vb.var(fan_out, "bias", bound)?,
        })
    }

    /// `act(x W + b)`, with bias and activation fused into one pass each way on the CPU.
    pub fn forward_act(&self, x: &Tensor, act: Activation) -> Result<Tensor> {
        if gen_kernels::fused::fusable(x) && x.rank() == 2 && x.dtype() == self.weight.dtype() {
            return gen_kernels::fused::linear_act(x, &self.weight, &self.bias, act);
        }
        act.apply(&x.matmul(&self.weight)?.broadcast_add(&self.bias)?)
    }

    pub fn fan_out(&self) -> usize {
        self.bias.dims()[0]
    }
}

impl candle_nn::Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_act(x, Activation::Identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::Module;
    use gen_base::Rng;
    use std::collections::HashMap;

    #[test]
    fn linear_computes_affine_map_and_params_roundtrip() {
        let vb = Vb::new(Rng::new(0), DType::F64, &Device::Cpu);
        let l = Linear::new(&vb.pp("l"), 2, 3).unwrap();
        let params = vb.params();
        let w: Vec<Vec<f64>> = l.weight.to_vec2().unwrap();
        let b: Vec<f64> = l.bias.to_vec1().unwrap();
        assert!(w.iter().flatten().all(|x| x.abs() <= 1.0 / 2f64.sqrt()));
        let x = Tensor::new(&[[1.0f64, -2.0]], &Device::Cpu).unwrap();
        let y: Vec<Vec<f64>> = l.forward(&x).unwrap().to_vec2().unwrap();
        for j in 0..3 {
            let want = w[0][j] - 2.0 * w[1][j] + b[j];
            assert!((y[0][j] - want).abs() < 1e-12);
        }
        let saved: HashMap<_, _> = params
            .export("m.")
            .into_iter()
            .map(|(k, t)| (k, t.copy().unwrap()))
            .collect();
        l.weight.set(&l.weight.zeros_like().unwrap()).unwrap();
        params.load("m.", &saved).unwrap();
        assert_eq!(l.weight.to_vec2::<f64>().unwrap(), w);
        let mut wrong = saved.clone();
        wrong.insert(
            "m.l.bias".into(),
            Tensor::zeros(4, DType::F64, &Device::Cpu).unwrap(),
        );
        let err = params.load("m.", &wrong).unwrap_err().to_string();
        assert!(err.contains("m.l.bias") && err.contains("[4]"), "{err}");
    }
}
