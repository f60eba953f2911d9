//! The Kubernetes packaging as operators use it: `kubectl kustomize` renders the base and each
//! overlay (pvc, s3, workload-cluster); every object parses into its k8s-openapi type; the
//! CronJob is safe to run unattended (Forbid, non-root, read-only root fs, requests and
//! limits) and runs a command trustkeep accepts; RBAC grants `get` on named secrets only.
//! The krew manifest is a template: it holds placeholders only, and rendered for a release
//! archive built here it is a manifest krew accepts, whose digest and `bin` match the archive.

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
        // Every overlay signs its archives with the key of the optional Secret.
        assert!(
            args.contains("sign_key: Some(\"/etc/trustkeep-signing/signing-key\")"),
            "{dir}: {args}"
        );
        let signing = pod
            .volumes
            .iter()
            .flatten()
            .find_map(|v| {
                v.secret
                    .as_ref()
                    .filter(|s| s.secret_name.as_deref() == Some("trustkeep-signing-key"))
            })
            .unwrap_or_else(|| panic!("{dir}: no signing-key Secret volume"));
        assert_eq!(signing.optional, Some(true), "{dir}");
        let mounted = pod.containers[0]
            .volume_mounts
            .iter()
            .flatten()
            .any(|m| m.mount_path == "/etc/trustkeep-signing" && m.read_only == Some(true));
        assert!(mounted, "{dir}: the signing key is mounted read-only");
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

/// The krew manifest template, as checked in: it holds placeholders, never release values.
const KREW_TEMPLATE: &str = include_str!("../packaging/krew/trustkeep.yaml.template");

/// The placeholders of the template, each filled at release (see its header).
const KREW_PLACEHOLDERS: [&str; 4] = [
    "RELEASE_URL",
    "HOMEPAGE",
    "SHA256_LINUX_AMD64",
    "SHA256_LINUX_ARM64",
];

/// The template with every `${NAME}` replaced, as `envsubst` does; fails if one is left.
fn render_krew(values: &[(&str, String)]) -> String {
    let mut out = KREW_TEMPLATE.to_string();
    for (name, value) in values {
        out = out.replace(&format!("${{{name}}}"), value);
    }
    assert!(
        !out.contains("${"),
        "a placeholder is left unfilled:\n{out}"
    );
    out
}

/// krew's name for this machine's platform (Go's GOOS/GOARCH).
fn krew_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    (std::env::consts::OS, arch)
}

/// The lowercase hex SHA-256 of a file, as `sha256sum` prints it.
/// (ring's: its assembly keeps hundreds of megabytes quick in a debug build.)
fn sha256_file(path: &std::path::Path) -> String {
    use std::io::Read;
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut file = std::fs::File::open(path).unwrap();
    let mut buf = vec![0; 1 << 20];
    loop {
        match file.read(&mut buf).unwrap() {
            0 => break,
            n => context.update(&buf[..n]),
        }
    }
    hex::encode(context.finish())
}

/// A release archive as krew downloads it: a tar.gz of `kubectl-trustkeep` (this build's
/// binary, mode 0755) and `LICENSE`, at the archive's root. Its gzip stream stores rather
/// than compresses (any gzip stream is a valid one; compressing a debug binary of hundreds
/// of megabytes would take the test half a minute).
fn release_archive(path: &std::path::Path, license: &std::path::Path) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::none(),
    );
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut binary = std::fs::File::open(crate::util::bin()).unwrap();
    tar.append_file("kubectl-trustkeep", &mut binary).unwrap();
    tar.append_path_with_name(license, "LICENSE").unwrap();
    tar.into_inner().unwrap().finish().unwrap();
}

