//! The differential suite: one openssl-made case per path-validation class of issue 8
//! (fixtures/x509/gen.sh), judged by trustkeep, by Go's crypto/x509 (tests/go-oracle) and by
//! `openssl verify`. trustkeep must give Go's verdict, and openssl's where Go and openssl
//! agree; each case where trustkeep departs from Go names its documented reason
//! (docs/checks.md, "Path validation").

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use trustkeep::pki::{self, Cert, ChainError};

use crate::util::{self, Work};

/// Builds tests/go-oracle once per test run, with the Go toolchain on PATH.
pub(crate) fn go_oracle() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-oracle");
        let src = root.join("tests/go-oracle");
        let r = util::run({
            let mut c = std::process::Command::new("go");
            c.current_dir(&src).args(["build", "-o"]).arg(&out).arg(".");
            // Self-contained: no HOME needed, no toolchain download.
            c.env("GOCACHE", out.with_file_name("go-cache"))
                .env("GOTOOLCHAIN", "local")
                .env("GOFLAGS", "-mod=mod");
            c
        });
        assert_eq!(r.code, 0, "go build tests/go-oracle: {r:?}");
        out
    })
}

/// Runs fixtures/x509/gen.sh into `dir`.
fn generate(dir: &Path) {
    let gen = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/x509/gen.sh");
    let r = util::ext("bash", &[gen.to_str().unwrap(), dir.to_str().unwrap()]);
    assert_eq!(r.code, 0, "gen.sh: {r:?}");
}

fn certs(p: &Path) -> Vec<Cert> {
    let b = std::fs::read(p).unwrap();
    if b.is_empty() {
        return Vec::new();
    }
    pki::parse_certs(&b).unwrap()
}

/// What trustkeep must say of a case, beyond ok/error.
#[derive(Debug)]
enum Want {
    Ok,
    Err(fn(&ChainError) -> bool),
}

/// (case, Go's verdict, openssl's verdict, trustkeep's verdict, why trustkeep departs from Go).
type Case = (&'static str, bool, bool, Want, &'static str);

fn cases() -> Vec<Case> {
    use ChainError as E;
    vec![
        ("valid", true, true, Want::Ok, ""),
        ("crit-ext-leaf", false, false, Want::Err(|e| matches!(e, E::CriticalExtension { subject, oid } if subject == "CN=leaf" && oid == "1.3.6.1.4.1.55555.1")), ""),
        ("crit-ext-root", false, false, Want::Err(|e| matches!(e, E::CriticalExtension { subject, oid } if subject == "CN=root" && oid == "1.3.6.1.4.1.55555.1")), ""),
        ("crit-ext-ca", false, false, Want::Err(|e| matches!(e, E::CriticalExtension { subject, .. } if subject == "CN=int")), ""),
        ("name-constraint", false, false, Want::Err(|e| matches!(e, E::NameConstraints { .. })), ""),
        ("nc-wildcard", true, true, Want::Ok, ""),
        ("nc-wildcard-outside", false, false, Want::Err(|e| matches!(e, E::NameConstraints { .. })), ""),
        ("nc-email", true, true, Want::Ok, ""),
        ("nc-email-outside", false, false, Want::Err(|e| matches!(e, E::NameConstraints { .. })), ""),
        ("ca-under-pathlen0", false, false, Want::Err(|e| matches!(e, E::PathLen { .. } | E::Rejected { .. })), ""),
        ("ca-under-pathlen0-subject", true, true, Want::Err(|e| matches!(e, E::PathLen { subject, pathlen: 0, below: 1 } if subject == "CN=int1")),
            "a CA is judged by whether it can issue: nothing int2 issues verifies (Go and openssl verify int2 itself as a leaf)"),
        ("sha1", false, true, Want::Err(|e| matches!(e, E::Sha1 { subject } if subject == "CN=leaf")), ""),
        ("cross-signed", true, false, Want::Ok, ""),
        ("v1-root", true, true, Want::Ok, ""),
        ("p521", true, true, Want::Ok, ""),
        ("ed25519", true, true, Want::Ok, ""),
        ("rsa-pss", true, true, Want::Ok, ""),
        ("rsa-pss-salt20", false, true, Want::Err(|e| matches!(e, E::UnsupportedAlgorithm { algorithm, .. } if algorithm.starts_with("RSASSA-PSS"))), ""),
        ("printable-utf8", false, true, Want::Err(|e| matches!(e, E::GoStricter(m) if m.contains("byte for byte"))), ""),
        ("self-issued", false, true, Want::Err(|e| matches!(e, E::GoStricter(m) if m.contains("self-issued"))), ""),
        ("ca-no-keycertsign", false, false, Want::Err(|e| matches!(e, E::IssuerNoKeyCertSign { subject, .. } if subject == "CN=int")), ""),
        // Go accepts these paths and so does trustkeep's path validation; the PKI is still
        // broken or weak, which other checks report as errors (tests/x509.rs below, docs).
        ("aki-mismatch", true, false, Want::Ok, ""),
        ("rsa1024", true, true, Want::Ok, ""),
    ]
}

