//! The prior q(z): a standard Gaussian, or Gaussians on a circle (the AAE paper's 2-D
//! mixture), sampled per example or per class.

use crate::config::{PriorConfig, PriorKind};
use gen_core::Rng;

#[derive(Clone, Debug)]
pub struct Prior {
    dim: usize,
    /// Component means, `dim` values each (a single zero mean for the Gaussian).
    means: Vec<Vec<f64>>,
    sigma: f64,
}

impl Prior {
    pub fn new(cfg: &PriorConfig, dim: usize) -> Self {
        match cfg.kind {
            PriorKind::Gaussian => Prior {
                dim,
                means: vec![vec![0.0; dim]],
                sigma: 1.0,
            },
            PriorKind::Mixture => {
                let k = cfg.components;
                let means = (0..k)
                    .map(|i| {
                        let a = std::f64::consts::TAU * i as f64 / k as f64;
                        let mut m = vec![0.0; dim];
                        m[0] = cfg.radius * a.cos();
                        m[1] = cfg.radius * a.sin();
                        m
                    })
                    .collect();
                Prior {
                    dim,
                    means,
                    sigma: cfg.sigma,
                }
            }
        }
    }

    pub fn components(&self) -> usize {
        self.means.len()
    }

    pub fn means(&self) -> &[Vec<f64>] {
        &self.means
    }

    pub fn sigma(&self) -> f64 {
        self.sigma
    }

    /// The variance per dimension, averaged over dimensions (sets the MMD kernel's scale).
    pub fn mean_variance(&self) -> f64 {
        let k = self.means.len() as f64;
        let spread: f64 = (0..self.dim)
            .map(|d| {
                let mu = self.means.iter().map(|m| m[d]).sum::<f64>() / k;
                self.means.iter().map(|m| (m[d] - mu).powi(2)).sum::<f64>() / k
            })
            .sum::<f64>()
            / self.dim as f64;
        self.sigma * self.sigma + spread
    }

    /// One draw per entry of `components` (row-major, `dim` values each).
    pub fn sample_from(&self, components: &[usize], rng: &mut Rng) -> Vec<f64> {
        components
            .iter()
            .flat_map(|&c| {
                let m = &self.means[c % self.means.len()];
                m.iter()
                    .map(|mu| mu + self.sigma * rng.normal())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// `n` components picked uniformly.
    pub fn pick(&self, n: usize, rng: &mut Rng) -> Vec<usize> {
        let k = self.means.len();
        (0..n)
            .map(|_| if k == 1 { 0 } else { rng.below(k) })
            .collect()
    }

    /// The density of the first two coordinates (the marginal over the others), for
    /// pictures of 2-D codes.
    pub fn density_2d(&self, x: f64, y: f64) -> f64 {
        let v = self.sigma * self.sigma;
        self.means
            .iter()
            .map(|m| (-((x - m[0]).powi(2) + (y - m[1]).powi(2)) / (2.0 * v)).exp())
            .sum::<f64>()
            / (self.means.len() as f64 * std::f64::consts::TAU * v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mixture() -> Prior {
        let cfg = PriorConfig {
            kind: PriorKind::Mixture,
            components: 4,
            radius: 3.0,
            sigma: 0.5,
            supervised: false,
        };
        Prior::new(&cfg, 3)
    }

    /// Means on the circle; the per-dimension variance has the closed form
    /// sigma^2 + (radius^2 / 2 + radius^2 / 2 + 0) / dim; samples agree with both.
    #[test]
    fn mixture_geometry_and_moments() {
        let p = mixture();
        assert!((p.means()[1][0]).abs() < 1e-12 && (p.means()[1][1] - 3.0).abs() < 1e-12);
        assert_eq!(p.means()[2][2], 0.0);
        let want = 0.25 + 9.0 / 3.0;
        assert!((p.mean_variance() - want).abs() < 1e-12);
        let mut rng = Rng::new(1);
        let comps = p.pick(40_000, &mut rng);
        let x = p.sample_from(&comps, &mut rng);
        let var: f64 = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
        assert!((var - want).abs() < 0.05, "{var} vs {want}");
        // The supervised path draws from the requested component.
        let near = p.sample_from(&[3; 100], &mut Rng::new(2));
        let mean_y: f64 = near.chunks(3).map(|r| r[1]).sum::<f64>() / 100.0;
        assert!((mean_y + 3.0).abs() < 0.2, "{mean_y}");
        assert!(comps.iter().all(|&c| c < 4));
    }

    /// The 2-D density integrates to one (Riemann sum on a fine grid).
    #[test]
    fn density_integrates_to_one() {
        let p = mixture();
        let h = 0.02;
        let mut total = 0.0;
        for i in 0..500 {
            for j in 0..500 {
                total += p.density_2d(-5.0 + i as f64 * h, -5.0 + j as f64 * h) * h * h;
            }
        }
        assert!((total - 1.0).abs() < 1e-3, "{total}");
    }
}
