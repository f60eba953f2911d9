//! Archives in S3-compatible object storage, against a real server: `s3s-fs` (installed by
//! `.ci/run` with `cargo install s3s-fs`), started per test on a free loopback port. trustkeep
//! reaches it through the usual `AWS_*` variables.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

use crate::live::Live;
use crate::util::{self, tk_env, Run, Work};

/// A running s3s-fs with one bucket, killed on drop.
pub(crate) struct S3 {
    child: Child,
    port: u16,
    root: std::path::PathBuf,
}

const BUCKET: &str = "backups";

impl S3 {
    pub(crate) fn start(w: &Work) -> S3 {
        let root = w.path("s3");
        std::fs::create_dir_all(root.join(BUCKET)).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("s3s-fs")
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--access-key",
                "AKIATRUSTKEEP",
                "--secret-key",
                "trustkeep-test-only-secret",
            ])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs (cargo install s3s-fs --features binary)");
        // Owned at once, so that Drop kills it whatever happens next.
        let s3 = S3 { child, port, root };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return s3;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("s3s-fs did not start on port {port}");
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "AKIATRUSTKEEP".into()),
            ("AWS_SECRET_ACCESS_KEY", "trustkeep-test-only-secret".into()),
            ("AWS_REGION", "us-east-1".into()),
            (
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.port),
            ),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    pub(crate) fn tk(&self, args: &[&str]) -> Run {
        util::tk_vars(&self.env(), args)
    }

    /// The objects under `prefix/`, as the server stores them (plain files).
    pub(crate) fn objects(&self, prefix: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root.join(BUCKET).join(prefix))
            .map(|d| {
                d.map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn backup(s3: &S3, from: &str, extra: &[&str]) -> Run {
    let from = util::fixture(from);
    let r = util::recipient();
    let mut args = vec![
        "backup",
        "--from",
        from.to_str().unwrap(),
        "-r",
        &r,
        "-o",
        "s3://backups/gloo/",
        "--cluster",
        "mgmt",
    ];
    args.extend_from_slice(extra);
    s3.tk(&args)
}

#[test]
#[ignore = "needs s3s-fs"]
fn archives_round_trip_through_object_storage() {
    let w = Work::new();
    let s3 = S3::start(&w);
    let r = backup(&s3, "sample/mgmt.yaml", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let first = r.stdout.lines().next().unwrap().to_string();
    assert!(
        first.starts_with("s3://backups/gloo/mgmt-") && first.ends_with(".tar.gz.age"),
        "{first}"
    );
    // A second backup in the same second gets its own name; nothing is overwritten.
    let r = backup(&s3, "sample/mgmt.yaml", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let objects = s3.objects("gloo");
    assert_eq!(
        objects.len(),
        4,
        "two archives and two sidecars: {objects:?}"
    );
    // The sidecar object is what sha256sum would say of the archive object.
    let name = first.rsplit('/').next().unwrap();
    let bytes = std::fs::read(s3.root.join(BUCKET).join("gloo").join(name)).unwrap();
    use sha2::Digest;
    let sidecar = std::fs::read_to_string(
        s3.root
            .join(BUCKET)
            .join("gloo")
            .join(format!("{name}.sha256")),
    )
    .unwrap();
    assert_eq!(
        sidecar,
        format!("{}  {name}\n", hex::encode(sha2::Sha256::digest(&bytes)))
    );
    let id = w.id();
    let id = id.to_str().unwrap();
    let r = s3.tk(&["verify", "s3://backups/gloo/", "-i", id, "--at", util::AT]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("ok: 2 archive(s), 0 unreadable"),
        "{}",
        r.stdout
    );
    let r = s3.tk(&["inspect", &first, "-i", id, "--output", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let dir = w.path("ex");
    let r = s3.tk(&["export", &first, "-i", id, "--dir", dir.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(dir
        .join("secrets/gloo-mesh/relay-server-tls-secret/tls.key")
        .exists());
    // Retention on the prefix: keep the newest, delete the other archive and its sidecar.
    let r = s3.tk(&["prune", "s3://backups/gloo/", "--keep-last", "1"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(s3.objects("gloo").len(), 2, "{:?}", s3.objects("gloo"));
}

#[test]
#[ignore = "needs s3s-fs"]
fn keys_are_prefixes_unless_archives_and_are_stored_as_written() {
    let w = Work::new();
    let s3 = S3::start(&w);
    let from = util::fixture("sample/mgmt.yaml");
    let r = util::recipient();
    // No trailing slash: still a prefix, never an object named like the prefix.
    for out in ["s3://backups/plain", "s3://backups/odd[1]/"] {
        let res = s3.tk(&[
            "backup",
            "--from",
            from.to_str().unwrap(),
            "-r",
            &r,
            "-o",
            out,
            "--cluster",
            "mgmt",
        ]);
        assert_eq!(res.code, 0, "{out}: {res:?}");
        let written = res.stdout.lines().next().unwrap().to_string();
        assert!(
            written.starts_with(&format!("{}/mgmt-", out.trim_end_matches('/'))),
            "{written}"
        );
        let id = w.id();
        let v = s3.tk(&["verify", out, "-i", id.to_str().unwrap(), "--at", util::AT]);
        assert_eq!(v.code, 0, "{out}: {v:?}");
    }
    assert!(!s3.root.join(BUCKET).join("plain").is_file());
    assert_eq!(
        s3.objects("odd[1]").len(),
        2,
        "stored under the key as written"
    );
    // --keep-last wants a directory or prefix, not one archive.
    let res = s3.tk(&[
        "backup",
        "--from",
        from.to_str().unwrap(),
        "-r",
        &r,
        "-o",
        "s3://backups/one.tar.gz.age",
        "--keep-last",
        "1",
    ]);
    assert_eq!(res.code, 2, "{res:?}");
    assert!(
        res.stderr
            .contains("--keep-* needs -o to be a directory or prefix"),
        "{}",
        res.stderr
    );
}

#[test]
#[ignore = "needs s3s-fs"]
fn restore_from_object_storage_into_a_cluster() {
    let w = Work::new();
    let s3 = S3::start(&w);
    let live = Live::start(&w, &["sample/mgmt.yaml"], &[], false);
    let r = backup(&s3, "sample/mgmt.yaml", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let archive = r.stdout.lines().next().unwrap().to_string();
    live.restores_deleted_secret_from(&w, &archive, |a| s3.tk(a));
}

#[test]
#[ignore = "needs s3s-fs"]
fn storage_faults_are_clear_errors() {
    let w = Work::new();
    let s3 = S3::start(&w);
    let r = backup(&s3, "sample/mgmt.yaml", &[]);
    let archive = r.stdout.lines().next().unwrap().to_string();
    let id = w.id();
    let id = id.to_str().unwrap();
    // Wrong credentials: the object and a hint.
    let mut env = s3.env();
    env[1].1 = "wrong".into();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = tk_env(&["inspect", &archive, "-i", id], &env);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains(&archive) && r.stderr.contains("check AWS_ACCESS_KEY_ID"),
        "{}",
        r.stderr
    );
    // No such object.
    let r = s3.tk(&["inspect", "s3://backups/gloo/absent.tar.gz.age", "-i", id]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("s3://backups/gloo/absent.tar.gz.age: no such object"),
        "{}",
        r.stderr
    );
    // An altered object is caught by its sidecar.
    let name = archive.rsplit('/').next().unwrap();
    let path = s3.root.join(BUCKET).join("gloo").join(name);
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let r = s3.tk(&["verify", &archive, "-i", id]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout.contains("does not match") && r.stdout.contains(".sha256"),
        "{}",
        r.stdout
    );
    // Without any endpoint configured, a clear error rather than a hang on AWS.
    let r = tk_env(
        &["inspect", &archive, "-i", id],
        &[
            ("AWS_ACCESS_KEY_ID", "x"),
            ("AWS_SECRET_ACCESS_KEY", "y"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_ALLOW_HTTP", "true"),
        ],
    );
    assert_eq!(r.code, 2, "{r:?}");
}

#[test]
#[ignore = "needs s3s-fs"]
fn signatures_travel_with_their_archives_and_forged_ones_are_refused() {
    let w = Work::new();
    let s3 = S3::start(&w);
    let k = crate::signing::keys(&w);
    let signed = |key: &std::path::Path| {
        let r = backup(
            &s3,
            "sample/mgmt.yaml",
            &["--sign-key", key.to_str().unwrap()],
        );
        assert_eq!(r.code, 0, "{r:?}");
        r.stdout.lines().next().unwrap().to_string()
    };
    let good = signed(&k.trusted);
    let forged = signed(&k.foreign);
    let objects = s3.objects("gloo");
    assert_eq!(
        objects.len(),
        6,
        "archives, sidecars, signatures: {objects:?}"
    );
    let name = good.rsplit('/').next().unwrap();
    assert!(objects.contains(&format!("{name}.sig")), "{objects:?}");
    crate::signing::check_store(&w, &k, &|a| s3.tk(a), "s3://backups/gloo/", &good, &forged);
    // Retention deletes an archive's signature with it.
    let r = s3.tk(&["prune", "s3://backups/gloo/", "--keep-last", "1"]);
    assert_eq!(r.code, 0, "{r:?}");
    let newest = forged.rsplit('/').next().unwrap();
    assert_eq!(
        s3.objects("gloo"),
        [
            newest.to_string(),
            format!("{newest}.sha256"),
            format!("{newest}.sig")
        ]
    );
    // All or nothing: when the signature cannot be written, archive and sidecar are taken back.
    let taken = s3.root.join(BUCKET).join("one");
    std::fs::create_dir_all(&taken).unwrap();
    std::fs::write(taken.join("a.tar.gz.age.sig"), "not mine").unwrap();
    let from = util::fixture("sample/mgmt.yaml");
    let r = s3.tk(&[
        "backup",
        "--from",
        from.to_str().unwrap(),
        "-r",
        &util::recipient(),
        "-o",
        "s3://backups/one/a.tar.gz.age",
        "--sign-key",
        k.trusted.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("a.tar.gz.age.sig"), "{r:?}");
    assert_eq!(s3.objects("one"), ["a.tar.gz.age.sig"]);
}

/// `pki init` writes its birth archives (signed, with sidecars) to object storage like a
/// backup, and `pki reissue` reads the CA back from there, admitted by the trust policy.
#[test]
#[ignore = "needs s3s-fs"]
fn birth_archives_go_to_s3_and_reissue_reads_them_back() {
    let w = Work::new();
    let s3 = S3::start(&w);
    let k = crate::signing::keys(&w);
    let (r, id, m) = (util::recipient(), w.id(), w.path("m"));
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let run = s3.tk(&[
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
        "s3://backups/birth/",
        "--sign-key",
        &s(&k.trusted),
        "--to-manifests",
        &s(&m),
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let objects = s3.objects("birth");
    assert_eq!(
        objects.iter().filter(|o| o.ends_with(".age")).count(),
        objects.len() / 3,
        "each archive with its sidecar and .sig: {objects:?}"
    );
    let signers = s(&k.allowed);
    let verify = s3.tk(&[
        "verify",
        "s3://backups/birth/",
        "-i",
        &s(&id),
        "--trusted-signers",
        &signers,
    ]);
    assert_eq!(verify.code, 0, "{verify:?}");
    let mgmt = objects
        .iter()
        .find(|o| o.starts_with("mgmt-") && o.ends_with(".age"))
        .expect("the management cluster's birth archive");
    let out = w.path("reissued");
    let reissue = s3.tk(&[
        "pki",
        "reissue",
        "relay-server",
        "--cluster",
        "mgmt",
        "--from",
        &format!("s3://backups/birth/{mgmt}"),
        "-i",
        &s(&id),
        "--trusted-signers",
        &signers,
        "--to-manifests",
        &s(&out),
    ]);
    assert_eq!(reissue.code, 0, "{reissue:?}");
    assert!(out.join("mgmt").exists(), "{reissue:?}");
}
