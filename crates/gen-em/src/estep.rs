//! The E-step, fused with what the report and the next M-step need: one parallel pass
//! over the data. The data is cut into blocks of [`BLOCK`] rows (the unit of parallel
//! work, reduced in order, so results are the same for any number of threads), and each
//! block into sub-chunks small enough to stay in a core's cache while several products
//! read them; buffers and statistics are reused across a block's sub-chunks.

use crate::config::CovarianceType;
use crate::mixture::Mixture;
use crate::mstep::{accumulate_scatter, accumulate_stats, m_step_from, Stats};
use rayon::prelude::*;

/// Rows per unit of parallel work.
pub const BLOCK: usize = 1024;

/// Rows per sub-chunk: about 256 KiB of data (16 to [`BLOCK`] rows).
pub fn chunk_rows(d: usize) -> usize {
    (32 * 1024 / d.max(1)).clamp(16, BLOCK)
}

/// What one pass over the data computed (sums over points, not means).
#[derive(Clone, Debug)]
pub struct Pass {
    /// `sum_i log q(x_i)`.
    pub loglik: f64,
    /// `sum_ij r_ij log q(z=j|x_i)` for the responsibilities found on entry (the old
    /// `p(z|x)`); with `neg_entropy` of those it gives the posterior gap.
    pub cross: f64,
    /// `sum_ij r_ij log r_ij` of the responsibilities written on exit.
    pub neg_entropy: f64,
    /// Sufficient statistics of the new responsibilities.
    pub stats: Option<Stats>,
    /// The point with the lowest `log q(x)`, and that value.
    pub worst: (usize, f64),
}

impl Pass {
    fn empty() -> Pass {
        Pass {
            loglik: 0.0,
            cross: 0.0,
            neg_entropy: 0.0,
            stats: None,
            worst: (0, f64::INFINITY),
        }
    }

    fn merge(&mut self, other: Pass) {
        self.loglik += other.loglik;
        self.cross += other.cross;
        self.neg_entropy += other.neg_entropy;
        if other.worst.1 < self.worst.1 {
            self.worst = other.worst;
        }
        match (&mut self.stats, other.stats) {
            (Some(s), Some(o)) => s.add(&o),
            (s @ None, o) => *s = o,
            _ => {}
        }
    }
}

/// Runs the E-step of `mix` over `x` (`n x d`). With `resp` (`n x k`), the
/// responsibilities found there are scored against the new posterior (`cross`) and then
/// replaced by it; `with_stats` also accumulates the M-step's statistics.
pub fn e_step(mix: &Mixture, x: &[f64], resp: Option<&mut [f64]>, with_stats: bool) -> Pass {
    let (k, d) = (mix.k, mix.d);
    let blocks: Vec<Pass> = match resp {
        Some(resp) => x
            .par_chunks(BLOCK * d)
            .enumerate()
            .zip(resp.par_chunks_mut(BLOCK * k))
            .map(|((b, xb), rb)| e_step_block(mix, b * BLOCK, xb, Some(rb), with_stats))
            .collect(),
        None => x
            .par_chunks(BLOCK * d)
            .enumerate()
            .map(|(b, xb)| e_step_block(mix, b * BLOCK, xb, None, false))
            .collect(),
    };
    let mut pass = Pass::empty();
    for b in blocks {
        pass.merge(b);
    }
    pass
}

fn e_step_block(
    mix: &Mixture,
    first_row: usize,
    xb: &[f64],
    mut rb: Option<&mut [f64]>,
    with_stats: bool,
) -> Pass {
    let (k, d) = (mix.k, mix.d);
    let chunk = chunk_rows(d);
    let with_stats = with_stats && rb.is_some();
    let want_squares = mix.needs_squares() || (with_stats && mix.kind != CovarianceType::Full);
    let mut out = Pass::empty();
    if with_stats {
        out.stats = Some(Stats::zeros(mix.kind, k, d));
    }
    let (mut lp, mut squares, mut scratch) = (Vec::new(), Vec::new(), Vec::new());
    for (c, xc) in xb.chunks(chunk * d).enumerate() {
        let rows = xc.len() / d;
        lp.resize(rows * k, 0.0);
        if want_squares {
            squares.clear();
            squares.extend(xc.iter().map(|v| v * v));
        }
        let sq = want_squares.then_some(&squares[..]);
        mix.log_joint(xc, sq, rows, &mut lp, &mut scratch);
        let mut rc = rb
            .as_deref_mut()
            .map(|r| &mut r[c * chunk * k..(c * chunk + rows) * k]);
        for (i, row) in lp.chunks_exact(k).enumerate() {
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = row.iter().map(|v| (v - max).exp()).sum();
            let lse = max + sum.ln();
            out.loglik += lse;
            if lse < out.worst.1 {
                out.worst = (first_row + c * chunk + i, lse);
            }
            if let Some(r) = rc.as_deref_mut() {
                let r = &mut r[i * k..(i + 1) * k];
                for j in 0..k {
                    let log_post = row[j] - lse;
                    if r[j] > 0.0 {
                        out.cross += r[j] * log_post;
                    }
                    let new = log_post.exp();
                    r[j] = new;
                    if new > 0.0 {
                        out.neg_entropy += new * log_post;
                    }
                }
            }
        }
        if let (Some(stats), Some(r)) = (out.stats.as_mut(), rc.as_deref()) {
            accumulate_stats(stats, xc, sq, r, rows);
        }
    }
    out
}

/// The statistics of given responsibilities (for initializations).
pub fn stats_of(kind: CovarianceType, x: &[f64], resp: &[f64], k: usize, d: usize) -> Stats {
    let chunk = chunk_rows(d);
    let parts: Vec<Stats> = x
        .par_chunks(BLOCK * d)
        .zip(resp.par_chunks(BLOCK * k))
        .map(|(xb, rb)| {
            let mut s = Stats::zeros(kind, k, d);
            for (xc, rc) in xb.chunks(chunk * d).zip(rb.chunks(chunk * k)) {
                accumulate_stats(&mut s, xc, None, rc, xc.len() / d);
            }
            s
        })
        .collect();
    let mut total = Stats::zeros(kind, k, d);
    for p in &parts {
        total.add(p);
    }
    total
}

/// `sum_i r_ij (x_i - mu_j)(x_i - mu_j)^T` over all points (`k x d x d`).
pub fn scatter(x: &[f64], resp: &[f64], means: &[f64], k: usize, d: usize) -> Vec<f64> {
    let chunk = chunk_rows(d);
    let parts: Vec<Vec<f64>> = x
        .par_chunks(BLOCK * d)
        .zip(resp.par_chunks(BLOCK * k))
        .map(|(xb, rb)| {
            let mut s = vec![0.0; k * d * d];
            let mut scratch = Vec::new();
            for (xc, rc) in xb.chunks(chunk * d).zip(rb.chunks(chunk * k)) {
                accumulate_scatter(&mut s, xc, rc, means, (xc.len() / d, k, d), &mut scratch);
            }
            s
        })
        .collect();
    let mut total = vec![0.0; k * d * d];
    for p in &parts {
        total.iter_mut().zip(p).for_each(|(a, b)| *a += b);
    }
    total
}

/// The whole M-step for given responsibilities (`n x k`).
pub fn m_step(
    kind: CovarianceType,
    x: &[f64],
    resp: &[f64],
    k: usize,
    d: usize,
    reg: f64,
) -> Result<Mixture, String> {
    let stats = stats_of(kind, x, resp, k, d);
    m_step_from(kind, &stats, d, reg, |means| scatter(x, resp, means, k, d))
}
