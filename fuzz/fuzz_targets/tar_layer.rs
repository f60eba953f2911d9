//! The tar, manifest and YAML layers directly: the input is a tar stream, gzipped here so
//! libFuzzer's mutations are not spent on the gzip checksum.
#![no_main]

use std::io::Write;

libfuzzer_sys::fuzz_target!(|tar: &[u8]| {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = gz.write_all(tar);
    let Ok(gz) = gz.finish() else { return };
    if let Err(e) = trustkeep::archive::open_plaintext(&gz, "fuzz") {
        assert!(e.to_string().starts_with("fuzz"));
    }
});
