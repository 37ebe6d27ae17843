//! Checkpoints: the model's state (parameters and optimizer moments) as safetensors
//! tensors, with the session's position (epoch, step, random-generator states, and the
//! place inside an unfinished epoch) and the resolved config as metadata.
//!
//! `checkpoint.safetensors` is always the newest complete checkpoint; up to
//! `checkpoint.keep - 1` older ones stay beside it as `checkpoint-step-<step>.safetensors`.
//! Every write goes to a temporary file in the same directory, is synced, renamed over
//! the old name and the directory synced ([`write_atomic`]), so a crash or a full disk
//! never leaves a half-written file in place of a good one.

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use gen_core::{ReportMean, Rng};
use gen_nn::memory::human;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const FILE: &str = "checkpoint.safetensors";
/// 2: adds the position inside an unfinished epoch.
pub const FORMAT_VERSION: u32 = 2;
const OLDER_PREFIX: &str = "checkpoint-step-";

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
    /// Set when the checkpoint was taken inside epoch `epoch + 1`.
    pub partial: Option<PartialEpoch>,
}

/// How far an unfinished epoch got: enough to redo its shuffle and skip what is done.
#[derive(Clone, Debug, PartialEq)]
pub struct PartialEpoch {
    /// The data generator before the epoch's shuffle.
    pub order_rng: Rng,
    /// Batches already trained on.
    pub batches_done: usize,
    /// The epoch's running mean of training reports so far.
    pub mean: ReportMean,
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

/// The checkpoint file's bytes.
pub fn encode(state: Vec<(String, Tensor)>, pos: &Position, config: &str) -> Result<Vec<u8>> {
    let mut meta: HashMap<String, String> = [
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
    if let Some(p) = &pos.partial {
        meta.insert("partial_order_rng".into(), rng_to_string(&p.order_rng));
        meta.insert("partial_batches".into(), p.batches_done.to_string());
        meta.insert("partial_mean".into(), serde_json::to_string(&p.mean)?);
    }
    let state: Vec<(String, Tensor)> = state
        .into_iter()
        .map(|(k, t)| Ok((k, t.to_device(&Device::Cpu)?.contiguous()?)))
        .collect::<candle_core::Result<_>>()?;
    safetensors::serialize(state.iter().map(|(k, t)| (k.as_str(), t)), Some(meta))
        .context("serializing the checkpoint")
}

/// A checkpoint read back: tensors, position and the config it was trained with.
pub struct Loaded {
    pub tensors: HashMap<String, Tensor>,
    pub pos: Position,
    pub config: String,
}

/// Parses a checkpoint file's bytes; `path` only names it in errors.
pub fn decode(bytes: &[u8], path: &Path) -> Result<Loaded> {
    let bad =
        |what: &str| anyhow::anyhow!("{} is not a valid gen checkpoint: {what}", path.display());
    let (_, header) =
        safetensors::SafeTensors::read_metadata(bytes).map_err(|e| bad(&e.to_string()))?;
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
    let rng = |k: &str| rng_from_string(&get(k)?).ok_or_else(|| bad(&format!("bad {k}")));
    let partial = match meta.get("partial_batches") {
        None => None,
        Some(b) => Some(PartialEpoch {
            order_rng: rng("partial_order_rng")?,
            batches_done: b.parse().map_err(|_| bad("bad partial_batches"))?,
            mean: serde_json::from_str(&get("partial_mean")?)
                .map_err(|_| bad("bad partial_mean"))?,
        }),
    };
    let pos = Position {
        family: get("family")?,
        epoch: get("epoch")?.parse().map_err(|_| bad("bad epoch"))?,
        step: get("step")?.parse().map_err(|_| bad("bad step"))?,
        data_rng: rng("data_rng")?,
        noise_rng: rng("noise_rng")?,
        partial,
    };
    let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
        .map_err(|e| bad(&e.to_string()))?;
    Ok(Loaded {
        tensors,
        pos,
        config: get("config")?,
    })
}

/// The older checkpoints in `dir`, newest first.
fn older(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let step = name
                .strip_prefix(OLDER_PREFIX)?
                .strip_suffix(".safetensors")?
                .parse()
                .ok()?;
            Some((step, e.path()))
        })
        .collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.0));
    v
}

