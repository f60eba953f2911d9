//! trustkeep against live clusters: the `trustkeep` binary talks over real HTTPS (the kube
//! client) to a sandbox API server running in the test process. Backup, audit and restore
//! are checked end to end, including least-privilege RBAC, a missing CRD, conflicts, type
//! changes, namespace mapping, dry runs, idempotence and API call counts.

use std::path::PathBuf;

use serde_json::Value;
use trustkeep_sandbox::{self as sandbox, Forbid, Sandbox};

use crate::util::{self, fixture, tk, Work};

/// A sandbox loaded with fixture files, served from a runtime owned by the test, and a
/// kubeconfig for it.
pub struct Live {
    pub rt: tokio::runtime::Runtime,
    pub sb: Option<Sandbox>,
    pub kubeconfig: PathBuf,
}

pub const CONTEXT: &str = "sandbox";

impl Live {
    pub fn start(w: &Work, files: &[&str], forbid: &[&str], without_crd: bool) -> Live {
        let forbid = forbid
            .iter()
            .map(|f| f.parse::<Forbid>().unwrap())
            .collect();
        let opts = sandbox::Options {
            forbid,
            without_crd,
            ..Default::default()
        };
        Live::start_with(w, files, opts)
    }

    /// A sandbox injecting `faults` (`--fault` rules), drawn from `seed`.
    pub fn faulty(w: &Work, files: &[&str], faults: &[&str], seed: u64) -> Live {
        let opts = sandbox::Options {
            faults: faults.iter().map(|f| f.parse().unwrap()).collect(),
            fault_seed: seed,
            ..Default::default()
        };
        Live::start_with(w, files, opts)
    }

    pub fn start_with(w: &Work, files: &[&str], opts: sandbox::Options) -> Live {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut objects = Vec::new();
        for f in files {
            objects.extend(
                sandbox::load_objects(&std::fs::read_to_string(fixture(f)).unwrap()).unwrap(),
            );
        }
        let sb = rt
            .block_on(Sandbox::start(sandbox::Options { objects, ..opts }))
            .unwrap();
        let kubeconfig = w.path("kubeconfig");
        std::fs::write(&kubeconfig, sb.kubeconfig(CONTEXT)).unwrap();
        Live {
            rt,
            sb: Some(sb),
            kubeconfig,
        }
    }
    pub fn sb(&self) -> &Sandbox {
        self.sb.as_ref().unwrap()
    }
    pub fn kc(&self) -> String {
        self.kubeconfig.to_str().unwrap().to_string()
    }
    /// `--kubeconfig K --context sandbox`
    pub fn target(&self) -> Vec<String> {
        vec![
            "--kubeconfig".into(),
            self.kc(),
            "--context".into(),
            CONTEXT.into(),
        ]
    }
    /// `trustkeep restore ARCHIVE -i <test identity> <extra…> --kubeconfig K --context sandbox`
    pub fn restore(&self, w: &Work, archive: &std::path::Path, extra: &[&str]) -> util::Run {
        let id = w.id();
        let mut a = vec![
            "restore",
            archive.to_str().unwrap(),
            "-i",
            id.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        let target = self.target();
        a.extend(target.iter().map(String::as_str));
        tk(&a)
    }
    /// Deletes `gloo-mesh/relay-server-tls-secret`, restores it from `archive` with `run` (a
    /// `trustkeep` runner carrying a store's environment) and checks it is back as it was.
    pub fn restores_deleted_secret_from(
        &self,
        w: &Work,
        archive: &str,
        run: impl Fn(&[&str]) -> util::Run,
    ) {
        let original = self
            .sb()
            .secret("gloo-mesh", "relay-server-tls-secret")
            .unwrap();
        assert!(self
            .sb()
            .remove("secrets", "gloo-mesh", "relay-server-tls-secret"));
        let (id, kc) = (w.id(), self.kc());
        let r = run(&[
            "restore",
            archive,
            "-i",
            id.to_str().unwrap(),
            "--kubeconfig",
            &kc,
            "--context",
            CONTEXT,
        ]);
        assert_eq!(r.code, 0, "restore from {archive}: {r:?}");
        assert_eq!(
            self.sb()
                .secret("gloo-mesh", "relay-server-tls-secret")
                .unwrap()["data"],
            original["data"]
        );
    }

    /// Real `kubectl --kubeconfig K --context sandbox <args…>`.
    pub fn kubectl(&self, args: &[&str]) -> util::Run {
        let mut a = vec![
            "--kubeconfig",
            self.kubeconfig.to_str().unwrap(),
            "--context",
            CONTEXT,
        ];
        a.extend_from_slice(args);
        util::ext("kubectl", &a)
    }

    /// Writes of any kind the sandbox received since the last reset.
    pub fn writes(&self) -> Vec<String> {
        self.sb()
            .requests()
            .into_iter()
            .filter(|r| !matches!(r.verb.as_str(), "get" | "list"))
            .map(|r| format!("{} {}", r.verb, r.path))
            .collect()
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(sb) = self.sb.take() {
            self.rt.block_on(sb.shutdown());
        }
    }
}

/// `trustkeep backup -r <test recipient> --kubeconfig K --context sandbox -o <name> --cluster mgmt <extra…>`
pub fn backup_live(w: &Work, live: &Live, name: &str, extra: &[&str]) -> (util::Run, PathBuf) {
    let out = w.path(name);
    let (r, target) = (util::recipient(), live.target());
    let mut a = vec!["backup", "-r", &r];
    a.extend(target.iter().map(String::as_str));
    a.extend(["-o", out.to_str().unwrap(), "--cluster", "mgmt"]);
    a.extend_from_slice(extra);
    (tk(&a), out)
}

/// The names of the secrets in `archive`'s manifest, in its order.
pub fn archived_names(w: &Work, archive: &std::path::Path) -> Vec<String> {
    w.manifest(archive)["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

/// What must be equal between two archives of the same secrets.
pub fn essence(m: &Value) -> Vec<Value> {
    m["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            serde_json::json!([
                s["namespace"],
                s["name"],
                s["type"],
                s["role"],
                s["labels"],
                s["annotations"],
                s["data"]
            ])
        })
        .collect()
}

