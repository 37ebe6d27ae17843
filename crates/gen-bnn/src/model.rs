//! The BNN's joint-KL terms, training step, predictive and pictures.

use crate::config::{BnnConfig, Estimator, Likelihood, Weights};
use crate::likelihood::{GaussianHead, Head};
use crate::net::Net;
use candle_core::{Device, Tensor};
use gen_core::model::{Batch, DataInfo, DataKind, Prediction};
use gen_core::objective::{sum, values};
use gen_core::{descend, Family, KlDirection, Model, Report, Result, Rng, Setup, Store, Terms};
use gen_metrics::calibration;
use gen_nn::optim::Adam;
use gen_plot::picture::Picture;
use gen_plot::plot::predictive::{regression_band, reliability_diagram};

pub struct Bnn {
    cfg: BnnConfig,
    data: DataInfo,
    net: Net,
    head: Head,
    /// The posterior's parameters (or the point weights) and their Adam.
    store: Store<Adam>,
    /// Minibatches taken in this epoch (Blundell et al.'s KL schedule).
    batch_in_epoch: usize,
}

impl Family for Bnn {
    type Config = BnnConfig;

    fn new(mut cfg: BnnConfig, setup: &mut Setup<'_>) -> Result<Self> {
        let (data, optimizer) = (setup.data, setup.optimizer);
        let likelihood = cfg.likelihood_for(data);
        cfg.likelihood = Some(likelihood);
        let vb = setup.vb();
        let head = match likelihood {
            Likelihood::Categorical => Head::Categorical {
                classes: data.classes.unwrap_or(2),
            },
            Likelihood::Gaussian => {
                let targets = data.targets.as_ref().ok_or_else(|| {
                    gen_core::Error::Msg(format!("`{}` has no regression targets", data.name))
                })?;
                Head::Gaussian(GaussianHead::new(
                    &vb.pp("likelihood"),
                    targets,
                    cfg.noise,
                    cfg.learn_noise,
                )?)
            }
        };
        let outputs = head.outputs(data.targets.as_ref());
        let net = Net::new(&vb.pp("net"), &cfg, data.dim(), outputs)?;
        setup.continue_after(&vb);
        let params = vb.params();
        let opt = Adam::new(params.vars(), optimizer.clone());
        // The weights are the latent: `KL(p~(x, y) Q(θ) || p~(x) P(θ) P(y|x, θ))`, data
        // side first.
        let store = Store::new(&cfg, KlDirection::Forward, params, opt);
        Ok(Bnn {
            cfg,
            data: data.clone(),
            net,
            head,
            store,
            batch_in_epoch: 0,
        })
    }
}

impl Bnn {
    /// The examples the weights' KL is shared by.
    fn n(&self) -> f64 {
        self.data.train_size.max(1) as f64
    }

    /// The network's outputs for `draws` forward passes (one for point weights), by the
    /// configured estimator.
    fn outputs(&self, x: &Tensor, draws: usize, rng: &mut Rng) -> Result<Vec<Tensor>> {
        self.outputs_by(x, draws, self.cfg.estimator, rng)
    }

    /// The predictive's draws: whole weight draws, each a function shared by the batch, so
    /// a prediction's curve is a mean of `test_samples` smooth functions (with the local
    /// estimator every input would get its own noise; the marginals are the same).
    fn predictive_outputs(&self, x: &Tensor, rng: &mut Rng) -> Result<Vec<Tensor>> {
        self.outputs_by(x, self.cfg.test_samples, Estimator::Reparameterization, rng)
    }

    fn outputs_by(
        &self,
        x: &Tensor,
        draws: usize,
        estimator: Estimator,
        rng: &mut Rng,
    ) -> Result<Vec<Tensor>> {
        let draws = if self.cfg.weights == Weights::Bayes {
            draws
        } else {
            1
        };
        let x = x.to_dtype(self.store.params.vars()[0].dtype())?;
        (0..draws)
            .map(|_| Ok(self.net.forward(&x, estimator, rng)?))
            .collect()
    }

    /// `E_Q[-log P(y|x, θ)]` per example (the mean over the batch and the draws `outs`),
    /// plus the weights' term: `KL(Q || P) / N`, or for MAP `-log P(θ) / N`.
    fn terms(
        &self,
        batch: &Batch,
        outs: &[Tensor],
        kl_weight: f64,
        rng: &mut Rng,
    ) -> Result<Terms> {
        let nll = sum(outs
            .iter()
            .map(|o| self.head.nll(o, batch).and_then(|v| Ok(v.mean_all()?))))?
        .ok_or_else(|| gen_core::Error::Msg("no draws".into()))?;
        let nll = (nll / outs.len() as f64)?;
        let terms = Terms::additive(KlDirection::Forward).term("nll", nll, 1.0);
        Ok(match self.cfg.weights {
            Weights::Bayes => match self.net.kl(&self.cfg.prior, rng)? {
                Some(kl) => terms.term("weight_kl", (kl / self.n())?, kl_weight),
                None => terms,
            },
            Weights::Map => terms.term(
                "weight_neg_log_prior",
                (self.neg_log_prior()? / self.n())?,
                1.0,
            ),
            Weights::Point => terms,
        })
    }

    /// `-log P(θ)` of the point weights.
    fn neg_log_prior(&self) -> Result<Tensor> {
        let log_probs = self
            .store
            .params
            .vars()
            .into_iter()
            .map(|v| self.cfg.prior.log_prob(v.as_tensor())?.sum_all());
        Ok(sum(log_probs)?
            .ok_or_else(|| gen_core::Error::Msg("no parameters".into()))?
            .neg()?)
    }

