//! What a run writes besides checkpoints: TensorBoard events and PNG files.

use anyhow::{Context, Result};
use candle_core::{DType, Tensor};
use gen_core::Report;
use gen_nn::nn::Params;
use gen_plot::picture::Picture;
use gen_tensorboard::{encode_png, HParam, Histogram, Status, SummaryWriter};
use std::path::{Path, PathBuf};

pub struct Summaries {
    writer: SummaryWriter,
    dir: PathBuf,
}

impl Summaries {
    pub fn create(dir: &Path) -> Result<Self> {
        Ok(Summaries {
            writer: SummaryWriter::create(dir)?,
            dir: dir.to_path_buf(),
        })
    }

    /// The HParams plugin's session start: the resolved config flattened to `model.hidden`,
    /// `train.optimizer.lr`, ... (lists as their YAML text), in the group of its
    /// hyperparameters ([`hparams_group`]).
    pub fn session_start(&mut self, resolved: &str) -> Result<()> {
        let value: serde_norway::Value = serde_norway::from_str(resolved)?;
        let mut hparams = vec![];
        flatten("", &value, &mut hparams);
        Ok(self
            .writer
            .add_hparams_start(hparams, &hparams_group(&value))?)
    }

    /// The HParams plugin's session end (the run's final scalars are its metrics).
    pub fn session_end(&mut self, status: Status) -> Result<()> {
        self.writer.add_hparams_end(status)?;
        Ok(self.writer.flush()?)
    }

    pub fn scalar(&mut self, tag: &str, v: f64, step: u64) -> Result<()> {
        Ok(self.writer.add_scalar(tag, v, step)?)
    }

    /// Test reports go under their own tags (`loss/test`, `joint_kl/<term>`, metrics);
    /// training averages under `loss/train` and `train/...`.
    pub fn report(&mut self, split: &str, r: &Report, step: u64) -> Result<()> {
        self.scalar(&format!("loss/{split}"), r.loss, step)?;
        for (tag, v) in r.term_scalars() {
            let tag = if split == "test" {
                tag
            } else {
                format!("{split}/{tag}")
            };
            self.scalar(&tag, v, step)?;
        }
        Ok(())
    }

    /// Each picture as a TensorBoard image and as `<name>-epoch-NNN.png`.
    pub fn pictures(&mut self, pics: &[(String, Picture)], epoch: usize, step: u64) -> Result<()> {
        for (name, p) in pics {
            self.picture(name, p, &format!("{name}-epoch-{epoch:03}.png"), step)?;
        }
        Ok(())
    }

    /// Each picture as a TensorBoard image and as `<name>.png` (the end of a fit).
    pub fn final_pictures(&mut self, pics: &[(String, Picture)], step: u64) -> Result<()> {
        for (name, p) in pics {
            self.picture(name, p, &format!("{name}.png"), step)?;
        }
        Ok(())
    }

    fn picture(&mut self, name: &str, p: &Picture, file: &str, step: u64) -> Result<()> {
        self.writer
            .add_image(name, p.width, p.height, p.channels, &p.data, step)?;
        write_png(&self.dir.join(file), p)
    }

    /// Every parameter under `weights/<name>`, and the model's own `extra` tensors under
    /// their tags (e.g. posterior scales).
    pub fn histograms(
        &mut self,
        params: &Params,
        extra: &[(String, Tensor)],
        step: u64,
    ) -> Result<()> {
        let named = params
            .named()
            .iter()
            .map(|(name, var)| (format!("weights/{name}"), var.as_tensor()))
            .chain(extra.iter().map(|(tag, t)| (tag.clone(), t)));
        for (tag, t) in named {
            let v: Vec<f64> = t.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?;
            self.writer
                .add_histogram(&tag, &Histogram::from_values(v), step)?;
        }
        Ok(())
    }

    /// Each text (lines) in TensorBoard's text tab, one line per paragraph so each shows
    /// on its own, and as `<name>-epoch-NNN.txt`.
    pub fn texts(&mut self, texts: &[(String, String)], epoch: usize, step: u64) -> Result<()> {
        for (name, lines) in texts {
            self.text(name, &lines.replace('\n', "\n\n"), step)?;
            let file = self.dir.join(format!("{name}-epoch-{epoch:03}.txt"));
            std::fs::write(&file, format!("{lines}\n"))
                .with_context(|| format!("writing {}", file.display()))?;
        }
        Ok(())
    }

