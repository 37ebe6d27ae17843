//! The fast path under `gen`'s layers, and the only crate of the workspace with `unsafe`.
//!
//! Fused CPU kernels with their own backward passes ([`fused`], as candle custom ops),
//! the vectorized math they share ([`fastmath`], [`fastmath_avx2`]), a two-way
//! fork-join with a spinning helper thread ([`spin`]), the process's CPU settings
//! ([`runtime`]) and a count of the products' operations ([`flops`]). Each kernel is tested
//! against the unfused candle composition it replaces; `gen-core` chooses between the two.
//! The machine's other unsafe corners live here too, behind safe functions: the counting
//! allocator ([`alloc`]), a dense f64 product for EM ([`dense`]) and two system calls
//! ([`sys`]). Every other crate of the workspace forbids `unsafe`.

pub mod activation;
pub mod alloc;
pub mod dense;
pub mod fastmath;
pub mod fastmath_avx2;
pub mod flops;
pub mod fused;
pub mod normal;
pub mod runtime;
pub mod spin;
pub mod sys;
#[cfg(test)]
mod testing;
mod tile;

pub use activation::{sigmoid, Activation};
