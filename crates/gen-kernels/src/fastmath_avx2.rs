//! AVX2 + FMA versions of the BCE and categorical kernels' inner loops, chosen at run time.
//!
//! The workspace builds for baseline x86-64, where the compiler left these loops scalar
//! (the f32 -> i32 conversion and clamps of `exp` need SSE4.1/AVX2 to vectorize). Same
//! formulas as [`crate::fastmath`], eight lanes at a time. Each entry point returns `None`
//! on CPUs without AVX2/FMA; the caller then runs its generic scalar loop (the one
//! definition of the formula for every dtype).

/// Sum over a row of `max(l, 0) - l x + log(1 + exp(-|l|))`, if the CPU has AVX2/FMA.
pub fn bce_row_sum(l: &[f32], x: &[f32]) -> Option<f32> {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        return Some(unsafe { x86::bce_row_sum(l, x) });
    }
    let _ = (l, x);
    None
}

/// `out = g * (sigmoid(l) - x)` over a row, if the CPU has AVX2/FMA.
pub fn bce_grad_row(l: &[f32], x: &[f32], g: f32, out: &mut [f32]) -> Option<()> {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: as above.
        unsafe { x86::bce_grad_row(l, x, g, out) };
        return Some(());
    }
    let _ = (l, x, g, out);
    None
}

/// `ln sum exp(l)` over a row (stabilized by its maximum), if the CPU has AVX2/FMA.
pub fn log_sum_exp_row(l: &[f32]) -> Option<f32> {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: as above.
        return Some(unsafe { x86::log_sum_exp_row(l) });
    }
    let _ = l;
    None
}

/// `l = g * exp(l - shift)` over a row, in place (a softmax's gradient before its target's
/// `-g`), if the CPU has AVX2/FMA.
pub fn scaled_exp_in_place(l: &mut [f32], shift: f32, g: f32) -> Option<()> {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: as above.
        unsafe { x86::scaled_exp_in_place(l, shift, g) };
        return Some(());
    }
    let _ = (l, shift, g);
    None
}

/// The row's softmax in place (`l = exp(l - lse)`), returning `lse = ln sum exp(l)`: one
/// exponential per element where `log_sum_exp_row` then `scaled_exp_in_place` take two;
/// if the CPU has AVX2/FMA.
pub fn softmax_in_place(l: &mut [f32]) -> Option<f32> {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: as above.
        return Some(unsafe { x86::softmax_in_place(l) });
    }
    let _ = l;
    None
}

