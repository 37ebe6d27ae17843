//! Sample quality measured in a classifier's feature space: the Fréchet distance between
//! Gaussians fitted to real and generated features, the classifier-based inception score,
//! the KL of the predicted-class histogram to the real one (class coverage) and
//! precision/recall of k-nearest-neighbour manifolds (Kynkäänniemi et al. 2019).
//!
//! Features and probabilities are row-major `f32` slices with `dim` (or `classes`) columns.
//! With this project's own classifier the Fréchet distance is *not* the Inception FID: its
//! values compare runs scored by the same network only.

use crate::linalg::symmetric_eigen;
use candle_core::{Device, Result, Tensor};

/// Mean and covariance (unbiased, `n - 1`) of feature rows, in `f64`.
#[derive(Clone, Debug)]
pub struct FeatureStats {
    pub dim: usize,
    pub mean: Vec<f64>,
    /// Row-major `dim x dim`.
    pub cov: Vec<f64>,
}

impl FeatureStats {
    pub fn of(rows: &[f32], dim: usize) -> Self {
        assert!(dim > 0 && rows.len().is_multiple_of(dim));
        let n = rows.len() / dim;
        assert!(n >= 2, "a covariance needs at least two rows");
        let mut mean = vec![0.0; dim];
        for r in rows.chunks_exact(dim) {
            for (m, &v) in mean.iter_mut().zip(r) {
                *m += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut cov = vec![0.0; dim * dim];
        let mut centred = vec![0.0; dim];
        for r in rows.chunks_exact(dim) {
            for ((c, &v), m) in centred.iter_mut().zip(r).zip(&mean) {
                *c = v as f64 - m;
            }
            for i in 0..dim {
                let ci = centred[i];
                for j in i..dim {
                    cov[i * dim + j] += ci * centred[j];
                }
            }
        }
        for i in 0..dim {
            for j in i..dim {
                let v = cov[i * dim + j] / (n - 1) as f64;
                cov[i * dim + j] = v;
                cov[j * dim + i] = v;
            }
        }
        FeatureStats { dim, mean, cov }
    }
}

/// `|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))`, the squared 2-Wasserstein
/// distance between the two fitted Gaussians. The trace of the square root is taken as
/// that of the symmetric `S_a^(1/2) S_b S_a^(1/2)`, which has the same eigenvalues as
/// `S_a S_b`, so only symmetric eigen-decompositions are needed.
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> f64 {
    assert_eq!(a.dim, b.dim);
    let d = a.dim;
    let mean_term: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y).powi(2))
        .sum();
    let trace = |m: &[f64]| (0..d).map(|i| m[i * d + i]).sum::<f64>();
    let root_a = symmetric_sqrt(&a.cov, d);
    let inner = matmul(&matmul(&root_a, &b.cov, d), &root_a, d);
    let (eig, _) = symmetric_eigen(&inner, d);
    let trace_root: f64 = eig.iter().map(|&l| l.max(0.0).sqrt()).sum();
    (mean_term + trace(&a.cov) + trace(&b.cov) - 2.0 * trace_root).max(0.0)
}

/// The PSD square root `V diag(sqrt(max(l, 0))) V^T` of a symmetric matrix.
fn symmetric_sqrt(m: &[f64], d: usize) -> Vec<f64> {
    let (vals, vecs) = symmetric_eigen(m, d);
    let mut out = vec![0.0; d * d];
    for (k, &l) in vals.iter().enumerate() {
        let s = l.max(0.0).sqrt();
        for i in 0..d {
            let vi = vecs[i * d + k] * s;
            for j in 0..d {
                out[i * d + j] += vi * vecs[j * d + k];
            }
        }
    }
    out
}

fn matmul(a: &[f64], b: &[f64], d: usize) -> Vec<f64> {
    let mut out = vec![0.0; d * d];
    for i in 0..d {
        for k in 0..d {
            let aik = a[i * d + k];
            for j in 0..d {
                out[i * d + j] += aik * b[k * d + j];
            }
        }
    }
    out
}

