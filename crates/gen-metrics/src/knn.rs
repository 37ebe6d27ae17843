//! 1-nearest-neighbour classification: how well codes separate classes, the standard
//! probe of an encoder as a feature extractor (BiGAN's MNIST figure).

use candle_core::{Device, Result, Tensor};

/// The fraction of `test` rows whose nearest `train` row (Euclidean) has the same label.
/// Rows are row-major with `dim` columns. Distances come from one gemm per block of test
/// rows: `|q - t|^2 = |t|^2 - 2 q.t + |q|^2`, whose last term does not move the argmin.
pub fn one_nn_accuracy(
    train: &[f32],
    train_labels: &[u32],
    test: &[f32],
    test_labels: &[u32],
    dim: usize,
) -> Result<f64> {
    assert!(dim > 0 && train.len() == train_labels.len() * dim);
    assert!(test.len() == test_labels.len() * dim && !train_labels.is_empty());
    let (n, m) = (train_labels.len(), test_labels.len());
    let t = Tensor::from_slice(train, (n, dim), &Device::Cpu)?;
    let norms = t.sqr()?.sum(1)?.reshape((1, n))?;
    let tt = t.t()?.contiguous()?;
    let mut right = 0usize;
    for start in (0..m).step_by(BLOCK) {
        let rows = BLOCK.min(m - start);
        let q = Tensor::from_slice(
            &test[start * dim..(start + rows) * dim],
            (rows, dim),
            &Device::Cpu,
        )?;
        let d = norms.broadcast_sub(&(q.matmul(&tt)? * 2.0)?)?;
        let nearest: Vec<u32> = d.argmin(1)?.to_vec1()?;
        right += nearest
            .iter()
            .zip(&test_labels[start..start + rows])
            .filter(|(&j, &label)| train_labels[j as usize] == label)
            .count();
    }
    Ok(right as f64 / m.max(1) as f64)
}

/// Test rows per gemm (a 256 x 60,000 distance block is 61 MB).
const BLOCK: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-made: train points at 0 (label 0) and 10 (label 1) in 1-D; test points at 2,
    /// 7 and 4.9 with labels 0, 1, 1: the last is nearer 0, so 2 of 3 are right.
    #[test]
    fn hand_made_case() {
        let acc = one_nn_accuracy(&[0.0, 10.0], &[0, 1], &[2.0, 7.0, 4.9], &[0, 1, 1], 1).unwrap();
        assert!((acc - 2.0 / 3.0).abs() < 1e-12);
    }

    /// Against a brute-force reference in 3-D on random points.
    #[test]
    fn matches_brute_force() {
        let mut rng = gen_base::Rng::new(3);
        let (n, m, dim) = (300, 200, 3);
        let train: Vec<f32> = (0..n * dim).map(|_| rng.normal() as f32).collect();
        let test: Vec<f32> = (0..m * dim).map(|_| rng.normal() as f32).collect();
        let tl: Vec<u32> = (0..n).map(|_| rng.below(3) as u32).collect();
        let ql: Vec<u32> = (0..m).map(|_| rng.below(3) as u32).collect();
        let mut right = 0;
        for i in 0..m {
            let q = &test[i * dim..(i + 1) * dim];
            let nearest = (0..n)
                .min_by(|&a, &b| {
                    let d = |j: usize| -> f64 {
                        (0..dim)
                            .map(|k| (q[k] as f64 - train[j * dim + k] as f64).powi(2))
                            .sum()
                    };
                    d(a).total_cmp(&d(b))
                })
                .unwrap();
            right += (tl[nearest] == ql[i]) as usize;
        }
        let acc = one_nn_accuracy(&train, &tl, &test, &ql, dim).unwrap();
        assert!((acc - right as f64 / m as f64).abs() < 1e-12);
    }
}
