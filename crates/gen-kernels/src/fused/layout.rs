//! Between the products' row layout `(B*P, C)` (a row per image position, as im2col and
//! gemm see it) and the images' `(B, C, P)`: a convolution's output with its per-channel
//! bias and activation in the same pass, and a transposed convolution's input. Both
//! directions hand whole images to each thread.

use super::data;
use super::linear::{act_grad, activate, column_sum};
use crate::fastmath::KernelMath;
use crate::Activation;
use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor, WithDType,
};

/// Images, channels, positions per channel (H*W); the image side's shape.
#[derive(Clone, Copy, Debug)]
struct Dims {
    b: usize,
    c: usize,
    h: usize,
    w: usize,
}

impl Dims {
    fn p(&self) -> usize {
        self.h * self.w
    }
    fn len(&self) -> usize {
        self.b * self.c * self.p()
    }
    fn image_shape(&self) -> Shape {
        Shape::from((self.b, self.c, self.h, self.w))
    }
    fn rows_shape(&self) -> Shape {
        Shape::from((self.b * self.p(), self.c))
    }
}

/// `out[b, c, p] = act(rows[b * P + p, c] + bias[c])`: each channel's plane gathered
/// (strided reads, contiguous writes), then biased and activated in a contiguous pass.
fn to_channels<T: WithDType + KernelMath>(
    rows: &[T],
    bias: Option<&[T]>,
    act: Activation,
    d: Dims,
) -> Vec<T> {
    let (c, p) = (d.c, d.p());
    let mut out = vec![T::zero(); d.len()];
    crate::spin::fill_rows(&mut out, c * p, d.len(), |first, part| {
        for (i, image) in part.chunks_exact_mut(c * p).enumerate() {
            let src = &rows[(first + i) * p * c..][..p * c];
            for (ch, plane) in image.chunks_exact_mut(p).enumerate() {
                for (pos, o) in plane.iter_mut().enumerate() {
                    *o = src[pos * c + ch];
                }
                if let Some(b) = bias {
                    plane.iter_mut().for_each(|v| *v += b[ch]);
                }
                activate(plane, act);
            }
        }
    });
    out
}

/// `rows[b * P + p, c] = x[b, c, p]`, times `act'` read from the output `y` when given
/// (the backward pass of [`to_channels`]); contiguous writes, strided reads.
fn to_rows<T: WithDType + KernelMath>(
    x: &[T],
    through: Option<(&[T], Activation)>,
    d: Dims,
) -> Vec<T> {
    let (c, p) = (d.c, d.p());
    let mut out = vec![T::zero(); d.len()];
    crate::spin::fill_rows(&mut out, c * p, d.len(), |first, part| {
        for (i, rows) in part.chunks_exact_mut(c * p).enumerate() {
            let at = (first + i) * c * p;
            let src = &x[at..at + c * p];
            match through {
                None => {
                    for (pos, row) in rows.chunks_exact_mut(c).enumerate() {
                        for (ch, o) in row.iter_mut().enumerate() {
                            *o = src[ch * p + pos];
                        }
                    }
                }
                Some((y, act)) => {
                    let y = &y[at..at + c * p];
                    for (pos, row) in rows.chunks_exact_mut(c).enumerate() {
                        for (ch, o) in row.iter_mut().enumerate() {
                            let k = ch * p + pos;
                            *o = src[k] * act_grad(act, y[k]);
                        }
                    }
                }
            }
        }
    });
    out
}

/// Rows and bias to images, with the activation.
struct ToChannels(Dims, Activation);
/// Rows to images, nothing else (the backward pass of [`ToRows`]).
struct ToChannelsPlain(Dims);
/// Images to rows.
struct ToRows(Dims);
/// The gradient of [`ToChannels`] with respect to its rows: `(grad, output)` to rows.
struct RowsGrad(Dims, Activation);

fn checked<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout, n: usize, op: &str) -> Result<&'a [T]> {
    let v = data::<T>(s, l, op)?;
    if v.len() != n {
        bail!("{op}: {} values where {n} were expected", v.len());
    }
    Ok(v)
}

fn to_channels_fwd<T: WithDType + KernelMath>(
    op: &ToChannels,
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
) -> Result<(CpuStorage, Shape)> {
    let ToChannels(d, act) = *op;
    let rows = checked::<T>(s1, l1, d.len(), "rows_to_channels")?;
    let bias = checked::<T>(s2, l2, d.c, "rows_to_channels bias")?;
    let out = to_channels(rows, Some(bias), act, d);
    Ok((T::to_cpu_storage_owned(out), d.image_shape()))
}

