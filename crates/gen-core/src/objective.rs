//! The joint-KL objective, and the report every training step returns.
//!
//! Each model estimates `KL(p(x,z) || q(x,z))` (or, for adversarial models, the reverse
//! divergence over variables augmented with a real/fake label y) up to the constant
//! entropy of the data. A family's forward pass returns that estimate as named
//! [`Terms`]: tensors, each with its weight in the loss and whether it is a term of the
//! decomposition or a diagnostic. From the same terms core builds the loss (their
//! weighted sum), takes the gradient step ([`descend`]) and writes the [`Report`], so what
//! is minimized and what is reported cannot drift apart.
//!
//! How each family's terms map onto the divergence is tabled in the README ("Theory")
//! and derived in docs/theory.md.

use candle_core::{DType, Tensor};
use gen_nn::optim::Optimizer;
use std::fmt;

/// Which way round the divergence a model minimizes is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum KlDirection {
    /// KL(p || q): data side first (VAE, AAE, EM).
    Forward,
    /// KL(q || p): generator side first (GAN, ALI/BiGAN).
    Reverse,
}

impl fmt::Display for KlDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KlDirection::Forward => "KL(p(x,z) || q(x,z))",
            KlDirection::Reverse => "KL(q(x,z,y) || p(x,z,y))",
        })
    }
}

/// The joint-KL estimate of one step or evaluation, split into named terms.
#[derive(Clone, Debug, PartialEq)]
pub struct JointKl {
    pub direction: KlDirection,
    /// Named terms; `additive` says whether their sum is the estimate (`total`).
    pub terms: Vec<(String, f64)>,
    pub additive: bool,
}

impl JointKl {
    /// Terms that add up to the estimate (the VAE's case).
    pub fn additive(direction: KlDirection, terms: Vec<(&str, f64)>) -> Self {
        JointKl {
            direction,
            terms: terms.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            additive: true,
        }
    }

    /// Separate estimates that do not add up (e.g. forward and reverse estimates from a
    /// discriminator).
    pub fn estimates(direction: KlDirection, terms: Vec<(&str, f64)>) -> Self {
        JointKl {
            additive: false,
            ..JointKl::additive(direction, terms)
        }
    }

    /// The estimate of the divergence, if the terms add up to one.
    pub fn total(&self) -> Option<f64> {
        self.additive
            .then(|| self.terms.iter().map(|(_, v)| v).sum())
    }

    pub fn term(&self, name: &str) -> Option<f64> {
        self.terms.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    }
}

/// What a training step or an evaluation returns.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The objective actually minimized (may weight the terms, e.g. beta * latent_kl).
    pub loss: f64,
    pub joint_kl: JointKl,
    /// Further diagnostics (accuracies, per-player losses...).
    pub metrics: Vec<(String, f64)>,
}

impl Report {
    /// Every scalar as (tag, value), under the tag names used in TensorBoard.
    pub fn scalars(&self) -> Vec<(String, f64)> {
        let mut out = vec![("loss".to_string(), self.loss)];
        out.extend(self.term_scalars());
        out
    }

    /// Every scalar but the loss: `joint_kl/total` where the terms add up, each
    /// `joint_kl/<term>`, then the metrics (a split's summaries tag the loss themselves).
    pub fn term_scalars(&self) -> Vec<(String, f64)> {
        let mut out = vec![];
        if let Some(t) = self.joint_kl.total() {
            out.push(("joint_kl/total".into(), t));
        }
        for (k, v) in &self.joint_kl.terms {
            out.push((format!("joint_kl/{k}"), *v));
        }
        out.extend(self.metrics.iter().cloned());
        out
    }

    /// The first non-finite scalar, if any, by name: a term of the joint KL before the
    /// loss that sums them, so the message names the culprit.
    pub fn non_finite(&self) -> Option<(String, f64)> {
        let mut all = self.scalars();
        all.sort_by_key(|(k, _)| !(k.starts_with("joint_kl/") && k != "joint_kl/total"));
        all.into_iter().find(|(_, v)| !v.is_finite())
    }
}

