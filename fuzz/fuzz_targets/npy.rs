//! The .npy reader.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = gen_data::npy::parse(data) {
        assert_eq!(a.data.len(), a.rows * a.cols, "shape and values disagree");
    }
});
