//! Per-datapoint variational inference: each example's own Gaussian `p(z|x)`, fitted by
//! gradient with the generator frozen.
//!
//! The joint-KL view's first algorithm leaves `p(z|x)` free per example; an encoder
//! amortizes it. Fitting each example's Gaussian directly measures what amortization costs
//! (Cremer et al. 2018): `ELBO[q*] - ELBO[q]`, the amortization gap. The prior is
//! `N(0, I)` and the KL to it is analytic; the model supplies only `-log q(x|z)`.
//!
//! Every example's parameters see only their own gradient and Adam is elementwise, so a
//! batch of examples is fitted exactly as each would be alone; only the stopping rule is
//! shared by the batch.

use crate::dist::DiagGaussian;
use crate::optim::{Adam, OptimizerConfig};
use crate::{Result, Rng};
use candle_core::{DType, Tensor, Var, D};

/// On a plateau the learning rate is multiplied by this, at most `LR_REDUCTIONS` times;
/// the next plateau ends the fit.
const LR_FACTOR: f64 = 0.1;
const LR_REDUCTIONS: i32 = 2;

/// How the per-example Gaussians are optimized.
#[derive(Clone, Debug)]
pub struct LocalViOptions {
    /// Adam steps at most.
    pub steps: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Fixed noise draws on which the fit is compared with its start and its progress
    /// measured (the same draws every time, so a comparison is not a matter of luck).
    pub track_samples: usize,
    /// Iterates are compared every this many steps.
    pub check_every: usize,
    /// A plateau: the batch's mean bound, averaged over the last `patience` checks, gained
    /// less than `tol` nats on its average over the `patience` checks before them. Each plateau divides the learning rate by 10; the third ends
    /// the fit.
    pub patience: usize,
    pub tol: f64,
}

impl LocalViOptions {
    /// `steps` steps at learning rate `lr`, comparing iterates on 16 draws every 10 steps;
    /// a plateau is 50 steps that gained less than 0.01 nats on the 50 before them.
    pub fn new(steps: usize, lr: f64) -> Self {
        LocalViOptions {
            steps,
            lr,
            track_samples: 16,
            check_every: 10,
            patience: 5,
            tol: 0.01,
        }
    }
}

/// The fitted Gaussians: each example's last iterate, or its start where that was better.
pub struct LocalFit {
    pub q: DiagGaussian,
    /// Minus the ELBO of `q` per example on the comparison draws.
    pub neg_elbo: Vec<f64>,
    /// Adam steps taken (fewer than asked when the stopping rule ended the fit).
    pub steps: usize,
}

