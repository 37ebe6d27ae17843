//! The joint-KL drift term: a player kept near its copy from before the iteration.
//!
//! Minimizing the joint KL with the discriminator at its optimum leaves, beside the
//! adversarial loss, `KL(q(x) || q_old(x))`: the generator side's distribution against its
//! own previous self. Reading a deterministic map's output as a narrow Gaussian turns it
//! into `lambda * mean((G(z) - G_old(z))^2)`. The GAN has one such term
//! (`generator_drift`), ALI/BiGAN one per map (`encoder_drift`, `generator_drift`). Each is
//! reported unscaled, with `lambda` as its weight.

use crate::objective::Terms;
use candle_core::{Result, Tensor};
use gen_base::config::ConfigError;
use gen_nn::params::Params;
use gen_nn::vars::Vb;

/// Copies of some players' networks `N` from before the iteration's steps: built like the
/// originals (the same shapes, in the same order) on a store of their own that is never
/// saved, and overwritten from the originals by [`Snapshot::take`].
pub struct Snapshot<N> {
    params: Params,
    /// The originals' name prefixes (`generator.`; `encoder.`, `generator.`).
    owners: &'static [&'static str],
    pub nets: N,
}

impl<N> Snapshot<N> {
    /// The copies `nets`, built on `store`, of the entries under `owners`.
    pub fn new(store: &Vb, owners: &'static [&'static str], nets: N) -> Self {
        Snapshot {
            params: store.params(),
            owners,
            nets,
        }
    }

    /// Copies the originals' current values out of `params` into the copies.
    pub fn take(&self, params: &Params) -> Result<()> {
        params.copy_into(self.owners, &self.params)
    }
}

/// `mean((new - old)^2)`, the gradient flowing into `new` only.
pub fn drift(new: &Tensor, old: &Tensor) -> Result<Tensor> {
    (new - old.detach())?.sqr()?.mean_all()
}

/// `terms` with the drift term `name` at weight `lambda`; `None` (an evaluation, or no old
/// copy yet) reports it as 0 at weight 0, so the report has the same terms every step.
pub fn with_drift(
    terms: Terms,
    name: &str,
    value: Option<Tensor>,
    lambda: f64,
    like: &Tensor,
) -> Result<Terms> {
    Ok(match value {
        Some(d) => terms.term(name, d, lambda),
        None => terms.term(name, like.zeros_like()?, 0.0),
    })
}

/// Checks `model.lambda` (finite, >= 0) and that a positive one has the second step it
/// needs: the old copy is the player before an iteration's first step, so on that step the
/// term and its gradient are zero.
pub fn validate(lambda: f64, g_steps: usize, off: &str) -> std::result::Result<(), ConfigError> {
    if !(lambda >= 0.0 && lambda.is_finite()) {
        return Err(ConfigError::invalid(
            "model.lambda",
            format!("must be a finite number >= 0 (0 = {off}), got {lambda}"),
        ));
    }
    if lambda > 0.0 && g_steps < 2 {
        return Err(ConfigError::invalid(
            "model.g_steps",
            "the drift term needs g_steps >= 2: the old copy is the player before an \
             iteration's first step, so on that step the term and its gradient are zero \
             (set g_steps: 2, or lambda: 0)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KlDirection;
    use candle_core::{Device, Var};

    /// By hand: new (1, 3), old (0, 1): mean((1, 2)^2) = 2.5; the gradient 2 (new - old) / 2
    /// reaches `new` and not `old`.
    #[test]
    fn drift_by_hand_and_its_gradient_reaches_the_new_map_only() {
        let new = Var::new(&[1.0f64, 3.0], &Device::Cpu).unwrap();
        let old = Var::new(&[0.0f64, 1.0], &Device::Cpu).unwrap();
        let d = drift(new.as_tensor(), old.as_tensor()).unwrap();
        assert_eq!(d.to_scalar::<f64>().unwrap(), 2.5);
        let grads = d.backward().unwrap();
        let g = grads
            .get(new.as_tensor())
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        assert_eq!(g, [1.0, 2.0]);
        assert!(grads.get(old.as_tensor()).is_none());
    }

    #[test]
    fn the_term_is_reported_unscaled_with_lambda_as_its_weight() {
        let x = Tensor::new(2.0f64, &Device::Cpu).unwrap();
        let base = || Terms::estimates(KlDirection::Reverse).part("adversarial", x.clone(), 1.0);
        let t = with_drift(base(), "generator_drift", Some(x.clone()), 5.0, &x).unwrap();
        let r = t.report().unwrap();
        assert_eq!(r.joint_kl.term("generator_drift"), Some(2.0));
        assert_eq!(r.loss, 2.0 + 5.0 * 2.0);
        let e = with_drift(base(), "generator_drift", None, 5.0, &x).unwrap();
        let r = e.report().unwrap();
        assert_eq!(
            (r.joint_kl.term("generator_drift"), r.loss),
            (Some(0.0), 2.0)
        );
    }

    #[test]
    fn lambda_is_checked_with_the_step_it_needs() {
        assert!(validate(0.0, 1, "off").is_ok());
        assert!(validate(5.0, 2, "off").is_ok());
        let e = validate(5.0, 1, "off").unwrap_err().to_string();
        assert!(e.contains("g_steps") && e.contains("g_steps: 2"), "{e}");
        let e = validate(-1.0, 2, "plain GAN").unwrap_err().to_string();
        assert!(e.contains("0 = plain GAN"), "{e}");
    }
}
