//! Sample quality of image models: samples and the test set passed through a trained
//! classifier, compared in its feature space (`gen_metrics::sample_quality`). `gen eval`
//! scores a run's samples; `gen score` scores images in a file.
//!
//! The classifiers are LeNet-5s trained by gen itself (`configs/classifier-*.yaml`) and
//! shipped inside the binary, so scores need neither a download nor the repository.

use crate::cli::{ClassifierArg, ScoreArgs};
use crate::registry::{FeatureNet, FeatureNetConfig};
use crate::run::checkpoint;
use crate::run::progress::EvalProgress;
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use gen_data::{Dataset, Pixels};
use gen_metrics::sample_quality::{
    class_histogram, coverage_kl, frechet_distance, inception_score, precision_recall, FeatureStats,
};
use std::path::Path;

/// The classifiers gen ships: (data set, `gen export` file of its run).
const SHIPPED: &[(&str, &[u8])] = &[
    (
        "mnist",
        include_bytes!("../../../assets/classifier-mnist.safetensors"),
    ),
    (
        "fashion-mnist",
        include_bytes!("../../../assets/classifier-fashion-mnist.safetensors"),
    ),
];

/// Kynkäänniemi et al.'s neighbourhood size.
const K_NEAREST: usize = 3;
/// Rows per classifier pass and per sampling call.
const CHUNK: usize = 500;
/// Noise of the scored samples (fixed, so `gen eval` is repeatable).
const SAMPLES_SEED: u64 = 0x5A3_91E5;

/// A feature network and where it came from.
pub struct Classifier {
    net: FeatureNet,
    pub source: String,
}

impl Classifier {
    /// `--classifier` if given, else the one shipped for `data` (`None` if there is none).
    pub fn for_data(data: &str, arg: &ClassifierArg) -> Result<Option<Self>> {
        if let Some(path) = &arg.classifier {
            let file = if path.is_dir() {
                path.join(checkpoint::FILE)
            } else {
                path.clone()
            };
            let bytes = std::fs::read(&file)
                .with_context(|| format!("--classifier: cannot read {}", file.display()))?;
            return Ok(Some(Self::decode(&bytes, &file)?));
        }
        match SHIPPED.iter().find(|(name, _)| *name == data) {
            Some((name, bytes)) => {
                let path = format!("assets/classifier-{name}.safetensors");
                Ok(Some(Self::decode(bytes, Path::new(&path))?))
            }
            None => Ok(None),
        }
    }

    fn decode(bytes: &[u8], path: &Path) -> Result<Self> {
        let loaded = checkpoint::decode(bytes, path)?;
        if loaded.pos.family != "bnn" {
            bail!(
                "--classifier {}: a `{}` run; the feature network is a `family: bnn` classifier (e.g. configs/classifier-mnist.yaml)",
                path.display(),
                loaded.pos.family
            );
        }
        let config: serde_norway::Value = serde_norway::from_str(&loaded.config)
            .with_context(|| format!("{}: its saved config", path.display()))?;
        let cfg: FeatureNetConfig = serde_norway::from_value(config["model"].clone())
            .with_context(|| format!("{}: its saved model config", path.display()))?;
        let net = FeatureNet::from_checkpoint(&cfg, &loaded.tensors)
            .with_context(|| format!("{}: not a usable feature network", path.display()))?;
        let data = config["data"]["name"].as_str().unwrap_or("?").to_string();
        Ok(Classifier {
            net,
            source: format!("{} (trained on {data})", path.display()),
        })
    }

    /// Features and class probabilities of image rows (pixels in [0, 1]).
    pub fn features(&self, x: &[f32], bar: &EvalProgress) -> Result<Scored> {
        let dim = self.net.inputs();
        let n = x.len() / dim;
        let mut scored = Scored::default();
        for start in (0..n).step_by(CHUNK) {
            let rows = CHUNK.min(n - start);
            let t = Tensor::from_slice(
                &x[start * dim..(start + rows) * dim],
                (rows, dim),
                &Device::Cpu,
            )?;
            let (h, p) = self.net.features(&t)?;
            scored.dim = h.dim(1)?;
            scored.features.extend(h.flatten_all()?.to_vec1::<f32>()?);
            scored.probs.extend(p.flatten_all()?.to_vec1::<f32>()?);
            bar.inc(rows as u64);
        }
        scored.classes = self.net.classes();
        Ok(scored)
    }

    pub fn inputs(&self) -> usize {
        self.net.inputs()
    }
}

/// A set of images seen by the classifier.
#[derive(Default)]
pub struct Scored {
    pub features: Vec<f32>,
    pub dim: usize,
    pub probs: Vec<f32>,
    pub classes: usize,
}

/// The figures of `fake` against `real`, named as `gen eval` reports them.
pub fn figures(real: &Scored, fake: &Scored) -> Result<Vec<(String, f64)>> {
    let fd = frechet_distance(
        &FeatureStats::of(&real.features, real.dim),
        &FeatureStats::of(&fake.features, fake.dim),
    );
    let (precision, recall) =
        precision_recall(&real.features, &fake.features, real.dim, K_NEAREST)?;
    let class_kl = coverage_kl(
        &class_histogram(&fake.probs, fake.classes),
        &class_histogram(&real.probs, real.classes),
    );
    Ok(vec![
        ("quality/fd".into(), fd),
        (
            "quality/is".into(),
            inception_score(&fake.probs, fake.classes),
        ),
        // The ceiling of quality/is: what the test images themselves score.
        (
            "quality/is_test".into(),
            inception_score(&real.probs, real.classes),
        ),
        ("quality/precision".into(), precision),
        ("quality/recall".into(), recall),
        ("quality/class_kl".into(), class_kl),
        (
            "quality/samples".into(),
            (fake.probs.len() / fake.classes) as f64,
        ),
    ])
}

