//! `gen train`'s memory estimate: sized before the big allocations (the data from its
//! headers, the parameters under a budget), the activations measured on two small test
//! batches, and the whole checked against what the machine has.

use crate::run::config::{OnNonFinite, RunConfig};
use crate::run::session::Session;
use anyhow::{bail, Result};
use candle_core::Tensor;
use gen_base::config::{ConfigError, ConfigSource};
use gen_core::{Model, Rng};
use gen_nn::memory::{human, Available, Estimate, ParamBudget, ParamCount};

/// Bytes a parameter costs while training, per byte of the parameter itself: itself, its
/// gradient, Adam's two moments, and the checkpoint's copy of all three.
const COPIES_PER_PARAM: u64 = 7;
/// A training step holds its forward activations for the backward pass and their
/// gradients: about this many times a forward pass's peak. With it the whole estimate
/// came out 1.0x to 1.5x the measured peak RSS of `vae.yaml` and `gan.yaml` (batch 100
/// and 20,000) and `vae-conv.yaml` and `dcgan-small.yaml` (64 and 1,000); `tests/limits.rs`
/// keeps the VAE's inside 0.9x to 2x.
const TRAIN_OVER_FORWARD: u64 = 3;

/// What this machine has (an unparsable `GEN_MEMORY_LIMIT` is an error).
pub fn available() -> Result<Option<Available>> {
    gen_nn::memory::available().map_err(anyhow::Error::msg)
}

/// Fails when loading the data set alone would not fit.
pub fn check_data(available: Option<&Available>, data_bytes: u64) -> Result<()> {
    match available {
        Some(a) if data_bytes > a.bytes => bail!(
            "not enough memory for the data set: loading it takes about {}, but the {} is {}; \
             use a smaller data set (`data.train_subset` cuts after the whole set is read, so it does not help here), \
             or set {}=SIZE if more memory is really there",
            human(data_bytes),
            a.source,
            human(a.bytes),
            gen_nn::memory::LIMIT_ENV
        ),
        _ => Ok(()),
    }
}

/// Runs `build` with its parameters charged against the room left next to the data: a
/// model too big for the machine is refused before its parameters are allocated.
pub fn build_within<T>(
    available: Option<&Available>,
    data_bytes: u64,
    build: impl FnOnce() -> Result<T>,
) -> Result<T> {
    check_data(available, data_bytes)?;
    let Some(a) = available else {
        return build();
    };
    let budget = ParamBudget::open(a.bytes.saturating_sub(data_bytes) / COPIES_PER_PARAM);
    let built = build();
    let count = budget.close();
    if count.overrun.is_some() {
        return Err(params_too_big(&count, a, built.is_ok()));
    }
    built
}

/// The error for a model whose parameters alone do not fit; `complete` says whether
/// the count covers every parameter (the build ran to its end on placeholders) or stops
/// where the build did.
pub fn params_too_big(count: &ParamCount, available: &Available, complete: bool) -> anyhow::Error {
    let o = count.overrun.as_ref().expect("called on an overrun");
    let dims: Vec<String> = o.dims.iter().map(|d| d.to_string()).collect();
    let culprit = format!(
        "`{}` ({}) alone is {}",
        o.name,
        dims.join(" x "),
        human(o.bytes)
    );
    let size = if complete {
        format!(
            "its {} parameters take {} ({culprit}), about {} with their gradients, Adam's moments and the checkpoint's copy",
            thousands(count.count),
            human(count.bytes),
            human(count.bytes.saturating_mul(COPIES_PER_PARAM))
        )
    } else {
        format!(
            "its parameters take at least {} ({culprit})",
            human(count.bytes)
        )
    };
    anyhow::anyhow!(
        "not enough memory for this model: {size}, but the {} is {}; make the network smaller \
         (its widths and layer counts under `model`), or set {}=SIZE if more memory is really there",
        available.source,
        human(available.bytes),
        gen_nn::memory::LIMIT_ENV,
    )
}

