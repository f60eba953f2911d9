//! Metrics and logs for unattended runs, checked by their real consumers: `promtool check
//! metrics` on the files `backup`, `verify` and `audit` write, `promtool test rules` on the
//! packaged alert rules, a real Pushgateway and node-exporter's textfile collector (Debian
//! packages `prometheus`, `prometheus-pushgateway`, `prometheus-node-exporter`), each
//! started on a free loopback port and killed on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::{self, ext, fixture, tk, Run, Work, AT};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// `promtool check metrics` on a file: its verdict and output.
fn promtool_check(path: &Path) -> Run {
    let mut cmd = Command::new("promtool");
    cmd.args(["check", "metrics"])
        .stdin(std::fs::File::open(path).unwrap());
    let out = cmd.output().expect("promtool (Debian package prometheus)");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// The value of the one sample of `series` (name and labels as written) in a text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

/// Backs up the sample cluster into `w/out/` with `extra` flags.
fn backup(w: &Work, extra: &[&str]) -> Run {
    std::fs::create_dir_all(w.path("out")).unwrap();
    let out = w.path("out/");
    util::backup("sample/mgmt.yaml", &out, extra)
}

#[test]
#[ignore = "needs promtool"]
fn promtool_accepts_the_metrics_of_backup_verify_and_audit() {
    let w = Work::new();
    let prom = w.path("backup.prom");
    let r = backup(&w, &["--metrics-file", prom.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    let text = std::fs::read_to_string(&prom).unwrap();
    let check = promtool_check(&prom);
    assert_eq!(check.code, 0, "promtool check metrics: {check:?}\n{text}");
    assert_eq!(
        sample(&text, r#"trustkeep_backup_last_status{cluster="mgmt"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"trustkeep_backup_secrets{cluster="mgmt"}"#),
        Some(5.0)
    );
    let archive = std::fs::read_dir(w.path("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".age"))
        .unwrap();
    let size = std::fs::metadata(&archive).unwrap().len() as f64;
    assert_eq!(
        sample(&text, r#"trustkeep_backup_bytes{cluster="mgmt"}"#),
        Some(size)
    );
    let root = r#"trustkeep_certificate_not_after_timestamp_seconds{cluster="mgmt",command="backup",secret_namespace="gloo-mesh",secret_name="relay-root-tls-secret",secret_key="ca.crt",subject_CN="relay-root-ca",issuer_CN="relay-root-ca",serial_number="10:00"}"#;
    assert!(sample(&text, root).is_some(), "{text}");
    let success = sample(
        &text,
        r#"trustkeep_backup_last_success_timestamp_seconds{cluster="mgmt"}"#,
    )
    .unwrap();
    assert!(!text.contains("BEGIN"), "no PEM in metrics");

    // A failed run (exit 2) says so and keeps the time of the last success.
    let r = util::tk(&[
        "backup",
        "--from",
        w.path("missing.yaml").to_str().unwrap(),
        "--cluster",
        "mgmt",
        "-r",
        &util::recipient(),
        "-o",
        w.path("out/").to_str().unwrap(),
        "--metrics-file",
        prom.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    let text = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(promtool_check(&prom).code, 0, "{text}");
    assert_eq!(
        sample(&text, r#"trustkeep_backup_last_status{cluster="mgmt"}"#),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"trustkeep_backup_last_success_timestamp_seconds{cluster="mgmt"}"#
        ),
        Some(success)
    );
    let leftovers: Vec<_> = std::fs::read_dir(w.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("trustkeep-metrics"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // verify and audit.
    let vprom = w.path("verify.prom");
    let r = w.with_id(
        "verify",
        &w.path("out/"),
        &["--at", AT, "--metrics-file", vprom.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let text = std::fs::read_to_string(&vprom).unwrap();
    assert_eq!(promtool_check(&vprom).code, 0, "{text}");
    assert_eq!(sample(&text, "trustkeep_verify_last_status"), Some(1.0));
    assert_eq!(sample(&text, "trustkeep_verify_archives"), Some(1.0));
    let aprom = w.path("audit.prom");
    let from = fixture("sample/mgmt.yaml");
    let r = tk(&[
        "audit",
        "--from",
        &format!("mgmt={}", from.display()),
        "--at",
        AT,
        "--metrics-file",
        aprom.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let text = std::fs::read_to_string(&aprom).unwrap();
    assert_eq!(promtool_check(&aprom).code, 0, "{text}");
    assert_eq!(sample(&text, "trustkeep_audit_last_status"), Some(1.0));
    assert!(text.contains(r#"command="audit",secret_namespace="gloo-mesh""#));
}

#[test]
#[ignore = "needs promtool"]
fn the_packaged_alert_rules_fire_and_resolve() {
    let dir = repo("packaging/prometheus");
    let r = ext(
        "promtool",
        &[
            "check",
            "rules",
            dir.join("trustkeep-rules.yaml").to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let r = ext(
        "promtool",
        &["test", "rules", dir.join("tests.yaml").to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "promtool test rules: {r:?}");
    // The PrometheusRule holds exactly the same groups.
    let rules: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(dir.join("trustkeep-rules.yaml")).unwrap())
            .unwrap();
    let cr: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(dir.join("prometheusrule.yaml")).unwrap())
            .unwrap();
    assert_eq!(cr["kind"], "PrometheusRule");
    assert_eq!(cr["spec"]["groups"], rules["groups"]);
    // Every alert is tested, and every metric an alert reads is one trustkeep writes.
    let tests = std::fs::read_to_string(dir.join("tests.yaml")).unwrap();
    let w = Work::new();
    let prom = w.path("all.prom");
    let r = backup(&w, &["--metrics-file", prom.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    let mut written = std::fs::read_to_string(&prom).unwrap();
    let vprom = w.path("v.prom");
    let r = w.with_id(
        "verify",
        &w.path("out/"),
        &["--metrics-file", vprom.to_str().unwrap()],
    );
    assert_ne!(r.code, 2, "{r:?}");
    written += &std::fs::read_to_string(&vprom).unwrap();
    let from = fixture("sample/mgmt.yaml");
    let aprom = w.path("a.prom");
    let a = format!("mgmt={}", from.display());
    tk(&[
        "audit",
        "--from",
        &a,
        "--metrics-file",
        aprom.to_str().unwrap(),
    ]);
    written += &std::fs::read_to_string(&aprom).unwrap();
    for rule in rules["groups"][0]["rules"].as_array().unwrap() {
        let name = rule["alert"].as_str().unwrap();
        assert!(
            tests.contains(&format!("alertname: {name}")),
            "{name} untested"
        );
        let expr = rule["expr"].as_str().unwrap();
        for word in expr.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if word.starts_with("trustkeep_") {
                assert!(
                    written.contains(&format!("# TYPE {word} gauge")),
                    "{name} reads {word}, which no command writes"
                );
            }
        }
    }
}

/// A peer program on a free loopback port, killed on drop (and by `timeout` after 5 minutes
/// whatever happens to the test). Also the S3 server and Pushgateway of tests/image.rs.
pub(crate) struct Peer {
    child: Child,
    port: u16,
}

impl Peer {
    pub(crate) fn start(program: &str, args: impl Fn(u16) -> Vec<String>) -> Peer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("timeout")
            .arg("300")
            .arg(program)
            .args(args(port))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        let peer = Peer { child, port };
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return peer;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{program} did not start on port {port}");
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// GET `path`: the body.
    pub(crate) fn get(&self, path: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        assert!(
            resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200"),
            "{resp}"
        );
        resp.split_once("\r\n\r\n").unwrap().1.to_string()
    }
}

impl Drop for Peer {
    /// SIGTERM to `timeout`, which passes it on to the peer and exits: a SIGKILL would end
    /// `timeout` alone and leave the peer running, holding whatever it inherited.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sample of a metric whose labels include all of `labels` (`k="v"` strings).
pub(crate) fn find(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit_once(' '))
        .map(|(_, v)| v.parse().unwrap())
}

#[test]
#[ignore = "needs prometheus-pushgateway"]
fn a_real_pushgateway_shows_the_series_and_keeps_the_last_success() {
    let gw = Peer::start("prometheus-pushgateway", |p| {
        vec![format!("--web.listen-address=127.0.0.1:{p}")]
    });
    let w = Work::new();
    let r = backup(&w, &["--pushgateway", &gw.url()]);
    assert_eq!(r.code, 0, "{r:?}");
    let text = gw.get("/metrics");
    let group = [
        r#"job="trustkeep""#,
        r#"command="backup""#,
        r#"cluster="mgmt""#,
    ];
    assert_eq!(
        find(&text, "trustkeep_backup_last_status", &group),
        Some(1.0),
        "{text}"
    );
    let success = find(
        &text,
        "trustkeep_backup_last_success_timestamp_seconds",
        &group,
    )
    .unwrap();
    assert!(find(
        &text,
        "trustkeep_certificate_not_after_timestamp_seconds",
        &[
            r#"secret_name="relay-root-tls-secret""#,
            r#"subject_CN="relay-root-ca""#
        ]
    )
    .is_some());
    // A failed backup of the same cluster: status 0, the last success stays.
    let r = tk(&[
        "backup",
        "--from",
        w.path("missing.yaml").to_str().unwrap(),
        "--cluster",
        "mgmt",
        "-r",
        &util::recipient(),
        "-o",
        w.path("out/").to_str().unwrap(),
        "--pushgateway",
        &gw.url(),
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    let text = gw.get("/metrics");
    assert_eq!(
        find(&text, "trustkeep_backup_last_status", &group),
        Some(0.0)
    );
    assert_eq!(
        find(
            &text,
            "trustkeep_backup_last_success_timestamp_seconds",
            &group
        ),
        Some(success)
    );
    // audit and verify push into their own groups.
    let a = format!("mgmt={}", fixture("sample/mgmt.yaml").display());
    let r = tk(&[
        "audit",
        "--from",
        &a,
        "--at",
        AT,
        "--pushgateway",
        &gw.url(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let text = gw.get("/metrics");
    assert_eq!(
        find(
            &text,
            "trustkeep_audit_last_status",
            &[r#"command="audit""#]
        ),
        Some(1.0)
    );
}

#[test]
#[ignore = "needs prometheus-pushgateway"]
fn an_unreachable_pushgateway_fails_the_run_and_the_archive_stays() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let w = Work::new();
    let url = format!("http://user:hunter2@127.0.0.1:{port}");
    let r = backup(&w, &["--pushgateway", &url]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("cannot reach the Pushgateway"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
    let archives = std::fs::read_dir(w.path("out")).unwrap().count();
    assert_eq!(
        archives, 2,
        "archive and sidecar are written before the push"
    );
    let r = backup(&w, &["--pushgateway", "ftp://user:hunter2@x"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--pushgateway"), "{}", r.stderr);
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
}

#[test]
#[ignore = "needs prometheus-node-exporter"]
fn node_exporters_textfile_collector_serves_the_series() {
    let w = Work::new();
    let textfiles = w.path("textfile");
    std::fs::create_dir(&textfiles).unwrap();
    // One file per command, as docs/operations.md says; they share families without clashing.
    let b = textfiles.join("trustkeep-backup.prom");
    assert_eq!(backup(&w, &["--metrics-file", b.to_str().unwrap()]).code, 0);
    let a = format!("mgmt={}", fixture("sample/mgmt.yaml").display());
    let f = textfiles.join("trustkeep-audit.prom");
    let r = tk(&[
        "audit",
        "--from",
        &a,
        "--at",
        AT,
        "--metrics-file",
        f.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let dir = textfiles.to_str().unwrap().to_string();
    let ne = Peer::start("prometheus-node-exporter", move |p| {
        vec![
            format!("--web.listen-address=127.0.0.1:{p}"),
            "--collector.disable-defaults".into(),
            "--collector.textfile".into(),
            format!("--collector.textfile.directory={dir}"),
        ]
    });
    let text = ne.get("/metrics");
    assert_eq!(
        find(&text, "node_textfile_scrape_error", &[]),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        find(
            &text,
            "trustkeep_backup_last_status",
            &[r#"cluster="mgmt""#]
        ),
        Some(1.0)
    );
    for command in ["backup", "audit"] {
        assert!(
            find(
                &text,
                "trustkeep_certificate_not_after_timestamp_seconds",
                &[&format!("command=\"{command}\""), r#"secret_key="ca.crt""#]
            )
            .is_some(),
            "{command}: {text}"
        );
    }
}

#[test]
fn json_logs_are_one_object_per_line_and_never_coloured() {
    let w = Work::new();
    let r = backup(&w, &["-v", "--log-format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(!lines.is_empty(), "-v logs something");
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{l}");
    }
    assert!(
        !r.stderr.contains('\u{1b}'),
        "no ANSI colour off a terminal"
    );
    // The final error is a JSON line too; a notice (unreadable archives) as well.
    let r = tk(&[
        "--log-format",
        "json",
        "backup",
        "--from",
        w.path("nothing.yaml").to_str().unwrap(),
        "-r",
        &util::recipient(),
        "-o",
        w.path("out/").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    let last: serde_json::Value = serde_json::from_str(r.stderr.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "ERROR");
    assert!(last["fields"]["error"]
        .as_str()
        .unwrap()
        .contains("nothing.yaml"));
    let r = tk(&[
        "--log-format",
        "json",
        "verify",
        w.path("nothing.age").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    for l in r.stderr.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}"));
        assert_eq!(v["level"], "ERROR", "{l}");
    }
    // Text logs off a terminal are not coloured either.
    let r = backup(&w, &["-v"]);
    assert!(
        !r.stderr.is_empty() && !r.stderr.contains('\u{1b}'),
        "{r:?}"
    );
}