/// Minus the ELBO per example, `E_eps[-log q(x|z)] + KL(p(z|x) || N(0, I))`, averaged over
/// the noise draws `eps` (each `(B, latent)`); `nll_at(z)` is `-log q(x|z)` per row.
pub fn neg_elbo(
    q: &DiagGaussian,
    eps: &[Tensor],
    nll_at: &dyn Fn(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let kl = crate::kl::gaussian_std_normal(q)?;
    let mut rec = nll_at(&q.rsample_with(&eps[0])?)?;
    for e in &eps[1..] {
        rec = (rec + nll_at(&q.rsample_with(e)?)?)?;
    }
    Ok(((rec / eps.len() as f64)? + kl)?)
}

/// `n` noise draws shaped as `like`.
pub fn draws(like: &Tensor, n: usize, rng: &mut Rng) -> Result<Vec<Tensor>> {
    (0..n)
        .map(|_| Ok(rng.randn(like.shape(), like.dtype(), like.device())?))
        .collect()
}

/// Fits each row's Gaussian from `start` by Adam on minus its ELBO (one reparameterized
/// draw per step, the learning rate cut on plateaus), then keeps, per row, the better of the
/// last iterate and `start` on fixed comparison draws, so the result is never worse than
/// `start` on them. Only two candidates are compared: choosing the best of many iterates on
/// the same draws would fit the draws' noise (a bias of a fifth of the posterior's scale
/// on a linear-Gaussian model with 16 draws). `on_steps(k)` reports `k` more steps taken.
pub fn fit(
    start: &DiagGaussian,
    nll_at: &dyn Fn(&Tensor) -> Result<Tensor>,
    opts: &LocalViOptions,
    rng: &mut Rng,
    on_steps: &mut dyn FnMut(usize),
) -> Result<LocalFit> {
    let mean = Var::from_tensor(&start.mean.detach())?;
    let logvar = Var::from_tensor(&start.logvar.detach())?;
    let mut adam = Adam::new(
        vec![mean.clone(), logvar.clone()],
        OptimizerConfig {
            lr: opts.lr,
            ..Default::default()
        },
    );
    let fixed = draws(&start.mean, opts.track_samples.max(1), rng)?;
    let current = || DiagGaussian::new(mean.as_tensor().clone(), logvar.as_tensor().clone());
    let start_bound = neg_elbo(start, &fixed, nll_at)?.detach();
    let mut history = vec![];
    let mut taken = 0;
    let mut reductions = 0;
    while taken < opts.steps {
        let eps = draws(&start.mean, 1, rng)?;
        adam.backward_step(&neg_elbo(&current(), &eps, nll_at)?.sum_all()?)?;
        taken += 1;
        on_steps(1);
        if taken % opts.check_every.max(1) != 0 {
            continue;
        }
        history.push(mean_of(&neg_elbo(&current(), &fixed, nll_at)?)?);
        let plateau = plateau(&history, opts.patience, opts.tol);
        if plateau {
            // The iterates jitter by about the step size around the optimum: shrink the
            // step, and stop at the plateau after the last cut.
            if reductions == LR_REDUCTIONS {
                on_steps(opts.steps - taken);
                break;
            }
            reductions += 1;
            adam.set_lr_scale(LR_FACTOR.powi(reductions));
            history.clear();
        }
    }
    let last = current();
    let last_bound = neg_elbo(&last, &fixed, nll_at)?.detach();
    let better = last_bound.lt(&start_bound)?;
    let rows = better.unsqueeze(1)?.broadcast_as(start.mean.shape())?;
    let q = DiagGaussian::new(
        rows.where_cond(&last.mean.detach(), &start.mean.detach())?,
        rows.where_cond(&last.logvar.detach(), &start.logvar.detach())?,
    );
    let bound = better.where_cond(&last_bound, &start_bound)?;
    Ok(LocalFit {
        q,
        neg_elbo: bound.to_dtype(DType::F64)?.to_vec1()?,
        steps: taken,
    })
}

/// The mean of the last `window` checks gained less than `tol` on the mean of the `window`
/// before them (windows, because the iterates jitter).
fn plateau(history: &[f64], window: usize, tol: f64) -> bool {
    let n = history.len();
    if n < 2 * window.max(1) {
        return false;
    }
    let mean = |h: &[f64]| h.iter().sum::<f64>() / h.len() as f64;
    mean(&history[n - 2 * window..n - window]) - mean(&history[n - window..]) < tol
}

fn mean_of(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.mean(D::Minus1)?.to_scalar()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// x = W z + noise, z ~ N(0, I2), noise ~ N(0, s^2 I3), with W's columns orthogonal so
    /// the exact posterior is a diagonal Gaussian: variance `1 / (1 + |w_j|^2 / s^2)`, mean
    /// `var_j * w_j . x / s^2`, and `log p(x) = log N(x; 0, W W^T + s^2 I)`.
    const W: [[f64; 2]; 3] = [[1.6, 0.0], [0.0, 0.9], [1.2, 0.0]];
    const S: f64 = 0.5;

    fn nll_at(x: &Tensor) -> impl Fn(&Tensor) -> Result<Tensor> + '_ {
        move |z: &Tensor| {
            let w = Tensor::new(&W, &Device::Cpu)?;
            let mean = z.matmul(&w.t()?)?;
            let sq = (x - mean)?.sqr()?.sum(1)?;
            let c = 1.5 * (2.0 * std::f64::consts::PI * S * S).ln();
            Ok(((sq / (2.0 * S * S))? + c)?)
        }
    }

    fn exact(x: &[f64; 3]) -> ([f64; 2], [f64; 2], f64) {
        let mut mean = [0.0; 2];
        let mut var = [0.0; 2];
        for j in 0..2 {
            let norm2: f64 = (0..3).map(|i| W[i][j] * W[i][j]).sum();
            var[j] = 1.0 / (1.0 + norm2 / (S * S));
            mean[j] = var[j] * (0..3).map(|i| W[i][j] * x[i]).sum::<f64>() / (S * S);
        }
        // log N(x; 0, C) with C = W W^T + s^2 I, by the 3x3 closed-form inverse.
        let c: Vec<Vec<f64>> = (0..3)
            .map(|a| {
                (0..3)
                    .map(|b| {
                        (0..2).map(|j| W[a][j] * W[b][j]).sum::<f64>()
                            + if a == b { S * S } else { 0.0 }
                    })
                    .collect()
            })
            .collect();
        let det = c[0][0] * (c[1][1] * c[2][2] - c[1][2] * c[2][1])
            - c[0][1] * (c[1][0] * c[2][2] - c[1][2] * c[2][0])
            + c[0][2] * (c[1][0] * c[2][1] - c[1][1] * c[2][0]);
        let cof = |a: usize, b: usize| {
            let r: Vec<usize> = (0..3).filter(|&i| i != a).collect();
            let k: Vec<usize> = (0..3).filter(|&i| i != b).collect();
            let m = c[r[0]][k[0]] * c[r[1]][k[1]] - c[r[0]][k[1]] * c[r[1]][k[0]];
            if (a + b).is_multiple_of(2) {
                m
            } else {
                -m
            }
        };
        let quad: f64 = (0..3)
            .flat_map(|a| (0..3).map(move |b| (a, b)))
            .map(|(a, b)| x[a] * cof(b, a) / det * x[b])
            .sum();
        let log_px = -0.5 * (quad + det.ln() + 3.0 * (2.0 * std::f64::consts::PI).ln());
        (mean, var, log_px)
    }

    #[test]
    fn reaches_the_exact_posterior_of_a_linear_gaussian_model() -> Result<()> {
        let xs = [[1.0, -0.5, 0.4], [-2.0, 1.5, -1.0], [0.3, 0.0, 2.5]];
        let x = Tensor::new(&xs, &Device::Cpu)?;
        let nll = nll_at(&x);
        let start = DiagGaussian::standard_like(&Tensor::zeros((3, 2), DType::F64, &Device::Cpu)?)?;
        let mut rng = Rng::new(7);
        let mut opts = LocalViOptions::new(4000, 0.1);
        (opts.tol, opts.patience) = (1e-3, 20); // converge, not stop at the practical default
        let fit = fit(&start, &nll, &opts, &mut rng, &mut |_| {})?;
        let mean: Vec<Vec<f64>> = fit.q.mean.to_vec2()?;
        let var: Vec<Vec<f64>> = fit.q.logvar.exp()?.to_vec2()?;
        // The bound at the fit, on many fresh draws, against the exact log p(x).
        let bound: Vec<f64> =
            neg_elbo(&fit.q, &draws(&fit.q.mean, 4000, &mut rng)?, &nll)?.to_vec1()?;
        for (i, x) in xs.iter().enumerate() {
            let (m, v, log_px) = exact(x);
            // KL(q* || exact posterior) in closed form: a stochastic optimizer stops a few
            // percent off in the variances (the bound is flat there), which costs < 0.02 nats.
            let kl: f64 = (0..2)
                .map(|j| {
                    let r = var[i][j] / v[j];
                    0.5 * (r - 1.0 - r.ln() + (mean[i][j] - m[j]).powi(2) / v[j])
                })
                .sum();
            assert!(
                kl < 0.02,
                "row {i}: KL {kl}: mean {mean:?} vs {m:?}, var {var:?} vs {v:?}"
            );
            for j in 0..2 {
                assert!(
                    (mean[i][j] - m[j]).abs() < 0.25 * v[j].sqrt(),
                    "row {i}: {mean:?}"
                );
                assert!(
                    (var[i][j] / v[j] - 1.0).abs() < 0.2,
                    "row {i}: {var:?} vs {v:?}"
                );
            }
            // The approximation gap log p(x) - ELBO[q*] is zero for this model; 4000 draws
            // leave a Monte-Carlo error of about 0.01 nats.
            let gap = log_px + bound[i];
            assert!(gap.abs() < 0.05, "row {i}: gap {gap}, log p(x) {log_px}");
        }
        assert!(fit.steps < 4000, "the stopping rule never fired");
        Ok(())
    }

    #[test]
    fn never_ends_worse_than_it_started() -> Result<()> {
        // Started at the exact posterior with a large learning rate, Adam only wanders off;
        // the start is kept.
        let xs = [[1.0, -0.5, 0.4], [-2.0, 1.5, -1.0]];
        let x = Tensor::new(&xs, &Device::Cpu)?;
        let nll = nll_at(&x);
        let (m0, v0, _) = exact(&xs[0]);
        let (m1, v1, _) = exact(&xs[1]);
        let start = DiagGaussian::new(
            Tensor::new(&[m0, m1], &Device::Cpu)?,
            Tensor::new(&[v0, v1], &Device::Cpu)?.log()?,
        );
        let mut rng = Rng::new(3);
        let mut opts = LocalViOptions::new(50, 0.5);
        opts.tol = f64::NEG_INFINITY; // run all steps
                                      // The fit's comparison draws are the first its generator makes.
        let fixed = draws(&start.mean, opts.track_samples, &mut Rng::new(3))?;
        let fixed_start = neg_elbo(&start, &fixed, &nll)?;
        let fit = fit(&start, &nll, &opts, &mut rng, &mut |_| {})?;
        let before: Vec<f64> = fixed_start.to_vec1()?;
        for (i, b) in fit.neg_elbo.iter().enumerate() {
            assert!(
                *b <= before[i] + 1e-12,
                "row {i}: {b} > start {}",
                before[i]
            );
        }
        assert_eq!(fit.steps, 50);
        Ok(())
    }
}
