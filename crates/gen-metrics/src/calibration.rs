//! How good a predictive distribution is: error, likelihood, calibration, and the
//! separation of in- from out-of-distribution inputs.
//!
//! Classifiers give probability rows; regressors a Gaussian per target. The figures are
//! the standard ones of the Bayesian deep-learning literature: test error, predictive
//! NLL, Brier score, expected calibration error over 15 equal-width confidence bins
//! (Guo et al. 2017) and the AUROC of predictive entropy between a test set and another
//! data set (Hendrycks and Gimpel 2017).

/// Confidence bins of the ECE and the reliability diagram.
pub const ECE_BINS: usize = 15;

/// One confidence bin: how many predictions fell in it, their mean confidence and the
/// fraction of them that were right.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bin {
    pub count: usize,
    pub confidence: f64,
    pub accuracy: f64,
}

/// A classifier's figures over a set of examples.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassScores {
    pub n: usize,
    /// Fraction of examples whose most probable class is wrong.
    pub error: f64,
    /// Mean `-log p(label)` (nats).
    pub nll: f64,
    /// Mean `sum_k (p_k - [k = label])^2`.
    pub brier: f64,
    /// `sum_b (n_b / n) |accuracy_b - confidence_b|` over [`ECE_BINS`] bins of the top
    /// probability.
    pub ece: f64,
    pub bins: Vec<Bin>,
}

/// Smallest probability a log is taken of, so one confident mistake costs a large but
/// finite NLL.
const MIN_PROB: f64 = 1e-12;

/// The figures of probability rows `probs` (`n x classes`, flat) against `labels`.
pub fn classification(probs: &[f64], classes: usize, labels: &[u32]) -> ClassScores {
    let n = labels.len();
    assert_eq!(
        probs.len(),
        n * classes,
        "one row of probabilities per label"
    );
    let mut sums = [0.0; 3]; // errors, nll, brier
    let mut bins = vec![(0usize, 0.0, 0.0); ECE_BINS];
    for (row, &label) in probs.chunks(classes).zip(labels) {
        let (top, p_top) = argmax(row);
        let right = top == label as usize;
        sums[0] += (!right) as u8 as f64;
        sums[1] -= row[label as usize].max(MIN_PROB).ln();
        sums[2] += row
            .iter()
            .enumerate()
            .map(|(k, &p)| (p - (k == label as usize) as u8 as f64).powi(2))
            .sum::<f64>();
        // Bin b holds confidences in (b/B, (b+1)/B]; 0 falls in the first.
        let b = ((p_top * ECE_BINS as f64).ceil() as usize).clamp(1, ECE_BINS) - 1;
        bins[b].0 += 1;
        bins[b].1 += p_top;
        bins[b].2 += right as u8 as f64;
    }
    let bins: Vec<Bin> = bins
        .into_iter()
        .map(|(count, conf, right)| Bin {
            count,
            confidence: if count > 0 { conf / count as f64 } else { 0.0 },
            accuracy: if count > 0 { right / count as f64 } else { 0.0 },
        })
        .collect();
    let nf = n.max(1) as f64;
    let ece = bins
        .iter()
        .map(|b| b.count as f64 / nf * (b.accuracy - b.confidence).abs())
        .sum();
    ClassScores {
        n,
        error: sums[0] / nf,
        nll: sums[1] / nf,
        brier: sums[2] / nf,
        ece,
        bins,
    }
}

/// The most probable class and its probability (the first on ties).
fn argmax(row: &[f64]) -> (usize, f64) {
    row.iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (k, &p)| {
            if p > best.1 {
                (k, p)
            } else {
                best
            }
        })
}

/// The entropy `-sum_k p_k log p_k` (nats) of each probability row.
pub fn entropies(probs: &[f64], classes: usize) -> Vec<f64> {
    probs
        .chunks(classes)
        .map(|row| {
            -row.iter()
                .filter(|&&p| p > 0.0)
                .map(|&p| p * p.ln())
                .sum::<f64>()
        })
        .collect()
}

/// The area under the ROC curve of a score that should be higher on `positive` than on
/// `negative`: the probability that a random positive outscores a random negative, ties
/// counting one half (the Mann-Whitney statistic), from one sort.
pub fn auroc(positive: &[f64], negative: &[f64]) -> f64 {
    let mut all: Vec<(f64, bool)> = positive
        .iter()
        .map(|&s| (s, true))
        .chain(negative.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of the positives' ranks (1-based, ties given their mean rank).
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += mean_rank * all[i..j].iter().filter(|e| e.1).count() as f64;
        i = j;
    }
    let (p, n) = (positive.len() as f64, negative.len() as f64);
    (rank_sum - p * (p + 1.0) / 2.0) / (p * n)
}

