//! 2-D convolutions as matrix products: `im2col` gathers every receptive field into a
//! row, `col2im` scatter-adds rows back onto the image; the two are adjoint, so each is
//! the other's backward pass. A convolution is then `im2col(x) W^T` and a transposed
//! convolution `col2im(x W)`, both running on the fused gemm (candle's own CPU transposed
//! convolution, also used by its conv2d backward, is a direct loop many times slower).
//! With two threads the products split their rows, and im2col/col2im whole images.

use super::channels::channel_bias_act;
use super::data;
use super::layout::{channels_to_rows, rows_to_channels};
use super::linear::matmul;
use crate::Activation;
use candle_core::{bail, CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, WithDType};

/// The geometry shared by a pair: the image `(b, c, h, w)` side, the kernel size, the
/// stride and the padding; rows are indexed by `(b, oh, ow)`, columns by `(c, kh, kw)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Geometry {
    b: usize,
    c: usize,
    h: usize,
    w: usize,
    k: usize,
    stride: usize,
    pad: usize,
}

impl Geometry {
    fn out_hw(&self) -> (usize, usize) {
        (
            (self.h + 2 * self.pad - self.k) / self.stride + 1,
            (self.w + 2 * self.pad - self.k) / self.stride + 1,
        )
    }

    /// The same geometry for `b` images (a block of the batch).
    fn images(&self, b: usize) -> Geometry {
        Geometry { b, ..*self }
    }

    fn rows(&self) -> usize {
        let (oh, ow) = self.out_hw();
        self.b * oh * ow
    }

    fn cols(&self) -> usize {
        self.c * self.k * self.k
    }

    /// Calls `f(row * cols + col, image index, len)` for every run of `len` in-bounds
    /// pairs that are consecutive on both sides (a kernel row: `kw` and the image's `x`
    /// advance together), so that the callers copy or add whole runs.
    fn each_run(&self, mut f: impl FnMut(usize, usize, usize)) {
        let (oh, ow) = self.out_hw();
        let (k, s, p) = (self.k as isize, self.stride as isize, self.pad as isize);
        let (w, cols) = (self.w as isize, self.cols());
        for b in 0..self.b {
            for y in 0..oh {
                for x in 0..ow {
                    let row = (b * oh + y) * ow + x;
                    // The kernel columns whose image column is inside [0, w).
                    let x0 = x as isize * s - p;
                    let (kw_lo, kw_hi) = ((-x0).max(0), (w - x0).min(k));
                    if kw_lo >= kw_hi {
                        continue;
                    }
                    let len = (kw_hi - kw_lo) as usize;
                    for c in 0..self.c {
                        let plane = (b * self.c + c) * self.h;
                        for kh in 0..k {
                            let iy = y as isize * s - p + kh;
                            if iy < 0 || iy >= self.h as isize {
                                continue;
                            }
                            let col = (c * self.k + kh as usize) * self.k + kw_lo as usize;
                            f(
                                row * cols + col,
                                (plane + iy as usize) * self.w + (x0 + kw_lo) as usize,
                                len,
                            );
                        }
                    }
                }
            }
        }
    }
}

struct Im2Col(Geometry);
struct Col2Im(Geometry);

fn im2col_fwd<T: WithDType>(
    g: Geometry,
    s: &CpuStorage,
    l: &Layout,
) -> Result<(CpuStorage, Shape)> {
    let x = data::<T>(s, l, "im2col")?;
    if x.len() != g.b * g.c * g.h * g.w {
        bail!("im2col: input has {} values for {g:?}", x.len());
    }
    let mut out = vec![T::zero(); g.rows() * g.cols()];
    let (per_image_in, per_image_out) = (g.c * g.h * g.w, g.rows() / g.b.max(1) * g.cols());
    // Whole images to each thread: their rows are disjoint blocks of the output.
    crate::spin::fill_rows(
        &mut out,
        per_image_out,
        g.rows() * g.cols(),
        |first, part| {
            let sub = g.images(part.len() / per_image_out);
            let x = &x[first * per_image_in..];
            sub.each_run(|o, i, n| part[o..o + n].copy_from_slice(&x[i..i + n]));
        },
    );
    Ok((
        T::to_cpu_storage_owned(out),
        Shape::from((g.rows(), g.cols())),
    ))
}

