//! The pictures every model gets from the contract alone: samples from
//! [`Model::sample`] and reconstructions through [`Model::encode`] and [`Model::decode`].
//! A family draws only its extras ([`Model::pictures`]), or its own version of one of
//! these under the same name (a row per class, a row per mixture component).

use crate::model::{Batch, DataInfo, Model};
use crate::{Result, Rng};
use candle_core::{DType, Tensor};
use gen_plot::picture::Picture;

/// Samples drawn for the `samples` grid, 8 a row.
pub const SAMPLES: usize = 64;
/// Test inputs shown in `reconstructions`, each row of 8 over its reconstructions.
pub const RECONSTRUCTIONS: usize = 32;

/// `samples` and `reconstructions` for image data, leaving out the names in `skip` and
/// what the model cannot draw (no sampler, no encoder, a conditional one).
pub fn standard(
    model: &dyn Model,
    data: &DataInfo,
    batch: &Batch,
    skip: &[&str],
    rng: &mut Rng,
) -> Result<Vec<(String, Picture)>> {
    let mut out = vec![];
    if !data.is_image() {
        return Ok(out);
    }
    if !skip.contains(&"samples") {
        if let Some(x) = model.sample(SAMPLES, rng)? {
            if let Some(images) = data.as_images(&x)? {
                out.push(("samples".to_string(), Picture::grid(&images, 8)?));
            }
        }
    }
    let n = batch.size().min(RECONSTRUCTIONS);
    if !skip.contains(&"reconstructions") && n > 0 {
        if let Some(p) = reconstructions(model, data, &batch.x.narrow(0, 0, n)?)? {
            out.push(("reconstructions".to_string(), p));
        }
    }
    Ok(out)
}

/// Inputs `x` (rows in data space) over their reconstructions `decode(encode(x))`, or
/// `None` if the model cannot encode or decode alone, or the data are not images.
pub fn reconstructions(model: &dyn Model, data: &DataInfo, x: &Tensor) -> Result<Option<Picture>> {
    let Some(z) = model.encode(x)? else {
        return Ok(None);
    };
    let Some(back) = model.decode(&z)? else {
        return Ok(None);
    };
    let (Some(xi), Some(ri)) = (data.as_images(x)?, data.as_images(&back)?) else {
        return Ok(None);
    };
    Ok(Some(Picture::reconstructions(&xi, &ri)?))
}

/// Lines of text sampled for the `samples` text, and test lines shown with their
/// reconstructions.
pub const TEXT_LINES: usize = 20;

/// For text data, `samples` (prior draws decoded) and `reconstructions` (test lines, each
/// with `decode(encode(x))` after an arrow) as text, one line per example; empty for
/// other data or what the model cannot draw.
pub fn texts(
    model: &dyn Model,
    data: &DataInfo,
    batch: &Batch,
    rng: &mut Rng,
) -> Result<Vec<(String, String)>> {
    let Some(vocab) = data.vocab() else {
        return Ok(vec![]);
    };
    let lines = |x: &Tensor| -> Result<Vec<String>> {
        let rows: Vec<Vec<f32>> = x.to_dtype(DType::F32)?.to_vec2()?;
        Ok(rows.iter().map(|r| vocab.decode_row(r)).collect())
    };
    let mut out = vec![];
    if let Some(x) = model.sample(TEXT_LINES, rng)? {
        out.push(("samples".to_string(), lines(&x)?.join("\n")));
    }
    let n = batch.size().min(TEXT_LINES);
    if n > 0 {
        let x = batch.x.narrow(0, 0, n)?;
        if let Some(z) = model.encode(&x)? {
            if let Some(back) = model.decode(&z)? {
                let pairs: Vec<String> = lines(&x)?
                    .iter()
                    .zip(lines(&back)?)
                    .map(|(a, b)| format!("{a} → {b}"))
                    .collect();
                out.push(("reconstructions".to_string(), pairs.join("\n")));
            }
        }
    }
    Ok(out)
}

/// A 2-D code map's points: the codes `(N, 2)` as `x0, y0, x1, ...` and the labels, if
/// any, as class numbers (the `codes` picture of the VAE and the AAE).
pub fn code_points(
    codes: &Tensor,
    labels: Option<&Tensor>,
) -> Result<(Vec<f64>, Option<Vec<u32>>)> {
    let points = codes.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
    let labels = labels
        .map(|l| l.to_dtype(DType::U32)?.to_vec1())
        .transpose()?;
    Ok((points, labels))
}
