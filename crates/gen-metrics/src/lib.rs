//! Evaluation metrics that need no model: sample quality in a classifier's feature space
//! (Fréchet distance, inception score, class coverage, precision/recall;
//! [`sample_quality`]), kernel MMD ([`mmd`]), nearest neighbours ([`knn`]), mode coverage
//! on toy mixtures ([`modes`]) and calibration of predictive distributions
//! ([`calibration`]), with the small symmetric eigen-solver they share ([`linalg`]).

#![forbid(unsafe_code)]

pub mod calibration;
pub mod knn;
pub mod linalg;
pub mod mmd;
pub mod modes;
pub mod sample_quality;
pub mod text;
