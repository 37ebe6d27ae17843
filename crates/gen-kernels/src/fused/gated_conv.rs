//! The gated 1-D convolution of Su's poem VAE (a GCNN layer, Dauphin et al. 2017) as one
//! op: `y = a * sigmoid(g) (+ x)` where `[a, g] = im2col_k(x) W + b`, over `(B, L, C)`
//! (positions, then channels), same padding, odd `k`.
//!
//! Composed from candle's ops the layer is a pad, `k` narrows, a cat, the product, two
//! narrows, a sigmoid, a product and the residual sum forward (each an allocation and a
//! pass, all on one thread) and about twice that backward. Here each pass splits the batch
//! between the two threads, and the forward pass keeps `[a, g]` for the backward.

use super::data;
use crate::fastmath::KernelMath;
use crate::tile::{mm, View};
use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, WithDType};
use std::sync::Mutex;

/// `b` sequences of `l` positions, `c` channels, kernel `k`.
#[derive(Clone, Copy)]
struct Dims {
    b: usize,
    l: usize,
    c: usize,
    k: usize,
}

impl Dims {
    /// The width of an im2col row: `k` positions' channels side by side.
    fn width(&self) -> usize {
        self.k * self.c
    }
}

struct GatedConv {
    k: usize,
    residual: bool,
    /// The forward pass's `[a, g]` (`B L x 2C`), taken by the backward pass.
    pre: Mutex<Option<Tensor>>,
}

/// The examples `n0..n1` in two halves for the two threads (one part for one example).
fn halves(b: usize) -> Vec<(usize, usize)> {
    match crate::spin::two_threads() && b >= 2 {
        true => vec![(0, b / 2), (b / 2, b)],
        false => vec![(0, b)],
    }
}

/// The im2col rows of examples `n0..n1`: row `(n, t)` holds `x[n, t + j - k/2, :]` for
/// `j` in `0..k` side by side, zeros past either end.
fn im2col<T: WithDType>(x: &[T], d: Dims, (n0, n1): (usize, usize)) -> Vec<T> {
    let (l, c, half) = (d.l, d.c, d.k / 2);
    let mut cols = vec![T::zero(); (n1 - n0) * l * d.width()];
    for (i, row) in cols.chunks_mut(d.width()).enumerate() {
        let (n, t) = (n0 + i / l, i % l);
        for j in 0..d.k {
            // Position t + j - half, written so that it never goes below zero.
            if t + j >= half && t + j - half < l {
                let src = (n * l + t + j - half) * c;
                row[j * c..(j + 1) * c].copy_from_slice(&x[src..src + c]);
            }
        }
    }
    cols
}

/// `[a, g] = cols W + b` for im2col rows `cols`.
fn product<T: WithDType + 'static>(cols: &[T], w: &[T], bias: &[T], d: Dims) -> Vec<T> {
    let rows = cols.len() / d.width();
    let mut pre = Vec::with_capacity(rows * 2 * d.c);
    for _ in 0..rows {
        pre.extend_from_slice(bias);
    }
    let (a, b) = (View::new(cols, d.width()), View::new(w, 2 * d.c));
    mm(&mut pre, 2 * d.c, a, b, (rows, d.width(), 2 * d.c), true);
    pre
}

/// The sizes of `x` `(B, L, C)`, `W` `(k C, 2C)` and `b` `(2C)`, checked against each other.
fn dims(lx: &Layout, lw: &Layout, lb: &Layout, k: usize) -> Result<Dims> {
    let (b, l, c) = lx.shape().dims3()?;
    let d = Dims { b, l, c, k };
    if lw.shape().dims2()? != (d.width(), 2 * c) || lb.shape().elem_count() != 2 * c {
        bail!(
            "gated_conv1d: x {:?}, kernel {k}: weight {:?} should be ({}, {}), bias {:?} ({})",
            lx.shape(),
            lw.shape(),
            d.width(),
            2 * c,
            lb.shape(),
            2 * c
        );
    }
    Ok(d)
}