/// A regressor's figures over a set of examples (every target counted).
#[derive(Clone, Debug, PartialEq)]
pub struct ValueScores {
    pub n: usize,
    pub rmse: f64,
    /// Mean Gaussian `-log N(y; mean, variance)` per example (summed over targets).
    pub nll: f64,
    /// Fraction of targets inside `mean +- 1.96 sd` (0.95 if calibrated).
    pub coverage_95: f64,
}

/// The figures of Gaussian predictions (`mean`, `variance`, flat, `targets` per example)
/// against the true values `y`.
pub fn regression(mean: &[f64], variance: &[f64], y: &[f64], targets: usize) -> ValueScores {
    assert!(mean.len() == y.len() && variance.len() == y.len());
    let n = y.len() / targets.max(1);
    let (mut sq, mut nll, mut inside) = (0.0, 0.0, 0usize);
    for ((&m, &v), &t) in mean.iter().zip(variance).zip(y) {
        let v = v.max(1e-300);
        sq += (t - m).powi(2);
        nll += 0.5 * ((std::f64::consts::TAU * v).ln() + (t - m).powi(2) / v);
        inside += ((t - m).abs() <= 1.96 * v.sqrt()) as usize;
    }
    let count = y.len().max(1) as f64;
    ValueScores {
        n,
        rmse: (sq / count).sqrt(),
        nll: nll / n.max(1) as f64,
        coverage_95: inside as f64 / count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_figures_by_hand() {
        // Three examples, two classes.
        let probs = [0.9, 0.1, 0.3, 0.7, 0.6, 0.4];
        let labels = [0, 0, 0];
        let s = classification(&probs, 2, &labels);
        assert!((s.error - 1.0 / 3.0).abs() < 1e-12);
        let nll = -(0.9f64.ln() + 0.3f64.ln() + 0.6f64.ln()) / 3.0;
        assert!((s.nll - nll).abs() < 1e-12);
        let brier = (2.0 * 0.01 + 2.0 * 0.49 + 2.0 * 0.16) / 3.0;
        assert!((s.brier - brier).abs() < 1e-12);
        // Confidences 0.9 (right), 0.7 (wrong), 0.6 (right) fall in bins 13, 10 and 8
        // of 15 ((13/15, 14/15], (10/15, 11/15], (8/15, 9/15]).
        assert_eq!(s.bins[13].count, 1);
        assert_eq!(s.bins[10].count, 1);
        assert_eq!(s.bins[8].count, 1);
        let ece = (0.1 + 0.7 + 0.4) / 3.0;
        assert!((s.ece - ece).abs() < 1e-12, "{}", s.ece);
    }

    #[test]
    fn auroc_matches_counting_pairs() {
        let mut rng = gen_base::Rng::new(3);
        let pos: Vec<f64> = (0..57).map(|_| (rng.below(20) as f64) + 3.0).collect();
        let neg: Vec<f64> = (0..41).map(|_| rng.below(20) as f64).collect();
        let mut wins = 0.0;
        for p in &pos {
            for n in &neg {
                wins += if p > n {
                    1.0
                } else if p == n {
                    0.5
                } else {
                    0.0
                };
            }
        }
        let expected = wins / (pos.len() * neg.len()) as f64;
        assert!((auroc(&pos, &neg) - expected).abs() < 1e-12);
        assert_eq!(auroc(&[2.0, 3.0], &[0.0, 1.0]), 1.0);
        assert_eq!(auroc(&[0.0], &[1.0]), 0.0);
    }

    #[test]
    fn entropy_of_uniform_and_certain_rows() {
        let e = entropies(&[0.25, 0.25, 0.25, 0.25, 1.0, 0.0, 0.0, 0.0], 4);
        assert!((e[0] - 4f64.ln()).abs() < 1e-12);
        assert_eq!(e[1], 0.0);
    }

    #[test]
    fn regression_figures_by_hand() {
        let s = regression(&[0.0, 1.0], &[1.0, 4.0], &[1.0, 6.0], 1);
        assert!((s.rmse - 13f64.sqrt()).abs() < 1e-12); // errors 1 and 5
        let tau = std::f64::consts::TAU;
        let nll = (0.5 * (tau.ln() + 1.0) + 0.5 * ((4.0 * tau).ln() + 25.0 / 4.0)) / 2.0;
        assert!((s.nll - nll).abs() < 1e-12);
        // |1 - 0| <= 1.96; |6 - 1| = 5 > 3.92.
        assert_eq!(s.coverage_95, 0.5);
    }
}
