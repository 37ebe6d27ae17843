//! Fused CPU kernels with their own backward passes, as candle custom ops.
//!
//! Composed from candle's element-wise ops, BCE-with-logits costs about ten passes (and
//! allocations) over a `(B, 784)` tensor forward and twice that backward; each kernel here
//! does one pass each way. Off the CPU, or for dtypes other than f32/f64, callers use
//! the unfused composition (see [`crate::loss`], [`crate::nn`]), which the tests compare
//! against.

use crate::fastmath::{lane_sum, KernelMath};
use crate::nn::Activation;
use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor,
    WithDType,
};
use num_traits::Float;

/// The contiguous data of an input.
fn data<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&s.as_slice::<T>()?[a..b]),
        None => bail!("{op}: inputs must be contiguous"),
    }
}

/// Whether the fused kernels apply to `t`.
pub fn fusable(t: &Tensor) -> bool {
    t.device().is_cpu() && matches!(t.dtype(), DType::F32 | DType::F64)
}

macro_rules! by_dtype {
    ($s:expr, $op:expr, $f:ident ( $($arg:expr),* )) => {
        match $s {
            CpuStorage::F32(_) => $f::<f32>($($arg),*),
            CpuStorage::F64(_) => $f::<f64>($($arg),*),
            _ => bail!("{}: only f32 and f64 are fused", $op),
        }
    };
}

// ---------------------------------------------------------------- linear + bias + activation

/// Products smaller than this many multiply-adds run on one thread: splitting them costs
/// more in synchronization than it saves (measured with `gen bench`).
const PARALLEL_MIN_MACS: usize = 1 << 22;

/// How many row blocks to split an `m x n x k` product into: two (this thread and the
/// spinning helper of [`crate::spin`]) when there are two threads and the product is big
/// enough. (gemm's own rayon split, and row blocks on rayon's sleeping workers, gave
/// nothing at these shapes on 2 cores: waking a worker cost what the split saved.)
fn row_blocks(m: usize, n: usize, k: usize) -> usize {
    if crate::spin::two_threads()
        && m >= 4
        && m.saturating_mul(n).saturating_mul(k) >= PARALLEL_MIN_MACS
    {
        2
    } else {
        1
    }
}

/// A row-major matrix view: data, rows, columns, and whether to read it transposed.
struct Mat<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
}

impl<T> Mat<'_, T> {
    /// (rows, cols, row stride, column stride) of the matrix or of its transpose.
    fn view(&self, transposed: bool) -> (usize, usize, isize, isize) {
        if transposed {
            (self.cols, self.rows, 1, self.cols as isize)
        } else {
            (self.rows, self.cols, self.cols as isize, 1)
        }
    }
}

