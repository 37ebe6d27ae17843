//! Mode coverage of samples from a mixture with known modes, the protocol of the PacGAN
//! and VEEGAN papers: a sample is *high quality* when it lies within 3 standard
//! deviations of its nearest mode; a mode is *captured* when at least one high-quality
//! sample is nearest to it; and the KL divergence between the histogram of high-quality
//! samples over the modes and the uniform histogram says how evenly they are spread.

pub use gen_base::data_info::KnownModes;

/// How well a set of samples covers the modes.
#[derive(Clone, Debug, PartialEq)]
pub struct ModeScores {
    pub captured: usize,
    pub modes: usize,
    /// Fraction of samples within 3 sigma of their nearest mode.
    pub high_quality: f64,
    /// `KL(h || uniform)` of the high-quality samples' histogram over the modes (0 = even;
    /// `ln(modes)` when every one sits on one mode, or when there is none).
    pub kl_to_uniform: f64,
}

impl ModeScores {
    /// As (name, value) rows for reports and TensorBoard.
    pub fn rows(&self) -> Vec<(String, f64)> {
        vec![
            ("modes/captured".into(), self.captured as f64),
            ("modes/high_quality".into(), self.high_quality),
            ("modes/kl_to_uniform".into(), self.kl_to_uniform),
        ]
    }
}

/// Scores `samples` (rows of `dim` values, flattened) against `modes`.
pub fn score(samples: &[f64], dim: usize, modes: &KnownModes) -> ModeScores {
    let m = modes.centres.len();
    let mut hist = vec![0usize; m];
    let mut high = 0usize;
    let n = samples.len().checked_div(dim).unwrap_or(0);
    let limit = (3.0 * modes.sigma).powi(2);
    for s in samples.chunks_exact(dim) {
        let (best, d2) = modes
            .centres
            .iter()
            .enumerate()
            .map(|(j, c)| {
                (
                    j,
                    c.iter().zip(s).map(|(a, b)| (a - b) * (a - b)).sum::<f64>(),
                )
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, f64::INFINITY));
        if d2 <= limit {
            high += 1;
            hist[best] += 1;
        }
    }
    let kl_to_uniform = if high == 0 {
        (m as f64).ln()
    } else {
        hist.iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = c as f64 / high as f64;
                p * (p * m as f64).ln()
            })
            .sum()
    };
    ModeScores {
        captured: hist.iter().filter(|&&c| c > 0).count(),
        modes: m,
        high_quality: if n == 0 { 0.0 } else { high as f64 / n as f64 },
        kl_to_uniform,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> KnownModes {
        KnownModes {
            centres: vec![
                vec![0.0, 0.0],
                vec![1.0, 0.0],
                vec![0.0, 1.0],
                vec![1.0, 1.0],
            ],
            sigma: 0.1,
        }
    }

    #[test]
    fn even_coverage_scores_perfectly() {
        let s = [
            0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.05, 0.0, 1.0, 0.95, 0.0, 1.1, 0.9, 0.0,
        ];
        let r = score(&s, 2, &square());
        assert_eq!((r.captured, r.modes), (4, 4));
        assert_eq!(r.high_quality, 1.0);
        assert!(r.kl_to_uniform.abs() < 1e-15);
    }

    #[test]
    fn collapse_and_low_quality_by_hand() {
        // Three samples on mode 0, one on mode 1, one far from all (0.5, 0.5): 0.707 > 0.3.
        let s = [0.0, 0.0, 0.1, 0.1, 0.0, -0.2, 1.0, 0.29, 0.5, 0.5];
        let r = score(&s, 2, &square());
        assert_eq!(r.captured, 2);
        assert!((r.high_quality - 0.8).abs() < 1e-15);
        // histogram (3/4, 1/4, 0, 0) against uniform 1/4: 3/4 ln 3 + 1/4 ln 1
        assert!((r.kl_to_uniform - 0.75 * 3f64.ln()).abs() < 1e-12);
        // exactly 3 sigma counts, just beyond does not
        let edge = score(&[0.3, 0.0, 0.0, 0.30001], 2, &square());
        assert_eq!(edge.high_quality, 0.5);
        // nothing high quality: KL is ln(modes)
        let none = score(&[5.0, 5.0], 2, &square());
        assert_eq!((none.captured, none.high_quality), (0, 0.0));
        assert!((none.kl_to_uniform - 4f64.ln()).abs() < 1e-15);
    }
}
