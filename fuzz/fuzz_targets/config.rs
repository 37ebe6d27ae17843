//! The config loader as `gen train` runs it: the document, the trainer's sections, then
//! the model family's own section, parsed and validated by building the model on a
//! small data set. Any input must give a model or an error, never a panic.
#![no_main]

use candle_core::{DType, Device};
use gen::run::config::RunConfig;
use gen_base::config::ConfigSource;
use gen_core::model::{BuildContext, DataInfo, DataKind, Targets};
use gen_core::{Build, Rng};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let src = ConfigSource::new("fuzz.yaml", text);
    let Ok(cfg) = RunConfig::parse(&src) else {
        return;
    };
    let entry = gen::registry::find(&cfg.family).expect("parse checked the family");
    // Labelled points with a regression target, so every family and likelihood can build.
    let info = DataInfo {
        name: "fuzz".into(),
        kind: DataKind::Points { dim: 2 },
        classes: Some(3),
        modes: None,
        train_size: 100,
        targets: Some(Targets {
            dim: 1,
            mean: vec![0.0],
            std: vec![1.0],
        }),
    };
    let mut rng = Rng::new(0);
    let ctx = BuildContext {
        config: &src,
        data: &info,
        device: Device::Cpu,
        dtype: DType::F32,
        optimizer: &cfg.train.optimizer,
        rng: &mut rng,
    };
    match entry.build {
        Build::Steps(build) => drop(build(ctx)),
        Build::Fit(build) => drop(build(ctx)),
    }
});
