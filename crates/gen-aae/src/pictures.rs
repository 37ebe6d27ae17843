//! The 2-D latent picture: test-set codes coloured by class over the prior's density.

use crate::prior::Prior;
use gen_plot::picture::Picture;

/// Codes (interleaved `(z1, z2)`) coloured by `labels` over the prior's density; the
/// window covers the prior's components (3 sigma around each mean) and the codes.
pub fn codes_over_prior(codes: &[f64], labels: Option<&[u32]>, prior: &Prior) -> Picture {
    let s = 3.0 * prior.sigma();
    let extent: Vec<f64> = prior
        .means()
        .iter()
        .flat_map(|m| [m[0] - s, m[1] - s, m[0] + s, m[1] + s])
        .collect();
    gen_plot::plot::codes_over_density(codes, labels, &extent, |x, y| prior.density_2d(x, y))
}
