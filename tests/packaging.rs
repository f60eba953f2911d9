//! The Kubernetes packaging as operators use it: `kubectl kustomize` renders the base and each
//! overlay (pvc, s3, workload-cluster); every object parses into its k8s-openapi type; the
//! CronJob is safe to run unattended (Forbid, non-root, read-only root fs, requests and
//! limits) and runs a command trustkeep accepts; RBAC grants `get` on named secrets only.

use clap::Parser;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde_json::Value;

use crate::util::ext;

/// `kubectl kustomize packaging/kubernetes/<dir>`: the objects.
fn render(dir: &str) -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging/kubernetes")
        .join(dir);
    let r = ext("kubectl", &["kustomize", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "kubectl kustomize {dir}: {}", r.stderr);
    serde_saphyr::from_multiple(&r.stdout).unwrap()
}

/// Parses every object into its typed form, failing on unknown kinds.
fn typed(dir: &str, objects: &[Value]) -> (CronJob, Vec<Role>) {
    fn parse<T: serde::de::DeserializeOwned>(v: &Value) -> T {
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
    }
    let (mut job, mut roles) = (None, Vec::new());
    for o in objects {
        match o["kind"].as_str().unwrap() {
            "CronJob" => job = Some(parse::<CronJob>(o)),
            "Role" => roles.push(parse::<Role>(o)),
            "RoleBinding" => drop(parse::<RoleBinding>(o)),
            "ClusterRole" => drop(parse::<ClusterRole>(o)),
            "ClusterRoleBinding" => drop(parse::<ClusterRoleBinding>(o)),
            "ServiceAccount" => drop(parse::<ServiceAccount>(o)),
            "ConfigMap" => drop(parse::<ConfigMap>(o)),
            "PersistentVolumeClaim" => drop(parse::<PersistentVolumeClaim>(o)),
            other => panic!("{dir}: unexpected kind {other}"),
        }
    }
    (job.expect("a CronJob"), roles)
}

fn check_job(dir: &str, job: &CronJob) -> trustkeep::cli::Cli {
    let spec = &job.spec;
    assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"), "{dir}");
    let pod = spec
        .job_template
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some("trustkeep"));
    let psc = pod.security_context.as_ref().unwrap();
    assert_eq!(psc.run_as_non_root, Some(true), "{dir}");
    assert!(psc.run_as_user.unwrap() != 0);
    let c = &pod.containers[0];
    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(sc.read_only_root_filesystem, Some(true), "{dir}");
    assert_eq!(sc.allow_privilege_escalation, Some(false), "{dir}");
    let res = c.resources.as_ref().unwrap();
    for part in [&res.requests, &res.limits] {
        let part = part.as_ref().unwrap();
        assert!(
            part.contains_key("cpu") && part.contains_key("memory"),
            "{dir}"
        );
    }
    let args = c.args.as_ref().unwrap();
    let cli = trustkeep::cli::Cli::try_parse_from(
        std::iter::once("trustkeep").chain(args.iter().map(String::as_str)),
    )
    .unwrap_or_else(|e| panic!("{dir}: {args:?}: {e}"));
    // Every volume mounted exists.
    let volumes: Vec<&str> = pod
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .collect();
    for m in c.volume_mounts.iter().flatten() {
        assert!(
            volumes.contains(&m.name.as_str()),
            "{dir}: mount {} has no volume",
            m.name
        );
    }
    cli
}

/// No rule grants list/watch on secrets, or secrets without resourceNames.
fn check_roles(dir: &str, roles: &[Role]) {
    for r in roles {
        for rule in r.rules.iter().flatten() {
            if rule
                .resources
                .iter()
                .flatten()
                .any(|x| x == "secrets" || x == "*")
            {
                assert_eq!(rule.verbs, ["get"], "{dir}: {r:?}");
                assert!(
                    rule.resource_names.as_ref().is_some_and(|n| !n.is_empty()),
                    "{dir}: secrets without resourceNames"
                );
            }
        }
    }
}

#[test]
#[ignore = "needs kubectl"]
fn every_overlay_renders_into_typed_objects_that_run_unattended() {
    for dir in [
        "base",
        "overlays/pvc",
        "overlays/s3",
        "overlays/workload-cluster",
    ] {
        let objects = render(dir);
        let (job, roles) = typed(dir, &objects);
        let cli = check_job(dir, &job);
        check_roles(dir, &roles);
        let args = format!("{:?}", cli.command);
        assert!(args.starts_with("Backup("), "{dir}");
        let pod = job.spec.job_template.spec.unwrap().template.spec.unwrap();
        let vols = format!("{:?}", pod.volumes);
        match dir {
            "overlays/pvc" => {
                assert!(
                    vols.contains("trustkeep-backups"),
                    "{dir}: the PVC is mounted"
                );
                assert!(objects.iter().any(|o| o["kind"] == "PersistentVolumeClaim"));
            }
            "overlays/s3" | "overlays/workload-cluster" => {
                assert!(args.contains("s3://"), "{dir}: {args}");
                assert!(
                    args.contains("pushgateway: Some("),
                    "{dir}: metrics are pushed"
                );
                let env = format!("{:?}", pod.containers[0].env_from);
                assert!(env.contains("trustkeep-s3") && env.contains("optional: Some(true)"));
                let sa = objects
                    .iter()
                    .find(|o| o["kind"] == "ServiceAccount")
                    .unwrap();
                assert!(sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].is_string());
            }
            _ => {}
        }
        if dir == "overlays/workload-cluster" {
            assert!(args.contains("cluster_kind: Some(Workload)"), "{args}");
            assert!(roles
                .iter()
                .any(|r| r.metadata.namespace.as_deref() == Some("istio-system")));
        }
        // Everything but the cluster-scoped objects and istio-system's Role lands in gloo-mesh.
        for o in &objects {
            let ns = o["metadata"]["namespace"].as_str();
            let kind = o["kind"].as_str().unwrap();
            if !kind.starts_with("Cluster") && ns != Some("istio-system") {
                assert_eq!(ns, Some("gloo-mesh"), "{dir}: {kind}");
            }
        }
    }
}

#[test]
#[ignore = "needs kubectl"]
fn the_binary_works_as_a_kubectl_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("kubectl-trustkeep");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_trustkeep"), &plugin).unwrap();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap()
    );
    let mut cmd = std::process::Command::new("kubectl");
    cmd.args(["trustkeep", "--version"]).env("PATH", &path);
    let r = crate::util::run(cmd);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout.trim(),
        format!("trustkeep {}", env!("CARGO_PKG_VERSION"))
    );
    // Arguments pass through kubectl untouched.
    let mut cmd = std::process::Command::new("kubectl");
    cmd.args(["trustkeep", "list", "--help"]).env("PATH", &path);
    let r = crate::util::run(cmd);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("--latest"), "{}", r.stdout);
}

#[test]
fn the_krew_manifest_names_the_plugin_binary_and_this_version() {
    let text = include_str!("../packaging/krew/trustkeep.yaml");
    let m: Value = serde_saphyr::from_str(text).unwrap();
    assert_eq!(m["kind"], "Plugin");
    assert_eq!(m["metadata"]["name"], "trustkeep");
    assert_eq!(
        m["spec"]["version"],
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
    let platforms = m["spec"]["platforms"].as_array().unwrap();
    assert!(!platforms.is_empty());
    for p in platforms {
        assert_eq!(p["bin"], "kubectl-trustkeep");
        assert_eq!(p["sha256"].as_str().unwrap().len(), 64);
        assert!(p["uri"].as_str().unwrap().starts_with("https://"));
    }
}
