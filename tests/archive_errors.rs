//! One fixture per failure mode of archive reading, driven by tables: each case damages a
//! genuine archive in one way and asserts the exact error kind, and that the CLI says so in
//! one line naming the archive, with exit status 2.

use std::io::Read;

use trustkeep::archive::ArchiveError;
use trustkeep::archive::{self, crypto, Identities};
use trustkeep::select::{self, SelectOptions};
use trustkeep::snapshot::Snapshot;
use trustkeep::source;
use trustkeep::Error;

use crate::util::{self, fixture, tk, Work};

/// One tar entry, written raw so that hostile names and types can be made.
#[derive(Clone)]
struct Raw {
    name: Vec<u8>,
    data: Vec<u8>,
    kind: tar::EntryType,
}

fn created() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(util::AT)
        .unwrap()
        .into()
}

/// The entries of a genuine archive of the sample mgmt cluster.
fn genuine() -> Vec<Raw> {
    let inv =
        source::read_file(fixture("sample/mgmt.yaml").to_str().unwrap(), "gloo-mesh").unwrap();
    let sel = select::select(&inv, &SelectOptions::default());
    let snap = Snapshot::new(&inv, sel, "mgmt", created());
    let (_, gz) = archive::build(&snap).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
    tar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            Raw {
                name: e.path_bytes().into_owned(),
                data,
                kind: e.header().entry_type(),
            }
        })
        .collect()
}

