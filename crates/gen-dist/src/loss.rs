//! Numerically stable losses.

use candle_core::{DType, Result, Tensor};

/// Element-wise binary cross-entropy on logits `l` against targets `x` in [0, 1], in the
/// stable form `max(l, 0) - l*x + log(1 + exp(-|l|))`. (candle-nn's version returns NaN
/// for large logits.)
pub fn bce_with_logits(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    let softplus_neg_abs = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    (logits.relu()? - (logits * target)?)? + softplus_neg_abs
}

/// Binary cross-entropy summed over every dimension but the first: one value per example
/// (one fused pass each way on the CPU).
pub fn bce_with_logits_per_example(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    if gen_kernels::fused::fusable(logits) && logits.rank() >= 2 {
        return gen_kernels::fused::bce_with_logits_rows(logits, target);
    }
    sum_per_example(&bce_with_logits(logits, target)?)
}

/// `-log softmax(logits)[target]` per row of `logits` `(N, V)` for class ids `targets`
/// `(N,)` (any integer or whole-float dtype); rows whose target is `skip` (padding) cost 0.
/// (On the CPU an output layer's logits go through [`linear_categorical_nll_rows`]
/// instead, fused.)
pub fn categorical_nll_rows(
    logits: &Tensor,
    targets: &Tensor,
    skip: Option<u32>,
) -> Result<Tensor> {
    let ids = targets.to_dtype(DType::U32)?;
    let picked = log_softmax(logits, 1)?
        .gather(&ids.unsqueeze(1)?, 1)?
        .squeeze(1)?;
    let kept = match skip {
        Some(s) => ids.ne(s)?.to_dtype(picked.dtype())?,
        None => picked.ones_like()?,
    };
    (picked * kept)?.neg()
}

/// [`categorical_nll_rows`] of the logits `h W + b` of an output layer, without storing
/// them: on the CPU one fused op makes them a block of rows at a time (the step's largest
/// tensor over a large vocabulary never exists whole). `training`: a backward pass
/// follows, and the fused op makes the gradients with the values (one product fewer when
/// the loss is a mean over the rows).
pub fn linear_categorical_nll_rows(
    h: &Tensor,
    (w, b): (&Tensor, &Tensor),
    targets: &Tensor,
    skip: Option<u32>,
    training: bool,
) -> Result<Tensor> {
    if gen_kernels::fused::fusable(h) && h.dtype() == w.dtype() {
        let ids = targets.to_dtype(DType::U32)?.to_vec1()?;
        return gen_kernels::fused::linear_categorical_nll_rows(h, w, b, ids, skip, training);
    }
    categorical_nll_rows(&h.matmul(w)?.broadcast_add(b)?, targets, skip)
}

/// Sums over all dimensions but the first (the batch dimension).
pub fn sum_per_example(t: &Tensor) -> Result<Tensor> {
    if t.rank() <= 1 {
        return Ok(t.clone());
    }
    t.flatten_from(1)?.sum(1)
}

/// log-sum-exp over `dim`, keeping it, stabilized by the maximum.
pub fn logsumexp_keepdim(x: &Tensor, dim: usize) -> Result<Tensor> {
    let max = x.max_keepdim(dim)?.detach();
    (x.broadcast_sub(&max)?.exp()?.sum_keepdim(dim)?.log()? + max)?.contiguous()
}

/// log softmax over `dim`.
pub fn log_softmax(x: &Tensor, dim: usize) -> Result<Tensor> {
    x.broadcast_sub(&logsumexp_keepdim(x, dim)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn bce_matches_direct_formula_and_stays_finite() {
        let d = Device::Cpu;
        let l = Tensor::new(&[-3.0f64, -0.5, 0.0, 0.7, 2.0], &d).unwrap();
        let x = Tensor::new(&[0.0f64, 1.0, 0.3, 1.0, 0.0], &d).unwrap();
        let got: Vec<f64> = bce_with_logits(&l, &x).unwrap().to_vec1().unwrap();
        for (i, (&li, &xi)) in [-3.0f64, -0.5, 0.0, 0.7, 2.0]
            .iter()
            .zip(&[0.0f64, 1.0, 0.3, 1.0, 0.0])
            .enumerate()
        {
            let p = 1.0 / (1.0 + (-li).exp());
            let want = -(xi * p.ln() + (1.0 - xi) * (1.0 - p).ln());
            assert!((got[i] - want).abs() < 1e-12, "{i}: {} vs {want}", got[i]);
        }
        let big = Tensor::new(&[1000.0f32, -1000.0], &d).unwrap();
        let t = Tensor::new(&[0.0f32, 1.0], &d).unwrap();
        let v: Vec<f32> = bce_with_logits(&big, &t).unwrap().to_vec1().unwrap();
        assert_eq!(v, vec![1000.0, 1000.0]);
    }

    #[test]
    fn logsumexp_of_large_values() {
        let x = Tensor::new(&[[1000.0f64, 1000.0]], &Device::Cpu).unwrap();
        let v: Vec<Vec<f64>> = logsumexp_keepdim(&x, 1).unwrap().to_vec2().unwrap();
        assert!((v[0][0] - (1000.0 + 2f64.ln())).abs() < 1e-9);
    }
}
