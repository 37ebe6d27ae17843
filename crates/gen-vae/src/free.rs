//! `encoder: free`: no encoder network; every training example keeps its own Gaussian
//! `p(z|x_i)` (a row of a [`LocalTable`]), trained together with the decoder — the
//! per-datapoint VI that an encoder amortizes. A held-out example has no row: its Gaussian
//! is fitted from the prior with the decoder frozen ([`gen_dist::local_vi::fit`]).

use crate::model::Vae;
use candle_core::{Tensor, Var};
use gen_core::model::Batch;
use gen_core::objective::scalar;
use gen_core::{Report, Result, Rng};
use gen_dist::dist::DiagGaussian;
use gen_dist::local_vi::{self, LocalTable, LocalViOptions};

impl Vae {
    /// One step: the batch's Gaussians and the decoder descend the ELBO together, then the
    /// Gaussians alone take `local_steps - 1` more steps.
    pub(crate) fn free_train_step(&mut self, batch: &Batch, rng: &mut Rng) -> Result<Report> {
        let idx = batch.train_rows.clone().ok_or_else(|| {
            gen_core::Error::Msg(
                "encoder: free needs the training-set rows of each batch (gen train passes them)"
                    .into(),
            )
        })?;
        let x = self.frame.input(batch)?;
        let (lr, extra) = (self.cfg.local_lr(), self.cfg.local_steps() - 1);
        let (q, vars) = self.table_rows(&idx, &x)?;
        let terms = self.terms_of(&q, &x, None, self.kl_weight, rng)?;
        let loss = terms.loss()?;
        let grads = loss.backward()?;
        self.store.opt.step(&grads)?;
        self.apply(&idx, &vars, &grads, lr)?;
        let report = terms.report_with_loss(scalar(&loss)?)?;
        // The same loss (with a KL warm-up's weight) for the Gaussians' extra steps.
        for _ in 0..extra {
            let (q, vars) = self.table_rows(&idx, &x)?;
            let loss = self.terms_of(&q, &x, None, self.kl_weight, rng)?.loss()?;
            self.apply(&idx, &vars, &loss.backward()?, lr)?;
        }
        Ok(report)
    }

    /// The held-out report: each example's Gaussian fitted from the prior (`test_steps`
    /// at most, decoder frozen), then the ELBO's terms at it.
    pub(crate) fn free_evaluate(&self, batch: &Batch, rng: &mut Rng) -> Result<Report> {
        let x = self.frame.input(batch)?;
        let q = self.fit_from_prior(&x, self.cfg.test_steps(), rng)?;
        self.terms_of(&q, &x, None, self.cfg.beta, rng)?.report()
    }

    /// Each row of `x`'s Gaussian fitted from N(0, I) with the decoder frozen.
    pub(crate) fn fit_from_prior(
        &self,
        x: &Tensor,
        steps: usize,
        rng: &mut Rng,
    ) -> Result<DiagGaussian> {
        let nll_at = |z: &Tensor| self.neg_log_likelihood(&self.decoder_output(z)?, x);
        let start = self.prior_rows(x)?;
        let opts = LocalViOptions::new(steps, self.cfg.local_lr());
        Ok(local_vi::fit(&start, &nll_at, &opts, rng, &mut |_| {})?.q)
    }

    /// Rows `idx` of the table as variables (so a backward pass reaches them).
    fn table_rows(&self, idx: &[usize], like: &Tensor) -> Result<(DiagGaussian, [Var; 2])> {
        let q = self.table()?.gather(idx, like)?;
        let vars = [Var::from_tensor(&q.mean)?, Var::from_tensor(&q.logvar)?];
        let q = DiagGaussian::new(vars[0].as_tensor().clone(), vars[1].as_tensor().clone());
        Ok((q, vars))
    }

    fn apply(
        &mut self,
        idx: &[usize],
        vars: &[Var; 2],
        grads: &candle_core::backprop::GradStore,
        lr: f64,
    ) -> Result<()> {
        let g = |v: &Var| {
            grads.get(v).cloned().ok_or_else(|| {
                gen_core::Error::Msg("no gradient reached the free Gaussians".into())
            })
        };
        let (gm, gl) = (g(&vars[0])?, g(&vars[1])?);
        self.table_mut()?.update(idx, [&gm, &gl], lr)
    }

    fn table(&self) -> Result<&LocalTable> {
        self.local
            .as_ref()
            .ok_or_else(|| gen_core::Error::Msg("this VAE has no free Gaussians".into()))
    }

    fn table_mut(&mut self) -> Result<&mut LocalTable> {
        self.local
            .as_mut()
            .ok_or_else(|| gen_core::Error::Msg("this VAE has no free Gaussians".into()))
    }
}
