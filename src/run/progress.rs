//! Progress: a bar per epoch on a terminal, nothing but the epoch lines otherwise.

use gen_core::Report;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub struct EpochProgress {
    bar: Option<ProgressBar>,
}

impl EpochProgress {
    pub fn new(epoch: usize, epochs: usize, batches: u64) -> Self {
        let bar = std::io::stdout().is_terminal().then(|| {
            let b = ProgressBar::new(batches);
            b.set_style(
                ProgressStyle::with_template(
                    "epoch {prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b.set_prefix(format!("{epoch}/{epochs}"));
            b
        });
        EpochProgress { bar }
    }

    pub fn update(&self, loss: f64, samples_per_s: f64) {
        if let Some(b) = &self.bar {
            b.set_message(format!("loss {loss:.3}  {samples_per_s:.0} samples/s"));
            b.inc(1);
        }
    }

    pub fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

/// A bar over the test examples for `gen eval`'s slow figures (terminal only).
pub struct EvalProgress {
    bar: Option<ProgressBar>,
}

impl EvalProgress {
    pub fn new(examples: u64) -> Self {
        Self::labelled("evaluating", "examples", examples)
    }

    /// A bar reading `<what> [====>   ] pos/len <unit> ETA ..`.
    pub fn labelled(what: &str, unit: &str, len: u64) -> Self {
        let bar = std::io::stdout().is_terminal().then(|| {
            let b = ProgressBar::new(len);
            b.set_style(
                ProgressStyle::with_template(&format!(
                    "{what} [{{bar:30}}] {{pos}}/{{len}} {unit} ETA {{eta}}"
                ))
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b
        });
        EvalProgress { bar }
    }

    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    pub fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

/// The joint-KL terms of a report for an epoch line: `reconstruction 80.251, latent_kl
/// 25.387`, then a predictive model's figures: `; predictive accuracy 0.9812, nll 0.0613`.
pub fn terms_line(r: &Report) -> String {
    let terms = r
        .joint_kl
        .terms
        .iter()
        .map(|(k, v)| format!("{k} {v:.3}"))
        .collect::<Vec<_>>()
        .join(", ");
    let predictive: Vec<String> = r
        .metrics
        .iter()
        .filter_map(|(k, v)| Some(format!("{} {v:.4}", k.strip_prefix("predictive/")?)))
        .collect();
    if predictive.is_empty() {
        return terms;
    }
    format!("{terms}; predictive {}", predictive.join(", "))
}
