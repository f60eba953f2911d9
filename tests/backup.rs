//! `backup`, `inspect`, `export` and `keygen` end to end through the binary, plus the
//! archive's exactness and determinism through the library.

use std::os::unix::fs::PermissionsExt;

use trustkeep::archive::{self, crypto, Identities};
use trustkeep::select::{self, SelectOptions};
use trustkeep::snapshot::Snapshot;
use trustkeep::source;

use crate::util::{self, fixture, tk, tk_env, Work};

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn backup_takes_the_trust_set_and_nothing_else() {
    let w = Work::new();
    let out = w.path("a.age");
    let r = util::backup("sample/mgmt.yaml", &out, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.lines().next().unwrap(), out.to_str().unwrap());
    for name in [
        "relay-server-tls-secret",
        "relay-tls-signing-secret",
        "relay-root-tls-secret",
        "relay-identity-token-secret",
        "root-trust-policy.gloo-mesh",
    ] {
        assert!(
            r.stdout.contains(&format!("gloo-mesh/{name} ")),
            "{name} missing from:\n{}",
            r.stdout
        );
    }
    for unrelated in ["license", "helm", "db-password"] {
        assert!(
            !r.stdout.contains(unrelated),
            "{unrelated} was taken:\n{}",
            r.stdout
        );
    }
    assert!(out.exists() && trustkeep::archive::sidecar_path(&out).exists());
    // Nothing but the archive and its sidecar (no temporary files left behind).
    let mut names: Vec<String> = std::fs::read_dir(w.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a.age", "a.age.sha256", "id.txt", "other-id.txt"]);
}

#[test]
fn archive_names_itself_in_a_directory_and_never_overwrites() {
    let w = Work::new();
    let dir = w.path("backups");
    std::fs::create_dir(&dir).unwrap();
    let r = util::backup("sample/mgmt.yaml", &dir, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let path = std::path::PathBuf::from(r.stdout.lines().next().unwrap());
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("mgmt-")
            && name.ends_with("Z.tar.gz.age")
            && name.len() == "mgmt-20261128T104624Z.tar.gz.age".len(),
        "{name}"
    );
    let before = std::fs::read(&path).unwrap();
    let r = util::backup("sample/mgmt.yaml", &path, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("already exists; refusing to overwrite"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "existing archive untouched"
    );
}

#[test]
fn missing_core_secret_is_exit_1_but_the_archive_is_written() {
    let w = Work::new();
    let out = w.path("partial.age");
    let r = util::backup("malformed/single-secret.yaml", &out, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("error   [selection.missing]")
            && r.stdout.contains("gloo-mesh/relay-tls-signing-secret"),
        "{}",
        r.stdout
    );
    assert!(out.exists());
    let r = w.with_id("inspect", &out, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("relay-server-tls-secret"));
    assert!(
        r.stdout.contains("selection.missing"),
        "inspect shows what was missing:\n{}",
        r.stdout
    );
}

#[test]
fn no_recipient_is_refused_and_nothing_is_written() {
    let w = Work::new();
    let out = w.path("x.age");
    let r = tk(&[
        "backup",
        "--from",
        fixture("sample/mgmt.yaml").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no recipient"), "{}", r.stderr);
    let r = tk(&[
        "backup",
        "--from",
        fixture("sample/mgmt.yaml").to_str().unwrap(),
        "-r",
        "AGE-SECRET-KEY-1XYZ",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("this is a private identity, not a recipient"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(w.dir.path()).unwrap().count(),
        2,
        "only the identities"
    );
}

#[test]
fn restored_secrets_equal_the_source_exactly() {
    let w = Work::new();
    let out = w.backup_sample("a.age");
    let mut ids = Identities::default();
    crypto::load_identity(&w.id(), &mut ids).unwrap();
    let opened = trustkeep::catalogue::open_file(&out, &ids, &|| None).unwrap();
    let inv =
        source::read_file(fixture("sample/mgmt.yaml").to_str().unwrap(), "gloo-mesh").unwrap();
    let sel = select::select(&inv, &SelectOptions::default());
    assert_eq!(opened.snapshot.secrets.len(), sel.secrets.len());
    for (a, b) in opened.snapshot.secrets.iter().zip(&sel.secrets) {
        assert_eq!(a.record, b.record, "{}", b.record.id);
        assert_eq!(a.role, b.role);
    }
    // Labels and annotations survive (the fixtures carry some).
    assert!(opened
        .snapshot
        .secrets
        .iter()
        .any(|s| !s.record.labels.is_empty()));
    assert!(opened
        .snapshot
        .secrets
        .iter()
        .any(|s| !s.record.annotations.is_empty()));
}

#[test]
fn same_snapshot_gives_the_same_tar() {
    let inv =
        source::read_file(fixture("sample/mgmt.yaml").to_str().unwrap(), "gloo-mesh").unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(util::AT)
        .unwrap()
        .into();
    let build = || {
        let sel = select::select(&inv, &SelectOptions::default());
        archive::build(&Snapshot::new(&inv, sel, "mgmt", at))
            .unwrap()
            .1
    };
    assert_eq!(*build(), *build());
}

#[test]
fn passphrase_armor_and_ssh_recipients_round_trip() {
    let w = Work::new();
    let from = fixture("sample/mgmt.yaml");
    let from = from.to_str().unwrap();
    // Passphrase from the environment, armored.
    let p = w.path("p.age");
    let env = [("TRUSTKEEP_PASSPHRASE", "correct horse battery staple")];
    let r = tk_env(
        &[
            "backup",
            "--from",
            from,
            "--passphrase",
            "--armor",
            "-o",
            p.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(std::fs::read_to_string(&p)
        .unwrap()
        .starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    let r = tk_env(&["inspect", p.to_str().unwrap()], &env);
    assert_eq!(r.code, 0, "{r:?}");
    let r = tk_env(
        &["inspect", p.to_str().unwrap()],
        &[("TRUSTKEEP_PASSPHRASE", "wrong")],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("wrong passphrase"), "{}", r.stderr);
    let r = tk(&["inspect", p.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("encrypted with a passphrase; set TRUSTKEEP_PASSPHRASE"),
        "{}",
        r.stderr
    );
    // SSH ed25519 recipient from a recipients file, opened with the SSH private key.
    let ssh_pub = std::fs::read_to_string(fixture("identities/test-only-ssh-ed25519.pub")).unwrap();
    std::fs::write(
        w.path("recipients.txt"),
        format!("# backup keys\n\n{ssh_pub}"),
    )
    .unwrap();
    let s = w.path("s.age");
    let r = tk(&[
        "backup",
        "--from",
        from,
        "-R",
        w.path("recipients.txt").to_str().unwrap(),
        "-r",
        &util::recipient(),
        "-o",
        s.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    // Each identity alone opens it: the SSH key, then the age identity.
    let key = w.copy_private("identities/test-only-ssh-ed25519", "ssh-key");
    for id in [key, w.id()] {
        let r = tk(&["inspect", s.to_str().unwrap(), "-i", id.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{id:?}: {r:?}");
        assert!(
            r.stdout.contains("relay-server-tls-secret"),
            "{id:?}: {}",
            r.stdout
        );
    }
}

#[test]
fn ssh_rsa_recipients_open_with_the_matching_rsa_key_only() {
    let w = Work::new();
    let from = fixture("sample/mgmt.yaml");
    let rsa_pub = std::fs::read_to_string(fixture("identities/test-only-ssh-rsa.pub")).unwrap();
    let rsa_pub = rsa_pub.trim();
    assert!(rsa_pub.starts_with("ssh-rsa "), "{rsa_pub}");
    let rsa_key = w.copy_private("identities/test-only-ssh-rsa", "rsa-key");
    let ed_key = w.copy_private("identities/test-only-ssh-ed25519", "ed-key");
    std::fs::write(w.path("recipients.txt"), format!("{rsa_pub}\n")).unwrap();
    // To the ssh-rsa key alone, given with -r and with -R.
    for (name, flag, recipient) in [
        ("r.age", "-r", rsa_pub.to_string()),
        (
            "rr.age",
            "-R",
            w.path("recipients.txt").display().to_string(),
        ),
    ] {
        let out = w.path(name);
        let r = tk(&[
            "backup",
            "--from",
            from.to_str().unwrap(),
            flag,
            &recipient,
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{flag}: {r:?}");
        // The unencrypted RSA private key opens it, every secret intact.
        let r = tk(&[
            "verify",
            out.to_str().unwrap(),
            "-i",
            rsa_key.to_str().unwrap(),
            "--at",
            util::AT,
        ]);
        assert_eq!(r.code, 0, "{flag}: {r:?}");
        let r = tk(&[
            "inspect",
            out.to_str().unwrap(),
            "-i",
            rsa_key.to_str().unwrap(),
            "--output",
            "json",
        ]);
        assert_eq!(r.code, 0, "{flag}: {r:?}");
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(v["integrity"], "ok");
        assert_eq!(v["manifest"]["secrets"].as_array().unwrap().len(), 5);
        // No other key does: it was encrypted to the RSA key only.
        for other in [&ed_key, &w.id()] {
            let r = tk(&[
                "inspect",
                out.to_str().unwrap(),
                "-i",
                other.to_str().unwrap(),
            ]);
            assert_eq!(r.code, 2, "{flag} {other:?}: {r:?}");
            assert!(
                r.stderr.contains("no identity matches this archive"),
                "{flag} {other:?}: {}",
                r.stderr
            );
        }
    }
}

#[test]
fn inspect_shows_certificates_but_no_secret_values() {
    let w = Work::new();
    let out = w.backup_sample("a.age");
    for format in ["table", "json"] {
        let r = w.with_id("inspect", &out, &["--output", format]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(
            r.stdout.contains("CN=gloo-mesh-mgmt-server"),
            "{}",
            r.stdout
        );
        assert!(
            !r.stdout.contains("PRIVATE KEY") && !r.stdout.contains("BEGIN CERTIFICATE"),
            "values leaked:\n{}",
            r.stdout
        );
        assert!(!r.stdout.contains("LS0tLS1"), "base64 values leaked");
        if format == "json" {
            let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            assert_eq!(v["integrity"], "ok");
            // The sample's RootTrustPolicy makes it a version 2 archive.
            assert_eq!(v["manifest"]["version"], 2);
            assert_eq!(v["manifest"]["secrets"].as_array().unwrap().len(), 5);
            assert_eq!(
                v["manifest"]["policies"],
                serde_json::json!([{"namespace": "gloo-mesh", "name": "root-trust-policy", "size": v["manifest"]["policies"][0]["size"]}])
            );
        } else {
            assert!(
                r.stdout.contains("gloo-mesh/root-trust-policy")
                    && r.stdout.contains("only with restore --include-policies"),
                "{}",
                r.stdout
            );
        }
    }
}

#[test]
fn export_writes_private_files_and_refuses_a_non_empty_dir() {
    let w = Work::new();
    let out = w.backup_sample("a.age");
    let dir = w.path("export");
    let r = w.with_id("export", &out, &["--dir", dir.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    let key = dir.join("secrets/gloo-mesh/relay-server-tls-secret/tls.key");
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(key.parent().unwrap()), 0o700);
    assert_eq!(mode(&dir), 0o700);
    let inv =
        source::read_file(fixture("sample/mgmt.yaml").to_str().unwrap(), "gloo-mesh").unwrap();
    let orig = inv
        .secrets
        .iter()
        .find(|s| s.id.name == "relay-server-tls-secret")
        .unwrap();
    assert_eq!(
        std::fs::read(&key).unwrap(),
        orig.get("tls.key").unwrap().expose()
    );
    assert!(dir.join("manifest.json").exists());
    // Non-empty: refused, untouched.
    std::fs::write(&key, b"changed").unwrap();
    let r = w.with_id("export", &out, &["--dir", dir.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("is not empty; refusing"), "{}", r.stderr);
    assert_eq!(std::fs::read(&key).unwrap(), b"changed");
    let r = w.with_id(
        "export",
        &out,
        &[
            "--dir",
            dir.to_str().unwrap(),
            "--force",
            "--only",
            "relay-server-tls-secret",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        std::fs::read(&key).unwrap(),
        orig.get("tls.key").unwrap().expose()
    );
    // --only limits what is written.
    let only = w.path("only");
    w.with_id(
        "export",
        &out,
        &[
            "--dir",
            only.to_str().unwrap(),
            "--only",
            "gloo-mesh/relay-root-tls-secret",
        ],
    );
    let secrets: Vec<_> = std::fs::read_dir(only.join("secrets/gloo-mesh"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(secrets, ["relay-root-tls-secret"]);
}

#[test]
fn keygen_writes_a_private_identity_once() {
    let w = Work::new();
    let p = w.path("new-id.txt");
    let r = tk(&["keygen", "-o", p.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    let recipient = r.stdout.trim();
    assert!(recipient.starts_with("age1"), "{recipient}");
    assert_eq!(mode(&p), 0o600);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(
        text.contains(&format!("# public key: {recipient}")) && text.contains("AGE-SECRET-KEY-1")
    );
    let r = tk(&["keygen", "-o", p.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        text,
        "not overwritten"
    );
    // The new key works for a backup.
    let a = w.path("k.age");
    assert_eq!(
        tk(&[
            "backup",
            "--from",
            fixture("sample/mgmt.yaml").to_str().unwrap(),
            "-r",
            recipient,
            "-o",
            a.to_str().unwrap()
        ])
        .code,
        0
    );
    assert_eq!(
        tk(&["inspect", a.to_str().unwrap(), "-i", p.to_str().unwrap()]).code,
        0
    );
}

#[test]
fn backup_json_report() {
    let w = Work::new();
    let out = w.path("a.age");
    let r = util::backup("sample/mgmt.yaml", &out, &["--output", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["archive"], out.to_str().unwrap());
    let sidecar = std::fs::read_to_string(trustkeep::archive::sidecar_path(&out)).unwrap();
    assert!(sidecar.starts_with(v["sha256"].as_str().unwrap()));
    assert_eq!(v["manifest"]["source"]["kind"], "file");
}

#[test]
fn reports_never_show_values_digests_or_kubectls_copy_of_the_data() {
    let w = Work::new();
    // A secret created with `kubectl apply` carries its whole data in an annotation.
    let yaml = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: relay-identity-token-secret\n  namespace: gloo-mesh\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{\"data\":{\"token\":\"c2VjcmV0LXRva2Vu\"}}'\n    team: platform\ntype: Opaque\ndata:\n  token: c2VjcmV0LXRva2Vu\n";
    std::fs::write(w.path("s.yaml"), yaml).unwrap();
    let out = w.path("a.age");
    let r = tk(&[
        "backup",
        "--from",
        w.path("s.yaml").to_str().unwrap(),
        "-r",
        &util::recipient(),
        "-o",
        out.to_str().unwrap(),
        "--include",
        "relay-identity-token-secret",
        "--output",
        "json",
    ]);
    assert!(r.code <= 1, "{r:?}");
    let i = w.with_id("inspect", &out, &["--output", "json"]);
    assert_eq!(i.code, 0, "{i:?}");
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(b"secret-token"));
    for (what, text) in [("backup", &r.stdout), ("inspect", &i.stdout)] {
        assert!(
            !text.contains("c2VjcmV0LXRva2Vu") && !text.contains("secret-token"),
            "{what} leaks the value:\n{text}"
        );
        assert!(!text.contains(&digest), "{what} prints the value's sha256");
        assert!(
            text.contains("bytes redacted: holds the secret's data")
                && text.contains("\"team\": \"platform\""),
            "{what}:\n{text}"
        );
    }
    // The archive itself keeps the annotation exactly, for the restore.
    let mut ids = Identities::default();
    crypto::load_identity(&w.id(), &mut ids).unwrap();
    let opened = trustkeep::catalogue::open_file(&out, &ids, &|| None).unwrap();
    let ann = &opened.snapshot.secrets[0].record.annotations;
    assert!(ann["kubectl.kubernetes.io/last-applied-configuration"].contains("c2VjcmV0LXRva2Vu"));
}

#[test]
fn export_never_writes_through_symlinks_and_checks_only() {
    let w = Work::new();
    let out = w.backup_sample("a.age");
    let dir = w.path("export");
    assert_eq!(
        w.with_id("export", &out, &["--dir", dir.to_str().unwrap()])
            .code,
        0
    );
    // Someone plants a symlink where a key will be written, and loosens a directory.
    let key = dir.join("secrets/gloo-mesh/relay-server-tls-secret/tls.key");
    let victim = w.path("victim");
    std::fs::write(&victim, b"untouched").unwrap();
    std::fs::remove_file(&key).unwrap();
    std::os::unix::fs::symlink(&victim, &key).unwrap();
    util::set_mode(&dir.join("secrets/gloo-mesh"), 0o755);
    let r = w.with_id("export", &out, &["--dir", dir.to_str().unwrap(), "--force"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        b"untouched",
        "wrote through the symlink"
    );
    assert!(!std::fs::symlink_metadata(&key)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&dir.join("secrets/gloo-mesh")), 0o700);
    // A symlinked directory is refused.
    let d = dir.join("secrets/gloo-mesh/relay-root-tls-secret");
    std::fs::remove_dir_all(&d).unwrap();
    std::os::unix::fs::symlink(w.dir.path(), &d).unwrap();
    let r = w.with_id("export", &out, &["--dir", dir.to_str().unwrap(), "--force"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("is a symbolic link; refusing to export through it"),
        "{}",
        r.stderr
    );
    // --only naming a secret the archive lacks is an error, and nothing is written.
    let empty = w.path("empty");
    let r = w.with_id(
        "export",
        &out,
        &["--dir", empty.to_str().unwrap(), "--only", "nope"],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("--only nope: the archive holds no such secret"),
        "{}",
        r.stderr
    );
    assert!(std::fs::read_dir(&empty)
        .map(|d| d.count() == 0)
        .unwrap_or(true));
}

#[test]
fn retention_keeps_the_newest_and_never_follows_a_partial_backup() {
    let w = Work::new();
    let dir = w.path("backups");
    std::fs::create_dir(&dir).unwrap();
    // Three old archives of mgmt, one of cluster-1, and an unrelated file.
    let seed = w.backup_sample("seed.age");
    for name in [
        "mgmt-20250101T000000Z",
        "mgmt-20250201T000000Z",
        "mgmt-20250301T000000Z",
        "cluster-1-20250101T000000Z",
    ] {
        let a = dir.join(format!("{name}.tar.gz.age"));
        std::fs::copy(&seed, &a).unwrap();
        std::fs::write(trustkeep::archive::sidecar_path(&a), "x").unwrap();
    }
    std::fs::write(dir.join("README"), "keep me").unwrap();
    let r = tk(&[
        "prune",
        dir.to_str().unwrap(),
        "--keep-last",
        "2",
        "--dry-run",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("1 archive(s) would be deleted (dry run)"),
        "{}",
        r.stdout
    );
    assert!(dir.join("mgmt-20250101T000000Z.tar.gz.age").exists());
    // A partial backup (a core secret missing) prunes nothing.
    let r = util::backup(
        "malformed/single-secret.yaml",
        &dir,
        &["--cluster", "mgmt", "--keep-last", "1"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(
        std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .to_string_lossy()
                .ends_with(".age"))
            .count(),
        5
    );
    // A complete one keeps the newest of mgmt only; cluster-1 and other files are left alone.
    let r = util::backup(
        "sample/mgmt.yaml",
        &dir,
        &["--cluster", "mgmt", "--keep-last", "1"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    let new = std::path::Path::new(r.stdout.lines().next().unwrap())
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        left,
        [
            "README".to_string(),
            "cluster-1-20250101T000000Z.tar.gz.age".into(),
            "cluster-1-20250101T000000Z.tar.gz.age.sha256".into(),
            new.clone(),
            format!("{new}.sha256")
        ]
    );
}

#[test]
fn retention_never_deletes_the_new_archive_for_a_future_named_file() {
    let w = Work::new();
    let dir = w.path("d");
    std::fs::create_dir(&dir).unwrap();
    let first = util::backup("sample/mgmt.yaml", &dir, &["--cluster", "mgmt"]);
    assert_eq!(first.code, 0, "{first:?}");
    let first = first.stdout.lines().next().unwrap().to_string();
    // Junk named in the future (or a host with a skewed clock).
    std::fs::write(dir.join("mgmt-20991231T000000Z.tar.gz.age"), b"junk").unwrap();
    // A leftover sidecar where the next archive would go: the backup picks another name.
    std::fs::write(
        format!(
            "{}.1.tar.gz.age.sha256",
            first.trim_end_matches(".tar.gz.age")
        ),
        b"x",
    )
    .unwrap();
    let second = util::backup(
        "sample/mgmt.yaml",
        &dir,
        &["--cluster", "mgmt", "--keep-last", "1"],
    );
    assert_eq!(second.code, 0, "{second:?}");
    let new = second.stdout.lines().next().unwrap();
    assert!(
        std::path::Path::new(new).exists(),
        "the archive just written survives"
    );
    assert!(std::path::Path::new(&format!("{new}.sha256")).exists());
    assert!(
        dir.join("mgmt-20991231T000000Z.tar.gz.age").exists(),
        "the future-named file is left alone"
    );
    assert_eq!(
        w.with_id("verify", std::path::Path::new(new), &["--at", util::AT])
            .code,
        0
    );
}