#[test]
fn live_backup_equals_file_backup_with_few_api_calls() {
    let w = Work::new();
    let live = Live::start(&w, &["sample/mgmt.yaml"], &[], false);
    live.sb().reset_requests();
    let before = live.sb().connections();
    let (r, archive) = backup_live(&w, &live, "live.age", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    // The four requests share one connection (HTTP/2): not one TCP and TLS handshake each.
    assert_eq!(
        live.sb().connections() - before,
        1,
        "one connection per cluster"
    );
    // One LIST of policies, one LIST of secrets per namespace, one GET of kube-system, all
    // sent together (so in no fixed order).
    let mut calls: Vec<String> = live
        .sb()
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.verb, r.resource.clone().unwrap_or_default()))
        .collect();
    calls.sort();
    assert_eq!(
        calls,
        [
            "get namespaces",
            "list roottrustpolicies",
            "list secrets",
            "list secrets",
        ],
        "{calls:?}"
    );
    let file = w.path("file.age");
    let fr = util::backup("sample/mgmt.yaml", &file, &["--cluster", "mgmt"]);
    assert_eq!(fr.code, 0, "{fr:?}");
    let (lm, fm) = (w.manifest(&archive), w.manifest(&file));
    assert_eq!(essence(&lm), essence(&fm));
    assert_eq!(lm["source"]["kind"], "cluster");
    assert_eq!(lm["source"]["context"], CONTEXT);
    assert_eq!(lm["source"]["cluster_uid"], live.sb().cluster_uid());
    assert!(lm["source"]["server"]
        .as_str()
        .unwrap()
        .starts_with("https://127.0.0.1:"));
}

