//! `checkpoint.safetensors`: the model's state (parameters and optimizer moments) as
//! tensors, and the trainer's position (epoch, step, generator states) and the
//! resolved config as metadata. Written to a temporary file, synced, then renamed, so a
//! crash never leaves a half-written checkpoint in place of a good one.

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use gen_core::Rng;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

pub const FILE: &str = "checkpoint.safetensors";
pub const FORMAT_VERSION: u32 = 1;

/// Where training stands.
#[derive(Clone, Debug, PartialEq)]
pub struct Position {
    pub family: String,
    /// Epochs completed.
    pub epoch: usize,
    /// Optimizer steps taken.
    pub step: u64,
    pub data_rng: Rng,
    pub noise_rng: Rng,
}

fn rng_to_string(r: &Rng) -> String {
    r.state()
        .iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn rng_from_string(s: &str) -> Option<Rng> {
    let v: Vec<u64> = s
        .split(',')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    Some(Rng::from_state(v.try_into().ok()?))
}

pub fn save(dir: &Path, state: Vec<(String, Tensor)>, pos: &Position, config: &str) -> Result<()> {
    let meta: HashMap<String, String> = [
        ("format_version", FORMAT_VERSION.to_string()),
        ("family", pos.family.clone()),
        ("epoch", pos.epoch.to_string()),
        ("step", pos.step.to_string()),
        ("data_rng", rng_to_string(&pos.data_rng)),
        ("noise_rng", rng_to_string(&pos.noise_rng)),
        ("config", config.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let state: Vec<(String, Tensor)> = state
        .into_iter()
        .map(|(k, t)| Ok((k, t.to_device(&Device::Cpu)?.contiguous()?)))
        .collect::<candle_core::Result<_>>()?;
    let bytes = safetensors::serialize(state.iter().map(|(k, t)| (k.as_str(), t)), Some(meta))
        .context("serializing the checkpoint")?;
    let path = dir.join(FILE);
    let tmp = dir.join(format!("{FILE}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::anyhow!(
            "writing checkpoint {}: {e} (the previous checkpoint, if any, is intact)",
            path.display()
        )
    })
}

/// Loads the state tensors and position of a run.
pub fn load(dir: &Path) -> Result<(HashMap<String, Tensor>, Position)> {
    let path = dir.join(FILE);
    let bytes = std::fs::read(&path)
        .with_context(|| format!("cannot read {} (is this a run directory?)", path.display()))?;
    let bad =
        |what: &str| anyhow::anyhow!("{} is not a valid gen checkpoint: {what}", path.display());
    let (_, header) =
        safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(&e.to_string()))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let get = |k: &str| {
        meta.get(k)
            .cloned()
            .ok_or_else(|| bad(&format!("metadata `{k}` is missing")))
    };
    let version: u32 = get("format_version")?
        .parse()
        .map_err(|_| bad("bad format_version"))?;
    if version > FORMAT_VERSION {
        bail!(
            "{} has checkpoint format {version}, newer than this gen understands ({FORMAT_VERSION}); update gen",
            path.display()
        );
    }
    let pos = Position {
        family: get("family")?,
        epoch: get("epoch")?.parse().map_err(|_| bad("bad epoch"))?,
        step: get("step")?.parse().map_err(|_| bad("bad step"))?,
        data_rng: rng_from_string(&get("data_rng")?).ok_or_else(|| bad("bad data_rng"))?,
        noise_rng: rng_from_string(&get("noise_rng")?).ok_or_else(|| bad("bad noise_rng"))?,
    };
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
        .map_err(|e| bad(&e.to_string()))?;
    Ok((tensors, pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tensor::new(&[1.0f32, 2.0], &Device::Cpu).unwrap();
        let pos = Position {
            family: "vae".into(),
            epoch: 3,
            step: 1407,
            data_rng: Rng::new(1),
            noise_rng: Rng::new(2),
        };
        save(dir.path(), vec![("a".into(), t)], &pos, "model: {}").unwrap();
        let (ts, p) = load(dir.path()).unwrap();
        assert_eq!(p, pos);
        assert_eq!(ts["a"].to_vec1::<f32>().unwrap(), vec![1.0, 2.0]);
        std::fs::write(dir.path().join(FILE), b"garbage").unwrap();
        assert!(load(dir.path())
            .unwrap_err()
            .to_string()
            .contains("not a valid gen checkpoint"));
    }
}
