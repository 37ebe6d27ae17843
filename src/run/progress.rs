//! Progress: a bar on a terminal; otherwise (a log file, a pipe, a cluster job) a plain
//! line every half minute, so a long command is never silent until it ends.

use gen_core::Report;
use indicatif::{ProgressBar, ProgressStyle};
use std::cell::Cell;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Seconds between two progress lines when the output is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(30);

/// `  <what>: pos/len <unit> (P%), <detail>, M min S s left`, at most every [`LINE_EVERY`]
/// (indented, so that the epoch lines stand out in a log).
struct Lines {
    what: String,
    unit: String,
    len: u64,
    pos: Cell<u64>,
    started: Instant,
    last: Cell<Instant>,
}

impl Lines {
    fn new(what: impl Into<String>, unit: &str, len: u64) -> Self {
        let now = Instant::now();
        Lines {
            what: what.into(),
            unit: unit.to_string(),
            len,
            pos: Cell::new(0),
            started: now,
            last: Cell::new(now),
        }
    }

    fn inc(&self, n: u64, detail: impl FnOnce() -> String) {
        self.pos.set(self.pos.get() + n);
        if self.last.get().elapsed() < LINE_EVERY || self.pos.get() >= self.len {
            return;
        }
        self.last.set(Instant::now());
        println!("{}", self.line(&detail()));
    }

    fn line(&self, detail: &str) -> String {
        let (pos, len) = (self.pos.get(), self.len.max(1));
        let spent = self.started.elapsed().as_secs_f64();
        let left = spent * (len.saturating_sub(pos)) as f64 / pos.max(1) as f64;
        let detail = match detail.is_empty() {
            true => String::new(),
            false => format!(", {detail}"),
        };
        format!(
            "  {}: {pos}/{len} {} ({:.0}%){detail}, {} left",
            self.what,
            self.unit,
            100.0 * pos as f64 / len as f64,
            duration(left)
        )
    }
}

/// `2 h 05 min`, `3 min 20 s`, `12 s`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
    }
}

enum Shown {
    Bar(ProgressBar),
    Lines(Lines),
}

pub struct EpochProgress {
    shown: Shown,
}

impl EpochProgress {
    pub fn new(epoch: usize, epochs: usize, batches: u64) -> Self {
        if !std::io::stdout().is_terminal() {
            let lines = Lines::new(format!("epoch {epoch}/{epochs}"), "batches", batches);
            return EpochProgress {
                shown: Shown::Lines(lines),
            };
        }
        let bar = {
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
        };
        EpochProgress {
            shown: Shown::Bar(bar),
        }
    }

    pub fn update(&self, loss: f64, samples_per_s: f64) {
        let detail = || format!("loss {loss:.3}, {samples_per_s:.0} samples/s");
        match &self.shown {
            Shown::Bar(b) => {
                b.set_message(detail());
                b.inc(1);
            }
            Shown::Lines(l) => l.inc(1, detail),
        }
    }

    pub fn finish(self) {
        if let Shown::Bar(b) = self.shown {
            b.finish_and_clear();
        }
    }
}

/// A bar over the test examples for `gen eval`'s slow figures (terminal only).
pub struct EvalProgress {
    shown: Shown,
}

impl EvalProgress {
    pub fn new(examples: u64) -> Self {
        Self::labelled("evaluating", "examples", examples)
    }

    /// A bar reading `<what> [====>   ] pos/len <unit> ETA ..`.
    pub fn labelled(what: &str, unit: &str, len: u64) -> Self {
        if !std::io::stdout().is_terminal() {
            return EvalProgress {
                shown: Shown::Lines(Lines::new(what, unit, len)),
            };
        }
        let b = ProgressBar::new(len);
        b.set_style(
            ProgressStyle::with_template(&format!(
                "{what} [{{bar:30}}] {{pos}}/{{len}} {unit} ETA {{eta}}"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        EvalProgress {
            shown: Shown::Bar(b),
        }
    }

    pub fn inc(&self, n: u64) {
        match &self.shown {
            Shown::Bar(b) => b.inc(n),
            Shown::Lines(l) => l.inc(n, String::new),
        }
    }

    pub fn finish(self) {
        if let Shown::Bar(b) = self.shown {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_says_how_far_and_how_long_is_left() {
        let l = Lines::new("evaluating", "examples", 400);
        l.pos.set(100);
        let line = l.line("");
        assert!(
            line.starts_with("  evaluating: 100/400 examples (25%), "),
            "{line}"
        );
        assert!(line.ends_with(" left"), "{line}");
        assert_eq!(duration(59.4), "59 s");
        assert_eq!(duration(200.0), "3 min 20 s");
        assert_eq!(duration(7500.0), "2 h 05 min");
    }
}