#[test]
#[ignore = "needs go"]
fn path_verdicts_match_go_and_openssl() {
    let w = Work::new();
    let dir = w.path("x509");
    generate(&dir);
    let oracle = go_oracle();
    // Certificates start when gen.sh ran, to the second: judge a minute later.
    let at = chrono::Utc::now() + chrono::Duration::minutes(1);
    let epoch = at.timestamp().to_string();
    let mut table = Vec::new();
    for (case, go_ok, openssl_ok, want, why) in cases() {
        let d = dir.join(case);
        let f = |n: &str| d.join(n).to_str().unwrap().to_string();
        let go = util::ext(
            oracle.to_str().unwrap(),
            &[
                "verify",
                &f("roots.pem"),
                &f("inter.pem"),
                &f("leaf.pem"),
                &epoch,
            ],
        );
        assert_eq!(
            go.code == 0,
            go_ok,
            "{case}: Go's verdict is not the documented one: {go:?}"
        );
        let mut args = vec![
            "verify".to_string(),
            "-attime".into(),
            epoch.clone(),
            "-CAfile".into(),
            f("roots.pem"),
        ];
        if !certs(&d.join("inter.pem")).is_empty() {
            args.extend(["-untrusted".into(), f("inter.pem")]);
        }
        args.push(f("leaf.pem"));
        let o = util::ext(
            "openssl",
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert_eq!(
            o.code == 0,
            openssl_ok,
            "{case}: openssl's verdict is not the documented one: {o:?}"
        );
        let leaf = certs(&d.join("leaf.pem")).remove(0);
        let ours = pki::verify_chain(
            &leaf,
            &certs(&d.join("inter.pem")),
            &certs(&d.join("roots.pem")),
            Some(at),
        );
        match (&want, &ours) {
            (Want::Ok, Ok(_)) => {}
            (Want::Err(is), Err(e)) if is(e) => {}
            _ => panic!("{case}: trustkeep said {ours:?}, expected {want:?}"),
        }
        if why.is_empty() {
            assert_eq!(
                ours.is_ok(),
                go_ok,
                "{case}: trustkeep departs from Go without a documented reason"
            );
        } else {
            assert_ne!(
                ours.is_ok(),
                go_ok,
                "{case}: documented as a departure from Go"
            );
        }
        if go_ok == openssl_ok && why.is_empty() {
            assert_eq!(
                ours.is_ok(),
                openssl_ok,
                "{case}: Go and openssl agree, trustkeep must too"
            );
        }
        if let Ok(chain) = &ours {
            let mismatched = !chain.aki_mismatches().is_empty();
            assert_eq!(mismatched, case == "aki-mismatch", "{case}: AKI/SKI links");
        }
        table.push(format!(
            "{case}: trustkeep {} go {} openssl {}",
            ours.is_ok(),
            go_ok,
            openssl_ok
        ));
    }
    eprintln!("{}", table.join("\n"));
}

/// `file` (a fixture Secret list) with secret `name`'s data keys set to the files given
/// (`None` removes the key), written to `out`.
fn with_secret(file: &str, name: &str, data: &[(&str, Option<&Path>)], out: &Path) -> String {
    use base64::Engine;
    let text = std::fs::read_to_string(util::fixture(file)).unwrap();
    let mut docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).unwrap();
    for item in docs[0]["items"].as_array_mut().unwrap() {
        if item["metadata"]["name"] == name {
            let d = item["data"].as_object_mut().unwrap();
            for (k, v) in data {
                match v {
                    Some(p) => {
                        let b = std::fs::read(p).unwrap();
                        let v = base64::engine::general_purpose::STANDARD.encode(b);
                        d.insert(k.to_string(), v.into());
                    }
                    None => {
                        d.remove(*k);
                    }
                }
            }
        }
    }
    std::fs::write(out, serde_json::to_string(&docs[0]).unwrap()).unwrap();
    out.to_str().unwrap().to_string()
}

/// Audits the sample mesh with its Istio root and cluster-1's `cacerts` replaced by the
/// `mesh-*` setup `case` of gen.sh (`form` "plug-in" or "tls"); (exit code, findings as
/// (secret, key, check, severity)).
fn audit_mesh(dir: &Path, case: &str, form: &str) -> (i32, Vec<(String, String, String, String)>) {
    let (code, findings) = audit_mesh_findings(dir, case, form);
    let found = findings
        .iter()
        .map(|f| {
            let s = |v: &Option<String>| v.clone().unwrap_or_default();
            (
                s(&f.secret),
                s(&f.key),
                f.check.clone(),
                f.severity.to_string(),
            )
        })
        .collect();
    (code, found)
}

