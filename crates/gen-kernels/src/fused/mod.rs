//! Fused CPU kernels with their own backward passes, as candle custom ops.
//!
//! Composed from candle's element-wise ops, BCE-with-logits costs about ten passes (and
//! allocations) over a `(B, 784)` tensor forward and twice that backward; each kernel here
//! does one pass each way. Off the CPU, or for dtypes other than f32/f64, callers use
//! the unfused composition (gen-core's `loss` and `nn` modules), which the tests compare
//! against.

use candle_core::{bail, CpuStorage, DType, Layout, Result, Tensor, WithDType};

/// The contiguous data of an input.
fn data<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&s.as_slice::<T>()?[a..b]),
        None => bail!("{op}: inputs must be contiguous"),
    }
}

/// `s` as `&[f32]` when `T` is f32 (the SIMD rows are f32 only).
pub(crate) fn as_f32<T: WithDType>(s: &[T]) -> Option<&[f32]> {
    // SAFETY: T is f32 (checked by its dtype), so the cast is the identity.
    (T::DTYPE == DType::F32)
        .then(|| unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<f32>(), s.len()) })
}

/// `s` as `&mut [f32]`; only called when `T` is f32.
pub(crate) fn as_f32_mut<T: WithDType>(s: &mut [T]) -> &mut [f32] {
    assert_eq!(T::DTYPE, DType::F32, "as_f32_mut on a non-f32 slice");
    // SAFETY: T is f32 (asserted), so the cast is the identity.
    unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<f32>(), s.len()) }
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

mod bce;
mod channels;
mod conv;
mod gated_conv;
mod gaussian;
mod layout;
mod linear;
mod linear_xent;
mod weights;

pub use bce::bce_with_logits_rows;
pub use channels::{batch_norm, channel_bias, channel_bias_act};
pub use conv::{conv2d, conv2d_bias_act, conv_transpose2d, conv_transpose2d_bias_act};
pub use gated_conv::gated_conv1d;
pub use gaussian::{kl_std_normal_rows, reparameterize};
pub use layout::{channels_to_rows, rows_to_channels};
pub use linear::{linear_act, matmul};
pub use linear_xent::linear_categorical_nll_rows;
pub use weights::{softplus_sq, weight_kl, Prior};

#[cfg(test)]
pub(crate) mod testing {
    //! Each kernel against the unfused candle composition: values and gradients agree to
    //! 1e-12 relative in f64 (rounding only) and 1e-5 in f32.
    use super::*;
    use crate::testing::Rng;
    use candle_core::{Device, Var};

    pub fn close(a: &Tensor, b: &Tensor, tol: f64, what: &str) {
        let values = |t: &Tensor| -> Vec<f64> {
            t.flatten_all()
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        let (a, b) = (values(a), values(b));
        assert_eq!(a.len(), b.len(), "{what}");
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= tol * (1.0 + y.abs()),
                "{what}[{i}]: fused {x} vs unfused {y}"
            );
        }
    }

    pub fn var(
        rng: &mut Rng,
        shape: impl Into<candle_core::Shape>,
        scale: f64,
        dtype: DType,
    ) -> Var {
        Var::from_tensor(&(rng.randn(shape, dtype, &Device::Cpu).unwrap() * scale).unwrap())
            .unwrap()
    }

    /// Compares `fused` with `unfused` on random inputs: outputs, and gradients of a random
    /// projection of the output with respect to every input.
    pub fn check(
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
}
