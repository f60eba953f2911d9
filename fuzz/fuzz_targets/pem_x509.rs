//! PEM blocks, DER certificates and their parsed views (names, extensions, keys).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(certs) = trustkeep::pki::parse_certs(data) {
        for c in &certs {
            let _ = c.parse();
        }
    }
});
