//! The M-step: with `p(z|x)` fixed to the responsibilities, the `q(z) q(x|z)` that
//! minimizes the joint KL (maximizes `E[log q(x, z)]`) in closed form, from sufficient
//! statistics accumulated chunk by chunk.

use crate::config::CovarianceType;
use crate::linalg::matmul;
use crate::mixture::{cov_len, Mixture};

/// Sufficient statistics of responsibilities `r` (`n x k`) over data `x` (`n x d`).
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// `sum_i r_ij` per component.
    pub nk: Vec<f64>,
    /// `sum_i r_ij x_i` (`k x d`).
    pub sx: Vec<f64>,
    /// `sum_i r_ij x_i^2` per dimension (`k x d`); diag and spherical only.
    pub sxx: Vec<f64>,
}

impl Stats {
    pub fn zeros(kind: CovarianceType, k: usize, d: usize) -> Stats {
        let second = if kind == CovarianceType::Full {
            0
        } else {
            k * d
        };
        Stats {
            nk: vec![0.0; k],
            sx: vec![0.0; k * d],
            sxx: vec![0.0; second],
        }
    }

    pub fn add(&mut self, other: &Stats) {
        for (a, b) in [
            (&mut self.nk, &other.nk),
            (&mut self.sx, &other.sx),
            (&mut self.sxx, &other.sxx),
        ] {
            a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
        }
    }
}

/// Adds the statistics of `rows` points to `s`; `squares` are the points' values
/// squared, when the caller has them.
pub fn accumulate_stats(
    s: &mut Stats,
    x: &[f64],
    squares: Option<&[f64]>,
    resp: &[f64],
    rows: usize,
) {
    let k = s.nk.len();
    let d = s.sx.len() / k.max(1);
    for row in resp.chunks_exact(k) {
        s.nk.iter_mut().zip(row).for_each(|(a, r)| *a += r);
    }
    // sx += R^T X: a (k x rows) by (rows x d) product.
    matmul(&mut s.sx, resp, true, x, (k, rows, d), true);
    if !s.sxx.is_empty() {
        let owned: Vec<f64>;
        let sq = match squares {
            Some(sq) => sq,
            None => {
                owned = x.iter().map(|v| v * v).collect();
                &owned
            }
        };
        matmul(&mut s.sxx, resp, true, sq, (k, rows, d), true);
    }
}

/// Adds `sum_i r_ij (x_i - mu_j)(x_i - mu_j)^T` of `rows` points to `out` (`k x d x d`),
/// the second pass of the full-covariance M-step (centred, as scikit-learn computes it).
pub fn accumulate_scatter(
    out: &mut [f64],
    x: &[f64],
    resp: &[f64],
    means: &[f64],
    (rows, k, d): (usize, usize, usize),
    scratch: &mut Vec<f64>,
) {
    scratch.resize(2 * rows * d, 0.0);
    let (diff, weighted) = scratch.split_at_mut(rows * d);
    for j in 0..k {
        let mu = &means[j * d..(j + 1) * d];
        for i in 0..rows {
            let r = resp[i * k + j];
            for c in 0..d {
                let v = x[i * d + c] - mu[c];
                diff[i * d + c] = v;
                weighted[i * d + c] = r * v;
            }
        }
        matmul(
            &mut out[j * d * d..(j + 1) * d * d],
            weighted,
            true,
            diff,
            (d, rows, d),
            true,
        );
    }
}

/// `nk` as the M-step uses it: scikit-learn adds 10 machine epsilons so that an empty
/// component divides by something.
pub fn padded_nk(stats: &Stats) -> Vec<f64> {
    stats.nk.iter().map(|v| v + 10.0 * f64::EPSILON).collect()
}

/// Weights `nk / sum nk` and means `sx / nk`.
pub fn weights_and_means(stats: &Stats, d: usize) -> (Vec<f64>, Vec<f64>) {
    let nk = padded_nk(stats);
    let total: f64 = nk.iter().sum();
    let weights = nk.iter().map(|v| v / total).collect();
    let means = stats
        .sx
        .chunks_exact(d)
        .zip(&nk)
        .flat_map(|(row, n)| row.iter().map(move |v| v / n))
        .collect();
    (weights, means)
}