/// The layer's output, `[a, g]` left in `op` for the backward pass.
fn forward<T: WithDType + KernelMath + 'static>(
    op: &GatedConv,
    (x, lx): (&CpuStorage, &Layout),
    (w, lw): (&CpuStorage, &Layout),
    (b, lb): (&CpuStorage, &Layout),
) -> Result<(CpuStorage, Shape)> {
    let d = dims(lx, lw, lb, op.k)?;
    let (x, w, bias) = (
        data::<T>(x, lx, "gated_conv1d")?,
        data::<T>(w, lw, "gated_conv1d")?,
        data::<T>(b, lb, "gated_conv1d")?,
    );
    crate::flops::add_gemm(d.b * d.l, 2 * d.c, d.width());
    let c = d.c;
    let parts = crate::spin::each_part(&halves(d.b), |&(n0, n1)| {
        let pre = product(&im2col(x, d, (n0, n1)), w, bias, d);
        let xs = &x[n0 * d.l * c..n1 * d.l * c];
        let mut y = vec![T::zero(); xs.len()];
        for ((yr, pr), xr) in y.chunks_mut(c).zip(pre.chunks(2 * c)).zip(xs.chunks(c)) {
            for o in 0..c {
                let skip = if op.residual { xr[o] } else { T::zero() };
                yr[o] = pr[o] * T::sigmoid(pr[c + o]) + skip;
            }
        }
        (pre, y)
    });
    let (mut pre, mut y) = (Vec::new(), Vec::new());
    for (p, part) in parts {
        pre.extend(p);
        y.extend(part);
    }
    let pre = Tensor::from_vec(pre, (d.b * d.l, 2 * c), &candle_core::Device::Cpu)?;
    *op.pre.lock().unwrap_or_else(|e| e.into_inner()) = Some(pre);
    Ok((T::to_cpu_storage_owned(y), Shape::from((d.b, d.l, c))))
}

/// One part's gradients: `dx` for its examples, its sums into `dW` and `db`.
struct PartGrads<T> {
    dx: Vec<T>,
    dw: Vec<T>,
    db: Vec<T>,
}

/// The three gradients from `dy`: `d[a, g]` through the gate, then `dW = cols^T d[a, g]`,
/// `db = colsum d[a, g]`, and `dx` the im2col rows' gradient `d[a, g] W^T` folded back
/// onto the positions they were copied from (plus `dy` through the residual).
fn backward<T: WithDType + KernelMath + 'static>(
    op: &GatedConv,
    (x, w, b): (&Tensor, &Tensor, &Tensor),
    grad: &Tensor,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (bn, l, c) = x.dims3()?;
    let d = Dims {
        b: bn,
        l,
        c,
        k: op.k,
    };
    let vec = |t: &Tensor| -> Result<Vec<T>> { t.flatten_all()?.to_vec1::<T>() };
    let (xv, wv, dy) = (vec(x)?, vec(w)?, vec(grad)?);
    let stashed = op.pre.lock().unwrap_or_else(|e| e.into_inner()).take();
    let pre = match stashed {
        Some(p) => vec(&p)?,
        None => product(&im2col(&xv, d, (0, bn)), &wv, &vec(b)?, d),
    };
    crate::flops::add_gemm(d.width(), 2 * c, bn * l);
    crate::flops::add_gemm(bn * l, d.width(), 2 * c);
    let (kc, half) = (d.width(), op.k / 2);
    let parts = crate::spin::each_part(&halves(bn), |&(n0, n1)| {
        let (r0, r1) = (n0 * l, n1 * l);
        let mut dpre = pre[r0 * 2 * c..r1 * 2 * c].to_vec();
        for (row, dyr) in dpre.chunks_mut(2 * c).zip(dy[r0 * c..r1 * c].chunks(c)) {
            for o in 0..c {
                let (a, s) = (row[o], T::sigmoid(row[c + o]));
                row[o] = dyr[o] * s;
                row[c + o] = dyr[o] * a * s * (T::one() - s);
            }
        }
        let cols = im2col(&xv, d, (n0, n1));
        let rows = r1 - r0;
        let dp = View::new(&dpre, 2 * c);
        let mut out = PartGrads {
            dx: match op.residual {
                true => dy[r0 * c..r1 * c].to_vec(),
                false => vec![T::zero(); rows * c],
            },
            dw: vec![T::zero(); kc * 2 * c],
            db: vec![T::zero(); 2 * c],
        };
        mm(
            &mut out.dw,
            2 * c,
            View::new(&cols, kc).t(),
            dp,
            (kc, rows, 2 * c),
            false,
        );
        for row in dpre.chunks(2 * c) {
            out.db.iter_mut().zip(row).for_each(|(acc, &v)| *acc += v);
        }
        let mut dcols = vec![T::zero(); rows * kc];
        let wt = View::new(&wv, 2 * c).t();
        mm(&mut dcols, kc, dp, wt, (rows, 2 * c, kc), false);
        for (i, row) in dcols.chunks(kc).enumerate() {
            let (n, t) = (i / l, i % l);
            for j in 0..op.k {
                if t + j >= half && t + j - half < l {
                    let dst = (n * l + t + j - half) * c;
                    let src = &row[j * c..(j + 1) * c];
                    out.dx[dst..dst + c]
                        .iter_mut()
                        .zip(src)
                        .for_each(|(a, &v)| *a += v);
                }
            }
        }
        out
    });
    let mut parts = parts.into_iter();
    let mut all = parts.next().expect("one part at least");
    for p in parts {
        all.dx.extend(p.dx);
        all.dw.iter_mut().zip(&p.dw).for_each(|(a, &v)| *a += v);
        all.db.iter_mut().zip(&p.db).for_each(|(a, &v)| *a += v);
    }
    let device = x.device();
    Ok((
        Tensor::from_vec(all.dx, (bn, l, c), device)?,
        Tensor::from_vec(all.dw, (kc, 2 * c), device)?,
        Tensor::from_vec(all.db, 2 * c, device)?,
    ))
}