/// The newest loadable checkpoint of a run: `checkpoint.safetensors`, or, if that is
/// missing or damaged, the newest older one that loads (with a warning).
pub fn load(dir: &Path) -> Result<Loaded> {
    let path = dir.join(FILE);
    let newest = std::fs::read(&path)
        .with_context(|| format!("cannot read {} (is this a run directory?)", path.display()))
        .and_then(|b| decode(&b, &path));
    let err = match newest {
        Ok(l) => return Ok(l),
        Err(e) => e,
    };
    for (_, p) in older(dir) {
        if let Ok(l) = std::fs::read(&p)
            .map_err(anyhow::Error::from)
            .and_then(|b| decode(&b, &p))
        {
            eprintln!(
                "warning: {err:#}; using the older checkpoint {}",
                p.display()
            );
            return Ok(l);
        }
    }
    Err(err)
}

/// [`load`], checking that the checkpoint is of `family` (the run's config names it).
pub fn load_family(dir: &Path, family: &str) -> Result<Loaded> {
    let l = load(dir)?;
    if l.pos.family != family {
        bail!(
            "{} holds a `{}` checkpoint, but its config says `{family}`",
            dir.display(),
            l.pos.family
        );
    }
    Ok(l)
}

/// A step of [`write_atomic`] at which tests make the write fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
pub enum Stage {
    Create,
    Write,
    Sync,
    Rename,
}

/// Writes `bytes` to `dir/name` atomically: a temporary file in `dir`, fsync, rename
/// over `name`, fsync of `dir`. On any failure the temporary file is removed and
/// `dir/name` is untouched. `fail_at` injects a failure (tests only).
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8], fail_at: Option<Stage>) -> Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let injected = |s: Stage| -> std::io::Result<()> {
        if fail_at == Some(s) {
            return Err(std::io::Error::other(format!("injected failure at {s:?}")));
        }
        Ok(())
    };
    let write = || -> std::io::Result<()> {
        injected(Stage::Create)?;
        let mut f = std::fs::File::create(&tmp)?;
        match fail_at {
            // A partial write, as a full disk would leave.
            Some(Stage::Write) => {
                f.write_all(&bytes[..bytes.len() / 2])?;
                injected(Stage::Write)?;
            }
            _ => f.write_all(bytes)?,
        }
        injected(Stage::Sync)?;
        f.sync_all()?;
        injected(Stage::Rename)?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        // The OS error stays the source, so callers can tell an I/O failure.
        anyhow::Error::new(e).context(format!(
            "writing {} (the previous checkpoint, if any, is intact)",
            path.display()
        ))
    })
}

/// Writes a run's checkpoints, keeping the newest `keep`.
pub struct Checkpointer {
    dir: PathBuf,
    keep: usize,
    /// The step `checkpoint.safetensors` holds, if this run wrote or loaded it.
    current: Option<u64>,
    /// Fault injection for tests.
    pub fail_at: Option<Stage>,
}

impl Checkpointer {
    pub fn new(dir: &Path, keep: usize, current: Option<u64>) -> Self {
        Checkpointer {
            dir: dir.to_path_buf(),
            keep: keep.max(1),
            current,
            fail_at: None,
        }
    }

    /// The step of the newest checkpoint this run wrote or resumed from.
    pub fn current(&self) -> Option<u64> {
        self.current
    }

    pub fn save(
        &mut self,
        state: Vec<(String, Tensor)>,
        pos: &Position,
        config: &str,
    ) -> Result<()> {
        let bytes = encode(state, pos, config)?;
        // Keep the current newest under its step's name before replacing it (a hard
        // link: no copy, and both names stay valid until the rename below).
        let mut kept = None;
        if let (true, Some(step)) = (self.keep > 1, self.current) {
            let from = self.dir.join(FILE);
            let to = self
                .dir
                .join(format!("{OLDER_PREFIX}{step:09}.safetensors"));
            if from.exists() && !to.exists() {
                if std::fs::hard_link(&from, &to).is_err() {
                    std::fs::copy(&from, &to).with_context(|| {
                        format!("keeping the previous checkpoint as {}", to.display())
                    })?;
                }
                kept = Some(to);
            }
        }
        if let Err(e) = write_atomic(&self.dir, FILE, &bytes, self.fail_at) {
            // The newest is still the previous one: its copy under a step name would
            // only be a duplicate.
            if let Some(k) = kept {
                let _ = std::fs::remove_file(k);
            }
            return Err(e);
        }
        self.current = Some(pos.step);
        for (_, p) in older(&self.dir).into_iter().skip(self.keep - 1) {
            let _ = std::fs::remove_file(p);
        }
        Ok(())
    }
}

pub use gen_kernels::sys::free_space;