    pub fn text(&mut self, tag: &str, text: &str, step: u64) -> Result<()> {
        Ok(self.writer.add_text(tag, text, step)?)
    }

    pub fn flush(&mut self) -> Result<()> {
        Ok(self.writer.flush()?)
    }
}

/// A picture as a PNG file; the error names the path.
pub fn write_png(path: &Path, pic: &Picture) -> Result<()> {
    let bytes = encode_png(pic.width, pic.height, pic.channels, &pic.data)?;
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// `key.path = value` pairs of a YAML tree; sequences and mappings inside them become
/// their flow text (`[400, 400]`), nulls are left out.
/// The HParams group of a run: `<family>-<hash>` of its resolved config without the seed
/// and without where its data and files live (`train.seed`, `data.dir`, `log`,
/// `checkpoint`). The seeds of one setting (a sweep's grid point) are one group, which
/// TensorBoard's HParams tab shows as one row averaged over them; runs that differ in
/// anything else never share one, whatever their directories are called.
pub fn hparams_group(config: &serde_norway::Value) -> String {
    let mut v = config.clone();
    if let Some(m) = v.as_mapping_mut() {
        m.remove("log");
        m.remove("checkpoint");
    }
    for (section, key) in [("train", "seed"), ("data", "dir")] {
        if let Some(m) = v.get_mut(section).and_then(|s| s.as_mapping_mut()) {
            m.remove(key);
        }
    }
    let text = serde_norway::to_string(&v).unwrap_or_default();
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let family = config["model"]["family"].as_str().unwrap_or("run");
    format!("{family}-{:08x}", hash >> 32)
}

fn flatten(prefix: &str, v: &serde_norway::Value, out: &mut Vec<(String, HParam)>) {
    use serde_norway::Value as Y;
    let hp = match v {
        Y::Mapping(m) => {
            for (k, child) in m {
                let key = match k {
                    Y::String(s) => s.clone(),
                    other => serde_norway::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                let path = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, child, out);
            }
            return;
        }
        Y::Null => return,
        Y::Bool(b) => HParam::Bool(*b),
        Y::Number(n) => HParam::Number(n.as_f64().unwrap_or(f64::NAN)),
        Y::String(s) => HParam::Text(s.clone()),
        other => HParam::Text(flow_text(other)),
    };
    out.push((prefix.to_string(), hp));
}

/// A YAML value on one line: `[400, 400]`, `{kind: gaussian, sigma: 1}`.
fn flow_text(v: &serde_norway::Value) -> String {
    use serde_norway::Value as Y;
    match v {
        Y::Sequence(items) => format!(
            "[{}]",
            items.iter().map(flow_text).collect::<Vec<_>>().join(", ")
        ),
        Y::Mapping(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", flow_text(k), flow_text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Y::Tagged(t) => flow_text(&t.value),
        other => serde_norway::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::hparams_group;

    fn group(yaml: &str) -> String {
        hparams_group(&serde_norway::from_str(yaml).unwrap())
    }

    const BASE: &str = "model:\n  family: vae\n  latent: 20\ndata:\n  name: mnist\n  dir: /a\ntrain:\n  epochs: 10\n  seed: 0\nlog:\n  pictures_every: 1\n";

    #[test]
    fn seeds_and_places_share_a_group_settings_do_not() {
        let g = group(BASE);
        assert!(g.starts_with("vae-") && g.len() == 12, "{g}");
        assert_eq!(group(&BASE.replace("seed: 0", "seed: 7")), g);
        assert_eq!(group(&BASE.replace("dir: /a", "dir: /b")), g);
        assert_eq!(
            group(&BASE.replace("pictures_every: 1", "pictures_every: 0")),
            g
        );
        assert_ne!(group(&BASE.replace("latent: 20", "latent: 2")), g);
        assert_ne!(group(&BASE.replace("epochs: 10", "epochs: 30")), g);
        assert_ne!(
            group(&BASE.replace("name: mnist", "name: fashion-mnist")),
            g
        );
    }
}
