//! `trustkeep pki`: rebuilding trust that was not saved (issue 20). For each of the seed's
//! architectures × placements, what `pki init` makes passes `audit --strict` and the audit
//! names that design; no root key reaches a cluster outside the management-cluster placement;
//! openssl reads the seed's extensions in the certificates; Go (the runtime of Gloo Mesh and
//! Istio) completes the relay's mutual TLS handshake, accepts each `cacerts` as istiod does and
//! federates workloads across clusters; a lost server certificate and a lost `cacerts` are
//! issued again from the birth archive with the roots unchanged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use trustkeep::secret::SecretRecord;

use crate::util::{self, cert_or_key, json, tk, Made, Work, CLUSTERS};

const ARCHITECTURES: [&str; 3] = [
    "shared-root-shared-intermediate",
    "shared-root-separate-intermediates",
    "separate-roots",
];
const PLACEMENTS: [&str; 3] = ["management-cluster", "hybrid", "external"];

impl Made {
    fn demo(&self) -> bool {
        self.placement == "management-cluster"
    }

    /// `cluster`'s birth archive exported (0600 files) under `export-<cluster>/`.
    fn export(&self, cluster: &str) -> PathBuf {
        let dir = self.w.path(&format!("export-{cluster}"));
        if !dir.exists() {
            let birth = self.birth(cluster);
            let d = dir.to_str().unwrap().to_string();
            let r = self.w.with_id("export", &birth, &["--dir", &d]);
            assert_eq!(r.code, 0, "{r:?}");
        }
        dir
    }

    /// A data key of a secret of `cluster`'s birth archive, as a file.
    fn file(&self, cluster: &str, secret: &str, key: &str) -> String {
        let p = self.export(cluster).join("secrets").join(secret).join(key);
        assert!(p.exists(), "{p:?}");
        p.to_str().unwrap().to_string()
    }

    /// The private keys of the roots, from the management cluster's offline CA material.
    fn root_keys(&self) -> Vec<Vec<u8>> {
        let dir = self.export("mgmt").join("secrets/trustkeep-offline");
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .ends_with("root-ca")
            })
            .map(|p| std::fs::read(p.join("tls.key")).unwrap())
            .collect()
    }
}

/// Every design: `audit --strict` passes on what `pki init` wrote and names the design (the
/// management-cluster placement warns of its root keys, as for every demo setup, and passes
/// with them accepted); no root key is in any cluster's manifest outside that placement, and
/// in the external one no CA key at all is in the management cluster; the birth archives
/// verify together; each cluster's profile is beside its archive.
#[test]
fn every_design_passes_the_strict_audit_that_names_it() {
    let started = std::time::Instant::now();
    for a in ARCHITECTURES {
        for p in PLACEMENTS {
            let m = Made::init(a, p, &[]);
            let accept: &[&str] = match m.demo() {
                true => &["--accept", "setup.root-key-in-cluster"],
                false => &[],
            };
            let r = m.audit(accept);
            assert_eq!(r.code, 0, "{a} {p}: {r:?}");
            let v = json(&r);
            assert_eq!(v["setup"]["architecture"], a, "{a} {p}");
            assert_eq!(v["setup"]["placement"], p, "{a} {p}");
            assert_eq!(
                (v["errors"].as_u64(), v["warnings"].as_u64()),
                (Some(0), Some(0))
            );
            let mode = if p == "external" {
                "mtls-byo"
            } else {
                "mtls-generated"
            };
            assert_eq!(v["setup"]["relay_mode"], mode, "{a} {p}");
            if m.demo() {
                let r = m.audit(&[]);
                assert_eq!(
                    r.code, 1,
                    "the demo placement fails --strict unless accepted"
                );
                assert!(
                    r.stdout.contains("setup.root-key-in-cluster"),
                    "{}",
                    r.stdout
                );
            }
            if p == "external" {
                assert_eq!(
                    v["setup"]["ca_keys_in_management_cluster"],
                    Value::Array(vec![])
                );
            }
            let roots = m.root_keys();
            assert_eq!(roots.len(), if a == "separate-roots" { 2 } else { 1 });
            let in_clusters: Vec<Vec<u8>> = CLUSTERS
                .iter()
                .flat_map(|c| m.secrets(c))
                .flat_map(|s| s.data.into_values().map(|v| v.expose().to_vec()))
                .collect();
            for k in &roots {
                assert_eq!(
                    in_clusters.contains(k),
                    m.demo(),
                    "{a} {p}: a root key in a cluster"
                );
            }
            let birth = m.w.path("birth/");
            let mut args = vec!["--together", "--strict"];
            args.extend_from_slice(accept);
            let r = m.w.with_id("verify", &birth, &args);
            assert_eq!(r.code, 0, "{a} {p}: {r:?}");
            for c in CLUSTERS {
                let profile = m.w.path(&format!("birth/{c}.profile.yaml"));
                let text = std::fs::read_to_string(&profile).unwrap();
                assert!(text.contains("apiVersion: trustkeep.io/v1"), "{text}");
                m.birth(c);
            }
        }
    }
    eprintln!(
        "9 designs made, audited and verified in {:?}",
        started.elapsed()
    );
}