/// `dst = (accumulate ? dst : 0) + op(a) op(b)` with row-major `dst`.
fn gemm_into<T: WithDType + KernelMath + 'static>(
    dst: &mut [T],
    a: &Mat<T>,
    ta: bool,
    b: &Mat<T>,
    tb: bool,
    accumulate: bool,
) -> Result<()> {
    let (m, k, a_rs, a_cs) = a.view(ta);
    let (k2, n, b_rs, b_cs) = b.view(tb);
    if k != k2
        || dst.len() != m * n
        || a.data.len() < a.rows * a.cols
        || b.data.len() < b.rows * b.cols
    {
        bail!(
            "gemm: shapes do not agree ({m}x{k} times {k2}x{n} into {})",
            dst.len()
        );
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    let rows_per_block = m.div_ceil(row_blocks(m, n, k));
    let block = |(i, chunk): (usize, &mut [T])| {
        let first_row = i * rows_per_block;
        let a_rows = &a.data[first_row * a_rs as usize..];
        // SAFETY: `chunk` holds rows [first_row, first_row + chunk.len() / n) of the m x n
        // row-major dst; `a_rows` starts at op(a)'s row `first_row`, and every element the
        // strides reach lies inside `a.data` / `b.data` (shapes checked above). No aliasing:
        // dst is an exclusive buffer.
        unsafe {
            gemm::gemm(
                chunk.len() / n,
                n,
                k,
                chunk.as_mut_ptr(),
                1,
                n as isize,
                accumulate,
                a_rows.as_ptr(),
                a_cs,
                a_rs,
                b.data.as_ptr(),
                b_cs,
                b_rs,
                T::one(),
                T::one(),
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    };
    if rows_per_block == m {
        block((0, dst));
    } else {
        // Two row blocks: this thread and the spinning helper (see `spin`).
        let (top, bottom) = dst.split_at_mut(rows_per_block * n);
        crate::spin::join_parts((0, top), (1, bottom), block);
    }
    Ok(())
}

fn act_fwd<T: KernelMath>(a: Activation, v: T) -> T {
    let zero = T::zero();
    match a {
        Activation::Relu => Float::max(v, zero),
        Activation::LeakyRelu => {
            if v > zero {
                v
            } else {
                v * T::from(0.2).unwrap()
            }
        }
        Activation::Tanh => v.tanh(),
        Activation::Sigmoid => T::sigmoid(v),
        Activation::Identity => v,
    }
}

/// d act / d input, expressed through the output `y` (every activation here allows it).
fn act_grad<T: Float>(a: Activation, y: T) -> T {
    let (zero, one) = (T::zero(), T::one());
    match a {
        Activation::Relu => {
            if y > zero {
                one
            } else {
                zero
            }
        }
        Activation::LeakyRelu => {
            if y > zero {
                one
            } else {
                T::from(0.2).unwrap()
            }
        }
        Activation::Tanh => one - y * y,
        Activation::Sigmoid => y * (one - y),
        Activation::Identity => one,
    }
}

/// `act(x W + b)` for `x: (n, k)`, `W: (k, m)`, `b: (m,)`: the bias seeds the product's
/// buffer and the activation runs in place on it.
struct LinearAct(Activation);

fn dims2(l: &Layout, op: &str) -> Result<(usize, usize)> {
    match l.shape().dims() {
        &[r, c] => Ok((r, c)),
        d => bail!("{op}: expected a matrix, got shape {d:?}"),
    }
}

fn linear_fwd<T: WithDType + KernelMath + 'static>(
    a: Activation,
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    (s3, l3): (&CpuStorage, &Layout),
) -> Result<(CpuStorage, Shape)> {
    let (x, w, b) = (
        data::<T>(s1, l1, "linear")?,
        data::<T>(s2, l2, "linear")?,
        data::<T>(s3, l3, "linear")?,
    );
    let ((n, k), (k2, m)) = (dims2(l1, "linear")?, dims2(l2, "linear")?);
    if k != k2 || b.len() != m {
        bail!("linear: input {n}x{k}, weight {k2}x{m}, bias {}", b.len());
    }
    let mut out = Vec::with_capacity(n * m);
    for _ in 0..n {
        out.extend_from_slice(b);
    }
    gemm_into(
        &mut out,
        &Mat {
            data: x,
            rows: n,
            cols: k,
        },
        false,
        &Mat {
            data: w,
            rows: k,
            cols: m,
        },
        false,
        true,
    )?;
    if a != Activation::Identity {
        out.iter_mut().for_each(|v| *v = act_fwd(a, *v));
    }
    Ok((T::to_cpu_storage_owned(out), Shape::from((n, m))))
}

impl CustomOp3 for LinearAct {
    fn name(&self) -> &'static str {
        "linear_act"
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
            "linear_act",
            linear_fwd(self.0, (s1, l1), (s2, l2), (s3, l3))
        )
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let dpre = if self.0 == Activation::Identity {
            grad
        } else {
            grad.apply_op2_no_bwd(res, &ActBackward(self.0))?
        };
        let dw = x.apply_op2_no_bwd(
            &dpre,
            &MatMul {
                ta: true,
                tb: false,
            },
        )?;
        let db = dpre.apply_op1_no_bwd(&ColumnSum)?;
        // The input's gradient only when something upstream needs it (not for data).
        let dx = if x.track_op() {
            Some(dpre.apply_op2_no_bwd(
                w,
                &MatMul {
                    ta: false,
                    tb: true,
                },
            )?)
        } else {
            None
        };
        Ok((dx, Some(dw), Some(db)))
    }
}

/// Column sums of a matrix, `(n, m) -> (m,)`, accumulated row by row (vectorizes;
/// candle's strided reduction over dim 0 was 9% of the reference step).
struct ColumnSum;

fn colsum_fwd<T: WithDType + KernelMath>(
    s: &CpuStorage,
    l: &Layout,
) -> Result<(CpuStorage, Shape)> {
    let (_, m) = dims2(l, "column_sum")?;
    let x = data::<T>(s, l, "column_sum")?;
    let mut out = vec![T::zero(); m];
    for row in x.chunks_exact(m.max(1)) {
        out.iter_mut().zip(row).for_each(|(o, &v)| *o += v);
    }
    Ok((T::to_cpu_storage_owned(out), Shape::from(m)))
}

