//! The IDX reader (MNIST's format), on raw and on gzipped bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gen_data::idx::parse(data);
    // The file reader also unpacks gzip: write the bytes as a .gz file and read it back.
    if data.starts_with(&[0x1f, 0x8b]) {
        let dir = std::env::temp_dir().join(format!("gen-fuzz-idx-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("x-idx3-ubyte.gz");
        if std::fs::write(&path, data).is_ok() {
            let _ = gen_data::idx::read(&path);
        }
    }
});
