//! The age layer with the test-only identity: headers, stanzas, the work factor, the payload.
#![no_main]

use trustkeep::archive::{crypto, Identities};

thread_local! {
    // libFuzzer runs the target on one thread; age identities are not Sync.
    static IDS: Identities = identities();
}

fn identities() -> Identities {
    {
        use std::os::unix::fs::PermissionsExt;
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/identities/test-only-age-identity.txt"
        );
        // trustkeep refuses identity files others can read: a private copy, mode 0600.
        let copy = std::env::temp_dir().join(format!("trustkeep-fuzz-id-{}", std::process::id()));
        std::fs::copy(fixture, &copy).expect("test identity");
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut ids = Identities::default();
        crypto::load_identity(&copy, &mut ids).expect("test identity");
        let _ = std::fs::remove_file(&copy);
        ids
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    IDS.with(|ids| {
        if let Err(e) = trustkeep::archive::open(data, ids, &|| None, "fuzz.age") {
            assert!(e.to_string().starts_with("fuzz.age"));
        }
    });
});
