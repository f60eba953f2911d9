//! gzip → tar → manifest → secret.yaml: any input is refused with an error naming the
//! archive, or accepted; never a panic, never an unbounded allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = trustkeep::archive::open_plaintext(data, "fuzz") {
        let m = e.to_string();
        assert!(m.starts_with("fuzz") && m.len() < 4096, "{m}");
    }
});
