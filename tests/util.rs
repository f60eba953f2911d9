//! Helpers shared by the integration tests: fixture paths, temporary directories, running the
//! `trustkeep` binary, the test-only identities, and a setup `pki init` made ([`Made`]) with
//! what the pki, rescue and rotate tests check of it (its audit, Go's runtime).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use trustkeep::secret::SecretRecord;

/// The fixed "now" every fixture is made for.
pub const AT: &str = "2026-12-01T00:00:00Z";

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

pub fn fixture(rel: &str) -> PathBuf {
    fixtures().join(rel)
}

/// A temporary directory holding a private copy (mode 0600) of the test identity.
pub struct Work {
    pub dir: tempfile::TempDir,
}

impl Work {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let w = Work { dir };
        w.copy_private("identities/test-only-age-identity.txt", "id.txt");
        w.copy_private(
            "identities/test-only-other-age-identity.txt",
            "other-id.txt",
        );
        w
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    pub fn copy_private(&self, fixture_rel: &str, name: &str) -> PathBuf {
        let to = self.path(name);
        std::fs::copy(fixture(fixture_rel), &to).expect("copy fixture");
        set_mode(&to, 0o600);
        to
    }
    pub fn id(&self) -> PathBuf {
        self.path("id.txt")
    }
    /// `trustkeep VERB ARCHIVE -i <test identity> <extra…>`
    pub fn with_id(&self, verb: &str, archive: &Path, extra: &[&str]) -> Run {
        let id = self.id();
        let mut args = vec![verb, archive.to_str().unwrap(), "-i", id.to_str().unwrap()];
        args.extend_from_slice(extra);
        tk(&args)
    }
    /// The manifest of an archive, as `inspect --output json` reports it.
    pub fn manifest(&self, archive: &Path) -> serde_json::Value {
        let r = self.with_id("inspect", archive, &["--output", "json"]);
        assert_eq!(r.code, 0, "inspect {archive:?}: {r:?}");
        serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()["manifest"].clone()
    }
    /// `name=role` of every secret an archive's manifest lists.
    pub fn archived(&self, archive: &Path) -> Vec<String> {
        self.manifest(archive)["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{}={}",
                    s["name"].as_str().unwrap(),
                    s["role"].as_str().unwrap()
                )
            })
            .collect()
    }
    /// Backs up the sample management cluster to `name`; returns its path.
    pub fn backup_sample(&self, name: &str) -> PathBuf {
        let out = self.path(name);
        let r = tk(&[
            "backup",
            "--from",
            fixture("sample/mgmt.yaml").to_str().unwrap(),
            "-r",
            &recipient(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "backup failed: {}", r.stderr);
        out
    }
}

pub fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The recipient of the test-only identity.
pub fn recipient() -> String {
    std::fs::read_to_string(fixture("identities/test-only-age-recipient.txt"))
        .expect("recipient fixture")
        .trim()
        .to_string()
}

/// `trustkeep backup --from fixtures/<from> -r <test recipient> -o <out> <extra…>`
pub fn backup(from: &str, out: &Path, extra: &[&str]) -> Run {
    let from = fixture(from);
    let mut args = vec!["backup", "--from", from.to_str().unwrap(), "-r"];
    let r = recipient();
    args.push(&r);
    args.extend(["-o", out.to_str().unwrap()]);
    args.extend_from_slice(extra);
    tk(&args)
}

/// What a run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn tk(args: &[&str]) -> Run {
    tk_env(args, &[])
}

/// The binary under test: `TRUSTKEEP_TEST_BIN` when set (a private copy, for machines where
/// several worktrees share one target directory and overwrite `target/debug/trustkeep`),
/// else the one cargo built.
pub fn bin() -> PathBuf {
    std::env::var_os("TRUSTKEEP_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_trustkeep")))
}

/// [`tk_env`] with owned values (a store's credentials and endpoints).
pub fn tk_vars(env: &[(&'static str, String)], args: &[&str]) -> Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    tk_env(args, &env)
}

pub fn tk_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_remove("TRUSTKEEP_PASSPHRASE")
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd)
}

