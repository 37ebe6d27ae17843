//! The joint-KL objective and the report every training step returns.
//!
//! Each model estimates `KL(p(x,z) || q(x,z))` (or, for adversarial models, the reverse
//! divergence over variables augmented with a real/fake label y) up to the constant
//! entropy of the data, and reports the estimate split into named terms. For the VAE:
//! `reconstruction = E[-log q(x|z)]` and `latent_kl = KL(p(z|x) || q(z))`, whose sum is
//! minus the ELBO.

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

/// A weighted running mean of reports (weights = batch sizes), for epoch averages.
/// Serializable, so a checkpoint taken inside an epoch keeps the epoch's mean so far.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReportMean {
    weight: f64,
    loss: f64,
    terms: Vec<(String, f64)>,
    metrics: Vec<(String, f64)>,
    direction: Option<(KlDirection, bool)>,
}

fn accumulate(acc: &mut Vec<(String, f64)>, add: &[(String, f64)], w: f64) {
    if acc.is_empty() {
        acc.extend(add.iter().map(|(k, v)| (k.clone(), v * w)));
    } else {
        for ((_, a), (_, v)) in acc.iter_mut().zip(add) {
            *a += v * w;
        }
    }
}

impl ReportMean {
    pub fn add(&mut self, r: &Report, weight: usize) {
        let w = weight as f64;
        self.weight += w;
        self.loss += r.loss * w;
        accumulate(&mut self.terms, &r.joint_kl.terms, w);
        accumulate(&mut self.metrics, &r.metrics, w);
        self.direction = Some((r.joint_kl.direction, r.joint_kl.additive));
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
            metrics: div(&self.metrics),
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
        m.add(&report(10.0, 8.0, 2.0), 3);
        m.add(&report(20.0, 17.0, 3.0), 1);
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
}