fn col2im_fwd<T: WithDType>(
    g: Geometry,
    s: &CpuStorage,
    l: &Layout,
) -> Result<(CpuStorage, Shape)> {
    let cols = data::<T>(s, l, "col2im")?;
    if cols.len() != g.rows() * g.cols() {
        bail!("col2im: input has {} values for {g:?}", cols.len());
    }
    let mut out = vec![T::zero(); g.b * g.c * g.h * g.w];
    let (per_image_in, per_image_out) = (g.rows() / g.b.max(1) * g.cols(), g.c * g.h * g.w);
    // Whole images to each thread: an image's rows add onto that image only.
    crate::spin::fill_rows(
        &mut out,
        per_image_out,
        g.rows() * g.cols(),
        |first, part| {
            let sub = g.images(part.len() / per_image_out);
            let cols = &cols[first * per_image_in..];
            sub.each_run(|o, i, n| {
                for (d, &v) in part[i..i + n].iter_mut().zip(&cols[o..o + n]) {
                    *d += v;
                }
            });
        },
    );
    Ok((
        T::to_cpu_storage_owned(out),
        Shape::from((g.b, g.c, g.h, g.w)),
    ))
}

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "im2col"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        by_dtype!(s, "im2col", im2col_fwd(self.0, s, l))
    }
    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&Col2Im(self.0))?))
    }
}

impl CustomOp1 for Col2Im {
    fn name(&self) -> &'static str {
        "col2im"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        by_dtype!(s, "col2im", col2im_fwd(self.0, s, l))
    }
    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&Im2Col(self.0))?))
    }
}

/// A convolution's product `im2col(x) W^T`: rows `(B*oh*ow, Co)`, and `(B, oh, ow)`.
fn conv2d_rows(
    x: &Tensor,
    w: &Tensor,
    stride: usize,
    pad: usize,
) -> Result<(Tensor, (usize, usize, usize))> {
    let (b, c, h, wd) = x.dims4()?;
    let (co, ci, k, k2) = w.dims4()?;
    if ci != c || k != k2 {
        bail!("conv2d: input has {c} channels, kernel {:?}", w.dims());
    }
    let g = Geometry {
        b,
        c,
        h,
        w: wd,
        k,
        stride,
        pad,
    };
    let (oh, ow) = g.out_hw();
    let cols = x.contiguous()?.apply_op1(Im2Col(g))?; // (B*oh*ow, C*k*k)
    let rows = matmul(&cols, &w.reshape((co, c * k * k))?, false, true)?;
    Ok((rows, (b, oh, ow)))
}

/// `conv2d(x, w)` for `x: (B, C, H, W)`, `w: (Co, C, k, k)`, one group, no dilation;
/// the same result as candle's `conv2d`.
pub fn conv2d(x: &Tensor, w: &Tensor, stride: usize, pad: usize) -> Result<Tensor> {
    let (rows, (b, oh, ow)) = conv2d_rows(x, w, stride, pad)?;
    rows.reshape((b, oh, ow, w.dim(0)?))?
        .permute((0, 3, 1, 2))?
        .contiguous()
}

/// `act(conv2d(x, w) + bias)` as [`conv2d`], with the bias and the activation applied
/// while the product's rows are laid out as images (one pass each way, both threads).
pub fn conv2d_bias_act(
    x: &Tensor,
    w: &Tensor,
    bias: &Tensor,
    (stride, pad): (usize, usize),
    act: Activation,
) -> Result<Tensor> {
    let (rows, dims) = conv2d_rows(x, w, stride, pad)?;
    rows_to_channels(&rows, bias, act, dims)
}

