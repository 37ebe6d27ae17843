//! The 2-D latent picture: test-set codes coloured by class over the prior's density.

use crate::prior::Prior;
use gen_core::picture::Picture;
use gen_core::plot::{bounds_of, color, Canvas, PALETTE};

/// Codes (interleaved `(z1, z2)`) as dots coloured by `labels` (one colour without them),
/// over the prior's density shaded in gray. The window covers the prior's components
/// (3 sigma around each mean) and the codes, so codes that miss the prior show as such.
pub fn codes_over_prior(codes: &[f64], labels: Option<&[u32]>, prior: &Prior) -> Picture {
    let s = 3.0 * prior.sigma();
    let mut extent: Vec<f64> = prior
        .means()
        .iter()
        .flat_map(|m| [m[0] - s, m[1] - s, m[0] + s, m[1] + s])
        .collect();
    extent.extend_from_slice(codes);
    let mut canvas = Canvas::new(512, bounds_of(&extent, 0.05));
    canvas.shade(|x, y| prior.density_2d(x, y), [90, 90, 90], 0.45);
    for (i, p) in codes.chunks_exact(2).enumerate() {
        let c = labels.map_or(PALETTE[0], |l| color(l[i] as usize));
        canvas.dot(p[0], p[1], 1.5, c, 0.7);
    }
    canvas.into_picture()
}