fn pack(entries: &[Raw]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut b = tar::Builder::new(gz);
    for e in entries {
        let mut h = tar::Header::new_ustar();
        let name = &mut h.as_old_mut().name;
        name[..e.name.len()].copy_from_slice(&e.name);
        h.set_size(e.data.len() as u64);
        h.set_mode(0o600);
        h.set_entry_type(e.kind);
        if e.kind.is_symlink() || e.kind.is_hard_link() {
            h.as_old_mut().linkname[..6].copy_from_slice(b"target");
        }
        h.set_cksum();
        b.append(&h, &e.data[..]).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

fn encrypt(plain: &[u8]) -> Vec<u8> {
    let enc =
        archive::Encryption::Recipients(vec![crypto::parse_recipient(&util::recipient()).unwrap()]);
    crypto::encrypt(plain, &enc, false).unwrap()
}

fn ids(w: &Work) -> Identities {
    let mut ids = Identities::default();
    crypto::load_identity(&w.id(), &mut ids).unwrap();
    ids
}

fn open(w: &Work, cipher: &[u8]) -> Result<archive::Opened, Error> {
    archive::open(cipher, &ids(w), &|| None, "case.age")
}

/// Rewrites the manifest JSON.
fn edit_manifest(e: &mut [Raw], f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(&e[0].data).unwrap();
    f(&mut v);
    e[0].data = serde_json::to_vec(&v).unwrap();
}

fn sha(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

/// Rewrites a secret's `secret.yaml` and updates the manifest so only the content is wrong.
fn rewrite_yaml(e: &mut [Raw], secret: &str, f: impl Fn(String) -> String) {
    let i = index_of(e, &format!("{secret}/secret.yaml"));
    e[i].data = f(String::from_utf8(e[i].data.clone()).unwrap()).into_bytes();
    let (size, digest) = (e[i].data.len(), sha(&e[i].data));
    edit_manifest(e, |v| {
        for s in v["secrets"].as_array_mut().unwrap() {
            if s["name"] == secret {
                s["manifest"]["size"] = size.into();
                s["manifest"]["sha256"] = digest.clone().into();
            }
        }
    });
}

/// Rewrites the one policy's YAML and updates the manifest so only the content is wrong.
fn rewrite_policy(e: &mut [Raw], f: impl Fn(String) -> String) {
    let i = index_of(e, "policies/gloo-mesh/root-trust-policy.yaml");
    e[i].data = f(String::from_utf8(e[i].data.clone()).unwrap()).into_bytes();
    let (size, digest) = (e[i].data.len(), sha(&e[i].data));
    edit_manifest(e, |v| {
        v["policies"][0]["size"] = size.into();
        v["policies"][0]["sha256"] = digest.into();
    });
}

fn index_of(e: &[Raw], suffix: &str) -> usize {
    e.iter()
        .position(|r| r.name.ends_with(suffix.as_bytes()))
        .unwrap_or_else(|| panic!("no entry {suffix}"))
}

#[test]
fn the_genuine_archive_opens() {
    let w = Work::new();
    let opened = open(&w, &encrypt(&pack(&genuine()))).unwrap();
    assert_eq!(opened.snapshot.secrets.len(), 5);
    assert_eq!(opened.manifest.cluster.name, "mgmt");
    // The sample's RootTrustPolicy travels whole, after the secrets, in a version 2 archive.
    assert_eq!(opened.manifest.version, 2);
    let names: Vec<&str> = opened.files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        names.last(),
        Some(&"policies/gloo-mesh/root-trust-policy.yaml")
    );
    let [p] = opened.snapshot.policies.as_slice() else {
        panic!("{:?}", opened.snapshot.policies)
    };
    assert_eq!(p.id(), "gloo-mesh/root-trust-policy");
    assert_eq!(
        p.spec["config"]["mgmtServerCa"],
        serde_json::json!({"generated": {}})
    );
}

/// A `secret.yaml` other than the one this writer renders (another writer's layout, a
/// comment, keys in another order, flow style) opens when it holds the same Secret: only
/// the writer's own rendering skips the parse.
#[test]
fn a_secret_yaml_laid_out_otherwise_opens_when_it_holds_the_same_secret() {
    let w = Work::new();
    let mut e = genuine();
    rewrite_yaml(&mut e, "relay-server-tls-secret", |y| {
        let doc: serde_json::Value = serde_saphyr::from_str(&y).unwrap();
        format!(
            "# written by another tool\n{}\n",
            serde_json::to_string(&doc).unwrap()
        )
    });
    let opened = open(&w, &encrypt(&pack(&e))).unwrap();
    let plain = open(&w, &encrypt(&pack(&genuine()))).unwrap();
    assert_eq!(opened.snapshot.secrets.len(), 5);
    for (a, b) in opened.snapshot.secrets.iter().zip(&plain.snapshot.secrets) {
        assert!(a.record.identical(&b.record), "{}", a.record.id);
    }
}

/// A version 1 archive written before policies were archived (a committed fixture: the v1
/// writer's archive of the sample cluster) still opens, with its secrets and no policies.
#[test]
fn a_committed_version_1_archive_still_opens() {
    let w = Work::new();
    let cipher = std::fs::read(util::fixture("archives/v1-mgmt.tar.gz.age")).unwrap();
    let opened = open(&w, &cipher).unwrap();
    assert_eq!(opened.manifest.version, 1);
    assert_eq!(opened.snapshot.secrets.len(), 5);
    assert!(opened.snapshot.policies.is_empty());
    assert!(opened.manifest.policies.is_empty());
}

#[test]
fn damaged_tar_contents_are_refused_with_the_right_error() {
    type Case = (&'static str, fn(&mut Vec<Raw>), &'static str);
    let cases: &[Case] = &[
        ("tampered entry", |e| {
            let i = index_of(e, "relay-server-tls-secret/tls.key");
            e[i].data[40] ^= 1;
        }, "entry secrets/gloo-mesh/relay-server-tls-secret/tls.key: altered"),
        ("missing entry", |e| {
            let i = index_of(e, "relay-server-tls-secret/ca.crt");
            e.remove(i);
        }, "entry secrets/gloo-mesh/relay-server-tls-secret/ca.crt: is listed in the manifest but missing"),
        ("extra entry", |e| e.push(Raw { name: b"secrets/gloo-mesh/x/y".to_vec(), data: b"x".to_vec(), kind: tar::EntryType::Regular }),
            "entry secrets/gloo-mesh/x/y: is not listed in the manifest"),
        ("absolute path", |e| e.push(Raw { name: b"/etc/passwd".to_vec(), data: b"x".to_vec(), kind: tar::EntryType::Regular }),
            "entry /etc/passwd: absolute path"),
        ("dot-dot path", |e| e.push(Raw { name: b"secrets/../../evil".to_vec(), data: b"x".to_vec(), kind: tar::EntryType::Regular }),
            "entry secrets/../../evil: absolute path or `..`"),
        ("symlink", |e| e.push(Raw { name: b"secrets/link".to_vec(), data: vec![], kind: tar::EntryType::Symlink }),
            "entry secrets/link: is a Symlink entry, not a regular file"),
        ("hard link", |e| e.push(Raw { name: b"secrets/hard".to_vec(), data: vec![], kind: tar::EntryType::Link }),
            "entry secrets/hard: is a Link entry, not a regular file"),
        ("oversize entry", |e| e.push(Raw { name: b"secrets/big".to_vec(), data: vec![0; 5 * 1024 * 1024], kind: tar::EntryType::Regular }),
            "entry secrets/big: is 5242880 bytes, over the limit"),
        ("manifest not first", |e| e.swap(0, 1), "the first entry must be manifest.json"),
        ("not a trustkeep manifest", |e| edit_manifest(e, |v| v["format"] = "other".into()),
            "this is not a trustkeep archive"),
        ("unknown version", |e| edit_manifest(e, |v| v["version"] = 3.into()),
            "unknown archive format version 3 (this trustkeep reads versions 1 to 2)"),
        ("a version 1 manifest listing policies", |e| edit_manifest(e, |v| v["version"] = 1.into()),
            "entry manifest.json: lists policies, which a version 1 archive cannot carry"),
        ("tampered policy", |e| {
            let i = index_of(e, "policies/gloo-mesh/root-trust-policy.yaml");
            e[i].data[20] ^= 1;
        }, "entry policies/gloo-mesh/root-trust-policy.yaml: altered"),
        ("unlisted policy entry", |e| e.push(Raw { name: b"policies/gloo-mesh/extra.yaml".to_vec(), data: b"kind: RootTrustPolicy\n".to_vec(), kind: tar::EntryType::Regular }),
            "entry policies/gloo-mesh/extra.yaml: is not listed in the manifest"),
        ("missing policy entry", |e| {
            let i = index_of(e, "policies/gloo-mesh/root-trust-policy.yaml");
            e.remove(i);
        }, "entry policies/gloo-mesh/root-trust-policy.yaml: is listed in the manifest but missing"),
        ("policy over its size limit", |e| edit_manifest(e, |v| v["policies"][0]["size"] = (3u64 << 20).into()),
            "entry policies/gloo-mesh/root-trust-policy.yaml: is 3145728 bytes, over the limit of 2097152 for a policy"),
        ("policy at a secret's path", |e| edit_manifest(e, |v| v["policies"][0]["path"] = "secrets/gloo-mesh/relay-server-tls-secret/tls.key".into()),
            "entry secrets/gloo-mesh/relay-server-tls-secret/tls.key: unexpected path for roottrustpolicy gloo-mesh/root-trust-policy"),
        ("policy with a bad name", |e| edit_manifest(e, |v| v["policies"][0]["name"] = "../evil".into()),
            "entry manifest.json: roottrustpolicy gloo-mesh/../evil has an invalid name"),
        ("policy renamed inside its file", |e| rewrite_policy(e, |y| y.replace("name: root-trust-policy", "name: other")),
            "entry policies/gloo-mesh/root-trust-policy.yaml: names roottrustpolicy gloo-mesh/other, not gloo-mesh/root-trust-policy as the manifest lists"),
        ("policy with server fields", |e| rewrite_policy(e, |y| format!("{y}status: {{state: ACCEPTED}}\n")),
            "entry policies/gloo-mesh/root-trust-policy.yaml: is not a RootTrustPolicy as trustkeep writes it (unknown field `status`"),
        ("policy file with a second document", |e| rewrite_policy(e, |y| {
            format!("{y}---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: evil}}\n")
        }), "holds 2 documents; a policy file holds exactly one RootTrustPolicy"),
        ("policy of another kind", |e| rewrite_policy(e, |y| y.replace("kind: RootTrustPolicy", "kind: ClusterRoleBinding")),
            "is not a RootTrustPolicy of admin.gloo.solo.io"),
        ("secret.yaml disagrees", |e| {
            let i = index_of(e, "relay-server-tls-secret/secret.yaml");
            let text = String::from_utf8(e[i].data.clone()).unwrap().replace("kubernetes.io/tls", "Opaque");
            e[i].data = text.into_bytes();
            let (size, digest) = (e[i].data.len(), sha(&e[i].data));
            edit_manifest(e, |v| {
                for s in v["secrets"].as_array_mut().unwrap() {
                    if s["name"] == "relay-server-tls-secret" {
                        s["manifest"]["size"] = size.into();
                        s["manifest"]["sha256"] = digest.clone().into();
                    }
                }
            });
        }, "disagrees with the manifest and data files of secret gloo-mesh/relay-server-tls-secret"),
        ("empty tar", |e| e.clear(), "empty archive: no manifest.json"),
        ("secret.yaml with a second document", |e| rewrite_yaml(e, "relay-server-tls-secret", |y| {
            format!("{y}---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: evil}}\n")
        }), "holds 2 documents; a secret.yaml holds exactly one Secret"),
        ("secret.yaml with an unexpected field", |e| rewrite_yaml(e, "relay-server-tls-secret", |y| y.replace("metadata:\n", "metadata:\n  ownerReferences: []\n")),
            "has an unexpected field metadata.ownerReferences"),
        ("secret.yaml made immutable", |e| rewrite_yaml(e, "relay-server-tls-secret", |y| format!("{y}immutable: true\n")),
            "disagrees with the manifest and data files of secret gloo-mesh/relay-server-tls-secret"),
    ];
    let w = Work::new();
    for (name, mutate, expected) in cases {
        let mut e = genuine();
        mutate(&mut e);
        let err = match open(&w, &encrypt(&pack(&e))) {
            Ok(_) => panic!("case {name}: the damaged archive was accepted"),
            Err(err) => err,
        };
        let msg = err.to_string();
        assert!(
            msg.contains(expected),
            "case {name}: got {msg:?}, expected {expected:?}"
        );
        assert!(
            msg.starts_with("case.age"),
            "case {name}: error must name the archive: {msg}"
        );
        let kind_ok = match *name {
            "unknown version" => matches!(
                err,
                Error::Archive(ArchiveError::UnknownVersion { version: 3, .. })
            ),
            "empty tar" => matches!(err, Error::Archive(ArchiveError::Corrupt { .. })),
            _ => matches!(err, Error::Archive(ArchiveError::Entry { .. })),
        };
        assert!(kind_ok, "case {name}: wrong error kind {err:?}");
    }
}

#[test]
fn damaged_ciphertext_and_wrong_keys_are_refused() {
    let w = Work::new();
    let good = encrypt(&pack(&genuine()));
    type Case = (
        &'static str,
        Box<dyn Fn(&[u8]) -> Vec<u8>>,
        fn(&Error) -> bool,
    );
    let cases: Vec<Case> = vec![
        (
            "truncated",
            Box::new(|c: &[u8]| c[..c.len() - 200].to_vec()),
            |e| matches!(e, Error::Archive(ArchiveError::Corrupt { .. })),
        ),
        (
            "flipped byte in the payload",
            Box::new(|c: &[u8]| {
                let mut c = c.to_vec();
                let n = c.len();
                c[n - 500] ^= 0x40;
                c
            }),
            |e| matches!(e, Error::Archive(ArchiveError::Corrupt { .. })),
        ),
        (
            "flipped byte in the header",
            Box::new(|c: &[u8]| {
                let mut c = c.to_vec();
                c[60] ^= 0x01;
                c
            }),
            |e| {
                matches!(
                    e,
                    Error::Archive(ArchiveError::Corrupt { .. })
                        | Error::Archive(ArchiveError::NoMatchingIdentity { .. })
                )
            },
        ),
        (
            "not age at all",
            Box::new(|_: &[u8]| b"hello, world\n".to_vec()),
            |e| matches!(e, Error::Archive(ArchiveError::Corrupt { .. })),
        ),
        ("empty file", Box::new(|_: &[u8]| Vec::new()), |e| {
            matches!(e, Error::Archive(ArchiveError::Corrupt { .. }))
        }),
        (
            "age file that is not a tar.gz",
            Box::new(|_: &[u8]| encrypt(b"plain text, not gzip")),
            |e| matches!(e, Error::Archive(ArchiveError::Corrupt { .. })),
        ),
    ];
    for (name, damage, kind) in &cases {
        let err = open(&w, &damage(&good))
            .err()
            .unwrap_or_else(|| panic!("case {name} accepted"));
        assert!(kind(&err), "case {name}: wrong error {err:?}");
    }

    // Wrong identity: the message says what to do.
    let mut other = Identities::default();
    crypto::load_identity(&w.path("other-id.txt"), &mut other).unwrap();
    let err = archive::open(&good[..], &other, &|| None, "case.age").unwrap_err();
    assert!(
        matches!(err, Error::Archive(ArchiveError::NoMatchingIdentity { .. })),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "case.age: no identity matches this archive; did you pass the key it was encrypted to (-i FILE)?"
    );
}

#[test]
fn cli_reports_each_failure_in_one_line_with_exit_2() {
    let w = Work::new();
    let good = w.backup_sample("good.age");
    let bytes = std::fs::read(&good).unwrap();
    let id = w.id();
    let id = id.to_str().unwrap();

    // Sidecar mismatch: the ciphertext was swapped for another valid archive.
    let swapped = w.path("swapped.age");
    std::fs::write(&swapped, encrypt(&pack(&genuine()))).unwrap();
    let good_sidecar = std::fs::read_to_string(trustkeep::archive::sidecar_path(&good)).unwrap();
    std::fs::write(
        trustkeep::archive::sidecar_path(&swapped),
        good_sidecar.replace("good.age", "swapped.age"),
    )
    .unwrap();
    // A sidecar naming another file: `sha256sum -c` would check that file, not this one.
    let misnamed = w.path("misnamed.age");
    std::fs::copy(&good, &misnamed).unwrap();
    std::fs::copy(
        trustkeep::archive::sidecar_path(&good),
        trustkeep::archive::sidecar_path(&misnamed),
    )
    .unwrap();
    // Truncated, with its sidecar removed so the age layer is what catches it.
    let truncated = w.path("truncated.age");
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();

    let other = w.path("other-id.txt");
    let absent = w.path("absent.age");
    let cases: &[(&std::path::Path, &str, &str)] = &[
        (&swapped, id, "does not match"),
        (
            &misnamed,
            id,
            "misnamed.age.sha256 names the file good.age, not misnamed.age",
        ),
        (&truncated, id, "truncated.age: "),
        (
            &good,
            other.to_str().unwrap(),
            "no identity matches this archive",
        ),
        (&absent, id, "cannot read archive"),
    ];
    for (archive, identity, expected) in cases {
        let r = tk(&["inspect", archive.to_str().unwrap(), "-i", identity]);
        assert_eq!(r.code, 2, "{archive:?}: {r:?}");
        assert!(r.stderr.contains(expected), "{archive:?}: {}", r.stderr);
        let errors: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| l.starts_with("trustkeep: error: "))
            .collect();
        assert_eq!(errors.len(), 1, "one error line: {}", r.stderr);
        assert!(
            !r.stderr.contains('\x1b'),
            "no terminal colours when stderr is not a terminal"
        );
        assert!(r.stdout.is_empty(), "nothing on stdout: {}", r.stdout);
    }
}

#[test]
fn identity_problems_are_clear() {
    let w = Work::new();
    let good = w.backup_sample("good.age");
    let g = good.to_str().unwrap();
    // Unreadable identity file.
    let r = tk(&["inspect", g, "-i", w.path("nope.txt").to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot read identity"), "{}", r.stderr);
    // A file that is not an identity.
    std::fs::write(w.path("junk.txt"), "hello\n").unwrap();
    util::set_mode(&w.path("junk.txt"), 0o600);
    let r = tk(&["inspect", g, "-i", w.path("junk.txt").to_str().unwrap()]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("identity") && r.stderr.contains("junk.txt"),
        "{}",
        r.stderr
    );
    // No identity at all.
    let r = tk(&["inspect", g]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no identity given"), "{}", r.stderr);
    // An identity readable by others still works, with a warning.
    util::set_mode(&w.id(), 0o644);
    let r = tk(&["inspect", g, "-i", w.id().to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("readable by group or others"),
        "{}",
        r.stderr
    );
}

#[test]
fn control_characters_outside_the_raw_printed_fields_are_read_and_shown_escaped() {
    let w = Work::new();
    let mut e = genuine();
    edit_manifest(&mut e, |v| {
        let cert = v["secrets"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .filter_map(|s| s.get_mut("data").and_then(|d| d.as_array_mut()))
            .flat_map(|d| d.iter_mut())
            .find_map(|d| {
                d.get_mut("certificates")
                    .and_then(|c| c.as_array_mut())
                    .and_then(|c| c.first_mut())
            })
            .expect("a certificate summary");
        cert["subject"] = "CN=\u{1b}[31mred".into();
    });
    let path = w.path("odd.age");
    std::fs::write(&path, encrypt(&pack(&e))).unwrap();
    let r = w.with_id("inspect", &path, &[]);
    assert_eq!(
        r.code, 0,
        "a subject the writer could have recorded still reads: {r:?}"
    );
    assert!(!r.stdout.contains('\u{1b}'), "{:?}", r.stdout);
    assert!(r.stdout.contains(r"CN=\u{1b}[31mred"), "{}", r.stdout);
}
