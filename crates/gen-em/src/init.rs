//! First responsibilities: hard k-means assignments (k-means++ seeding, as scikit-learn's
//! greedy variant, then Lloyd iterations), or nearest-centre assignments to k training
//! points drawn at random.

use crate::config::{CovarianceType, InitMethod};
use crate::estep::{chunk_rows, BLOCK};
use crate::mixture::Mixture;
use gen_core::Rng;
use rayon::prelude::*;

/// Responsibilities (`n x k`) to start EM from.
pub fn responsibilities(
    method: InitMethod,
    x: &[f64],
    k: usize,
    d: usize,
    rng: &mut Rng,
) -> Vec<f64> {
    let n = x.len() / d;
    match method {
        InitMethod::Random => {
            // k distinct points as centres (uniform random responsibilities, the other
            // common choice, start every component at the data mean: a saddle EM stays on).
            let mut idx: Vec<usize> = (0..n).collect();
            let mut centers = Vec::with_capacity(k * d);
            for j in 0..k {
                let pick = j + rng.below(n - j);
                idx.swap(j, pick);
                centers.extend_from_slice(&x[idx[j] * d..(idx[j] + 1) * d]);
            }
            one_hot(&lloyd(x, centers, k, d, 1), k)
        }
        InitMethod::KmeansPlusPlus => {
            let centers = kmeans_plus_plus(x, k, d, rng);
            one_hot(&lloyd(x, centers, k, d, 300), k)
        }
    }
}

fn one_hot(labels: &[usize], k: usize) -> Vec<f64> {
    let mut r = vec![0.0; labels.len() * k];
    for (i, &l) in labels.iter().enumerate() {
        r[i * k + l] = 1.0;
    }
    r
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum()
}

