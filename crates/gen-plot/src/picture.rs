//! Images models hand to the trainer (sample grids, reconstructions), as raw 8-bit pixels.

use candle_core::{DType, Result, Tensor};

/// An 8-bit image, row-major, 1 (gray) or 3 (RGB) interleaved channels.
#[derive(Clone, Debug, PartialEq)]
pub struct Picture {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub data: Vec<u8>,
}

impl Picture {
    /// Inputs and their reconstructions (both `(N, C, H, W)`), 8 per row: each row of
    /// inputs is followed by the row of their reconstructions.
    pub fn reconstructions(inputs: &Tensor, outputs: &Tensor) -> Result<Picture> {
        let n = inputs.dim(0)?;
        let mut rows = vec![];
        for start in (0..n).step_by(8) {
            let len = 8.min(n - start);
            rows.push(inputs.narrow(0, start, len)?);
            rows.push(outputs.narrow(0, start, len)?);
        }
        Picture::grid(&Tensor::cat(&rows, 0)?, 8)
    }

    /// Tiles a batch of images `(N, C, H, W)` or `(N, H, W)`, values in [0, 1], into a
    /// grid `cols` wide with a 2-pixel border between tiles.
    pub fn grid(batch: &Tensor, cols: usize) -> Result<Picture> {
        let batch = match batch.rank() {
            3 => batch.unsqueeze(1)?,
            4 => batch.clone(),
            r => candle_core::bail!("image grid: expected a batch of rank 3 or 4, got rank {r}"),
        };
        let (n, c, h, w) = batch.dims4()?;
        if c != 1 && c != 3 {
            candle_core::bail!("image grid: expected 1 or 3 channels, got {c}");
        }
        let v: Vec<f32> = batch.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        let cols = cols.clamp(1, n.max(1));
        let rows = n.div_ceil(cols);
        let pad = 2;
        let (gw, gh) = (cols * (w + pad) + pad, rows * (h + pad) + pad);
        let mut data = vec![0u8; gw * gh * c];
        for i in 0..n {
            let (r0, c0) = (pad + (i / cols) * (h + pad), pad + (i % cols) * (w + pad));
            for ch in 0..c {
                for y in 0..h {
                    for x in 0..w {
                        let val = v[((i * c + ch) * h + y) * w + x];
                        let px = ((r0 + y) * gw + c0 + x) * c + ch;
                        data[px] = (val.clamp(0.0, 1.0) * 255.0).round() as u8;
                    }
                }
            }
        }
        Ok(Picture {
            width: gw,
            height: gh,
            channels: c,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn grid_layout_and_pixel_values() {
        // 3 images of 2x3, value i/2 each, in a grid 2 wide -> 2 rows.
        let t = Tensor::from_vec(
            (0..3)
                .flat_map(|i| vec![i as f32 / 2.0; 6])
                .collect::<Vec<_>>(),
            (3, 2, 3),
            &Device::Cpu,
        )
        .unwrap();
        let p = Picture::grid(&t, 2).unwrap();
        assert_eq!((p.width, p.height, p.channels), (2 * 5 + 2, 2 * 4 + 2, 1));
        assert_eq!(p.data[2 * p.width + 2], 0); // first tile
        assert_eq!(p.data[2 * p.width + 2 + 5], 128); // second tile: 0.5 -> 128
        assert_eq!(p.data[6 * p.width + 2], 255); // third tile, second row
        assert_eq!(p.data[0], 0); // border
    }
}
