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
use candle_core::{DType, Tensor, Var, D};
use gen_base::{Result, Rng};
use gen_nn::optim::Optimizer;
use gen_nn::optim::{Adam, OptimizerConfig};
use std::collections::HashMap;

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

/// Free variational parameters of every training example (the notes' first algorithm: no
/// encoder, each example keeps its own Gaussian), with their own Adam. Each step touches only
/// the batch's rows, so each row keeps its own step count for Adam's bias correction (a
/// "lazy" Adam: a row's moments decay only when the row is updated). Plain host vectors, so
/// an update costs the batch's rows, not the table's.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalTable {
    pub latent: usize,
    mean: Vec<f32>,
    logvar: Vec<f32>,
    /// Adam's moments of `mean` and `logvar`, row-major like them.
    m: [Vec<f32>; 2],
    v: [Vec<f32>; 2],
    steps: Vec<u32>,
}

/// The names of a table's tensors in a checkpoint, under the model's prefix.
const TABLE_PARTS: [&str; 7] = [
    "mean",
    "logvar",
    "adam_m_mean",
    "adam_m_logvar",
    "adam_v_mean",
    "adam_v_logvar",
    "steps",
];

impl LocalTable {
    /// `rows` examples, each starting at the prior N(0, I).
    pub fn new(rows: usize, latent: usize) -> Self {
        let zeros = vec![0.0; rows * latent];
        LocalTable {
            latent,
            mean: zeros.clone(),
            logvar: zeros.clone(),
            m: [zeros.clone(), zeros.clone()],
            v: [zeros.clone(), zeros],
            steps: vec![0; rows],
        }
    }

    pub fn rows(&self) -> usize {
        self.steps.len()
    }

    /// The Gaussians of rows `idx` as `(len, latent)` tensors, like `like`'s dtype and device.
    pub fn gather(&self, idx: &[usize], like: &Tensor) -> Result<DiagGaussian> {
        let take = |t: &[f32]| -> Result<Tensor> {
            let v: Vec<f32> = idx
                .iter()
                .flat_map(|&i| t[i * self.latent..(i + 1) * self.latent].iter().copied())
                .collect();
            Ok(
                Tensor::from_vec(v, (idx.len(), self.latent), like.device())?
                    .to_dtype(like.dtype())?,
            )
        };
        Ok(DiagGaussian::new(take(&self.mean)?, take(&self.logvar)?))
    }

