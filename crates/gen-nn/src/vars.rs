//! Parameters the candle way: a [`Vb`] is a scope in a model's parameter store, named as
//! candle-nn's `VarBuilder` names them (`vb.pp("encoder").pp(0)` holds
//! `encoder.0.weight`).
//!
//! The store is a real `candle_nn::VarMap`, so a candle-nn module (Embedding, LayerNorm,
//! Conv1d, LSTM, ...) builds on [`Vb::candle`] as it is, and its parameters are trained
//! and saved with the rest. Two things candle-nn's store does not do are kept here: the
//! creation order (optimizer state and checkpoints are keyed by it) and initialization
//! from the workspace's seeded [`Rng`] (candle's CPU generator cannot be seeded), through
//! the hints of [`Init`].

use crate::params::Params;
use candle_core::{DType, Device, Result, Shape, Tensor, Var};
use candle_nn::VarMap;
use gen_base::Rng;
use std::sync::{Arc, Mutex, MutexGuard};

/// How a new parameter starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Uniform in `[-bound, bound]` (PyTorch's default for linear and convolution layers,
    /// with `bound = 1 / sqrt(fan_in)`).
    Uniform(f64),
    /// `mean + std * N(0, 1)` (DCGAN's `N(0, 0.02)`).
    Normal { mean: f64, std: f64 },
    /// Every value the same (0 for biases and log-scales, 1 for variances).
    Const(f64),
}

struct Store {
    varmap: VarMap,
    /// gen's own parameters in creation order, and the generator that initializes them.
    ordered: Mutex<(Params, Rng)>,
    dtype: DType,
    device: Device,
}

/// A scope in a parameter store (cheap to clone, like candle-nn's `VarBuilder`).
#[derive(Clone)]
pub struct Vb {
    store: Arc<Store>,
    path: Vec<String>,
}

impl Vb {
    /// A new, empty store whose parameters are drawn from `rng`.
    pub fn new(rng: Rng, dtype: DType, device: &Device) -> Self {
        Vb {
            store: Arc::new(Store {
                varmap: VarMap::new(),
                ordered: Mutex::new((Params::new(), rng)),
                dtype,
                device: device.clone(),
            }),
            path: vec![],
        }
    }

    /// A new store (its own variables) drawing initial values where this one's draws
    /// stopped, on the same device and dtype.
    pub fn after(&self) -> Self {
        Vb::new(self.rng(), self.dtype(), self.device())
    }

    /// The sub-scope `name` (`encoder`, then `0`, ...).
    pub fn pp(&self, name: impl ToString) -> Self {
        let mut path = self.path.clone();
        path.push(name.to_string());
        Vb {
            store: self.store.clone(),
            path,
        }
    }

