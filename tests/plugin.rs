//! Keys held in hardware through age plugins, driven by the TEST-ONLY plugin
//! `crates/age-plugin-tktest` (the real age-plugin protocol, built on the `age-plugin` crate;
//! its "token" is an X25519 key inside the identity). The plugin's directory is put on PATH
//! for the trustkeep subprocess, as an operator installs `age-plugin-yubikey`: backups to a
//! plugin recipient open with its identity (inspect, verify, restore `--to-manifests`),
//! `rewrap` moves archives between an X25519 recipient and a plugin one, the stock `age` CLI
//! and trustkeep open each other's plugin archives, and a missing plugin, a failing one and
//! one asking for a PIN with no terminal each fail at once with an error naming the plugin,
//! nothing written.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::util::{self, fixture, run, tk_env, Run, Work, AT};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The test plugin's binary, built by cargo for this workspace (a no-op when it is up to date;
/// `cargo test` builds the trustkeep package's binaries only).
fn plugin_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "build",
                "--quiet",
                "-p",
                "age-plugin-tktest",
                "--bin",
                "age-plugin-tktest",
                "--message-format=json",
            ])
            .output()
            .expect("run cargo build -p age-plugin-tktest");
        assert!(
            out.status.success(),
            "cargo build -p age-plugin-tktest: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["target"]["name"] == "age-plugin-tktest")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo names the age-plugin-tktest executable")
    })
}

/// A directory holding only the test plugin: the PATH of a machine where it is installed.
struct Plugin {
    dir: tempfile::TempDir,
}

impl Plugin {
    fn installed() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(plugin_bin(), dir.path().join("age-plugin-tktest")).unwrap();
        Plugin { dir }
    }
    fn path(&self) -> &str {
        s(self.dir.path())
    }
}

/// A new plugin identity in `w` (`plugin-id.txt`, 0600), as the plugin prints it, and its
/// recipient `age1tktest1…`.
fn new_identity(w: &Work) -> (PathBuf, String) {
    let r = run(Command::new(plugin_bin()));
    assert_eq!(r.code, 0, "{r:?}");
    let recipient = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("# recipient: "))
        .expect("the plugin prints the recipient")
        .to_string();
    assert!(recipient.starts_with("age1tktest1"), "{recipient}");
    assert!(r.stdout.contains("\nAGE-PLUGIN-TKTEST-1"), "{}", r.stdout);
    let id = w.path("plugin-id.txt");
    std::fs::write(&id, &r.stdout).unwrap();
    util::set_mode(&id, 0o600);
    (id, recipient)
}

/// trustkeep with the plugin on PATH (or `path`), and `env`.
fn tk_with(path: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut vars = vec![("PATH", path)];
    vars.extend_from_slice(env);
    tk_env(args, &vars)
}

fn backup_to(path: &str, recipient: &str, out: &Path, env: &[(&str, &str)]) -> Run {
    let from = fixture("sample/mgmt.yaml");
    tk_with(
        path,
        &["backup", "--from", s(&from), "-r", recipient, "-o", s(out)],
        env,
    )
}

/// The stanza types of an age file's header, grease (random stanzas age adds) left out.
fn stanzas(archive: &Path) -> Vec<String> {
    let bytes = std::fs::read(archive).unwrap();
    String::from_utf8_lossy(&bytes[..bytes.len().min(2048)])
        .lines()
        .filter_map(|l| l.strip_prefix("-> "))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .filter(|t| !t.ends_with("-grease"))
        .collect()
}

