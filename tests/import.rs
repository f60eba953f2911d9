//! `import` of the folders the seed document's manual procedure leaves behind: the archive is
//! written, and the known ca.crt/tls.key mismatch is named for each secret.

use crate::util::{self, fixture, tk, Work};

#[test]
fn seed_manual_folders_are_archived_and_mismatches_named() {
    let w = Work::new();
    let out = w.path("import.age");
    let r = tk(&[
        "import",
        fixture("seed-manual").to_str().unwrap(),
        "-r",
        &util::recipient(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "mismatches are problems: {r:?}");
    assert!(out.exists(), "the archive is still written");
    let mismatch: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.contains("[import.key-mismatch]"))
        .collect();
    assert_eq!(mismatch.len(), 2, "{}", r.stdout);
    assert!(mismatch[0].contains("gloo-mesh/relay-server-tls-secret[tls.key]") && mismatch[0].contains("ca.crt (O=Gloo Mesh (trustkeep test fixtures), CN=relay-root-ca, a CA certificate)"), "{}", mismatch[0]);
    assert!(
        mismatch[0].contains("kubectl create secret tls --cert=ca.crt --key=tls.key` fails"),
        "{}",
        mismatch[0]
    );
    assert!(
        mismatch[1].contains("gloo-mesh/relay-tls-signing-secret[tls.key]"),
        "{}",
        mismatch[1]
    );
    // The root-trust folder's key matches its certificate, and gets its real key names back.
    assert!(
        !r.stdout.contains("root-trust.root-trust-policy[tls.key]"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("[import.renamed]"), "{}", r.stdout);
    let r = w.with_id("inspect", &out, &["--output", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let secrets = v["manifest"]["secrets"].as_array().unwrap();
    let root = secrets
        .iter()
        .find(|s| s["name"] == "root-trust.root-trust-policy")
        .unwrap();
    let keys: Vec<&str> = root["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["key.pem", "root-cert.pem"]);
    assert_eq!(root["role"], "root-trust");
    assert_eq!(v["manifest"]["source"]["kind"], "manual_folders");
}

#[test]
fn a_single_folder_with_matching_files_is_clean() {
    let w = Work::new();
    let dir = w.path("relay-server-tls-secret");
    std::fs::create_dir(&dir).unwrap();
    // Take the real tls.crt/tls.key pair from an export of the sample.
    let a = w.backup_sample("a.age");
    let ex = w.path("ex");
    assert_eq!(
        w.with_id("export", &a, &["--dir", ex.to_str().unwrap()])
            .code,
        0
    );
    for k in ["tls.crt", "tls.key", "ca.crt"] {
        std::fs::copy(
            ex.join("secrets/gloo-mesh/relay-server-tls-secret").join(k),
            dir.join(k),
        )
        .unwrap();
    }
    let out = w.path("one.age");
    let r = tk(&[
        "import",
        dir.to_str().unwrap(),
        "-r",
        &util::recipient(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!r.stdout.contains("key-mismatch"), "{}", r.stdout);
    let row: Vec<&str> = r
        .stdout
        .lines()
        .find(|l| l.starts_with("gloo-mesh/relay-server-tls-secret"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        row[..4],
        [
            "gloo-mesh/relay-server-tls-secret",
            "relay-server",
            "kubernetes.io/tls",
            "ca.crt,tls.crt,tls.key"
        ]
    );
    // Secrets the folders did not hold are worth a warning, not a failure of the import.
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("warning [selection.missing] import:gloo-mesh/relay-tls-signing-secret"),
        "{}",
        r.stdout
    );
}

#[test]
fn every_key_gets_a_verdict_and_the_archive_keeps_the_findings() {
    let w = Work::new();
    let out = w.path("i.age");
    let r = tk(&[
        "import",
        fixture("seed-manual").to_str().unwrap(),
        "-r",
        &util::recipient(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(r.stdout.contains("info    [import.key-match] import:gloo-mesh/root-trust.root-trust-policy[key.pem]: key.pem matches the certificate in root-cert.pem (O=Istio, CN=Root CA)"), "{}", r.stdout);
    let r = w.with_id("inspect", &out, &["--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let checks: Vec<&str> = v["manifest"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        checks
            .iter()
            .filter(|c| **c == "import.key-mismatch")
            .count(),
        2,
        "{checks:?}"
    );
    assert!(
        !checks.contains(&"selection.policies-unknown"),
        "{checks:?}"
    );
    // Nothing local (such as the folder's path) is stored as an annotation to be restored.
    for s in v["manifest"]["secrets"].as_array().unwrap() {
        assert_eq!(s["annotations"], serde_json::json!({}), "{s}");
    }
}