impl CustomOp1 for ColumnSum {
    fn name(&self) -> &'static str {
        "column_sum"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        by_dtype!(s, "column_sum", colsum_fwd(s, l))
    }
}

/// `op(a) op(b)` for row-major matrices, `op` = transpose where asked.
struct MatMul {
    ta: bool,
    tb: bool,
}

fn matmul_fwd<T: WithDType + KernelMath + 'static>(
    mm: &MatMul,
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
) -> Result<(CpuStorage, Shape)> {
    let ((ar, ac), (br, bc)) = (dims2(l1, "matmul")?, dims2(l2, "matmul")?);
    let a = Mat {
        data: data::<T>(s1, l1, "matmul")?,
        rows: ar,
        cols: ac,
    };
    let b = Mat {
        data: data::<T>(s2, l2, "matmul")?,
        rows: br,
        cols: bc,
    };
    let m = if mm.ta { ac } else { ar };
    let n = if mm.tb { br } else { bc };
    let mut out = vec![T::zero(); m * n];
    gemm_into(&mut out, &a, mm.ta, &b, mm.tb, false)?;
    Ok((T::to_cpu_storage_owned(out), Shape::from((m, n))))
}

impl CustomOp2 for MatMul {
    fn name(&self) -> &'static str {
        "matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        by_dtype!(s1, "matmul", matmul_fwd(self, s1, l1, s2, l2))
    }
}

/// `act(x W + b)` for `x: (n, k)`, `W: (k, m)`, `b: (m,)`, fused forward and backward.
pub fn linear_act(x: &Tensor, w: &Tensor, b: &Tensor, act: Activation) -> Result<Tensor> {
    x.contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, LinearAct(act))
}

/// `grad * act'(y)` in one pass.
struct ActBackward(Activation);

fn act_bwd<T: WithDType + KernelMath>(
    a: Activation,
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
) -> Result<(CpuStorage, Shape)> {
    let (g, y) = (
        data::<T>(s1, l1, "act_backward")?,
        data::<T>(s2, l2, "act_backward")?,
    );
    let out: Vec<T> = g.iter().zip(y).map(|(&g, &y)| g * act_grad(a, y)).collect();
    Ok((T::to_cpu_storage_owned(out), l1.shape().clone()))
}

impl CustomOp2 for ActBackward {
    fn name(&self) -> &'static str {
        "act_backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        by_dtype!(s1, "act_backward", act_bwd(self.0, s1, l1, s2, l2))
    }
}

// ---------------------------------------------------------------- BCE with logits

/// Per-row sums of the stable BCE-with-logits, `(B, D), (B, D) -> (B,)`.
struct BceRows;

fn bce_fwd<T: WithDType + KernelMath>(
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
) -> Result<(CpuStorage, Shape)> {
    let (l, x) = (data::<T>(s1, l1, "bce")?, data::<T>(s2, l2, "bce")?);
    let dims = l1.shape().dims();
    if l.len() != x.len() || dims.is_empty() {
        bail!(
            "bce: logits {:?} and targets {:?} differ",
            l1.shape(),
            l2.shape()
        );
    }
    let rows = dims[0];
    let d = l.len().checked_div(rows).unwrap_or(0);
    let zero = T::zero();
    let mut out = vec![zero; rows];
    crate::spin::fill_rows(&mut out, 1, rows * d, |first, part| {
        for (i, o) in part.iter_mut().enumerate() {
            let r = first + i;
            let (lr, xr) = (&l[r * d..(r + 1) * d], &x[r * d..(r + 1) * d]);
            *o = lane_sum(d, |i| {
                Float::max(lr[i], zero) - lr[i] * xr[i] + T::softplus_neg_abs(lr[i])
            });
        }
    });
    Ok((T::to_cpu_storage_owned(out), Shape::from(rows)))
}

impl CustomOp2 for BceRows {
    fn name(&self) -> &'static str {
        "bce_rows"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        by_dtype!(s1, "bce_rows", bce_fwd(s1, l1, s2, l2))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        target: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = logits.apply_op3_no_bwd(target, &grad.contiguous()?, &BceBackward)?;
        // d/dx = -l per element; only computed when the targets are themselves trained.
        let dx = if target.track_op() {
            Some(logits.broadcast_mul(&grad.unsqueeze(1)?)?.neg()?)
        } else {
            None
        };
        Ok((Some(g), dx))
    }
}

