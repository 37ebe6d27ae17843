//! One line per default of a config section's keys, instead of a three-line function
//! for each that serde's `default = "..."` could name.

/// Named defaults for a config section's keys, one line each, for
/// `#[serde(default = "defaults::name")]`:
/// `gen_base::defaults! { latent: usize = 20; hidden: Vec<usize> = vec![400]; }` declares
/// `mod defaults` with `pub fn latent() -> usize { 20 }` and so on.
#[macro_export]
macro_rules! defaults {
    ($($(#[$doc:meta])* $name:ident: $ty:ty = $value:expr;)*) => {
        /// This section's defaults, by key.
        mod defaults {
            #[allow(unused_imports)]
            use super::*;
            $($(#[$doc])* pub fn $name() -> $ty {
                $value
            })*
        }
    };
}
