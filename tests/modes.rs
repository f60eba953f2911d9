//! Setups beyond the default, each built here from the sample (and, for a rotation, from two
//! generations of the library's sample generator): an insecure relay, a Vault
//! RootTrustPolicy, the hybrid placement (roots outside, intermediates inside), and a root
//! rotation with a passive CA. For each: discovery, backup with and without a profile, the
//! audit's setup (relay mode, architecture, placement) and its demo-only warnings, and the
//! restore plan, live against the sandbox where the mode lives in the cluster.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::discover::{helm_release, sample_objects, write_list};
use crate::live::{backup_live, Live};
use crate::util::{self, fixture, tk, Work};

fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("")
}

fn write(w: &Work, file: &str, items: &[Value]) -> PathBuf {
    write_list(w, file, items.to_vec())
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The sample management cluster without `drop`ped objects and without its value-less Helm
/// release, plus a deployed Helm release with `values`.
fn mgmt_with(drop: &[&str], values: Value) -> Vec<Value> {
    let mut items: Vec<Value> = sample_objects("sample/mgmt.yaml")
        .into_iter()
        .filter(|o| !drop.contains(&name(o)) && !name(o).starts_with("sh.helm.release"))
        .collect();
    items.push(helm_release(1, "deployed", values));
    items
}

fn run(args: &[String]) -> util::Run {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    tk(&a)
}

/// `audit --output json --at AT` over `from` files plus `extra`; the exit code and report.
fn audit(from: &[&Path], extra: &[&str]) -> (i32, Value) {
    let mut a = vec!["audit".to_string(), "--output".into(), "json".into()];
    for f in from {
        a.extend(["--from".to_string(), s(f).to_string()]);
    }
    a.extend(["--at".to_string(), util::AT.to_string()]);
    a.extend(extra.iter().map(|e| e.to_string()));
    let r = run(&a);
    let v = serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("{r:?}"));
    (r.code, v)
}

/// `severity check secret` of every finding but the summary.
fn findings(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] != "setup.summary")
        .map(|f| {
            format!(
                "{} {} {}",
                f["severity"].as_str().unwrap(),
                f["check"].as_str().unwrap(),
                f["secret"].as_str().unwrap_or("-")
            )
        })
        .collect()
}

const RELAY: [&str; 4] = [
    "relay-server-tls-secret",
    "relay-tls-signing-secret",
    "relay-root-tls-secret",
    "relay-identity-token-secret",
];