#[test]
fn least_privilege_backup_gets_known_names_and_missing_crd_is_a_warning() {
    let w = Work::new();
    // Listing secrets is forbidden; only GETs of names work. No Gloo CRD either.
    let live = Live::start(&w, &["sample/mgmt.yaml"], &["list:secrets"], true);
    live.sb().reset_requests();
    let (r, archive) = backup_live(&w, &live, "lp.age", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("warning [selection.policies-unknown]"),
        "{}",
        r.stdout
    );
    let reqs = live.sb().requests();
    let gets = reqs
        .iter()
        .filter(|r| r.verb == "get" && r.resource.as_deref() == Some("secrets"))
        .count();
    assert_eq!(gets, 6, "5 relay names in gloo-mesh and cacerts: {reqs:?}");
    // The generated root is still found (by its type) only when listed; with GETs only and no
    // CRD its name is unknown, so it is not in the archive, and the report says why.
    let names = archived_names(&w, &archive);
    assert_eq!(
        names,
        [
            "relay-identity-token-secret",
            "relay-root-tls-secret",
            "relay-server-tls-secret",
            "relay-tls-signing-secret"
        ]
    );
    // With the CRD, the policy names the root and a GET fetches it.
    let live2 = Live::start(&w, &["sample/mgmt.yaml"], &["list:secrets"], false);
    let (r, archive) = backup_live(&w, &live2, "lp2.age", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(w.manifest(&archive)["secrets"].as_array().unwrap().len(), 5);
}

#[test]
fn delete_then_restore_is_exact_and_idempotent() {
    let w = Work::new();
    let live = Live::start(&w, &["sample/mgmt.yaml"], &[], false);
    let (r, archive) = backup_live(&w, &live, "a.age", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let before: Vec<Value> = ["relay-server-tls-secret", "root-trust-policy.gloo-mesh"]
        .iter()
        .map(|n| live.sb().secret("gloo-mesh", n).unwrap())
        .collect();
    for n in ["relay-server-tls-secret", "root-trust-policy.gloo-mesh"] {
        assert!(live.sb().remove("secrets", "gloo-mesh", n));
    }
    // Dry run: a plan, and nothing written.
    live.sb().reset_requests();
    let r = live.restore(&w, &archive, &["--dry-run", "--output", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    let actions: Vec<(String, String)> = plan["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["secret"].as_str().unwrap().into(),
                i["action"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        actions.iter().filter(|(_, a)| a == "create").count(),
        2,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|(_, a)| a == "unchanged").count(),
        3,
        "{actions:?}"
    );
    assert!(
        live.writes().is_empty(),
        "dry run wrote: {:?}",
        live.writes()
    );
    assert!(live
        .sb()
        .secret("gloo-mesh", "relay-server-tls-secret")
        .is_none());
    // The restore.
    let r = live.restore(&w, &archive, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("ok: 5 secret(s) as archived, 0 not restored"),
        "{}",
        r.stdout
    );
    for old in &before {
        let name = old["metadata"]["name"].as_str().unwrap();
        let new = live.sb().secret("gloo-mesh", name).unwrap();
        assert_eq!(new["type"], old["type"], "{name}");
        assert_eq!(new["data"], old["data"], "{name}");
        assert_eq!(
            new["metadata"]["labels"], old["metadata"]["labels"],
            "{name}"
        );
        let mut ann = new["metadata"]["annotations"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(ann
            .remove("trustkeep.io/restored-from")
            .unwrap()
            .as_str()
            .unwrap()
            .starts_with("a.age ("));
        let old_ann = old["metadata"]["annotations"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert_eq!(ann, old_ann, "{name}");
        assert!(
            new["metadata"].get("ownerReferences").is_none(),
            "owner references are not restored"
        );
    }
    assert!(
        r.stdout
            .contains("owner references (RootTrustPolicy/root-trust-policy) are not restored"),
        "{}",
        r.stdout
    );
    // Again: all unchanged, no writes.
    live.sb().reset_requests();
    let r = live.restore(&w, &archive, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout
            .lines()
            .filter(|l| l.contains(" unchanged  unchanged "))
            .count(),
        5,
        "{}",
        r.stdout
    );
    assert!(live.writes().is_empty(), "{:?}", live.writes());
}

#[test]
fn conflicts_are_refused_and_replace_recreates_a_changed_type() {
    let w = Work::new();
    let live = Live::start(&w, &["sample/mgmt.yaml"], &[], false);
    let (_, archive) = backup_live(&w, &live, "a.age", &[]);
    let original = live
        .sb()
        .secret("gloo-mesh", "relay-server-tls-secret")
        .unwrap();
    // Someone recreated it by hand, as the seed's procedure would: wrong type, wrong data.
    let mut changed = original.clone();
    changed["type"] = "Opaque".into();
    changed["data"]["tls.crt"] = changed["data"]["ca.crt"].clone();
    changed["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    assert!(live
        .sb()
        .remove("secrets", "gloo-mesh", "relay-server-tls-secret"));
    live.sb().put(changed.clone()).unwrap();
    live.sb().reset_requests();
    let r = live.restore(&w, &archive, &["--only", "relay-server-tls-secret"]);
    assert_eq!(r.code, 1, "a refused secret is exit 1: {r:?}");
    assert!(
        r.stdout.contains("conflict")
            && r.stdout.contains(
                "type differs (live Opaque, archived kubernetes.io/tls); data differs in tls.crt"
            ),
        "{}",
        r.stdout
    );
    assert!(
        live.writes().is_empty(),
        "nothing overwritten: {:?}",
        live.writes()
    );
    assert_eq!(
        live.sb()
            .secret("gloo-mesh", "relay-server-tls-secret")
            .unwrap()["type"],
        "Opaque"
    );
    // --replace: a type cannot be updated, so delete and create.
    let r = live.restore(
        &w,
        &archive,
        &["--only", "relay-server-tls-secret", "--replace"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("recreate") && r.stdout.contains("recreated"),
        "{}",
        r.stdout
    );
    let now = live
        .sb()
        .secret("gloo-mesh", "relay-server-tls-secret")
        .unwrap();
    assert_eq!(
        (&now["type"], &now["data"]),
        (&original["type"], &original["data"])
    );
    // Same type, different data: an update guarded by resourceVersion.
    let mut edited = now.clone();
    edited["data"]["ca.crt"] = Value::String("eA==".into());
    live.sb().put(edited).unwrap();
    let r = live.restore(
        &w,
        &archive,
        &["--only", "relay-server-tls-secret", "--replace"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains(" replace ") && r.stdout.contains("replaced"),
        "{}",
        r.stdout
    );
    assert_eq!(
        live.sb()
            .secret("gloo-mesh", "relay-server-tls-secret")
            .unwrap()["data"],
        original["data"]
    );
}

#[test]
fn namespace_map_and_manifests() {
    let w = Work::new();
    let live = Live::start(&w, &["sample/mgmt.yaml"], &[], false);
    let (_, archive) = backup_live(&w, &live, "a.age", &[]);
    live.sb()
        .put(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "drill"}}))
        .unwrap();
    let r = live.restore(&w, &archive, &["--namespace-map", "gloo-mesh=drill"]);
    assert_eq!(r.code, 0, "{r:?}");
    for n in [
        "relay-server-tls-secret",
        "relay-tls-signing-secret",
        "root-trust-policy.gloo-mesh",
    ] {
        assert_eq!(
            live.sb().secret("drill", n).unwrap()["data"],
            live.sb().secret("gloo-mesh", n).unwrap()["data"],
            "{n}"
        );
    }
    // Into a namespace that does not exist: refused before anything is written, even in a
    // dry run, naming the namespace.
    for dry in [true, false] {
        live.sb().reset_requests();
        let mut extra = vec!["--namespace-map", "gloo-mesh=nowhere"];
        if dry {
            extra.push("--dry-run");
        }
        let r = live.restore(&w, &archive, &extra);
        assert_eq!(r.code, 2, "{r:?}");
        assert!(
            r.stderr
                .contains("cluster sandbox: namespace nowhere does not exist; create it first"),
            "{}",
            r.stderr
        );
        assert!(live.writes().is_empty(), "{:?}", live.writes());
    }
}

#[test]
fn restore_refuses_secrets_that_fail_the_checks() {
    let w = Work::new();
    let live = Live::start(&w, &["sample/mgmt.yaml"], &[], false);
    // An archive of the key-mismatch defect: tls.key is not the key of tls.crt.
    let bad = w.path("bad.age");
    util::backup("defects/key-mismatch/mgmt.yaml", &bad, &[]);
    assert!(live
        .sb()
        .remove("secrets", "gloo-mesh", "relay-server-tls-secret"));
    let r = live.restore(&w, &bad, &["--only", "relay-server-tls-secret"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("blocked") && r.stdout.contains("[key.match]"),
        "{}",
        r.stdout
    );
    assert!(live
        .sb()
        .secret("gloo-mesh", "relay-server-tls-secret")
        .is_none());
    let r = live.restore(
        &w,
        &bad,
        &["--only", "relay-server-tls-secret", "--allow-invalid"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(live
        .sb()
        .secret("gloo-mesh", "relay-server-tls-secret")
        .is_some());
}

#[test]
fn audit_reads_live_clusters_like_files() {
    let w = Work::new();
    let mgmt = Live::start(&w, &["sample/mgmt.yaml"], &[], false);
    let w1 = Work::new();
    let c1 = Live::start(
        &w1,
        &["defects/agent-san-mismatch/cluster-1.yaml"],
        &[],
        false,
    );
    // Two clusters in one KUBECONFIG list, as operators have them.
    let renamed = std::fs::read_to_string(&c1.kubeconfig)
        .unwrap()
        .replace(CONTEXT, "c1");
    std::fs::write(w.path("kc2"), renamed).unwrap();
    let merged = format!("{}:{}", mgmt.kc(), w.path("kc2").display());
    let r = util::tk_env(
        &[
            "audit",
            "--context",
            &format!("mgmt={CONTEXT}"),
            "--context",
            "cluster-1=c1",
            "--at",
            util::AT,
        ],
        &[("KUBECONFIG", &merged)],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains(
            "error   [role.relay-client] cluster-1:gloo-mesh/relay-client-tls-secret[tls.crt]"
        ),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("FAILED: 1 error(s)"), "{}", r.stdout);
}

#[test]
fn cluster_faults_are_clear_errors() {
    let w = Work::new();
    let live = Live::start(
        &w,
        &["sample/mgmt.yaml"],
        &[
            "get:secrets:gloo-mesh/relay-server-tls-secret",
            "list:secrets",
        ],
        false,
    );
    // 403 on a secret the backup needs.
    let (r, out) = backup_live(&w, &live, "x.age", &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("cluster sandbox: secret gloo-mesh/relay-server-tls-secret: forbidden (403)"),
        "{}",
        r.stderr
    );
    assert!(!out.exists(), "nothing written");
    // A namespace that does not exist.
    let ok = Live::start(&w, &["sample/mgmt.yaml"], &[], false);
    let (r, _) = backup_live(&w, &ok, "y.age", &["--namespace", "no-such-ns"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("namespace no-such-ns does not exist"),
        "{}",
        r.stderr
    );
    // Expired or wrong credentials.
    let text = std::fs::read_to_string(&ok.kubeconfig)
        .unwrap()
        .replace(ok.sb().token(), "expired-token");
    std::fs::write(w.path("bad-token"), text).unwrap();
    let r = tk(&[
        "backup",
        "--kubeconfig",
        w.path("bad-token").to_str().unwrap(),
        "--context",
        CONTEXT,
        "-r",
        &util::recipient(),
        "-o",
        w.path("z.age").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("credentials rejected (401"),
        "{}",
        r.stderr
    );
    // An API server that is not there (the sandbox is stopped).
    drop(ok);
    std::fs::copy(w.path("bad-token"), w.path("gone")).unwrap();
    let r = tk(&[
        "backup",
        "--kubeconfig",
        w.path("gone").to_str().unwrap(),
        "--context",
        CONTEXT,
        "-r",
        &util::recipient(),
        "-o",
        w.path("z.age").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("cannot reach the API server at https://127.0.0.1:"),
        "{}",
        r.stderr
    );
    assert_eq!(
        r.stderr
            .lines()
            .filter(|l| l.starts_with("trustkeep: error:"))
            .count(),
        1,
        "{}",
        r.stderr
    );
}

#[test]
fn demo_runs_the_whole_story() {
    let w = Work::new();
    let started = std::time::Instant::now();
    let r = tk(&["demo", "--dir", w.path("demo").to_str().unwrap()]);
    // The README's figure for the demo (a measurement, not an assertion).
    println!(
        "demo: {:.2} s (this build)",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(r.code, 0, "{r:?}");
    for step in 1..=9 {
        assert!(
            r.stdout.contains(&format!("== {step}. ")),
            "step {step} missing:\n{}",
            r.stdout
        );
    }
    assert!(r.stdout.contains(
        "restored secrets identical to the originals (type, data, labels, annotations): yes"
    ));
    assert!(r.stdout.contains("demo complete"));
    assert!(std::fs::read_dir(w.path("demo")).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".tar.gz.age")));
}

#[test]
#[ignore = "needs kubectl"]
fn the_seeds_scenario_with_real_kubectl() {
    let w = Work::new();
    let live = Live::start(&w, &["sample/mgmt.yaml"], &[], false);
    let kubectl = |args: &[&str]| live.kubectl(args);
    let jsonpath = |key: &str| {
        kubectl(&[
            "get",
            "secret",
            "-n",
            "gloo-mesh",
            "relay-server-tls-secret",
            "-o",
            &format!("jsonpath={{.data.{}}}", key.replace('.', "\\.")),
        ])
    };
    let before: Vec<String> = ["tls.crt", "tls.key", "ca.crt"]
        .iter()
        .map(|k| jsonpath(k).stdout)
        .collect();
    assert!(before.iter().all(|v| v.len() > 100), "{before:?}");
    let (r, archive) = backup_live(&w, &live, "a.age", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    // The accident, with kubectl.
    let r = kubectl(&[
        "delete",
        "secret",
        "-n",
        "gloo-mesh",
        "relay-server-tls-secret",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_ne!(jsonpath("tls.crt").code, 0);
    // One command restores it exactly.
    let r = live.restore(&w, &archive, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let after: Vec<String> = ["tls.crt", "tls.key", "ca.crt"]
        .iter()
        .map(|k| jsonpath(k).stdout)
        .collect();
    assert_eq!(after, before);
    let r = kubectl(&[
        "get",
        "secret",
        "-n",
        "gloo-mesh",
        "relay-server-tls-secret",
        "-o",
        "jsonpath={.type} {.metadata.labels.app}",
    ]);
    assert_eq!(r.stdout, "kubernetes.io/tls gloo-mesh-mgmt-server", "{r:?}");
    // Manifests written by --to-manifests are accepted by kubectl apply.
    let dir = w.path("manifests");
    let r = w.with_id(
        "restore",
        &archive,
        &[
            "--to-manifests",
            dir.to_str().unwrap(),
            "--only",
            "relay-tls-signing-secret",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(live
        .sb()
        .remove("secrets", "gloo-mesh", "relay-tls-signing-secret"));
    let r = kubectl(&[
        "apply",
        "-f",
        dir.join("gloo-mesh/relay-tls-signing-secret.yaml")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let restored = live
        .sb()
        .secret("gloo-mesh", "relay-tls-signing-secret")
        .unwrap();
    assert_eq!(restored["type"], "kubernetes.io/tls");
}

#[test]
fn imported_manual_folders_restore_as_tls_or_are_refused_with_the_reason() {
    let w = Work::new();
    let live = Live::start(&w, &["sample/mgmt.yaml"], &[], false);
    // A folder that kept tls.crt too: restored as kubernetes.io/tls with its three keys.
    let (_, full) = backup_live(&w, &live, "full.age", &[]);
    let ex = w.path("ex");
    assert_eq!(
        w.with_id("export", &full, &["--dir", ex.to_str().unwrap()])
            .code,
        0
    );
    let folder = w.path("manual/relay-server-tls-secret");
    std::fs::create_dir_all(&folder).unwrap();
    for k in ["tls.crt", "tls.key", "ca.crt"] {
        std::fs::copy(
            ex.join("secrets/gloo-mesh/relay-server-tls-secret").join(k),
            folder.join(k),
        )
        .unwrap();
    }
    let imported = w.path("imported.age");
    let r = tk(&[
        "import",
        w.path("manual").to_str().unwrap(),
        "-r",
        &util::recipient(),
        "-o",
        imported.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let original = live
        .sb()
        .secret("gloo-mesh", "relay-server-tls-secret")
        .unwrap();
    assert!(live
        .sb()
        .remove("secrets", "gloo-mesh", "relay-server-tls-secret"));
    let r = live.restore(&w, &imported, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let s = live
        .sb()
        .secret("gloo-mesh", "relay-server-tls-secret")
        .unwrap();
    assert_eq!(s["type"], "kubernetes.io/tls");
    assert_eq!(s["data"], original["data"]);
    // The seed's own folders (ca.crt + tls.key, no tls.crt) are refused, and the report says why.
    let seed = w.path("seed.age");
    tk(&[
        "import",
        fixture("seed-manual").to_str().unwrap(),
        "-r",
        &util::recipient(),
        "-o",
        seed.to_str().unwrap(),
    ]);
    assert!(live
        .sb()
        .remove("secrets", "gloo-mesh", "relay-server-tls-secret"));
    let r = live.restore(&w, &seed, &["--only", "relay-server-tls-secret"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("blocked"), "{}", r.stdout);
    assert!(
        r.stdout.contains("[key.match]")
            && r.stdout
                .contains("does not match the certificate in ca.crt"),
        "{}",
        r.stdout
    );
    assert!(
        live.sb()
            .secret("gloo-mesh", "relay-server-tls-secret")
            .is_none(),
        "nothing half-restored"
    );
}

#[test]
fn an_immutable_live_secret_is_recreated_with_replace() {
    let w = Work::new();
    let live = Live::start(&w, &["sample/mgmt.yaml"], &[], false);
    let (_, archive) = backup_live(&w, &live, "a.age", &[]);
    let original = live
        .sb()
        .secret("gloo-mesh", "relay-tls-signing-secret")
        .unwrap();
    let mut frozen = original.clone();
    frozen["immutable"] = true.into();
    frozen["data"]["ca.crt"] = Value::String("eA==".into());
    live.sb().put(frozen).unwrap();
    let r = live.restore(&w, &archive, &["--only", "relay-tls-signing-secret"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout
            .contains("immutable differs (live true, archived false)"),
        "{}",
        r.stdout
    );
    let r = live.restore(
        &w,
        &archive,
        &["--only", "relay-tls-signing-secret", "--replace"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("an immutable secret cannot be updated, so delete and create")
            && r.stdout.contains("recreated"),
        "{}",
        r.stdout
    );
    let now = live
        .sb()
        .secret("gloo-mesh", "relay-tls-signing-secret")
        .unwrap();
    assert_eq!(now["data"], original["data"]);
    assert_ne!(now["immutable"], true);
}

#[test]
fn replacing_a_rotated_certificate_with_an_older_one_is_a_refused_rollback() {
    let w = Work::new();
    let live = Live::start(&w, &["sample/mgmt.yaml"], &[], false);
    let (r, archive) = backup_live(&w, &live, "before-rotation.age", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let archived = live
        .sb()
        .secret("gloo-mesh", "relay-server-tls-secret")
        .unwrap();
    // The relay server certificate is rotated after the backup.
    let rotated = trustkeep::sample::generate(chrono::Utc::now(), 0)
        .mgmt
        .into_iter()
        .find(|o| o["metadata"]["name"] == "relay-server-tls-secret")
        .unwrap();
    live.sb().put(rotated.clone()).unwrap();
    let r = live.restore(&w, &archive, &["--replace", "--output", "json"]);
    assert_eq!(r.code, 1, "a rollback is refused: {r:?}");
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    let item = plan["plan"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["secret"] == "gloo-mesh/relay-server-tls-secret")
        .unwrap()
        .clone();
    assert_eq!(item["action"], "rollback", "{item}");
    let why = item["reason"].as_str().unwrap_or_default().to_string();
    assert!(
        why.contains(".crt: the live certificate") && why.contains("--allow-rollback"),
        "{item}"
    );
    let now = live
        .sb()
        .secret("gloo-mesh", "relay-server-tls-secret")
        .unwrap();
    assert_eq!(
        now["data"], rotated["data"],
        "the rotated secret is untouched"
    );
    // Without --replace it stays a plain conflict; with --allow-rollback it is restored.
    let r = live.restore(&w, &archive, &["--allow-rollback"]);
    assert_eq!(r.code, 2, "--allow-rollback needs --replace: {r:?}");
    let r = live.restore(&w, &archive, &["--replace", "--allow-rollback"]);
    assert_eq!(r.code, 0, "{r:?}");
    let now = live
        .sb()
        .secret("gloo-mesh", "relay-server-tls-secret")
        .unwrap();
    assert_eq!(now["data"], archived["data"]);
}

#[test]
fn secrets_a_controller_manages_are_left_to_it_unless_asked() {
    let w = Work::new();
    let live = Live::start(&w, &["sample/cluster-1.yaml"], &[], false);
    // relay-client-tls-secret as cert-manager issues it; cacerts is Gloo-issued already.
    let mut client = live
        .sb()
        .secret("gloo-mesh", "relay-client-tls-secret")
        .unwrap();
    let ann = client["metadata"]
        .as_object_mut()
        .unwrap()
        .entry("annotations")
        .or_insert_with(|| serde_json::json!({}));
    ann["cert-manager.io/certificate-name"] = "relay-client".into();
    ann["cert-manager.io/issuer-name"] = "vault".into();
    ann["cert-manager.io/issuer-kind"] = "ClusterIssuer".into();
    live.sb().put(client).unwrap();
    let out = w.path("c1.age");
    let (rcpt, target) = (util::recipient(), live.target());
    let mut a = vec![
        "backup",
        "-r",
        &rcpt,
        "-o",
        out.to_str().unwrap(),
        "--cluster",
        "cluster-1",
    ];
    a.extend(target.iter().map(String::as_str));
    let r = tk(&a);
    assert_eq!(r.code, 0, "{r:?}");
    for (ns, n) in [
        ("gloo-mesh", "relay-client-tls-secret"),
        ("istio-system", "cacerts"),
    ] {
        assert!(live.sb().remove("secrets", ns, n));
    }
    let r = live.restore(&w, &out, &["--output", "json"]);
    assert_eq!(
        r.code, 0,
        "left to their controllers is not a failure: {r:?}"
    );
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    let item = |name: &str| {
        plan["plan"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["secret"] == name)
            .unwrap()
            .clone()
    };
    let client = item("gloo-mesh/relay-client-tls-secret");
    assert_eq!(client["action"], "managed", "{client}");
    assert_eq!(
        client["managed_by"],
        serde_json::json!({"kind": "cert-manager", "certificate": "relay-client", "issuer": "ClusterIssuer/vault"})
    );
    assert!(
        client["reason"]
            .as_str()
            .unwrap()
            .contains("fights the issuer"),
        "{client}"
    );
    let cacerts = item("istio-system/cacerts");
    assert_eq!(cacerts["action"], "managed", "{cacerts}");
    assert!(
        cacerts["reason"].as_str().unwrap().contains("cert-agent"),
        "{cacerts}"
    );
    assert!(
        live.sb().secret("istio-system", "cacerts").is_none(),
        "nothing written"
    );
    assert!(live
        .sb()
        .secret("gloo-mesh", "relay-client-tls-secret")
        .is_none());
    let r = live.restore(&w, &out, &[]);
    assert!(
        r.stdout
            .contains("2 left to the controller that manages it; --include-managed"),
        "{}",
        r.stdout
    );
    let r = live.restore(&w, &out, &["--include-managed"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(live.sb().secret("istio-system", "cacerts").is_some());
    assert!(live
        .sb()
        .secret("gloo-mesh", "relay-client-tls-secret")
        .is_some());
}

#[test]
fn a_cluster_rebuilt_from_nothing_is_restored_with_create_namespaces() {
    let w = Work::new();
    let old = Live::start(&w, &["sample/mgmt.yaml"], &[], false);
    let (r, archive) = backup_live(&w, &old, "mgmt.age", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let before = old
        .sb()
        .secret("gloo-mesh", "relay-root-tls-secret")
        .unwrap();
    drop(old);
    // The new cluster: no gloo-mesh namespace, Gloo Mesh not installed yet.
    let w2 = Work::new();
    let fresh = Live::start(&w2, &[], &[], false);
    assert!(fresh.sb().remove("namespaces", "", "gloo-mesh"));
    let r = fresh.restore(&w2, &archive, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("namespace gloo-mesh does not exist")
            && r.stderr.contains("--create-namespaces"),
        "{}",
        r.stderr
    );
    fresh.sb().reset_requests();
    let r = fresh.restore(&w2, &archive, &["--create-namespaces", "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout
            .matches("namespace gloo-mesh is created first")
            .count(),
        5,
        "{}",
        r.stdout
    );
    assert!(fresh.writes().is_empty(), "{:?}", fresh.writes());
    let r = fresh.restore(&w2, &archive, &["--create-namespaces"]);
    assert_eq!(r.code, 0, "{r:?}");
    let creates: Vec<String> = fresh.writes();
    assert_eq!(
        creates
            .iter()
            .filter(|c| c.ends_with("/api/v1/namespaces"))
            .count(),
        1,
        "the namespace once: {creates:?}"
    );
    let now = fresh
        .sb()
        .secret("gloo-mesh", "relay-root-tls-secret")
        .unwrap();
    assert_eq!(now["data"], before["data"]);
    let r = fresh.restore(&w2, &archive, &["--create-namespaces", "--dry-run"]);
    assert_eq!(r.stdout.matches(" unchanged ").count(), 5, "{}", r.stdout);
}

/// The whole-cluster-loss runbook of docs/operations.md, rehearsed: the archive carries the
/// RootTrustPolicy (with GitOps labels and annotations); a restore into an empty cluster puts
/// the secrets back and only says the policy is left out; `--include-policies` plans it in
/// the dry run and creates it; real kubectl then reads it back exactly as it was.
#[test]
#[ignore = "needs kubectl"]
fn a_rebuilt_cluster_gets_its_root_trust_policy_back_only_when_asked() {
    let w = Work::new();
    let old = Live::start(&w, &["sample/mgmt.yaml"], &[], false);
    let get_policies = |live: &Live| {
        let r = live.kubectl(&["get", "roottrustpolicies", "-A", "-o", "json"]);
        assert_eq!(r.code, 0, "{r:?}");
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        v["items"].as_array().unwrap().clone()
    };
    let mut policy = get_policies(&old).pop().unwrap();
    policy["metadata"]["labels"] =
        serde_json::json!({"app.kubernetes.io/managed-by": "argocd", "team": "mesh"});
    policy["metadata"]["annotations"] = serde_json::json!({"argocd.argoproj.io/tracking-id": "mesh:admin.gloo.solo.io/RootTrustPolicy:gloo-mesh/root-trust-policy", "note": "two\nlines"});
    old.sb().put(policy).unwrap();
    let before = get_policies(&old).pop().unwrap();
    let (r, archive) = backup_live(&w, &old, "mgmt.age", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    drop(old);
    let w2 = Work::new();
    let fresh = Live::start(&w2, &[], &[], false);
    assert!(fresh.sb().remove("namespaces", "", "gloo-mesh"));
    // Secrets first, without the policy: the plan says it is left out, and why.
    let r = fresh.restore(&w2, &archive, &["--create-namespaces"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("the archive holds 1 RootTrustPolicy object(s) (gloo-mesh/root-trust-policy), not restored: usually GitOps config; pass --include-policies"),
        "{}",
        r.stdout
    );
    assert!(get_policies(&fresh).is_empty());
    fresh.sb().reset_requests();
    let r = fresh.restore(
        &w2,
        &archive,
        &["--include-policies", "--dry-run", "--output", "json"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(plan["policies"][0]["policy"], "gloo-mesh/root-trust-policy");
    assert_eq!(plan["policies"][0]["action"], "create", "{plan}");
    assert!(plan.get("policies_not_restored").is_none(), "{plan}");
    assert!(fresh.writes().is_empty(), "{:?}", fresh.writes());
    let r = fresh.restore(&w2, &archive, &["--include-policies"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("1 of 1 RootTrustPolicy object(s) as archived"),
        "{}",
        r.stdout
    );
    let [after] = get_policies(&fresh).try_into().unwrap();
    for field in [
        "/spec",
        "/metadata/labels",
        "/metadata/annotations",
        "/metadata/name",
        "/metadata/namespace",
        "/apiVersion",
        "/kind",
    ] {
        assert_eq!(after.pointer(field), before.pointer(field), "{field}");
    }
    // Again: nothing to do. A changed live spec is a refused conflict, replaced on request.
    let r = fresh.restore(&w2, &archive, &["--include-policies", "--dry-run"]);
    assert!(
        r.stdout.contains("identical spec, labels and annotations"),
        "{}",
        r.stdout
    );
    let mut changed = after.clone();
    changed["spec"]["config"]["autoRestartPods"] = false.into();
    fresh.sb().put(changed).unwrap();
    let r = fresh.restore(&w2, &archive, &["--include-policies"]);
    assert_eq!(r.code, 1, "a refused policy is exit 1: {r:?}");
    assert!(
        r.stdout
            .contains("exists and differs: spec differs; refused without --replace"),
        "{}",
        r.stdout
    );
    let r = fresh.restore(&w2, &archive, &["--include-policies", "--replace"]);
    assert_eq!(r.code, 0, "{r:?}");
    let [again] = get_policies(&fresh).try_into().unwrap();
    assert_eq!(again["spec"], before["spec"]);
}
