//! The EM loop as alternating minimization of the joint KL, with restarts.
//!
//! With `p(x, z) = p~(x) p(z|x)` and `q(x, z) = q(z) q(x|z)`,
//!
//! ```text
//! KL(p(x,z) || q(x,z)) = -H(p~) + E_x[-log q(x)] + E_x[ KL(p(z|x) || q(z|x)) ]
//!                               `-- neg_loglik --'   `----- posterior_gap -----'
//! ```
//!
//! The E-step sets `p(z|x) = q(z|x)` (the responsibilities), so the gap is zero after
//! it; the M-step lowers `neg_loglik` more than it opens the gap. Both half-steps are
//! reported, so the alternation is visible.

use crate::config::{CovarianceType, EmConfig};
use crate::estep::{e_step, scatter, Pass};
use crate::mixture::{cov_len, Mixture};
use crate::mstep::{m_step_from, Stats};
use gen_core::fit::{FitObserver, Iteration, Points};
use gen_core::{Error, JointKl, KlDirection, Report, Result};

/// The report of one half-step: the joint KL (up to the data entropy) and its two terms.
pub fn report(neg_loglik: f64, gap: f64, metrics: Vec<(String, f64)>) -> Report {
    Report {
        loss: neg_loglik + gap,
        joint_kl: JointKl::additive(
            KlDirection::Forward,
            vec![("neg_loglik", neg_loglik), ("posterior_gap", gap)],
        ),
        metrics,
    }
}

/// The mean log-likelihood per point of `points` under `mix`.
pub fn mean_loglik(mix: &Mixture, points: &Points) -> f64 {
    e_step(mix, &points.x, None, false).loglik / points.n as f64
}

/// The test-set report of a mixture: `loss` is minus the mean log-likelihood.
pub fn test_report(mix: &Mixture, test: &Points) -> Report {
    let ll = mean_loglik(mix, test);
    report(-ll, 0.0, vec![("loglik/test".into(), ll)])
}

/// One restart's result.
pub struct Restart {
    pub mixture: Mixture,
    /// Mean training log-likelihood of `mixture`.
    pub loglik: f64,
    pub iterations: usize,
    pub converged: bool,
}

/// Runs EM from `start` (with the responsibilities it came from, if any).
pub fn run(
    cfg: &EmConfig,
    train: &Points,
    test: &Points,
    start: Mixture,
    start_resp: Option<Vec<f64>>,
    restart: usize,
    observer: &mut dyn FitObserver,
) -> Result<Restart> {
    let (n, k, d) = (train.n, cfg.components, train.dim);
    let nf = n as f64;
    let x = &train.x;
    let mut neg_entropy = start_resp.as_deref().map_or(0.0, neg_entropy_of);
    let mut resp = start_resp.unwrap_or_else(|| vec![0.0; n * k]);
    let mut mix = start;
    // Scores the start against its responsibilities and takes the first E-step.
    let mut pass = e_step(&mix, x, Some(&mut resp), true);
    let mut ll_prev = pass.loglik / nf;
    observer.iteration(&Iteration {
        restart,
        iteration: 0,
        phases: vec![(
            "init",
            report(-ll_prev, (neg_entropy - pass.cross) / nf, vec![]),
        )],
        test: test_report(&mix, test),
    })?;
    let mut converged = false;
    let mut iterations = 0;
    for t in 1..=cfg.max_iter {
        iterations = t;
        // After the E-step: p(z|x) is the posterior of the current q; the gap is zero.
        let e_report = report(-ll_prev, 0.0, vec![]);
        neg_entropy = pass.neg_entropy;
        mix = m_step(cfg, x, d, &resp, &pass, observer, (restart, t))?;
        pass = e_step(&mix, x, Some(&mut resp), true);
        let ll = pass.loglik / nf;
        let gap = (neg_entropy - pass.cross) / nf;
        let min_weight = mix.weights.iter().copied().fold(f64::INFINITY, f64::min);
        let m_report = report(
            -ll,
            gap,
            vec![
                ("loglik/train".into(), ll),
                ("em/min_weight".into(), min_weight),
            ],
        );
        observer.iteration(&Iteration {
            restart,
            iteration: t,
            phases: vec![("e_step", e_report), ("m_step", m_report)],
            test: test_report(&mix, test),
        })?;
        let change = ll - ll_prev;
        ll_prev = ll;
        if change.abs() < cfg.tol {
            converged = true;
            break;
        }
    }
    Ok(Restart {
        loglik: ll_prev,
        mixture: mix,
        iterations,
        converged,
    })
}

/// `sum r log r` (0 log 0 = 0).
fn neg_entropy_of(resp: &[f64]) -> f64 {
    resp.iter().filter(|&&r| r > 0.0).map(|r| r * r.ln()).sum()
}

/// The M-step from the pass's statistics; a component left with less than one point's
/// worth of responsibility is re-initialized at the worst-explained training point, with
/// the data's variance, and the observer is told.
fn m_step(
    cfg: &EmConfig,
    x: &[f64],
    d: usize,
    resp: &[f64],
    pass: &Pass,
    observer: &mut dyn FitObserver,
    (restart, t): (usize, usize),
) -> Result<Mixture> {
    let stats: &Stats = pass
        .stats
        .as_ref()
        .expect("the fit's passes collect statistics");
    let k = cfg.components;
    let fail = |e: String| Error::Msg(format!("EM iteration {t} (restart {}): {e}", restart + 1));
    let mix = m_step_from(cfg.covariance, stats, d, cfg.reg_covar, |means| {
        scatter(x, resp, means, k, d)
    })
    .map_err(fail)?;
    let empty: Vec<usize> = (0..k).filter(|&j| stats.nk[j] < 1.0).collect();
    if empty.is_empty() {
        return Ok(mix);
    }
    let at = pass.worst.0;
    let point = &x[at * d..(at + 1) * d];
    let var = crate::init::per_dim_variance(x, d);
    let (mut weights, mut means, mut covs) = (mix.weights, mix.means, mix.covariances);
    let cl = cov_len(cfg.covariance, d);
    for &j in &empty {
        observer.note(&format!(
            "restart {}, iteration {t}: component {j} emptied (responsibility mass {:.3e} points); \
             re-initialized at training point {at}, the worst explained, with the data's variance",
            restart + 1,
            stats.nk[j]
        ));
        weights[j] = 1.0 / k as f64;
        means[j * d..(j + 1) * d].copy_from_slice(point);
        let c = &mut covs[j * cl..(j + 1) * cl];
        match cfg.covariance {
            CovarianceType::Full => {
                c.fill(0.0);
                (0..d).for_each(|i| c[i * d + i] = var[i] + cfg.reg_covar);
            }
            CovarianceType::Diag => (0..d).for_each(|i| c[i] = var[i] + cfg.reg_covar),
            CovarianceType::Spherical => c[0] = var.iter().sum::<f64>() / d as f64 + cfg.reg_covar,
        }
    }
    let total: f64 = weights.iter().sum();
    weights.iter_mut().for_each(|w| *w /= total);
    Mixture::new(cfg.covariance, d, weights, means, covs).map_err(fail)
}
