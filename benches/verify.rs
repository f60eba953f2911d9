//! Benchmark: `verify` over many archives of a management cluster, side by side in one run
//! with the manual ways of checking them.
//!
//! Run: `cargo bench --bench verify` (env `BENCH_ARCHIVES`, default 200; `BENCH_KEEP=1` only
//! writes the archives and keeps them, for a profiler). Measures, over the
//! same archives:
//! - `trustkeep verify DIR/` as a user runs it: one process for every archive (sidecar,
//!   decrypt, manifest and every entry, all checks), with its CPU time, which shows whether
//!   it used every core (user + sys above wall);
//! - the same through the library in this process (no process start);
//! - the manual pipeline the archive format documents, for every archive: `sha256sum -c` of the
//!   sidecar, `age -d | tar xzf -` into a folder, then one `openssl verify` per chain (relay
//!   server, relay signing CA, relay root, Istio root), as one bash loop;
//! - `openssl verify` alone, one process per chain on already-decrypted files.
//!
//! A part whose programs are missing (bash, age, tar, sha256sum, openssl, /usr/bin/time) is
//! skipped with the reason printed. Figures go in the README; nothing here asserts a time.
//! The manual pipeline writes decrypted keys into this run's temporary directory, as the
//! manual way does; it is removed at the end.

#[path = "common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use trustkeep::archive::{self, crypto, Identities};
use trustkeep::checks::CheckOptions;
use trustkeep::commands::verify;
use trustkeep::gloo::Role;
use trustkeep::inventory::Inventory;
use trustkeep::pki::{self, Cert};
use trustkeep::select::{self, SelectOptions};
use trustkeep::snapshot::Snapshot;
use trustkeep::source;
use trustkeep::store::Location;
use trustkeep::world::World;

/// The time the sample is checked at (its certificates are valid then).
const AT: &str = "2026-12-01T00:00:00Z";
/// The chains the manual ways check, as (certificate, CA file) paths inside an archive.
const CHAINS: [(&str, &str); 4] = [
    (
        "relay-server-tls-secret/tls.crt",
        "relay-root-tls-secret/ca.crt",
    ),
    (
        "relay-tls-signing-secret/tls.crt",
        "relay-root-tls-secret/ca.crt",
    ),
    (
        "relay-root-tls-secret/ca.crt",
        "relay-root-tls-secret/ca.crt",
    ),
    (
        "root-trust-policy.gloo-mesh/root-cert.pem",
        "root-trust-policy.gloo-mesh/root-cert.pem",
    ),
];

