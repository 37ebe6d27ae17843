//! What `gen train --resume` may change: the budget and the schedule, not the model.

use anyhow::{bail, Result};
use gen_core::yaml::Value;

/// Sections of the config that shape the saved tensors: all of `model`, and the data set
/// (its name fixes the input size). Paths and download mirrors may change.
const FIXED: &[(&str, Option<&str>)] = &[("model", None), ("data", Some("name"))];

/// Errors if `now` (the resolved config of the resumed run) changes a key the checkpoint's
/// own config (`saved`) fixes, listing each change.
pub fn check_same_model(saved: &str, now: &str) -> Result<()> {
    let parse = |t: &str| gen_core::yaml::from_str::<Value>(t).unwrap_or(Value::Null);
    let (saved, now) = (parse(saved), parse(now));
    if saved.is_null() {
        return Ok(()); // checkpoints from before configs were stored in them
    }
    let mut changes = Vec::new();
    for (section, key) in FIXED {
        let (a, b) = (&saved[*section], &now[*section]);
        match key {
            None => diff(section, a, b, &mut changes),
            Some(k) => diff(&format!("{section}.{k}"), &a[*k], &b[*k], &mut changes),
        }
    }
    if !changes.is_empty() {
        bail!(
            "the checkpoint was trained with another model, so it cannot continue with this config:\n  {}\n\
             --resume may change the budget and schedule (train.epochs, train.optimizer.lr, log, checkpoint); \
             to train a different model start a new run (train.init_from: RUN_DIR starts it from this run's parameters when the shapes match)",
            changes.join("\n  ")
        );
    }
    Ok(())
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "(absent)".into(),
        v => gen_core::yaml::to_string(v)
            .map(|s| s.trim().replace('\n', " "))
            .unwrap_or_default(),
    }
}

fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Mapping(ma), Value::Mapping(mb)) => {
            let mut keys: Vec<&Value> = ma.keys().chain(mb.keys()).collect();
            keys.dedup();
            let mut seen = std::collections::HashSet::new();
            for k in keys {
                let name = k.as_str().map(str::to_string).unwrap_or_else(|| show(k));
                if !seen.insert(name.clone()) {
                    continue;
                }
                let null = Value::Null;
                let (va, vb) = (ma.get(k).unwrap_or(&null), mb.get(k).unwrap_or(&null));
                diff(&format!("{path}.{name}"), va, vb, out);
            }
        }
        (a, b) if a != b => out.push(format!("{path}: {} -> {}", show(a), show(b))),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVED: &str = "model:\n  family: vae\n  latent: 20\n  hidden: [400]\ndata:\n  name: mnist\n  dir: /a\ntrain:\n  epochs: 10\n";

    #[test]
    fn budget_and_paths_may_change() {
        let now = SAVED
            .replace("epochs: 10", "epochs: 30")
            .replace("/a", "/b");
        check_same_model(SAVED, &now).unwrap();
    }

    #[test]
    fn model_changes_are_listed() {
        let now = SAVED
            .replace("latent: 20", "latent: 10")
            .replace("name: mnist", "name: fashion-mnist");
        let e = check_same_model(SAVED, &now).unwrap_err().to_string();
        assert!(e.contains("model.latent: 20 -> 10"), "{e}");
        assert!(e.contains("data.name: mnist -> fashion-mnist"), "{e}");
        let fam = SAVED.replace("family: vae", "family: aae");
        let e = check_same_model(SAVED, &fam).unwrap_err().to_string();
        assert!(e.contains("model.family: vae -> aae"), "{e}");
    }
}
