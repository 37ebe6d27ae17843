//! `gen eval RUN_DIR`: the trained model's figures on its data, printed and written to
//! `RUN_DIR/eval.json`.

use crate::cli::EvalArgs;
use crate::fit_run::{check_data, points};
use crate::run_config::RunConfig;
use crate::train::{load_data, run_dir_config, Trainer};
use crate::{checkpoint, registry};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
use gen_core::{Build, BuildContext, Rng};

pub fn run(args: EvalArgs) -> Result<()> {
    let dir = &args.run_dir;
    let src = run_dir_config(dir)?;
    let cfg = RunConfig::parse(&src)?;
    let entry = registry::find(&cfg.family).expect("validated by RunConfig::parse");
    let (state, pos) = checkpoint::load(dir)?;
    if pos.family != cfg.family {
        bail!(
            "{} holds a `{}` checkpoint, but its config says `{}`",
            dir.display(),
            pos.family,
            cfg.family
        );
    }
    let mut rng = Rng::new(cfg.train.seed);
    let rows: Vec<(String, f64)> = match entry.build {
        Build::Fit(build) => {
            check_data(&src, &cfg)?;
            let data = load_data(&cfg)?;
            let mut model = build(BuildContext {
                config: &src,
                data: &data.info,
                device: Device::Cpu,
                dtype: DType::F64,
                optimizer: &cfg.train.optimizer,
                rng: &mut rng,
            })?;
            model
                .load_state(&state)
                .with_context(|| format!("loading {}", dir.display()))?;
            model.eval_table(&points(&data.train), &points(&data.test))?
        }
        Build::Steps(build) => {
            let device = cfg.device.open().map_err(anyhow::Error::msg)?;
            let data = load_data(&cfg)?;
            let mut model = build(BuildContext {
                config: &src,
                data: &data.info,
                device: device.clone(),
                dtype: DType::F32,
                optimizer: &cfg.train.optimizer,
                rng: &mut rng,
            })?;
            model
                .load_state(&state)
                .with_context(|| format!("loading {}", dir.display()))?;
            let trainer = Trainer {
                cfg: &cfg,
                data: &data,
                device,
            };
            let r = trainer.evaluate(model.as_ref())?;
            let mut rows = vec![("loss/test".to_string(), r.loss)];
            rows.extend(r.scalars().into_iter().skip(1));
            rows
        }
    };
    println!(
        "{} ({}, {} {} done)",
        dir.display(),
        cfg.family,
        pos.epoch,
        if matches!(entry.build, Build::Fit(_)) {
            "iterations"
        } else {
            "epochs"
        }
    );
    for (name, v) in &rows {
        println!("  {name:<28} {v:.6}");
    }
    let json = serde_json::json!({
        "family": cfg.family,
        "epoch": pos.epoch,
        "metrics": rows.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
    });
    let path = dir.join("eval.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    println!("written to {}", path.display());
    Ok(())
}
