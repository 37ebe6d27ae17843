//! Probes of a trained encoder: its codes as features for a 1-nearest-neighbour classifier
//! (the training set's codes label the test set's), as BiGAN reports on MNIST.

use anyhow::Result;
use candle_core::{DType, Tensor};
use gen_core::Model;
use gen_data::{Dataset, Split};

/// The codes of every row of `split`, in batches of `batch`; `None` if the model has no
/// encoder.
pub fn codes(
    model: &dyn Model,
    split: &Split,
    batch: usize,
    device: &candle_core::Device,
) -> Result<Option<(Vec<f32>, usize)>> {
    let mut out = vec![];
    let mut dim = 0;
    for start in (0..split.n).step_by(batch.max(1)) {
        let rows = batch.min(split.n - start);
        let x = Tensor::from_slice(
            &split.x[start * split.dim..(start + rows) * split.dim],
            (rows, split.dim),
            device,
        )?;
        let Some(z) = model.encode(&x)? else {
            return Ok(None);
        };
        dim = z.dim(1)?;
        out.extend(z.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(Some((out, dim)))
}

/// 1-NN test accuracy of the codes, given the test set's `test` codes (`dim` columns),
/// when both splits have labels; the training set is encoded here.
pub fn one_nn_accuracy(
    model: &dyn Model,
    data: &Dataset,
    test: &[f32],
    dim: usize,
    batch: usize,
    device: &candle_core::Device,
) -> Result<Option<f64>> {
    let (Some(train_labels), Some(test_labels)) = (&data.train.labels, &data.test.labels) else {
        return Ok(None);
    };
    let Some((train, _)) = codes(model, &data.train, batch, device)? else {
        return Ok(None);
    };
    Ok(Some(gen_metrics::knn::one_nn_accuracy(
        &train,
        train_labels,
        test,
        test_labels,
        dim,
    )?))
}

/// Burda et al.'s active units: latent coordinates whose code mean varies across inputs,
/// `Var_x(E[z_u|x]) > 0.01`, for row-major `codes` of `dim` columns.
pub fn active_units(codes: &[f32], dim: usize) -> usize {
    let n = codes.len() / dim.max(1);
    if n < 2 {
        return 0;
    }
    (0..dim)
        .filter(|&u| {
            let col = codes.iter().skip(u).step_by(dim).map(|&v| v as f64);
            let mean = col.clone().sum::<f64>() / n as f64;
            let var = col.map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            var > 0.01
        })
        .count()
}

#[cfg(test)]
mod tests {
    /// Columns with variance 0, 0.005 and 1 (by construction): one active unit.
    #[test]
    fn active_units_counts_varying_columns() {
        let n = 1000;
        let codes: Vec<f32> = (0..n)
            .flat_map(|i| {
                let s = if i % 2 == 0 { 1.0 } else { -1.0 };
                [3.0, (0.005f64.sqrt() * s) as f32, s as f32]
            })
            .collect();
        assert_eq!(super::active_units(&codes, 3), 1);
    }
}