    /// The weight of `weight_kl` in this minibatch's loss ([`KlWeighting::minibatch_weight`]);
    /// the epoch's minibatches are counted from [`Model::set_epoch`].
    fn kl_weight(&self, batch_size: usize) -> f64 {
        let m = self.data.train_size.div_ceil(batch_size.max(1));
        self.cfg
            .kl_weighting
            .minibatch_weight(self.batch_in_epoch + 1, m)
    }

    /// The predictive's figures on a batch, as report numbers.
    fn predictive_numbers(
        &self,
        prediction: &Prediction,
        batch: &Batch,
    ) -> Result<Vec<(String, f64)>> {
        Ok(match prediction {
            Prediction::Classes(p) => {
                let Some(labels) = &batch.labels else {
                    return Ok(vec![]);
                };
                let labels: Vec<u32> = labels.to_vec1()?;
                let s = calibration::classification(&values(p)?, p.dim(1)?, &labels);
                vec![
                    ("predictive/accuracy".into(), 1.0 - s.error),
                    ("predictive/nll".into(), s.nll),
                ]
            }
            Prediction::Values { mean, variance } => {
                let Some(y) = &batch.targets else {
                    return Ok(vec![]);
                };
                let s = calibration::regression(
                    &values(mean)?,
                    &values(variance)?,
                    &values(y)?,
                    y.dim(1)?,
                );
                vec![
                    ("predictive/mse".into(), s.rmse * s.rmse),
                    ("predictive/nll".into(), s.nll),
                ]
            }
        })
    }

    /// For one input and one target: the data, the predictive mean and its 2-sd band on a
    /// window half as wide again as the data on each side, where the band should widen.
    fn band_picture(&self, batch: &Batch, rng: &mut Rng) -> Result<Option<Picture>> {
        let (DataKind::Points { dim: 1 }, Some(y)) = (&self.data.kind, &batch.targets) else {
            return Ok(None);
        };
        if y.dim(1)? != 1 || batch.size() == 0 {
            return Ok(None);
        }
        let (xs, ys) = (values(&batch.x)?, values(y)?);
        let span = |v: &[f64]| {
            v.iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                    (a.min(x), b.max(x))
                })
        };
        let ((x0, x1), (y0, y1)) = (span(&xs), span(&ys));
        let (xm, ym) = (0.5 * (x1 - x0).max(1e-6), 0.25 * (y1 - y0).max(1e-6));
        let grid: Vec<f64> = (0..=200)
            .map(|i| x0 - xm + (x1 - x0 + 2.0 * xm) * i as f64 / 200.0)
            .collect();
        let g = Tensor::from_vec(grid.clone(), (grid.len(), 1), &Device::Cpu)?;
        let Some(Prediction::Values { mean, variance }) = self.predict(&g, rng)? else {
            return Ok(None);
        };
        let mean = values(&mean)?;
        let sd: Vec<f64> = values(&variance)?.iter().map(|v| v.sqrt()).collect();
        let points: Vec<(f64, f64)> = xs.into_iter().zip(ys).collect();
        Ok(Some(regression_band(
            &points,
            &grid,
            &mean,
            &sd,
            [x0 - xm, x1 + xm, y0 - ym, y1 + ym],
        )))
    }
}

impl Model for Bnn {
    gen_core::stored_in!(store);

    fn train_step(&mut self, batch: &Batch, rng: &mut Rng) -> Result<Report> {
        let outs = self.outputs(&batch.x, self.cfg.train_samples, rng)?;
        let terms = self.terms(batch, &outs, self.kl_weight(batch.size()), rng)?;
        self.batch_in_epoch += 1;
        descend(&mut self.store.opt, &terms)
    }

    /// The bound with `test_samples` weight draws, and the Monte-Carlo predictive's
    /// accuracy (or squared error) and NLL from the same draws.
    fn evaluate(&self, batch: &Batch, rng: &mut Rng) -> Result<Report> {
        let outs = self.predictive_outputs(&batch.x, rng)?;
        let mut terms = self.terms(batch, &outs, 1.0, rng)?;
        let prediction = self.head.predictive(&outs)?;
        for (name, v) in self.predictive_numbers(&prediction, batch)? {
            terms = terms.number(&name, v);
        }
        terms.report()
    }

    fn predict(&self, x: &Tensor, rng: &mut Rng) -> Result<Option<Prediction>> {
        let outs = self.predictive_outputs(x, rng)?;
        Ok(Some(self.head.predictive(&outs)?))
    }

    /// A reliability diagram (classifiers) or the 1-D regression band.
    fn pictures(&self, batch: &Batch, rng: &mut Rng) -> Result<Vec<(String, Picture)>> {
        if let Some(p) = self.band_picture(batch, rng)? {
            return Ok(vec![("predictive".into(), p)]);
        }
        let (Some(labels), Some(Prediction::Classes(p))) =
            (&batch.labels, self.predict(&batch.x, rng)?)
        else {
            return Ok(vec![]);
        };
        let s = calibration::classification(&values(&p)?, p.dim(1)?, &labels.to_vec1::<u32>()?);
        Ok(vec![("reliability".into(), reliability_diagram(&s.bins))])
    }

    /// The posterior scales `softplus(rho)` of every Bayesian tensor.
    fn histograms(&self) -> Result<Vec<(String, Tensor)>> {
        self.net
            .posteriors()
            .into_iter()
            .map(|(name, w)| Ok((format!("posterior_scale/{name}"), w.sigma()?)))
            .collect()
    }

    fn set_epoch(&mut self, _epoch: usize) {
        self.batch_in_epoch = 0;
    }
}
