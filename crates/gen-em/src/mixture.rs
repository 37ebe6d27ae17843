//! The generator side `q(x, z) = q(z) q(x|z)`: mixture weights and Gaussian components,
//! with the Cholesky factors of their precisions, and `log q(x, z)` for rows of data.

use crate::config::CovarianceType;
use crate::linalg::{cholesky, invert_lower, matmul, transpose};

const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Up to this dimension the per-point formulas run as plain loops; above it, as matrix
/// products (the expanded quadratic form, as scikit-learn computes it).
const SMALL_DIM: usize = 16;

/// A Gaussian mixture's parameters and what is derived from them.
#[derive(Clone, Debug, PartialEq)]
pub struct Mixture {
    pub kind: CovarianceType,
    pub k: usize,
    pub d: usize,
    /// Mixture weights `q(z)`, summing to 1.
    pub weights: Vec<f64>,
    /// `k x d` component means.
    pub means: Vec<f64>,
    /// `k x d x d` (full), `k x d` (diag) or `k` (spherical).
    pub covariances: Vec<f64>,
    /// Full: `U_j` upper triangular with `Sigma_j^-1 = U_j U_j^T` (`k x d x d`); diag and
    /// spherical: `1 / sigma` per dimension (`k x d`, expanded for spherical).
    prec_chol: Vec<f64>,
    /// `ln w_j + ln det U_j - d/2 ln 2 pi` per component.
    log_norm: Vec<f64>,
    /// For high dimensions: precomputed factors of the expanded quadratic form.
    expanded: Option<Expanded>,
}

/// `(x - mu)^T P (x - mu) = x^2 . p - 2 x . (mu p) + mu^2 . p` (diag/spherical), or for
/// full covariances `|x U - mu U|^2`.
#[derive(Clone, Debug, PartialEq)]
enum Expanded {
    Diag {
        /// `d x k`: the precisions, transposed.
        prec_t: Vec<f64>,
        /// `d x k`: `-2 mu p`, transposed.
        cross_t: Vec<f64>,
        /// `k`: `mu^2 . p`.
        constant: Vec<f64>,
    },
    Full {
        /// `k x d`: `mu_j U_j`.
        mean_u: Vec<f64>,
    },
}

/// Number of covariance values per component.
pub fn cov_len(kind: CovarianceType, d: usize) -> usize {
    match kind {
        CovarianceType::Full => d * d,
        CovarianceType::Diag => d,
        CovarianceType::Spherical => 1,
    }
}

/// Free parameters of `k` components in dimension `d`: `k - 1` weights, `k d` means and
/// the covariances' distinct entries.
pub fn parameter_count(kind: CovarianceType, k: usize, d: usize) -> usize {
    let cov = match kind {
        CovarianceType::Full => k * d * (d + 1) / 2,
        CovarianceType::Diag => k * d,
        CovarianceType::Spherical => k,
    };
    k.saturating_sub(1) + k * d + cov
}

