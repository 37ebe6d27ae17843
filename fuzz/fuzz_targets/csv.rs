//! The .csv reader.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(a) = gen_data::csv::parse(text) {
        assert_eq!(a.data.len(), a.rows * a.cols, "shape and values disagree");
    }
});
