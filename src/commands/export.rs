//! `gen export RUN_DIR -o FILE.safetensors`: a run's trained parameters alone (no
//! optimizer moments), with the checkpoint's metadata, so the file is a third of the
//! checkpoint's size and loads wherever a checkpoint's parameters do (`gen eval
//! --classifier`, the safetensors package in Python).

use crate::cli::ExportArgs;
use crate::run::checkpoint;
use anyhow::{bail, Context, Result};
use gen_core::model::{BUFFERS_PREFIX, PARAMS_PREFIX};

pub fn run(args: ExportArgs) -> Result<()> {
    if args.output.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        bail!(
            "-o {}: the output must end in .safetensors",
            args.output.display()
        );
    }
    let loaded = checkpoint::load(&args.run_dir)?;
    let mut state: Vec<_> = loaded
        .tensors
        .into_iter()
        .filter(|(k, _)| k.starts_with(PARAMS_PREFIX) || k.starts_with(BUFFERS_PREFIX))
        .collect();
    state.sort_by(|a, b| a.0.cmp(&b.0));
    let count: usize = state.iter().map(|(_, t)| t.elem_count()).sum();
    let pos = checkpoint::Position {
        partial: None,
        ..loaded.pos
    };
    let bytes = checkpoint::encode(state, &pos, &loaded.config)?;
    std::fs::write(&args.output, &bytes)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "wrote {count} parameters ({} family, epoch {}) to {} ({} KB)",
        pos.family,
        pos.epoch,
        args.output.display(),
        bytes.len() / 1024
    );
    Ok(())
}