impl Mixture {
    /// Builds the mixture and its precision factors; the error names a component whose
    /// covariance is not positive definite.
    pub fn new(
        kind: CovarianceType,
        d: usize,
        weights: Vec<f64>,
        means: Vec<f64>,
        covariances: Vec<f64>,
    ) -> Result<Mixture, String> {
        let k = weights.len();
        if means.len() != k * d || covariances.len() != k * cov_len(kind, d) {
            return Err(format!(
                "parameter shapes do not agree: {k} weights, {} mean values, {} covariance values for dimension {d}",
                means.len(),
                covariances.len()
            ));
        }
        let mut prec_chol =
            Vec::with_capacity(k * d * if kind == CovarianceType::Full { d } else { 1 });
        let mut log_norm = Vec::with_capacity(k);
        for j in 0..k {
            let log_det_u = match kind {
                CovarianceType::Full => {
                    let cov = &covariances[j * d * d..(j + 1) * d * d];
                    let l = cholesky(cov, d).ok_or_else(|| not_pd(j))?;
                    // Sigma = L L^T  =>  Sigma^-1 = L^-T L^-1 = U U^T with U = L^-T.
                    let u = transpose(&invert_lower(&l, d), d, d);
                    let ld = (0..d).map(|i| u[i * d + i].ln()).sum::<f64>();
                    prec_chol.extend(u);
                    ld
                }
                CovarianceType::Diag => {
                    let var = &covariances[j * d..(j + 1) * d];
                    if var.iter().any(|&v| !(v > 0.0 && v.is_finite())) {
                        return Err(not_pd(j));
                    }
                    prec_chol.extend(var.iter().map(|v| 1.0 / v.sqrt()));
                    -0.5 * var.iter().map(|v| v.ln()).sum::<f64>()
                }
                CovarianceType::Spherical => {
                    let var = covariances[j];
                    if !(var > 0.0 && var.is_finite()) {
                        return Err(not_pd(j));
                    }
                    prec_chol.extend(std::iter::repeat_n(1.0 / var.sqrt(), d));
                    -0.5 * d as f64 * var.ln()
                }
            };
            log_norm.push(weights[j].ln() + log_det_u - 0.5 * d as f64 * LN_2PI);
        }
        let mut m = Mixture {
            kind,
            k,
            d,
            weights,
            means,
            covariances,
            prec_chol,
            log_norm,
            expanded: None,
        };
        if d > SMALL_DIM {
            m.expanded = Some(m.expand());
        }
        Ok(m)
    }

    fn expand(&self) -> Expanded {
        let (k, d) = (self.k, self.d);
        match self.kind {
            CovarianceType::Full => {
                let mut mean_u = vec![0.0; k * d];
                for j in 0..k {
                    matmul(
                        &mut mean_u[j * d..(j + 1) * d],
                        &self.means[j * d..(j + 1) * d],
                        false,
                        &self.prec_chol[j * d * d..(j + 1) * d * d],
                        (1, d, d),
                        false,
                    );
                }
                Expanded::Full { mean_u }
            }
            _ => {
                let prec: Vec<f64> = self.prec_chol.iter().map(|p| p * p).collect();
                let cross: Vec<f64> = prec
                    .iter()
                    .zip(&self.means)
                    .map(|(p, m)| -2.0 * m * p)
                    .collect();
                let constant = (0..k)
                    .map(|j| {
                        (0..d)
                            .map(|i| self.means[j * d + i].powi(2) * prec[j * d + i])
                            .sum()
                    })
                    .collect();
                Expanded::Diag {
                    prec_t: transpose(&prec, k, d),
                    cross_t: transpose(&cross, k, d),
                    constant,
                }
            }
        }
    }

    /// Free parameters (see [`parameter_count`]).
    pub fn parameter_count(&self) -> usize {
        parameter_count(self.kind, self.k, self.d)
    }

    /// `n` draws from the mixture (flattened rows): a component by weight, then its
    /// Gaussian through the covariance's Cholesky factor.
    pub fn sample(&self, n: usize, rng: &mut gen_core::Rng) -> Vec<f64> {
        let d = self.d;
        let factors: Vec<Vec<f64>> = (0..self.k)
            .map(|j| match self.kind {
                CovarianceType::Full => cholesky(&self.covariances[j * d * d..(j + 1) * d * d], d)
                    .expect("a fitted covariance is positive definite"),
                _ => {
                    let sd: Vec<f64> = self.prec_chol[j * d..(j + 1) * d]
                        .iter()
                        .map(|p| 1.0 / p)
                        .collect();
                    let mut l = vec![0.0; d * d];
                    (0..d).for_each(|i| l[i * d + i] = sd[i]);
                    l
                }
            })
            .collect();
        let mut out = Vec::with_capacity(n * d);
        for _ in 0..n {
            let u = rng.uniform();
            let mut j = 0;
            let mut acc = self.weights[0];
            while u > acc && j + 1 < self.k {
                j += 1;
                acc += self.weights[j];
            }
            let eps: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
            let l = &factors[j];
            for r in 0..d {
                let v: f64 = (0..=r).map(|c| l[r * d + c] * eps[c]).sum();
                out.push(self.means[j * d + r] + v);
            }
        }
        out
    }