/// `min(current_i, |x_i - c|^2)` for every point.
fn closer(x: &[f64], d: usize, c: &[f64], current: &[f64]) -> Vec<f64> {
    let chunk = chunk_rows(d);
    x.par_chunks(chunk * d)
        .zip(current.par_chunks(chunk))
        .flat_map_iter(|(xc, cur)| {
            xc.chunks_exact(d)
                .zip(cur)
                .map(|(p, &m)| sq_dist(p, c).min(m))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// k-means++ seeding (Arthur & Vassilvitskii) with `2 + ln k` candidates per centre, the
/// one lowering the potential most kept.
pub fn kmeans_plus_plus(x: &[f64], k: usize, d: usize, rng: &mut Rng) -> Vec<f64> {
    let n = x.len() / d;
    let trials = 2 + (k as f64).ln() as usize;
    let first = rng.below(n);
    let mut centers = x[first * d..(first + 1) * d].to_vec();
    let mut closest = closer(x, d, &centers, &vec![f64::INFINITY; n]);
    let mut potential: f64 = closest.iter().sum();
    for _ in 1..k {
        let mut cumulative = Vec::with_capacity(n);
        let mut acc = 0.0;
        for v in &closest {
            acc += v;
            cumulative.push(acc);
        }
        let mut best: Option<(f64, usize, Vec<f64>)> = None;
        for _ in 0..trials {
            let target = rng.uniform() * potential;
            let cand = cumulative.partition_point(|&c| c < target).min(n - 1);
            let d2 = closer(x, d, &x[cand * d..(cand + 1) * d], &closest);
            let pot: f64 = d2.iter().sum();
            if best.as_ref().is_none_or(|b| pot < b.0) {
                best = Some((pot, cand, d2));
            }
        }
        let (pot, cand, d2) = best.expect("at least two trials");
        centers.extend_from_slice(&x[cand * d..(cand + 1) * d]);
        closest = d2;
        potential = pot;
    }
    centers
}

/// Lloyd iterations from `centers`, until no label changes or the centres move less than
/// scikit-learn's tolerance (1e-4 of the mean per-dimension variance); returns labels.
pub fn lloyd(x: &[f64], mut centers: Vec<f64>, k: usize, d: usize, max_iter: usize) -> Vec<usize> {
    let n = x.len() / d;
    let tol = 1e-4 * mean_variance(x, d);
    let mut labels = vec![usize::MAX; n];
    for _ in 0..max_iter {
        // Nearest centre = most likely component of equal-weight, unit-variance Gaussians.
        let nearest = Mixture::new(
            CovarianceType::Spherical,
            d,
            vec![1.0 / k as f64; k],
            centers.clone(),
            vec![1.0; k],
        )
        .expect("unit variances are positive");
        let new: Vec<usize> = x
            .par_chunks(chunk_rows(d) * d)
            .flat_map_iter(|xc| {
                let rows = xc.len() / d;
                let mut lp = vec![0.0; rows * k];
                nearest.log_joint(xc, None, rows, &mut lp, &mut Vec::new());
                lp.chunks_exact(k)
                    .map(|row| {
                        (0..k)
                            .max_by(|&a, &b| row[a].total_cmp(&row[b]).then(b.cmp(&a)))
                            .unwrap_or(0)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let changed = new != labels;
        labels = new;
        // Per-block sums, reduced in block order (the same for any thread count).
        let parts: Vec<(Vec<f64>, Vec<usize>)> = x
            .par_chunks(BLOCK * d)
            .zip(labels.par_chunks(BLOCK))
            .map(|(xb, lb)| {
                let mut sums = vec![0.0; k * d];
                let mut counts = vec![0usize; k];
                for (p, &l) in xb.chunks_exact(d).zip(lb) {
                    counts[l] += 1;
                    sums[l * d..(l + 1) * d]
                        .iter_mut()
                        .zip(p)
                        .for_each(|(s, v)| *s += v);
                }
                (sums, counts)
            })
            .collect();
        let mut sums = vec![0.0; k * d];
        let mut counts = vec![0usize; k];
        for (ps, pc) in &parts {
            sums.iter_mut().zip(ps).for_each(|(a, b)| *a += b);
            counts.iter_mut().zip(pc).for_each(|(a, b)| *a += b);
        }
        let mut shift = 0.0;
        for j in 0..k {
            if counts[j] == 0 {
                continue; // an empty cluster keeps its centre
            }
            for c in 0..d {
                let m = sums[j * d + c] / counts[j] as f64;
                shift += (m - centers[j * d + c]).powi(2);
                centers[j * d + c] = m;
            }
        }
        if !changed || shift <= tol {
            break;
        }
    }
    labels
}

/// The mean over dimensions of the per-dimension variance.
pub fn mean_variance(x: &[f64], d: usize) -> f64 {
    per_dim_variance(x, d).iter().sum::<f64>() / d as f64
}

/// The variance of each dimension.
pub fn per_dim_variance(x: &[f64], d: usize) -> Vec<f64> {
    let n = (x.len() / d).max(1) as f64;
    let mut mean = vec![0.0; d];
    for p in x.chunks_exact(d) {
        mean.iter_mut().zip(p).for_each(|(m, v)| *m += v / n);
    }
    let mut var = vec![0.0; d];
    for p in x.chunks_exact(d) {
        for c in 0..d {
            var[c] += (p[c] - mean[c]).powi(2) / n;
        }
    }
    var
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmeans_separates_three_far_clusters() {
        let mut rng = Rng::new(3);
        let centres = [[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]];
        let x: Vec<f64> = (0..300)
            .flat_map(|i| {
                let c = centres[i % 3];
                [c[0] + 0.5 * rng.normal(), c[1] + 0.5 * rng.normal()]
            })
            .collect();
        let r = responsibilities(InitMethod::KmeansPlusPlus, &x, 3, 2, &mut Rng::new(9));
        let label = |i: usize| (0..3).find(|&j| r[i * 3 + j] == 1.0).unwrap();
        for i in 0..300 {
            assert_eq!(label(i), label(i % 3), "point {i} is not with its cluster");
        }
        assert!(label(0) != label(1) && label(1) != label(2) && label(0) != label(2));
    }

    #[test]
    fn random_init_assigns_each_point_to_one_of_k_distinct_centres() {
        let x: Vec<f64> = (0..40).map(|i| i as f64).collect(); // 20 points on a line, 2-D
        let r = responsibilities(InitMethod::Random, &x, 4, 2, &mut Rng::new(1));
        assert_eq!(r.len(), 80);
        for row in r.chunks(4) {
            assert_eq!(row.iter().filter(|&&v| v == 1.0).count(), 1);
        }
        // every centre is a data point, so every cluster holds at least that point
        for j in 0..4 {
            assert!(r.chunks(4).any(|row| row[j] == 1.0), "cluster {j} is empty");
        }
    }
}
