//! `gen eval RUN_DIR`: the trained model's figures on its data, printed and written to
//! `RUN_DIR/eval.json`.

use crate::cli::EvalArgs;
use crate::fit_run::points;
use crate::run_loader::{load, LoadedModel};
use crate::train::Trainer;
use anyhow::{Context, Result};

pub fn run(args: EvalArgs) -> Result<()> {
    let dir = &args.run_dir;
    let run = load(dir)?;
    let (rows, unit) = match &run.model {
        LoadedModel::Fit(model) => (
            model.eval_table(&points(&run.data.train), &points(&run.data.test))?,
            "iterations",
        ),
        LoadedModel::Steps(model) => {
            let trainer = Trainer {
                cfg: &run.cfg,
                data: &run.data,
                device: run.device.clone(),
            };
            let r = trainer.evaluate(model.as_ref())?;
            let mut rows = vec![("loss/test".to_string(), r.loss)];
            rows.extend(r.scalars().into_iter().skip(1));
            let samples = trainer.mode_samples(model.as_ref())?;
            if let Some(scores) = samples.as_deref().and_then(|s| trainer.mode_scores(s)) {
                rows.extend(scores.rows());
            }
            let batch = run.cfg.train.eval_batch_size;
            if let Some(acc) =
                crate::probe::one_nn_accuracy(model.as_ref(), &run.data, batch, &run.device)?
            {
                rows.push(("codes/1nn_test_accuracy".to_string(), acc));
            }
            (rows, "epochs")
        }
    };
    println!(
        "{} ({}, {} {unit} done)",
        dir.display(),
        run.cfg.family,
        run.pos.epoch
    );
    for (name, v) in &rows {
        println!("  {name:<28} {v:.6}");
    }
    let json = serde_json::json!({
        "family": run.cfg.family,
        "epoch": run.pos.epoch,
        "metrics": rows.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
    });
    let path = dir.join("eval.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    println!("written to {}", path.display());
    Ok(())
}
