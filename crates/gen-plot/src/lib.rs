//! Pictures, drawn without a plotting library: image grids ([`picture`]) and 2-D plots,
//! scatters, curves and reliability diagrams ([`plot`]), written as PNG by the binary.

#![forbid(unsafe_code)]

pub mod picture;
pub mod plot;