/// Checks a rendered manifest the way krew validates one before installing it (apiVersion,
/// kind, name, semantic version, short description, platforms with distinct selectors, each
/// with an https uri, a sha256, files to move and a bin), then "downloads" every platform's
/// archive from `releases` (by the uri's file name) and checks its digest. Returns the
/// platforms.
fn check_krew_manifest(m: &Value, releases: &std::path::Path) -> Vec<Value> {
    assert_eq!(
        m["apiVersion"], "krew.googlecontainertools.github.com/v1alpha2",
        "{m}"
    );
    assert_eq!(m["kind"], "Plugin");
    let name = m["metadata"]["name"].as_str().unwrap();
    assert!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
        "not a safe plugin name: {name}"
    );
    let spec = &m["spec"];
    let version = spec["version"].as_str().unwrap();
    let semver: Vec<&str> = version.strip_prefix('v').unwrap().split('.').collect();
    assert!(
        semver.len() == 3
            && semver
                .iter()
                .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())),
        "not v<semver>: {version}"
    );
    assert!(!spec["shortDescription"].as_str().unwrap().is_empty());
    assert!(spec["homepage"].as_str().unwrap().starts_with("https://"));
    let platforms = spec["platforms"].as_array().unwrap().clone();
    assert!(!platforms.is_empty());
    let mut selectors = Vec::new();
    for p in &platforms {
        let labels = &p["selector"]["matchLabels"];
        assert!(
            labels["os"].is_string() && labels["arch"].is_string(),
            "{p}"
        );
        assert!(
            !selectors.contains(labels),
            "overlapping selectors: {labels}"
        );
        selectors.push(labels.clone());
        let uri = p["uri"].as_str().unwrap();
        assert!(uri.starts_with("https://"), "{uri}");
        let sha = p["sha256"].as_str().unwrap();
        assert!(
            sha.len() == 64 && sha.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
            "{sha}"
        );
        assert!(sha.chars().any(|c| c != '0'), "a placeholder digest: {sha}");
        let archive = releases.join(uri.rsplit('/').next().unwrap());
        assert_eq!(
            sha256_file(&archive),
            sha,
            "{uri}: the digest of the archive"
        );
        assert!(!p["bin"].as_str().unwrap().is_empty(), "{p}");
        let files = p["files"].as_array().unwrap();
        assert!(!files.is_empty(), "{p}");
        for f in files {
            assert!(
                !f["from"].as_str().unwrap().is_empty() && !f["to"].as_str().unwrap().is_empty()
            );
        }
    }
    platforms
}

/// Installs a platform's archive the way krew does: extracts it, moves each `files` entry
/// (`from`, relative to the archive's root) into the install directory (`to`), and returns the
/// path of `bin` there.
fn krew_install(
    platform: &Value,
    archive: &std::path::Path,
    into: &std::path::Path,
) -> std::path::PathBuf {
    let extracted = into.join("extracted");
    let installed = into.join("installed");
    std::fs::create_dir_all(&installed).unwrap();
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(archive).unwrap());
    tar::Archive::new(gz).unpack(&extracted).unwrap();
    for f in platform["files"].as_array().unwrap() {
        let from = extracted.join(f["from"].as_str().unwrap());
        assert!(from.exists(), "the archive holds no {}", f["from"]);
        let to = installed.join(f["to"].as_str().unwrap());
        std::fs::create_dir_all(&to).unwrap();
        std::fs::rename(&from, to.join(from.file_name().unwrap())).unwrap();
    }
    installed.join(platform["bin"].as_str().unwrap())
}