/// What a term is to the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A term of the joint-KL decomposition, reported as `joint_kl/<name>`.
    Estimate,
    /// A diagnostic, reported under its own name (e.g. `vae/iwae_bound`).
    Metric,
    /// A part of a player's loss reported only through the loss (e.g. the generator's
    /// adversarial term, whose sum with the drift is `gan/g_loss`).
    Loss,
}

/// One named term: a scalar tensor (a mean over the batch) and its weight in the loss.
#[derive(Clone, Debug)]
pub struct Term {
    pub name: String,
    pub value: Tensor,
    /// 0: reported only, no gradient flows from it.
    pub weight: f64,
    pub role: Role,
}

/// A family's forward pass: the joint-KL decomposition as named, weighted terms, plus
/// numbers computed off the graph (accuracies). Core turns it into the loss and the report.
#[derive(Clone, Debug)]
pub struct Terms {
    pub direction: KlDirection,
    /// Whether the estimate terms add up to the divergence (the VAE's case).
    pub additive: bool,
    pub terms: Vec<Term>,
    pub numbers: Vec<(String, f64)>,
}

impl Terms {
    /// Terms whose estimates add up to the divergence.
    pub fn additive(direction: KlDirection) -> Self {
        Terms {
            direction,
            additive: true,
            terms: vec![],
            numbers: vec![],
        }
    }

    /// Separate estimates that do not add up (e.g. a discriminator's forward and reverse).
    pub fn estimates(direction: KlDirection) -> Self {
        Terms {
            additive: false,
            ..Terms::additive(direction)
        }
    }

    /// Adds a term of the decomposition.
    pub fn term(mut self, name: &str, value: Tensor, weight: f64) -> Self {
        self.push(name, value, weight, Role::Estimate);
        self
    }

    /// Adds a diagnostic tensor, weighted into the loss when `weight` is not 0.
    pub fn metric(mut self, name: &str, value: Tensor, weight: f64) -> Self {
        self.push(name, value, weight, Role::Metric);
        self
    }

    /// Adds a part of the loss that is not reported on its own.
    pub fn part(mut self, name: &str, value: Tensor, weight: f64) -> Self {
        self.push(name, value, weight, Role::Loss);
        self
    }

    /// Adds a number computed off the graph, reported as a metric.
    pub fn number(mut self, name: &str, value: f64) -> Self {
        self.numbers.push((name.to_string(), value));
        self
    }

    /// The tensor of the term or metric `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.terms.iter().find(|t| t.name == name).map(|t| &t.value)
    }

    fn push(&mut self, name: &str, value: Tensor, weight: f64, role: Role) {
        self.terms.push(Term {
            name: name.to_string(),
            value,
            weight,
            role,
        });
    }

    /// The loss: the weighted sum of the terms with a non-zero weight, in their order.
    pub fn loss(&self) -> crate::Result<Tensor> {
        let weighted = self.terms.iter().filter(|t| t.weight != 0.0).map(|t| {
            // A unit weight is left out of the graph (the same value and gradient, bit for bit).
            candle_core::Result::Ok(if t.weight == 1.0 {
                t.value.clone()
            } else {
                (&t.value * t.weight)?
            })
        });
        sum(weighted)?.ok_or_else(|| crate::Error::Msg("the objective has no weighted term".into()))
    }

    /// The report of these terms, with `loss` the value of [`Terms::loss`].
    pub fn report_with_loss(&self, loss: f64) -> crate::Result<Report> {
        let mut estimates = vec![];
        let mut metrics = vec![];
        for t in &self.terms {
            match t.role {
                Role::Estimate => estimates.push((t.name.clone(), scalar(&t.value)?)),
                Role::Metric => metrics.push((t.name.clone(), scalar(&t.value)?)),
                Role::Loss => {}
            }
        }
        metrics.extend(self.numbers.iter().cloned());
        Ok(Report {
            loss,
            joint_kl: JointKl {
                direction: self.direction,
                terms: estimates,
                additive: self.additive,
            },
            metrics,
        })
    }

    /// The report, the loss computed from the terms (evaluation: no step).
    pub fn report(&self) -> crate::Result<Report> {
        self.report_with_loss(scalar(&self.loss()?)?)
    }
}

