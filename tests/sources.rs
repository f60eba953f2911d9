//! `--from` inputs: every shape kubectl prints gives the same secrets; malformed input is a
//! one-line error naming the file or object, exit 2, with nothing written.

use crate::util::{self, fixture, Work};

#[test]
fn yaml_list_json_list_multi_doc_and_stdin_agree() {
    let w = Work::new();
    let mut seen = Vec::new();
    for (name, from) in [
        ("yaml", "sample/mgmt.yaml"),
        ("json", "sample/mgmt.json"),
        ("multi", "malformed/multi-doc.yaml"),
    ] {
        let out = w.path(&format!("{name}.age"));
        let r = util::backup(from, &out, &["--cluster", "mgmt"]);
        assert!(r.code <= 1, "{name}: {r:?}");
        seen.push((name, w.manifest(&out)["secrets"].clone()));
    }
    // stdin
    let out = w.path("stdin.age");
    let mut cmd = std::process::Command::new(crate::util::bin());
    cmd.args([
        "backup",
        "--from",
        "-",
        "-r",
        &util::recipient(),
        "-o",
        out.to_str().unwrap(),
    ])
    .stdin(std::fs::File::open(fixture("sample/mgmt.yaml")).unwrap());
    let o = cmd.output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.exists());
    seen.push(("stdin", w.manifest(&out)["secrets"].clone()));

    // Reports carry no digest of values; compare sizes and certificate fingerprints.
    let digests = |v: &serde_json::Value| -> Vec<(String, String, String)> {
        v.as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                s["data"].as_array().unwrap().iter().map(move |d| {
                    (
                        s["name"].as_str().unwrap().to_string(),
                        d["key"].as_str().unwrap().to_string(),
                        format!("{} {}", d["size"], d["certificates"]),
                    )
                })
            })
            .collect()
    };
    let reference = digests(&seen[0].1);
    assert_eq!(reference.len(), 12, "{reference:?}");
    // The JSON file lacks the RootTrustPolicy but the root-trust secret is still found by type.
    for (name, v) in &seen[1..] {
        assert_eq!(digests(v), reference, "{name}");
    }
}

#[test]
fn malformed_inputs_are_clear_errors_and_write_nothing() {
    let cases: &[(&str, &str)] = &[
        (
            "malformed/not-yaml.yaml",
            "not-yaml.yaml: not valid YAML or JSON",
        ),
        (
            "malformed/bad-base64.yaml",
            "secret gloo-mesh/relay-server-tls-secret: not a valid Secret",
        ),
        ("does-not-exist.yaml", "cannot read"),
    ];
    let w = Work::new();
    for (from, expected) in cases {
        let out = w.path("x.age");
        let r = util::backup(from, &out, &[]);
        assert_eq!(r.code, 2, "{from}: {r:?}");
        assert!(r.stderr.contains(expected), "{from}: {}", r.stderr);
        assert_eq!(
            r.stderr.trim_end().lines().count(),
            1,
            "{from}: one line: {}",
            r.stderr
        );
        assert!(!out.exists(), "{from}: nothing written");
    }
    // The bad base64 value itself is never echoed.
    let r = util::backup("malformed/bad-base64.yaml", &w.path("y.age"), &[]);
    let raw = std::fs::read_to_string(fixture("malformed/bad-base64.yaml")).unwrap();
    let value = raw
        .lines()
        .find(|l| l.contains("tls.crt:"))
        .unwrap()
        .split(':')
        .nth(1)
        .unwrap()
        .trim()
        .trim_matches('"')
        .to_string();
    assert!(
        value.len() > 4 && !r.stderr.contains(&value),
        "{}",
        r.stderr
    );
}

#[test]
fn a_pem_that_does_not_parse_is_backed_up_as_is_and_reported() {
    // A backup must keep whatever is there: the broken certificate is archived byte for byte,
    // and the run ends with exit 1 and a finding naming the secret and key.
    let w = Work::new();
    let out = w.path("bad-pem.age");
    let r = util::backup("malformed/bad-pem.yaml", &out, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout
            .contains("[pem.parse] bad-pem:gloo-mesh/relay-server-tls-secret[tls.crt]"),
        "{}",
        r.stdout
    );
    assert!(out.exists());
}

