//! Random test inputs. (gen-core's `Rng` is the project's generator; this crate sits
//! below it, and its tests only need reproducible noise, not that stream.)

use candle_core::{DType, Device, Shape, Tensor};

/// A 64-bit linear congruential generator (Knuth's MMIX constants), upper bits used.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal, by Box-Muller.
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }

    pub fn fill_normal(&mut self, out: &mut [f32]) {
        out.iter_mut().for_each(|v| *v = self.normal() as f32);
    }

    fn tensor(
        &mut self,
        shape: impl Into<Shape>,
        dtype: DType,
        draw: impl FnMut(&mut Self) -> f64,
    ) -> candle_core::Result<Tensor> {
        let shape = shape.into();
        let mut draw = draw;
        let v: Vec<f64> = (0..shape.elem_count()).map(|_| draw(self)).collect();
        Tensor::from_vec(v, shape, &Device::Cpu)?.to_dtype(dtype)
    }

    pub fn randn(
        &mut self,
        shape: impl Into<Shape>,
        dtype: DType,
        _device: &Device,
    ) -> candle_core::Result<Tensor> {
        self.tensor(shape, dtype, Self::normal)
    }

    pub fn rand_uniform(
        &mut self,
        shape: impl Into<Shape>,
        lo: f64,
        hi: f64,
        dtype: DType,
        _device: &Device,
    ) -> candle_core::Result<Tensor> {
        self.tensor(shape, dtype, |r| lo + (hi - lo) * r.uniform())
    }
}