/// A scalar tensor's value as f64.
pub fn scalar(t: &Tensor) -> crate::Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// A tensor's values as f64, flattened: for figures computed on the host.
pub fn values(t: &Tensor) -> crate::Result<Vec<f64>> {
    Ok(t.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?)
}

/// The sum of same-shaped tensors, added one after another in their order (`None` for
/// none): a loss, or a total over draws or layers.
pub fn sum<E: From<candle_core::Error>>(
    tensors: impl IntoIterator<Item = Result<Tensor, E>>,
) -> Result<Option<Tensor>, E> {
    let mut total: Option<Tensor> = None;
    for t in tensors {
        let t = t?;
        total = Some(match total {
            None => t,
            Some(s) => (s + t)?,
        });
    }
    Ok(total)
}

/// One gradient step on `terms`: their weighted sum is the loss, backpropagated and
/// applied by `opt` (to its variables only); the report comes from the same terms. Any
/// candle-nn optimizer steps: gen's [`gen_nn::optim::Adam`], or candle-nn's own.
pub fn descend<O: Optimizer>(opt: &mut O, terms: &Terms) -> crate::Result<Report> {
    let loss = terms.loss()?;
    opt.backward_step(&loss)?;
    terms.report_with_loss(scalar(&loss)?)
}

/// A weighted running mean of reports (weights = batch sizes), for epoch averages.
/// Serializable, so a checkpoint taken inside an epoch keeps the epoch's mean so far.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReportMean {
    weight: f64,
    loss: f64,
    terms: Vec<(String, f64)>,
    metrics: Vec<(String, f64)>,
    /// Each metric's own weight, beside `metrics` (checkpoints written before it have
    /// none: every metric then had the reports' whole weight).
    #[serde(default)]
    metric_weights: Vec<f64>,
    direction: Option<(KlDirection, bool)>,
}

/// Checks that a report's terms have the names of the reports before it (`acc`; any
/// names for the `first`), naming what went missing or appeared.
fn same_names(first: bool, acc: &[(String, f64)], add: &[(String, f64)]) -> crate::Result<()> {
    let names = |v: &[(String, f64)]| v.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    let (had, has) = (names(acc), names(add));
    if first || had == has {
        return Ok(());
    }
    let gone: Vec<_> = had.iter().filter(|k| !has.contains(k)).collect();
    let new: Vec<_> = has.iter().filter(|k| !had.contains(k)).collect();
    Err(crate::Error::Msg(format!(
        "the joint-KL terms of a report changed: earlier steps had {had:?}, this one {has:?} \
         (missing {gone:?}, new {new:?}); a family must report the same terms every step"
    )))
}

/// Adds `add` (weighted by `w`) into `acc` term by term (names checked by [`same_names`]).
fn accumulate(first: bool, acc: &mut Vec<(String, f64)>, add: &[(String, f64)], w: f64) {
    if first {
        acc.clear();
        acc.extend(add.iter().map(|(k, v)| (k.clone(), v * w)));
        return;
    }
    for ((_, a), (_, v)) in acc.iter_mut().zip(add) {
        *a += v * w;
    }
}

impl ReportMean {
    /// Adds a report with weight `weight`. Its joint-KL terms must have the names of the
    /// reports before it; a metric is averaged over the reports that have it (an
    /// evaluation figure may need more examples than a small last batch holds).
    pub fn add(&mut self, r: &Report, weight: usize) -> crate::Result<()> {
        let w = weight as f64;
        let first = self.weight == 0.0;
        same_names(first, &self.terms, &r.joint_kl.terms)?;
        accumulate(first, &mut self.terms, &r.joint_kl.terms, w);
        if self.metric_weights.len() != self.metrics.len() {
            // A mean restored from an older checkpoint: every metric so far had it all.
            self.metric_weights = vec![self.weight; self.metrics.len()];
        }
        for (name, v) in &r.metrics {
            match self.metrics.iter().position(|(k, _)| k == name) {
                Some(i) => {
                    self.metrics[i].1 += v * w;
                    self.metric_weights[i] += w;
                }
                None => {
                    self.metrics.push((name.clone(), v * w));
                    self.metric_weights.push(w);
                }
            }
        }
        self.weight += w;
        self.loss += r.loss * w;
        self.direction = Some((r.joint_kl.direction, r.joint_kl.additive));
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.weight == 0.0
    }