/// The external placement's profile says the signing CA, the relay root, the token and the
/// RootTrustPolicy are absent on purpose: without it the audit calls them missing.
#[test]
fn the_profile_says_what_is_absent_by_design() {
    let m = Made::init("separate-roots", "external", &[]);
    let profile = std::fs::read_to_string(m.w.path("birth/mgmt.profile.yaml")).unwrap();
    let p = trustkeep::profile::Profile::parse(&profile, "mgmt.profile.yaml").unwrap();
    use trustkeep::profile::ProfileRole as R;
    for role in [
        R::RelaySigning,
        R::RelayRoot,
        R::RelayIdentityToken,
        R::RootTrust,
    ] {
        assert!(p.absent_by_design(role), "{role}: {profile}");
    }
    assert_eq!(p.relay_mode.as_str(), "mtls-byo");
    let mut args = vec!["audit".to_string(), "--strict".into()];
    for c in CLUSTERS {
        args.push("--from".into());
        args.push(format!("{c}={}", m.cluster_file(c).display()));
    }
    let r = tk(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout
            .contains("management cluster has no secret gloo-mesh/relay-tls-signing-secret"),
        "{}",
        r.stdout
    );
}

/// A new setup never lands on an old one: a second `pki init` into the same manifests
/// directory is refused before anything is written (no second set of birth archives).
#[test]
fn a_new_setup_is_written_whole_or_not_at_all() {
    let m = Made::init("shared-root-separate-intermediates", "hybrid", &[]);
    let (again, dir, r) = (m.w.path("birth2"), m.w.path("m"), util::recipient());
    let run = tk(&[
        "pki",
        "init",
        "--architecture",
        "separate-roots",
        "--placement",
        "external",
        "--management",
        "mgmt",
        "--workload",
        "cluster-1",
        "-r",
        &r,
        "-o",
        again.to_str().unwrap(),
        "--to-manifests",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("m/mgmt already exists"),
        "{}",
        run.stderr
    );
    assert!(!again.exists(), "no birth archive was written");
    // A dry run writes nothing at all.
    let dry = m.w.path("dry");
    let run = tk(&[
        "pki",
        "init",
        "--architecture",
        "separate-roots",
        "--placement",
        "external",
        "--management",
        "mgmt",
        "--workload",
        "c1",
        "-r",
        &r,
        "-o",
        dry.to_str().unwrap(),
        "--dry-run",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("dry run: nothing written"),
        "{}",
        run.stdout
    );
    assert!(!dry.exists());
}

/// The offline CA material of a birth archive goes nowhere unless named: a restore of the
/// management cluster's birth archive leaves it out and says so; `--only` names one.
#[test]
fn offline_ca_material_is_restored_only_by_name() {
    let m = Made::init("separate-roots", "external", &[]);
    let birth = m.birth("mgmt");
    let out = m.w.path("restored");
    let o = out.to_str().unwrap().to_string();
    let r = m.w.with_id("restore", &birth, &["--to-manifests", &o]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("offline CA material"), "{}", r.stdout);
    assert!(out.join("gloo-mesh/relay-server-tls-secret.yaml").exists());
    assert!(!out.join("trustkeep-offline").exists());
    let out2 = m.w.path("restored-root");
    let o2 = out2.to_str().unwrap().to_string();
    let only = [
        "--to-manifests",
        &o2,
        "--only",
        "trustkeep-offline/relay-root-ca",
    ];
    let r = m.w.with_id("restore", &birth, &only);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(out2.join("trustkeep-offline/relay-root-ca.yaml").exists());
}

/// `pki reissue` after a loss: the relay server's secret and cluster-1's `cacerts` deleted,
/// both are issued again from the birth archives: new keys and serials, the same subjects,
/// names and issuers, the roots unchanged, and the audit passes again. An agent certificate
/// issued without its old certificate gets the profile's subject and name.
#[test]
fn reissue_brings_lost_certificates_back_under_unchanged_roots() {
    for (a, p) in [
        ("separate-roots", "external"),
        ("shared-root-shared-intermediate", "hybrid"),
    ] {
        let m = Made::init(a, p, &[]);
        let before = reissue_lost(&m);
        for (what, old, new) in before {
            assert_eq!(old.subject, new.subject, "{a} {p} {what}");
            assert_eq!(old.issuer, new.issuer, "{a} {p} {what}");
            assert_eq!(old.dns, new.dns, "{a} {p} {what}");
            assert_ne!(old.serial, new.serial, "{a} {p} {what}");
        }
        let r = m.audit(&[]);
        assert_eq!(r.code, 0, "{a} {p}: {r:?}");
        assert_eq!(json(&r)["setup"]["placement"], p);
    }
}

/// What `openssl x509` says of a certificate that matters here.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    subject: String,
    issuer: String,
    serial: String,
    dns: String,
}

fn seen(cert_pem_file: &Path) -> Seen {
    let c = trustkeep::pki::parse_certs(&std::fs::read(cert_pem_file).unwrap()).unwrap();
    let x = c[0].x509();
    Seen {
        subject: x.subject().to_string(),
        issuer: x.issuer().to_string(),
        serial: x.raw_serial_as_string(),
        dns: (x.subject_alternative_name().ok().flatten())
            .map(|s| format!("{:?}", s.value.general_names))
            .unwrap_or_default(),
    }
}

/// The first certificate of data `key` of a manifest, written to a file.
fn cert_of_manifest(m: &Made, cluster: &str, rel: &str, key: &str) -> PathBuf {
    let text = std::fs::read_to_string(m.w.path("m").join(cluster).join(rel)).unwrap();
    let r = SecretRecord::from_yaml(&text, "default").unwrap();
    let out =
        m.w.path(&format!("{cluster}-{}-{key}", rel.replace('/', "_")));
    std::fs::write(&out, r.get(key).unwrap().expose()).unwrap();
    out
}

/// Deletes the server's and cluster-1's `cacerts` manifests, issues them again from the birth
/// archives, and returns (what, old, new) for each; checks the roots did not change.
fn reissue_lost(m: &Made) -> Vec<(&'static str, Seen, Seen)> {
    let server = "gloo-mesh/relay-server-tls-secret.yaml";
    let cacerts = "istio-system/cacerts.yaml";
    let old_server = seen(&cert_of_manifest(m, "mgmt", server, "tls.crt"));
    let old_ca = seen(&cert_of_manifest(m, "cluster-1", cacerts, "ca-cert.pem"));
    let old_root =
        std::fs::read(cert_of_manifest(m, "cluster-1", cacerts, "root-cert.pem")).unwrap();
    let old_relay_root = std::fs::read(cert_of_manifest(m, "mgmt", server, "ca.crt")).unwrap();
    std::fs::remove_file(m.w.path("m/mgmt").join(server)).unwrap();
    std::fs::remove_file(m.w.path("m/cluster-1").join(cacerts)).unwrap();
    let (mgmt, c1, dir) = (m.birth("mgmt"), m.birth("cluster-1"), m.w.path("m"));
    let d = dir.to_str().unwrap().to_string();
    let id = m.w.id();
    let run = |role: &str, cluster: &str, from: &[&Path]| {
        let mut args = vec![
            "pki",
            "reissue",
            role,
            "--cluster",
            cluster,
            "-i",
            id.to_str().unwrap(),
            "--to-manifests",
            &d,
        ];
        for f in from {
            args.extend(["--from", f.to_str().unwrap()]);
        }
        let r = tk(&args);
        assert_eq!(r.code, 0, "reissue {role}: {r:?}");
        r
    };
    let r = run("relay-server", "mgmt", &[&mgmt]);
    assert!(
        r.stdout
            .contains("rollout restart deployment/gloo-mesh-mgmt-server"),
        "{}",
        r.stdout
    );
    let r = run("istio-cacerts", "cluster-1", &[&mgmt, &c1]);
    assert!(
        r.stdout
            .contains("deployment istio-system/istiod in cluster cluster-1"),
        "{}",
        r.stdout
    );
    let new_server = seen(&cert_of_manifest(m, "mgmt", server, "tls.crt"));
    let new_ca = seen(&cert_of_manifest(m, "cluster-1", cacerts, "ca-cert.pem"));
    let new_root =
        std::fs::read(cert_of_manifest(m, "cluster-1", cacerts, "root-cert.pem")).unwrap();
    let new_relay_root = std::fs::read(cert_of_manifest(m, "mgmt", server, "ca.crt")).unwrap();
    assert_eq!(old_root, new_root, "the Istio root is unchanged");
    assert_eq!(
        old_relay_root, new_relay_root,
        "the relay root is unchanged"
    );
    // Without the old certificate (only the management cluster's archive), the agent's
    // certificate gets the profile's name: the cluster's.
    let client = "gloo-mesh/relay-client-tls-secret.yaml";
    let old_client = seen(&cert_of_manifest(m, "cluster-2", client, "tls.crt"));
    std::fs::remove_file(m.w.path("m/cluster-2").join(client)).unwrap();
    let r = run("relay-client", "cluster-2", &[&mgmt]);
    assert!(
        r.stdout.contains("no archive held the old certificate"),
        "{}",
        r.stdout
    );
    let new_client = seen(&cert_of_manifest(m, "cluster-2", client, "tls.crt"));
    vec![
        ("relay server", old_server, new_server),
        ("cluster-1 intermediate", old_ca, new_ca),
        ("cluster-2 agent", old_client, new_client),
    ]
}

/// A CA is needed: the workload's own archive holds none, and the error says which to pass.
#[test]
fn reissue_says_which_archive_holds_the_ca() {
    let m = Made::init("separate-roots", "external", &[]);
    let c1 = m.birth("cluster-1");
    let out = m.w.path("out");
    let o = out.to_str().unwrap().to_string();
    let id = m.w.id();
    let r = tk(&[
        "pki",
        "reissue",
        "relay-client",
        "--cluster",
        "cluster-1",
        "--from",
        c1.to_str().unwrap(),
        "-i",
        id.to_str().unwrap(),
        "--to-manifests",
        &o,
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("was issued by O=Gloo Mesh, CN=Relay Signing CA, and no archive given holds that CA with its private key"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
}

/// RSA keys, as the seed's `default_bits = 4096` asks (2048 here, for time): every key is
/// RSA, and the setup passes the audit.
#[test]
fn rsa_keys_are_made_with_the_rsa_crate() {
    let started = std::time::Instant::now();
    let m = Made::init(
        "shared-root-shared-intermediate",
        "hybrid",
        &["--key-type", "rsa2048"],
    );
    eprintln!(
        "a setup of RSA 2048 keys (3 clusters) made in {:?}",
        started.elapsed()
    );
    let r = m.audit(&[]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r);
    let keys: Vec<&str> = v["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert!(
        !keys.is_empty() && keys.iter().all(|k| *k == "RSA 2048"),
        "{keys:?}"
    );
}

/// The seed document's openssl configs ("Required certificates"), with its line breaks put
/// back and its `${CLUSTER_NAME}"` typo mended, and the section each is applied with.
const SEED_CONFIGS: [(&str, &str, &str); 5] = [
    ("relay server", "v3_req", "[req]\nreq_extensions = v3_req\ndistinguished_name = req_distinguished_name\n[req_distinguished_name]\n[ v3_req ]\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature, keyEncipherment\nextendedKeyUsage = clientAuth, serverAuth\nsubjectAltName = @alt_names\n[alt_names]\nDNS = *.gloo-mesh\n"),
    ("agent signing CA", "v3_req", "[req]\nreq_extensions = v3_req\ndistinguished_name = req_distinguished_name\n[req_distinguished_name]\n[ v3_req ]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = digitalSignature, keyEncipherment, keyCertSign\nextendedKeyUsage = clientAuth, serverAuth\nsubjectAltName = @alt_names\n[alt_names]\nDNS = *.gloo-mesh\n"),
    ("agent client", "v3_req", "[req]\nreq_extensions = v3_req\ndistinguished_name = req_distinguished_name\n[req_distinguished_name]\n[ v3_req ]\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature, keyEncipherment\nextendedKeyUsage = clientAuth, serverAuth\nsubjectAltName = @alt_names\n[alt_names]\nDNS = cluster-1\n"),
    ("Istio root", "req_ext", "[ req ]\nencrypt_key = no\nprompt = no\nutf8 = yes\ndefault_md = sha256\ndefault_bits = 4096\nreq_extensions = req_ext\nx509_extensions = req_ext\ndistinguished_name = req_dn\n[ req_ext ]\nsubjectKeyIdentifier = hash\nbasicConstraints = critical, CA:true\nkeyUsage = critical, digitalSignature, nonRepudiation, keyEncipherment, keyCertSign\n[ req_dn ]\nO = Istio\nCN = Root CA\n"),
    ("Istio cluster intermediate", "req_ext", "[ req ]\nencrypt_key = no\nprompt = no\nutf8 = yes\ndefault_md = sha256\ndefault_bits = 4096\nreq_extensions = req_ext\nx509_extensions = req_ext\ndistinguished_name = req_dn\n[ req_ext ]\nsubjectKeyIdentifier = hash\nbasicConstraints = critical, CA:true, pathlen:0\nkeyUsage = critical, digitalSignature, nonRepudiation, keyEncipherment, keyCertSign\nsubjectAltName=@san\n[ san ]\nDNS.1 = istiod.istio-system.svc\n[ req_dn ]\nO = Istio\nCN = Intermediate CA\nL = cluster-1\n"),
];

/// Where trustkeep departs from the configs, on purpose (docs/operations.md): rcgen marks
/// basicConstraints and keyUsage critical on every certificate.
const CRITICAL_DEPARTURES: [(&str, &str); 5] = [
    ("relay server", "Basic Constraints"),
    ("relay server", "Key Usage"),
    ("agent signing CA", "Key Usage"),
    ("agent client", "Basic Constraints"),
    ("agent client", "Key Usage"),
];

/// `openssl x509 -text`'s extensions: name → (critical, value).
fn extensions(text: &str) -> BTreeMap<String, (bool, String)> {
    let mut out: BTreeMap<String, (bool, String)> = BTreeMap::new();
    let mut current: Option<String> = None;
    let block = text.split("X509v3 extensions:").nth(1).unwrap_or("");
    for line in block.lines() {
        let t = line.trim();
        if t.starts_with("Signature Algorithm") {
            break;
        }
        if let Some(h) = t.strip_prefix("X509v3 ") {
            let (name, rest) = h.split_once(':').unwrap();
            out.insert(name.to_string(), (rest.contains("critical"), String::new()));
            current = Some(name.to_string());
        } else if let Some(c) = &current {
            out.get_mut(c).unwrap().1.push_str(t);
        }
    }
    out
}

fn openssl_text(cert: &str) -> String {
    let r = util::ext("openssl", &["x509", "-in", cert, "-noout", "-text"]);
    assert_eq!(r.code, 0, "{r:?}");
    r.stdout
}

/// openssl reads in what `pki init` made the extensions it reads in certificates made by
/// openssl itself from the seed's configs: basicConstraints, keyUsage, extendedKeyUsage and
/// subjectAltName the same, criticality the same but for the documented departures; a
/// subjectKeyIdentifier on each CA; the Istio subjects the configs' `req_dn`.
#[test]
#[ignore = "needs openssl"]
fn openssl_reads_the_seeds_extensions() {
    let m = Made::init("separate-roots", "hybrid", &[]);
    let ours = [
        m.file("mgmt", "gloo-mesh/relay-server-tls-secret", "tls.crt"),
        m.file("mgmt", "gloo-mesh/relay-tls-signing-secret", "tls.crt"),
        m.file("cluster-1", "gloo-mesh/relay-client-tls-secret", "tls.crt"),
        m.file("cluster-1", "istio-system/cacerts", "root-cert.pem"),
        m.file("cluster-1", "istio-system/cacerts", "ca-cert.pem"),
    ];
    for ((what, section, conf), ours) in SEED_CONFIGS.iter().zip(ours) {
        let conf_file = m.w.path(&format!("{}.conf", what.replace(' ', "-")));
        std::fs::write(&conf_file, conf).unwrap();
        let (key, cert) = (
            m.w.path("seed-key.pem"),
            m.w.path(&format!("{}.pem", what.replace(' ', "-"))),
        );
        let mut args = vec![
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            key.to_str().unwrap(),
            "-config",
            conf_file.to_str().unwrap(),
            "-extensions",
            section,
            "-days",
            "1",
            "-out",
            cert.to_str().unwrap(),
        ];
        if *section == "v3_req" {
            args.extend(["-subj", "/CN=seed"]);
        }
        let r = util::ext("openssl", &args);
        assert_eq!(r.code, 0, "{what}: {r:?}");
        let (seed_text, our_text) = (openssl_text(cert.to_str().unwrap()), openssl_text(&ours));
        let (seed, mine) = (extensions(&seed_text), extensions(&our_text));
        for name in [
            "Basic Constraints",
            "Key Usage",
            "Extended Key Usage",
            "Subject Alternative Name",
        ] {
            assert_eq!(
                seed.get(name).map(|e| &e.1),
                mine.get(name).map(|e| &e.1),
                "{what}: {name}"
            );
            if let (Some(s), Some(o)) = (seed.get(name), mine.get(name)) {
                let departs = CRITICAL_DEPARTURES.contains(&(*what, name));
                assert_eq!(
                    s.0 != o.0,
                    departs,
                    "{what}: {name} critical: seed {}, ours {}",
                    s.0,
                    o.0
                );
            }
        }
        if seed["Basic Constraints"].1.contains("CA:TRUE") {
            assert!(mine.contains_key("Subject Key Identifier"), "{what}");
        }
        if *section == "req_ext" {
            let subject = |t: &str| {
                t.lines()
                    .find(|l| l.trim().starts_with("Subject:"))
                    .unwrap()
                    .trim()
                    .to_string()
            };
            assert_eq!(subject(&seed_text), subject(&our_text), "{what}");
        }
    }
}

/// Go, as Gloo Mesh and Istio run it, for every design ([`util::go_runs_the_setup`]): each
/// agent and the relay server complete a mutual TLS handshake, the agent dialling
/// `gloo-mesh-mgmt-server.gloo-mesh`; istiod's check accepts each cluster's `cacerts`; a
/// workload certificate issued under one cluster's intermediate verifies against the other's
/// root, both ways. After the server certificate and cluster-1's `cacerts` are issued again, the old
/// agent certificate still handshakes with the new server, and federation still holds.
#[test]
#[ignore = "needs go"]
fn go_runs_the_relay_and_istio_on_every_design() {
    let oracle = crate::x509::go_oracle().to_str().unwrap().to_string();
    for a in ARCHITECTURES {
        for p in PLACEMENTS {
            let m = Made::init(a, p, &[]);
            util::go_runs_the_setup(&m, &format!("{a} {p}"));
            if (a, p) == ("shared-root-separate-intermediates", "external") {
                reissue_lost(&m);
                util::go_runs_the_setup(&m, &format!("{a} {p}, after reissue"));
                // The oracle can fail: an agent dialling another name is refused.
                let dir = m.w.path("m");
                let s = |c: &str, rel: &str, k: &str| cert_or_key(&dir, c, rel, k, &m.w);
                let (server, agent) = (
                    "gloo-mesh/relay-server-tls-secret.yaml",
                    "gloo-mesh/relay-client-tls-secret.yaml",
                );
                let r = util::ext(
                    &oracle,
                    &[
                        "tls",
                        &s("mgmt", server, "tls.crt"),
                        &s("mgmt", server, "tls.key"),
                        &s("mgmt", server, "ca.crt"),
                        &s("cluster-1", agent, "tls.crt"),
                        &s("cluster-1", agent, "tls.key"),
                        &s("mgmt", server, "ca.crt"),
                        "gloo-mesh-mgmt-server.other",
                    ],
                );
                assert!(
                    r.stdout.contains("not gloo-mesh-mgmt-server.other"),
                    "{r:?}"
                );
            }
        }
    }
}

/// A Deployment `namespace/name` for the sandbox.
fn deployment(namespace: &str, name: &str) -> Value {
    serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": name, "image": "example"}]}}},
    })
}

/// When the sandbox's Deployment `namespace/name` was last restarted.
fn restarted_at(live: &crate::live::Live, namespace: &str, name: &str) -> Option<String> {
    live.sb()
        .objects()
        .into_iter()
        .find(|o| {
            o["kind"] == "Deployment"
                && o["metadata"]["name"] == name
                && o["metadata"]["namespace"] == namespace
        })
        .and_then(|o| {
            o["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
                .as_str()
                .map(str::to_string)
        })
}

/// `pki init --context --restart` against live clusters (the sandbox): the management
/// cluster's secrets and RootTrustPolicy are created and gloo-mesh-mgmt-server restarted; a
/// second setup over it is refused whole (nothing written,
/// no birth archive); after the server secret is lost, `pki reissue --restart` creates it again
/// and restarts gloo-mesh-mgmt-server; `restore --restart` of a workload's birth archive
/// restarts its agent, then istiod, and nothing when nothing was written.
#[test]
fn live_clusters_get_a_new_setup_and_their_readers_restarted() {
    let w = Work::new();
    let mgmt = crate::live::Live::start(&w, &[], &[], false);
    mgmt.sb()
        .put(deployment("gloo-mesh", "gloo-mesh-mgmt-server"))
        .unwrap();
    let (birth, r, kc) = (w.path("birth"), util::recipient(), mgmt.kc());
    let init = |out: &Path| {
        tk(&[
            "pki",
            "init",
            "--architecture",
            "shared-root-separate-intermediates",
            "--placement",
            "hybrid",
            "--management",
            "mgmt",
            "--workload",
            "cluster-1",
            "-r",
            &r,
            "-o",
            out.to_str().unwrap(),
            "--kubeconfig",
            &kc,
            "--context",
            &format!("mgmt={}", crate::live::CONTEXT),
            "--restart",
        ])
    };
    let run = init(&birth);
    assert_eq!(run.code, 0, "{run:?}");
    // What reads the new secrets is restarted (--restart).
    assert!(
        run.stdout
            .contains("restart deployment gloo-mesh/gloo-mesh-mgmt-server"),
        "{}",
        run.stdout
    );
    assert!(restarted_at(&mgmt, "gloo-mesh", "gloo-mesh-mgmt-server").is_some());
    mgmt.sb()
        .put(deployment("gloo-mesh", "gloo-mesh-mgmt-server"))
        .unwrap();
    assert!(restarted_at(&mgmt, "gloo-mesh", "gloo-mesh-mgmt-server").is_none());
    for name in [
        "relay-server-tls-secret",
        "relay-tls-signing-secret",
        "root-trust.root-trust-policy",
    ] {
        assert!(mgmt.sb().secret("gloo-mesh", name).is_some(), "{name}");
    }
    assert!(mgmt.sb().secret("trustkeep-offline", "root-ca").is_none());
    assert!(
        run.stdout.contains("gloo-mesh/root-trust-policy"),
        "{}",
        run.stdout
    );
    mgmt.sb().reset_requests();
    let again = w.path("birth-again");
    let run = init(&again);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("REFUSED"), "{}", run.stdout);
    assert!(mgmt.writes().is_empty(), "{:?}", mgmt.writes());
    assert!(!again.exists(), "no birth archive for a refused setup");
    // The server secret lost; issued again, the management server restarted.
    assert!(mgmt
        .sb()
        .remove("secrets", "gloo-mesh", "relay-server-tls-secret"));
    let m = Made {
        w,
        placement: "hybrid",
    };
    let archive = m.birth("mgmt");
    let id = m.w.id();
    let run = tk(&[
        "pki",
        "reissue",
        "relay-server",
        "--cluster",
        "mgmt",
        "--from",
        archive.to_str().unwrap(),
        "-i",
        id.to_str().unwrap(),
        "--kubeconfig",
        &kc,
        "--context",
        crate::live::CONTEXT,
        "--restart",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(mgmt
        .sb()
        .secret("gloo-mesh", "relay-server-tls-secret")
        .is_some());
    assert!(run.stdout.contains("restart deployment gloo-mesh/gloo-mesh-mgmt-server (reads gloo-mesh/relay-server-tls-secret): restarted"), "{}", run.stdout);
    assert!(restarted_at(&mgmt, "gloo-mesh", "gloo-mesh-mgmt-server").is_some());
    // A workload cluster restored from its birth archive: agent first, then istiod.
    let w2 = Work::new();
    let wl = crate::live::Live::start(&w2, &[], &[], false);
    for (ns, d) in [("istio-system", "istiod"), ("gloo-mesh", "gloo-mesh-agent")] {
        wl.sb().put(deployment(ns, d)).unwrap();
    }
    let c1 = m.birth("cluster-1");
    let restore = |extra: &[&str]| {
        let mut a = vec!["--include-managed", "--restart"];
        a.extend_from_slice(extra);
        wl.restore(&m.w, &c1, &a)
    };
    let run = restore(&["--dry-run"]);
    assert!(
        run.stdout
            .contains("to load gloo-mesh/relay-client-tls-secret"),
        "{}",
        run.stdout
    );
    assert!(
        restarted_at(&wl, "istio-system", "istiod").is_none(),
        "a dry run restarts nothing"
    );
    wl.sb().reset_requests();
    let run = restore(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    let patches: Vec<String> = wl
        .writes()
        .into_iter()
        .filter(|w| w.starts_with("patch"))
        .collect();
    assert_eq!(patches.len(), 2, "{patches:?}");
    assert!(
        patches[0].contains("gloo-mesh-agent") && patches[1].contains("istiod"),
        "{patches:?}"
    );
    wl.sb().reset_requests();
    let run = restore(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        wl.writes().is_empty(),
        "nothing written, nothing restarted: {:?}",
        wl.writes()
    );
}

/// The sandbox serves and records Deployment patches as real kubectl makes them: `kubectl
/// rollout restart` and trustkeep's `--restart` leave the same trace (a PATCH of the
/// Deployment setting the pod template's `kubectl.kubernetes.io/restartedAt`).
#[test]
#[ignore = "needs kubectl"]
fn a_restart_is_what_kubectl_rollout_restart_does() {
    let w = Work::new();
    let live = crate::live::Live::start(&w, &[], &[], false);
    live.sb()
        .put(deployment("gloo-mesh", "gloo-mesh-mgmt-server"))
        .unwrap();
    let r = live.kubectl(&[
        "-n",
        "gloo-mesh",
        "rollout",
        "restart",
        "deployment/gloo-mesh-mgmt-server",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let by_kubectl = restarted_at(&live, "gloo-mesh", "gloo-mesh-mgmt-server");
    assert!(by_kubectl.is_some());
    let kubectl_trace: Vec<_> = live
        .sb()
        .requests()
        .into_iter()
        .filter(|q| q.verb == "patch")
        .map(|q| (q.method, q.resource, q.path))
        .collect();
    assert_eq!(kubectl_trace.len(), 1, "{kubectl_trace:?}");
    live.sb().reset_requests();
    // trustkeep: the server secret restored from a birth archive, with --restart.
    let m = Made::init("separate-roots", "hybrid", &[]);
    let archive = m.birth("mgmt");
    let run = live.restore(
        &m.w,
        &archive,
        &["--only", "relay-server-tls-secret", "--restart"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let trace: Vec<_> = live
        .sb()
        .requests()
        .into_iter()
        .filter(|q| q.verb == "patch")
        .map(|q| (q.method, q.resource, q.path))
        .collect();
    assert_eq!(trace, kubectl_trace);
    let by_trustkeep = restarted_at(&live, "gloo-mesh", "gloo-mesh-mgmt-server");
    assert!(by_trustkeep.is_some() && by_trustkeep.unwrap().ends_with('Z'));
}
