//! Inverted dropout, drawing its masks from the run's seeded generator.

use candle_core::{Result, Tensor};
use gen_base::Rng;

/// Inverted dropout: each value is zeroed with probability `p` and the rest scaled by
/// `1 / (1 - p)`, so the expectation is unchanged (use only while training).
pub fn dropout(x: &Tensor, p: f64, rng: &mut Rng) -> Result<Tensor> {
    if p <= 0.0 {
        return Ok(x.clone());
    }
    let keep = 1.0 / (1.0 - p);
    let mask: Vec<f64> = (0..x.elem_count())
        .map(|_| if rng.uniform() >= p { keep } else { 0.0 })
        .collect();
    let mask = Tensor::from_vec(mask, x.shape(), &candle_core::Device::Cpu)?
        .to_dtype(x.dtype())?
        .to_device(x.device())?;
    x * mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Var};

    /// About a fraction p of the values is zeroed, the others are scaled by 1/(1-p), and
    /// the gradient goes through the kept values with the same scale.
    #[test]
    fn dropout_drops_a_fraction_and_keeps_the_mean() {
        let x = Var::from_tensor(
            &Tensor::ones((200, 100), DType::F64, &candle_core::Device::Cpu).unwrap(),
        )
        .unwrap();
        let y = dropout(x.as_tensor(), 0.25, &mut gen_base::Rng::new(1)).unwrap();
        let v: Vec<f64> = y.flatten_all().unwrap().to_vec1().unwrap();
        let zeros = v.iter().filter(|&&a| a == 0.0).count() as f64 / v.len() as f64;
        assert!((zeros - 0.25).abs() < 0.01, "{zeros}");
        assert!(v.iter().all(|&a| a == 0.0 || (a - 4.0 / 3.0).abs() < 1e-12));
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!((mean - 1.0).abs() < 0.02, "{mean}");
        let g = y.sum_all().unwrap().backward().unwrap();
        let gv: Vec<f64> = g.get(&x).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(gv, v, "d(sum y)/dx is the mask itself for x = 1");
    }
}