#[test]
fn a_backup_to_a_plugin_recipient_opens_with_its_identity_everywhere() {
    let (w, p) = (Work::new(), Plugin::installed());
    let (id, recipient) = new_identity(&w);
    let archive = w.path("a.tar.gz.age");
    let r = backup_to(p.path(), &recipient, &archive, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(stanzas(&archive), ["tktest"], "the plugin's own stanza");

    let r = tk_with(p.path(), &["inspect", s(&archive), "-i", s(&id)], &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("relay-server-tls-secret"), "{}", r.stdout);
    let r = tk_with(
        p.path(),
        &["verify", s(&archive), "-i", s(&id), "--at", AT],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let out = w.path("manifests");
    let r = tk_with(
        p.path(),
        &[
            "restore",
            s(&archive),
            "-i",
            s(&id),
            "--to-manifests",
            s(&out),
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        std::fs::read_dir(&out).unwrap().next().is_some(),
        "manifests written"
    );
    // The X25519 identity of another key does not open it; the plugin identity beside an
    // X25519 one in the same file does.
    let r = tk_with(p.path(), &["inspect", s(&archive), "-i", s(&w.id())], &[]);
    assert_eq!(r.code, 2, "{r:?}");
    let both = w.path("both.txt");
    let text = std::fs::read_to_string(w.id()).unwrap() + &std::fs::read_to_string(&id).unwrap();
    std::fs::write(&both, text).unwrap();
    util::set_mode(&both, 0o600);
    let r = tk_with(p.path(), &["inspect", s(&archive), "-i", s(&both)], &[]);
    assert_eq!(r.code, 0, "{r:?}");

    // A recipients file (what the CronJob's ConfigMap mounts) with the plugin recipient and
    // an X25519 one: either identity opens the archive.
    let file = w.path("recipients.txt");
    std::fs::write(
        &file,
        format!("# team\n{recipient}\n{}\n", util::recipient()),
    )
    .unwrap();
    let two = w.path("two.tar.gz.age");
    let from = fixture("sample/mgmt.yaml");
    let r = tk_with(
        p.path(),
        &["backup", "--from", s(&from), "-R", s(&file), "-o", s(&two)],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let mut got = stanzas(&two);
    got.sort();
    assert_eq!(got, ["X25519", "tktest"]);
    for key in [&id, &w.id()] {
        let r = tk_with(p.path(), &["inspect", s(&two), "-i", s(key)], &[]);
        assert_eq!(r.code, 0, "{key:?}: {r:?}");
    }
    // `import` takes the same recipients.
    let imported = w.path("import.age");
    let r = tk_with(
        p.path(),
        &[
            "import",
            s(&fixture("seed-manual")),
            "-r",
            &recipient,
            "-o",
            s(&imported),
        ],
        &[],
    );
    assert!(r.code == 0 || r.code == 1, "{r:?}");
    assert_eq!(stanzas(&imported), ["tktest"]);
    let r = tk_with(p.path(), &["inspect", s(&imported), "-i", s(&id)], &[]);
    assert_eq!(r.code, 0, "{r:?}");
}

fn rewrap_plan(path: &str, archive: &Path, id: &Path, to: &str) -> Vec<String> {
    let r = tk_with(
        path,
        &[
            "rewrap",
            s(archive),
            "-i",
            s(id),
            "-r",
            to,
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    plan["items"]
        .as_array()
        .or_else(|| plan.as_array())
        .unwrap()
        .iter()
        .map(|i| i["action"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn rewrap_moves_archives_from_x25519_to_a_plugin_and_back() {
    let (w, p) = (Work::new(), Plugin::installed());
    let (id, recipient) = new_identity(&w);
    let archive = w.backup_sample("a.tar.gz.age");
    let opens =
        |key: &Path| tk_with(p.path(), &["inspect", s(&archive), "-i", s(key)], &[]).code == 0;
    assert_eq!(
        rewrap_plan(p.path(), &archive, &w.id(), &recipient),
        ["rewrapped"]
    );
    assert_eq!(stanzas(&archive), ["tktest"]);
    assert!(opens(&id) && !opens(&w.id()));
    // The header does not tell which plugin recipient a plugin stanza is for, so an archive
    // already for this plugin recipient is rewrapped again, never skipped on a guess.
    assert_eq!(
        rewrap_plan(p.path(), &archive, &id, &recipient),
        ["rewrapped"]
    );
    assert!(opens(&id));
    assert_eq!(
        rewrap_plan(p.path(), &archive, &id, &util::recipient()),
        ["rewrapped"]
    );
    assert_eq!(stanzas(&archive), ["X25519"]);
    assert!(opens(&w.id()) && !opens(&id));
}

#[test]
#[ignore = "needs age"]
fn stock_age_and_trustkeep_open_each_others_plugin_archives() {
    let (w, p) = (Work::new(), Plugin::installed());
    let (id, recipient) = new_identity(&w);
    let path = format!("{}:{}", p.path(), std::env::var("PATH").unwrap());
    // age opens what trustkeep encrypted to the plugin recipient.
    let archive = w.path("a.tar.gz.age");
    assert_eq!(backup_to(p.path(), &recipient, &archive, &[]).code, 0);
    let plain = w.path("plain.tar.gz");
    let mut age = Command::new("age");
    age.env("PATH", &path)
        .args(["-d", "-i", s(&id), "-o", s(&plain), s(&archive)]);
    let r = run(age);
    assert_eq!(r.code, 0, "{r:?}");
    let r = util::ext("tar", &["tzf", s(&plain)]);
    assert!(r.stdout.contains("manifest.json"), "{r:?}");
    // trustkeep opens what age encrypted to the plugin recipient (armored, too).
    let by_age = w.path("by-age.age");
    let mut age = Command::new("age");
    age.env("PATH", &path)
        .args(["-a", "-r", &recipient, "-o", s(&by_age), s(&plain)]);
    let r = run(age);
    assert_eq!(r.code, 0, "{r:?}");
    let r = tk_with(p.path(), &["inspect", s(&by_age), "-i", s(&id)], &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("relay-server-tls-secret"), "{}", r.stdout);
}

#[test]
fn a_missing_plugin_is_named_with_the_fix_and_nothing_is_written() {
    let (w, p) = (Work::new(), Plugin::installed());
    let (id, recipient) = new_identity(&w);
    let archive = w.path("a.tar.gz.age");
    assert_eq!(backup_to(p.path(), &recipient, &archive, &[]).code, 0);
    let empty = tempfile::tempdir().unwrap();
    let out = w.path("out");
    std::fs::create_dir(&out).unwrap();
    let r = backup_to(s(empty.path()), &recipient, &w.path("out/"), &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("needs the age plugin age-plugin-tktest, which is not on PATH")
            && r.stderr.contains("install it"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        0,
        "nothing written"
    );
    for verb in ["inspect", "verify"] {
        let r = tk_with(s(empty.path()), &[verb, s(&archive), "-i", s(&id)], &[]);
        assert_eq!(r.code, 2, "{verb}: {r:?}");
        assert!(
            r.stderr.contains(&format!("identity {}", id.display()))
                && r.stderr.contains("age-plugin-tktest, which is not on PATH"),
            "{verb}: {}",
            r.stderr
        );
    }
    let manifests = w.path("manifests");
    let r = tk_with(
        s(empty.path()),
        &[
            "restore",
            s(&archive),
            "-i",
            s(&id),
            "--to-manifests",
            s(&manifests),
        ],
        &[],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(!manifests.exists(), "nothing written");
}

#[test]
fn a_plugin_asking_for_a_pin_without_a_terminal_fails_at_once_naming_it() {
    let (w, p) = (Work::new(), Plugin::installed());
    let (id, recipient) = new_identity(&w);
    let archive = w.path("a.tar.gz.age");
    assert_eq!(backup_to(p.path(), &recipient, &archive, &[]).code, 0);
    // stdin is not a terminal (util::run gives the null device): nobody can answer.
    let pin = [("TKTEST_PIN", "271828")];
    for verb in ["inspect", "verify"] {
        let r = tk_with(p.path(), &[verb, s(&archive), "-i", s(&id)], &pin);
        assert_ne!(r.code, 0, "{verb}: {r:?}");
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(
            all.contains(
                "age-plugin-tktest asked for a secret such as a PIN (\"PIN of the tktest token\"), and nobody can answer"
            ) && all.contains("without a terminal"),
            "{verb}: {all}"
        );
        assert!(!r.stderr.contains("271828") && !r.stdout.contains("271828"));
    }
    let manifests = w.path("manifests");
    let r = tk_with(
        p.path(),
        &[
            "restore",
            s(&archive),
            "-i",
            s(&id),
            "--to-manifests",
            s(&manifests),
        ],
        &pin,
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("age-plugin-tktest asked for a secret"),
        "{}",
        r.stderr
    );
    assert!(!manifests.exists(), "nothing written");

    // A token that fails (not plugged in): its own words, the plugin named.
    let r = tk_with(
        p.path(),
        &["inspect", s(&archive), "-i", s(&id)],
        &[("TKTEST_FAIL", "unwrap")],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("age-plugin-tktest")
            && r.stderr
                .contains("simulated failure: the test token is not plugged in"),
        "{}",
        r.stderr
    );
    let out = w.path("out");
    std::fs::create_dir(&out).unwrap();
    let r = backup_to(
        p.path(),
        &recipient,
        &w.path("out/"),
        &[("TKTEST_FAIL", "wrap")],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("age-plugin-tktest")
            && r.stderr
                .contains("simulated failure: the test token is not plugged in"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        0,
        "nothing written"
    );
}

/// Runs `trustkeep ARGS` on a terminal (`script` gives it one), with the plugin on PATH and
/// `env`; waits for `prompt` on the terminal, then types `answer`. Returns the transcript.
fn on_a_terminal(
    p: &Plugin,
    args: &[&str],
    env: &[(&str, &str)],
    prompt: &str,
    answer: &str,
) -> (i32, String) {
    use std::io::{Read, Write};
    let mut cmd = format!("env PATH={}", p.path());
    for (k, v) in env {
        cmd += &format!(" {k}='{v}'");
    }
    cmd += &format!(" {}", util::bin().display());
    for a in args {
        cmd += &format!(" '{a}'");
    }
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run script");
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    // Read the terminal until the prompt shows (or trustkeep ends without asking).
    while !String::from_utf8_lossy(&seen).contains(prompt) {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(format!("{answer}\n").as_bytes());
    stdout.read_to_end(&mut seen).unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&seen).into_owned(),
    )
}

#[test]
#[ignore = "needs script"]
fn on_a_terminal_the_plugin_shows_its_message_and_asks_for_the_pin() {
    let (w, p) = (Work::new(), Plugin::installed());
    let (id, recipient) = new_identity(&w);
    let archive = w.path("a.tar.gz.age");
    assert_eq!(backup_to(p.path(), &recipient, &archive, &[]).code, 0);
    let env = [
        ("TKTEST_PIN", "271828"),
        ("TKTEST_MESSAGE", "touch the test token"),
    ];
    let args = ["inspect", s(&archive), "-i", s(&id)];
    let prompt = "age-plugin-tktest: PIN of the tktest token: ";
    let (code, screen) = on_a_terminal(&p, &args, &env, prompt, "271828");
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("age-plugin-tktest: touch the test token"),
        "{screen}"
    );
    assert!(
        screen.contains(prompt) && screen.contains("relay-server-tls-secret"),
        "{screen}"
    );
    // trustkeep never prints the PIN (the prompt's own line may hold the terminal's echo of
    // what was typed before the prompt turned echo off: that is the terminal's, not ours).
    let printed = |pin: &str, screen: &str| {
        screen
            .lines()
            .any(|l| !l.contains(prompt) && l.contains(pin))
    };
    assert!(!printed("271828", &screen), "{screen}");
    let (code, screen) = on_a_terminal(&p, &args, &env, prompt, "000000");
    assert_eq!(code, 2, "{screen}");
    assert!(
        screen.contains("age-plugin-tktest") && screen.contains("wrong PIN"),
        "{screen}"
    );
    assert!(
        !screen.contains("\\u{2068}"),
        "no isolation marks: {screen}"
    );
    assert!(!printed("000000", &screen), "{screen}");
}

/// `pki init -r` writes birth archives to a plugin recipient, and `pki reissue -i` issues a
/// lost certificate again from them with the plugin identity.
#[test]
fn pki_init_and_reissue_take_plugin_keys() {
    let (w, p) = (Work::new(), Plugin::installed());
    let (id, recipient) = new_identity(&w);
    let (birth, m) = (w.path("birth"), w.path("m"));
    let r = tk_with(
        p.path(),
        &[
            "pki",
            "init",
            "--architecture",
            "shared-root-shared-intermediate",
            "--placement",
            "hybrid",
            "--management",
            "mgmt",
            "--workload",
            "cluster-1",
            "-r",
            &recipient,
            "-o",
            s(&birth),
            "--to-manifests",
            s(&m),
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let mgmt = std::fs::read_dir(&birth)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("mgmt-2") && n.ends_with(".tar.gz.age")
        })
        .expect("the management cluster's birth archive");
    assert_eq!(stanzas(&mgmt), ["tktest"]);
    let server = m.join("mgmt/gloo-mesh/relay-server-tls-secret.yaml");
    std::fs::remove_file(&server).unwrap();
    let r = tk_with(
        p.path(),
        &[
            "pki",
            "reissue",
            "relay-server",
            "--cluster",
            "mgmt",
            "--from",
            s(&mgmt),
            "-i",
            s(&id),
            "--to-manifests",
            s(&m),
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(server.exists(), "the server certificate was issued again");
}