/// Fails before training if `dir` cannot hold the checkpoints: `keep + 1` copies of a
/// checkpoint of `bytes` (the kept ones and the one being written).
pub fn check_space(dir: &Path, bytes: u64, keep: usize) -> Result<()> {
    let need = bytes * (keep as u64 + 1);
    if let Some(free) = free_space(dir) {
        if free < need {
            bail!(
                "{} has {} free, but checkpoints of this model need about {} ({} kept + 1 being written, {} each); \
                 free some space or write the run elsewhere with --runs DIR",
                dir.display(),
                human(free),
                human(need),
                keep,
                human(bytes)
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(step: u64) -> Position {
        Position {
            family: "vae".into(),
            epoch: 3,
            step,
            data_rng: Rng::new(1),
            noise_rng: Rng::new(2),
            partial: None,
        }
    }

    fn state(v: f32) -> Vec<(String, Tensor)> {
        vec![("a".into(), Tensor::new(&[v, 2.0], &Device::Cpu).unwrap())]
    }

    fn value(dir: &Path) -> f32 {
        load(dir).unwrap().tensors["a"].to_vec1::<f32>().unwrap()[0]
    }

    #[test]
    fn roundtrip_with_a_partial_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let mut mean = ReportMean::default();
        let r = gen_core::Report {
            loss: 0.1 + 0.2, // not exactly representable in decimal: must survive bit for bit
            joint_kl: gen_core::JointKl::additive(
                gen_core::KlDirection::Forward,
                vec![("t", 1.0 / 3.0)],
            ),
            metrics: vec![],
        };
        mean.add(&r, 7).unwrap();
        let mut p = pos(1407);
        p.partial = Some(PartialEpoch {
            order_rng: Rng::new(9),
            batches_done: 12,
            mean,
        });
        Checkpointer::new(dir.path(), 2, None)
            .save(state(1.0), &p, "model: {}")
            .unwrap();
        let l = load(dir.path()).unwrap();
        assert_eq!(l.pos, p);
        assert_eq!(l.config, "model: {}");
        assert_eq!(l.tensors["a"].to_vec1::<f32>().unwrap(), vec![1.0, 2.0]);
    }

    #[test]
    fn keeps_the_newest_n() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Checkpointer::new(dir.path(), 3, None);
        for step in 1..=5 {
            c.save(state(step as f32), &pos(step), "").unwrap();
        }
        assert_eq!(value(dir.path()), 5.0);
        let kept: Vec<u64> = older(dir.path()).iter().map(|(s, _)| *s).collect();
        assert_eq!(kept, vec![4, 3]);
        // A damaged newest file: the next one back is used.
        std::fs::write(dir.path().join(FILE), b"garbage").unwrap();
        assert_eq!(value(dir.path()), 4.0);
        let mut one = Checkpointer::new(dir.path(), 1, Some(5));
        one.save(state(6.0), &pos(6), "").unwrap();
        assert!(older(dir.path()).is_empty());
    }

    #[test]
    fn a_failed_write_at_any_stage_keeps_the_previous_checkpoint() {
        // With `keep: 2` the previous checkpoint gets a step name first; a failed write
        // must not leave that duplicate either.
        let cases = [Stage::Create, Stage::Write, Stage::Sync, Stage::Rename]
            .into_iter()
            .flat_map(|s| [(s, 1), (s, 2)]);
        for (stage, keep) in cases {
            let dir = tempfile::tempdir().unwrap();
            let mut c = Checkpointer::new(dir.path(), keep, None);
            c.save(state(1.0), &pos(1), "").unwrap();
            c.fail_at = Some(stage);
            let e = c.save(state(2.0), &pos(2), "").unwrap_err().to_string();
            assert!(e.contains("previous checkpoint, if any, is intact"), "{e}");
            assert_eq!(value(dir.path()), 1.0, "{stage:?}");
            let names: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            assert_eq!(names, vec![FILE.to_string()], "{stage:?}: leftovers");
        }
    }

    #[test]
    fn garbage_and_future_versions_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"garbage").unwrap();
        let e = format!("{:#}", load(dir.path()).err().unwrap());
        assert!(e.contains("not a valid gen checkpoint"), "{e}");
        let mut bytes = encode(state(1.0), &pos(1), "").unwrap();
        let key = format!("\"format_version\":\"{FORMAT_VERSION}\"");
        let at = bytes
            .windows(key.len())
            .position(|w| w == key.as_bytes())
            .unwrap();
        bytes[at + key.len() - 2] = b'9'; // same length, so the header stays valid
        std::fs::write(dir.path().join(FILE), &bytes).unwrap();
        let e = format!("{:#}", load(dir.path()).err().unwrap());
        assert!(e.contains("newer than this gen understands"), "{e}");
    }

    #[test]
    fn too_little_space_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_space(dir.path(), 1, 2).is_ok());
        let e = check_space(dir.path(), u64::MAX / 8, 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("free") && e.contains("--runs"), "{e}");
    }
}