    /// The full name of `name` in this scope.
    pub fn name(&self, name: &str) -> String {
        self.path
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(name))
            .collect::<Vec<_>>()
            .join(".")
    }

    pub fn dtype(&self) -> DType {
        self.store.dtype
    }

    pub fn device(&self) -> &Device {
        &self.store.device
    }

    fn ordered(&self) -> MutexGuard<'_, (Params, Rng)> {
        self.store.ordered.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new parameter `name` of this scope, of `shape`, started as `init` says.
    pub fn var(&self, shape: impl Into<Shape>, name: &str, init: Init) -> Result<Var> {
        let full = self.name(name);
        let (dtype, device) = (self.store.dtype, &self.store.device);
        let mut data = self
            .store
            .varmap
            .data()
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if data.contains_key(&full) {
            candle_core::bail!("parameter `{full}` is created twice");
        }
        let mut ordered = self.ordered();
        let (params, rng) = &mut *ordered;
        let shape: Shape = shape.into();
        if !crate::memory::charge(&full, shape.dims(), dtype.size_in_bytes()) {
            // Over the open memory budget: counted, not allocated (see `memory`).
            let empty = Tensor::zeros(vec![0; shape.rank()], dtype, device)?;
            let var = params.add(full.clone(), empty)?;
            data.insert(full, var.clone());
            return Ok(var);
        }
        let t = match init {
            Init::Uniform(bound) => rng.rand_uniform(shape, -bound, bound, dtype, device)?,
            Init::Normal { mean, std } => ((rng.randn(shape, dtype, device)? * std)? + mean)?,
            Init::Const(c) => (Tensor::ones(shape, dtype, device)? * c)?,
        };
        let var = params.add(full.clone(), t)?;
        data.insert(full, var.clone());
        Ok(var)
    }

    /// candle-nn's own `VarBuilder` on this scope and store: a candle-nn module built on
    /// it keeps its parameters here (they start from candle's generator, not the seed).
    pub fn candle(&self) -> candle_nn::VarBuilder<'static> {
        let mut vb = candle_nn::VarBuilder::from_varmap(
            &self.store.varmap,
            self.store.dtype,
            &self.store.device,
        );
        for p in &self.path {
            vb = vb.pp(p);
        }
        vb
    }

    /// Every parameter of the store: gen's in creation order, then those candle-nn
    /// modules created, by name.
    pub fn params(&self) -> Params {
        let mut params = self.ordered().0.clone();
        let data = self
            .store
            .varmap
            .data()
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut extra: Vec<(&String, &Var)> = data
            .iter()
            .filter(|(name, _)| !params.named().iter().any(|(n, _)| n == *name))
            .collect();
        extra.sort_by(|a, b| a.0.cmp(b.0));
        for (name, var) in extra {
            params.push(name.clone(), var.clone());
        }
        params
    }

    /// The generator after every draw so far (for callers that continue the stream).
    pub fn rng(&self) -> Rng {
        self.ordered().1.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::Module;

    /// Names follow the scopes; values follow the seeded stream in creation order, the
    /// same as drawing them by hand; a name used twice is an error.
    #[test]
    fn scopes_name_and_the_seed_draws() {
        let vb = Vb::new(Rng::new(7), DType::F64, &Device::Cpu);
        let w = vb
            .pp("encoder")
            .pp(0)
            .var((2, 3), "weight", Init::Uniform(0.5))
            .unwrap();
        let s = vb
            .pp("decoder")
            .var(4, "log_sigma", Init::Const(0.0))
            .unwrap();
        let g = vb
            .var(
                2,
                "gamma",
                Init::Normal {
                    mean: 1.0,
                    std: 0.02,
                },
            )
            .unwrap();
        let names: Vec<String> = vb.params().named().iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(names, ["encoder.0.weight", "decoder.log_sigma", "gamma"]);
        let mut rng = Rng::new(7);
        let want_w = rng
            .rand_uniform((2, 3), -0.5, 0.5, DType::F64, &Device::Cpu)
            .unwrap();
        let want_g =
            ((rng.randn(2, DType::F64, &Device::Cpu).unwrap() * 0.02).unwrap() + 1.0).unwrap();
        assert_eq!(
            w.to_vec2::<f64>().unwrap(),
            want_w.to_vec2::<f64>().unwrap()
        );
        assert_eq!(
            g.to_vec1::<f64>().unwrap(),
            want_g.to_vec1::<f64>().unwrap()
        );
        assert_eq!(s.to_vec1::<f64>().unwrap(), vec![0.0; 4]);
        assert_eq!(vb.rng(), rng);
        assert!(vb
            .pp("encoder")
            .pp(0)
            .var(1, "weight", Init::Const(1.0))
            .is_err());
    }

    /// A candle-nn module builds on the same store as it is: its parameters are found by
    /// their scoped names, come after gen's own, and the layer computes with them.
    #[test]
    fn a_candle_nn_module_lives_in_the_store() {
        let vb = Vb::new(Rng::new(1), DType::F32, &Device::Cpu);
        vb.pp("head").var(3, "bias", Init::Const(0.0)).unwrap();
        let emb = candle_nn::embedding(5, 3, vb.candle().pp("tokens")).unwrap();
        let names: Vec<String> = vb.params().named().iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(names, ["head.bias", "tokens.weight"]);
        let table = vb.params().named()[1].1.as_tensor().clone();
        let ids = Tensor::new(&[4u32, 0], &Device::Cpu).unwrap();
        let rows = emb.forward(&ids).unwrap();
        assert_eq!(
            rows.to_vec2::<f32>().unwrap(),
            vec![
                table.get(4).unwrap().to_vec1::<f32>().unwrap(),
                table.get(0).unwrap().to_vec1::<f32>().unwrap()
            ]
        );
    }
}