impl CustomOp3 for GatedConv {
    fn name(&self) -> &'static str {
        "gated_conv1d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        by_dtype!(
            s1,
            "gated_conv1d",
            forward(self, (s1, l1), (s2, l2), (s3, l3))
        )
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, db) = match x.dtype() {
            candle_core::DType::F32 => backward::<f32>(self, (x, w, b), grad)?,
            candle_core::DType::F64 => backward::<f64>(self, (x, w, b), grad)?,
            d => bail!("gated_conv1d: {d:?} is not fused"),
        };
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// `a * sigmoid(g) (+ x)` with `[a, g]` the same-padded convolution of `x` `(B, L, C)` by
/// kernel `k` (odd) as the im2col product with `w` `(k C, 2C)` (row `j C + c`: input
/// channel `c` at offset `j - k/2`) plus `b` `(2C)`; `residual` adds `x`.
pub fn gated_conv1d(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    k: usize,
    residual: bool,
) -> Result<Tensor> {
    if k.is_multiple_of(2) {
        bail!("gated_conv1d: a same-padded convolution needs an odd kernel, got {k}");
    }
    let op = GatedConv {
        k,
        residual,
        pre: Mutex::new(None),
    };
    x.contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, op)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check, var};
    use super::*;
    use crate::testing::Rng;
    use candle_core::DType;

    /// Against candle's composition (pad, shifted copies side by side, product, gate,
    /// residual): values and gradients, odd batches (unequal halves), kernels 3 and 5, with
    /// and without the residual, sequences shorter than the kernel.
    #[test]
    fn matches_the_composition_values_and_gradients() {
        for (dtype, tol) in [(DType::F64, 1e-10), (DType::F32, 1e-4)] {
            for (b, l, c, k, residual) in
                [(5, 7, 4, 3, true), (4, 6, 3, 5, false), (3, 2, 2, 5, true)]
            {
                let mut rng = Rng::new(21 + b as u64);
                let x = var(&mut rng, (b, l, c), 1.0, dtype);
                let w = var(&mut rng, (k * c, 2 * c), 0.5, dtype);
                let bias = var(&mut rng, 2 * c, 0.5, dtype);
                let fused =
                    move |t: &[Tensor]| gated_conv1d(&t[0], &t[1], &t[2], k, residual).unwrap();
                let unfused = move |t: &[Tensor]| {
                    let (x, half) = (&t[0], k / 2);
                    let padded = x.pad_with_zeros(1, half, half).unwrap();
                    let shifted: Vec<Tensor> =
                        (0..k).map(|j| padded.narrow(1, j, l).unwrap()).collect();
                    let cols = Tensor::cat(&shifted, 2).unwrap().reshape((b * l, k * c));
                    let pre = cols.unwrap().matmul(&t[1]).unwrap();
                    let pre = pre.broadcast_add(&t[2]).unwrap().reshape((b, l, 2 * c));
                    let pre = pre.unwrap();
                    let gate = sigmoid(&pre.narrow(2, c, c).unwrap());
                    let y = (pre.narrow(2, 0, c).unwrap() * gate).unwrap();
                    match residual {
                        true => (y + x).unwrap(),
                        false => y,
                    }
                };
                let name = format!("gated_conv1d {b}x{l}x{c} k{k}");
                check(dtype, tol, &name, &[x, w, bias], fused, unfused);
            }
        }
    }

    /// `1 / (1 + exp(-x))` from candle's element-wise ops.
    fn sigmoid(x: &Tensor) -> Tensor {
        (x.neg().unwrap().exp().unwrap() + 1.0)
            .unwrap()
            .recip()
            .unwrap()
    }

    #[test]
    fn an_even_kernel_is_refused() {
        let mut rng = Rng::new(1);
        let x = var(&mut rng, (1, 3, 2), 1.0, DType::F64);
        let w = var(&mut rng, (4, 4), 1.0, DType::F64);
        let b = var(&mut rng, 4, 1.0, DType::F64);
        let err = gated_conv1d(&x, &w, &b, 2, true).unwrap_err().to_string();
        assert!(err.contains("odd kernel"), "{err}");
    }
}
