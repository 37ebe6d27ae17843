//! `gen train` for closed-form families (EM): the whole training set at once, one line
//! and one set of TensorBoard scalars per iteration, pictures and the checkpoint at the end.
//!
//! TensorBoard's step axis counts half-steps: 0 is the initial state, then each
//! iteration's E-step and M-step take one step each, so `joint_kl/posterior_gap` shows
//! the alternation (zero after every E-step, positive after every M-step).

use crate::cli::TrainArgs;
use crate::run::checkpoint::{self, Position};
use crate::run::config::RunConfig;
use crate::run::setup::{build_fit, check_data, plan_data, points};
use crate::run::summaries::Summaries;
use anyhow::{bail, Context, Result};
use gen_base::config::{ConfigError, ConfigSource};
use gen_core::fit::{FitModel, FitObserver, Iteration};
use gen_core::{BuildContext, Rng};
use std::time::Instant;

pub fn run(
    args: &TrainArgs,
    src: &ConfigSource,
    cfg: &RunConfig,
    run_name: String,
    build: fn(BuildContext<'_>) -> gen_core::Result<Box<dyn FitModel>>,
) -> Result<()> {
    if args.resume.is_some() {
        bail!(
            "`{}` runs fit to convergence in one go and are not resumed; start a new run \
             (`model.init_from: RUN_DIR/checkpoint.safetensors` starts from a run's parameters)",
            cfg.family
        );
    }
    if cfg.train.init_from.is_some() {
        let e = ConfigError::invalid(
            "train.init_from",
            format!(
                "`{}` fits in closed form; start it from a run with `model.init_from: RUN_DIR/checkpoint.safetensors`",
                cfg.family
            ),
        );
        return Err(e.locate_in(src).into());
    }
    check_data(src, cfg)?;
    let unused = unused_step_keys(src);
    if !unused.is_empty() {
        println!(
            "note: `{}` fits in closed form until model.tol or model.max_iter; {} {} not used",
            cfg.family,
            unused.join(", "),
            if unused.len() == 1 { "is" } else { "are" }
        );
    }
    let plan = plan_data(cfg)?;
    crate::train::memory::check_data(crate::train::memory::available()?.as_ref(), plan.bytes)?;
    let data = plan.load()?;
    let (train, test) = (points(&data.train), points(&data.test));
    let mut master = Rng::new(cfg.train.seed);
    let mut init_rng = master.fork();
    let mut model = build_fit(build, src, cfg, &data.info, &mut init_rng)?;
    let resolved = cfg.resolved(model.resolved_config());
    let dir = crate::run::dir::create(&args.runs, &run_name, args.run_dir.as_deref())?;
    let _lock = crate::run::lock::acquire(&dir, "gen train")?;
    std::fs::write(dir.join("config.yaml"), &resolved)
        .with_context(|| format!("writing {}", dir.join("config.yaml").display()))?;
    let mut sums = Summaries::create(&dir)?;
    sums.text("config", &format!("```yaml\n{resolved}\n```"), 0)?;
    sums.session_start(&resolved)?;
    println!(
        "fitting {} on {} ({} train / {} test points of dimension {}, {} parameters) -> {}",
        cfg.family,
        data.info.name,
        train.n,
        test.n,
        train.dim,
        model.parameter_count(),
        dir.display()
    );
    if data.test_is_train {
        println!("note: no data.test given; the figures labelled test are on the training points");
    }
    println!("objective: {}", model.direction());

    let started = Instant::now();
    let mut observer = Observer {
        sums: &mut sums,
        half_step: 0,
        started,
        error: None,
    };
    let mut fit_rng = master.fork();
    let outcome = model.fit(&train, &test, &mut fit_rng, &mut observer);
    let half_steps = observer.half_step;
    let result = match observer.error.take() {
        Some(logging) => Err(logging),
        None => outcome.map_err(anyhow::Error::from),
    };
    let outcome = match result {
        Ok(o) => o,
        Err(e) => {
            // The run directory is new and holds no checkpoint: remove it rather than
            // leave a run that looks started.
            drop(sums);
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
    };
    let fit_secs = started.elapsed().as_secs_f64();

    let last = half_steps.saturating_sub(1);
    sums.final_pictures(&model.pictures(&train, &test)?, last)?;
    let pos = Position {
        family: cfg.family.clone(),
        epoch: outcome.iterations,
        step: half_steps,
        data_rng: master.fork(),
        noise_rng: master.fork(),
        partial: None,
    };
    checkpoint::Checkpointer::new(&dir, cfg.checkpoint.keep, None).save(
        model.state()?,
        &pos,
        &resolved,
    )?;
    sums.flush()?;
    println!(
        "{} after {} iterations (restart {} of {} kept) in {fit_secs:.2}s: train loss {:.6} [{}]",
        if outcome.converged {
            "converged"
        } else {
            "stopped at max_iter"
        },
        outcome.iterations,
        outcome.best_restart + 1,
        outcome.restarts,
        outcome.train.loss,
        crate::run::progress::terms_line(&outcome.train),
    );
    for (name, v) in model.eval_table(&train, &test)? {
        println!("  {name:<28} {v:.6}");
    }
    let logdir = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(&args.runs);
    sums.session_end(gen_tensorboard::Status::Success)?;
    println!("view with: tensorboard --logdir {}", logdir.display());
    Ok(())
}

/// Logs each iteration's half-steps to TensorBoard and prints a line per iteration.
struct Observer<'a> {
    sums: &'a mut Summaries,
    half_step: u64,
    started: Instant,
    /// The first logging error (the fit itself cannot carry an anyhow error).
    error: Option<anyhow::Error>,
}

impl Observer<'_> {
    fn log(&mut self, it: &Iteration) -> Result<()> {
        for (_, report) in &it.phases {
            for (tag, v) in report.scalars() {
                self.sums.scalar(&tag, v, self.half_step)?;
            }
            self.half_step += 1;
        }
        let step = self.half_step - 1;
        self.sums.scalar("loss/test", it.test.loss, step)?;
        for (tag, v) in &it.test.metrics {
            self.sums.scalar(tag, *v, step)?;
        }
        self.sums
            .scalar("em/restart", it.restart as f64 + 1.0, step)?;
        let last = &it.phases.last().expect("at least one phase").1;
        println!(
            "restart {} iter {:>3}  loss {:.6} [{}]  test loss {:.6}  {:.2}s",
            it.restart + 1,
            it.iteration,
            last.loss,
            crate::run::progress::terms_line(last),
            it.test.loss,
            self.started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

impl FitObserver for Observer<'_> {
    fn iteration(&mut self, it: &Iteration) -> gen_core::Result<()> {
        self.log(it).map_err(|e| {
            let msg = format!("{e:#}");
            self.error.get_or_insert(e);
            gen_core::Error::Msg(msg)
        })
    }

    fn note(&mut self, message: &str) {
        println!("note: {message}");
        let _ = self.sums.text("notes", message, self.half_step);
    }
}

/// The gradient-training keys a config (or a `--set`) gives that a closed-form fit ignores.
fn unused_step_keys(src: &ConfigSource) -> Vec<String> {
    const STEP_KEYS: [&str; 5] = [
        "train.epochs",
        "train.batch_size",
        "train.optimizer",
        "train.lr_schedule",
        "train.on_nonfinite",
    ];
    let given = src.given_paths();
    let set: Vec<&str> = src.overrides.iter().map(|(p, _)| p.as_str()).collect();
    STEP_KEYS
        .iter()
        .filter(|k| {
            given.iter().any(|g| g == *k)
                || set
                    .iter()
                    .any(|p| p == *k || p.starts_with(&format!("{k}.")))
        })
        .map(|k| format!("`{k}`"))
        .collect()
}