    /// One Adam step on rows `idx` from the gradients of their mean and log-variance
    /// (`(len, latent)` each), with Adam's default betas and epsilon, in the same f32
    /// arithmetic as [`Adam`] (each row's own step count in the bias corrections).
    pub fn update(&mut self, idx: &[usize], grads: [&Tensor; 2], lr: f64) -> Result<()> {
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f32);
        let g: Vec<Vec<f32>> = grads
            .iter()
            .map(|g| g.to_dtype(DType::F32)?.flatten_all()?.to_vec1())
            .collect::<candle_core::Result<_>>()?;
        let l = self.latent;
        let (fb1, fb2) = (b1 as f32, b2 as f32);
        for (r, &i) in idx.iter().enumerate() {
            self.steps[i] += 1;
            let t = self.steps[i] as i32;
            let step_size = (lr / (1.0 - b1.powi(t))) as f32;
            let inv_sqrt_bc2 = (1.0 / (1.0 - b2.powi(t)).sqrt()) as f32;
            for (p, param) in [&mut self.mean, &mut self.logvar].into_iter().enumerate() {
                for j in 0..l {
                    let (k, gk) = (i * l + j, g[p][r * l + j]);
                    let m = fb1 * self.m[p][k] + (1.0 - fb1) * gk;
                    let v = fb2 * self.v[p][k] + (1.0 - fb2) * gk * gk;
                    self.m[p][k] = m;
                    self.v[p][k] = v;
                    param[k] -= step_size * m / (v.sqrt() * inv_sqrt_bc2 + eps);
                }
            }
        }
        Ok(())
    }

    /// The table and its optimizer state as tensors named `<prefix><part>`, for checkpoints.
    pub fn export(&self, prefix: &str) -> Result<Vec<(String, Tensor)>> {
        let (n, l) = (self.rows(), self.latent);
        let dev = &candle_core::Device::Cpu;
        let parts = [
            &self.mean,
            &self.logvar,
            &self.m[0],
            &self.m[1],
            &self.v[0],
            &self.v[1],
        ];
        let mut out: Vec<(String, Tensor)> = parts
            .iter()
            .zip(TABLE_PARTS)
            .map(|(v, name)| {
                Ok((
                    format!("{prefix}{name}"),
                    Tensor::from_slice(v, (n, l), dev)?,
                ))
            })
            .collect::<Result<_>>()?;
        out.push((
            format!("{prefix}steps"),
            Tensor::from_slice(&self.steps, n, dev)?,
        ));
        Ok(out)
    }

    /// Restores what [`LocalTable::export`] wrote; an error names a missing or misshapen part.
    pub fn load(&mut self, prefix: &str, state: &HashMap<String, Tensor>) -> Result<()> {
        let (n, l) = (self.rows(), self.latent);
        let get = |name: &str, dims: &[usize]| -> Result<&Tensor> {
            let key = format!("{prefix}{name}");
            let t = state.get(&key).ok_or_else(|| {
                gen_base::Error::Msg(format!(
                    "the checkpoint has no `{key}` (free variational parameters)"
                ))
            })?;
            if t.dims() != dims {
                return Err(gen_base::Error::Msg(format!(
                    "`{key}` has shape {:?}, the model needs {dims:?} (training examples x latent)",
                    t.dims()
                )));
            }
            Ok(t)
        };
        let rows = |name: &str| -> Result<Vec<f32>> {
            Ok(get(name, &[n, l])?
                .to_dtype(DType::F32)?
                .flatten_all()?
                .to_vec1()?)
        };
        self.mean = rows(TABLE_PARTS[0])?;
        self.logvar = rows(TABLE_PARTS[1])?;
        self.m = [rows(TABLE_PARTS[2])?, rows(TABLE_PARTS[3])?];
        self.v = [rows(TABLE_PARTS[4])?, rows(TABLE_PARTS[5])?];
        self.steps = get(TABLE_PARTS[6], &[n])?.to_dtype(DType::U32)?.to_vec1()?;
        Ok(())
    }
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

    /// Each row of the table follows Adam (the optimizer every model uses) as if it were
    /// alone: rows 0 and 2 get three updates in batches of different make-up, row 1 one.
    #[test]
    fn table_rows_follow_their_own_adam() -> Result<()> {
        let dev = Device::Cpu;
        let mut table = LocalTable::new(3, 2);
        let reference: Vec<(Var, Var, Adam)> = (0..3)
            .map(|_| {
                let m = Var::zeros((1, 2), DType::F32, &dev).unwrap();
                let l = Var::zeros((1, 2), DType::F32, &dev).unwrap();
                let cfg = OptimizerConfig {
                    lr: 0.05,
                    ..Default::default()
                };
                let adam = Adam::new(vec![m.clone(), l.clone()], cfg);
                (m, l, adam)
            })
            .collect();
        let mut reference = reference;
        let visits: [&[usize]; 3] = [&[0, 2], &[2, 1, 0], &[0, 2]];
        for (t, rows) in visits.iter().enumerate() {
            // The gradient of sum_j (w_j - target)^2 / 2 at the current values.
            let target = [0.7 - t as f32, 1.3 + t as f32];
            let like = Tensor::zeros((rows.len(), 2), DType::F32, &dev)?;
            let q = table.gather(rows, &like)?;
            let tgt = Tensor::new(&[target], &dev)?.broadcast_as((rows.len(), 2))?;
            let (gm, gl) = ((&q.mean - &tgt)?, (&q.logvar - &tgt)?);
            table.update(rows, [&gm, &gl], 0.05)?;
            for &r in rows.iter() {
                let (m, l, adam) = &mut reference[r];
                let tgt = Tensor::new(&[target], &dev)?;
                let loss = ((m.as_tensor() - &tgt)?.sqr()?.sum_all()?
                    + (l.as_tensor() - &tgt)?.sqr()?.sum_all()?)?
                    * 0.5;
                adam.backward_step(&loss?)?;
            }
        }
        let q = table.gather(&[0, 1, 2], &Tensor::zeros((3, 2), DType::F32, &dev)?)?;
        let (mean, logvar): (Vec<Vec<f32>>, Vec<Vec<f32>>) =
            (q.mean.to_vec2()?, q.logvar.to_vec2()?);
        for (r, (m, l, _)) in reference.iter().enumerate() {
            let (rm, rl): (Vec<Vec<f32>>, Vec<Vec<f32>>) =
                (m.as_tensor().to_vec2()?, l.as_tensor().to_vec2()?);
            for j in 0..2 {
                assert!(
                    (mean[r][j] - rm[0][j]).abs() < 1e-6,
                    "row {r}: {mean:?} vs {rm:?}"
                );
                assert!(
                    (logvar[r][j] - rl[0][j]).abs() < 1e-6,
                    "row {r}: {logvar:?} vs {rl:?}"
                );
            }
        }
        assert!(
            mean[1][0] != mean[0][0],
            "rows updated a different number of times differ"
        );
        // A checkpoint round trip restores every part exactly.
        let mut back = LocalTable::new(3, 2);
        let saved: HashMap<String, Tensor> = table.export("local.")?.into_iter().collect();
        back.load("local.", &saved)?;
        assert_eq!(back, table);
        let mut wrong = LocalTable::new(4, 2);
        let err = wrong.load("local.", &saved).unwrap_err().to_string();
        assert!(
            err.contains("local.mean") && err.contains("[4, 2]"),
            "{err}"
        );
        Ok(())
    }
}
