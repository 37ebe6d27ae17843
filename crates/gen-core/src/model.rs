//! The training contract: what every model family provides to the trainer.
//!
//! The `gen` binary knows a model only through its [`ModelEntry`]: a name and a builder.
//! The built [`Model`] takes training steps (each returning a joint-KL [`Report`]),
//! evaluates, draws pictures, and saves and restores its whole state.

pub use crate::store::Optimizers;
use crate::store::Stored;
use crate::{KlDirection, Report, Result, Rng};
use candle_core::{DType, Device, Tensor};
use gen_base::config::ConfigSource;
pub use gen_base::data_info::{DataInfo, DataKind, Targets};
use gen_nn::nn::Params;
use gen_nn::optim::OptimizerConfig;
use gen_nn::vars::Vb;
use gen_plot::picture::Picture;
use std::collections::HashMap;

/// One minibatch: inputs `x` of shape `(B, ...)`, optional class labels `(B,)` (u32) and
/// optional regression targets `(B, targets)`.
#[derive(Clone, Debug)]
pub struct Batch {
    pub x: Tensor,
    pub labels: Option<Tensor>,
    pub targets: Option<Tensor>,
    /// For a training batch, the training-set rows its examples are (models that keep
    /// state per training example, such as free variational parameters, look them up);
    /// `None` for held-out batches.
    pub train_rows: Option<Vec<usize>>,
}

impl Batch {
    /// Inputs alone (no labels, no targets).
    pub fn inputs(x: Tensor) -> Self {
        Batch {
            x,
            labels: None,
            targets: None,
            train_rows: None,
        }
    }

    /// Inputs with class labels.
    pub fn labelled(x: Tensor, labels: Tensor) -> Self {
        Batch {
            labels: Some(labels),
            ..Batch::inputs(x)
        }
    }

    pub fn size(&self) -> usize {
        self.x.dims().first().copied().unwrap_or(0)
    }
}

/// Everything a builder gets: the config (to read its `model` section) and the [`Setup`]
/// a family is built in.
pub struct BuildContext<'a> {
    pub config: &'a ConfigSource,
    pub setup: Setup<'a>,
}

impl BuildContext<'_> {
    /// The `model` section as the family's config, validated against the data; an error
    /// names the file, line and key.
    pub fn model_config<C: crate::checks::FamilyConfig>(&self) -> Result<C> {
        let cfg: C = self.config.section("model")?;
        crate::checks::modality::<C>(self.setup.data)
            .and_then(|()| cfg.validate())
            .and_then(|()| cfg.validate_for(self.setup.data))
            .map_err(|e| e.locate_in(self.config))?;
        Ok(cfg)
    }
}

/// What a family is built with: the data's shape, the `train.optimizer` settings, where to
/// put tensors and the run's seeded generator for initialization.
pub struct Setup<'a> {
    pub data: &'a DataInfo,
    pub optimizer: &'a OptimizerConfig,
    pub device: Device,
    pub dtype: DType,
    pub rng: &'a mut Rng,
}

impl<'a> Setup<'a> {
    /// f32 on the CPU, as the tests build families.
    pub fn cpu(data: &'a DataInfo, optimizer: &'a OptimizerConfig, rng: &'a mut Rng) -> Self {
        Setup {
            data,
            optimizer,
            device: Device::Cpu,
            dtype: DType::F32,
            rng,
        }
    }

    /// A new parameter store on the run's device and dtype, drawing initial values from the
    /// run's generator as it stands (every store a family makes starts from the same draws).
    pub fn vb(&self) -> Vb {
        Vb::new(self.rng.clone(), self.dtype, &self.device)
    }

    /// The device, dtype and data shape a family keeps.
    pub fn frame(&self) -> crate::Frame {
        crate::Frame {
            data: self.data.clone(),
            device: self.device.clone(),
            dtype: self.dtype,
        }
    }

    /// Moves the run's generator past the draws `vb`'s initialization took.
    pub fn continue_after(&mut self, vb: &Vb) {
        *self.rng = vb.rng();
    }
}

/// A model family's registration: one line in the binary's registry.
pub struct ModelEntry {
    /// The `model.family` value that selects it.
    pub name: &'static str,
    /// One line for `gen list`.
    pub about: &'static str,
    pub build: Build,
}

impl ModelEntry {
    /// The registration of a gradient-trained family `F`: `model.family: name` builds it
    /// from its config section with [`Family::new`].
    pub const fn steps<F: Family>(name: &'static str, about: &'static str) -> Self {
        ModelEntry {
            name,
            about,
            build: Build::Steps(build_family::<F>),
        }
    }

    /// The registration of a family `F` fitted in closed-form iterations (EM).
    pub const fn fit<F: crate::fit::FitFamily>(name: &'static str, about: &'static str) -> Self {
        ModelEntry {
            name,
            about,
            build: Build::Fit(build_fit_family::<F>),
        }
    }
}

