//! Benchmark: `verify` over many archives of a management cluster, against doing the chain
//! checks with one `openssl verify` process per chain (the manual alternative).
//!
//! Run: `cargo bench --bench verify` (env `BENCH_ARCHIVES`, default 1000). Prints archives per
//! second for trustkeep (decrypt + integrity + every check) and for openssl (chain
//! verification only, on already-decrypted PEM files), measured in the same run. Figures go in
//! the README; nothing here asserts a time.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use trustkeep::archive::{self, crypto, Identities};
use trustkeep::checks::CheckOptions;
use trustkeep::commands::verify;
use trustkeep::gloo::Role;
use trustkeep::pki::{self, Cert};
use trustkeep::select::{self, SelectOptions};
use trustkeep::snapshot::Snapshot;
use trustkeep::source;
use trustkeep::store::Location;
use trustkeep::world::World;

fn main() {
    let n: usize = std::env::var("BENCH_ARCHIVES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let at = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let dir = tempfile::tempdir().unwrap();

    // Setup (not timed): n archives of the sample management cluster.
    let inv = source::read_file(
        root.join("fixtures/sample/mgmt.yaml").to_str().unwrap(),
        "gloo-mesh",
    )
    .unwrap();
    let recipient =
        std::fs::read_to_string(root.join("fixtures/identities/test-only-age-recipient.txt"))
            .unwrap();
    let enc = archive::Encryption::Recipients(vec![crypto::parse_recipient(&recipient).unwrap()]);
    for i in 0..n {
        let sel = select::select(&inv, &SelectOptions::default());
        let snap = Snapshot::new(&inv, sel, "mgmt", at);
        let (_, cipher) = archive::write(&snap, &enc, false).unwrap();
        let path = dir.path().join(format!("mgmt-{i:05}.tar.gz.age"));
        std::fs::write(&path, &cipher).unwrap();
        std::fs::write(
            trustkeep::archive::sidecar_path(&path),
            archive::sidecar_line(&cipher, "x"),
        )
        .unwrap();
    }
    // Sidecars name the file; rewrite them properly.
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "age") {
            let bytes = std::fs::read(&p).unwrap();
            std::fs::write(
                trustkeep::archive::sidecar_path(&p),
                archive::sidecar_line(&bytes, &p.file_name().unwrap().to_string_lossy()),
            )
            .unwrap();
        }
    }
    let mut ids = Identities::default();
    crypto::load_identity(
        &root.join("fixtures/identities/test-only-age-identity.txt"),
        &mut ids,
    )
    .unwrap();

    // trustkeep: one process, every archive: sidecar, decrypt, manifest, entries, all checks.
    let opts = verify::Options {
        archives: vec![Location::Local(dir.path().to_path_buf())],
        identities: ids,
        trust: Default::default(),
        together: false,
        profile: None,
        check: CheckOptions::at(at),
        strict: false,
        report: None,
    };
    let t = Instant::now();
    let world = World::new(at);
    let report = futures::executor::block_on(verify::run(&opts, &world)).unwrap();
    let tk = t.elapsed();
    assert!(
        report.ok && report.archives.len() == n,
        "verify failed: {} errors",
        report.errors
    );
    let certs: usize = report
        .archives
        .iter()
        .filter_map(|a| a.report.as_ref())
        .map(|r| r.certificates.len())
        .sum();

    // openssl: one process per chain of the same set (server, signing CA, relay root, Istio root).
    let sel = select::select(&inv, &SelectOptions::default());
    let pems = dir.path().join("pem");
    std::fs::create_dir(&pems).unwrap();
    let write = |name: &str, certs: &[Cert]| -> String {
        let p = pems.join(name);
        std::fs::write(&p, certs.iter().map(Cert::to_pem).collect::<String>()).unwrap();
        p.to_string_lossy().into_owned()
    };
    let certs_of = |role: Role, key: &str| -> Vec<Cert> {
        let s = sel.secrets.iter().find(|s| s.role == role).unwrap();
        pki::parse_certs(s.record.get(key).unwrap().expose()).unwrap()
    };
    let root_ca = write("relay-root.pem", &certs_of(Role::RelayRoot, "ca.crt"));
    let chains = [
        (
            write("server.pem", &certs_of(Role::RelayServer, "tls.crt")),
            root_ca.clone(),
        ),
        (
            write("signing.pem", &certs_of(Role::RelaySigning, "tls.crt")),
            root_ca.clone(),
        ),
        (root_ca.clone(), root_ca.clone()),
        (
            write(
                "istio-root.pem",
                &certs_of(Role::RootTrust, "root-cert.pem"),
            ),
            pems.join("istio-root.pem").to_string_lossy().into_owned(),
        ),
    ];
    let epoch = at.timestamp().to_string();
    let t = Instant::now();
    for _ in 0..n {
        for (leaf, ca) in &chains {
            let ok = Command::new("openssl")
                .args(["verify", "-attime", &epoch, "-CAfile", ca, leaf])
                .output()
                .expect("openssl")
                .status
                .success();
            assert!(ok);
        }
    }
    let os = t.elapsed();

    let rate = |d: std::time::Duration| n as f64 / d.as_secs_f64();
    println!(
        "archives: {n} (management set: 5 secrets, {} certificates each)",
        certs / n.max(1)
    );
    println!(
        "trustkeep verify (decrypt + integrity + all checks), 1 process: {:.2} s, {:.0} archives/s",
        tk.as_secs_f64(),
        rate(tk)
    );
    println!("openssl verify, 1 process per chain ({} chains/archive, chains only): {:.2} s, {:.0} archives/s", chains.len(), os.as_secs_f64(), rate(os));
    println!("speed-up: {:.1}x", os.as_secs_f64() / tk.as_secs_f64());
}