fn main() {
    let n: usize = std::env::var("BENCH_ARCHIVES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let clusters: usize = std::env::var("BENCH_CLUSTERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        .clamp(1, n.max(1));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let at = chrono::DateTime::parse_from_rfc3339(AT)
        .unwrap()
        .with_timezone(&chrono::Utc);
    let dir = tempfile::tempdir().unwrap();
    let inv = source::read_file(
        root.join("fixtures/sample/mgmt.yaml").to_str().unwrap(),
        "gloo-mesh",
    )
    .unwrap();
    // One cluster's store: n backups of the same secrets (the same keys and certificates,
    // as between two rotations).
    let one = dir.path().join("one-cluster");
    std::fs::create_dir(&one).unwrap();
    write_archives(&[("mgmt".into(), inv.clone())], &one, n, at);
    // A fleet's store: n backups spread over `clusters` management clusters, each with keys
    // and certificates of its own (only what is the same within a cluster can be shared).
    let fleet = dir.path().join("fleet");
    std::fs::create_dir(&fleet).unwrap();
    let setups: Vec<(String, Inventory)> = (0..clusters)
        .map(|j| (format!("mgmt-{j:02}"), generated(dir.path(), j, at)))
        .collect();
    write_archives(&setups, &fleet, n, at);
    let identity = root.join("fixtures/identities/test-only-age-identity.txt");
    if std::env::var_os("BENCH_KEEP").is_some() {
        // For profiling (`perf record trustkeep verify DIR/ -i ... --at ...`).
        println!("archives kept in {} and {}", one.display(), fleet.display());
        let _ = dir.keep();
        return;
    }

    let lib = library(&one, &identity, n, at);
    println!(
        "archives: {n} (management set: 5 secrets, {lib} certificates each), with {}",
        common::trustkeep_bin().display()
    );
    let openssl = openssl_alone(&inv, &dir.path().join("pem"), n, at);
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    for (store, archives) in [
        ("1 cluster".to_string(), &one),
        (format!("{clusters} clusters"), &fleet),
    ] {
        let cli = cli(archives, &identity, n);
        let out = dir
            .path()
            .join(format!("manual-{}", store.replace(' ', "-")));
        let manual = manual(archives, &identity, &out, at);
        if let Some(c) = &cli {
            println!(
                "[{store}] trustkeep verify DIR/, 1 process: {:.2} s, {:.0} archives/s{}",
                c.wall.as_secs_f64(),
                rate(c.wall),
                c.cpu
                    .map(|(u, s)| format!(
                        " (user {u:.2} s + sys {s:.2} s = {:.2} cores busy)",
                        (u + s) / c.wall.as_secs_f64()
                    ))
                    .unwrap_or_default()
            );
        }
        let tk = cli.as_ref().map(|c| c.wall);
        for (what, took) in [
            ("manual pipeline (sha256sum -c, age -d | tar xz, openssl verify per chain), 1 bash loop", manual),
            ("openssl verify alone, 1 process per chain (chains only)", openssl),
        ] {
            let Some(took) = took else { continue };
            let vs = tk
                .map(|t| format!("; trustkeep verify is {:.1}x faster", took.as_secs_f64() / t.as_secs_f64()))
                .unwrap_or_default();
            println!("[{store}] {what}: {:.2} s, {:.1} archives/s{vs}", took.as_secs_f64(), rate(took));
        }
    }
}

/// A management cluster of its own (keys and certificates made now, valid at `at`), read the
/// way the sample file is.
fn generated(dir: &Path, j: usize, at: chrono::DateTime<chrono::Utc>) -> Inventory {
    let setup = trustkeep::sample::generate(at - chrono::Duration::days(30 + j as i64), 0);
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": setup.mgmt});
    let path = dir.join(format!("cluster-{j}.json"));
    std::fs::write(&path, list.to_string()).unwrap();
    let inv = source::read_file(path.to_str().unwrap(), "gloo-mesh").unwrap();
    std::fs::remove_file(&path).unwrap();
    inv
}

/// `n` archives, one per cluster of `setups` in turn, and their sidecars (setup, not
/// timed); each a different hour before `at`.
fn write_archives(
    setups: &[(String, Inventory)],
    dir: &Path,
    n: usize,
    at: chrono::DateTime<chrono::Utc>,
) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let recipient =
        std::fs::read_to_string(root.join("fixtures/identities/test-only-age-recipient.txt"))
            .unwrap();
    let enc = archive::Encryption::Recipients(vec![crypto::parse_recipient(&recipient).unwrap()]);
    for i in 0..n {
        let (cluster, inv) = &setups[i % setups.len()];
        let sel = select::select(inv, &SelectOptions::default());
        let created = at - chrono::Duration::hours(i as i64);
        let snap = Snapshot::new(inv, sel, cluster, created);
        let (_, cipher) = archive::write(&snap, &enc, false).unwrap();
        let name = format!("{cluster}-{i:05}.tar.gz.age");
        let path = dir.join(&name);
        std::fs::write(&path, &cipher).unwrap();
        std::fs::write(
            archive::sidecar_path(&path),
            archive::sidecar_line(&cipher, &name),
        )
        .unwrap();
    }
}

/// Whether `program` runs (`program --version` or `-h` exits at all); prints why not.
fn have(program: &str, part: &str) -> bool {
    let found = Command::new(program).arg("--version").output().is_ok();
    if !found {
        eprintln!("SKIPPED {part}: `{program}` is not installed (Debian: see .ci/run)");
    }
    found
}