    pub fn mean(&self) -> Option<Report> {
        let (direction, additive) = self.direction?;
        let div = |v: &Vec<(String, f64)>| {
            v.iter()
                .map(|(k, x)| (k.clone(), x / self.weight))
                .collect()
        };
        Some(Report {
            loss: self.loss / self.weight,
            joint_kl: JointKl {
                direction,
                terms: div(&self.terms),
                additive,
            },
            metrics: self
                .metrics
                .iter()
                .enumerate()
                .map(|(i, (k, x))| {
                    let w = self.metric_weights.get(i).copied().unwrap_or(self.weight);
                    (k.clone(), x / w)
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(loss: f64, rec: f64, kl: f64) -> Report {
        Report {
            loss,
            joint_kl: JointKl::additive(
                KlDirection::Forward,
                vec![("reconstruction", rec), ("latent_kl", kl)],
            ),
            metrics: vec![],
        }
    }

    #[test]
    fn weighted_mean_and_scalars() {
        let mut m = ReportMean::default();
        m.add(&report(10.0, 8.0, 2.0), 3).unwrap();
        m.add(&report(20.0, 17.0, 3.0), 1).unwrap();
        let r = m.mean().unwrap();
        assert_eq!(r.loss, 12.5);
        assert_eq!(r.joint_kl.term("reconstruction"), Some(10.25));
        let s = r.scalars();
        assert_eq!(s[1], ("joint_kl/total".to_string(), 12.5));
        assert!(r.non_finite().is_none());
        assert_eq!(report(f64::NAN, 1.0, 1.0).non_finite().unwrap().0, "loss");
        assert!(JointKl::estimates(KlDirection::Reverse, vec![("a", 1.0)])
            .total()
            .is_none());
    }

    #[test]
    fn a_term_that_appears_or_disappears_is_an_error() {
        let mut m = ReportMean::default();
        m.add(&report(10.0, 8.0, 2.0), 1).unwrap();
        let mut renamed = report(10.0, 8.0, 2.0);
        renamed.joint_kl.terms[1].0 = "kl".into();
        let err = m.add(&renamed, 1).unwrap_err().to_string();
        assert!(
            err.contains("missing [\"latent_kl\"]") && err.contains("new [\"kl\"]"),
            "{err}"
        );
        let mut shorter = report(10.0, 8.0, 2.0);
        shorter.joint_kl.terms.pop();
        assert!(m.add(&shorter, 1).is_err());
        // Nothing of the rejected reports was added.
        assert_eq!(m.mean().unwrap(), report(10.0, 8.0, 2.0));
    }

    /// A metric only some reports carry is the mean over those (weights 3 and 1 here),
    /// while the terms and the loss are over all.
    #[test]
    fn a_metric_is_averaged_over_the_reports_that_have_it() {
        let mut m = ReportMean::default();
        let mut with = report(10.0, 8.0, 2.0);
        with.metrics = vec![("mmd".into(), 4.0), ("acc".into(), 0.5)];
        let mut without = report(20.0, 16.0, 4.0);
        without.metrics = vec![("acc".into(), 1.0)];
        m.add(&with, 3).unwrap();
        m.add(&without, 1).unwrap();
        let r = m.mean().unwrap();
        assert_eq!(r.loss, 12.5);
        assert_eq!(r.metrics, vec![("mmd".into(), 4.0), ("acc".into(), 0.625)]);
        // A mean saved before metrics had weights of their own still averages right.
        let mut old: ReportMean = serde_json::from_str(
            r#"{"weight":2.0,"loss":20.0,"terms":[["reconstruction",16.0],["latent_kl",4.0]],
                "metrics":[["acc",1.0]],"direction":["Forward",true]}"#,
        )
        .unwrap();
        let mut next = report(10.0, 8.0, 2.0);
        next.metrics = vec![("acc".into(), 1.0)];
        old.add(&next, 2).unwrap();
        assert_eq!(old.mean().unwrap().metrics, vec![("acc".into(), 0.75)]);
    }

    /// Weighted terms against the loss written out by hand, and the report of the same
    /// terms: estimates under joint_kl, metrics and numbers beside them.
    #[test]
    fn terms_make_the_loss_and_the_report() {
        let d = candle_core::Device::Cpu;
        let t = |v: f64| Tensor::new(v, &d).unwrap();
        let terms = Terms::additive(KlDirection::Forward)
            .term("reconstruction", t(80.0), 1.0)
            .term("latent_kl", t(20.0), 0.25)
            .metric("family/bound", t(-95.0), 0.0)
            .number("acc", 0.5);
        assert_eq!(scalar(&terms.loss().unwrap()).unwrap(), 80.0 + 0.25 * 20.0);
        let r = terms.report().unwrap();
        assert_eq!(r.loss, 85.0);
        assert_eq!(r.joint_kl.total(), Some(100.0));
        assert_eq!(
            r.term_scalars(),
            vec![
                ("joint_kl/total".to_string(), 100.0),
                ("joint_kl/reconstruction".to_string(), 80.0),
                ("joint_kl/latent_kl".to_string(), 20.0),
                ("family/bound".to_string(), -95.0),
                ("acc".to_string(), 0.5),
            ]
        );
        // A metric with weight -1 is the loss (the IWAE objective); no weighted term is an error.
        let iwae = Terms::additive(KlDirection::Forward)
            .term("reconstruction", t(80.0), 0.0)
            .metric("family/bound", t(-95.0), -1.0);
        assert_eq!(scalar(&iwae.loss().unwrap()).unwrap(), 95.0);
        assert!(Terms::additive(KlDirection::Forward)
            .term("reconstruction", t(1.0), 0.0)
            .loss()
            .is_err());
    }

    /// `descend` updates the optimizer's variables along the gradient of the weighted sum:
    /// for loss = a x + b x^2 the gradient at x is a + 2 b x, and Adam's first step moves
    /// x by -lr * sign(gradient).
    #[test]
    fn descend_steps_on_the_weighted_sum() {
        use gen_nn::optim::{Adam, OptimizerConfig};
        let d = candle_core::Device::Cpu;
        let x = candle_core::Var::new(3.0f64, &d).unwrap();
        let mut opt = Adam::new(
            vec![x.clone()],
            OptimizerConfig {
                lr: 0.1,
                ..OptimizerConfig::default()
            },
        );
        let terms = Terms::additive(KlDirection::Forward)
            .term("linear", (x.as_tensor() * 1.0).unwrap(), -2.0) // gradient -2
            .term("square", x.as_tensor().sqr().unwrap(), 0.5); // gradient x = 3
        let r = descend(&mut opt, &terms).unwrap();
        assert_eq!(r.loss, -6.0 + 4.5);
        let moved = x.as_tensor().to_scalar::<f64>().unwrap();
        assert!((moved - 2.9).abs() < 1e-6, "{moved}");
    }

    /// The same terms through candle-nn's plain SGD: x moves by -lr * (a + 2 b x) =
    /// -0.1 * (-2 + 0.5 * 2 * 3) = -0.1.
    #[test]
    fn descend_takes_any_candle_optimizer() {
        let d = candle_core::Device::Cpu;
        let x = candle_core::Var::new(3.0f64, &d).unwrap();
        let mut sgd = candle_nn::SGD::new(vec![x.clone()], 0.1).unwrap();
        let terms = Terms::additive(KlDirection::Forward)
            .term("linear", (x.as_tensor() * 1.0).unwrap(), -2.0)
            .term("square", x.as_tensor().sqr().unwrap(), 0.5);
        descend(&mut sgd, &terms).unwrap();
        let moved = x.as_tensor().to_scalar::<f64>().unwrap();
        assert!((moved - 2.9).abs() < 1e-12, "{moved}");
    }
}
