//! Toy 2-D densities with known structure.
//!
//! - `ring`: 8 Gaussians evenly spaced on a circle of radius `radius` (default 2),
//!   standard deviation `sigma` (default 0.02);
//! - `grid`: 25 Gaussians on the 5x5 lattice {-r, -r/2, 0, r/2, r}^2 (default r = 4),
//!   `sigma` default 0.05;
//! - `spiral`: points along r = t, angle = 3*pi*t for t in [0, 1] scaled by `radius`
//!   (default 2), plus Gaussian noise `sigma` (default 0.05);
//! - `moons`: scikit-learn's two interleaved half circles, noise `sigma` (default 0.05).
//!
//! Mixtures label each point with its mode; moons with its half.

use crate::config::DatasetName;
use gen_base::Rng;
use std::f64::consts::PI;

/// The mode centres of a mixture toy set.
pub fn modes(name: DatasetName, radius: Option<f64>) -> Vec<[f64; 2]> {
    match name {
        DatasetName::Ring => {
            let r = radius.unwrap_or(2.0);
            (0..8)
                .map(|k| {
                    let a = 2.0 * PI * k as f64 / 8.0;
                    [r * a.cos(), r * a.sin()]
                })
                .collect()
        }
        DatasetName::Grid => {
            let r = radius.unwrap_or(4.0);
            let ticks: Vec<f64> = (0..5).map(|i| -r + r * i as f64 / 2.0).collect();
            ticks
                .iter()
                .flat_map(|&x| ticks.iter().map(move |&y| [x, y]))
                .collect()
        }
        _ => vec![],
    }
}

pub fn default_sigma(name: DatasetName) -> f64 {
    match name {
        DatasetName::Ring => 0.02,
        _ => 0.05,
    }
}

/// `n` points (flattened x, y pairs) and their labels.
pub fn sample(
    name: DatasetName,
    n: usize,
    radius: Option<f64>,
    sigma: Option<f64>,
    rng: &mut Rng,
) -> (Vec<f32>, Vec<u32>) {
    let sigma = sigma.unwrap_or(default_sigma(name));
    let mut xs = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    let centres = modes(name, radius);
    for _ in 0..n {
        let (p, label) = match name {
            DatasetName::Ring | DatasetName::Grid => {
                let k = rng.below(centres.len());
                (centres[k], k as u32)
            }
            DatasetName::Spiral => {
                let t = rng.uniform();
                let r = radius.unwrap_or(2.0) * t;
                let a = 3.0 * PI * t;
                ([r * a.cos(), r * a.sin()], 0)
            }
            DatasetName::Moons => {
                let t = PI * rng.uniform();
                if rng.below(2) == 0 {
                    ([t.cos(), t.sin()], 0)
                } else {
                    ([1.0 - t.cos(), 0.5 - t.sin()], 1)
                }
            }
            DatasetName::Mnist
            | DatasetName::FashionMnist
            | DatasetName::File
            | DatasetName::TangCouplets
            | DatasetName::Text
            | DatasetName::Cubic => {
                unreachable!("not a 2-D toy set")
            }
        };
        xs.push((p[0] + sigma * rng.normal()) as f32);
        xs.push((p[1] + sigma * rng.normal()) as f32);
        labels.push(label);
    }
    (xs, labels)
}

/// The cubic toy's noise level: the standard 3 (variance 9).
pub const CUBIC_SIGMA: f64 = 3.0;
/// The cubic toy's inputs are uniform on [-CUBIC_RANGE, CUBIC_RANGE].
pub const CUBIC_RANGE: f64 = 4.0;

/// `n` inputs `x ~ U[-4, 4]` and targets `y = x^3 + eps`, `eps ~ N(0, sigma^2)`: the toy
/// of the probabilistic-backpropagation papers, whose noise level is known.
pub fn cubic(n: usize, sigma: f64, rng: &mut Rng) -> (Vec<f32>, Vec<f32>) {
    (0..n)
        .map(|_| {
            let x = CUBIC_RANGE * (2.0 * rng.uniform() - 1.0);
            (x as f32, (x.powi(3) + sigma * rng.normal()) as f32)
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_points_sit_near_their_mode() {
        let (xs, labels) = sample(DatasetName::Ring, 2000, None, None, &mut Rng::new(0));
        let m = modes(DatasetName::Ring, None);
        for (i, &k) in labels.iter().enumerate() {
            let c = m[k as usize];
            let d =
                ((xs[2 * i] as f64 - c[0]).powi(2) + (xs[2 * i + 1] as f64 - c[1]).powi(2)).sqrt();
            assert!(d < 0.02 * 6.0, "point {i} is {d} from its mode");
        }
        let used: std::collections::HashSet<_> = labels.iter().collect();
        assert_eq!(used.len(), 8);
    }

    #[test]
    fn cubic_residuals_have_the_stated_noise() {
        let (x, y) = cubic(20_000, 3.0, &mut Rng::new(1));
        assert!(x.iter().all(|&v| (-4.0..=4.0).contains(&v)));
        let r: Vec<f64> = x
            .iter()
            .zip(&y)
            .map(|(&x, &y)| y as f64 - (x as f64).powi(3))
            .collect();
        let mean = r.iter().sum::<f64>() / r.len() as f64;
        let sd = (r.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / r.len() as f64).sqrt();
        // Standard errors: 3 / sqrt(20000) = 0.021 for the mean, 0.015 for the sd.
        assert!(mean.abs() < 0.1 && (sd - 3.0).abs() < 0.08, "{mean} {sd}");
    }

    #[test]
    fn grid_has_25_modes_spanning_the_square() {
        let m = modes(DatasetName::Grid, None);
        assert_eq!(m.len(), 25);
        assert!(m.contains(&[-4.0, -4.0]) && m.contains(&[0.0, 2.0]) && m.contains(&[4.0, 4.0]));
    }
}
