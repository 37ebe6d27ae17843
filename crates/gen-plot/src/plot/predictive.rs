//! Pictures of a predictive distribution: the reliability diagram of a classifier and the
//! mean and band of a 1-D regression.

use super::{Canvas, PALETTE};
use crate::picture::Picture;
use gen_metrics::calibration::Bin;

const SIZE: usize = 512;
const RED: [u8; 3] = [214, 39, 40];
const BLACK: [u8; 3] = [0, 0, 0];
const GRAY: [u8; 3] = [150, 150, 150];

/// Accuracy per confidence bin as blue bars over `[0, 1]`, the gap to the bin's mean
/// confidence in red, and the diagonal of perfect calibration: bars below the diagonal
/// are over-confidence.
pub fn reliability_diagram(bins: &[Bin]) -> Picture {
    let mut c = Canvas::new(SIZE, [-0.02, 1.02, -0.02, 1.02]);
    let w = 1.0 / bins.len().max(1) as f64;
    for (b, bin) in bins.iter().enumerate().filter(|(_, bin)| bin.count > 0) {
        let (x0, x1) = (b as f64 * w + 0.05 * w, (b + 1) as f64 * w - 0.05 * w);
        c.fill_rect([x0, x1, 0.0, bin.accuracy], PALETTE[0], 0.85);
        let (lo, hi) = if bin.accuracy < bin.confidence {
            (bin.accuracy, bin.confidence)
        } else {
            (bin.confidence, bin.accuracy)
        };
        c.fill_rect([x0, x1, lo, hi], RED, 0.45);
    }
    c.segment([0.0, 0.0], [1.0, 1.0], 2.0, BLACK);
    c.segment([0.0, 0.0], [1.0, 0.0], 1.0, GRAY);
    c.segment([0.0, 0.0], [0.0, 1.0], 1.0, GRAY);
    c.into_picture()
}

/// A 1-D regression: the training points (gray dots), the predictive mean along `grid`
/// (black line) and its `mean +- 2 sd` band (blue), over the window `[x0, x1, y0, y1]`.
pub fn regression_band(
    points: &[(f64, f64)],
    grid: &[f64],
    mean: &[f64],
    sd: &[f64],
    window: [f64; 4],
) -> Picture {
    let mut c = Canvas::new(SIZE, window);
    for i in 0..grid.len().saturating_sub(1) {
        let (lo, hi) = (mean[i] - 2.0 * sd[i], mean[i] + 2.0 * sd[i]);
        c.fill_rect([grid[i], grid[i + 1], lo, hi], PALETTE[0], 0.3);
    }
    for &(x, y) in points {
        c.dot(x, y, 2.0, GRAY, 0.8);
    }
    for i in 0..grid.len().saturating_sub(1) {
        c.segment([grid[i], mean[i]], [grid[i + 1], mean[i + 1]], 2.0, BLACK);
    }
    c.into_picture()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::tests::pixel;

    #[test]
    fn band_is_drawn_between_its_bounds_only() {
        // Mean 0, sd 1 on x in [0, 10]: the band covers y in [-2, 2] of the window [-10, 10].
        let grid: Vec<f64> = (0..=10).map(|i| i as f64).collect();
        let p = regression_band(&[], &grid, &[0.0; 11], &[1.0; 11], [0.0, 10.0, -10.0, 10.0]);
        let (x, s) = (300, (SIZE - 1) as f64);
        let row = |y: f64| ((10.0 - y) / 20.0 * s).round() as usize;
        assert_ne!(pixel(&p, x, row(1.5)), [255, 255, 255]);
        assert_eq!(pixel(&p, x, row(3.0)), [255, 255, 255]);
        assert_eq!(pixel(&p, x, row(-3.0)), [255, 255, 255]);
        // The mean line is black.
        assert_eq!(pixel(&p, x, row(0.0)), BLACK);
    }

    #[test]
    fn reliability_bars_reach_their_accuracy() {
        let mut bins = vec![Bin::default(); 15];
        bins[14] = Bin {
            count: 10,
            confidence: 0.98,
            accuracy: 0.5,
        };
        let p = reliability_diagram(&bins);
        let s = (SIZE - 1) as f64;
        let to_px = |v: f64| ((v + 0.02) / 1.04 * s).round() as usize;
        let x = to_px(0.96);
        // Blue up to 0.5, red from 0.5 to 0.98, white above.
        let low = pixel(&p, x, to_px(1.0 - 0.25));
        assert!(low[2] > low[0], "{low:?}");
        let gap = pixel(&p, x, to_px(1.0 - 0.75));
        assert!(gap[0] > gap[2], "{gap:?}");
        let _ = pixel(&p, to_px(0.5), to_px(0.5)); // the diagonal is inside the canvas
    }
}
