//! Branch-free `exp`, `softplus` and `sigmoid` for f32 that the compiler vectorizes
//! (libm's scalar `log1pf` alone was 11% of the reference step), accurate to a few ulp;
//! f64 keeps the standard library. Used by the fused kernels.

use num_traits::Float;

/// The element functions the fused kernels need, per float type.
pub trait KernelMath: Float {
    /// `log(1 + exp(-|x|))`, the stable tail of softplus.
    fn softplus_neg_abs(x: Self) -> Self;
    /// `1 / (1 + exp(-x))` without overflow.
    fn sigmoid(x: Self) -> Self;
    /// `exp(x)`.
    fn exp_k(x: Self) -> Self;
    /// `ln(x)` for positive normal x.
    fn ln_k(x: Self) -> Self;
}

impl KernelMath for f64 {
    fn softplus_neg_abs(x: f64) -> f64 {
        (-x.abs()).exp().ln_1p()
    }
    fn sigmoid(x: f64) -> f64 {
        let e = (-x.abs()).exp();
        if x >= 0.0 {
            1.0 / (1.0 + e)
        } else {
            e / (1.0 + e)
        }
    }
    fn exp_k(x: f64) -> f64 {
        x.exp()
    }
    fn ln_k(x: f64) -> f64 {
        x.ln()
    }
}

impl KernelMath for f32 {
    #[inline(always)]
    fn softplus_neg_abs(x: f32) -> f32 {
        log1p_unit(exp_f32(-x.abs()))
    }
    #[inline(always)]
    fn sigmoid(x: f32) -> f32 {
        let e = exp_f32(-x.abs());
        let r = 1.0 / (1.0 + e);
        if x >= 0.0 {
            r
        } else {
            e * r
        }
    }
    #[inline(always)]
    fn exp_k(x: f32) -> f32 {
        exp_f32(x)
    }
    #[inline(always)]
    fn ln_k(x: f32) -> f32 {
        ln_f32(x)
    }
}

/// exp for f32: x = n ln2 + r with |r| <= ln2/2, a degree-6 polynomial for e^r, and 2^n
/// put into the exponent bits. 0 below -87.3 (where results would be subnormal, which
/// training flushes anyway); saturates near 88.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let underflow = x < -87.336_55;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.clamp(-87.336_55, 88.722_83);
    // Round to nearest by the 1.5 * 2^23 trick: plain arithmetic, so it vectorizes (roundf does not).
    const SHIFT: f32 = 12_582_912.0;
    let n = (x * std::f32::consts::LOG2_E + SHIFT) - SHIFT;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Taylor coefficients 1/k!, k = 0..6 (error < 2e-8 on |r| <= 0.347).
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits((((n as i32) + 127).clamp(1, 254) as u32) << 23);
    if underflow {
        0.0
    } else {
        p * scale
    }
}

/// log(1 + y) for y in [0, 1]: 2 atanh(s) with s = y / (2 + y) in [0, 1/3], an odd series
/// to s^15 (truncation below 1e-8 relative), computed from y so tiny y keeps its digits.
#[inline(always)]
pub fn log1p_unit(y: f32) -> f32 {
    let s = y / (2.0 + y);
    let s2 = s * s;
    let series = 1.0
        + s2 * (1.0 / 3.0
            + s2 * (1.0 / 5.0
                + s2 * (1.0 / 7.0
                    + s2 * (1.0 / 9.0
                        + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0 + s2 * (1.0 / 15.0)))))));
    2.0 * s * series
}

/// ln for positive normal f32: x = 2^e m with m in [sqrt(1/2), sqrt(2)), then
/// `e ln2 + log(1 + (m - 1))` by the same atanh series as [`log1p_unit`] (|s| <= 0.172
/// here). Plain arithmetic on the bits, so it vectorizes; about 1 ulp.
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let big = m > std::f32::consts::SQRT_2;
    m = if big { 0.5 * m } else { m };
    e += big as i32;
    let y = m - 1.0;
    let s = y / (2.0 + y);
    let s2 = s * s;
    let series = 1.0
        + s2 * (1.0 / 3.0
            + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0)))));
    e as f32 * std::f32::consts::LN_2 + 2.0 * s * series
}

/// A sum over `n` terms in eight interleaved partial sums, which the compiler keeps in one
/// SIMD register (a single running sum is a serial dependency chain it may not reorder).
/// The order is fixed, so results are deterministic.
#[inline(always)]
pub fn lane_sum<T: Float>(n: usize, term: impl Fn(usize) -> T) -> T {
    let mut acc = [T::zero(); 8];
    let full = n - n % 8;
    for base in (0..full).step_by(8) {
        for (j, a) in acc.iter_mut().enumerate() {
            *a = *a + term(base + j);
        }
    }
    for i in full..n {
        acc[i - full] = acc[i - full] + term(i);
    }
    acc.iter().fold(T::zero(), |s, &a| s + a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f32, b: f64) -> f64 {
        ((a as f64 - b) / b.abs().max(1e-300)).abs()
    }

    #[test]
    fn ln_is_within_a_few_ulp() {
        let mut worst = 0.0f64;
        let mut x = 1e-30f32;
        while x < 1e30 {
            worst = worst
                .max(((ln_f32(x) as f64) - (x as f64).ln()).abs() / (x as f64).ln().abs().max(1.0));
            x *= 1.000_37;
        }
        assert!(worst < 4e-7, "worst relative error {worst}");
        assert_eq!(ln_f32(1.0), 0.0);
    }

    #[test]
    fn lane_sum_adds_every_term() {
        for n in [0usize, 1, 7, 8, 9, 100] {
            assert_eq!(lane_sum(n, |i| i as f64), (0..n).sum::<usize>() as f64);
        }
    }

    #[test]
    fn exp_matches_f64_within_a_few_ulp() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            worst = worst.max(rel(exp_f32(x), (x as f64).exp()));
            x += 0.01371;
        }
        assert!(worst < 4e-7, "max relative error {worst}");
        assert_eq!(exp_f32(-200.0), 0.0);
        assert_eq!(exp_f32(0.0), 1.0);
    }

    #[test]
    fn softplus_and_sigmoid_match_f64() {
        let (mut ws, mut wg) = (0.0f64, 0.0f64);
        let mut x = -60.0f32;
        while x < 60.0 {
            let xd = x as f64;
            ws = ws.max(rel(f32::softplus_neg_abs(x), (-xd.abs()).exp().ln_1p()));
            wg = wg.max(rel(f32::sigmoid(x), 1.0 / (1.0 + (-xd).exp())));
            x += 0.00731;
        }
        assert!(ws < 5e-7, "softplus max relative error {ws}");
        assert!(wg < 5e-7, "sigmoid max relative error {wg}");
        // far tails: no overflow, no NaN
        assert_eq!(f32::sigmoid(1000.0), 1.0);
        assert_eq!(f32::sigmoid(-1000.0), 0.0);
        assert_eq!(f32::softplus_neg_abs(1000.0), 0.0);
    }
}
