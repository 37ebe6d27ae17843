//! Small dense linear algebra in f64: Cholesky factors, triangular inverses, and a
//! row-major matrix product on the `gemm` crate.

/// The lower Cholesky factor `L` of a symmetric `d x d` matrix (`a = L L^T`), or `None`
/// when `a` is not positive definite.
pub fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            if i == j {
                if !(s > 0.0 && s.is_finite()) {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(l)
}

/// The inverse of a lower-triangular `d x d` matrix with a non-zero diagonal (itself lower
/// triangular), by forward substitution column by column.
pub fn invert_lower(l: &[f64], d: usize) -> Vec<f64> {
    let mut inv = vec![0.0; d * d];
    for c in 0..d {
        for i in c..d {
            let mut s = if i == c { 1.0 } else { 0.0 };
            for k in c..i {
                s -= l[i * d + k] * inv[k * d + c];
            }
            inv[i * d + c] = s / l[i * d + i];
        }
    }
    inv
}

/// The transpose of a row-major `rows x cols` matrix.
pub fn transpose(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut t = vec![0.0; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = a[r * cols + c];
        }
    }
    t
}

/// `out (m x n) = [out +] op(a) b` for row-major matrices, where `op(a)` is `a` (`m x k`)
/// or, with `a_transposed`, the transpose of `a` stored as `k x m`; `b` is `k x n`.
pub use gen_core::kernels::dense::matmul_f64 as matmul;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_of_a_hand_factored_matrix() {
        // [[4, 2], [2, 3]] = L L^T with L = [[2, 0], [1, sqrt 2]].
        let l = cholesky(&[4.0, 2.0, 2.0, 3.0], 2).unwrap();
        let want = [2.0, 0.0, 1.0, 2f64.sqrt()];
        for (a, b) in l.iter().zip(want) {
            assert!((a - b).abs() < 1e-15);
        }
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_none()); // eigenvalues 3 and -1
        assert!(cholesky(&[0.0], 1).is_none());
    }

    #[test]
    fn lower_inverse_times_matrix_is_identity() {
        let l = [2.0, 0.0, 0.0, 1.0, 3.0, 0.0, -1.0, 0.5, 4.0];
        let inv = invert_lower(&l, 3);
        let mut prod = vec![0.0; 9];
        matmul(&mut prod, &inv, false, &l, (3, 3, 3), false);
        for i in 0..3 {
            for j in 0..3 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((prod[i * 3 + j] - want).abs() < 1e-14, "{prod:?}");
            }
        }
        // inverse of [[2,0],[1,3]] by hand: [[1/2, 0], [-1/6, 1/3]]
        let inv2 = invert_lower(&[2.0, 0.0, 1.0, 3.0], 2);
        assert!((inv2[2] + 1.0 / 6.0).abs() < 1e-15 && (inv2[3] - 1.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn matmul_plain_transposed_and_accumulated() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2x3
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]; // 3x2
        let mut out = vec![0.0; 4];
        matmul(&mut out, &a, false, &b, (2, 3, 2), false);
        assert_eq!(out, [4.0, 5.0, 10.0, 11.0]);
        // a^T (3x2) times a 2x1 vector, added to 1s
        let mut out = vec![1.0; 3];
        matmul(&mut out, &a, true, &[1.0, 1.0], (3, 2, 1), true);
        assert_eq!(out, [6.0, 8.0, 10.0]);
        assert_eq!(transpose(&a, 2, 3), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }
}