/// A gradient-trained family as the registry builds it: its config section and its
/// constructor.
pub trait Family: Model + Sized + 'static {
    type Config: crate::checks::FamilyConfig;

    /// The model for a validated `cfg`, its parameters in stores from [`Setup::vb`]; it
    /// ends with [`Setup::continue_after`] on the store initialized last.
    fn new(cfg: Self::Config, setup: &mut Setup<'_>) -> Result<Self>;
}

fn build_family<F: Family>(mut ctx: BuildContext<'_>) -> Result<Box<dyn Model>> {
    let cfg: F::Config = ctx.model_config()?;
    Ok(Box::new(F::new(cfg, &mut ctx.setup)?))
}

fn build_fit_family<F: crate::fit::FitFamily>(
    ctx: BuildContext<'_>,
) -> Result<Box<dyn crate::fit::FitModel>> {
    let cfg: F::Config = ctx.model_config()?;
    Ok(Box::new(F::new(cfg, ctx.setup.data)))
}

/// How a family is trained, and the builder for it.
#[derive(Clone, Copy)]
pub enum Build {
    /// Gradient steps on minibatches, epoch after epoch ([`Model`]).
    Steps(fn(BuildContext<'_>) -> Result<Box<dyn Model>>),
    /// Closed-form iterations on the whole training set ([`crate::fit::FitModel`], e.g. EM).
    Fit(fn(BuildContext<'_>) -> Result<Box<dyn crate::fit::FitModel>>),
}

/// A predictive model's output at a batch of inputs (the Monte-Carlo predictive of a
/// Bayesian network, or a point network's): what `gen eval`'s calibration figures and `gen
/// predict` read.
#[derive(Clone, Debug)]
pub enum Prediction {
    /// Class probabilities `(n, classes)`, each row summing to 1.
    Classes(Tensor),
    /// A Gaussian per target: `mean` and `variance`, both `(n, targets)`, in the targets'
    /// own units (the variance includes the noise).
    Values { mean: Tensor, variance: Tensor },
}

/// Settings of `gen eval` for figures too costly to compute every epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalOptions {
    /// Importance samples per example for log-likelihood estimates (5000 is the standard
    /// NLL estimate).
    pub importance_samples: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            importance_samples: 5000,
        }
    }
}

/// What `gen eval --refine` asks of a model with a Gaussian `p(z|x)`: each test
/// example's own Gaussian, fitted by [`gen_dist::local_vi`] with the generator frozen.
#[derive(Clone, Debug)]
pub struct RefineOptions {
    pub vi: gen_dist::local_vi::LocalViOptions,
    pub from: RefineStart,
    /// Importance samples of the likelihood estimate with the fitted Gaussian as proposal.
    pub importance_samples: usize,
}

/// Where each example's fit starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RefineStart {
    /// The encoder's `p(z|x)` (the amortized answer, which the fit can only improve).
    #[default]
    Encoder,
    /// The prior `N(0, I)`.
    Prior,
}

/// Per-example results of a refinement, in nats (Cremer et al.'s decomposition:
/// `log p(x) - ELBO[q] = (log p(x) - ELBO[q*]) + (ELBO[q*] - ELBO[q])`).
#[derive(Clone, Debug, Default)]
pub struct Refinement {
    /// `-ELBO[q]` of the encoder's `p(z|x)` (`None` without an encoder).
    pub amortized: Option<Vec<f64>>,
    /// `-ELBO[q*]` of the fitted Gaussian.
    pub refined: Vec<f64>,
    /// `-log p(x)` estimated by importance sampling from the fitted Gaussian.
    pub nll: Vec<f64>,
    /// Adam steps the fit took.
    pub steps: usize,
}

/// Where a checkpoint keeps a model's parameters (`model.<name>`); `train.init_from` reads
/// them from there.
pub const PARAMS_PREFIX: &str = "model.";
/// Where a checkpoint keeps saved tensors that are not optimized (batch-norm averages).
pub const BUFFERS_PREFIX: &str = "buffers.";

/// A trainable generative model.
pub trait Model: Send {
    /// Core's part of the model: parameters, buffers, optimizers, direction, resolved
    /// config ([`crate::Store`], one field of the family's struct).
    fn store(&self) -> &dyn Stored;

    fn store_mut(&mut self) -> &mut dyn Stored;

    /// Which divergence this model's report estimates.
    fn direction(&self) -> KlDirection {
        self.store().direction()
    }

    /// What training minimizes, for the run's first lines: the joint KL and its direction,
    /// unless the family says otherwise (a plain autoencoder has no KL term).
    fn objective(&self) -> String {
        self.direction().to_string()
    }

    /// One optimization step (all of its players) on a batch.
    fn train_step(&mut self, batch: &Batch, rng: &mut Rng) -> Result<Report>;

    /// The report on a held-out batch, without updating anything.
    fn evaluate(&self, batch: &Batch, rng: &mut Rng) -> Result<Report>;