/// [`audit_mesh`] with the findings (other than info) whole. A case with a `crl.pem` has it
/// as `ca-crl.pem` in the plug-in form.
fn audit_mesh_findings(
    dir: &Path,
    case: &str,
    form: &str,
) -> (i32, Vec<trustkeep::findings::Finding>) {
    let d = dir.join(case);
    let f = |n: &str| d.join(n);
    let mgmt = with_secret(
        "sample/mgmt.yaml",
        "root-trust-policy.gloo-mesh",
        &[
            ("root-cert.pem", Some(&f("root.pem"))),
            ("key.pem", Some(&f("root.key"))),
        ],
        &dir.join(format!("{case}-{form}-mgmt.json")),
    );
    let crl = Some(f("crl.pem")).filter(|p| p.exists());
    let plug_in = [
        ("ca-cert.pem", Some(f("int.pem"))),
        ("ca-key.pem", Some(f("int.key"))),
        ("root-cert.pem", Some(f("root.pem"))),
        ("cert-chain.pem", Some(f("chain.pem"))),
        ("ca-crl.pem", crl.clone()),
    ];
    let tls = [
        ("ca-cert.pem", None),
        ("ca-key.pem", None),
        ("cert-chain.pem", None),
        ("key.pem", None),
        ("root-cert.pem", None),
        ("tls.crt", Some(f("chain.pem"))),
        ("tls.key", Some(f("int.key"))),
        ("ca.crt", Some(f("root.pem"))),
        ("ca-crl.pem", crl.clone()),
    ];
    let data: Vec<(&str, Option<&Path>)> = match form {
        "plug-in" => plug_in.iter().map(|(k, v)| (*k, v.as_deref())).collect(),
        _ => tls.iter().map(|(k, v)| (*k, v.as_deref())).collect(),
    };
    let c1 = with_secret(
        "sample/cluster-1.yaml",
        "cacerts",
        &data,
        &dir.join(format!("{case}-{form}-c1.json")),
    );
    // The library's checks, not the CLI: the binary path is shared between worktrees that
    // build into one target directory, the library linked into this test is not.
    let at = chrono::Utc::now() + chrono::Duration::minutes(1);
    let snap = |path: &str, name: &str| {
        let inv = trustkeep::source::read_file(path, "gloo-mesh").unwrap();
        let sel = trustkeep::select::select(&inv, &trustkeep::select::SelectOptions::default());
        trustkeep::snapshot::Snapshot::new(&inv, sel, name, at)
    };
    let opts = default_setup_at(at);
    let r = trustkeep::checks::check(&[snap(&mgmt, "mgmt"), snap(&c1, "cluster-1")], &opts);
    for f in r
        .report
        .findings
        .iter()
        .filter(|f| f.severity != trustkeep::findings::Severity::Info)
    {
        eprintln!("{case} ({form}): {} {}: {}", f.severity, f.check, f.message);
    }
    let found = r
        .report
        .findings
        .iter()
        .filter(|f| f.severity != trustkeep::findings::Severity::Info)
        .cloned()
        .collect();
    (i32::from(r.report.errors() > 0), found)
}

#[test]
#[ignore = "needs openssl"]
fn istio_setups_of_every_kind_audit_clean_in_both_cacerts_forms() {
    let w = Work::new();
    let dir = w.path("x509");
    generate(&dir);
    for case in ["mesh-p521", "mesh-ed25519", "mesh-v1root", "mesh-cross"] {
        for form in ["plug-in", "tls"] {
            let (code, found) = audit_mesh(&dir, case, form);
            assert_eq!((code, &found), (0, &vec![]), "{case} ({form})");
        }
    }
}

#[test]
#[ignore = "needs go"]
fn what_go_refuses_to_parse_trustkeep_refuses_in_go_s_words() {
    let w = Work::new();
    let dir = w.path("x509");
    generate(&dir);
    let oracle = go_oracle();
    for (case, refused) in [
        ("valid", false),
        ("parse-empty-nc", true),
        ("parse-bad-dns", true),
        ("parse-broken-san", true),
        ("parse-p192", true),
    ] {
        let leaf = dir.join(case).join("leaf.pem");
        let go = util::ext(oracle.to_str().unwrap(), &["parse", leaf.to_str().unwrap()]);
        assert_eq!(go.code != 0, refused, "{case}: Go's verdict: {go:?}");
        // The certificate parses for trustkeep (it is archived and shown), and is judged.
        let ours = certs(&leaf).remove(0);
        match (pki::go_parse_refusal(&ours), refused) {
            (None, false) => {}
            (Some(why), true) => assert!(
                go.stdout.trim() == format!("error: {why}"),
                "{case}: Go said {:?}, trustkeep {why:?}",
                go.stdout
            ),
            (v, _) => panic!("{case}: trustkeep said {v:?}, Go {go:?}"),
        }
    }
}