/// `grad[row] * (sigmoid(l) - x)` in one pass.
struct BceBackward;

fn bce_bwd<T: WithDType + KernelMath>(
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
    s3: &CpuStorage,
    l3: &Layout,
) -> Result<(CpuStorage, Shape)> {
    let (l, x, g) = (
        data::<T>(s1, l1, "bce_backward")?,
        data::<T>(s2, l2, "bce_backward")?,
        data::<T>(s3, l3, "bce_backward")?,
    );
    let d = l.len().checked_div(g.len()).unwrap_or(0);
    let mut out = vec![T::zero(); l.len()];
    crate::spin::fill_rows(&mut out, d.max(1), l.len(), |first, part| {
        for (i, row) in part.chunks_exact_mut(d.max(1)).enumerate() {
            let r = first + i;
            let (lr, xr, gr) = (&l[r * d..(r + 1) * d], &x[r * d..(r + 1) * d], g[r]);
            for ((o, &l), &x) in row.iter_mut().zip(lr).zip(xr) {
                *o = gr * (T::sigmoid(l) - x);
            }
        }
    });
    Ok((T::to_cpu_storage_owned(out), l1.shape().clone()))
}

impl CustomOp3 for BceBackward {
    fn name(&self) -> &'static str {
        "bce_backward"
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
        by_dtype!(s1, "bce_backward", bce_bwd(s1, l1, s2, l2, s3, l3))
    }
}

/// Summed BCE-with-logits per row of `(B, D)` logits and targets, fused.
pub fn bce_with_logits_rows(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    let l = logits.flatten_from(1)?.contiguous()?;
    let x = target.flatten_from(1)?.to_dtype(l.dtype())?.contiguous()?;
    l.apply_op2(&x, BceRows)
}

// ---------------------------------------------------------------- Gaussian KL and reparameterization

/// KL(N(m, exp(lv)) || N(0, I)) per row, `(B, K), (B, K) -> (B,)`.
struct KlStdNormal;

fn kl_fwd<T: WithDType + KernelMath>(
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
) -> Result<(CpuStorage, Shape)> {
    let (m, lv) = (data::<T>(s1, l1, "kl")?, data::<T>(s2, l2, "kl")?);
    let rows = l1.shape().dims()[0];
    let k = m.len().checked_div(rows).unwrap_or(0);
    let half = T::from(0.5).unwrap();
    let one = T::one();
    let out: Vec<T> = (0..rows)
        .map(|r| {
            (r * k..(r + 1) * k).fold(T::zero(), |acc, i| {
                acc + half * (lv[i].exp() + m[i] * m[i] - lv[i] - one)
            })
        })
        .collect();
    Ok((T::to_cpu_storage_owned(out), Shape::from(rows)))
}

impl CustomOp2 for KlStdNormal {
    fn name(&self) -> &'static str {
        "kl_std_normal"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        by_dtype!(s1, "kl_std_normal", kl_fwd(s1, l1, s2, l2))
    }

    fn bwd(
        &self,
        mean: &Tensor,
        logvar: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = grad.unsqueeze(1)?;
        let dm = mean.broadcast_mul(&g)?;
        let dlv = ((logvar.exp()? - 1.0)? * 0.5)?.broadcast_mul(&g)?;
        Ok((Some(dm), Some(dlv)))
    }
}

/// Analytic KL to the standard normal per row, fused.
pub fn kl_std_normal_rows(mean: &Tensor, logvar: &Tensor) -> Result<Tensor> {
    let (m, lv) = (
        mean.flatten_from(1)?.contiguous()?,
        logvar.flatten_from(1)?.contiguous()?,
    );
    m.apply_op2(&lv, KlStdNormal)
}

/// `mean + exp(logvar / 2) * eps` in one pass.
struct Reparameterize;

fn rep_fwd<T: WithDType + KernelMath>(
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
    s3: &CpuStorage,
    l3: &Layout,
) -> Result<(CpuStorage, Shape)> {
    let (m, lv, e) = (
        data::<T>(s1, l1, "reparameterize")?,
        data::<T>(s2, l2, "reparameterize")?,
        data::<T>(s3, l3, "reparameterize")?,
    );
    let half = T::from(0.5).unwrap();
    let out: Vec<T> = m
        .iter()
        .zip(lv)
        .zip(e)
        .map(|((&m, &lv), &e)| m + (lv * half).exp() * e)
        .collect();
    Ok((T::to_cpu_storage_owned(out), l1.shape().clone()))
}