/// `conv_transpose2d(x, w)` for `x: (B, C, H, W)`, `w: (C, Co, k, k)` (PyTorch's layout),
/// no output padding or dilation; the same result as candle's `conv_transpose2d`.
pub fn conv_transpose2d(x: &Tensor, w: &Tensor, stride: usize, pad: usize) -> Result<Tensor> {
    let (b, c, h, wd) = x.dims4()?;
    let (ci, co, k, k2) = w.dims4()?;
    if ci != c || k != k2 {
        bail!(
            "conv_transpose2d: input has {c} channels, kernel {:?}",
            w.dims()
        );
    }
    let (oh, ow) = (
        (h - 1) * stride + k - 2 * pad,
        (wd - 1) * stride + k - 2 * pad,
    );
    // The input as rows (B*H*W, C) times the kernel: (B*H*W, Co*k*k), scattered back.
    let cols = matmul(
        &channels_to_rows(x)?,
        &w.reshape((c, co * k * k))?,
        false,
        false,
    )?;
    let g = Geometry {
        b,
        c: co,
        h: oh,
        w: ow,
        k,
        stride,
        pad,
    };
    debug_assert_eq!(g.out_hw(), (h, wd));
    cols.apply_op1(Col2Im(g))
}

/// `act(conv_transpose2d(x, w) + bias)` as [`conv_transpose2d`], the bias and the
/// activation in one pass each way (both threads).
pub fn conv_transpose2d_bias_act(
    x: &Tensor,
    w: &Tensor,
    bias: &Tensor,
    (stride, pad): (usize, usize),
    act: Activation,
) -> Result<Tensor> {
    channel_bias_act(&conv_transpose2d(x, w, stride, pad)?, bias, act)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::testing::{check, var};
    use crate::testing::Rng;
    use candle_core::DType;

    /// Values and gradients (input and kernel) against candle's own convolutions.
    #[test]
    fn convolutions_match_candle() {
        let mut rng = Rng::new(1);
        // (candle's own conv2d backward needs square inputs that the stride divides evenly)
        // The last case is large enough for im2col/col2im to split the batch between threads.
        for (batch, stride, pad, k, size) in [
            (2, 2, 1, 4, 8),
            (2, 1, 1, 3, 6),
            (2, 2, 0, 3, 7),
            (17, 2, 1, 4, 16),
        ] {
            let x = var(&mut rng, (batch, 3, size, size), 1.0, DType::F64);
            let w = var(&mut rng, (5, 3, k, k), 1.0, DType::F64);
            check(
                DType::F64,
                1e-12,
                "conv2d",
                &[x.clone(), w.clone()],
                |t| conv2d(&t[0], &t[1], stride, pad).unwrap(),
                |t| t[0].conv2d(&t[1], pad, stride, 1, 1).unwrap(),
            );
            let bias = var(&mut rng, 5, 1.0, DType::F64);
            let act = Activation::LeakyRelu;
            check(
                DType::F64,
                1e-12,
                "conv2d_bias_act",
                &[x.clone(), w.clone(), bias],
                |t| conv2d_bias_act(&t[0], &t[1], &t[2], (stride, pad), act).unwrap(),
                |t| {
                    let y = t[0].conv2d(&t[1], pad, stride, 1, 1).unwrap();
                    act.apply(
                        &y.broadcast_add(&t[2].reshape((1, 5, 1, 1)).unwrap())
                            .unwrap(),
                    )
                    .unwrap()
                },
            );
            let wt = var(&mut rng, (3, 4, k, k), 1.0, DType::F64);
            let bias = var(&mut rng, 4, 1.0, DType::F64);
            check(
                DType::F64,
                1e-12,
                "conv_transpose2d_bias_act",
                &[x.clone(), wt.clone(), bias],
                |t| conv_transpose2d_bias_act(&t[0], &t[1], &t[2], (stride, pad), act).unwrap(),
                |t| {
                    let y = t[0].conv_transpose2d(&t[1], pad, 0, stride, 1).unwrap();
                    act.apply(
                        &y.broadcast_add(&t[2].reshape((1, 4, 1, 1)).unwrap())
                            .unwrap(),
                    )
                    .unwrap()
                },
            );
            check(
                DType::F64,
                1e-12,
                "conv_transpose2d",
                &[x, wt],
                |t| conv_transpose2d(&t[0], &t[1], stride, pad).unwrap(),
                |t| t[0].conv_transpose2d(&t[1], pad, 0, stride, 1).unwrap(),
            );
        }
    }
}