/// `exp(E_x KL(p(y|x) || p(y)))` with `p(y)` the mean of the rows (one split over all
/// rows): 1 when every sample gets the same prediction, `classes` at best.
pub fn inception_score(probs: &[f32], classes: usize) -> f64 {
    let n = probs.len() / classes;
    let mut marginal = vec![0.0f64; classes];
    for r in probs.chunks_exact(classes) {
        for (m, &p) in marginal.iter_mut().zip(r) {
            *m += p as f64 / n as f64;
        }
    }
    let mean_kl: f64 = probs
        .chunks_exact(classes)
        .map(|r| {
            r.iter()
                .zip(&marginal)
                .filter(|(&p, _)| p > 0.0)
                .map(|(&p, &m)| p as f64 * (p as f64 / m).ln())
                .sum::<f64>()
        })
        .sum::<f64>()
        / n as f64;
    mean_kl.exp()
}

/// The fraction of rows whose most probable class is each class.
pub fn class_histogram(probs: &[f32], classes: usize) -> Vec<f64> {
    let mut h = vec![0.0; classes];
    let rows = probs.chunks_exact(classes);
    let n = rows.len() as f64;
    for r in rows {
        let best = (0..classes).fold(0, |b, c| if r[c] > r[b] { c } else { b });
        h[best] += 1.0 / n;
    }
    h
}

/// `KL(samples || real)` of two class histograms: 0 when the classes come in the real
/// proportions, `ln(10/9) = 0.105` when one of ten balanced classes is never generated,
/// `ln 10` when only one is.
pub fn coverage_kl(samples: &[f64], real: &[f64]) -> f64 {
    samples
        .iter()
        .zip(real)
        .filter(|(&s, _)| s > 0.0)
        .map(|(&s, &r)| s * (s / r).ln())
        .sum()
}

/// Kynkäänniemi et al.'s improved precision and recall: the fraction of `fake` rows inside
/// the real manifold (the union of balls around each real row reaching its `k`-th nearest
/// real neighbour), and the fraction of `real` rows inside the fake manifold. `k = 3` is
/// the paper's choice.
pub fn precision_recall(real: &[f32], fake: &[f32], dim: usize, k: usize) -> Result<(f64, f64)> {
    let real_radii = knn_radii(real, dim, k)?;
    let fake_radii = knn_radii(fake, dim, k)?;
    let precision = covered_fraction(fake, real, &real_radii, dim)?;
    let recall = covered_fraction(real, fake, &fake_radii, dim)?;
    Ok((precision, recall))
}

/// Rows per distance block (a 512 x 10,000 block is 20 MB).
const BLOCK: usize = 512;

/// Squared distances of the rows `rows[start..start + len]` of `queries` to every row of
/// `points` (the `(m, dim)` tensor `pts`, its transpose and squared norms prepared once).
struct Points {
    t: Tensor,
    norms: Vec<f32>,
}

impl Points {
    fn new(rows: &[f32], dim: usize) -> Result<Self> {
        let n = rows.len() / dim;
        let p = Tensor::from_slice(rows, (n, dim), &Device::Cpu)?;
        let norms = rows
            .chunks_exact(dim)
            .map(|r| r.iter().map(|v| v * v).sum())
            .collect();
        Ok(Points {
            t: p.t()?.contiguous()?,
            norms,
        })
    }

    /// Row-major `(rows, n)` squared distances of the query rows.
    fn sq_distances(&self, queries: &[f32], dim: usize) -> Result<Vec<f32>> {
        let rows = queries.len() / dim;
        let q = Tensor::from_slice(queries, (rows, dim), &Device::Cpu)?;
        let dots: Vec<f32> = q.matmul(&self.t)?.flatten_all()?.to_vec1()?;
        let n = self.norms.len();
        Ok(dots
            .chunks_exact(n)
            .zip(queries.chunks_exact(dim))
            .flat_map(|(row, qr)| {
                let qn: f32 = qr.iter().map(|v| v * v).sum();
                row.iter()
                    .zip(&self.norms)
                    .map(move |(&d, &pn)| (qn + pn - 2.0 * d).max(0.0))
            })
            .collect())
    }
}

