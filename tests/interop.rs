//! Interop with real peers: the stock `age` CLI, `tar`, `sha256sum` and `kubectl` read what
//! trustkeep writes (and trustkeep reads what `age` writes). Each test needs its program; CI
//! installs them and runs these with `--include-ignored`.

use std::process::{Command, Stdio};

use sha2::Digest;

use crate::util::{self, ext, fixture, tk, Work};

/// `age -d -i ID ARCHIVE | tar xzf - -C DIR`
fn age_untar(w: &Work, archive: &std::path::Path, id: &std::path::Path, dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut age = Command::new("age")
        .args(["-d", "-i", id.to_str().unwrap(), archive.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("age CLI");
    let tar = Command::new("tar")
        .args(["xzf", "-", "-C", dir.to_str().unwrap()])
        .stdin(age.stdout.take().unwrap())
        .status()
        .expect("tar");
    assert!(age.wait().unwrap().success(), "age -d failed");
    assert!(tar.success(), "tar failed");
    let _ = w;
}

#[test]
#[ignore = "needs age, tar and sha256sum"]
fn age_and_tar_open_the_archive_and_the_manifest_matches() {
    let w = Work::new();
    let archive = w.backup_sample("a.tar.gz.age");
    // sha256sum -c accepts the sidecar (it names the file relative to its directory).
    let mut c = Command::new("sha256sum");
    c.args(["-c", "a.tar.gz.age.sha256"])
        .current_dir(w.dir.path());
    let r = util::run(c);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("a.tar.gz.age: OK"));
    let dir = w.path("plain");
    age_untar(&w, &archive, &w.id(), &dir);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let mut checked = 0;
    for s in manifest["secrets"].as_array().unwrap() {
        let files = std::iter::once(&s["manifest"]).chain(s["data"].as_array().unwrap());
        for f in files {
            let bytes = std::fs::read(dir.join(f["path"].as_str().unwrap())).unwrap();
            assert_eq!(
                hex::encode(sha2::Sha256::digest(&bytes)),
                f["sha256"].as_str().unwrap(),
                "{}",
                f["path"]
            );
            assert_eq!(bytes.len() as u64, f["size"].as_u64().unwrap());
            checked += 1;
        }
    }
    assert_eq!(checked, 17);
    // The seed's layout is there.
    assert!(dir
        .join("secrets/gloo-mesh/relay-server-tls-secret/tls.key")
        .exists());
}

#[test]
#[ignore = "needs age"]
fn trustkeep_reads_what_the_age_cli_encrypts() {
    let w = Work::new();
    let archive = w.backup_sample("a.age");
    // Decrypt with age, re-encrypt the same plaintext with age (armored, to the SSH key).
    let plain = w.path("plain.tar.gz");
    let r = ext(
        "age",
        &[
            "-d",
            "-i",
            w.id().to_str().unwrap(),
            "-o",
            plain.to_str().unwrap(),
            archive.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let re = w.path("re.age");
    let pubkey = fixture("identities/test-only-ssh-ed25519.pub");
    let r = ext(
        "age",
        &[
            "-a",
            "-R",
            pubkey.to_str().unwrap(),
            "-o",
            re.to_str().unwrap(),
            plain.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let key = w.copy_private("identities/test-only-ssh-ed25519", "ssh-key");
    let r = tk(&["inspect", re.to_str().unwrap(), "-i", key.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("relay-server-tls-secret"));
    // And age decrypts an SSH-encrypted trustkeep archive with the SSH key.
    let s = w.path("s.age");
    let ssh_pub = std::fs::read_to_string(&pubkey).unwrap();
    let r = tk(&[
        "backup",
        "--from",
        fixture("sample/mgmt.yaml").to_str().unwrap(),
        "-r",
        ssh_pub.trim(),
        "-o",
        s.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = ext(
        "age",
        &[
            "-d",
            "-i",
            key.to_str().unwrap(),
            "-o",
            w.path("s.tgz").to_str().unwrap(),
            s.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
#[ignore = "needs kubectl"]
fn kubectl_accepts_the_exported_tls_pair_and_rejects_the_seeds() {
    let w = Work::new();
    let archive = w.backup_sample("a.age");
    let dir = w.path("ex");
    assert_eq!(
        w.with_id("export", &archive, &["--dir", dir.to_str().unwrap()])
            .code,
        0
    );
    let s = dir.join("secrets/gloo-mesh/relay-server-tls-secret");
    let create = |cert: &std::path::Path, key: &std::path::Path| {
        ext(
            "kubectl",
            &[
                "create",
                "secret",
                "tls",
                "relay-server-tls-secret",
                "-n",
                "gloo-mesh",
                &format!("--cert={}", cert.display()),
                &format!("--key={}", key.display()),
                "--dry-run=client",
                "-o",
                "yaml",
            ],
        )
    };
    let r = create(&s.join("tls.crt"), &s.join("tls.key"));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("type: kubernetes.io/tls"));
    // The seed's procedure pairs ca.crt with tls.key; kubectl refuses, as trustkeep import warns.
    let seed = fixture("seed-manual/relay-server-tls-secret");
    let r = create(&seed.join("ca.crt"), &seed.join("tls.key"));
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("private key does not match public key"),
        "{}",
        r.stderr
    );
}