/// `163000000824` as `163,000,000,824`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A batch size no larger than the training set: a bigger one would silently train one
/// full-batch step per epoch.
pub fn check_batch_size(src: &ConfigSource, cfg: &RunConfig, train_size: usize) -> Result<()> {
    let bs = cfg.train.batch_size;
    if bs > train_size {
        let e = ConfigError::invalid(
            "train.batch_size",
            format!(
                "{bs} is larger than the training set ({train_size} examples); at most {train_size} \
                 (one full-batch step per epoch)"
            ),
        );
        return Err(e.locate_in(src).into());
    }
    Ok(())
}

/// The whole estimate of a training run, with the activations measured on the test set.
pub fn training_estimate(
    model: &dyn Model,
    session: &Session,
    data_bytes: u64,
) -> Result<Estimate> {
    let cfg = session.cfg;
    let params = tensor_bytes(model.params().named().iter().map(|(_, v)| v.as_tensor()));
    let state = state_bytes(model)?;
    let per_example = forward_bytes_per_example(model, session)?;
    // Batches no larger than the sets they are cut from.
    let train_batch = cfg.train.batch_size.min(session.data.train.n);
    let eval_batch = cfg.train.eval_batch_size.min(session.data.test.n);
    let train = TRAIN_OVER_FORWARD * per_example * train_batch as u64;
    let eval = per_example * eval_batch as u64;
    let mut e = Estimate::default();
    e.add("data", data_bytes)
        .add("parameters", params)
        .add("gradients", params)
        .add("optimizer state", state.saturating_sub(params))
        .add("checkpoint copy", state);
    if cfg.train.on_nonfinite == OnNonFinite::SkipBatch {
        e.add("skip_batch copy", state);
    }
    if train >= eval {
        e.add(format!("activations at batch {train_batch}"), train);
    } else {
        e.add(format!("activations at eval batch {eval_batch}"), eval);
    }
    Ok(e)
}

/// Bytes the tensors hold.
fn tensor_bytes<'a>(tensors: impl IntoIterator<Item = &'a Tensor>) -> u64 {
    tensors
        .into_iter()
        .map(|t| (t.elem_count() * t.dtype().size_in_bytes()) as u64)
        .sum()
}

/// Bytes of a model's state: what a checkpoint holds.
pub fn state_bytes(model: &dyn Model) -> Result<u64> {
    Ok(tensor_bytes(model.state()?.iter().map(|(_, t)| t)))
}

/// The bytes one more test example adds to the peak of a forward pass (the model's
/// evaluation), from the peaks at two small batch sizes.
fn forward_bytes_per_example(model: &dyn Model, session: &Session) -> Result<u64> {
    let n = session.data.test.n;
    let (small, large) = (n.min(64), n.min(256));
    if large <= small {
        return Ok(0);
    }
    let peak = |b: usize| -> Result<u64> {
        let batch = session.test_batch(&(0..b).collect::<Vec<_>>())?;
        let (r, bytes) = gen_kernels::alloc::peak_of(|| model.evaluate(&batch, &mut Rng::new(0)));
        r?;
        Ok(bytes)
    };
    peak(small)?; // once untimed: first-use caches and buffers
    let (a, b) = (peak(small)?, peak(large)?);
    Ok(b.saturating_sub(a) / (large - small) as u64)
}

/// Fails with the estimate when it is above what the machine has.
pub fn check(e: &Estimate, available: Option<&Available>, cfg: &RunConfig) -> Result<()> {
    let fix = format!(
        "lower train.batch_size (now {}) or train.eval_batch_size (now {}), make the model smaller, \
         or set {}=SIZE if more memory is really there",
        cfg.train.batch_size,
        cfg.train.eval_batch_size,
        gen_nn::memory::LIMIT_ENV
    );
    if let Some(msg) = e.check(available, &fix) {
        bail!(msg);
    }
    Ok(())
}

/// `memory: about 250.3 MiB (data 219.6 MiB, ...) of 22.9 GiB available memory`.
pub fn line(e: &Estimate, available: Option<&Available>) -> String {
    match available {
        Some(a) => format!("memory: about {e}, of {} {}", human(a.bytes), a.source),
        None => format!("memory: about {e}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_separators() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(163_000_000_824), "163,000,000,824");
    }
}