pub fn run(mut cmd: Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Runs an external program; panics with its output if it fails to start.
pub fn ext(program: &str, args: &[&str]) -> Run {
    let mut cmd = Command::new(program);
    cmd.args(args);
    run(cmd)
}

/// One plain HTTP/1.0 request to a server on 127.0.0.1 (HTTP/1.0, so that no reply is
/// chunked): for the tests that talk to an emulator directly. Returns the status and body.
pub fn http10(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let mut req = format!(
        "{method} {target} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    let split = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP reply: {}", String::from_utf8_lossy(&reply)));
    let status = String::from_utf8_lossy(&reply[..split])
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    (status, reply[split + 4..].to_vec())
}

/// The clusters of the setups the pki tests make.
pub const CLUSTERS: [&str; 3] = ["mgmt", "cluster-1", "cluster-2"];
/// What the agents dial: `gloo-mesh-mgmt-server.gloo-mesh`, covered by `*.gloo-mesh`.
pub const RELAY_AUTHORITY: &str = "gloo-mesh-mgmt-server.gloo-mesh";

/// A setup `pki init` made: birth archives in `birth/`, manifests in `m/<cluster>/`.
pub struct Made {
    pub w: Work,
    pub placement: &'static str,
}

impl Made {
    pub fn init(architecture: &str, placement: &'static str, extra: &[&str]) -> Made {
        let head = [
            "init",
            "--architecture",
            architecture,
            "--placement",
            placement,
        ];
        let (made, run) = Made::make(&head, placement, extra);
        assert_eq!(run.code, 0, "{architecture} {placement}: {run:?}");
        made
    }

    /// `pki HEAD… --management mgmt --workload cluster-1 --workload cluster-2 -r R -o birth/
    /// --to-manifests m/ EXTRA…` in a new work directory (`pki init`, `pki rescue`).
    pub fn make(head: &[&str], placement: &'static str, extra: &[&str]) -> (Made, Run) {
        let w = Work::new();
        let (birth, m, r) = (w.path("birth"), w.path("m"), recipient());
        let mut args = vec!["pki"];
        args.extend_from_slice(head);
        args.extend([
            "--management",
            "mgmt",
            "--workload",
            "cluster-1",
            "--workload",
            "cluster-2",
            "-r",
            &r,
            "-o",
            birth.to_str().unwrap(),
            "--to-manifests",
            m.to_str().unwrap(),
        ]);
        args.extend_from_slice(extra);
        let run = tk(&args);
        (Made { w, placement }, run)
    }

    /// The birth archive of `cluster`.
    pub fn birth(&self, cluster: &str) -> PathBuf {
        let found: Vec<PathBuf> = std::fs::read_dir(self.w.path("birth"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                n.starts_with(&format!("{cluster}-2")) && n.ends_with(".tar.gz.age")
            })
            .collect();
        assert_eq!(found.len(), 1, "{cluster}: {found:?}");
        found[0].clone()
    }

    /// Every manifest of `cluster`, sorted by path.
    pub fn manifest_files(&self, cluster: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let dir = self.w.path("m").join(cluster);
        for ns in std::fs::read_dir(&dir).unwrap() {
            for f in std::fs::read_dir(ns.unwrap().path()).unwrap() {
                out.push(f.unwrap().path());
            }
        }
        out.sort();
        out
    }

    /// The manifests of `cluster` as one multi-document file, as `kubectl get -o yaml` would
    /// give them: what `audit --from` reads.
    pub fn cluster_file(&self, cluster: &str) -> PathBuf {
        let mut text = String::new();
        for f in self.manifest_files(cluster) {
            text.push_str("---\n");
            text.push_str(&std::fs::read_to_string(f).unwrap());
        }
        let out = self.w.path(&format!("{cluster}.yaml"));
        std::fs::write(&out, text).unwrap();
        out
    }

