//! A small raster canvas for 2-D figures: scatter plots of points (data, samples, codes)
//! and the 2-sigma ellipses of Gaussians, drawn straight into a [`Picture`]; the
//! predictive figures (reliability diagram, regression band) are in [`predictive`].

use crate::picture::Picture;

pub mod predictive;
pub mod text;

/// Ten distinguishable colours (matplotlib's tab10), for classes and components.
pub const PALETTE: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// The colour of class or component `i` (the palette repeats after ten).
pub fn color(i: usize) -> [u8; 3] {
    PALETTE[i % PALETTE.len()]
}

/// The data window `[x_min, x_max, y_min, y_max]` of interleaved `(x, y)` pairs, widened by
/// `margin` (a fraction of the larger side) and made square so circles stay circles.
pub fn bounds_of(xy: &[f64], margin: f64) -> [f64; 4] {
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for p in xy.chunks_exact(2) {
        for a in 0..2 {
            if p[a].is_finite() {
                lo[a] = lo[a].min(p[a]);
                hi[a] = hi[a].max(p[a]);
            }
        }
    }
    if lo[0] > hi[0] {
        return [-1.0, 1.0, -1.0, 1.0];
    }
    let half = ((hi[0] - lo[0]).max(hi[1] - lo[1]) / 2.0).max(1e-9) * (1.0 + margin);
    let (cx, cy) = ((lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0);
    [cx - half, cx + half, cy - half, cy + half]
}

/// An RGB canvas mapping the data window onto `size x size` pixels (y up).
pub struct Canvas {
    size: usize,
    window: [f64; 4],
    rgb: Vec<u8>,
}

impl Canvas {
    /// A white canvas.
    pub fn new(size: usize, window: [f64; 4]) -> Canvas {
        Canvas {
            size,
            window,
            rgb: vec![255; size * size * 3],
        }
    }

    /// Pixel coordinates of a data point (may fall outside the canvas).
    pub fn to_pixel(&self, x: f64, y: f64) -> (f64, f64) {
        let [x0, x1, y0, y1] = self.window;
        let s = (self.size - 1) as f64;
        ((x - x0) / (x1 - x0) * s, (y1 - y) / (y1 - y0) * s)
    }

    /// Blends `color` into pixel (px, py) with opacity `alpha`; outside pixels are ignored.
    fn blend(&mut self, px: i64, py: i64, color: [u8; 3], alpha: f64) {
        if px < 0 || py < 0 || px >= self.size as i64 || py >= self.size as i64 {
            return;
        }
        let i = (py as usize * self.size + px as usize) * 3;
        for (px, &c) in self.rgb[i..i + 3].iter_mut().zip(&color) {
            let old = *px as f64;
            *px = (old + (c as f64 - old) * alpha).round() as u8;
        }
    }

    /// A filled dot of `radius` pixels at a data point.
    pub fn dot(&mut self, x: f64, y: f64, radius: f64, color: [u8; 3], alpha: f64) {
        let (px, py) = self.to_pixel(x, y);
        if !(px.is_finite() && py.is_finite()) {
            return;
        }
        let r = radius.ceil() as i64;
        for dy in -r..=r {
            for dx in -r..=r {
                if ((dx * dx + dy * dy) as f64) <= radius * radius {
                    self.blend(px.round() as i64 + dx, py.round() as i64 + dy, color, alpha);
                }
            }
        }
    }

    /// Fills the data-space rectangle `[x0, x1] x [y0, y1]` with `color` at opacity `alpha`.
    pub fn fill_rect(&mut self, [x0, x1, y0, y1]: [f64; 4], color: [u8; 3], alpha: f64) {
        let (a, b) = (self.to_pixel(x0, y0), self.to_pixel(x1, y1));
        if !(a.0.is_finite() && a.1.is_finite() && b.0.is_finite() && b.1.is_finite()) {
            return;
        }
        let max = self.size as f64;
        let (px0, px1) = (a.0.min(b.0).max(-1.0), a.0.max(b.0).min(max));
        let (py0, py1) = (a.1.min(b.1).max(-1.0), a.1.max(b.1).min(max));
        for py in py0.round() as i64..=py1.round() as i64 {
            for px in px0.round() as i64..=px1.round() as i64 {
                self.blend(px, py, color, alpha);
            }
        }
    }

    /// A straight line between two data points, `width` pixels wide.
    pub fn segment(&mut self, from: [f64; 2], to: [f64; 2], width: f64, color: [u8; 3]) {
        let (a, b) = (self.to_pixel(from[0], from[1]), self.to_pixel(to[0], to[1]));
        let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        if !len.is_finite() {
            return;
        }
        let steps = (len.ceil() as usize).clamp(1, 4 * self.size);
        for i in 0..=steps {
            let t = i as f64 / steps as f64;
            let x = from[0] + t * (to[0] - from[0]);
            let y = from[1] + t * (to[1] - from[1]);
            self.dot(x, y, width / 2.0, color, 1.0);
        }
    }

    /// The outline of `{ v : (v - mean)^T cov^-1 (v - mean) = n_sigma^2 }` for a 2x2
    /// covariance `[a, b; b, c]`, traced from its eigen-decomposition.
    pub fn ellipse(&mut self, mean: [f64; 2], cov: [f64; 3], n_sigma: f64, color: [u8; 3]) {
        let [a, b, c] = cov;
        let half_tr = (a + c) / 2.0;
        let disc = (((a - c) / 2.0).powi(2) + b * b).sqrt();
        let (l1, l2) = ((half_tr + disc).max(0.0), (half_tr - disc).max(0.0));
        let angle = 0.5 * (2.0 * b).atan2(a - c);
        let (r1, r2) = (n_sigma * l1.sqrt(), n_sigma * l2.sqrt());
        let steps = 720;
        for i in 0..steps {
            let t = i as f64 / steps as f64 * std::f64::consts::TAU;
            let (u, v) = (r1 * t.cos(), r2 * t.sin());
            let x = mean[0] + u * angle.cos() - v * angle.sin();
            let y = mean[1] + u * angle.sin() + v * angle.cos();
            let (px, py) = self.to_pixel(x, y);
            if px.is_finite() && py.is_finite() {
                self.blend(px.round() as i64, py.round() as i64, color, 1.0);
                self.blend(px.round() as i64 + 1, py.round() as i64, color, 1.0);
            }
        }
        self.dot(mean[0], mean[1], 2.5, color, 1.0);
    }

    /// Shades the background by a density: each pixel goes from white toward `color` in
    /// proportion to `density(x, y)` over its maximum on the canvas (dots drawn later stay
    /// on top).
    pub fn shade(&mut self, density: impl Fn(f64, f64) -> f64, color: [u8; 3], strength: f64) {
        let [x0, x1, y0, y1] = self.window;
        let s = (self.size - 1).max(1) as f64;
        let values: Vec<f64> = (0..self.size * self.size)
            .map(|i| {
                let (px, py) = ((i % self.size) as f64, (i / self.size) as f64);
                density(x0 + px / s * (x1 - x0), y1 - py / s * (y1 - y0))
            })
            .collect();
        let max = values.iter().cloned().fold(0.0, f64::max);
        if !(max > 0.0 && max.is_finite()) {
            return;
        }
        for (i, v) in values.iter().enumerate() {
            let (px, py) = ((i % self.size) as i64, (i / self.size) as i64);
            self.blend(px, py, color, strength * (v / max).clamp(0.0, 1.0));
        }
    }

    pub fn into_picture(self) -> Picture {
        Picture {
            width: self.size,
            height: self.size,
            channels: 3,
            data: self.rgb,
        }
    }

    /// The canvas in a frame with ticks and their values on both axes, so that a reader
    /// can tell where the points are (a code map, a fit, samples of 2-D data).
    pub fn into_picture_with_axes(self) -> Picture {
        const SCALE: usize = 2;
        const LEFT: usize = 6 * text::ADVANCE * SCALE + 10;
        const BOTTOM: usize = text::HEIGHT * SCALE + 14;
        const PAD: usize = 10;
        let n = self.size;
        let (w, h) = (LEFT + n + PAD, PAD + n + BOTTOM);
        let mut rgb = vec![255u8; w * h * 3];
        for y in 0..n {
            let from = y * n * 3;
            let to = ((PAD + y) * w + LEFT) * 3;
            rgb[to..to + n * 3].copy_from_slice(&self.rgb[from..from + n * 3]);
        }
        // Ink (frame, ticks, labels) goes into a gray layer first: the font draws gray.
        let mut ink = vec![255u8; w * h];
        let (left, top, right, bottom) = (LEFT - 1, PAD - 1, LEFT + n, PAD + n);
        for x in left..=right {
            ink[top * w + x] = 0;
            ink[bottom * w + x] = 0;
        }
        for y in top..=bottom {
            ink[y * w + left] = 0;
            ink[y * w + right] = 0;
        }
        let [x0, x1, y0, y1] = self.window;
        for (v, label) in ticks(x0, x1) {
            let (px, _) = self.to_pixel(v, y0);
            let px = LEFT + px.round() as usize;
            for y in bottom..bottom + 5 {
                ink[y * w + px] = 0;
            }
            let lx = px.saturating_sub(text::width(&label, SCALE) / 2);
            text::draw(&mut ink, w, (lx, bottom + 7), &label, SCALE, 0);
        }
        for (v, label) in ticks(y0, y1) {
            let (_, py) = self.to_pixel(x0, v);
            let py = PAD + py.round() as usize;
            for x in left - 5..left {
                ink[py * w + x] = 0;
            }
            let lx = (left - 7).saturating_sub(text::width(&label, SCALE));
            let ly = py.saturating_sub(text::HEIGHT * SCALE / 2);
            text::draw(&mut ink, w, (lx, ly), &label, SCALE, 0);
        }
        for (i, &v) in ink.iter().enumerate() {
            if v == 0 {
                rgb[i * 3..i * 3 + 3].copy_from_slice(&[40, 40, 40]);
            }
        }
        Picture {
            width: w,
            height: h,
            channels: 3,
            data: rgb,
        }
    }
}

/// Round tick values inside `[lo, hi]` (steps of 1, 2 or 5 times a power of ten, four to
/// ten of them) with their labels, written with as many decimals as the step needs.
pub fn ticks(lo: f64, hi: f64) -> Vec<(f64, String)> {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater)
        || !lo.is_finite()
        || !hi.is_finite()
    {
        return vec![];
    }
    let rough = (hi - lo) / 5.0;
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| (hi - lo) / s <= 8.0)
        .unwrap_or(10.0 * power);
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            let label = format!("{v:.decimals$}");
            let label = match label
                .trim_start_matches('-')
                .chars()
                .all(|c| c == '0' || c == '.')
            {
                true => "0".to_string(),
                false => label,
            };
            (v, label)
        })
        .collect()
}

