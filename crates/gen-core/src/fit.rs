//! The contract for models fitted in closed-form iterations on the whole training set.
//!
//! EM is the member of the joint-KL family that needs no gradient: it minimizes
//! `KL(p(x,z) || q(x,z))` by alternating exact minimizations, first over `p(z|x)` (the
//! E-step), then over `q` (the M-step). Such a model sees all of its data at once, so it
//! gets the [`Points`] whole instead of minibatches, and reports each iteration's
//! half-steps to a [`FitObserver`] (the trainer, which logs them to TensorBoard).

use crate::{KlDirection, Report, Result, Rng};
use candle_core::Tensor;
use gen_base::data_info::DataInfo;
use gen_plot::picture::Picture;
use std::collections::HashMap;

/// A data set held whole: `n` rows of `dim` values (row-major, f64) and optional labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Points {
    pub x: Vec<f64>,
    pub n: usize,
    pub dim: usize,
    pub labels: Option<Vec<u32>>,
}

impl Points {
    /// Widens `n x dim` f32 rows (as datasets store them) to f64.
    pub fn from_f32(x: &[f32], dim: usize, labels: Option<Vec<u32>>) -> Points {
        Points {
            x: x.iter().map(|&v| v as f64).collect(),
            n: x.len().checked_div(dim).unwrap_or(0),
            dim,
            labels,
        }
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.dim..(i + 1) * self.dim]
    }
}

/// One iteration of a fit.
#[derive(Clone, Debug)]
pub struct Iteration {
    /// Which restart (0-based) this iteration belongs to.
    pub restart: usize,
    /// 1-based within the restart; 0 is the initial state.
    pub iteration: usize,
    /// The training-set report after each half-step, in order (EM: `e_step`, `m_step`;
    /// the initial state has one, `init`).
    pub phases: Vec<(&'static str, Report)>,
    /// The parameters after this iteration, evaluated on the test set.
    pub test: Report,
}

/// What the trainer does with a fit's progress.
pub trait FitObserver {
    fn iteration(&mut self, it: &Iteration) -> Result<()>;
    /// Something the user should know about (e.g. a component that emptied and was
    /// re-initialized).
    fn note(&mut self, message: &str);
}

/// How a fit ended.
#[derive(Clone, Debug)]
pub struct FitOutcome {
    /// Iterations of the restart that was kept.
    pub iterations: usize,
    pub converged: bool,
    /// Which restart was kept (0-based) and how many ran.
    pub best_restart: usize,
    pub restarts: usize,
    /// The kept parameters' report on the training set.
    pub train: Report,
}

/// A family fitted in closed-form iterations, as the registry builds it: its config
/// section and its constructor.
pub trait FitFamily: FitModel + Sized + 'static {
    type Config: crate::checks::FamilyConfig;

    fn new(cfg: Self::Config, data: &DataInfo) -> Self;
}

/// A model fitted in closed-form iterations (see the module docs).
pub trait FitModel: Send {
    /// Which divergence this model's report estimates.
    fn direction(&self) -> KlDirection;

    /// Fits the model to `train`, reporting every iteration (evaluated on `test`).
    fn fit(
        &mut self,
        train: &Points,
        test: &Points,
        rng: &mut Rng,
        observer: &mut dyn FitObserver,
    ) -> Result<FitOutcome>;

    /// The report of the current parameters on `points`.
    fn evaluate(&self, points: &Points) -> Result<Report>;

    /// Named figures for `gen eval` (e.g. per-sample log-likelihood, BIC).
    fn eval_table(&self, train: &Points, test: &Points) -> Result<Vec<(String, f64)>>;

    /// Named pictures of the fit.
    fn pictures(&self, train: &Points, test: &Points) -> Result<Vec<(String, Picture)>>;

    /// Number of free parameters.
    fn parameter_count(&self) -> usize;

    /// The parameters to save.
    fn state(&self) -> Result<Vec<(String, Tensor)>>;

    /// Restores what [`FitModel::state`] saved.
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()>;

    /// The model section with every default filled in.
    fn resolved_config(&self) -> serde_norway::Value;

    /// `n` samples from the fitted model, as flattened rows.
    fn sample(&self, n: usize, rng: &mut Rng) -> Result<Vec<f64>>;
}
