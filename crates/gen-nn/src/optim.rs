//! Adam and AdamW, fused and in place: one pass over each parameter per step, no
//! temporary tensors (candle-nn's AdamW allocates about 14 per parameter per step).

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, Device, Layout, Result, Tensor, Var};
/// candle-nn's optimizer interface, which [`Adam`] implements.
pub use candle_nn::Optimizer;
use gen_base::config::ConfigError;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;

/// Optimizer settings as they appear in a config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    /// `adam` (no weight decay) or `adamw` (decoupled weight decay).
    #[serde(default = "default_kind")]
    pub kind: OptimizerKind,
    #[serde(default = "default_lr")]
    pub lr: f64,
    #[serde(default = "default_betas")]
    pub betas: [f64; 2],
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Only for `adamw`; defaults to 0.01 there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Adam,
    Adamw,
}

fn default_kind() -> OptimizerKind {
    OptimizerKind::Adam
}
fn default_lr() -> f64 {
    1e-3
}
fn default_betas() -> [f64; 2] {
    [0.9, 0.999]
}
fn default_eps() -> f64 {
    1e-8
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig {
            kind: default_kind(),
            lr: default_lr(),
            betas: default_betas(),
            eps: default_eps(),
            weight_decay: None,
        }
    }
}

impl OptimizerConfig {
    /// The effective weight decay.
    pub fn decay(&self) -> f64 {
        match self.kind {
            OptimizerKind::Adam => 0.0,
            OptimizerKind::Adamw => self.weight_decay.unwrap_or(0.01),
        }
    }

    /// Range checks; `path` is where this block sits in the config (e.g. `train.optimizer`).
    pub fn validate(&self, path: &str) -> std::result::Result<(), ConfigError> {
        let bad = |key: &str, msg: &str| Err(ConfigError::invalid(format!("{path}.{key}"), msg));
        gen_base::config::positive(&format!("{path}.lr"), self.lr)?;
        if !self.betas.iter().all(|b| (0.0..1.0).contains(b)) {
            return bad(
                "betas",
                &format!("each beta must be in [0, 1), got {:?}", self.betas),
            );
        }
        if self.eps.is_nan() || self.eps <= 0.0 {
            return bad("eps", &format!("must be positive, got {}", self.eps));
        }
        match (self.kind, self.weight_decay) {
            (OptimizerKind::Adam, Some(w)) if w != 0.0 => bad(
                "weight_decay",
                "`adam` has no weight decay; use `kind: adamw` for decoupled weight decay",
            ),
            (_, Some(w)) if w.is_nan() || w < 0.0 => {
                bad("weight_decay", &format!("must be >= 0, got {w}"))
            }
            _ => Ok(()),
        }
    }
}

/// Per-parameter first and second moments, kept as plain vectors (exported for checkpoints).
struct Slot {
    var: Var,
    m: Vec<f32>,
    v: Vec<f32>,
}

/// Adam / AdamW over a fixed set of variables.
pub struct Adam {
    cfg: OptimizerConfig,
    /// Multiplies `cfg.lr` (a learning-rate schedule sets it; 1 by default).
    lr_scale: f64,
    step: u64,
    slots: Vec<Slot>,
}

/// The per-step constants of the update.
#[derive(Clone, Copy)]
struct Coefs {
    beta1: f32,
    beta2: f32,
    step_size: f32,
    inv_sqrt_bc2: f32,
    eps: f32,
    decay: f32,
}

impl Adam {
    pub fn new(vars: Vec<Var>, cfg: OptimizerConfig) -> Self {
        let slots = vars
            .into_iter()
            .map(|var| {
                let n = var.elem_count();
                Slot {
                    var,
                    m: vec![0.0; n],
                    v: vec![0.0; n],
                }
            })
            .collect();
        Adam {
            cfg,
            lr_scale: 1.0,
            step: 0,
            slots,
        }
    }

    /// Scales the configured learning rate (and the decoupled decay with it) from now on.
    pub fn set_lr_scale(&mut self, scale: f64) {
        self.lr_scale = scale;
    }

    pub fn steps_taken(&self) -> u64 {
        self.step
    }