struct Cli {
    wall: Duration,
    /// User and system CPU seconds, from /usr/bin/time.
    cpu: Option<(f64, f64)>,
}

/// `trustkeep verify DIR/ -i IDENTITY --at AT`, the binary this checkout builds.
fn cli(archives: &Path, identity: &Path, n: usize) -> Option<Cli> {
    let timed = Path::new("/usr/bin/time").exists();
    if !timed {
        eprintln!("no /usr/bin/time (Debian package time): trustkeep's CPU time is not shown");
    }
    let bin = common::trustkeep_bin();
    let mut cmd = if timed {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "cpu %U %S"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.arg("verify")
        .arg(format!("{}/", archives.display()))
        .arg("-i")
        .arg(identity)
        .args(["--at", AT]);
    let t = Instant::now();
    let out = cmd.output().expect("run trustkeep verify");
    let wall = t.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "trustkeep verify failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.matches("mgmt-").count() >= n,
        "every archive reported: {stdout}"
    );
    let cpu = stderr.lines().find_map(|l| {
        let mut f = l.strip_prefix("cpu ")?.split(' ');
        Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
    });
    Some(Cli { wall, cpu })
}

/// The library's `verify::run` in this process; returns the certificates per archive.
fn library(archives: &Path, identity: &Path, n: usize, at: chrono::DateTime<chrono::Utc>) -> usize {
    let mut ids = Identities::default();
    crypto::load_identity(identity, &mut ids).unwrap();
    let opts = verify::Options {
        archives: vec![Location::Local(archives.to_path_buf())],
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
    let took = t.elapsed();
    assert!(
        report.ok && report.archives.len() == n,
        "verify failed: {} errors",
        report.errors
    );
    println!(
        "trustkeep verify::run in this process (no process start): {:.2} s, {:.0} archives/s",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    let certs: usize = report
        .archives
        .iter()
        .filter_map(|a| a.report.as_ref())
        .map(|r| r.certificates.len())
        .sum();
    certs / n.max(1)
}

/// The manual pipeline over every archive, as one bash loop a person would write.
fn manual(
    archives: &Path,
    identity: &Path,
    out: &Path,
    at: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    let part = "the manual pipeline";
    let all = ["bash", "age", "tar", "sha256sum", "openssl"];
    if !all.iter().all(|p| have(p, part)) {
        return None;
    }
    std::fs::create_dir(out).unwrap();
    let verify: String = CHAINS
        .iter()
        .map(|(cert, ca)| {
            format!(
                "  openssl verify -attime \"$at\" -CAfile \"$s/{ca}\" \"$s/{cert}\" >/dev/null\n"
            )
        })
        .collect();
    let script = format!(
        "set -euo pipefail
cd \"$1\"
for a in *.tar.gz.age; do
  sha256sum --quiet -c \"$a.sha256\"
  d=\"$3/${{a%.tar.gz.age}}\"
  mkdir -p \"$d\"
  age -d -i \"$2\" \"$a\" | tar xzf - -C \"$d\"
  s=\"$d/secrets/gloo-mesh\"
{verify}done
"
    );
    let t = Instant::now();
    let status = Command::new("bash")
        .args(["-c", &script, "manual"])
        .arg(archives)
        .arg(identity)
        .arg(out)
        .env("at", at.timestamp().to_string())
        .status()
        .expect("bash");
    let took = t.elapsed();
    assert!(status.success(), "the manual pipeline failed");
    Some(took)
}

/// `openssl verify` alone, one process per chain, on already-decrypted PEM files.
fn openssl_alone(
    inv: &Inventory,
    pems: &Path,
    n: usize,
    at: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    if !have("openssl", "openssl alone") {
        return None;
    }
    let sel = select::select(inv, &SelectOptions::default());
    std::fs::create_dir(pems).unwrap();
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
    let istio = write(
        "istio-root.pem",
        &certs_of(Role::RootTrust, "root-cert.pem"),
    );
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
        (istio.clone(), istio),
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
    Some(t.elapsed())
}
