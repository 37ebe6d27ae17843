//! An exponential moving average of a model's parameters (`train.ema`): the weights GANs
//! are usually sampled from (Karras et al. 2018; Yazıcı et al. 2019, "The Unusual
//! Effectiveness of Averaging in GAN Training"). It is kept beside the parameters, saved in
//! checkpoints under [`AVERAGE_PREFIX`], and put into the parameters only to be evaluated.

use crate::params::Params;
use candle_core::{Result, Tensor};
use std::collections::HashMap;

/// Where a checkpoint keeps the averaged parameters (`average.` + the parameter's name).
pub const AVERAGE_PREFIX: &str = "average.";

/// `avg <- d avg + (1 - d) theta` after every step, per parameter.
pub struct WeightAverage {
    decay: f64,
    values: Vec<Tensor>,
}

impl WeightAverage {
    /// Starts at the parameters' current values.
    pub fn new(params: &Params, decay: f64) -> Result<Self> {
        let values = params
            .named()
            .iter()
            // Detached: a copy of a variable is tracked, and every update would then hang
            // on the one before it (a DCGAN run grew to 12 GB before this).
            .map(|(_, v)| v.as_tensor().detach().copy())
            .collect::<Result<_>>()?;
        Ok(WeightAverage { decay, values })
    }

    /// The average a checkpoint saved, or a new one at the parameters when it has none (a
    /// run resumed with `train.ema` newly set).
    pub fn restore(params: &Params, decay: f64, state: &HashMap<String, Tensor>) -> Result<Self> {
        let saved: Option<Vec<&Tensor>> = params
            .named()
            .iter()
            .map(|(n, _)| state.get(&format!("{AVERAGE_PREFIX}{n}")))
            .collect();
        let Some(saved) = saved else {
            return Self::new(params, decay);
        };
        let values = saved
            .into_iter()
            .zip(params.named())
            .map(|(s, (_, v))| s.to_dtype(v.dtype())?.to_device(v.device()))
            .collect::<Result<_>>()?;
        Ok(WeightAverage { decay, values })
    }

    /// The weight of the old average after `step` steps: `min(decay, (1 + step) / (10 +
    /// step))`, so that early on the average follows the parameters instead of staying
    /// near their random start (TensorFlow's `ExponentialMovingAverage` with
    /// `num_updates`).
    pub fn decay_at(&self, step: u64) -> f64 {
        let s = step as f64;
        self.decay.min((1.0 + s) / (10.0 + s))
    }

    /// One step of the average towards the parameters' current values; `step` counts the
    /// steps trained so far, this one included.
    pub fn update(&mut self, params: &Params, step: u64) -> Result<()> {
        let d = self.decay_at(step);
        for (v, (_, p)) in self.values.iter_mut().zip(params.named()) {
            *v = (v.affine(d, 0.0)? + p.as_tensor().detach().affine(1.0 - d, 0.0)?)?;
        }
        Ok(())
    }

    /// The average as checkpoint entries, named after `params`.
    pub fn export(&self, params: &Params) -> Vec<(String, Tensor)> {
        params
            .named()
            .iter()
            .zip(&self.values)
            .map(|((n, _), v)| (format!("{AVERAGE_PREFIX}{n}"), v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    fn value(p: &Params, i: usize) -> Vec<f64> {
        p.named()[i].1.as_tensor().to_vec1().unwrap()
    }

    /// By hand with decay 0.5: at step 1 the warm-up's 2/11 applies, at step 100 the 0.5;
    /// the average of a parameter moved from 0 to 4, then to 8.
    #[test]
    fn the_average_follows_the_parameters_by_the_formula() {
        let d = Device::Cpu;
        let mut p = Params::new();
        let var = p
            .add("w", Tensor::zeros(2, DType::F64, &d).unwrap())
            .unwrap();
        let mut avg = WeightAverage::new(&p, 0.5).unwrap();
        assert!((avg.decay_at(1) - 2.0 / 11.0).abs() < 1e-15);
        assert_eq!(avg.decay_at(100), 0.5);
        var.set(&Tensor::new(&[4.0f64, -4.0], &d).unwrap()).unwrap();
        avg.update(&p, 1).unwrap();
        // 2/11 * 0 + 9/11 * 4
        let after_one = 9.0 / 11.0 * 4.0;
        var.set(&Tensor::new(&[8.0f64, -8.0], &d).unwrap()).unwrap();
        avg.update(&p, 100).unwrap();
        let want = 0.5 * after_one + 0.5 * 8.0;
        let saved: HashMap<String, Tensor> = avg.export(&p).into_iter().collect();
        let got: Vec<f64> = saved["average.w"].to_vec1().unwrap();
        assert!(
            (got[0] - want).abs() < 1e-12 && (got[1] + want).abs() < 1e-12,
            "{got:?}"
        );
        // The parameters themselves are untouched; a restored average carries on from the
        // saved values, and loading it into the parameters is how it is evaluated.
        assert_eq!(value(&p, 0), vec![8.0, -8.0]);
        let back = WeightAverage::restore(&p, 0.5, &saved).unwrap();
        assert_eq!(back.export(&p)[0].1.to_vec1::<f64>().unwrap(), got);
        p.load(AVERAGE_PREFIX, &saved).unwrap();
        assert_eq!(value(&p, 0), got);
    }

    /// The average is no part of any graph: a tracked copy of a variable would keep every
    /// earlier average alive through the chain of updates.
    #[test]
    fn the_average_holds_no_graph() {
        let d = Device::Cpu;
        let mut p = Params::new();
        p.add("w", Tensor::ones(3, DType::F32, &d).unwrap())
            .unwrap();
        let mut avg = WeightAverage::new(&p, 0.9).unwrap();
        assert!(avg.values.iter().all(|v| !v.track_op()));
        for step in 1..4 {
            avg.update(&p, step).unwrap();
        }
        assert!(avg.values.iter().all(|v| !v.track_op()));
    }

    #[test]
    fn a_checkpoint_without_an_average_starts_one_at_the_parameters() {
        let d = Device::Cpu;
        let mut p = Params::new();
        p.add("w", Tensor::new(&[3.0f64], &d).unwrap()).unwrap();
        let avg = WeightAverage::restore(&p, 0.9, &HashMap::new()).unwrap();
        assert_eq!(avg.export(&p)[0].1.to_vec1::<f64>().unwrap(), vec![3.0]);
    }
}