/// The test images of data set `name` as continuous pixels in [0, 1] (the reference of
/// every score, whatever binarization a run trained on).
pub fn reference_images(name: &str) -> Result<Dataset> {
    let mut cfg = crate::run::setup::data_config_named(name, "--data")?;
    cfg.pixels = Pixels::Continuous;
    crate::run::setup::load_data_config(&cfg)
}

/// Scores `samples` (rows of pixels in [0, 1]) against the test set of `data`.
pub fn score(
    classifier: &Classifier,
    data: &Dataset,
    samples: &[f32],
) -> Result<Vec<(String, f64)>> {
    let dim = classifier.inputs();
    if data.test.dim != dim {
        bail!(
            "the classifier reads {dim} values per image and `{}` has {}",
            data.info.name,
            data.test.dim
        );
    }
    let n = samples.len() / dim;
    if n <= K_NEAREST || data.test.n <= K_NEAREST {
        bail!("sample quality needs more than {K_NEAREST} samples, got {n}");
    }
    let bar = EvalProgress::labelled("classifying", "images", (n + data.test.n) as u64);
    let real = classifier.features(&data.test.x, &bar)?;
    let fake = classifier.features(samples, &bar)?;
    bar.finish();
    println!("{}", class_shares(&real, &fake));
    figures(&real, &fake)
}

/// One line of the predicted-class shares, samples against the test set, in percent: what
/// `quality/class_kl` sums up (which classes a model over- or under-draws).
fn class_shares(real: &Scored, fake: &Scored) -> String {
    let r = class_histogram(&real.probs, real.classes);
    let f = class_histogram(&fake.probs, fake.classes);
    let cells: Vec<String> = (0..f.len())
        .map(|c| format!("{c}: {:.1}/{:.1}", 100.0 * f[c], 100.0 * r[c]))
        .collect();
    format!(
        "predicted classes, % of samples / % of test images: {}",
        cells.join("  ")
    )
}

/// `gen eval`'s sample quality of a model that draws images: `sample(rows, rng)` draws
/// `rows` images (pixels in [0, 1], row-major) or `None` if the model cannot; `n` samples
/// are drawn in chunks. `reference`: the data set of `data_name` already loaded with
/// continuous pixels, if it is (else it is loaded).
pub fn of_sampler(
    mut sample: impl FnMut(usize, &mut gen_core::Rng) -> Result<Option<Vec<f32>>>,
    data_name: &str,
    reference: Option<&Dataset>,
    n: usize,
    arg: &ClassifierArg,
) -> Result<Vec<(String, f64)>> {
    let Some(classifier) = Classifier::for_data(data_name, arg)? else {
        eprintln!(
            "note: no shipped feature classifier for `{data_name}`, so no quality/* figures; pass --classifier RUN_DIR (a bnn classifier trained on it)"
        );
        return Ok(vec![]);
    };
    // The samples (f32) and, per sample, their features and class probabilities (f64).
    let mut need = gen_nn::memory::Estimate::default();
    need.add("samples", (n * classifier.inputs() * 4) as u64)
        .add("their features", (n * 2 * (84 + 10) * 8) as u64);
    let fix = format!(
        "lower --quality-samples (now {n}), or set {}=SIZE if more memory is really there",
        gen_nn::memory::LIMIT_ENV
    );
    if let Some(msg) = need.check(crate::train::memory::available()?.as_ref(), &fix) {
        bail!(msg);
    }
    let mut rng = gen_core::Rng::new(SAMPLES_SEED);
    let mut samples = Vec::with_capacity(n * classifier.inputs());
    let bar = EvalProgress::labelled("sampling", "samples", n as u64);
    for start in (0..n).step_by(CHUNK) {
        let rows = CHUNK.min(n - start);
        let Some(x) = sample(rows, &mut rng)? else {
            bar.finish();
            return Ok(vec![]);
        };
        samples.extend(x);
        bar.inc(rows as u64);
    }
    bar.finish();
    let loaded;
    let data = match reference {
        Some(d) => d,
        None => {
            loaded = reference_images(data_name)?;
            &loaded
        }
    };
    println!(
        "quality/*: {n} samples against the {} test images, in the features of {}",
        data.test.n, classifier.source
    );
    score(&classifier, data, &samples)
}

/// `gen score FILE.npy --data NAME`.
pub fn score_file(args: ScoreArgs) -> Result<()> {
    let data = reference_images(&args.data)?;
    let Some(classifier) = Classifier::for_data(&args.data, &args.classifier)? else {
        bail!(
            "gen ships feature classifiers for mnist and fashion-mnist; for `{}` pass --classifier RUN_DIR (a bnn classifier trained on it, e.g. configs/classifier-mnist.yaml with its data changed)",
            args.data
        );
    };
    // The data error names the file and the OS error already (no chain of sources).
    let array = gen_data::npy::read(&args.samples).map_err(|e| anyhow::anyhow!("{e}"))?;
    let dim = classifier.inputs();
    if array.cols != dim {
        bail!(
            "{}: shape ({}, {}), expected N x {dim} images (rows of pixels in [0, 1])",
            args.samples.display(),
            array.rows,
            array.cols
        );
    }
    let samples: Vec<f32> = array.data.iter().map(|&v| v as f32).collect();
    let rows = score(&classifier, &data, &samples)?;
    println!(
        "{} against the {} test set",
        args.samples.display(),
        args.data
    );
    println!("  classifier: {}", classifier.source);
    for (name, v) in &rows {
        println!("  {name:<28} {v:.6}");
    }
    Ok(())
}
