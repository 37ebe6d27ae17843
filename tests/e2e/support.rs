//! Helpers for tests that run the real `gen` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `gen` with a quiet, deterministic environment, run from the repository root.
pub fn gen(args: &[&str]) -> Output {
    gen_in(&repo(), args)
}

pub fn gen_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gen"))
        .args(args)
        .current_dir(dir)
        .env("RAYON_NUM_THREADS", "1")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("the gen binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success, showing the output if not.
pub fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "gen failed ({}):\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

/// An IDX file (unsigned bytes): the magic with the number of dimensions, each dimension
/// big-endian, then `data`.
pub fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

/// The event file of a run directory.
pub fn event_file(run: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(run)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("events.out.tfevents")
        })
        .collect();
    files.sort();
    files.pop().expect("an event file in the run directory")
}

/// Every scalar of a run directory's event files, as (step, tag, value).
pub fn scalars(run: &Path) -> Vec<(i64, String, f32)> {
    let mut out = vec![];
    for e in std::fs::read_dir(run).unwrap().filter_map(|e| e.ok()) {
        if e.file_name()
            .to_string_lossy()
            .starts_with("events.out.tfevents")
        {
            out.extend(gen_tensorboard::read_scalars(&e.path()).unwrap());
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    out
}

pub fn last(scalars: &[(i64, String, f32)], tag: &str) -> Option<(i64, f32)> {
    scalars
        .iter()
        .rev()
        .find(|(_, t, _)| t == tag)
        .map(|(s, _, v)| (*s, *v))
}

/// A Python interpreter with the `tensorboard` package: $GEN_TB_PYTHON, the repository's
/// .venv (the README's set-up), or python3.
pub fn tensorboard_python() -> PathBuf {
    python_with(&["tensorboard"])
}

/// A Python interpreter that imports every one of `modules`: $GEN_TB_PYTHON, the
/// repository's .venv (the README's set-up), or python3.
pub fn python_with(modules: &[&str]) -> PathBuf {
    let candidates: Vec<PathBuf> = std::env::var_os("GEN_TB_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([repo().join(".venv/bin/python"), PathBuf::from("python3")])
        .collect();
    let import = format!("import {}", modules.join(", "));
    for c in &candidates {
        let ok = Command::new(c)
            .args(["-c", &import])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return c.clone();
        }
    }
    panic!(
        "no Python with the packages {modules:?} (tried {candidates:?}); install them with \
         `python3 -m venv .venv && .venv/bin/pip install tensorboard safetensors` (the README's set-up) or set GEN_TB_PYTHON"
    );
}

/// Everything TensorBoard's own reader finds in a run directory (tests/tb_read.py): scalars,
/// images, histograms and text tags, as JSON.
pub fn tensorboard_view(run: &Path) -> serde_json::Value {
    let out = Command::new(tensorboard_python())
        .arg(repo().join("tests/tb_read.py"))
        .arg(run)
        .output()
        .expect("the tensorboard reader runs");
    assert!(
        out.status.success(),
        "tensorboard reader failed: {}",
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).expect("the reader prints JSON")
}