/// Codes (interleaved `(z1, z2)`) as dots coloured by `labels` (one colour without them)
/// over a prior `density` shaded in gray. The window covers `extent` (interleaved points
/// that must show, e.g. the prior's 3-sigma box) and the codes, so codes that miss the
/// prior show as such.
pub fn codes_over_density(
    codes: &[f64],
    labels: Option<&[u32]>,
    extent: &[f64],
    density: impl Fn(f64, f64) -> f64,
) -> Picture {
    let mut all = extent.to_vec();
    all.extend_from_slice(codes);
    let mut canvas = Canvas::new(512, bounds_of(&all, 0.05));
    canvas.shade(density, [90, 90, 90], 0.45);
    for (i, p) in codes.chunks_exact(2).enumerate() {
        let c = labels.map_or(PALETTE[0], |l| color(l[i] as usize));
        canvas.dot(p[0], p[1], 1.5, c, 0.7);
    }
    canvas.into_picture_with_axes()
}

/// Samples (interleaved `(x, y)`) as dots over the data (`data`, interleaved, in light
/// gray; may be empty) and the true modes, each drawn as its 3-sigma circle (the
/// high-quality radius of [`gen_metrics::modes`]). The window follows the modes when they
/// are known, so a diverging generator shows as dots leaving it; otherwise it covers the
/// data and the samples.
pub fn samples_over_modes(
    xy: &[f64],
    modes: Option<&gen_base::KnownModes>,
    data: &[f64],
) -> Picture {
    let window = match modes {
        Some(m) => {
            let centres: Vec<f64> = m.centres.iter().flat_map(|c| [c[0], c[1]]).collect();
            bounds_of(&centres, 0.35)
        }
        None => bounds_of(&[data, xy].concat(), 0.05),
    };
    let mut canvas = Canvas::new(512, window);
    for p in data.chunks_exact(2) {
        canvas.dot(p[0], p[1], 1.2, [170, 170, 170], 0.4);
    }
    for p in xy.chunks_exact(2) {
        canvas.dot(p[0], p[1], 1.2, PALETTE[0], 0.5);
    }
    if let Some(m) = modes {
        let v = (m.sigma * m.sigma).max(1e-12);
        for c in &m.centres {
            canvas.ellipse([c[0], c[1]], [v, 0.0, v], 3.0, [0, 0, 0]);
        }
    }
    canvas.into_picture_with_axes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RGB of pixel (x, y); the predictive pictures' tests use it too.
    pub(crate) fn pixel(p: &Picture, x: usize, y: usize) -> [u8; 3] {
        let i = (y * p.width + x) * 3;
        [p.data[i], p.data[i + 1], p.data[i + 2]]
    }

    #[test]
    fn samples_are_drawn_over_the_data_in_gray() {
        let data = [0.0, 0.0];
        let samples = [1.0, 1.0, -1.0, -1.0];
        let p = samples_over_modes(&samples, None, &data);
        // The window covers both; the data point is at the centre of the 512-px plot area.
        let (left, top) = (p.width - 10 - 512, 10);
        let centre = pixel(&p, left + 256, top + 256);
        assert!(
            centre[0] == centre[1] && centre[1] == centre[2] && centre[0] < 255,
            "{centre:?}"
        );
    }

    #[test]
    fn ticks_are_round_numbers_inside_the_window() {
        let t = ticks(-1.05, 1.05);
        let values: Vec<&str> = t.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(values, ["-1.0", "-0.5", "0", "0.5", "1.0"]);
        let t = ticks(0.0, 28.0);
        assert_eq!(
            t.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
            [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]
        );
        assert!(ticks(1.0, 1.0).is_empty());
    }

    #[test]
    fn axes_frame_the_plot_and_label_its_ticks() {
        let mut c = Canvas::new(100, [-1.0, 1.0, -1.0, 1.0]);
        c.dot(0.0, 0.0, 2.0, [255, 0, 0], 1.0);
        let p = c.into_picture_with_axes();
        assert!(p.width > 100 && p.height > 100);
        // The red dot is still at the centre of the plot area, which is framed in dark gray.
        let (left, top) = (p.width - 10 - 100, 10);
        assert_eq!(pixel(&p, left + 50, top + 50), [255, 0, 0]);
        assert_eq!(pixel(&p, left - 1, top + 30), [40, 40, 40]);
        // The tick at x = 0 has ink below the frame, and its label under it.
        assert_eq!(pixel(&p, left + 50, top + 102), [40, 40, 40]);
        let label_ink = (top + 107..p.height)
            .flat_map(|y| (left + 40..left + 60).map(move |x| (x, y)))
            .filter(|&(x, y)| pixel(&p, x, y) == [40, 40, 40])
            .count();
        assert!(label_ink > 5, "{label_ink}");
    }

    #[test]
    fn bounds_are_square_and_contain_the_points() {
        let b = bounds_of(&[0.0, 0.0, 4.0, 1.0], 0.0);
        assert_eq!(b, [0.0, 4.0, -1.5, 2.5]);
    }

    #[test]
    fn dot_lands_where_the_window_maps_it() {
        let mut c = Canvas::new(101, [0.0, 10.0, 0.0, 10.0]);
        c.dot(2.0, 8.0, 0.0, [255, 0, 0], 1.0); // x = 20 px from the left, y = 20 px from the top
        let p = c.into_picture();
        assert_eq!(pixel(&p, 20, 20), [255, 0, 0]);
        assert_eq!(pixel(&p, 21, 20), [255, 255, 255]);
    }

    #[test]
    fn ellipse_of_a_rotated_covariance_passes_through_its_axis_ends() {
        // cov with eigenvalues 4 (along (1,1)/sqrt2) and 1 (along (1,-1)/sqrt2).
        let cov = [2.5, 1.5, 2.5];
        let mut c = Canvas::new(201, [-5.0, 5.0, -5.0, 5.0]);
        c.ellipse([0.0, 0.0], cov, 1.0, [0, 0, 255]);
        let p = c.into_picture();
        // major axis end: 2 * (1,1)/sqrt2 = (1.414, 1.414) -> pixel (128.3, 71.7)
        let (x, y) = (128usize, 72usize);
        let hit =
            (0..3).any(|d| pixel(&p, x + d - 1, y)[2] == 255 && pixel(&p, x + d - 1, y)[0] == 0);
        assert!(hit, "no ellipse pixel near ({x}, {y})");
        // the centre gets a dot; a point well inside the ellipse stays white
        assert_eq!(pixel(&p, 100, 100), [0, 0, 255]);
        assert_eq!(pixel(&p, 110, 100), [255, 255, 255]);
    }
}
