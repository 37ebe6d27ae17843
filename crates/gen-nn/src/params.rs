//! The named, ordered store of trainable tensors that checkpoints and histograms read.

use candle_core::{Result, Tensor, Var};
use std::collections::HashMap;

/// Named trainable tensors, in creation order.
#[derive(Clone, Default)]
pub struct Params {
    entries: Vec<(String, Var)>,
}

impl Params {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, name: impl Into<String>, init: Tensor) -> Result<Var> {
        let var = Var::from_tensor(&init)?;
        self.entries.push((name.into(), var.clone()));
        Ok(var)
    }

    /// Adds an existing variable (one a candle-nn module created) under `name`.
    pub fn push(&mut self, name: impl Into<String>, var: Var) {
        self.entries.push((name.into(), var));
    }

    pub fn named(&self) -> &[(String, Var)] {
        &self.entries
    }

    pub fn vars(&self) -> Vec<Var> {
        self.entries.iter().map(|(_, v)| v.clone()).collect()
    }

    /// Copies the values of the entries whose names start with one of `prefixes`, in
    /// order, into the entries of `to` (a store built the same way under other names: the
    /// adversarial families' copies of a player before its steps).
    pub fn copy_into(&self, prefixes: &[&str], to: &Params) -> Result<()> {
        let from = self
            .entries
            .iter()
            .filter(|(n, _)| prefixes.iter().any(|p| n.starts_with(p)));
        for ((_, dst), (_, src)) in to.entries.iter().zip(from) {
            dst.set(&src.as_tensor().detach())?;
        }
        Ok(())
    }

    /// The name of the first parameter holding a NaN or infinity (after a step with a
    /// non-finite gradient), if any.
    pub fn first_non_finite(&self) -> Result<Option<&str>> {
        for (n, v) in &self.entries {
            let s = v
                .sum_all()?
                .to_dtype(candle_core::DType::F64)?
                .to_scalar::<f64>()?;
            if !s.is_finite() {
                return Ok(Some(n));
            }
        }
        Ok(None)
    }

    pub fn count(&self) -> usize {
        self.entries.iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// The parameters as (prefix + name, tensor).
    pub fn export(&self, prefix: &str) -> Vec<(String, Tensor)> {
        self.entries
            .iter()
            .map(|(n, v)| (format!("{prefix}{n}"), v.as_tensor().clone()))
            .collect()
    }

    /// Loads every parameter from `state[prefix + name]`, checking shapes.
    pub fn load(&self, prefix: &str, state: &HashMap<String, Tensor>) -> gen_base::Result<()> {
        for (n, v) in &self.entries {
            let key = format!("{prefix}{n}");
            let t = state
                .get(&key)
                .ok_or_else(|| gen_base::Error::State(format!("missing tensor `{key}`")))?;
            if t.dims() != v.dims() {
                return Err(gen_base::Error::State(format!(
                    "tensor `{key}` has shape {:?}, the model expects {:?}",
                    t.dims(),
                    v.dims()
                )));
            }
            v.set(&t.to_dtype(v.dtype())?.to_device(v.device())?)?;
        }
        Ok(())
    }
}
