//! Small dense linear algebra in `f64` for statistics of features (tens to hundreds of
//! dimensions): what the Fréchet distance needs, without a LAPACK dependency.

/// Eigenvalues and eigenvectors of a symmetric row-major `d x d` matrix by cyclic Jacobi
/// rotations: `(values, vectors)` with eigenvector `k` in column `k` of `vectors`
/// (row-major), so `m = V diag(values) V^T`. Converges quadratically; a few sweeps reach
/// machine precision for the sizes used here.
pub fn symmetric_eigen(m: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(m.len(), d * d);
    let mut a = m.to_vec();
    let mut v = vec![0.0; d * d];
    for i in 0..d {
        v[i * d + i] = 1.0;
    }
    let scale: f64 = a
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * d + j] * a[i * d + j])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * scale {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq == 0.0 {
                    continue;
                }
                // The rotation that zeroes a[p][q] (Golub and Van Loan, Algorithm 8.4.2).
                let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let (akp, akq) = (a[k * d + p], a[k * d + q]);
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p * d + k], a[q * d + k]);
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                for k in 0..d {
                    let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..d).map(|i| a[i * d + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[[2, 1], [1, 2]]` has eigenvalues 1 and 3 with eigenvectors `(1, -1)` and `(1, 1)`.
    #[test]
    fn a_hand_diagonalized_matrix() {
        let (mut vals, _) = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        vals.sort_by(f64::total_cmp);
        assert!((vals[0] - 1.0).abs() < 1e-12 && (vals[1] - 3.0).abs() < 1e-12);
    }

    /// A random symmetric 30 x 30 matrix is rebuilt from its decomposition, with
    /// orthonormal eigenvectors, and its trace is the sum of the eigenvalues.
    #[test]
    fn reconstructs_a_random_symmetric_matrix() {
        let d = 30;
        let mut rng = gen_base::Rng::new(11);
        let mut m = vec![0.0; d * d];
        for i in 0..d {
            for j in i..d {
                let x = rng.normal();
                m[i * d + j] = x;
                m[j * d + i] = x;
            }
        }
        let (vals, v) = symmetric_eigen(&m, d);
        for i in 0..d {
            for j in 0..d {
                let rebuilt: f64 = (0..d).map(|k| v[i * d + k] * vals[k] * v[j * d + k]).sum();
                assert!((rebuilt - m[i * d + j]).abs() < 1e-10);
                let dot: f64 = (0..d).map(|k| v[k * d + i] * v[k * d + j]).sum();
                assert!((dot - (i == j) as u8 as f64).abs() < 1e-10);
            }
        }
        let trace: f64 = (0..d).map(|i| m[i * d + i]).sum();
        assert!((vals.iter().sum::<f64>() - trace).abs() < 1e-10);
    }
}
