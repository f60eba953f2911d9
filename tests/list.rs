//! `trustkeep list STORE`, `restore DIR --latest` and calendar `prune` over a directory: "what
//! is my last good backup" with a good archive, a newer tampered one, another cluster's archive
//! and files trustkeep did not name; and which rule keeps each archive.

use serde_json::Value;

use crate::util::{self, tk, Work};

/// Two archives of `mgmt` (the newer one tampered: ciphertext changed, sidecar kept), one of
/// `c1`, and two files that are not trustkeep's. Returns (good, tampered) archive paths.
fn setup(w: &Work) -> (String, String) {
    let dir = w.path("b/");
    let mut made = Vec::new();
    for cluster in ["mgmt", "mgmt", "c1"] {
        let r = util::backup(
            "sample/mgmt.yaml",
            &dir,
            &["--cluster", cluster, "--output", "json"],
        );
        assert_eq!(r.code, 0, "{r:?}");
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        made.push(v["archive"].as_str().unwrap().to_string());
    }
    let mut bytes = std::fs::read(&made[1]).unwrap();
    let n = bytes.len();
    bytes[n - 20] ^= 1;
    std::fs::write(&made[1], bytes).unwrap();
    std::fs::write(w.path("b/notes.age"), "not an archive").unwrap();
    std::fs::write(w.path("b/README"), "hello").unwrap();
    (made[0].clone(), made[1].clone())
}

fn json(args: &[&str]) -> (i32, Value) {
    let r = tk(args);
    assert!(r.code != 2, "{r:?}");
    (r.code, serde_json::from_str(&r.stdout).unwrap())
}

fn archives(v: &Value) -> Vec<(String, String, bool)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let name = e["archive"].as_str().unwrap().rsplit('/').next().unwrap();
            let status = e["verdict"]
                .as_str()
                .unwrap_or(e["sidecar"].as_str().unwrap());
            (name.to_string(), status.to_string(), e["good"] == true)
        })
        .collect()
}

fn base(p: &str) -> String {
    p.rsplit('/').next().unwrap().to_string()
}

#[test]
fn list_shows_time_size_sidecar_and_with_keys_the_verdict() {
    let w = Work::new();
    let (good, tampered) = setup(&w);
    let dir = w.path("b/");
    let dir = dir.to_str().unwrap();
    let (code, v) = json(&["list", dir, "--output", "json"]);
    assert_eq!(code, 1, "a mismatched sidecar is a problem");
    let got = archives(&v);
    assert_eq!(got.len(), 3, "only trustkeep's names: {got:?}");
    assert_eq!(got[0].0.split('-').next(), Some("c1"));
    assert_eq!(got[1], (base(&tampered), "mismatch".into(), false));
    assert_eq!(got[2], (base(&good), "ok".into(), true));
    let size = std::fs::metadata(&good).unwrap().len();
    assert_eq!(v[2]["bytes"], size);
    assert!(v[2]["created"].as_str().unwrap().ends_with('Z'));

    // The last good backup per cluster, in one command.
    let id = w.id();
    let id = id.to_str().unwrap();
    let (code, v) = json(&["list", dir, "-i", id, "--latest", "--output", "json"]);
    assert_eq!(code, 0, "{v}");
    let got = archives(&v);
    assert_eq!(got.len(), 2);
    assert_eq!(got[1], (base(&good), "ok".into(), true));
    // Without keys, --latest is the newest, whatever its state.
    let (code, v) = json(&[
        "list",
        dir,
        "--latest",
        "--cluster",
        "mgmt",
        "--output",
        "json",
    ]);
    assert_eq!((code, archives(&v)[0].0.clone()), (1, base(&tampered)));
    // A cluster without any good archive shows its newest, not good.
    std::fs::remove_file(&good).unwrap();
    let (code, v) = json(&["list", dir, "-i", id, "--latest", "--output", "json"]);
    assert_eq!(code, 1);
    let got = archives(&v);
    assert!(got[1].1.starts_with("unreadable:") && !got[1].2, "{got:?}");
    // The table.
    let r = tk(&["list", dir, "-i", id]);
    assert_eq!(r.code, 1);
    let header = r.stdout.lines().next().unwrap();
    for col in [
        "CLUSTER", "CREATED", "SIZE", "SIDECAR", "VERDICT", "ARCHIVE",
    ] {
        assert!(header.contains(col), "{header}");
    }
}