#[test]
fn the_final_error_line_cannot_paint_the_terminal() {
    let w = Work::new();
    let path = w.path("\u{1b}[32mverified OK\u{1b}[0m.yaml");
    let r = crate::util::tk(&["audit", "--from", path.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.starts_with("trustkeep: error: "), "{}", r.stderr);
    assert!(
        !r.stderr.contains('\u{1b}'),
        "escape sequences reach the terminal: {:?}",
        r.stderr
    );
    assert!(
        r.stderr.contains("verified OK"),
        "the name is still shown: {}",
        r.stderr
    );
}

/// The sample's trust secrets written as a PEM directory, a folder per role, as a user would
/// lay out certificates from Vault or an offline CA (no Kubernetes YAML).
fn pem_dir(w: &Work, sample: &str, dir: &str) -> std::path::PathBuf {
    let inv = trustkeep::source::read_file(fixture(sample).to_str().unwrap(), "gloo-mesh").unwrap();
    let sel = trustkeep::select::select(&inv, &trustkeep::select::SelectOptions::default());
    let root = w.path(dir);
    for s in &sel.secrets {
        let folder = match s.record.id.name.as_str() {
            "relay-server-tls-secret" => "relay-server".to_string(),
            "relay-tls-signing-secret" => "relay-signing".into(),
            "relay-root-tls-secret" => "relay-root".into(),
            "relay-client-tls-secret" => "relay-client".into(),
            "relay-identity-token-secret" => "relay-identity-token".into(),
            "cacerts" => "istio-cacerts".into(),
            n if n.starts_with("root-trust") => "root-trust".into(),
            other => other.to_string(),
        };
        let d = root.join(folder);
        std::fs::create_dir_all(&d).unwrap();
        for (k, v) in &s.record.data {
            std::fs::write(d.join(k), v.expose()).unwrap();
        }
    }
    root
}

#[test]
fn a_pem_directory_gets_the_same_verdicts_as_the_secrets_it_becomes() {
    let w = Work::new();
    let mgmt = pem_dir(&w, "sample/mgmt.yaml", "pem-mgmt");
    let c1 = pem_dir(&w, "sample/cluster-1.yaml", "pem-c1");
    let at = ["--at", "2026-12-01T00:00:00Z", "--output", "json"];
    let pem = |extra: &[&str]| {
        let m = format!("mgmt={}", mgmt.display());
        let c = format!("cluster-1={}", c1.display());
        let mut args = vec!["audit", "--from", &m, "--from", &c];
        args.extend(at);
        args.extend(extra);
        util::tk(&args)
    };
    let r = pem(&[]);
    let yaml = util::tk(
        &[
            &[
                "audit",
                "--from",
                &format!("mgmt={}", fixture("sample/mgmt.yaml").display()),
            ][..],
            &[
                "--from",
                &format!("cluster-1={}", fixture("sample/cluster-1.yaml").display()),
            ][..],
            &at[..],
        ]
        .concat(),
    );
    let ids = |out: &str| {
        let v: serde_json::Value = serde_json::from_str(out).unwrap();
        let mut f: Vec<String> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            // Errors: warnings about RootTrustPolicies (a generated root) need the cluster.
            .filter(|f| f["severity"] == "error")
            .map(|f| format!("{} {} {}", f["severity"], f["check"], f["secret"]))
            .collect();
        f.sort();
        let mut secrets: Vec<String> = v["secrets"]
            .as_array()
            .unwrap()
            .iter()
            // By role: the root-trust folder's secret is named root-trust.byo.
            .map(|s| format!("{} {}", s["cluster"], s["role"]))
            .collect();
        secrets.sort();
        let certificates = v["certificates"].as_array().unwrap().len();
        (
            v["ok"].clone(),
            v["errors"].clone(),
            f,
            secrets,
            certificates,
        )
    };
    assert_eq!(r.code, yaml.code, "{r:?}");
    assert_eq!(
        ids(&r.stdout),
        ids(&yaml.stdout),
        "the same verdicts as from the secrets"
    );
    // A broken set: the server's key is another key's. Caught before it reaches a cluster.
    std::fs::copy(
        mgmt.join("relay-signing/tls.key"),
        mgmt.join("relay-server/tls.key"),
    )
    .unwrap();
    let r = pem(&[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("key.match"), "{}", r.stdout);
    // A folder that is neither a role nor a secret name is named.
    std::fs::create_dir_all(mgmt.join("Not A Role")).unwrap();
    let r = pem(&[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("\"Not A Role\" is neither a role"),
        "{}",
        r.stderr
    );
}
