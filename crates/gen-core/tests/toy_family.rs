//! docs/adding-a-family.md, followed step by step in one file: a toy family whose
//! generator side is `q(x) = N(m, s^2 I)` with a learned mean `m` and no latent, so the
//! joint KL is `E[-log q(x)]` up to the data's entropy and its minimizer is the data's
//! mean, known in closed form. The test builds it through its registration, from YAML,
//! trains it, and saves and restores it as the binary would.

use candle_core::{DType, Device, Tensor};
use gen_base::config::{ConfigError, ConfigSource};
use gen_core::checks::FamilyConfig;
use gen_core::model::{Batch, DataInfo};
use gen_core::{
    descend, Build, BuildContext, Family, Frame, KlDirection, Model, ModelEntry, Report, Result,
    Rng, Setup, Store, Terms,
};
use gen_dist::dist::LN_2PI;
use gen_nn::optim::{Adam, OptimizerConfig};
use gen_nn::vars::Init;
use serde::{Deserialize, Serialize};

// --- config.rs: the `model` section, with what serde cannot check in `validate`.

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToyConfig {
    pub family: String,
    /// The fixed scale `s` of q(x).
    #[serde(default = "defaults::sigma")]
    pub sigma: f64,
}

gen_base::defaults! {
    sigma: f64 = 1.0;
}

impl FamilyConfig for ToyConfig {
    fn validate(&self) -> std::result::Result<(), ConfigError> {
        gen_base::config::positive("model.sigma", self.sigma)
    }
}

// --- model.rs: the networks (one vector), the terms, and core's store in one field.

pub struct Toy {
    cfg: ToyConfig,
    /// Its device, dtype and data shape.
    frame: Frame,
    mean: candle_core::Var,
    store: Store<Adam>,
}

impl Family for Toy {
    type Config = ToyConfig;

    fn new(cfg: ToyConfig, setup: &mut Setup<'_>) -> Result<Self> {
        let vb = setup.vb();
        let mean = vb.pp("generator").var(
            setup.data.dim(),
            "mean",
            Init::Normal {
                mean: 0.0,
                std: 1.0,
            },
        )?;
        setup.continue_after(&vb);
        let params = vb.params();
        let opt = Adam::new(params.vars(), setup.optimizer.clone());
        Ok(Toy {
            store: Store::new(&cfg, KlDirection::Forward, params, opt),
            cfg,
            frame: setup.frame(),
            mean,
        })
    }
}

impl Toy {
    /// `E[-log q(x)]` per example, the one term of this family's joint KL.
    fn terms(&self, x: &Tensor) -> Result<Terms> {
        let s2 = self.cfg.sigma * self.cfg.sigma;
        let d = x.dim(1)? as f64;
        let sq = x
            .broadcast_sub(self.mean.as_tensor())?
            .sqr()?
            .sum(1)?
            .mean_all()?;
        let nll = ((sq / (2.0 * s2))? + 0.5 * d * (LN_2PI + s2.ln()))?;
        Ok(Terms::additive(KlDirection::Forward).term("reconstruction", nll, 1.0))
    }
}

impl Model for Toy {
    gen_core::stored_in!(store);

    fn train_step(&mut self, batch: &Batch, _rng: &mut Rng) -> Result<Report> {
        let terms = self.terms(&self.frame.input(batch)?)?;
        descend(&mut self.store.opt, &terms)
    }

    fn evaluate(&self, batch: &Batch, _rng: &mut Rng) -> Result<Report> {
        self.terms(&self.frame.input(batch)?)?.report()
    }
}

// --- lib.rs: the registration.

pub const ENTRY: ModelEntry = ModelEntry::steps::<Toy>("toy", "a Gaussian with a learned mean");

// --- The test: the registry's view of it.

fn data_info(n: usize) -> DataInfo {
    DataInfo::points("points", 2, n)
}

