//! `gen train`: config -> data -> model -> epochs of steps, evaluation, summaries and
//! checkpoints.

pub mod fit;
pub mod interrupt;
pub mod memory;
pub mod nonfinite;
pub mod resume;
pub mod saver;

use crate::cli::TrainArgs;
use crate::registry;
use crate::run;
use crate::run::checkpoint::{self, Checkpointer, PartialEpoch, Position};
use crate::run::config::RunConfig;
use crate::run::config::{OnNonFinite, MAX_SKIPPED_IN_A_ROW};
use crate::run::progress::EpochProgress;
use crate::run::session::Session;
use crate::run::setup::{build_steps, plan_data, read_config};
use crate::run::summaries::Summaries;
use anyhow::{bail, Context, Result};
use gen_base::config::{ConfigError, ConfigSource};
use gen_core::model::{Batch, BuildContext, Model};
use gen_core::Build;
use gen_core::{ReportMean, Rng};
use gen_data::Split;
use gen_nn::average::WeightAverage;
use interrupt::Interrupt;
use nonfinite::{deep_copy, non_finite};
use saver::{EpochEnd, Saver};
use std::path::Path;
use std::time::Instant;

/// A fixed seed for pictures, so epochs are comparable (evaluation's is the session's).
const PICTURE_SEED: u64 = 0x5EED_0F1C;
/// Test examples handed to `Model::pictures` (reconstructions use a few, 2-D code
/// scatters all of them).
const PICTURE_EXAMPLES: usize = 2000;

pub fn run(args: TrainArgs) -> Result<()> {
    // A resumed run is locked before anything is read from it; a new one once created.
    let _resumed = match &args.resume {
        Some(dir) => Some(crate::run::lock::acquire_run(dir, "gen train --resume")?),
        None => None,
    };
    let (src, run_name) = read_config(&args)?;
    let cfg = RunConfig::parse(&src)?;
    let entry = registry::find(&cfg.family).expect("validated by RunConfig::parse");
    match entry.build {
        Build::Steps(build) => train_steps(&args, &src, &cfg, run_name, build),
        Build::Fit(build) => crate::train::fit::run(&args, &src, &cfg, run_name, build),
    }
}

