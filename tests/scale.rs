//! Input limits that fit real clusters: `kubectl get secret -A -o yaml` of tens of thousands
//! of secrets is accepted (the YAML budget grows with the input), while a file of densely
//! packed nodes is still refused. The 50,000-secret run states its time and peak memory.

use std::fmt::Write as _;

use crate::util::{self, fixture, Work};

/// The sample management cluster plus `n` ordinary application secrets, in the shape
/// `kubectl get secret -A -o yaml` prints (managedFields included).
fn kubectl_yaml(n: usize) -> String {
    let sample = std::fs::read_to_string(fixture("sample/mgmt.yaml")).unwrap();
    let mut out = sample;
    let items = out.find("items:\n").expect("a List") + "items:\n".len();
    let mut filler = String::new();
    for i in 0..n {
        let _ = write!(
            filler,
            "- apiVersion: v1\n  data:\n    password: cGFzc3dvcmQtbnVtYmVyLXt7aX19\n    username: YXBw\n  kind: Secret\n  metadata:\n    creationTimestamp: \"2026-01-01T00:00:00Z\"\n    labels:\n      app: app-{i}\n      tier: backend\n    managedFields:\n    - apiVersion: v1\n      fieldsType: FieldsV1\n      fieldsV1:\n        \"f:data\":\n          \".\": {{}}\n          \"f:password\": {{}}\n      manager: kubectl-create\n      operation: Update\n      time: \"2026-01-01T00:00:00Z\"\n    name: app-secret-{i}\n    namespace: team-{ns}\n    resourceVersion: \"{rv}\"\n    uid: 00000000-0000-0000-0000-{i:012}\n  type: Opaque\n",
            ns = i % 100,
            rv = 1000 + i
        );
    }
    out.insert_str(items, &filler);
    out
}

#[test]
fn fifteen_thousand_secrets_of_kubectl_yaml_are_accepted() {
    let w = Work::new();
    let p = w.path("big.yaml");
    std::fs::write(&p, kubectl_yaml(15_000)).unwrap();
    let inv = trustkeep::source::read_file(p.to_str().unwrap(), "gloo-mesh").unwrap();
    assert!(inv.secrets.len() > 15_000, "{}", inv.secrets.len());
}

#[test]
fn densely_packed_yaml_is_still_refused() {
    let w = Work::new();
    let p = w.path("dense.yaml");
    // 4 MiB of one-character scalars: one node per 2 bytes, four times the budget.
    let mut s = String::from("items: [");
    s.push_str(&"a,".repeat(2 * 1024 * 1024));
    s.push_str("a]\n");
    std::fs::write(&p, s).unwrap();
    let err = trustkeep::source::read_file(p.to_str().unwrap(), "gloo-mesh").unwrap_err();
    assert!(matches!(err, trustkeep::Error::Parse { .. }), "{err:?}");
}

#[test]
#[ignore = "needs /usr/bin/time"]
fn fifty_thousand_secrets_back_up_and_the_cost_is_stated() {
    let w = Work::new();
    let p = w.path("50k.yaml");
    let yaml = kubectl_yaml(50_000);
    std::fs::write(&p, &yaml).unwrap();
    let out = w.path("50k.age");
    let start = std::time::Instant::now();
    let r = std::process::Command::new("/usr/bin/time")
        .arg("-v")
        .arg(util::bin())
        .args([
            "backup",
            "--from",
            p.to_str().unwrap(),
            "-r",
            &util::recipient(),
            "-o",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let secs = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{stderr}");
    let rss: u64 = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .unwrap()
        .parse()
        .unwrap();
    // A measurement, not an assertion: the figure goes in the README.
    println!(
        "50,000 secrets ({} MiB of YAML): backup took {secs:.1} s, peak RSS {} MiB",
        yaml.len() / (1024 * 1024),
        rss / 1024
    );
    assert!(out.exists());
}