fn build(yaml: &str, rng: &mut Rng) -> Result<Box<dyn Model>> {
    let Build::Steps(build) = ENTRY.build else {
        panic!("a gradient-trained family");
    };
    let config = ConfigSource::new("toy.yaml", yaml);
    let data = data_info(200);
    let optimizer = OptimizerConfig {
        lr: 0.05,
        ..OptimizerConfig::default()
    };
    build(BuildContext {
        config: &config,
        setup: Setup {
            data: &data,
            device: Device::Cpu,
            dtype: DType::F64,
            optimizer: &optimizer,
            rng,
        },
    })
}

/// 200 points around (3, -1) and their mean, the closed-form optimum of `m`.
fn points() -> (Batch, Vec<f64>) {
    let mut rng = Rng::new(7);
    let noise = rng.randn((200, 2), DType::F64, &Device::Cpu).unwrap();
    let shift = Tensor::new(&[3.0f64, -1.0], &Device::Cpu).unwrap();
    let x = noise.broadcast_add(&shift).unwrap();
    let mean: Vec<f64> = x.mean(0).unwrap().to_vec1().unwrap();
    (Batch::inputs(x), mean)
}

#[test]
fn a_toy_family_built_from_its_registration_trains_to_the_closed_form_optimum() {
    let yaml = "model:\n  family: toy\n";
    let mut model = build(yaml, &mut Rng::new(0)).unwrap();
    assert_eq!(model.direction(), KlDirection::Forward);
    let names: Vec<&str> = model
        .params()
        .named()
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(names, ["generator.mean"]);
    // The resolved config has the default filled in.
    let resolved = model.resolved_config();
    assert_eq!(resolved["sigma"].as_f64(), Some(1.0));

    let (batch, mean) = points();
    let mut rng = Rng::new(1);
    for _ in 0..600 {
        model.train_step(&batch, &mut rng).unwrap();
    }
    let m: Vec<f64> = model.params().named()[0].1.to_vec1().unwrap();
    for (a, b) in m.iter().zip(&mean) {
        assert!((a - b).abs() < 1e-3, "learned {m:?}, closed form {mean:?}");
    }
    // At the optimum the term is the Gaussian's NLL at the data's own spread:
    // E|x - mean|^2 / 2 + log(2 pi) for unit variance in 2-D.
    let x: Vec<Vec<f64>> = batch.x.to_vec2().unwrap();
    let spread = x
        .iter()
        .map(|r| (r[0] - mean[0]).powi(2) + (r[1] - mean[1]).powi(2))
        .sum::<f64>()
        / 200.0;
    let r = model.evaluate(&batch, &mut rng).unwrap();
    let want = spread / 2.0 + LN_2PI;
    assert!((r.loss - want).abs() < 1e-6, "{} vs {want}", r.loss);
    assert_eq!(r.joint_kl.term("reconstruction"), Some(r.loss));

    // Saved and restored as a checkpoint is: a fresh build with another seed, loaded,
    // evaluates to the same figure and continues with the same Adam state.
    let state: std::collections::HashMap<String, Tensor> =
        model.state().unwrap().into_iter().collect();
    assert!(state.contains_key("model.generator.mean"));
    assert!(state.keys().any(|k| k.starts_with("optimizer.")));
    let mut fresh = build(yaml, &mut Rng::new(99)).unwrap();
    fresh.load_state(&state).unwrap();
    assert_eq!(fresh.evaluate(&batch, &mut rng).unwrap().loss, r.loss);
    let a = model.train_step(&batch, &mut Rng::new(5)).unwrap().loss;
    let b = fresh.train_step(&batch, &mut Rng::new(5)).unwrap().loss;
    assert_eq!(a, b);
}

#[test]
fn the_toy_familys_config_errors_name_the_key() {
    let typo = build("model:\n  family: toy\n  sigm: 2\n", &mut Rng::new(0))
        .err()
        .unwrap()
        .to_string();
    assert!(typo.contains("sigm") && typo.contains("sigma"), "{typo}");
    let bad = build("model:\n  family: toy\n  sigma: -1\n", &mut Rng::new(0))
        .err()
        .unwrap()
        .to_string();
    assert!(
        bad.contains("model.sigma") && bad.contains("positive"),
        "{bad}"
    );
}