fn train_steps(
    args: &TrainArgs,
    src: &ConfigSource,
    cfg: &RunConfig,
    run_name: String,
    build: fn(BuildContext<'_>) -> gen_core::Result<Box<dyn Model>>,
) -> Result<()> {
    let device = cfg
        .device
        .open()
        .map_err(|m| ConfigError::invalid("device", m).locate_in(src))?;
    // Sized before anything big is read or allocated: the data from its headers, the
    // model under a memory budget, and only then the data loaded.
    let available = memory::available()?;
    let plan = plan_data(cfg)?;
    let mut master = Rng::new(cfg.train.seed);
    let mut init_rng = master.fork();
    let mut build_model = |info: &gen_core::DataInfo| {
        memory::build_within(available.as_ref(), plan.bytes, || {
            build_steps(build, src, cfg, info, &device, &mut init_rng)
        })
    };
    let (mut model, data) = match &plan.info {
        Some(info) => (build_model(info)?, plan.load()?),
        None => {
            let data = plan.load()?;
            (build_model(&data.info)?, data)
        }
    };
    memory::check_batch_size(src, cfg, data.train.n)?;
    let mut pos = Position {
        family: cfg.family.clone(),
        epoch: 0,
        step: 0,
        data_rng: master.fork(),
        noise_rng: master.fork(),
        partial: None,
    };
    if let (Some(from), None) = (&cfg.train.init_from, &args.resume) {
        init_params(model.as_ref(), &cfg.family, from)?;
    }
    let resolved = cfg.resolved(model.resolved_config());
    let session = Session {
        cfg,
        data: &data,
        device,
    };
    let estimate = memory::training_estimate(model.as_ref(), &session, plan.bytes)?;
    memory::check(&estimate, available.as_ref(), cfg)?;

    let ema = cfg.train.ema;
    let mut average = None;
    let (dir, _lock) = match &args.resume {
        Some(dir) => {
            let saved = checkpoint::load_family(dir, &cfg.family)?;
            crate::train::resume::check_same_model(&saved.config, &resolved)?;
            model
                .load_state(&saved.tensors)
                .with_context(|| format!("resuming from {}", dir.display()))?;
            if ema > 0.0 {
                average = Some(WeightAverage::restore(model.params(), ema, &saved.tensors)?);
            }
            pos = saved.pos;
            if pos.epoch >= cfg.train.epochs {
                bail!(
                    "{} already finished {} of {} epochs; raise the budget, e.g. --set train.epochs={}",
                    dir.display(),
                    pos.epoch,
                    cfg.train.epochs,
                    pos.epoch + 10
                );
            }
            run::dir::check_writable(dir)?;
            run::vocab::check(dir, &data.info)?;
            println!(
                "resuming {} at epoch {} (step {})",
                dir.display(),
                pos.epoch + 1,
                pos.step + 1
            );
            (dir.clone(), None)
        }
        None => {
            let dir = run::dir::create(&args.runs, &run_name, args.run_dir.as_deref())?;
            let lock = crate::run::lock::acquire(&dir, "gen train")?;
            run::vocab::save(&dir, &data.info)?;
            (dir, Some(lock))
        }
    };
    let state_bytes = memory::state_bytes(model.as_ref())?;
    checkpoint::check_space(&dir, state_bytes + 64 * 1024, cfg.checkpoint.keep)?;
    std::fs::write(dir.join("config.yaml"), &resolved)
        .with_context(|| format!("writing {}", dir.join("config.yaml").display()))?;

    let mut sums = Summaries::create(&dir)?;
    if pos.step == 0 {
        sums.text("config", &format!("```yaml\n{resolved}\n```"), 0)?;
    }
    sums.session_start(&resolved)?;
    println!(
        "training {} on {} ({} train / {} test, {} parameters) for {} -> {}",
        cfg.family,
        data.info.name,
        data.train.n,
        data.test.n,
        model.params().count(),
        plural(cfg.train.epochs, "epoch"),
        dir.display()
    );
    println!("{}", memory::line(&estimate, available.as_ref()));
    println!("objective: {}", model.objective());

    if ema > 0.0 && average.is_none() {
        average = Some(WeightAverage::new(model.params(), ema)?);
    }
    let mut saver = Saver {
        average,
        ckpt: Checkpointer::new(
            &dir,
            cfg.checkpoint.keep,
            args.resume.as_ref().map(|_| pos.step),
        ),
        resolved: &resolved,
        dir: &dir,
        last: Instant::now(),
        interrupt: Interrupt::install()?,
    };
    let started = Instant::now();
    epochs(
        &session,
        model.as_mut(),
        &mut pos,
        &mut saver,
        &mut sums,
        started,
    )
    .map_err(|e| io_stop(e, saver.ckpt.current(), &dir))?;
    let logdir = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(&args.runs);
    sums.session_end(gen_tensorboard::Status::Success)?;
    println!(
        "done in {:.1}s; view with: tensorboard --logdir {}",
        started.elapsed().as_secs_f64(),
        logdir.display()
    );
    Ok(())
}

/// An I/O error (a full disk, a file-size limit, a vanished directory) stops the run; the
/// error says so, and where the last good checkpoint is.
fn io_stop(e: anyhow::Error, checkpoint: Option<u64>, dir: &Path) -> anyhow::Error {
    if !e.chain().any(|c| c.is::<std::io::Error>()) {
        return e;
    }
    let kept = match checkpoint {
        Some(step) => format!(
            "its last good checkpoint (step {step}) is kept in {}; once the cause is fixed, continue with: gen train --resume {}",
            dir.display(),
            dir.display()
        ),
        None => "no checkpoint had been written yet".to_string(),
    };
    anyhow::anyhow!("{e:#}. The run stopped; {kept}")
}

/// `train.init_from`: the parameters (not the optimizer state) of another run.
fn init_params(model: &dyn Model, family: &str, from: &Path) -> Result<()> {
    let checkpoint::Loaded {
        tensors: state,
        pos: saved,
        ..
    } = checkpoint::load(from).with_context(|| format!("train.init_from: {}", from.display()))?;
    if saved.family != family {
        bail!(
            "train.init_from: {} is a `{}` run, this config trains `{family}`",
            from.display(),
            saved.family
        );
    }
    model
        .params()
        .load(gen_core::model::PARAMS_PREFIX, &state)
        .with_context(|| {
            format!(
                "train.init_from: {} does not fit this model (its shapes must match)",
                from.display()
            )
        })?;
    println!(
        "starting from the parameters of {} (epoch {}, step {})",
        from.display(),
        saved.epoch,
        saved.step
    );
    Ok(())
}

fn every(n: usize, epoch: usize) -> bool {
    n > 0 && epoch.is_multiple_of(n)
}

fn every64(n: u64, step: u64) -> bool {
    n > 0 && step.is_multiple_of(n)
}

/// One pass over the shuffled training set (or the rest of one a checkpoint stopped
/// inside); returns the mean report and samples/s, or that a signal stopped it (after
/// a checkpoint).
fn train_epoch(
    session: &Session,
    model: &mut dyn Model,
    pos: &mut Position,
    epoch: usize,
    saver: &mut Saver,
    sums: &mut Summaries,
) -> Result<EpochEnd> {
    let train: &Split = &session.data.train;
    let bs = session.cfg.train.batch_size;
    let mut order: Vec<usize> = (0..train.n).collect();
    let (order_rng, done, mut mean) = match pos.partial.take() {
        // Redo the interrupted epoch's shuffle from its saved generator; the data
        // generator itself continues where it stopped.
        Some(p) => {
            p.order_rng.clone().shuffle(&mut order);
            (p.order_rng, p.batches_done, p.mean)
        }
        None => {
            let before = pos.data_rng.clone();
            pos.data_rng.shuffle(&mut order);
            (before, 0, ReportMean::default())
        }
    };
    let batches = order.len().div_ceil(bs);
    let progress = EpochProgress::new(epoch, session.cfg.train.epochs, batches as u64);
    let t0 = Instant::now();
    let mut seen = 0usize;
    let mut skipped_in_a_row = 0;
    for (i, idx) in order.chunks(bs).enumerate().skip(done) {
        let rows = session.data.train_batch(idx, &mut pos.data_rng);
        let batch = Batch {
            train_rows: Some(idx.to_vec()),
            ..session.batch(rows, train)?
        };
        let before = match session.cfg.train.on_nonfinite {
            OnNonFinite::SkipBatch => Some(deep_copy(model.state()?)?),
            OnNonFinite::Stop => None,
        };
        let report = model.train_step(&batch, &mut pos.noise_rng)?;
        pos.step += 1;
        if let Some(what) = non_finite(model, &report)? {
            let last = saver
                .ckpt
                .current()
                .map_or("none was written yet".to_string(), |s| {
                    format!("the last good checkpoint, step {s}, is kept")
                });
            match before {
                Some(state) if skipped_in_a_row + 1 < MAX_SKIPPED_IN_A_ROW => {
                    model.load_state(&state)?;
                    skipped_in_a_row += 1;
                    eprintln!("warning: step {} (epoch {epoch}): {what}; batch skipped (train.on_nonfinite: skip_batch)", pos.step);
                    sums.scalar("train/skipped_batches", 1.0, pos.step)?;
                    continue;
                }
                _ => {
                    progress.finish();
                    let _ = sums.flush();
                    let why = if before.is_some() {
                        format!("{MAX_SKIPPED_IN_A_ROW} batches in a row were non-finite; ")
                    } else {
                        String::new()
                    };
                    bail!(
                        "training diverged at step {} (epoch {epoch}): {what}. {why}Checkpoint: {last} in {}; \
                         try a smaller train.optimizer.lr, or train.on_nonfinite: skip_batch to step over rare bad batches",
                        pos.step,
                        saver.dir.display()
                    );
                }
            }
        }
        skipped_in_a_row = 0;
        if let Some(avg) = &mut saver.average {
            avg.update(model.params(), pos.step)?;
        }
        if every64(session.cfg.log.loss_every, pos.step) {
            sums.scalar("train/step_loss", report.loss, pos.step)?;
        }
        mean.add(&report, idx.len())?;
        seen += idx.len();
        progress.update(
            report.loss,
            seen as f64 / t0.elapsed().as_secs_f64().max(1e-9),
        );
        if i + 1 < batches && saver.due(&session.cfg.checkpoint, pos.step) {
            pos.partial = Some(PartialEpoch {
                order_rng: order_rng.clone(),
                batches_done: i + 1,
                mean: mean.clone(),
            });
            saver.save(model, pos, sums)?;
            pos.partial = None;
            if saver.interrupt.received().is_some() {
                progress.finish();
                return Ok(EpochEnd::Interrupted);
            }
        }
    }
    progress.finish();
    let rate = seen as f64 / t0.elapsed().as_secs_f64().max(1e-9);
    Ok(EpochEnd::Done(
        mean.mean().context("empty training set")?,
        rate,
    ))
}

/// Epochs `pos.epoch + 1 ..= train.epochs`, each trained, evaluated, logged and
/// checkpointed; a signal stops them after a checkpoint.
fn epochs(
    session: &Session,
    model: &mut dyn Model,
    pos: &mut Position,
    saver: &mut Saver,
    sums: &mut Summaries,
    started: Instant,
) -> Result<()> {
    let epochs = session.cfg.train.epochs;
    for epoch in pos.epoch + 1..=epochs {
        model.set_lr_scale(session.cfg.train.lr_schedule.scale(epoch, epochs));
        model.set_epoch(epoch);
        let (train_report, samples_per_s) =
            match train_epoch(session, model, pos, epoch, saver, sums)? {
                EpochEnd::Done(r, rate) => (r, rate),
                EpochEnd::Interrupted => return Err(saver.interrupted(pos, sums)),
            };
        let test_report = session.evaluate(model)?;
        pos.epoch = epoch;
        let step = pos.step;
        sums.report("train", &train_report, step)?;
        sums.report("test", &test_report, step)?;
        let samples = session.mode_samples(model)?;
        let modes = samples.as_deref().and_then(|s| session.mode_scores(s));
        if let Some(m) = &modes {
            for (tag, v) in m.rows() {
                sums.scalar(&tag, v, step)?;
            }
        }
        sums.scalar("speed/samples_per_s", samples_per_s, step)?;
        sums.scalar("epoch", epoch as f64, step)?;
        if every(session.cfg.log.pictures_every, epoch) {
            pictures(session, model, samples.as_deref(), epoch, step, sums)?;
        }
        if every(session.cfg.log.histograms_every, epoch) {
            sums.histograms(model.params(), &model.histograms()?, step)?;
        }
        saver.save(model, pos, sums)?;
        let mode_line = modes
            .map(|m| {
                format!(
                    "  modes {}/{}, {:.1}% high quality, KL {:.3}",
                    m.captured,
                    m.modes,
                    100.0 * m.high_quality,
                    m.kl_to_uniform
                )
            })
            .unwrap_or_default();
        println!(
            "epoch {epoch}/{epochs}  train loss {:.4}  test loss {:.4}  [{}]{mode_line}  {:.0} samples/s  {:.1}s",
            train_report.loss,
            test_report.loss,
            crate::run::progress::terms_line(&test_report),
            samples_per_s,
            started.elapsed().as_secs_f64()
        );
        if saver.interrupt.received().is_some() && epoch < epochs {
            return Err(saver.interrupted(pos, sums));
        }
    }
    Ok(())
}

/// The epoch's pictures: the family's own, the standard ones it did not replace, and
/// for 2-D data the samples over the modes.
fn pictures(
    session: &Session,
    model: &dyn Model,
    samples: Option<&[f64]>,
    epoch: usize,
    step: u64,
    sums: &mut Summaries,
) -> Result<()> {
    let n = PICTURE_EXAMPLES.min(session.data.test.n);
    let batch = session.test_batch(&(0..n).collect::<Vec<_>>())?;
    let mut rng = Rng::new(PICTURE_SEED);
    // The family's own pictures first (one may replace a standard one by name).
    let own = model.pictures(&batch, &mut rng)?;
    let skip: Vec<&str> = own.iter().map(|(name, _)| name.as_str()).collect();
    let mut pics = gen_core::gallery::standard(model, &session.data.info, &batch, &skip, &mut rng)?;
    pics.extend(own);
    pics.extend(samples.and_then(|s| session.scatter(s)));
    sums.pictures(&pics, epoch, step)?;
    let texts = gen_core::gallery::texts(model, &session.data.info, &batch, &mut rng)?;
    sums.texts(&texts, epoch, step)
}

/// `1 epoch`, `10 epochs`.
pub fn plural(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        _ => format!("{n} {noun}s"),
    }
}