    /// Applies one update from precomputed gradients; variables without a gradient are left.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let (b1, b2) = (self.cfg.betas[0], self.cfg.betas[1]);
        let bc1 = 1.0 - b1.powi(t);
        let bc2 = 1.0 - b2.powi(t);
        let c = Coefs {
            beta1: b1 as f32,
            beta2: b2 as f32,
            step_size: (self.cfg.lr * self.lr_scale / bc1) as f32,
            inv_sqrt_bc2: (1.0 / bc2.sqrt()) as f32,
            eps: self.cfg.eps as f32,
            decay: (self.cfg.lr * self.lr_scale * self.cfg.decay()) as f32,
        };
        for slot in &mut self.slots {
            let Some(g) = grads.get(&slot.var) else {
                continue;
            };
            let g = g.contiguous()?;
            if slot.var.device().is_cpu() {
                let op = FusedAdam {
                    c,
                    m: RefCell::new(&mut slot.m),
                    v: RefCell::new(&mut slot.v),
                };
                slot.var.inplace_op2(&g, &op)?;
            } else {
                // Accelerators: round-trip through the host with the same arithmetic.
                let mut p: Vec<f32> = slot.var.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?;
                let gv: Vec<f32> = g.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?;
                update(&c, &mut p, &gv, &mut slot.m, &mut slot.v, |x| x, |x| x);
                let t = Tensor::from_vec(p, slot.var.shape(), &Device::Cpu)?
                    .to_dtype(slot.var.dtype())?
                    .to_device(slot.var.device())?;
                slot.var.set(&t)?;
            }
        }
        Ok(())
    }

    /// Moments and step count as tensors, under `prefix`.
    pub fn export(&self, prefix: &str) -> Result<Vec<(String, Tensor)>> {
        let mut out = vec![(
            format!("{prefix}step"),
            Tensor::new(&[self.step as f64], &Device::Cpu)?,
        )];
        for (i, s) in self.slots.iter().enumerate() {
            out.push((
                format!("{prefix}{i}.m"),
                Tensor::new(s.m.as_slice(), &Device::Cpu)?,
            ));
            out.push((
                format!("{prefix}{i}.v"),
                Tensor::new(s.v.as_slice(), &Device::Cpu)?,
            ));
        }
        Ok(out)
    }

    pub fn load(&mut self, prefix: &str, state: &HashMap<String, Tensor>) -> gen_base::Result<()> {
        let get = |k: String| {
            state
                .get(&k)
                .ok_or_else(|| gen_base::Error::State(format!("missing optimizer tensor `{k}`")))
        };
        let step: Vec<f64> = get(format!("{prefix}step"))?
            .to_dtype(DType::F64)?
            .to_vec1()?;
        self.step = step.first().copied().unwrap_or(0.0) as u64;
        for (i, s) in self.slots.iter_mut().enumerate() {
            for (name, dst) in [("m", &mut s.m), ("v", &mut s.v)] {
                let v: Vec<f32> = get(format!("{prefix}{i}.{name}"))?
                    .to_dtype(DType::F32)?
                    .to_vec1()?;
                if v.len() != dst.len() {
                    return Err(gen_base::Error::State(format!(
                        "optimizer tensor `{prefix}{i}.{name}` has {} values, the model expects {}",
                        v.len(),
                        dst.len()
                    )));
                }
                *dst = v;
            }
        }
        Ok(())
    }
}

/// candle-nn's optimizer interface, so what takes one (`gen_core::descend`, candle-nn
/// code) takes gen's Adam too. The learning rate it reads and sets is the effective one,
/// `lr` times the schedule's scale.
impl candle_nn::Optimizer for Adam {
    type Config = OptimizerConfig;

    fn new(vars: Vec<Var>, cfg: OptimizerConfig) -> Result<Self> {
        Ok(Adam::new(vars, cfg))
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        Adam::step(self, grads)
    }

    fn learning_rate(&self) -> f64 {
        self.cfg.lr * self.lr_scale
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr_scale = lr / self.cfg.lr;
    }
}