#[test]
fn an_insecure_installation_backs_up_cleanly_with_nothing_missing() {
    let w = Work::new();
    let setup = write(
        &w,
        "insecure.json",
        &mgmt_with(
            &RELAY,
            json!({"glooMgmtServer": {"enabled": true, "insecure": true}}),
        ),
    );
    let live = Live::start(&w, &[s(&setup)], &[], false);
    let mut a = vec![
        "discover".to_string(),
        "-o".into(),
        s(&w.path("p.yaml")).into(),
    ];
    a.extend(live.target());
    let d = run(&a);
    assert_eq!(d.code, 0, "{d:?}");
    let profile = w.path("p.yaml");
    let p: Value = serde_saphyr::from_str(&std::fs::read_to_string(&profile).unwrap()).unwrap();
    assert_eq!(p["relayMode"], "insecure");

    // With the profile: nothing is missing, only the Istio root is archived.
    let (b, archive) = backup_live(&w, &live, "i.age", &["--profile", s(&profile)]);
    assert_eq!(b.code, 0, "{b:?}");
    assert!(!b.stdout.contains("selection.missing"), "{}", b.stdout);
    assert_eq!(
        w.archived(&archive),
        ["root-trust-policy.gloo-mesh=root-trust"]
    );

    // The audit names the mode and warns as the seed does.
    let (code, v) = audit(&[&setup], &["--profile", s(&profile)]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["setup"]["relay_mode"], "insecure");
    assert_eq!(v["setup"]["relay_mode_source"], "profile");
    let f = findings(&v);
    assert!(f.contains(&"warning setup.insecure -".to_string()), "{f:?}");
    assert!(!f.iter().any(|f| f.starts_with("error")), "{f:?}");
    // Without a profile, the relay secrets are looked for and missing: errors.
    let (code, v) = audit(&[&setup], &[]);
    assert_eq!(code, 1, "{v}");
    assert!(v["setup"]["relay_mode"].is_null(), "{v}");
    assert!(
        findings(&v)
            .contains(&"error selection.missing gloo-mesh/relay-server-tls-secret".to_string()),
        "{v}"
    );

    // The restore plan into an empty cluster holds the one root.
    let empty = Live::start(&w, &[], &[], false);
    let r = empty.restore(
        &w,
        &archive,
        &["--dry-run", "--create-namespaces", "--output", "json"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    let actions: Vec<String> = plan["plan"]
        .as_array()
        .unwrap_or_else(|| panic!("{plan}"))
        .iter()
        .map(|i| {
            format!(
                "{} {}",
                i["action"].as_str().unwrap(),
                i["secret"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        actions,
        ["create gloo-mesh/root-trust-policy.gloo-mesh"],
        "{plan}"
    );
}

#[test]
fn a_vault_root_trust_policy_is_absent_by_design_and_its_root_external() {
    let w = Work::new();
    let mut items = mgmt_with(
        &["root-trust-policy.gloo-mesh"],
        json!({"glooMgmtServer": {"enabled": true}}),
    );
    for o in &mut items {
        if o["kind"] == "RootTrustPolicy" {
            o["spec"] = json!({"config": {"agentCa": {"vault": {"caPath": "pki_int/root/sign-intermediate", "server": "https://vault.example:8200"}}}});
        }
    }
    let setup = write(&w, "vault.json", &items);
    let profile = w.path("p.yaml");
    let d = tk(&["discover", "--from", s(&setup), "-o", s(&profile)]);
    assert_eq!(d.code, 0, "{d:?}");
    let p: Value = serde_saphyr::from_str(&std::fs::read_to_string(&profile).unwrap()).unwrap();
    let root = p["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["role"] == "root-trust")
        .unwrap()
        .clone();
    assert!(
        root["absentByDesign"].as_str().unwrap().contains("Vault"),
        "{p:?}"
    );
    let live = Live::start(&w, &[s(&setup)], &[], false);
    let (b, archive) = backup_live(&w, &live, "v.age", &["--profile", s(&profile)]);
    assert_eq!(b.code, 0, "{b:?}");
    assert_eq!(w.archived(&archive).len(), 4, "the four relay secrets");
    let c1 = fixture("sample/cluster-1.yaml");
    let (code, v) = audit(&[&setup, &c1], &["--profile", s(&profile)]);
    assert_eq!(code, 0, "{v}");
    let f = findings(&v);
    assert!(f.contains(&"info selection.vault -".to_string()), "{f:?}");
    assert!(
        !f.iter().any(|f| f.contains("setup.generated-root")),
        "{f:?}"
    );
    // The Istio root is seen only through the workload: external to the management cluster.
    assert_eq!(v["setup"]["architecture"], "separate-roots");
    assert_eq!(v["setup"]["istio_roots"].as_array().unwrap().len(), 1);
    let keys: Vec<&str> = v["setup"]["ca_keys_in_management_cluster"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["secret"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "gloo-mesh/relay-root-tls-secret",
            "gloo-mesh/relay-tls-signing-secret"
        ]
    );
}

#[test]
fn the_hybrid_placement_keeps_roots_outside_and_is_not_a_demo_setup() {
    let w = Work::new();
    // Gloo signs Istio intermediates with an intermediate CA whose root is kept outside: the
    // RootTrustPolicy names a secret in the cacerts keys (here cluster-1's intermediate, which
    // the sample's Istio root signed). The relay root's key is outside too.
    let c1 = sample_objects("sample/cluster-1.yaml");
    let cacerts = c1.iter().find(|o| name(o) == "cacerts").unwrap();
    let mut inter = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "istio-intermediate", "namespace": "gloo-mesh"}, "data": {}});
    for k in [
        "ca-cert.pem",
        "ca-key.pem",
        "root-cert.pem",
        "cert-chain.pem",
    ] {
        inter["data"][k] = cacerts["data"][k].clone();
    }
    let mut items = mgmt_with(
        &["root-trust-policy.gloo-mesh"],
        json!({"glooMgmtServer": {"enabled": true}}),
    );
    for o in &mut items {
        if o["kind"] == "RootTrustPolicy" {
            o["spec"] = json!({"config": {"mgmtServerCa": {"secretRef": {"name": "istio-intermediate", "namespace": "gloo-mesh"}}}});
        }
        if name(o) == "relay-root-tls-secret" {
            let ca = o["data"]["ca.crt"].clone();
            o["type"] = json!("Opaque");
            o["data"] = json!({"ca.crt": ca});
        }
    }
    items.push(inter);
    let mgmt = write(&w, "mgmt.json", &items);
    let (c1, c2) = (
        fixture("sample/cluster-1.yaml"),
        fixture("sample/cluster-2.yaml"),
    );
    let (code, v) = audit(&[&mgmt, &c1, &c2], &["--strict"]);
    // No key.missing for the root the secret does not hold, no demo warning: --strict passes.
    assert_eq!(code, 0, "{:?}", findings(&v));
    assert_eq!(v["setup"]["placement"], "hybrid", "{}", v["setup"]);
    assert_eq!(v["setup"]["architecture"], "separate-roots");
    assert_eq!(v["setup"]["relay_mode"], "mtls-generated");
    let roots: Vec<bool> = v["setup"]["ca_keys_in_management_cluster"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["root"].as_bool().unwrap())
        .collect();
    assert_eq!(roots, [false, false], "{}", v["setup"]);
    // The intermediate is what a backup must keep: the policy names it.
    let out = w.path("h.age");
    let b = util::backup(s(&mgmt), &out, &[]);
    assert_eq!(b.code, 0, "{b:?}");
    assert!(
        w.archived(&out)
            .contains(&"istio-intermediate=root-trust".to_string()),
        "{:?}",
        w.archived(&out)
    );
    // An intermediate that does not chain to the root beside it is caught.
    let other = sample_objects("defects/foreign-intermediate/cluster-1.yaml");
    let foreign = other.iter().find(|o| name(o) == "cacerts").unwrap();
    for o in &mut items {
        if name(o) == "istio-intermediate" {
            o["data"]["root-cert.pem"] = foreign["data"]["root-cert.pem"].clone();
        }
    }
    let bad = write(&w, "bad.json", &items);
    let (code, v) = audit(&[&bad], &[]);
    assert_eq!(code, 1);
    assert!(
        findings(&v).contains(&"error chain.verify gloo-mesh/istio-intermediate".to_string()),
        "{:?}",
        findings(&v)
    );
}

#[test]
fn a_rotation_with_a_passive_root_keeps_both_roots_and_names_the_clusters_on_the_old_one() {
    use base64::Engine;
    let now = chrono::Utc::now();
    let old = trustkeep::sample::generate(now - chrono::Duration::days(30), 2);
    let new = trustkeep::sample::generate(now - chrono::Duration::days(1), 1);
    let b64 = base64::engine::general_purpose::STANDARD;
    let find = |objs: &[Value], n: &str| objs.iter().find(|o| name(o) == n).unwrap().clone();
    // The management cluster mid-rotation: the policy signs with the new root and keeps the
    // old one trusted as a passive CA.
    let mut new_root = find(&new.mgmt, "root-trust-policy.gloo-mesh");
    new_root["metadata"] = json!({"name": "istio-root-2", "namespace": "gloo-mesh"});
    new_root["type"] = json!("Opaque");
    let mut mgmt = old.mgmt.clone();
    for o in &mut mgmt {
        if o["kind"] == "RootTrustPolicy" {
            o["spec"]["config"] = json!({
                "mgmtServerCa": {"secretRef": {"name": "istio-root-2", "namespace": "gloo-mesh"}},
                "passiveCertificateAuthorities": [{"secretRef": {"name": "root-trust-policy.gloo-mesh"}}]
            });
        }
    }
    mgmt.push(new_root.clone());
    // cluster-1 has its intermediate from the new root (trusting both); cluster-2 is still
    // on the old one.
    let (n1, mut c1) = old.workloads[0].clone();
    let new_cacerts = find(&new.workloads[0].1, "cacerts");
    let old_root_pem = {
        let r = find(&old.mgmt, "root-trust-policy.gloo-mesh");
        b64.decode(r["data"]["root-cert.pem"].as_str().unwrap())
            .unwrap()
    };
    for o in &mut c1 {
        if name(o) == "cacerts" {
            *o = new_cacerts.clone();
            let mut bundle = b64
                .decode(o["data"]["root-cert.pem"].as_str().unwrap())
                .unwrap();
            bundle.extend(&old_root_pem);
            o["data"]["root-cert.pem"] = json!(b64.encode(bundle));
        }
    }
    let (n2, c2) = old.workloads[1].clone();
    let w = Work::new();
    let m = write(&w, "mgmt.json", &mgmt);
    let f1 = write(&w, &format!("{n1}.json"), &c1);
    let f2 = write(&w, &format!("{n2}.json"), &c2);

    // A backup that may only GET secrets finds the passive root through the policy alone.
    let live = Live::start(&w, &[s(&m)], &["list:secrets"], false);
    let (b, archive) = backup_live(&w, &live, "r.age", &[]);
    assert_eq!(b.code, 0, "{b:?}");
    let names = w.archived(&archive);
    for want in [
        "istio-root-2=root-trust",
        "root-trust-policy.gloo-mesh=root-trust",
    ] {
        assert!(names.contains(&want.to_string()), "{names:?}");
    }

    let m1 = format!("mgmt={}", s(&m));
    let (a1, a2) = (format!("{n1}={}", s(&f1)), format!("{n2}={}", s(&f2)));
    let mut a = vec!["audit".to_string(), "--output".into(), "json".into()];
    for f in [&m1, &a1, &a2] {
        a.extend(["--from".to_string(), f.clone()]);
    }
    let r = run(&a);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(
        !findings(&v).iter().any(|f| f.contains("trust.istio-root")),
        "both roots are trusted: {:?}",
        findings(&v)
    );
    let rotation: Vec<(String, String)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "trust.rotation")
        .map(|f| {
            (
                f["cluster"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(rotation.len(), 2, "{rotation:?}");
    for (cluster, msg) in &rotation {
        let old = msg.contains("has not switched: this certificate chains to the old root");
        assert_eq!(old, cluster == &n2, "{cluster}: {msg}");
    }
}