#[test]
#[ignore = "needs go"]
fn the_relay_server_name_is_the_authority_agents_dial_as_go_checks_it() {
    let w = Work::new();
    let dir = w.path("authority");
    std::fs::create_dir_all(&dir).unwrap();
    // The sample's relay server and agent as files, for Go's own handshake.
    let secret = |file: &str, name: &str| {
        let inv = trustkeep::source::read_file(util::fixture(file).to_str().unwrap(), "gloo-mesh")
            .unwrap();
        inv.secrets.into_iter().find(|s| s.id.name == name).unwrap()
    };
    let (srv, agent) = (
        secret("sample/mgmt.yaml", "relay-server-tls-secret"),
        secret("sample/cluster-1.yaml", "relay-client-tls-secret"),
    );
    let root = secret("sample/mgmt.yaml", "relay-root-tls-secret");
    let put = |name: &str, s: &trustkeep::secret::SecretRecord, key: &str| {
        let p = dir.join(name);
        std::fs::write(&p, s.get(key).unwrap().expose()).unwrap();
        p.to_str().unwrap().to_string()
    };
    let (sc, sk) = (
        put("srv.crt", &srv, "tls.crt"),
        put("srv.key", &srv, "tls.key"),
    );
    let (ac, ak) = (
        put("agent.crt", &agent, "tls.crt"),
        put("agent.key", &agent, "tls.key"),
    );
    let ca = put("root.crt", &root, "ca.crt");
    let oracle = go_oracle();
    let go = |name: &str| {
        util::ext(
            oracle.to_str().unwrap(),
            &["tls", &sc, &sk, &ca, &ac, &ak, &ca, name],
        )
    };
    let audit = |extra: &[&str]| {
        let m = format!("mgmt={}", util::fixture("sample/mgmt.yaml").display());
        let c = format!(
            "cluster-1={}",
            util::fixture("sample/cluster-1.yaml").display()
        );
        let mut args = vec![
            "audit",
            "--from",
            &m,
            "--from",
            &c,
            "--at",
            "2026-12-01T00:00:00Z",
        ];
        args.extend(extra);
        util::tk(&args)
    };
    // The default authority: Go's handshake completes, trustkeep agrees.
    let ok = go("gloo-mesh-mgmt-server.gloo-mesh");
    assert_eq!(ok.code, 0, "{ok:?}");
    let r = audit(&[]);
    assert_eq!(r.code, 0, "{r:?}");
    // An authority the certificate is not valid for: Go refuses, so does trustkeep.
    let refused = go("relay.example.com");
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stdout.contains("not relay.example.com"),
        "{refused:?}"
    );
    let r = audit(&["--relay-authority", "relay.example.com"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("role.relay-server") && r.stdout.contains("relay.example.com"),
        "{}",
        r.stdout
    );
}

