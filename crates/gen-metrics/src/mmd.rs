//! Maximum mean discrepancy between two samples: how far apart two distributions are,
//! judged only through draws from each (used to check that encoded codes match a prior).
//!
//! The kernel is a sum of inverse multiquadratics `k(a, b) = sum_c c / (c + |a - b|^2)`,
//! the choice of Tolstikhin et al.'s WAE for latent codes: its heavy tails keep a gradient
//! and a signal for far-apart samples, where a Gaussian kernel goes flat.

/// A sum of inverse multiquadratic kernels with the given scales `c`.
#[derive(Clone, Debug, PartialEq)]
pub struct ImqKernel {
    pub scales: Vec<f64>,
}

impl ImqKernel {
    /// WAE's multi-scale kernel for codes in `dim` dimensions whose prior has per-dimension
    /// variance `var`: `c = 2 dim var * s` for `s` in {0.1, 0.2, 0.5, 1, 2, 5, 10}.
    pub fn for_prior(dim: usize, var: f64) -> Self {
        let base = 2.0 * dim as f64 * var;
        ImqKernel {
            scales: [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
                .iter()
                .map(|s| s * base)
                .collect(),
        }
    }

    pub fn eval(&self, a: &[f64], b: &[f64]) -> f64 {
        let d2: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
        self.scales.iter().map(|c| c / (c + d2)).sum()
    }

    /// A one-line description for reports.
    pub fn describe(&self) -> String {
        let cs: Vec<String> = self.scales.iter().map(|c| format!("{c:.3}")).collect();
        format!("sum of c/(c + |a-b|^2), c in {{{}}}", cs.join(", "))
    }
}

/// The unbiased estimate of MMD^2 between samples `x` (n rows) and `y` (m rows) of `dim`
/// columns, stored row-major: the within-sample means leave out the diagonal, so the
/// estimate is zero in expectation when both come from one distribution (and may dip
/// below zero).
pub fn mmd2_unbiased(x: &[f64], y: &[f64], dim: usize, kernel: &ImqKernel) -> f64 {
    assert!(dim > 0 && x.len().is_multiple_of(dim) && y.len().is_multiple_of(dim));
    let (n, m) = (x.len() / dim, y.len() / dim);
    assert!(n >= 2 && m >= 2, "MMD needs at least two rows per sample");
    let row = |s: &[f64], i: usize| -> Vec<f64> { s[i * dim..(i + 1) * dim].to_vec() };
    let within = |s: &[f64], k: usize| -> f64 {
        let mut sum = 0.0;
        for i in 0..k {
            let a = row(s, i);
            for j in i + 1..k {
                sum += kernel.eval(&a, &s[j * dim..(j + 1) * dim]);
            }
        }
        2.0 * sum / (k * (k - 1)) as f64
    };
    let mut cross = 0.0;
    for i in 0..n {
        let a = row(x, i);
        for j in 0..m {
            cross += kernel.eval(&a, &y[j * dim..(j + 1) * dim]);
        }
    }
    within(x, n) + within(y, m) - 2.0 * cross / (n * m) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use gen_base::Rng;

    /// x = {0, 1}, y = {2, 4} in 1-D with one kernel c = 1: k(d) = 1 / (1 + d^2).
    /// Within x: k(1) = 1/2; within y: k(2) = 1/5; across: k(2), k(4), k(1), k(3) =
    /// 1/5, 1/17, 1/2, 1/10. MMD^2 = 1/2 + 1/5 - 2 * (1/5 + 1/17 + 1/2 + 1/10) / 4.
    #[test]
    fn hand_computed_case() {
        let k = ImqKernel { scales: vec![1.0] };
        let got = mmd2_unbiased(&[0.0, 1.0], &[2.0, 4.0], 1, &k);
        let want = 0.5 + 0.2 - 2.0 * (0.2 + 1.0 / 17.0 + 0.5 + 0.1) / 4.0;
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
        // The scales add: two copies of one kernel double the estimate.
        let k2 = ImqKernel {
            scales: vec![1.0, 1.0],
        };
        assert!((mmd2_unbiased(&[0.0, 1.0], &[2.0, 4.0], 1, &k2) - 2.0 * want).abs() < 1e-15);
    }

    fn gaussian(n: usize, dim: usize, shift: f64, scale: f64, rng: &mut Rng) -> Vec<f64> {
        (0..n * dim).map(|_| shift + scale * rng.normal()).collect()
    }

    /// Same distribution: near zero (on the scale of the kernel's sum); a shifted or
    /// stretched one: clearly positive.
    #[test]
    fn same_distribution_near_zero_different_clearly_positive() {
        let mut rng = Rng::new(5);
        let dim = 8;
        let k = ImqKernel::for_prior(dim, 1.0);
        let a = gaussian(500, dim, 0.0, 1.0, &mut rng);
        let b = gaussian(500, dim, 0.0, 1.0, &mut rng);
        let same = mmd2_unbiased(&a, &b, dim, &k);
        let shifted = mmd2_unbiased(&a, &gaussian(500, dim, 0.5, 1.0, &mut rng), dim, &k);
        let wide = mmd2_unbiased(&a, &gaussian(500, dim, 0.0, 2.0, &mut rng), dim, &k);
        assert!(same.abs() < 2e-3, "same distribution: {same}");
        assert!(
            shifted > 20.0 * same.abs().max(1e-4),
            "shifted: {shifted} vs {same}"
        );
        assert!(
            wide > 20.0 * same.abs().max(1e-4),
            "wider: {wide} vs {same}"
        );
        // Larger shifts are further away.
        let far = mmd2_unbiased(&a, &gaussian(500, dim, 1.5, 1.0, &mut rng), dim, &k);
        assert!(far > shifted, "{far} vs {shifted}");
    }
}