#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use crate::fastmath::KernelMath;
    use std::arch::x86_64::*;

    /// exp, as `fastmath::exp_f32`: 0 below -87.3.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn exp(x: __m256) -> __m256 {
        let under = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_set1_ps(-87.336_55));
        let x = _mm256_min_ps(
            _mm256_max_ps(x, _mm256_set1_ps(-87.336_55)),
            _mm256_set1_ps(88.722_83),
        );
        let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm256_mul_ps(x, _mm256_set1_ps(std::f32::consts::LOG2_E)),
        );
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_145_75), x);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428_606_8e-6), r);
        let mut p = _mm256_set1_ps(1.0 / 720.0);
        for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
        }
        let n = _mm256_min_ps(
            _mm256_max_ps(n, _mm256_set1_ps(-126.0)),
            _mm256_set1_ps(127.0),
        );
        let bits = _mm256_slli_epi32::<23>(_mm256_add_epi32(
            _mm256_cvtps_epi32(n),
            _mm256_set1_epi32(127),
        ));
        _mm256_andnot_ps(under, _mm256_mul_ps(p, _mm256_castsi256_ps(bits)))
    }

    /// log(1 + y) for y in [0, 1], as `fastmath::log1p_unit`.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn log1p_unit(y: __m256) -> __m256 {
        let s = _mm256_div_ps(y, _mm256_add_ps(_mm256_set1_ps(2.0), y));
        let s2 = _mm256_mul_ps(s, s);
        let mut q = _mm256_set1_ps(1.0 / 15.0);
        for c in [
            1.0 / 13.0,
            1.0 / 11.0,
            1.0 / 9.0,
            1.0 / 7.0,
            1.0 / 5.0,
            1.0 / 3.0,
            1.0,
        ] {
            q = _mm256_fmadd_ps(q, s2, _mm256_set1_ps(c));
        }
        _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(2.0), s), q)
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn abs(x: __m256) -> __m256 {
        _mm256_andnot_ps(_mm256_set1_ps(-0.0), x)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn bce_row_sum(l: &[f32], x: &[f32]) -> f32 {
        let n = l.len().min(x.len());
        let full = n - n % 8;
        let mut acc = _mm256_setzero_ps();
        for i in (0..full).step_by(8) {
            // SAFETY: i + 8 <= full <= n, within both slices.
            let (lv, xv) = unsafe {
                (
                    _mm256_loadu_ps(l.as_ptr().add(i)),
                    _mm256_loadu_ps(x.as_ptr().add(i)),
                )
            };
            let sp = log1p_unit(exp(_mm256_sub_ps(_mm256_setzero_ps(), abs(lv))));
            let term = _mm256_add_ps(
                _mm256_fnmadd_ps(lv, xv, _mm256_max_ps(lv, _mm256_setzero_ps())),
                sp,
            );
            acc = _mm256_add_ps(acc, term);
        }
        let mut lanes = [0f32; 8];
        // SAFETY: lanes holds 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
        let mut sum = lanes.iter().sum::<f32>();
        for i in full..n {
            sum += l[i].max(0.0) - l[i] * x[i] + f32::softplus_neg_abs(l[i]);
        }
        sum
    }

    /// The row's maximum.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn row_max(l: &[f32]) -> f32 {
        let full = l.len() - l.len() % 8;
        let mut mv = _mm256_set1_ps(f32::NEG_INFINITY);
        for i in (0..full).step_by(8) {
            // SAFETY: i + 8 <= full <= n.
            mv = _mm256_max_ps(mv, unsafe { _mm256_loadu_ps(l.as_ptr().add(i)) });
        }
        let mut lanes = [0f32; 8];
        // SAFETY: lanes holds 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), mv) };
        lanes
            .iter()
            .chain(&l[full..])
            .copied()
            .fold(f32::NEG_INFINITY, f32::max)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn softmax_in_place(l: &mut [f32]) -> f32 {
        let n = l.len();
        let full = n - n % 8;
        // SAFETY: the caller's CPU has AVX2/FMA, as this function's.
        let max = unsafe { row_max(l) };
        let (maxv, mut acc) = (_mm256_set1_ps(max), _mm256_setzero_ps());
        for i in (0..full).step_by(8) {
            // SAFETY: i + 8 <= full <= n; each block of lanes is read, then written back.
            let e = exp(_mm256_sub_ps(
                unsafe { _mm256_loadu_ps(l.as_ptr().add(i)) },
                maxv,
            ));
            acc = _mm256_add_ps(acc, e);
            // SAFETY: as above.
            unsafe { _mm256_storeu_ps(l.as_mut_ptr().add(i), e) };
        }
        let mut lanes = [0f32; 8];
        // SAFETY: lanes holds 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
        let mut sum = lanes.iter().sum::<f32>();
        for v in &mut l[full..] {
            *v = f32::exp_k(*v - max);
            sum += *v;
        }
        let inv = _mm256_set1_ps(1.0 / sum);
        for i in (0..full).step_by(8) {
            // SAFETY: as above.
            let v = unsafe { _mm256_loadu_ps(l.as_ptr().add(i)) };
            // SAFETY: as above.
            unsafe { _mm256_storeu_ps(l.as_mut_ptr().add(i), _mm256_mul_ps(v, inv)) };
        }
        for v in &mut l[full..] {
            *v /= sum;
        }
        max + f32::ln_k(sum)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn log_sum_exp_row(l: &[f32]) -> f32 {
        let n = l.len();
        let full = n - n % 8;
        // SAFETY: the caller's CPU has AVX2/FMA, as this function's.
        let max = unsafe { row_max(l) };
        let mut lanes = [0f32; 8];
        let (maxv, mut acc) = (_mm256_set1_ps(max), _mm256_setzero_ps());
        for i in (0..full).step_by(8) {
            // SAFETY: as above.
            let v = unsafe { _mm256_loadu_ps(l.as_ptr().add(i)) };
            acc = _mm256_add_ps(acc, exp(_mm256_sub_ps(v, maxv)));
        }
        // SAFETY: as above.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
        let sum =
            lanes.iter().sum::<f32>() + l[full..].iter().map(|&v| f32::exp_k(v - max)).sum::<f32>();
        max + f32::ln_k(sum)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn scaled_exp_in_place(l: &mut [f32], shift: f32, g: f32) {
        let n = l.len();
        let full = n - n % 8;
        let (sv, gv) = (_mm256_set1_ps(shift), _mm256_set1_ps(g));
        for i in (0..full).step_by(8) {
            // SAFETY: i + 8 <= full <= n; each block of lanes is read, then written back.
            let v = unsafe { _mm256_loadu_ps(l.as_ptr().add(i)) };
            let o = _mm256_mul_ps(gv, exp(_mm256_sub_ps(v, sv)));
            // SAFETY: as above.
            unsafe { _mm256_storeu_ps(l.as_mut_ptr().add(i), o) };
        }
        for v in &mut l[full..] {
            *v = g * f32::exp_k(*v - shift);
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn bce_grad_row(l: &[f32], x: &[f32], g: f32, out: &mut [f32]) {
        let n = l.len().min(x.len()).min(out.len());
        let full = n - n % 8;
        let (one, gv) = (_mm256_set1_ps(1.0), _mm256_set1_ps(g));
        for i in (0..full).step_by(8) {
            // SAFETY: i + 8 <= full <= n, within all three slices.
            let (lv, xv) = unsafe {
                (
                    _mm256_loadu_ps(l.as_ptr().add(i)),
                    _mm256_loadu_ps(x.as_ptr().add(i)),
                )
            };
            let e = exp(_mm256_sub_ps(_mm256_setzero_ps(), abs(lv)));
            let r = _mm256_div_ps(one, _mm256_add_ps(one, e));
            let nonneg = _mm256_cmp_ps::<_CMP_GE_OQ>(lv, _mm256_setzero_ps());
            let sig = _mm256_blendv_ps(_mm256_mul_ps(e, r), r, nonneg);
            let o = _mm256_mul_ps(gv, _mm256_sub_ps(sig, xv));
            // SAFETY: as above.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(i), o) };
        }
        for i in full..n {
            out[i] = g * (f32::sigmoid(l[i]) - x[i]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simd_rows_match_the_scalar_formulas() {
        let mut rng = crate::testing::Rng::new(3);
        let n = 8 * 37 + 5;
        let (mut l, mut x) = (vec![0f32; n], vec![0f32; n]);
        rng.fill_normal(&mut l);
        l.iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v *= if i % 7 == 0 { 60.0 } else { 4.0 });
        x.iter_mut().for_each(|v| *v = rng.uniform() as f32);
        let want: f64 = l
            .iter()
            .zip(&x)
            .map(|(&l, &x)| {
                let (l, x) = (l as f64, x as f64);
                l.max(0.0) - l * x + (-l.abs()).exp().ln_1p()
            })
            .sum();
        #[cfg(target_arch = "x86_64")]
        let simd = has_avx2_fma();
        #[cfg(not(target_arch = "x86_64"))]
        let simd = false;
        let Some(got) = bce_row_sum(&l, &x) else {
            assert!(!simd, "AVX2/FMA present but no SIMD result");
            return;
        };
        let got = got as f64;
        assert!((got - want).abs() < 1e-5 * want.abs(), "{got} vs {want}");
        let lse = log_sum_exp_row(&l).expect("AVX2 present") as f64;
        let m = l.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v as f64));
        let want_lse = m + l.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln();
        assert!(
            (lse - want_lse).abs() < 1e-5 * want_lse.abs(),
            "{lse} vs {want_lse}"
        );
        let mut out = l.clone();
        assert!(scaled_exp_in_place(&mut out, lse as f32, 2.0).is_some());
        for i in 0..n {
            let want = 2.0 * (l[i] as f64 - lse).exp();
            assert!((out[i] as f64 - want).abs() < 1e-6 * (1.0 + want), "{i}");
        }
        let mut soft = l.clone();
        let lse2 = softmax_in_place(&mut soft).expect("AVX2 present") as f64;
        assert!((lse2 - want_lse).abs() < 1e-5 * want_lse.abs(), "{lse2}");
        for i in 0..n {
            let want = (l[i] as f64 - want_lse).exp();
            assert!((soft[i] as f64 - want).abs() < 1e-6 * (1.0 + want), "{i}");
        }
        assert!(bce_grad_row(&l, &x, 0.5, &mut out).is_some());
        for i in 0..n {
            let want = 0.5 * (1.0 / (1.0 + (-(l[i] as f64)).exp()) - x[i] as f64);
            assert!(
                (out[i] as f64 - want).abs() < 1e-6,
                "{i}: {} vs {want}",
                out[i]
            );
        }
    }
}