/// One fused pass: decoupled decay, moment updates, bias-corrected step.
fn update<T: Copy>(
    c: &Coefs,
    p: &mut [T],
    g: &[T],
    m: &mut [f32],
    v: &mut [f32],
    to: impl Fn(T) -> f32,
    from: impl Fn(f32) -> T,
) {
    let (one_b1, one_b2) = (1.0 - c.beta1, 1.0 - c.beta2);
    for i in 0..p.len() {
        let gi = to(g[i]);
        let mi = c.beta1 * m[i] + one_b1 * gi;
        let vi = c.beta2 * v[i] + one_b2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        let pi = to(p[i]);
        let pi = pi - c.decay * pi - c.step_size * mi / (vi.sqrt() * c.inv_sqrt_bc2 + c.eps);
        p[i] = from(pi);
    }
}

/// [`update`] for f32, in two halves on two threads for big tensors (see `crate::spin`).
fn update_split(c: &Coefs, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    let n = p.len();
    if n < gen_kernels::spin::SPLIT_MIN_ELEMENTS || !gen_kernels::spin::two_threads() {
        return update(c, p, g, m, v, |x| x, |x| x);
    }
    let h = n / 2;
    let (p0, p1) = p.split_at_mut(h);
    let (m0, m1) = m.split_at_mut(h);
    let (v0, v1) = v.split_at_mut(h);
    let (g0, g1) = g.split_at(h);
    gen_kernels::spin::join_parts((p0, g0, m0, v0), (p1, g1, m1, v1), |(p, g, m, v)| {
        update(c, p, g, m, v, |x| x, |x| x)
    });
}

struct FusedAdam<'a> {
    c: Coefs,
    m: RefCell<&'a mut Vec<f32>>,
    v: RefCell<&'a mut Vec<f32>>,
}