    /// Component `j`'s covariance restricted to the first two dimensions, `[a, b, c]` for
    /// `[[a, b], [b, c]]` (for plots).
    pub fn cov_2x2(&self, j: usize) -> [f64; 3] {
        let d = self.d;
        match self.kind {
            CovarianceType::Full => {
                let c = &self.covariances[j * d * d..];
                [c[0], c[1], c[d + 1]]
            }
            CovarianceType::Diag => [self.covariances[j * d], 0.0, self.covariances[j * d + 1]],
            CovarianceType::Spherical => [self.covariances[j], 0.0, self.covariances[j]],
        }
    }

    /// Whether [`Mixture::log_joint`] reads the squares of the data (pass them if you
    /// have them).
    pub fn needs_squares(&self) -> bool {
        matches!(self.expanded, Some(Expanded::Diag { .. }))
    }

    /// `log q(x, z = j)` for every row of `x` (`rows x d`) and component, into `out`
    /// (`rows x k`). `squares` are `x`'s values squared, if the caller has them;
    /// `scratch` is reused between calls.
    pub fn log_joint(
        &self,
        x: &[f64],
        squares: Option<&[f64]>,
        rows: usize,
        out: &mut [f64],
        scratch: &mut Vec<f64>,
    ) {
        let (k, d) = (self.k, self.d);
        debug_assert!(x.len() == rows * d && out.len() == rows * k);
        match &self.expanded {
            None => self.log_joint_small(x, rows, out),
            Some(Expanded::Diag {
                prec_t,
                cross_t,
                constant,
            }) => {
                let sq = match squares {
                    Some(sq) => sq,
                    None => {
                        scratch.clear();
                        scratch.extend(x.iter().map(|v| v * v));
                        scratch
                    }
                };
                matmul(out, sq, false, prec_t, (rows, d, k), false);
                matmul(out, x, false, cross_t, (rows, d, k), true);
                for row in out.chunks_exact_mut(k) {
                    for j in 0..k {
                        row[j] = self.log_norm[j] - 0.5 * (row[j] + constant[j]);
                    }
                }
            }
            Some(Expanded::Full { mean_u }) => {
                scratch.resize(rows * d, 0.0);
                for j in 0..k {
                    matmul(
                        scratch,
                        x,
                        false,
                        &self.prec_chol[j * d * d..(j + 1) * d * d],
                        (rows, d, d),
                        false,
                    );
                    let mu = &mean_u[j * d..(j + 1) * d];
                    for (i, y) in scratch.chunks_exact(d).enumerate() {
                        let maha: f64 = y.iter().zip(mu).map(|(a, b)| (a - b) * (a - b)).sum();
                        out[i * k + j] = self.log_norm[j] - 0.5 * maha;
                    }
                }
            }
        }
    }

    fn log_joint_small(&self, x: &[f64], rows: usize, out: &mut [f64]) {
        let (k, d) = (self.k, self.d);
        let mut diff = vec![0.0; d];
        for i in 0..rows {
            let xi = &x[i * d..(i + 1) * d];
            for j in 0..k {
                let mu = &self.means[j * d..(j + 1) * d];
                for r in 0..d {
                    diff[r] = xi[r] - mu[r];
                }
                let maha = match self.kind {
                    CovarianceType::Full => {
                        let u = &self.prec_chol[j * d * d..(j + 1) * d * d];
                        let mut s = 0.0;
                        for c in 0..d {
                            let mut y = 0.0;
                            for r in 0..=c {
                                y += diff[r] * u[r * d + c];
                            }
                            s += y * y;
                        }
                        s
                    }
                    _ => {
                        let p = &self.prec_chol[j * d..(j + 1) * d];
                        diff.iter().zip(p).map(|(a, b)| (a * b) * (a * b)).sum()
                    }
                };
                out[i * k + j] = self.log_norm[j] - 0.5 * maha;
            }
        }
    }
}