#[test]
fn restore_latest_takes_the_newest_archive_that_verifies() {
    let w = Work::new();
    let (good, _tampered) = setup(&w);
    let dir = w.path("b/");
    let manifests = w.path("manifests");
    let id = w.id();
    let restore = |extra: &[&str]| {
        let mut args = vec![
            "restore",
            dir.to_str().unwrap(),
            "--latest",
            "-i",
            id.to_str().unwrap(),
            "--to-manifests",
            manifests.to_str().unwrap(),
            "--output",
            "json",
        ];
        args.extend_from_slice(extra);
        tk(&args)
    };
    let r = restore(&[]);
    assert_eq!(r.code, 2, "two clusters: say which");
    assert!(
        r.stderr.contains("say which with --cluster"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("mgmt") && r.stderr.contains("c1"),
        "{}",
        r.stderr
    );
    let r = restore(&["--cluster", "mgmt", "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v["archive"],
        base(&good),
        "skips the newer, tampered archive"
    );
    // --latest needs a directory; --cluster needs --latest.
    let r = tk(&["restore", &good, "--latest", "-i", w.id().to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--latest needs a directory"),
        "{}",
        r.stderr
    );
    let r = tk(&["restore", &good, "--cluster", "mgmt"]);
    assert_eq!(r.code, 2);
    // No archive verifies with another key.
    let other = w.path("other-id.txt");
    let r = tk(&[
        "restore",
        dir.to_str().unwrap(),
        "--latest",
        "--cluster",
        "c1",
        "-i",
        other.to_str().unwrap(),
        "--to-manifests",
        manifests.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no archive of cluster c1 verifies"),
        "{}",
        r.stderr
    );
}

#[test]
fn prune_by_calendar_names_the_rule_keeping_each_archive() {
    let w = Work::new();
    let dir = w.path("cal");
    std::fs::create_dir(&dir).unwrap();
    let seed = w.backup_sample("seed.age");
    // Daily archives for 40 days in 2026, one without its sidecar, one not trustkeep's.
    for day in 0..40 {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap() + chrono::Days::new(day);
        let name = format!("mgmt-{}T020000Z.tar.gz.age", t.format("%Y%m%d"));
        std::fs::copy(&seed, dir.join(&name)).unwrap();
        if day != 0 {
            std::fs::write(dir.join(format!("{name}.sha256")), "x").unwrap();
        }
    }
    std::fs::write(dir.join("mgmt-notes.tar.gz"), "x").unwrap();
    let d = dir.to_str().unwrap();
    let args = [
        "prune",
        d,
        "--keep-daily",
        "3",
        "--keep-weekly",
        "2",
        "--dry-run",
    ];
    let r = tk(&[&args[..], &["--output", "json"]].concat());
    assert_eq!(r.code, 0, "{r:?}");
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    let kept: Vec<(String, Vec<String>)> = plan
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["keep"] == true)
        .map(|d| {
            let day = d["created"].as_str().unwrap()[..10].to_string();
            let rules = d["rules"].as_array().unwrap();
            (
                day,
                rules
                    .iter()
                    .map(|r| r.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        kept,
        [
            ("2026-11-09".into(), v(&["newest", "daily", "weekly"])),
            ("2026-11-08".into(), v(&["daily", "weekly"])),
            ("2026-11-07".into(), v(&["daily"])),
            (
                "2026-10-01".into(),
                v(&["no .sha256 sidecar: not a complete trustkeep backup"])
            ),
        ]
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 80, "dry run");
    let r = tk(&args[..6]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("36 archive(s) deleted"), "{}", r.stdout);
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        8,
        "4 archives, 3 sidecars, 1 other"
    );
    // No rule: refused.
    let r = tk(&["prune", d]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no retention rule"), "{}", r.stderr);
}