impl CustomOp3 for Reparameterize {
    fn name(&self) -> &'static str {
        "reparameterize"
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
        by_dtype!(s1, "reparameterize", rep_fwd(s1, l1, s2, l2, s3, l3))
    }

    fn bwd(
        &self,
        mean: &Tensor,
        _lv: &Tensor,
        _eps: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // d z / d logvar = 0.5 * exp(lv/2) * eps = 0.5 * (z - mean)
        let dlv = ((res - mean)? * grad)? * 0.5;
        Ok((Some(grad.clone()), Some(dlv?), None))
    }
}

/// The reparameterized Gaussian sample, fused.
pub fn reparameterize(mean: &Tensor, logvar: &Tensor, eps: &Tensor) -> Result<Tensor> {
    mean.contiguous()?
        .apply_op3(&logvar.contiguous()?, &eps.contiguous()?, Reparameterize)
}

#[cfg(test)]
mod tests {
    //! Each kernel against the unfused candle composition: values and gradients agree to
    //! 1e-12 relative in f64 (rounding only) and 1e-5 in f32.
    use super::*;
    use crate::rng::Rng;
    use candle_core::{Device, Var};

    fn close(a: &Tensor, b: &Tensor, tol: f64, what: &str) {
        let a: Vec<f64> = a
            .flatten_all()
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .to_vec1()
            .unwrap();
        let b: Vec<f64> = b
            .flatten_all()
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(a.len(), b.len(), "{what}");
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= tol * (1.0 + y.abs()),
                "{what}[{i}]: fused {x} vs unfused {y}"
            );
        }
    }

    fn var(rng: &mut Rng, shape: (usize, usize), scale: f64, dtype: DType) -> Var {
        Var::from_tensor(&(rng.randn(shape, dtype, &Device::Cpu).unwrap() * scale).unwrap())
            .unwrap()
    }

    /// Compares `fused` with `unfused` on random inputs: outputs, and gradients of a random
    /// projection of the output with respect to every input.
    fn check(
        dtype: DType,
        tol: f64,
        name: &str,
        inputs: &[Var],
        fused: impl Fn(&[Tensor]) -> Tensor,
        unfused: impl Fn(&[Tensor]) -> Tensor,
    ) {
        let xs: Vec<Tensor> = inputs.iter().map(|v| v.as_tensor().clone()).collect();
        let (f, u) = (fused(&xs), unfused(&xs));
        close(&f, &u, tol, &format!("{name} value"));
        let w = Rng::new(3).randn(f.shape(), dtype, &Device::Cpu).unwrap();
        let gf = (&f * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let gu = (&u * &w).unwrap().sum_all().unwrap().backward().unwrap();
        for (i, v) in inputs.iter().enumerate() {
            match (gf.get(v), gu.get(v)) {
                (Some(a), Some(b)) => close(a, b, tol, &format!("{name} grad {i}")),
                (None, None) => {}
                (a, b) => panic!(
                    "{name} grad {i}: fused {:?} vs unfused {:?}",
                    a.is_some(),
                    b.is_some()
                ),
            }
        }
    }

    #[test]
    fn linear_act_matches_unfused() {
        for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
            for act in [
                Activation::Relu,
                Activation::LeakyRelu,
                Activation::Tanh,
                Activation::Sigmoid,
                Activation::Identity,
            ] {
                let mut rng = Rng::new(1);
                let vars = [
                    var(&mut rng, (7, 5), 1.0, dtype),
                    var(&mut rng, (5, 3), 1.0, dtype),
                    Var::from_tensor(&rng.randn(3, dtype, &Device::Cpu).unwrap()).unwrap(),
                ];
                check(
                    dtype,
                    tol,
                    &format!("linear_act {act:?} {dtype:?}"),
                    &vars,
                    |t| linear_act(&t[0], &t[1], &t[2], act).unwrap(),
                    |t| {
                        act.apply(&t[0].matmul(&t[1]).unwrap().broadcast_add(&t[2]).unwrap())
                            .unwrap()
                    },
                );
            }
        }
    }

    #[test]
    fn linear_on_data_computes_no_input_gradient() {
        let mut rng = Rng::new(5);
        let x = rng.randn((4, 3), DType::F32, &Device::Cpu).unwrap();
        let w = var(&mut rng, (3, 2), 1.0, DType::F32);
        let b = Var::from_tensor(&rng.randn(2, DType::F32, &Device::Cpu).unwrap()).unwrap();
        let g = linear_act(&x, &w, &b, Activation::Relu)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(g.get(&x).is_none() && g.get(&w).is_some() && g.get(&b).is_some());
    }

    #[test]
    fn big_products_match_in_parallel_too() {
        // Above PARALLEL_MIN_MACS, the product is split in row blocks across the pool.
        let mut rng = Rng::new(6);
        let x = rng.randn((256, 128), DType::F64, &Device::Cpu).unwrap();
        let w = rng.randn((128, 160), DType::F64, &Device::Cpu).unwrap();
        const { assert!(256 * 128 * 160 >= PARALLEL_MIN_MACS) };
        let b = Tensor::zeros(160, DType::F64, &Device::Cpu).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        assert_eq!(pool.install(|| row_blocks(256, 160, 128)), 2);
        let y = pool.install(|| linear_act(&x, &w, &b, Activation::Identity).unwrap());
        close(&y, &x.matmul(&w).unwrap(), 1e-12, "parallel gemm");
        // and the transposed products of the backward pass
        let g = pool.install(|| {
            x.apply_op2_no_bwd(
                &y,
                &MatMul {
                    ta: true,
                    tb: false,
                },
            )
            .unwrap()
        });
        close(
            &g,
            &x.t().unwrap().matmul(&y).unwrap(),
            1e-12,
            "parallel gemm, transposed lhs",
        );
    }

    #[test]
    fn bce_matches_unfused_including_large_logits() {
        for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
            let mut rng = Rng::new(2);
            let logits = var(&mut rng, (6, 9), 30.0, dtype); // spans |l| up to ~100
            let target = Var::from_tensor(
                &rng.rand_uniform((6, 9), 0.0, 1.0, dtype, &Device::Cpu)
                    .unwrap(),
            )
            .unwrap();
            check(
                dtype,
                tol,
                &format!("bce {dtype:?}"),
                &[logits, target],
                |t| bce_with_logits_rows(&t[0], &t[1]).unwrap(),
                |t| {
                    crate::loss::sum_per_example(
                        &crate::loss::bce_with_logits(&t[0], &t[1]).unwrap(),
                    )
                    .unwrap()
                },
            );
        }
    }

    #[test]
    fn bce_split_across_threads_matches_unfused() {
        // 64 x 1024 is above spin::SPLIT_MIN_ELEMENTS: both halves run, on two threads.
        let mut rng = Rng::new(7);
        let logits = var(&mut rng, (64, 1024), 5.0, DType::F64);
        let target = Var::from_tensor(
            &rng.rand_uniform((64, 1024), 0.0, 1.0, DType::F64, &Device::Cpu)
                .unwrap(),
        )
        .unwrap();
        check(
            DType::F64,
            1e-12,
            "bce split",
            &[logits, target],
            |t| bce_with_logits_rows(&t[0], &t[1]).unwrap(),
            |t| {
                crate::loss::sum_per_example(&crate::loss::bce_with_logits(&t[0], &t[1]).unwrap())
                    .unwrap()
            },
        );
    }

    #[test]
    fn kl_and_reparameterization_match_unfused() {
        for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
            let mut rng = Rng::new(4);
            let vars = [
                var(&mut rng, (8, 3), 1.0, dtype),
                var(&mut rng, (8, 3), 1.0, dtype),
            ];
            check(
                dtype,
                tol,
                "kl",
                &vars,
                |t| kl_std_normal_rows(&t[0], &t[1]).unwrap(),
                |t| {
                    let inner =
                        ((t[1].exp().unwrap() + t[0].sqr().unwrap()).unwrap() - &t[1]).unwrap();
                    ((inner - 1.0).unwrap() * 0.5).unwrap().sum(1).unwrap()
                },
            );
            let eps = rng.randn((8, 3), dtype, &Device::Cpu).unwrap();
            check(
                dtype,
                tol,
                "reparameterize",
                &vars,
                |t| reparameterize(&t[0], &t[1], &eps).unwrap(),
                |t| (&t[0] + ((&t[1] * 0.5).unwrap().exp().unwrap() * &eps).unwrap()).unwrap(),
            );
        }
    }
}