fn not_pd(j: usize) -> String {
    format!(
        "component {j}'s covariance is not positive definite: raise model.reg_covar, use fewer \
         components, or a diag/spherical covariance"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// log N(x; mu, Sigma) for 2-D, from the textbook formula with the explicit inverse.
    fn log_normal_2d(x: [f64; 2], mu: [f64; 2], s: [f64; 4]) -> f64 {
        let det = s[0] * s[3] - s[1] * s[2];
        let inv = [s[3] / det, -s[1] / det, -s[2] / det, s[0] / det];
        let dx = [x[0] - mu[0], x[1] - mu[1]];
        let q =
            dx[0] * (inv[0] * dx[0] + inv[1] * dx[1]) + dx[1] * (inv[2] * dx[0] + inv[3] * dx[1]);
        -LN_2PI - 0.5 * det.ln() - 0.5 * q
    }

    #[test]
    fn full_log_joint_matches_the_textbook_density() {
        let covs = vec![2.0, 0.6, 0.6, 1.0, 0.5, -0.2, -0.2, 0.3];
        let m = Mixture::new(
            CovarianceType::Full,
            2,
            vec![0.3, 0.7],
            vec![0.0, 1.0, -2.0, 0.5],
            covs.clone(),
        )
        .unwrap();
        let x = [0.4, -0.3, 3.0, 2.0];
        let mut out = vec![0.0; 4];
        m.log_joint(&x, None, 2, &mut out, &mut Vec::new());
        for i in 0..2 {
            for j in 0..2 {
                let s = [
                    covs[4 * j],
                    covs[4 * j + 1],
                    covs[4 * j + 2],
                    covs[4 * j + 3],
                ];
                let want = m.weights[j].ln()
                    + log_normal_2d(
                        [x[2 * i], x[2 * i + 1]],
                        [m.means[2 * j], m.means[2 * j + 1]],
                        s,
                    );
                assert!(
                    (out[i * 2 + j] - want).abs() < 1e-12,
                    "{} vs {want}",
                    out[i * 2 + j]
                );
            }
        }
        assert_eq!(m.parameter_count(), 1 + 4 + 6);
    }

    /// The expanded (matrix-product) path of high dimensions agrees with the direct loops.
    #[test]
    fn expanded_forms_agree_with_direct_loops() {
        let d = SMALL_DIM + 3;
        let k = 3;
        let mut rng = gen_core::Rng::new(5);
        let means: Vec<f64> = (0..k * d).map(|_| rng.normal()).collect();
        let x: Vec<f64> = (0..7 * d).map(|_| rng.normal() * 2.0).collect();
        for kind in [
            CovarianceType::Diag,
            CovarianceType::Spherical,
            CovarianceType::Full,
        ] {
            let covs: Vec<f64> = match kind {
                CovarianceType::Full => (0..k)
                    .flat_map(|j| {
                        // A = B B^T + I with a random B: positive definite
                        let b: Vec<f64> = (0..d * d).map(|_| rng.normal() * 0.3).collect();
                        let mut a = vec![0.0; d * d];
                        matmul(&mut a, &b, false, &transpose(&b, d, d), (d, d, d), false);
                        (0..d * d).map(move |i| {
                            a[i] + if i % (d + 1) == 0 {
                                1.0 + j as f64
                            } else {
                                0.0
                            }
                        })
                    })
                    .collect(),
                _ => (0..k * cov_len(kind, d))
                    .map(|i| 0.5 + (i % 5) as f64 * 0.3)
                    .collect(),
            };
            let w = vec![0.2, 0.3, 0.5];
            let big = Mixture::new(kind, d, w, means.clone(), covs).unwrap();
            assert!(big.expanded.is_some());
            let mut small = big.clone();
            small.expanded = None;
            let (mut a, mut b) = (vec![0.0; 7 * k], vec![0.0; 7 * k]);
            big.log_joint(&x, None, 7, &mut a, &mut Vec::new());
            small.log_joint(&x, None, 7, &mut b, &mut Vec::new());
            for (p, q) in a.iter().zip(&b) {
                assert!(
                    (p - q).abs() < 1e-9 * q.abs().max(1.0),
                    "{kind:?}: {p} vs {q}"
                );
            }
        }
    }

    #[test]
    fn a_non_positive_definite_covariance_is_named() {
        let e = Mixture::new(
            CovarianceType::Full,
            2,
            vec![0.5, 0.5],
            vec![0.0; 4],
            vec![1.0, 0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 1.0],
        )
        .unwrap_err();
        assert!(e.contains("component 1") && e.contains("reg_covar"), "{e}");
    }
}