/// Diagonal or spherical covariances from the statistics: `E_r[x^2] - mu^2 + reg`
/// (spherical: the mean over dimensions).
pub fn diag_covariances(
    kind: CovarianceType,
    stats: &Stats,
    means: &[f64],
    d: usize,
    reg: f64,
) -> Vec<f64> {
    let nk = padded_nk(stats);
    let mut diag = Vec::with_capacity(means.len());
    for (j, n) in nk.iter().enumerate() {
        for c in 0..d {
            let m = means[j * d + c];
            let avg_x2 = stats.sxx[j * d + c] / n;
            let avg_x_means = m * stats.sx[j * d + c] / n;
            diag.push(avg_x2 - 2.0 * avg_x_means + m * m + reg);
        }
    }
    match kind {
        CovarianceType::Spherical => diag
            .chunks_exact(d)
            .map(|c| c.iter().sum::<f64>() / d as f64)
            .collect(),
        _ => diag,
    }
}

/// Full covariances `scatter / nk + reg I`.
pub fn full_covariances(stats: &Stats, scatter: &[f64], d: usize, reg: f64) -> Vec<f64> {
    let nk = padded_nk(stats);
    let mut cov: Vec<f64> = scatter
        .chunks_exact(d * d)
        .zip(&nk)
        .flat_map(|(s, n)| s.iter().map(move |v| v / n))
        .collect();
    for j in 0..nk.len() {
        for c in 0..d {
            cov[j * d * d + c * d + c] += reg;
        }
    }
    cov
}

/// The M-step from the statistics; `scatter(means)` supplies the centred second moments
/// when the covariances are full.
pub fn m_step_from(
    kind: CovarianceType,
    stats: &Stats,
    d: usize,
    reg: f64,
    scatter: impl FnOnce(&[f64]) -> Vec<f64>,
) -> Result<Mixture, String> {
    let (weights, means) = weights_and_means(stats, d);
    let covariances = match kind {
        CovarianceType::Full => full_covariances(stats, &scatter(&means), d, reg),
        _ => diag_covariances(kind, stats, &means, d, reg),
    };
    debug_assert_eq!(covariances.len(), weights.len() * cov_len(kind, d));
    Mixture::new(kind, d, weights, means, covariances)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estep::m_step;

    /// Hard assignments: the M-step is the per-cluster sample mean and (biased) covariance.
    #[test]
    fn hard_assignments_give_cluster_moments() {
        let x = [
            0.0, 0.0, 2.0, 0.0, 0.0, 4.0, 10.0, 10.0, 12.0, 14.0, 14.0, 10.0,
        ];
        let resp = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0];
        let m = m_step(CovarianceType::Full, &x, &resp, 2, 2, 0.0).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(m.weights[0], 0.5) && close(m.weights[1], 0.5));
        // cluster 0: points (0,0), (2,0), (0,4): mean (2/3, 4/3)
        assert!(close(m.means[0], 2.0 / 3.0) && close(m.means[1], 4.0 / 3.0));
        // var x = mean(x^2) - mean^2 = 4/3 - 4/9 = 8/9; cov xy = 0 - 8/9; var y = 16/3 - 16/9
        let c = &m.covariances[..4];
        assert!(close(c[0], 8.0 / 9.0) && close(c[1], -8.0 / 9.0) && close(c[3], 32.0 / 9.0));
        // cluster 1: (10,10), (12,14), (14,10): mean (12, 34/3); var x 8/3, cov 0, var y 32/9
        let c = &m.covariances[4..];
        assert!(close(c[0], 8.0 / 3.0) && close(c[1], 0.0) && close(c[3], 32.0 / 9.0));

        let diag = m_step(CovarianceType::Diag, &x, &resp, 2, 2, 0.5).unwrap();
        assert!(close(diag.covariances[0], 8.0 / 9.0 + 0.5));
        assert!(close(diag.covariances[3], 32.0 / 9.0 + 0.5));
        let sph = m_step(CovarianceType::Spherical, &x, &resp, 2, 2, 0.0).unwrap();
        assert!(close(sph.covariances[1], (8.0 / 3.0 + 32.0 / 9.0) / 2.0));
    }

    #[test]
    fn chunked_statistics_add_up_to_the_whole() {
        let mut rng = gen_core::Rng::new(1);
        let (n, k, d) = (10, 3, 2);
        let x: Vec<f64> = (0..n * d).map(|_| rng.normal()).collect();
        let resp: Vec<f64> = (0..n * k).map(|_| rng.uniform()).collect();
        let mut whole = Stats::zeros(CovarianceType::Diag, k, d);
        accumulate_stats(&mut whole, &x, None, &resp, n);
        let mut parts = Stats::zeros(CovarianceType::Diag, k, d);
        accumulate_stats(&mut parts, &x[..8], None, &resp[..12], 4);
        let mut second = Stats::zeros(CovarianceType::Diag, k, d);
        accumulate_stats(&mut second, &x[8..], None, &resp[12..], 6);
        parts.add(&second);
        for (a, b) in whole.sxx.iter().zip(&parts.sxx) {
            assert!((a - b).abs() < 1e-12);
        }
    }
}
