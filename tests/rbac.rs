//! Least privilege, proven: the sandbox enforces RBAC from the real Role, ClusterRole and
//! binding objects that `kubectl kustomize packaging/kubernetes/base` renders. A backup of the
//! sample management cluster succeeds with exactly those rules, takes every trust secret, and
//! fails, naming the missing permission, when any one rule (or any one secret name of the
//! Role) is taken away.

use serde_json::Value;
use trustkeep_sandbox::{self as sandbox, Rbac, Sandbox};

use crate::util::{self, ext, fixture, Run, Work};

/// The RBAC objects of the packaged base.
fn packaged_rbac() -> Vec<Value> {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/kubernetes/base");
    let r = ext("kubectl", &["kustomize", base.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let all: Vec<Value> = serde_saphyr::from_multiple(&r.stdout).unwrap();
    all.into_iter()
        .filter(|o| o["kind"].as_str().unwrap().contains("Role"))
        .collect()
}

/// A backup of the sample cluster, served by a sandbox enforcing `rbac` for
/// gloo-mesh/trustkeep; the run and the JSON report.
fn backup_with(rbac: &[Value]) -> (Run, Option<Value>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let w = Work::new();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let text = std::fs::read_to_string(fixture("sample/mgmt.yaml")).unwrap();
    let objects = sandbox::load_objects(&text).unwrap();
    let rbac = Rbac::for_service_account(rbac, "gloo-mesh", "trustkeep").unwrap();
    let sb = rt
        .block_on(Sandbox::start(sandbox::Options {
            objects,
            rbac: Some(rbac),
            ..Default::default()
        }))
        .unwrap();
    let kc = w.path("kubeconfig");
    std::fs::write(&kc, sb.kubeconfig("sandbox")).unwrap();
    let out = w.path("out/");
    let r = util::tk(&[
        "backup",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--context",
        "sandbox",
        "--cluster",
        "mgmt",
        "-r",
        &util::recipient(),
        "-o",
        out.to_str().unwrap(),
        "--output",
        "json",
    ]);
    rt.block_on(sb.shutdown());
    let report = serde_json::from_str(&r.stdout).ok();
    (r, report)
}

#[test]
#[ignore = "needs kubectl"]
fn backup_needs_exactly_the_packaged_rules() {
    let rbac = packaged_rbac();
    let (r, report) = backup_with(&rbac);
    assert_eq!(r.code, 0, "with the packaged rules: {r:?}");
    let report = report.unwrap();
    let secrets = report["manifest"]["secrets"].as_array().unwrap().len();
    assert_eq!(secrets, 5, "every trust secret of the sample");
    assert!(report["manifest"]["source"]["cluster_uid"].is_string());
    // Take away one rule, or one name of a rule, at a time (not the last name of a rule:
    // an empty resourceNames grants every name).
    let mut cases = Vec::new();
    for (i, o) in rbac.iter().enumerate() {
        let Some(rules) = o["rules"].as_array() else {
            continue;
        };
        for (j, rule) in rules.iter().enumerate() {
            let mut without = rbac.clone();
            without[i]["rules"].as_array_mut().unwrap().remove(j);
            let resource = rule["resources"][0].as_str().unwrap().to_string();
            cases.push((resource.clone(), None, without));
            let names = rule["resourceNames"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for (k, name) in names.iter().enumerate().filter(|_| names.len() > 1) {
                let mut without = rbac.clone();
                let list = without[i]["rules"][j]["resourceNames"]
                    .as_array_mut()
                    .unwrap();
                list.remove(k);
                cases.push((resource.clone(), name.as_str().map(str::to_string), without));
            }
        }
    }
    assert!(cases.len() >= 9, "{}", cases.len());
    for (resource, name, without) in cases {
        let what = format!("without {resource} {name:?}");
        let (r, rep) = backup_with(&without);
        match resource.as_str() {
            "secrets" => {
                assert_eq!(r.code, 2, "{what}: {r:?}");
                assert!(r.stderr.contains("forbidden (403)"), "{what}: {}", r.stderr);
                assert!(r.stderr.contains("grant get"), "{what}: {}", r.stderr);
                if let Some(n) = name {
                    assert!(
                        r.stderr.contains(&format!("/{n}: forbidden")),
                        "{what}: {}",
                        r.stderr
                    );
                }
            }
            "namespaces" => {
                // Its only use: the cluster's identity in the archive (optional by design).
                assert_eq!(r.code, 0, "{what}: {r:?}");
                assert!(
                    rep.unwrap()["manifest"]["source"]["cluster_uid"].is_null(),
                    "{what}"
                );
            }
            "roottrustpolicies" => {
                // The archive of what could be read is written, but the run fails (exit 1)
                // and names the missing permission: the policy-named root was not found.
                let rep = rep.unwrap();
                assert_eq!(r.code, 1, "{what}: {r:?}");
                let findings = rep["findings"].to_string();
                assert!(
                    findings.contains("selection.policies-unknown")
                        && findings.contains("forbidden (403); grant list on roottrustpolicies"),
                    "{what}: {findings}"
                );
                assert_eq!(
                    rep["manifest"]["secrets"].as_array().unwrap().len(),
                    4,
                    "{what}"
                );
            }
            other => panic!("unexpected rule on {other}"),
        }
    }
}
