//! Pictures of a fit: for 2-D data the points coloured by their most likely component
//! with each component's 2-sigma ellipse; for images the component means as a grid.

use crate::mixture::Mixture;
use candle_core::{Device, Tensor};
use gen_core::fit::Points;
use gen_core::model::{DataInfo, DataKind};
use gen_core::Result;
use gen_plot::picture::Picture;
use gen_plot::plot::{bounds_of, color, Canvas};

/// At most this many points are drawn (evenly spaced through the data).
const MAX_POINTS: usize = 5000;

pub fn pictures(mix: &Mixture, info: &DataInfo, train: &Points) -> Result<Vec<(String, Picture)>> {
    let mut out = Vec::new();
    if train.dim == 2 {
        out.push(("fit".to_string(), scatter(mix, train)));
    }
    if let DataKind::Image {
        channels: 1,
        height,
        width,
    } = info.kind
    {
        let means: Vec<f32> = mix.means.iter().map(|&v| v as f32).collect();
        let t = Tensor::from_vec(means, (mix.k, height, width), &Device::Cpu)?;
        out.push(("means".to_string(), Picture::grid(&t, mix.k.min(10))?));
    }
    Ok(out)
}

fn scatter(mix: &Mixture, train: &Points) -> Picture {
    let step = train.n.div_ceil(MAX_POINTS).max(1);
    let xy: Vec<f64> = (0..train.n)
        .step_by(step)
        .flat_map(|i| train.row(i).to_vec())
        .collect();
    let mut window_pts = xy.clone();
    for j in 0..mix.k {
        window_pts.extend_from_slice(&mix.means[j * 2..j * 2 + 2]);
    }
    let mut canvas = Canvas::new(512, bounds_of(&window_pts, 0.1));
    let rows = xy.len() / 2;
    let mut lp = vec![0.0; rows * mix.k];
    mix.log_joint(&xy, None, rows, &mut lp, &mut Vec::new());
    for (p, row) in xy.chunks_exact(2).zip(lp.chunks_exact(mix.k)) {
        let best = (0..mix.k)
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .unwrap_or(0);
        canvas.dot(p[0], p[1], 1.2, color(best), 0.35);
    }
    for j in 0..mix.k {
        let m = [mix.means[j * 2], mix.means[j * 2 + 1]];
        canvas.ellipse(m, mix.cov_2x2(j), 2.0, color(j));
    }
    canvas.into_picture_with_axes()
}
