//! Standard normals from random bits, by a Box-Muller transform in f32 that vectorizes:
//! the fast `ln` of [`crate::fastmath`], a square root, and sine and cosine from
//! quarter-turn reduction and short polynomials (about 1e-7 absolute). The generator that
//! makes the bits stays with its owner (`gen_base::Rng`).
//!
//! Each 64-bit word gives one pair: its high 32 bits a uniform `u1` in (0, 1], its low 32
//! bits `u2` in [0, 1), 24 bits each. So the radius `sqrt(-2 ln u1)` is at most
//! `sqrt(48 ln 2) = 5.77`: draws beyond 5.77 sd (probability 8e-9) never come.

use crate::fastmath::ln_f32;
use std::f32::consts::FRAC_PI_2;

/// `(sin r, cos r)` for `|r| <= pi/4`: Taylor polynomials to r^9 and r^8.
#[inline(always)]
fn sin_cos_small(r: f32) -> (f32, f32) {
    let r2 = r * r;
    let s = r
        * (1.0
            + r2 * (-1.0 / 6.0
                + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0 + r2 * (1.0 / 362_880.0)))));
    let c = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24.0 + r2 * (-1.0 / 720.0 + r2 * (1.0 / 40_320.0))));
    (s, c)
}

/// `(sin t, cos t)` for `t` in [0, 2 pi): `t = q pi/2 + r`, then a rotation by q quarter
/// turns (selects, no branches).
#[inline(always)]
pub fn sin_cos_turn(t: f32) -> (f32, f32) {
    let q = (t * (1.0 / FRAC_PI_2) + 0.5).floor();
    let r = t - q * FRAC_PI_2;
    let (s, c) = sin_cos_small(r);
    let q = (q as i32) & 3;
    let (s1, c1) = if q & 1 == 1 { (c, -s) } else { (s, c) };
    if q & 2 == 2 {
        (-s1, -c1)
    } else {
        (s1, c1)
    }
}

/// One pair of normals from one word of random bits.
#[inline(always)]
fn pair(bits: u64) -> (f32, f32) {
    const SCALE: f32 = 1.0 / (1u32 << 24) as f32;
    let u1 = (((bits >> 40) as u32) + 1) as f32 * SCALE; // (0, 1]
    let u2 = (((bits >> 8) as u32) & 0x00ff_ffff) as f32 * SCALE; // [0, 1)
    let radius = (-2.0 * ln_f32(u1)).sqrt();
    let (s, c) = sin_cos_turn(std::f32::consts::TAU * u2);
    (radius * c, radius * s)
}

#[inline(always)]
fn fill(bits: &[u64], out: &mut [f32]) {
    for (word, two) in bits.iter().zip(out.chunks_exact_mut(2)) {
        let (a, b) = pair(*word);
        two[0] = a;
        two[1] = b;
    }
    let n = out.len();
    if n % 2 == 1 {
        if let Some(word) = bits.get(n / 2) {
            out[n - 1] = pair(*word).0;
        }
    }
}

/// Fills `out` with standard normals from `bits` (one word per pair: `out.len().div_ceil(2)`
/// words), on AVX2 + FMA where the CPU has them.
pub fn normals_from_bits(bits: &[u64], out: &mut [f32]) {
    assert!(
        bits.len() >= out.len().div_ceil(2),
        "one word of bits per pair of normals"
    );
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        unsafe { fill_avx2(bits, out) };
        return;
    }
    fill(bits, out);
}

/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fill_avx2(bits: &[u64], out: &mut [f32]) {
    fill(bits, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sine_and_cosine_over_the_turn() {
        let mut worst = 0.0f64;
        for i in 0..100_000 {
            let t = std::f32::consts::TAU * i as f32 / 100_000.0;
            let (s, c) = sin_cos_turn(t);
            let (es, ec) = (t as f64).sin_cos();
            worst = worst.max((s as f64 - es).abs()).max((c as f64 - ec).abs());
        }
        assert!(worst < 5e-7, "worst error {worst}");
    }

    #[test]
    fn normals_have_the_moments_and_the_cdf_of_a_standard_normal() {
        // Random bits from a splitmix64 stream (independent of gen-core's generator).
        let mut x = 0x1234_5678u64;
        let bits: Vec<u64> = (0..500_000)
            .map(|_| {
                x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = x;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^ (z >> 31)
            })
            .collect();
        let mut v = vec![0f32; 999_999]; // odd: the last one comes from a half pair
        normals_from_bits(&bits, &mut v);
        let n = v.len() as f64;
        let m = |k: i32| v.iter().map(|&z| (z as f64).powi(k)).sum::<f64>() / n;
        // Standard errors at n = 1e6: 0.001 (mean), 0.0014 (second), 0.0098 (fourth).
        assert!(m(1).abs() < 0.005, "mean {}", m(1));
        assert!((m(2) - 1.0).abs() < 0.007, "variance {}", m(2));
        assert!((m(4) - 3.0).abs() < 0.05, "fourth moment {}", m(4));
        // Kolmogorov-Smirnov distance to Phi at 41 points; 1.36 / sqrt(n) = 0.0014 is
        // the 5% critical value.
        let mut sorted: Vec<f32> = v.clone();
        sorted.sort_by(f32::total_cmp);
        for i in -20..=20 {
            let z = i as f64 * 0.2;
            let below = sorted.partition_point(|&s| (s as f64) < z) as f64 / n;
            let phi = 0.5 * (1.0 + erf(z / std::f64::consts::SQRT_2));
            assert!((below - phi).abs() < 0.002, "F({z}) = {below}, Phi = {phi}");
        }
    }

    /// erf by Abramowitz and Stegun 7.1.26 (error below 1.5e-7).
    fn erf(x: f64) -> f64 {
        let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
        let y = 1.0
            - t * (0.254_829_592
                + t * (-0.284_496_736
                    + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))))
                * (-x * x).exp();
        y.copysign(x)
    }
}
