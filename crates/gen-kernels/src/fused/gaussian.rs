//! The analytic KL to N(0, I) and the reparameterized sample of a diagonal Gaussian.

use super::data;
use crate::fastmath::KernelMath;
use candle_core::{
    bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, WithDType,
};

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
    use super::*;
    use crate::fused::testing::*;
    use crate::testing::Rng;
    use candle_core::{DType, Device};

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
