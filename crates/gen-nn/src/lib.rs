//! Layers and the optimizer: the parameter store and its initializers ([`vars`],
//! [`params`]) and its moving average ([`average`]), dense layers and MLPs ([`nn`]), batch
//! norm ([`norm`]), Adam/AdamW ([`optim`]), a finite-difference gradient checker
//! ([`gradcheck`]), device selection ([`device`]) and the memory budget parameters are
//! charged to ([`memory`]). No `unsafe`: the fused CPU kernels under the layers live in
//! `gen-kernels`.

#![forbid(unsafe_code)]

pub mod average;
pub mod device;
pub mod gradcheck;
pub mod memory;
pub mod nn;
pub mod norm;
pub mod optim;
pub mod params;
pub mod vars;
