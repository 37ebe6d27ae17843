//! The linear layer `act(x W + b)`: one gemm with the bias seeded into its output and the
//! activation applied in place; its backward pass; the column sums and transposed
//! products it needs.

use super::data;
use crate::fastmath::KernelMath;
use crate::tile::{mm, View};
use crate::Activation;
use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, WithDType,
};
use num_traits::Float;

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
    /// (rows, cols) of the matrix or of its transpose.
    fn dims(&self, transposed: bool) -> (usize, usize) {
        match transposed {
            true => (self.cols, self.rows),
            false => (self.rows, self.cols),
        }
    }

    /// The matrix or its transpose as a product's operand, from that operand's row `first`.
    fn operand(&self, transposed: bool, first: usize) -> View<'_, T> {
        match transposed {
            true => View::new(&self.data[first..], self.cols).t(),
            false => View::new(&self.data[first * self.cols..], self.cols),
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
    gemm_rows(dst, a, ta, b, tb, accumulate, |_| {}, |_| {})
}

/// [`gemm_into`] with `before` and `after` applied to each thread's block of rows of
/// `dst` around its product (a bias seeded, an activation applied, on both threads).
#[allow(clippy::too_many_arguments)]
fn gemm_rows<T: WithDType + KernelMath + 'static>(
    dst: &mut [T],
    a: &Mat<T>,
    ta: bool,
    b: &Mat<T>,
    tb: bool,
    accumulate: bool,
    before: impl Fn(&mut [T]) + Sync,
    after: impl Fn(&mut [T]) + Sync,
) -> Result<()> {
    let (m, k) = a.dims(ta);
    let (k2, n) = b.dims(tb);
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
    crate::flops::add_gemm(m, n, k);
    let rows_per_block = m.div_ceil(row_blocks(m, n, k));
    let block = |(i, chunk): (usize, &mut [T])| {
        // `chunk` holds dst's rows from `first`, made from op(a)'s rows from `first`.
        let first = i * rows_per_block;
        before(chunk);
        let rows = chunk.len() / n;
        mm(
            chunk,
            n,
            a.operand(ta, first),
            b.operand(tb, 0),
            (rows, k, n),
            accumulate,
        );
        after(chunk);
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

/// `v = act(v)` over a slice, the activation chosen once outside the loop.
pub(super) fn activate<T: KernelMath>(v: &mut [T], act: Activation) {
    macro_rules! each {
        ($a:expr) => {
            v.iter_mut().for_each(|x| *x = act_fwd($a, *x))
        };
    }
    match act {
        Activation::Identity => {}
        Activation::Relu => each!(Activation::Relu),
        Activation::LeakyRelu => each!(Activation::LeakyRelu),
        Activation::Tanh => each!(Activation::Tanh),
        Activation::Sigmoid => each!(Activation::Sigmoid),
    }
}

pub(super) fn act_fwd<T: KernelMath>(a: Activation, v: T) -> T {
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
pub(super) fn act_grad<T: Float>(a: Activation, y: T) -> T {
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
    let mut out = vec![T::zero(); n * m];
    // Each thread seeds its rows with the bias and activates them after its product.
    let seed = |rows: &mut [T]| {
        rows.chunks_exact_mut(m.max(1))
            .for_each(|r| r.copy_from_slice(b))
    };
    let activate = |rows: &mut [T]| activate(rows, a);
    gemm_rows(
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
        seed,
        activate,
    )?;
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
        b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let dpre = if self.0 == Activation::Identity {
            grad
        } else {
            grad.apply_op2_no_bwd(res, &ActBackward(self.0))?
        };
        // A detached weight (a player held fixed) gets no gradient.
        let dw = if w.track_op() {
            Some(x.apply_op2_no_bwd(
                &dpre,
                &MatMul {
                    ta: true,
                    tb: false,
                },
            )?)
        } else {
            None
        };
        let db = if b.track_op() {
            Some(dpre.apply_op1_no_bwd(&ColumnSum)?)
        } else {
            None
        };
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
        Ok((dx, dw, db))
    }
}

/// Column sums of a matrix, `(n, m) -> (m,)`, accumulated row by row (vectorizes;
/// candle's strided reduction over dim 0 was 9% of the reference step).
struct ColumnSum;

/// The column sums of a matrix (no backward pass: a gradient's reduction).
pub(super) fn column_sum(t: &Tensor) -> Result<Tensor> {
    t.contiguous()?.apply_op1_no_bwd(&ColumnSum)
}

fn colsum_fwd<T: WithDType + KernelMath>(
    s: &CpuStorage,
    l: &Layout,
) -> Result<(CpuStorage, Shape)> {
    let (_, m) = dims2(l, "column_sum")?;
    let x = data::<T>(s, l, "column_sum")?;
    let mut out = vec![T::zero(); m];
    // Each thread sums its half of the columns over every row.
    crate::spin::fill_rows(&mut out, 1, x.len(), |first, part| {
        for row in x.chunks_exact(m.max(1)) {
            let row = &row[first..first + part.len()];
            part.iter_mut().zip(row).for_each(|(o, &v)| *o += v);
        }
    });
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

    /// `C = op(A) op(B)`: `dA = G op(B)^T` (or its transpose), `dB = op(A)^T G` (or its
    /// transpose), each a product of the same gemm; an input without a gradient is skipped.
    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = grad.contiguous()?;
        let (ta, tb) = (self.ta, self.tb);
        let da = if a.track_op() {
            Some(if ta {
                b.apply_op2_no_bwd(&g, &MatMul { ta: tb, tb: true })?
            } else {
                g.apply_op2_no_bwd(b, &MatMul { ta: false, tb: !tb })?
            })
        } else {
            None
        };
        let db = if b.track_op() {
            Some(if tb {
                g.apply_op2_no_bwd(a, &MatMul { ta: true, tb: ta })?
            } else {
                a.apply_op2_no_bwd(&g, &MatMul { ta: !ta, tb: false })?
            })
        } else {
            None
        };
        Ok((da, db))
    }
}

/// `op(a) op(b)` for matrices, `op` the transpose where `ta` / `tb` say, on the fused gemm
/// (both threads for large products) with its backward pass.
pub fn matmul(a: &Tensor, b: &Tensor, ta: bool, tb: bool) -> Result<Tensor> {
    a.contiguous()?
        .apply_op2(&b.contiguous()?, MatMul { ta, tb })
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
    let mut out = vec![T::zero(); g.len()];
    crate::spin::fill_rows(&mut out, 1, g.len(), |first, part| {
        let (g, y) = (&g[first..first + part.len()], &y[first..first + part.len()]);
        macro_rules! each {
            ($a:expr) => {
                part.iter_mut()
                    .zip(g.iter().zip(y))
                    .for_each(|(o, (&g, &y))| *o = g * act_grad($a, y))
            };
        }
        match a {
            Activation::Relu => each!(Activation::Relu),
            Activation::LeakyRelu => each!(Activation::LeakyRelu),
            Activation::Tanh => each!(Activation::Tanh),
            Activation::Sigmoid => each!(Activation::Sigmoid),
            Activation::Identity => each!(Activation::Identity),
        }
    });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::testing::*;
    use crate::testing::Rng;
    use candle_core::{DType, Device, Var};

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

    /// Every transpose combination, values and both gradients, against candle's matmul;
    /// the larger shape is split across the two threads.
    #[test]
    fn matmul_matches_candle_in_every_layout() {
        let mut rng = Rng::new(9);
        for (m, n, k) in [(5, 3, 4), (300, 130, 120)] {
            for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
                let a_shape = if ta { (k, m) } else { (m, k) };
                let b_shape = if tb { (n, k) } else { (k, n) };
                let a = var(&mut rng, a_shape, 1.0, DType::F64);
                let b = var(&mut rng, b_shape, 1.0, DType::F64);
                let op = |t: &Tensor, on: bool| if on { t.t().unwrap() } else { t.clone() };
                check(
                    DType::F64,
                    1e-12,
                    &format!("matmul {m}x{n}x{k} ta={ta} tb={tb}"),
                    &[a, b],
                    |t| matmul(&t[0], &t[1], ta, tb).unwrap(),
                    |t| op(&t[0], ta).matmul(&op(&t[1], tb)).unwrap(),
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
}