#[test]
#[ignore = "needs go"]
fn istiods_usage_is_go_default_server_auth() {
    let w = Work::new();
    let dir = w.path("x509");
    generate(&dir);
    let oracle = go_oracle();
    let epoch = (chrono::Utc::now() + chrono::Duration::minutes(1))
        .timestamp()
        .to_string();
    let d = dir.join("mesh-eku-client");
    let f = |n: &str| d.join(n).to_str().unwrap().to_string();
    let args = |usage: &str| {
        let mut a = vec![
            "verify".to_string(),
            f("root.pem"),
            f("chain.pem"),
            f("int.pem"),
            epoch.clone(),
        ];
        a.push(usage.into());
        a
    };
    let run = |a: Vec<String>| {
        util::ext(
            oracle.to_str().unwrap(),
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    // As istiod asks (Go's default usage) the intermediate is refused; for any usage it is not:
    // the consumer's usage is what decides, and trustkeep asks istiod's question.
    let istiod = run(args("default"));
    assert_eq!(istiod.code, 1, "{istiod:?}");
    assert!(
        istiod.stdout.contains("incompatible key usage"),
        "{istiod:?}"
    );
    assert_eq!(run(args("any")).code, 0);
    let (code, found) = audit_mesh(&dir, "mesh-eku-client", "plug-in");
    assert_eq!(code, 1, "{found:?}");
    assert!(
        found
            .iter()
            .any(|(_, k, c, _)| k == "ca-cert.pem" && c == "chain.verify"),
        "{found:?}"
    );
}

/// `ca-crl.pem` (gen.sh's `mesh-crl*` cases, made with `openssl ca -gencrl`): istiod's verdict
/// (the Go oracle runs its keycertbundle check with the CRL) is trustkeep's, in istiod's words;
/// beyond istiod, what Envoy refuses with the same lists (a revoked intermediate, an expired
/// list) is an error that names Envoy.
#[test]
#[ignore = "needs go and openssl"]
fn ca_crl_pem_is_judged_as_istiod_checks_it_and_as_envoy_applies_it() {
    let w = Work::new();
    let dir = w.path("x509");
    generate(&dir);
    let oracle = go_oracle();
    for (case, istiod_ok, want) in [
        ("mesh-crl", true, None),
        (
            "mesh-crl-missing",
            false,
            Some("(\"missing CRL signed by certificates\")"),
        ),
        (
            "mesh-crl-nocrlsign",
            false,
            Some("keyUsage without cRLSign"),
        ),
        (
            "mesh-crl-bad",
            false,
            Some("x509: malformed tbs crl: istiod refuses"),
        ),
        (
            "mesh-crl-revoked",
            true,
            Some("is revoked by the CRL of O=Istio, CN=Root CA"),
        ),
        (
            "mesh-crl-expired",
            true,
            Some("Envoy refuses the workload certificates under a CA whose CRL has expired"),
        ),
    ] {
        let d = dir.join(case);
        let f = |n: &str| d.join(n).to_str().unwrap().to_string();
        let go = util::ext(
            oracle.to_str().unwrap(),
            &[
                "istiod",
                &f("int.pem"),
                &f("int.key"),
                &f("root.pem"),
                &f("chain.pem"),
                &f("crl.pem"),
            ],
        );
        assert_eq!(go.code == 0, istiod_ok, "{case}: istiod (Go) said {go:?}");
        let (code, findings) = audit_mesh_findings(&dir, case, "plug-in");
        let crl: Vec<&trustkeep::findings::Finding> =
            findings.iter().filter(|f| f.check == "chain.crl").collect();
        match want {
            None => assert_eq!((code, findings.len()), (0, 0), "{case}: {findings:?}"),
            Some(words) => {
                assert_eq!(code, 1, "{case}: {findings:?}");
                assert!(
                    crl.len() == 1 && crl[0].message.contains(words),
                    "{case}: want one chain.crl error with {words:?}, got {findings:?}"
                );
                assert_eq!(crl[0].key.as_deref(), Some("ca-crl.pem"), "{case}");
                // Only the CRL is wrong: no other error.
                assert_eq!(findings.len(), 1, "{case}: {findings:?}");
            }
        }
        // In the tls.crt form istiod does not read ca-crl.pem: a warning says so, whatever it holds.
        let (code, findings) = audit_mesh_findings(&dir, case, "tls");
        assert_eq!(code, 0, "{case} (tls): {findings:?}");
        assert!(
            findings.len() == 1
                && findings[0].check == "chain.crl"
                && findings[0].severity == trustkeep::findings::Severity::Warning
                && findings[0].message.starts_with("ca-crl.pem is ignored"),
            "{case} (tls): {findings:?}"
        );
        if !istiod_ok {
            // istiod's own reason, as Go words it, is in trustkeep's message.
            let go_reason = go.stdout.trim().trim_start_matches("error: ");
            let go_words = go_reason.split(':').next().unwrap();
            let ours = &crl[0].message;
            assert!(
                ours.contains(go_words),
                "{case}: Go said {go_reason:?}, trustkeep {ours:?}"
            );
        }
    }
}

#[test]
#[ignore = "needs openssl"]
fn istio_intermediates_go_refuses_are_errors_on_cacerts() {
    let w = Work::new();
    let dir = w.path("x509");
    generate(&dir);
    let cacerts = "istio-system/cacerts";
    for (case, extra) in [
        ("mesh-pathlen0", None),
        ("mesh-critext", None),
        ("mesh-sha1", Some("crypto.sha1")),
        ("mesh-eku-client", None),
    ] {
        let (code, found) = audit_mesh(&dir, case, "plug-in");
        assert_eq!(code, 1, "{case}: {found:?}");
        let mut want: Vec<(String, String, String, String)> = ["chain.verify", "trust.istio-root"]
            .iter()
            .chain(extra.as_slice())
            .map(|c| {
                (
                    cacerts.into(),
                    "ca-cert.pem".into(),
                    c.to_string(),
                    "error".into(),
                )
            })
            .collect();
        if extra.is_some() {
            // The intermediate is also the first certificate of cert-chain.pem.
            want.push((
                cacerts.into(),
                "cert-chain.pem".into(),
                "crypto.sha1".into(),
                "error".into(),
            ));
        }
        want.sort();
        let mut got = found.clone();
        got.sort();
        assert_eq!(got, want, "{case}");
    }
}

#[test]
#[ignore = "needs openssl"]
fn an_end_entity_in_ca_cert_pem_is_named_as_the_mistake() {
    let w = Work::new();
    let dir = w.path("x509");
    generate(&dir);
    // The valid case's leaf (CA:FALSE, issued by gen.sh's root) as cluster-1's ca-cert.pem.
    let d = dir.join("mesh-leaf");
    std::fs::create_dir_all(&d).unwrap();
    for (from, to) in [
        ("valid/leaf.pem", "int.pem"),
        ("valid/leaf.key", "int.key"),
        ("root.pem", "root.pem"),
        ("root.key", "root.key"),
    ] {
        std::fs::copy(dir.join(from), d.join(to)).unwrap();
    }
    let chain = [
        std::fs::read(d.join("int.pem")).unwrap(),
        std::fs::read(d.join("root.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(d.join("chain.pem"), chain).unwrap();
    let (code, found) = audit_mesh(&dir, "mesh-leaf", "plug-in");
    assert_eq!(code, 1);
    let f = |check: &str| {
        (
            "istio-system/cacerts".to_string(),
            "ca-cert.pem".to_string(),
            check.to_string(),
            "error".to_string(),
        )
    };
    assert!(found.contains(&f("role.istio-cacerts")), "{found:?}");
    assert!(found.contains(&f("ca.constraints")), "{found:?}");
}

#[test]
#[ignore = "needs openssl"]
fn each_lint_fires_on_its_case_and_nothing_else() {
    let w = Work::new();
    let dir = w.path("x509");
    generate(&dir);
    let relay_client = trustkeep::checks::LintUse {
        relay_leaf: true,
        client: true,
        max_leaf_days: None,
    };
    let cases = [
        ("clean", None),
        ("aki-missing", Some("lint.aki-missing")),
        ("ski-missing", Some("lint.ski-missing")),
        ("serial", Some("lint.serial")),
        (
            "ca-key-usage-not-critical",
            Some("lint.ca-key-usage-not-critical"),
        ),
        ("leaf-cert-sign", Some("lint.leaf-cert-sign")),
        ("eku-missing", Some("lint.eku-missing")),
        ("client-auth-missing", Some("lint.client-auth-missing")),
        ("rsa-exponent", Some("lint.rsa-exponent")),
    ];
    for (case, want) in cases {
        let c = certs(&dir.join(format!("lint/{case}.pem"))).remove(0);
        let got: Vec<String> = trustkeep::checks::lint_cert(&c, relay_client)
            .into_iter()
            .map(|(id, _)| id.as_str().to_string())
            .collect();
        assert_eq!(
            got,
            want.into_iter().map(String::from).collect::<Vec<_>>(),
            "{case}"
        );
    }
}

/// The subjectPublicKey of an RSA key (modulus `n`) with public exponent 3, for rcgen.
struct RsaExponent3(Vec<u8>);

impl rcgen::PublicKeyData for RsaExponent3 {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

#[test]
#[ignore = "needs go"]
fn an_rsa_key_whose_exponent_differs_from_the_certificate_is_an_error_go_accepts() {
    use pkcs1::der::{Decode, Encode};
    let w = Work::new();
    let key = w.path("server.key");
    let r = util::ext(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    // The certificate carries the key's modulus with exponent 3 (the key's is 65537).
    let pem = std::fs::read_to_string(&key).unwrap();
    let der = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .unwrap()
        .1
        .contents;
    let info = pkcs8::PrivateKeyInfo::from_der(&der).unwrap();
    let rsa = pkcs1::RsaPrivateKey::from_der(info.private_key).unwrap();
    let public = pkcs1::RsaPublicKey {
        modulus: rsa.modulus,
        public_exponent: pkcs1::UintRef::new(&[3]).unwrap(),
    };
    let spk = RsaExponent3(public.to_der().unwrap());
    let root_key =
        std::fs::read_to_string(util::fixture("keys/test-only-relay-root-p384.pem")).unwrap();
    let root_key = rcgen::KeyPair::from_pem(&root_key).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["*.gloo-mesh".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "gloo-mesh-mgmt-server");
    let issuer = rcgen::Issuer::new(rcgen::CertificateParams::default(), root_key);
    let cert = params.signed_by(&spk, &issuer).unwrap();
    let cert_path = w.path("server.crt");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    // Go's tls.X509KeyPair compares the modulus only.
    let go = util::ext(
        go_oracle().to_str().unwrap(),
        &[
            "keypair",
            cert_path.to_str().unwrap(),
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(go.code, 0, "Go accepts the pair: {go:?}");
    // trustkeep compares modulus and exponent.
    let dir = w.path("x509");
    std::fs::create_dir_all(&dir).unwrap();
    let mgmt = with_secret(
        "sample/mgmt.yaml",
        "relay-server-tls-secret",
        &[("tls.crt", Some(&cert_path)), ("tls.key", Some(&key))],
        &dir.join("mgmt.json"),
    );
    let inv = trustkeep::source::read_file(&mgmt, "gloo-mesh").unwrap();
    let sel = trustkeep::select::select(&inv, &trustkeep::select::SelectOptions::default());
    let at = chrono::Utc::now();
    let snap = trustkeep::snapshot::Snapshot::new(&inv, sel, "mgmt", at);
    let opts = default_setup_at(at);
    let r = trustkeep::checks::check(&[snap], &opts);
    let key_match: Vec<_> = r
        .report
        .findings
        .iter()
        .filter(|f| f.check == "key.match" && f.key.as_deref() == Some("tls.key"))
        .collect();
    assert_eq!(key_match.len(), 1, "{:?}", r.report.findings);
    assert_eq!(key_match[0].severity, trustkeep::findings::Severity::Error);
}

#[test]
#[ignore = "needs go"]
fn a_corrupt_root_self_signature_is_an_error_go_accepts() {
    let w = Work::new();
    let dir = w.path("x509");
    generate(&dir);
    // mesh-ed25519 with the last byte of the root's signature flipped, everywhere it appears.
    let (from, to) = (dir.join("mesh-ed25519"), dir.join("mesh-badroot"));
    std::fs::create_dir_all(&to).unwrap();
    for f in ["root.key", "int.pem", "int.key"] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
    let mut der = certs(&from.join("root.pem")).remove(0).der().to_vec();
    *der.last_mut().unwrap() ^= 1;
    let root = Cert::from_der(der).expect("a flipped signature bit still parses");
    std::fs::write(to.join("root.pem"), root.to_pem()).unwrap();
    let int = std::fs::read_to_string(from.join("int.pem")).unwrap();
    std::fs::write(to.join("chain.pem"), int + &root.to_pem()).unwrap();
    std::fs::write(to.join("none.pem"), "").unwrap();
    let p = |f: &str| to.join(f).to_str().unwrap().to_string();
    let epoch = (chrono::Utc::now() + chrono::Duration::minutes(1))
        .timestamp()
        .to_string();
    let go = util::ext(
        go_oracle().to_str().unwrap(),
        &[
            "verify",
            &p("root.pem"),
            &p("none.pem"),
            &p("int.pem"),
            &epoch,
        ],
    );
    assert_eq!(
        go.code, 0,
        "Go does not check a root's self-signature: {go:?}"
    );
    let (code, found) = audit_mesh(&dir, "mesh-badroot", "plug-in");
    assert_eq!(code, 1);
    let want = (
        "gloo-mesh/root-trust-policy.gloo-mesh".to_string(),
        "root-cert.pem".to_string(),
        "role.root-trust".to_string(),
        "error".to_string(),
    );
    assert_eq!(found, vec![want]);
}

#[test]
#[ignore = "needs openssl"]
fn an_unrelated_root_in_ca_crt_widens_trust() {
    let w = Work::new();
    let dir = w.path("x509");
    generate(&dir);
    // The sample relay server's ca.crt plus gen.sh's root.
    let inv = trustkeep::source::read_file(
        util::fixture("sample/mgmt.yaml").to_str().unwrap(),
        "gloo-mesh",
    )
    .unwrap();
    let sel = trustkeep::select::select(&inv, &trustkeep::select::SelectOptions::default());
    let srv = sel
        .secrets
        .iter()
        .find(|s| s.record.id.to_string() == "gloo-mesh/relay-server-tls-secret")
        .unwrap();
    let mut bundle = srv.record.get("ca.crt").unwrap().expose().to_vec();
    bundle.extend(std::fs::read(dir.join("root.pem")).unwrap());
    let ca = dir.join("bundle.pem");
    std::fs::write(&ca, bundle).unwrap();
    let mgmt = with_secret(
        "sample/mgmt.yaml",
        "relay-server-tls-secret",
        &[("ca.crt", Some(&ca))],
        &dir.join("mgmt.json"),
    );
    let inv = trustkeep::source::read_file(&mgmt, "gloo-mesh").unwrap();
    let sel = trustkeep::select::select(&inv, &trustkeep::select::SelectOptions::default());
    // gen.sh's root starts when gen.sh ran; the sample is valid until 2031.
    let at = chrono::Utc::now() + chrono::Duration::minutes(1);
    let snap = trustkeep::snapshot::Snapshot::new(&inv, sel, "mgmt", at);
    let r = trustkeep::checks::check(&[snap], &default_setup_at(at));
    let got: Vec<(String, String)> = r
        .report
        .findings
        .iter()
        .filter(|f| f.severity != trustkeep::findings::Severity::Info)
        .map(|f| (f.check.clone(), f.severity.to_string()))
        .collect();
    assert_eq!(
        got,
        [("chain.extra-root".to_string(), "warning".to_string())],
        "{:?}",
        r.report.findings
    );
}

#[test]
fn an_expired_root_left_in_a_bundle_is_a_warning_go_ignores() {
    let w = Work::new();
    let dir = w.path("bundle");
    std::fs::create_dir_all(&dir).unwrap();
    // An old root that expired in 2025, left in the relay server's ca.crt beside the real one.
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2025, 1, 1);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "old relay root");
    let old = params.self_signed(&key).unwrap().pem();
    let inv = trustkeep::source::read_file(
        util::fixture("sample/mgmt.yaml").to_str().unwrap(),
        "gloo-mesh",
    )
    .unwrap();
    let srv = inv
        .secrets
        .iter()
        .find(|s| s.id.to_string() == "gloo-mesh/relay-server-tls-secret")
        .unwrap();
    let mut bundle = srv.get("ca.crt").unwrap().expose().to_vec();
    bundle.extend(old.as_bytes());
    let ca = dir.join("bundle.pem");
    std::fs::write(&ca, bundle).unwrap();
    let mgmt = with_secret(
        "sample/mgmt.yaml",
        "relay-server-tls-secret",
        &[("ca.crt", Some(&ca))],
        &dir.join("mgmt.json"),
    );
    let inv = trustkeep::source::read_file(&mgmt, "gloo-mesh").unwrap();
    let sel = trustkeep::select::select(&inv, &trustkeep::select::SelectOptions::default());
    let at = chrono::Utc::now();
    let snap = trustkeep::snapshot::Snapshot::new(&inv, sel, "mgmt", at);
    let r = trustkeep::checks::check(&[snap], &default_setup_at(at));
    let mut got: Vec<(String, String)> = r
        .report
        .findings
        .iter()
        .filter(|f| f.severity != trustkeep::findings::Severity::Info)
        .map(|f| (f.check.clone(), f.severity.to_string()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("chain.extra-root".to_string(), "warning".to_string()),
            ("validity.expired".to_string(), "warning".to_string()),
        ],
        "{:?}",
        r.report.findings
    );
    let left = r
        .report
        .findings
        .iter()
        .find(|f| f.check == "validity.expired")
        .unwrap();
    assert!(left.message.contains("left over"), "{}", left.message);
}

#[test]
#[ignore = "needs go"]
fn client_auth_is_checked_down_the_path_as_go_does() {
    let w = Work::new();
    let dir = w.path("x509");
    generate(&dir);
    let at = chrono::Utc::now() + chrono::Duration::minutes(1);
    let epoch = at.timestamp().to_string();
    // (case, Go's verdict for ClientAuth); with ExtKeyUsageAny both verify.
    for (case, go_ok) in [("valid", true), ("eku-leaf", false), ("eku-int", false)] {
        let d = dir.join(case);
        let f = |n: &str| d.join(n).to_str().unwrap().to_string();
        let go = util::ext(
            go_oracle().to_str().unwrap(),
            &[
                "verify",
                &f("roots.pem"),
                &f("inter.pem"),
                &f("leaf.pem"),
                &epoch,
                "client",
            ],
        );
        assert_eq!(go.code == 0, go_ok, "{case}: {go:?}");
        let leaf = certs(&d.join("leaf.pem")).remove(0);
        let (ints, roots) = (certs(&d.join("inter.pem")), certs(&d.join("roots.pem")));
        let ours = pki::verify_chain_for(&leaf, &ints, &roots, Some(at), pki::Usage::ClientAuth);
        assert_eq!(ours.is_ok(), go_ok, "{case}: {ours:?}");
        if !go_ok {
            assert!(
                matches!(ours, Err(ChainError::ExtKeyUsage { .. })),
                "{case}: {ours:?}"
            );
        }
        assert!(
            pki::verify_chain(&leaf, &ints, &roots, Some(at)).is_ok(),
            "{case}: any usage"
        );
    }
}

/// The checks at `at`, accepting the seed's two demo-setup warnings that every setup here (a
/// default one: generated roots kept in the cluster) carries.
fn default_setup_at(at: chrono::DateTime<chrono::Utc>) -> trustkeep::checks::CheckOptions {
    use trustkeep::check_id::CheckId;
    let mut opts = trustkeep::checks::CheckOptions::at(at);
    opts.accept = vec![CheckId::SetupGeneratedRoot, CheckId::SetupRootKeyInCluster];
    opts
}
