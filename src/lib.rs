//! The parts of `gen` that other programs use too: the run config loader and the model
//! registry (the fuzz targets under fuzz/ drive the loader exactly as `gen train` does).
//! Everything else lives in the binary (src/main.rs).

#![forbid(unsafe_code)]

pub mod registry;
pub mod run_config;