impl CustomOp2 for ToChannels {
    fn name(&self) -> &'static str {
        "rows_to_channels"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        by_dtype!(
            s1,
            "rows_to_channels",
            to_channels_fwd(self, (s1, l1), (s2, l2))
        )
    }
    fn bwd(
        &self,
        _rows: &Tensor,
        _bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let d_rows = grad
            .contiguous()?
            .apply_op2_no_bwd(res, &RowsGrad(self.0, self.1))?;
        let d_bias = column_sum(&d_rows)?;
        Ok((Some(d_rows), Some(d_bias)))
    }
}

fn rows_grad_fwd<T: WithDType + KernelMath>(
    op: &RowsGrad,
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
) -> Result<(CpuStorage, Shape)> {
    let RowsGrad(d, act) = *op;
    let g = checked::<T>(s1, l1, d.len(), "rows_grad")?;
    let y = checked::<T>(s2, l2, d.len(), "rows_grad output")?;
    Ok((
        T::to_cpu_storage_owned(to_rows(g, Some((y, act)), d)),
        d.rows_shape(),
    ))
}

impl CustomOp2 for RowsGrad {
    fn name(&self) -> &'static str {
        "rows_grad"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        by_dtype!(s1, "rows_grad", rows_grad_fwd(self, (s1, l1), (s2, l2)))
    }
}

fn plain_fwd<T: WithDType + KernelMath>(
    d: Dims,
    to_images: bool,
    s: &CpuStorage,
    l: &Layout,
) -> Result<(CpuStorage, Shape)> {
    let x = checked::<T>(s, l, d.len(), "channel layout")?;
    Ok(if to_images {
        let out = to_channels(x, None, Activation::Identity, d);
        (T::to_cpu_storage_owned(out), d.image_shape())
    } else {
        (T::to_cpu_storage_owned(to_rows(x, None, d)), d.rows_shape())
    })
}

impl CustomOp1 for ToChannelsPlain {
    fn name(&self) -> &'static str {
        "rows_to_channels_plain"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        by_dtype!(s, "rows_to_channels", plain_fwd(self.0, true, s, l))
    }
}

impl CustomOp1 for ToRows {
    fn name(&self) -> &'static str {
        "channels_to_rows"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        by_dtype!(s, "channels_to_rows", plain_fwd(self.0, false, s, l))
    }
    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(
            grad.contiguous()?
                .apply_op1_no_bwd(&ToChannelsPlain(self.0))?,
        ))
    }
}

/// `act(rows + bias)` laid out as images: `rows: (B*H*W, C)` (position-major, as a
/// convolution's product gives it), `bias: (C,)`, result `(B, C, H, W)`.
pub fn rows_to_channels(
    rows: &Tensor,
    bias: &Tensor,
    act: Activation,
    (b, h, w): (usize, usize, usize),
) -> Result<Tensor> {
    let c = bias.dim(0)?;
    rows.contiguous()?
        .apply_op2(&bias.contiguous()?, ToChannels(Dims { b, c, h, w }, act))
}

/// Images `(B, C, H, W)` as rows `(B*H*W, C)`.
pub fn channels_to_rows(x: &Tensor) -> Result<Tensor> {
    let (b, c, h, w) = x.dims4()?;
    x.contiguous()?.apply_op1(ToRows(Dims { b, c, h, w }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::testing::{check, var};
    use crate::testing::Rng;
    use candle_core::DType;

    /// Against candle's permute and broadcast ops, at a size that splits between threads.
    #[test]
    fn layouts_match_permutes() {
        let mut rng = Rng::new(4);
        for (b, c, h, w) in [(2, 3, 2, 5), (9, 16, 16, 16)] {
            for act in [
                Activation::Identity,
                Activation::LeakyRelu,
                Activation::Tanh,
            ] {
                let rows = var(&mut rng, (b * h * w, c), 1.0, DType::F64);
                let bias = var(&mut rng, c, 1.0, DType::F64);
                check(
                    DType::F64,
                    1e-12,
                    &format!("rows_to_channels {act:?}"),
                    &[rows, bias],
                    |t| rows_to_channels(&t[0], &t[1], act, (b, h, w)).unwrap(),
                    |t| {
                        let y = t[0].broadcast_add(&t[1]).unwrap();
                        let y = y
                            .reshape((b, h, w, c))
                            .unwrap()
                            .permute((0, 3, 1, 2))
                            .unwrap();
                        act.apply(&y).unwrap()
                    },
                );
            }
            let x = var(&mut rng, (b, c, h, w), 1.0, DType::F64);
            check(
                DType::F64,
                1e-12,
                "channels_to_rows",
                &[x],
                |t| channels_to_rows(&t[0]).unwrap(),
                |t| {
                    t[0].permute((0, 2, 3, 1))
                        .unwrap()
                        .reshape((b * h * w, c))
                        .unwrap()
                },
            );
        }
    }
}