    /// The secrets in `cluster`'s manifests.
    pub fn secrets(&self, cluster: &str) -> Vec<SecretRecord> {
        self.manifest_files(cluster)
            .iter()
            .filter(|f| !f.to_string_lossy().ends_with(".roottrustpolicy.yaml"))
            .map(|f| {
                SecretRecord::from_yaml(&std::fs::read_to_string(f).unwrap(), "default").unwrap()
            })
            .collect()
    }

    /// `audit --strict --profile birth/mgmt.profile.yaml --from` every cluster's manifests.
    pub fn audit(&self, extra: &[&str]) -> Run {
        let profile = self.w.path("birth/mgmt.profile.yaml");
        let mut args = vec![
            "audit".to_string(),
            "--strict".into(),
            "--profile".into(),
            profile.to_str().unwrap().into(),
            "--output".into(),
            "json".into(),
        ];
        for c in CLUSTERS {
            args.push("--from".into());
            args.push(format!("{c}={}", self.cluster_file(c).display()));
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        tk(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }
}

pub fn json(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"))
}

/// Data key `key` of manifest `rel` of `cluster` under `dir`, written to a 0600 file.
pub fn cert_or_key(dir: &Path, cluster: &str, rel: &str, key: &str, w: &Work) -> String {
    let text = std::fs::read_to_string(dir.join(cluster).join(rel)).unwrap();
    let r = SecretRecord::from_yaml(&text, "default").unwrap();
    let out = w.path(&format!("go-{cluster}-{}-{key}", rel.replace('/', "_")));
    std::fs::write(&out, r.get(key).unwrap().expose()).unwrap();
    set_mode(&out, 0o600);
    out.to_str().unwrap().to_string()
}

/// Go, as Gloo Mesh and Istio run it (tests/go-oracle), over the manifests of `m`: each
/// workload cluster's agent and the relay server complete a mutual TLS handshake (the server
/// verifying agents by its `ca.crt`, the agent the server by its `relay-root-tls-secret`,
/// dialling [`RELAY_AUTHORITY`]); istiod's plug-in check accepts each cluster's `cacerts`; a
/// workload certificate issued under one cluster's intermediate verifies against the other's
/// `root-cert.pem`, both ways. `at` names the step in messages.
pub fn go_runs_the_setup(m: &Made, at: &str) {
    let oracle = crate::x509::go_oracle().to_str().unwrap().to_string();
    let go = |args: &[&str]| {
        let r = ext(&oracle, args);
        assert_eq!(r.code, 0, "{at}: go-oracle {args:?}: {r:?}");
    };
    let dir = m.w.path("m");
    let s = |c: &str, rel: &str, k: &str| cert_or_key(&dir, c, rel, k, &m.w);
    let server = "gloo-mesh/relay-server-tls-secret.yaml";
    let agent = "gloo-mesh/relay-client-tls-secret.yaml";
    let root = "gloo-mesh/relay-root-tls-secret.yaml";
    let cacerts = "istio-system/cacerts.yaml";
    let workloads = &CLUSTERS[1..];
    for c in workloads {
        go(&[
            "tls",
            &s("mgmt", server, "tls.crt"),
            &s("mgmt", server, "tls.key"),
            &s("mgmt", server, "ca.crt"),
            &s(c, agent, "tls.crt"),
            &s(c, agent, "tls.key"),
            &s(c, root, "ca.crt"),
            RELAY_AUTHORITY,
        ]);
        go(&[
            "istiod",
            &s(c, cacerts, "ca-cert.pem"),
            &s(c, cacerts, "ca-key.pem"),
            &s(c, cacerts, "root-cert.pem"),
            &s(c, cacerts, "cert-chain.pem"),
        ]);
    }
    for (from, to) in [(workloads[0], workloads[1]), (workloads[1], workloads[0])] {
        go(&[
            "federation",
            &s(from, cacerts, "ca-cert.pem"),
            &s(from, cacerts, "ca-key.pem"),
            &s(from, cacerts, "cert-chain.pem"),
            &s(to, cacerts, "root-cert.pem"),
        ]);
    }
    eprintln!("go: relay handshakes, istiod and federation both ways ok ({at})");
}
