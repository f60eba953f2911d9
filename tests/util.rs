//! Helpers shared by the integration tests: fixture paths, temporary directories, running the
//! `trustkeep` binary, and the test-only identities.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
