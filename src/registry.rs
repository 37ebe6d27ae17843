//! Every model family the binary knows: one line each.

use gen_core::ModelEntry;

/// The network that scores samples (`gen eval`'s sample quality, `gen score`): a trained
/// BNN-family classifier read from its checkpoint.
pub use gen_bnn::{BnnConfig as FeatureNetConfig, FeatureNet};

pub const MODELS: &[&ModelEntry] = &[
    &gen_vae::ENTRY,
    &gen_em::ENTRY,
    &gen_gan::ENTRY,
    &gen_aae::ENTRY,
    &gen_ali::ENTRY,
    &gen_bnn::ENTRY,
    &gen_text::ENTRY,
];

pub fn find(name: &str) -> Option<&'static ModelEntry> {
    MODELS.iter().copied().find(|m| m.name == name)
}

pub fn names() -> Vec<&'static str> {
    MODELS.iter().map(|m| m.name).collect()
}