impl candle_core::InplaceOp2 for FusedAdam<'_> {
    fn name(&self) -> &'static str {
        "fused-adam"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let (Some((a1, b1)), Some((a2, b2))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            candle_core::bail!("fused-adam: parameter and gradient must be contiguous");
        };
        let mut m = self.m.borrow_mut();
        let mut v = self.v.borrow_mut();
        match (s1, s2) {
            (CpuStorage::F32(p), CpuStorage::F32(g)) => {
                update_split(&self.c, &mut p[a1..b1], &g[a2..b2], &mut m, &mut v)
            }
            (CpuStorage::F64(p), CpuStorage::F64(g)) => update(
                &self.c,
                &mut p[a1..b1],
                &g[a2..b2],
                &mut m,
                &mut v,
                |x| x as f32,
                |x| x as f64,
            ),
            _ => candle_core::bail!(
                "fused-adam: parameters must be f32 or f64 with a gradient of the same dtype"
            ),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference Adam written out step by step in f64 (the textbook algorithm).
    fn reference(
        p0: &[f64],
        grads: &[Vec<f64>],
        lr: f64,
        b: [f64; 2],
        eps: f64,
        wd: f64,
    ) -> Vec<f64> {
        let mut p = p0.to_vec();
        let (mut m, mut v) = (vec![0.0; p.len()], vec![0.0; p.len()]);
        for (t, g) in grads.iter().enumerate() {
            let t = t as i32 + 1;
            for i in 0..p.len() {
                p[i] -= lr * wd * p[i];
                m[i] = b[0] * m[i] + (1.0 - b[0]) * g[i];
                v[i] = b[1] * v[i] + (1.0 - b[1]) * g[i] * g[i];
                let mh = m[i] / (1.0 - b[0].powi(t));
                let vh = v[i] / (1.0 - b[1].powi(t));
                p[i] -= lr * mh / (vh.sqrt() + eps);
            }
        }
        p
    }

    #[test]
    fn fused_adam_and_adamw_match_reference() {
        for (kind, wd) in [
            (OptimizerKind::Adam, None),
            (OptimizerKind::Adamw, Some(0.1)),
        ] {
            let p0 = vec![0.5f64, -1.0, 2.0];
            let var = Var::new(p0.as_slice(), &Device::Cpu).unwrap();
            let cfg = OptimizerConfig {
                kind,
                lr: 0.1,
                weight_decay: wd,
                ..Default::default()
            };
            let mut opt = Adam::new(vec![var.clone()], cfg.clone());
            // loss = sum(c * p^2): gradient 2 c p, recomputed at every step.
            let c = Tensor::new(&[1.0f64, 3.0, -0.5], &Device::Cpu).unwrap();
            let mut seen = vec![];
            for _ in 0..5 {
                let p: Vec<f64> = var.to_vec1().unwrap();
                seen.push(
                    p.iter()
                        .zip([1.0, 3.0, -0.5])
                        .map(|(p, c)| 2.0 * c * p)
                        .collect::<Vec<_>>(),
                );
                let loss = (var.as_tensor().sqr().unwrap() * &c)
                    .unwrap()
                    .sum_all()
                    .unwrap();
                opt.backward_step(&loss).unwrap();
            }
            let want = reference(&p0, &seen, 0.1, cfg.betas, cfg.eps, cfg.decay());
            let got: Vec<f64> = var.to_vec1().unwrap();
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-5, "{kind:?}: {got:?} vs {want:?}");
            }
        }
    }

    #[test]
    fn split_update_equals_one_pass() {
        // Above spin::SPLIT_MIN_ELEMENTS the f32 update runs in two halves on two threads.
        let n = 3 * gen_kernels::spin::SPLIT_MIN_ELEMENTS + 5;
        let mut rng = gen_base::Rng::new(9);
        let mut g = vec![0f32; n];
        rng.fill_normal(&mut g);
        let c = Coefs {
            beta1: 0.9,
            beta2: 0.999,
            step_size: 0.01,
            inv_sqrt_bc2: 3.0,
            eps: 1e-8,
            decay: 0.001,
        };
        let (mut p1, mut m1, mut v1) = (vec![0.5f32; n], vec![0.1f32; n], vec![0.2f32; n]);
        let (mut p2, mut m2, mut v2) = (p1.clone(), m1.clone(), v1.clone());
        update(&c, &mut p1, &g, &mut m1, &mut v1, |x| x, |x| x);
        update_split(&c, &mut p2, &g, &mut m2, &mut v2);
        assert_eq!((p1, m1, v1), (p2, m2, v2), "bit for bit");
    }

    #[test]
    fn export_and_load_restore_moments() {
        let var = Var::new(&[1.0f32, 2.0], &Device::Cpu).unwrap();
        let mut a = Adam::new(vec![var.clone()], OptimizerConfig::default());
        a.backward_step(&var.as_tensor().sqr().unwrap().sum_all().unwrap())
            .unwrap();
        let state: HashMap<_, _> = a.export("opt.").unwrap().into_iter().collect();
        let mut b = Adam::new(vec![var.clone()], OptimizerConfig::default());
        b.load("opt.", &state).unwrap();
        assert_eq!(b.steps_taken(), 1);
        assert_eq!(b.slots[0].m, a.slots[0].m);
        assert_eq!(b.slots[0].v, a.slots[0].v);
    }

    #[test]
    fn validation_names_the_key() {
        let cfg = OptimizerConfig {
            lr: 0.0,
            ..Default::default()
        };
        assert!(cfg
            .validate("train.optimizer")
            .unwrap_err()
            .to_string()
            .contains("train.optimizer.lr"));
        let cfg = OptimizerConfig {
            weight_decay: Some(0.1),
            ..Default::default()
        };
        assert!(cfg.validate("o").unwrap_err().to_string().contains("adamw"));
    }

    /// Adam's first step moves each parameter by lr * g / (|g| + eps): halving the scale
    /// halves the step.
    #[test]
    fn lr_scale_scales_the_step() {
        use candle_core::{Device, Var};
        let step_of = |scale: f64| -> f64 {
            let v = Var::new(&[1.0f32], &Device::Cpu).unwrap();
            let mut opt = Adam::new(vec![v.clone()], OptimizerConfig::default());
            opt.set_lr_scale(scale);
            let loss = (v.as_tensor() * 3.0).unwrap().sum_all().unwrap();
            opt.backward_step(&loss).unwrap();
            1.0 - v.as_tensor().to_vec1::<f32>().unwrap()[0] as f64
        };
        let (full, half) = (step_of(1.0), step_of(0.5));
        assert!((full - 1e-3).abs() < 1e-7, "{full}");
        assert!((half - 0.5e-3).abs() < 1e-7, "{half}");
    }
}
