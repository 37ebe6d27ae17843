//! The 2-D latent's pictures: the test codes over the prior, and the decoded manifold.

use crate::model::Vae;
use candle_core::{Device, Tensor};
use gen_core::gallery;
use gen_core::model::Batch;
use gen_core::Result;
use gen_plot::picture::Picture;

/// Codes per side of the decoded manifold picture.
const MANIFOLD_SIDE: usize = 20;

impl Vae {
    /// For a 2-D latent: `codes` (the batch's posterior means coloured by class over the
    /// prior N(0, I)) and, for images, `manifold` (decoded means on a 20 x 20 grid of z
    /// spaced by the normal quantiles of (i + 0.5) / 20, so each cell holds equal prior
    /// mass).
    pub(crate) fn latent_pictures(&self, batch: &Batch) -> Result<Vec<(String, Picture)>> {
        let x = self.frame.input(batch)?;
        let (codes, labels) = gallery::code_points(&self.code_mean(&x)?, batch.labels.as_ref())?;
        let density = |a: f64, b: f64| (-(a * a + b * b) / 2.0).exp();
        let mut out = vec![(
            "codes".to_string(),
            gen_plot::plot::codes_over_density(
                &codes,
                labels.as_deref(),
                &[-3.0, -3.0, 3.0, 3.0],
                density,
            ),
        )];
        let q: Vec<f64> = (0..MANIFOLD_SIDE)
            .map(|i| gen_dist::dist::normal_quantile((i as f64 + 0.5) / MANIFOLD_SIDE as f64))
            .collect();
        // Rows from high z2 (top) to low, columns from low z1 to high, as on a plot.
        let grid: Vec<f64> = (0..MANIFOLD_SIDE)
            .flat_map(|r| {
                let z2 = q[MANIFOLD_SIDE - 1 - r];
                q.iter().flat_map(move |&z1| [z1, z2])
            })
            .collect();
        let grid = Tensor::from_vec(grid, (MANIFOLD_SIDE * MANIFOLD_SIDE, 2), &Device::Cpu)?;
        let z = self.frame.here(&grid)?;
        if let Some(images) = self.frame.data.as_images(&self.decode_mean(&z)?.detach())? {
            out.push((
                "manifold".to_string(),
                Picture::grid(&images, MANIFOLD_SIDE)?,
            ));
        }
        Ok(out)
    }
}