#[test]
fn the_krew_template_holds_placeholders_and_no_release_values() {
    for name in KREW_PLACEHOLDERS {
        assert!(
            KREW_TEMPLATE.contains(&format!("${{{name}}}")),
            "the template lacks ${{{name}}}"
        );
    }
    assert!(KREW_TEMPLATE.starts_with("# krew plugin manifest TEMPLATE"));
    // Nothing that pretends to be a digest (a run of 32 or more hex digits, zeros included)
    // or a real download location.
    let mut run = 0;
    for c in KREW_TEMPLATE.chars() {
        run = if c.is_ascii_hexdigit() { run + 1 } else { 0 };
        assert!(run < 32, "the template holds something like a digest");
    }
    for fake in ["github.com/example", "example.com", "example.org"] {
        assert!(!KREW_TEMPLATE.contains(fake), "the template names {fake}");
    }
    // It still parses, and every release value is a placeholder.
    let m: Value = serde_saphyr::from_str(KREW_TEMPLATE).unwrap();
    assert_eq!(m["spec"]["homepage"], "${HOMEPAGE}");
    for p in m["spec"]["platforms"].as_array().unwrap() {
        let arch = p["selector"]["matchLabels"]["arch"].as_str().unwrap();
        let os = p["selector"]["matchLabels"]["os"].as_str().unwrap();
        let upper = format!("{os}_{arch}").to_uppercase();
        assert_eq!(p["sha256"], format!("${{SHA256_{upper}}}"));
        assert_eq!(
            p["uri"],
            format!("${{RELEASE_URL}}/kubectl-trustkeep-{os}-{arch}.tar.gz")
        );
    }
}

#[test]
fn the_krew_manifest_names_the_plugin_binary_and_this_version() {
    // The template rendered for archives built here: this build's binary stands in for each
    // platform's (the archive's layout is what is tested; this machine's platform runs it).
    let dir = tempfile::tempdir().unwrap();
    let releases = dir.path().join("releases");
    std::fs::create_dir(&releases).unwrap();
    let license = dir.path().join("LICENSE");
    std::fs::write(
        &license,
        "Apache License, Version 2.0 (trustkeep test archive)\n",
    )
    .unwrap();
    let (os, arch) = krew_platform();
    let built = releases.join(format!("kubectl-trustkeep-{os}-{arch}.tar.gz"));
    release_archive(&built, &license);
    let mut values = vec![
        (
            "RELEASE_URL",
            format!(
                "https://releases.trustkeep.invalid/v{}",
                env!("CARGO_PKG_VERSION")
            ),
        ),
        ("HOMEPAGE", "https://trustkeep.invalid".to_string()),
    ];
    for (name, platform) in [
        ("SHA256_LINUX_AMD64", "linux-amd64"),
        ("SHA256_LINUX_ARM64", "linux-arm64"),
    ] {
        let archive = releases.join(format!("kubectl-trustkeep-{platform}.tar.gz"));
        if !archive.exists() {
            std::fs::hard_link(&built, &archive).unwrap();
        }
        values.push((name, sha256_file(&archive)));
    }
    let rendered = render_krew(&values);
    let m: Value = serde_saphyr::from_str(&rendered).unwrap();
    let platforms = check_krew_manifest(&m, &releases);

    assert_eq!(m["kind"], "Plugin");
    assert_eq!(m["metadata"]["name"], "trustkeep");
    assert_eq!(
        m["spec"]["version"],
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
    assert!(!platforms.is_empty());
    for p in &platforms {
        assert_eq!(p["bin"], "kubectl-trustkeep");
        assert_eq!(p["sha256"].as_str().unwrap().len(), 64);
        assert!(p["uri"].as_str().unwrap().starts_with("https://"));
    }

    // This machine's platform installs as krew would, and its bin runs.
    let mine = platforms
        .iter()
        .find(|p| p["selector"]["matchLabels"] == serde_json::json!({"os": os, "arch": arch}))
        .unwrap_or_else(|| panic!("the manifest has no platform for {os}/{arch}"));
    let bin = krew_install(mine, &built, dir.path());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&bin).unwrap().permissions().mode() & 0o111,
        0o111,
        "{bin:?} is not executable"
    );
    assert!(bin.with_file_name("LICENSE").is_file());
    let mut version = std::process::Command::new(&bin);
    version.arg("--version");
    let r = crate::util::run(version);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout.trim(),
        format!("trustkeep {}", env!("CARGO_PKG_VERSION"))
    );
}