    /// This family's own pictures for this epoch (e.g. `codes`, `manifold`), drawn using
    /// `batch` where inputs are needed: the first 2,000 test examples, with labels. The
    /// trainer adds the standard `samples` and `reconstructions` ([`crate::gallery`])
    /// unless this returns its own picture under that name.
    fn pictures(&self, batch: &Batch, rng: &mut Rng) -> Result<Vec<(String, Picture)>> {
        let _ = (batch, rng);
        Ok(vec![])
    }

    /// The trainable parameters, for histograms and checkpoints.
    fn params(&self) -> &Params {
        self.store().params()
    }

    /// Saved tensors that are not optimized (e.g. batch-norm running averages), if any.
    fn buffers(&self) -> Option<&Params> {
        self.store().buffers()
    }

    /// The optimizer state (one Adam, or both players').
    fn optimizers(&self) -> &dyn Optimizers {
        self.store().optimizers()
    }

    fn optimizers_mut(&mut self) -> &mut dyn Optimizers {
        self.store_mut().optimizers_mut()
    }

    /// Everything to save: parameters under [`PARAMS_PREFIX`], buffers under
    /// [`BUFFERS_PREFIX`] and the optimizers' states.
    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut s = self.params().export(PARAMS_PREFIX);
        if let Some(b) = self.buffers() {
            s.extend(b.export(BUFFERS_PREFIX));
        }
        s.extend(self.optimizers().export()?);
        Ok(s)
    }

    /// Restores what [`Model::state`] saved.
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.params().load(PARAMS_PREFIX, state)?;
        if let Some(b) = self.buffers() {
            b.load(BUFFERS_PREFIX, state)?;
        }
        self.optimizers_mut().load(state)
    }

    /// The model section with every default filled in, for the run's resolved config.
    fn resolved_config(&self) -> serde_norway::Value {
        self.store().resolved_config()
    }

    /// Scales every optimizer's learning rate (a schedule calls this each epoch).
    fn set_lr_scale(&mut self, scale: f64) {
        self.optimizers_mut().set_lr_scale(scale);
    }

    /// Called before every training epoch (1-based, also the epoch a resume continues), for
    /// schedules a model owns, such as a KL warm-up.
    fn set_epoch(&mut self, epoch: usize) {
        let _ = epoch;
    }

    /// Figures only `gen eval` computes, as `(name, mean over the batch's examples)` on one
    /// test batch (e.g. an importance-sampled log-likelihood).
    fn eval_metrics(
        &self,
        batch: &Batch,
        options: &EvalOptions,
        rng: &mut Rng,
    ) -> Result<Vec<(String, f64)>> {
        let _ = (batch, options, rng);
        Ok(vec![])
    }

    /// Each example's Gaussian `p(z|x)` fitted on its own (per-datapoint VI with the
    /// generator frozen) and the bounds before and after, or `None` if the model has no
    /// Gaussian latent to fit. `on_steps(k)`: `k` more optimizer steps taken.
    fn refine(
        &self,
        batch: &Batch,
        options: &RefineOptions,
        rng: &mut Rng,
        on_steps: &mut dyn FnMut(usize),
    ) -> Result<Option<Refinement>> {
        let _ = (batch, options, rng, on_steps);
        Ok(None)
    }

    /// The codes `E[z|x]` of inputs `x` (rows as in a [`Batch`]), or `None` if the model
    /// has no encoder. `gen eval` measures them as features (1-nearest-neighbour accuracy).
    fn encode(&self, x: &Tensor) -> Result<Option<Tensor>> {
        let _ = x;
        Ok(None)
    }

    /// The data-space means decoded from codes `z` (rows `(n, latent)`), or `None` if the
    /// model has no decoder. With [`Model::encode`] it gives reconstructions and
    /// interpolations.
    fn decode(&self, z: &Tensor) -> Result<Option<Tensor>> {
        let _ = z;
        Ok(None)
    }

    /// `n` samples of class `class` (a conditional model), or `None` if the model does not
    /// condition on classes.
    fn sample_class(&self, n: usize, class: usize, rng: &mut Rng) -> Result<Option<Tensor>> {
        let _ = (n, class, rng);
        Ok(None)
    }

    /// `n` samples from the model as rows `(n, dim)` (pixels in [0, 1] for images), or
    /// `None` if the model cannot sample.
    fn sample(&self, n: usize, rng: &mut Rng) -> Result<Option<Tensor>> {
        let _ = (n, rng);
        Ok(None)
    }

    /// The predictive distribution of labels or targets at inputs `x`, or `None` if the
    /// model does not predict (the generative families).
    fn predict(&self, x: &Tensor, rng: &mut Rng) -> Result<Option<Prediction>> {
        let _ = (x, rng);
        Ok(None)
    }

    /// Tensors besides the parameters worth a TensorBoard histogram (e.g. the posterior
    /// scales of Bayesian weights), by tag.
    fn histograms(&self) -> Result<Vec<(String, Tensor)>> {
        Ok(vec![])
    }
}