/// The squared distance of each row to its `k`-th nearest other row.
fn knn_radii(rows: &[f32], dim: usize, k: usize) -> Result<Vec<f32>> {
    let n = rows.len() / dim;
    assert!(n > k, "k-NN radii need more than k = {k} rows");
    let pts = Points::new(rows, dim)?;
    let mut radii = Vec::with_capacity(n);
    for start in (0..n).step_by(BLOCK) {
        let len = BLOCK.min(n - start);
        let d = pts.sq_distances(&rows[start * dim..(start + len) * dim], dim)?;
        for (i, row) in d.chunks_exact(n).enumerate() {
            // The k smallest distances to the other rows (the row itself excluded by index).
            let mut best = vec![f32::INFINITY; k];
            for (j, &v) in row.iter().enumerate() {
                if j != start + i && v < best[k - 1] {
                    let at = best.partition_point(|&b| b <= v);
                    best.insert(at, v);
                    best.pop();
                }
            }
            radii.push(best[k - 1]);
        }
    }
    Ok(radii)
}

/// The fraction of `queries` within `radii[j]` of some row `j` of `points`.
fn covered_fraction(queries: &[f32], points: &[f32], radii: &[f32], dim: usize) -> Result<f64> {
    let m = queries.len() / dim;
    let pts = Points::new(points, dim)?;
    let n = radii.len();
    let mut inside = 0usize;
    for start in (0..m).step_by(BLOCK) {
        let len = BLOCK.min(m - start);
        let d = pts.sq_distances(&queries[start * dim..(start + len) * dim], dim)?;
        inside += d
            .chunks_exact(n)
            .filter(|row| row.iter().zip(radii).any(|(&v, &r)| v <= r))
            .count();
    }
    Ok(inside as f64 / m.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Diagonal covariances commute: the distance is `|dmu|^2 + sum (sqrt a - sqrt b)^2`.
    #[test]
    fn frechet_distance_of_diagonal_gaussians() {
        let a = FeatureStats {
            dim: 3,
            mean: vec![0.0, 1.0, 2.0],
            cov: vec![4.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 9.0],
        };
        let b = FeatureStats {
            dim: 3,
            mean: vec![1.0, 1.0, 0.0],
            cov: vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 4.0],
        };
        let want = (1.0 + 0.0 + 4.0) + (1.0 + 0.0 + 1.0);
        assert!((frechet_distance(&a, &b) - want).abs() < 1e-10);
        assert!(frechet_distance(&a, &a).abs() < 1e-10);
    }

    /// Covariances that do not commute: `S_a = diag(1, 0)`, `S_b = [[2, 1], [1, 2]]`, so
    /// `S_a S_b = [[2, 1], [0, 0]]` with eigenvalues 2 and 0, and the distance is
    /// `1 + 4 - 2 sqrt(2)`, by hand.
    #[test]
    fn frechet_distance_of_non_commuting_covariances() {
        let a = FeatureStats {
            dim: 2,
            mean: vec![0.0; 2],
            cov: vec![1.0, 0.0, 0.0, 0.0],
        };
        let b = FeatureStats {
            dim: 2,
            mean: vec![0.0; 2],
            cov: vec![2.0, 1.0, 1.0, 2.0],
        };
        let want = 5.0 - 2.0 * 2f64.sqrt();
        assert!((frechet_distance(&a, &b) - want).abs() < 1e-10);
        assert!((frechet_distance(&b, &a) - want).abs() < 1e-10);
    }

    #[test]
    fn stats_are_the_unbiased_moments() {
        let s = FeatureStats::of(&[1.0, 0.0, 3.0, 2.0, 5.0, 4.0], 2);
        assert_eq!(s.mean, vec![3.0, 2.0]);
        assert_eq!(s.cov, vec![4.0, 4.0, 4.0, 4.0]);
    }

    #[test]
    fn inception_score_spans_one_to_the_number_of_classes() {
        let one_class: Vec<f32> = (0..20).flat_map(|_| [1.0, 0.0, 0.0, 0.0]).collect();
        assert!((inception_score(&one_class, 4) - 1.0).abs() < 1e-12);
        let spread: Vec<f32> = (0..20)
            .flat_map(|i| {
                let mut r = [0.0; 4];
                r[i % 4] = 1.0;
                r
            })
            .collect();
        assert!((inception_score(&spread, 4) - 4.0).abs() < 1e-9);
        let uniform = vec![0.25f32; 80];
        assert!((inception_score(&uniform, 4) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn coverage_counts_argmax_classes() {
        let probs = [0.7, 0.3, 0.2, 0.8, 0.9, 0.1, 0.6, 0.4];
        assert_eq!(class_histogram(&probs, 2), vec![0.75, 0.25]);
        let real = vec![0.1; 10];
        let mut nine = vec![1.0 / 9.0; 10];
        nine[3] = 0.0;
        assert!((coverage_kl(&nine, &real) - (10.0f64 / 9.0).ln()).abs() < 1e-12);
        assert!(coverage_kl(&real, &real).abs() < 1e-15);
    }

    /// 1-D by hand, k = 1. Reals at 0, 1, 10 (radii 1, 1, 9); fakes at 0.5, 5, 30 (radii
    /// 4.5, 4.5, 25): 0.5 and 5 lie in a real ball (precision 2/3); 0 and 1 lie within 4.5
    /// of 0.5, 10 within 25 of 30 (recall 1).
    #[test]
    fn precision_and_recall_by_hand() {
        let (p, r) = precision_recall(&[0.0, 1.0, 10.0], &[0.5, 5.0, 30.0], 1, 1).unwrap();
        assert!((p - 2.0 / 3.0).abs() < 1e-12);
        assert!((r - 1.0).abs() < 1e-12);
        let (p, r) = precision_recall(&[0.0, 1.0, 10.0], &[0.0, 1.0, 10.0], 1, 1).unwrap();
        assert_eq!((p, r), (1.0, 1.0));
    }

    /// Against a brute-force count on random points in 4-D, across several blocks.
    #[test]
    fn precision_recall_match_brute_force() {
        let mut rng = gen_base::Rng::new(5);
        let dim = 4;
        let real: Vec<f32> = (0..700 * dim).map(|_| rng.normal() as f32).collect();
        let fake: Vec<f32> = (0..600 * dim)
            .map(|_| 1.5 * rng.normal() as f32 + 0.5)
            .collect();
        let d2 =
            |a: &[f32], b: &[f32]| -> f32 { a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum() };
        let radii = |s: &[f32]| -> Vec<f32> {
            let rows: Vec<&[f32]> = s.chunks_exact(dim).collect();
            rows.iter()
                .enumerate()
                .map(|(i, a)| {
                    let mut d: Vec<f32> = rows
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, b)| d2(a, b))
                        .collect();
                    d.sort_by(f32::total_cmp);
                    d[2]
                })
                .collect()
        };
        let frac = |q: &[f32], p: &[f32], r: &[f32]| -> f64 {
            let pts: Vec<&[f32]> = p.chunks_exact(dim).collect();
            let n = q.chunks_exact(dim).count();
            q.chunks_exact(dim)
                .filter(|x| pts.iter().zip(r).any(|(y, &ri)| d2(x, y) <= ri))
                .count() as f64
                / n as f64
        };
        let want_p = frac(&fake, &real, &radii(&real));
        let want_r = frac(&real, &fake, &radii(&fake));
        let (p, r) = precision_recall(&real, &fake, dim, 3).unwrap();
        // Distances from one gemm differ from direct sums in the last bits; a point exactly
        // on a ball's edge could flip, so allow one point either way.
        assert!((p - want_p).abs() <= 1.0 / 600.0 + 1e-12, "{p} vs {want_p}");
        assert!((r - want_r).abs() <= 1.0 / 700.0 + 1e-12, "{r} vs {want_r}");
        assert!(p < 0.99 && r > 0.5, "the sets differ: p {p}, r {r}");
    }
}
