//! Spotting a non-finite step, and the copy of the state `skip_batch` restores.

use anyhow::Result;
use candle_core::Tensor;
use gen_core::{Model, Report};
use std::collections::HashMap;

/// What went non-finite in a step: a loss term, or (the loss being finite) a parameter
/// after the update, i.e. a gradient.
pub fn non_finite(model: &dyn Model, report: &Report) -> Result<Option<String>> {
    if let Some((term, v)) = report.non_finite() {
        return Ok(Some(format!("`{term}` is {v}")));
    }
    Ok(model
        .params()
        .first_non_finite()?
        .map(|p| format!("a gradient is not finite (parameter `{p}` became NaN or infinite)")))
}

/// A copy of a model's state that later steps cannot change (tensors share storage with
/// the variables they came from).
pub fn deep_copy(state: Vec<(String, Tensor)>) -> Result<HashMap<String, Tensor>> {
    state.into_iter().map(|(k, t)| Ok((k, t.copy()?))).collect()
}
