//! The CronJob for real. `packaging/build-image.sh --base local` builds the image (once per
//! test process, around the binary under test: a debug build, which changes nothing of the
//! image's runtime shape), and each Kustomize overlay's CronJob container runs in it as the
//! kubelet would run it: the image's entrypoint with the container's args and env, as the
//! pod's user (65532) with no capabilities, no privilege escalation and a read-only root
//! filesystem, the overlay's volumes as host directories, and a service-account token, CA and
//! namespace at /var/run/secrets/kubernetes.io/serviceaccount for the in-cluster
//! configuration. The cluster is the sandbox API server enforcing the overlay's own Roles,
//! ClusterRoles and bindings for the pod's service account. The s3 and workload-cluster
//! overlays write to a real S3 server (s3s-fs), and every overlay pushes its metrics to a real
//! Pushgateway. The archive is then opened with the test identity and compared with a backup
//! of the same fixture made from the file; `audit` runs in the same pod with no cluster flag.
//!
//! The runtime is crun, the OCI runtime containerd and CRI-O use, given an OCI spec made here
//! from the rendered pod: `buildah run` (chroot isolation) runs the image too, but cannot make
//! its root filesystem read-only. What differs from a node, all outside the image: host
//! networking (the sandbox, S3 server and Pushgateway listen on 127.0.0.1, which is
//! KUBERNETES_SERVICE_HOST here and is named in the sandbox's serving certificate), no seccomp
//! profile, and no cgroup limits: this machine mounts cgroups in hybrid mode, which crun 1.8
//! refuses even with its cgroup manager disabled, so crun runs in a private mount namespace
//! whose /sys/fs/cgroup is an empty tmpfs.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use serde_json::{json, Value};
use trustkeep_sandbox::{self as sandbox, Rbac, Sandbox};

use crate::live::essence;
use crate::metrics::{find, Peer};
use crate::util::{self, ext, run, Run, Work, AT};

const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The placeholder of the packaged recipients ConfigMap.
const PLACEHOLDER: &str = "age1-REPLACE-WITH-YOUR-RECIPIENT";
/// s3s-fs's credentials, as the optional Secret `trustkeep-s3` would hold them.
const S3_KEY_ID: &str = "AKIATRUSTKEEP";
const S3_SECRET: &str = "trustkeep-test-only-secret";
const BUCKET: &str = "backups";

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// buildah on the storage the script uses.
fn buildah(args: &[&str]) -> Run {
    let mut cmd = Command::new("buildah");
    cmd.args(["--storage-driver", "vfs"]).args(args);
    run(cmd)
}

/// `packaging/build-image.sh --base local --binary <the binary under test> --tag TAG`.
fn build_image(tag: &str) -> Run {
    let mut cmd = Command::new("bash");
    cmd.arg(repo("packaging/build-image.sh"))
        .args(["--base", "local", "--tag", tag, "--binary"])
        .arg(util::bin())
        .env("STORAGE_DRIVER", "vfs")
        .env("BUILDAH_ISOLATION", "chroot");
    run(cmd)
}

/// The reference the tests build: never the packaging's own (which a user may have built),
/// and one per checkout, so that two checkouts' test runs on one machine do not replace each
/// other's image.
fn test_tag() -> String {
    format!(
        "localhost/trustkeep:test-{:08x}",
        hash(env!("CARGO_MANIFEST_DIR")) as u32
    )
}

/// The id of the image `reference` names.
fn image_id(reference: &str) -> String {
    let r = buildah(&["images", "--noheading", "--quiet", "--no-trunc", reference]);
    assert_eq!(r.code, 0, "{r:?}");
    r.stdout.trim().to_string()
}

/// The built image: its reference, its OCI configuration and a copy of its root filesystem.
struct Image {
    reference: String,
    config: Value,
    rootfs: PathBuf,
}

/// Builds the image once per test process and copies its root filesystem out of buildah's
/// storage, into a folder of cargo's target directory that each run replaces.
fn image() -> &'static Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let tag = test_tag();
        let r = build_image(&tag);
        assert_eq!(r.code, 0, "build-image.sh: {}", r.stderr);
        let reference = r.stdout.lines().last().unwrap_or_default().to_string();
        assert_eq!(reference, tag, "the last line is the reference: {r:?}");
        let inspect = buildah(&["inspect", "--type", "image", &reference]);
        assert_eq!(inspect.code, 0, "{inspect:?}");
        let config =
            serde_json::from_str::<Value>(&inspect.stdout).unwrap()["OCIv1"]["config"].clone();
        let rootfs = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "image-rootfs-{:016x}",
            hash(env!("CARGO_MANIFEST_DIR"))
        ));
        if rootfs.exists() {
            std::fs::remove_dir_all(&rootfs).unwrap();
        }
        std::fs::create_dir_all(&rootfs).unwrap();
        let from = buildah(&["from", "--pull-never", &reference]);
        assert_eq!(from.code, 0, "{from:?}");
        let ctr = from.stdout.trim().to_string();
        let mount = buildah(&["mount", &ctr]);
        let copied = ext(
            "cp",
            &[
                "-a",
                &format!("{}/.", mount.stdout.trim()),
                rootfs.to_str().unwrap(),
            ],
        );
        let removed = buildah(&["rm", &ctr]);
        assert_eq!(mount.code, 0, "{mount:?}");
        assert_eq!(copied.code, 0, "{copied:?}");
        assert_eq!(removed.code, 0, "{removed:?}");
        Image {
            reference,
            config,
            rootfs,
        }
    })
}

fn hash(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// One Kustomize overlay, as `kubectl kustomize` renders it.
struct Overlay {
    name: &'static str,
    objects: Vec<Value>,
}

impl Overlay {
    fn render(name: &'static str) -> Overlay {
        let dir = repo("packaging/kubernetes/overlays").join(name);
        let r = ext("kubectl", &["kustomize", dir.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        Overlay {
            name,
            objects: serde_saphyr::from_multiple(&r.stdout).unwrap(),
        }
    }

    fn object(&self, kind: &str, name: &str) -> &Value {
        self.objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{}: no {kind} {name}", self.name))
    }

    fn job(&self) -> &Value {
        self.objects
            .iter()
            .find(|o| o["kind"] == "CronJob")
            .unwrap_or_else(|| panic!("{}: no CronJob", self.name))
    }

    fn pod(&self) -> &Value {
        &self.job()["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    }

    fn container(&self) -> &Value {
        &self.pod()["containers"][0]
    }

    fn namespace(&self) -> &str {
        self.job()["metadata"]["namespace"].as_str().unwrap()
    }

    fn service_account(&self) -> &str {
        self.pod()["serviceAccountName"].as_str().unwrap()
    }

    /// The container's args, with the placeholders an operator replaces filled in: the
    /// bucket, and the Pushgateway's address.
    fn args(&self, pushgateway: &str, bucket: &str) -> Vec<String> {
        let args: Vec<String> = self.container()["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        let mut out = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if i > 0 && args[i - 1] == "--pushgateway" {
                out.push(pushgateway.to_string());
            } else {
                out.push(a.replace("REPLACE-WITH-YOUR-BUCKET", bucket));
            }
        }
        out
    }
}

/// The sandbox API server serving a fixture, enforcing the overlay's RBAC for the pod's
/// service account, on a runtime owned by the test.
struct Cluster {
    rt: tokio::runtime::Runtime,
    sb: Option<Sandbox>,
}

impl Cluster {
    fn start(ov: &Overlay, fixture: &str) -> Cluster {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let text = std::fs::read_to_string(util::fixture(fixture)).unwrap();
        let rbac =
            Rbac::for_service_account(&ov.objects, ov.namespace(), ov.service_account()).unwrap();
        let sb = rt
            .block_on(Sandbox::start(sandbox::Options {
                objects: sandbox::load_objects(&text).unwrap(),
                rbac: Some(rbac),
                ..Default::default()
            }))
            .unwrap();
        Cluster { rt, sb: Some(sb) }
    }

    fn sb(&self) -> &Sandbox {
        self.sb.as_ref().unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(sb) = self.sb.take() {
            self.rt.block_on(sb.shutdown());
        }
    }
}

/// Replaces `key`'s value, or adds it: a container's environment has each name once.
fn set_env(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    env.retain(|(k, _)| k != key);
    env.push((key.to_string(), value.to_string()));
}

fn chown_to(path: &Path, gid: u32, mode: u32) {
    std::os::unix::fs::chown(path, Some(0), Some(gid)).unwrap();
    util::set_mode(path, mode);
}

/// A pod of the overlay's CronJob on this machine: its volumes as host directories (kept
/// across the runs of one test, as a PVC is), its service-account files, and the Secrets its
/// `envFrom` names.
struct Pod<'a> {
    ov: &'a Overlay,
    /// Where its volumes, service-account files and OCI bundles are.
    dir: PathBuf,
    volumes: BTreeMap<String, PathBuf>,
    service_account: PathBuf,
    secrets: BTreeMap<String, Vec<(String, String)>>,
    /// What the kubelet sets (the API server's address) and what the operator adds.
    env: Vec<(String, String)>,
}

impl<'a> Pod<'a> {
    fn new(ov: &'a Overlay, w: &Work, cluster: &Cluster) -> Pod<'a> {
        static PODS: AtomicUsize = AtomicUsize::new(0);
        let dir = w.path(&format!("pod-{}", PODS.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir(&dir).unwrap();
        let pod = ov.pod();
        let fs_group = pod["securityContext"]["fsGroup"].as_u64().unwrap() as u32;
        // The projected service-account volume: token, CA and namespace, world-readable files
        // in a root-owned directory (the kubelet's default mode 0644).
        let service_account = dir.join("serviceaccount");
        std::fs::create_dir(&service_account).unwrap();
        for (file, text) in [
            ("token", cluster.sb().token()),
            ("ca.crt", cluster.sb().ca_pem()),
            ("namespace", ov.namespace()),
        ] {
            std::fs::write(service_account.join(file), text).unwrap();
            util::set_mode(&service_account.join(file), 0o644);
        }
        util::set_mode(&service_account, 0o755);
        let mut volumes = BTreeMap::new();
        for v in pod["volumes"].as_array().unwrap() {
            let name = v["name"].as_str().unwrap();
            let host = dir.join(format!("volume-{name}"));
            std::fs::create_dir(&host).unwrap();
            if let Some(cm) = v["configMap"]["name"].as_str() {
                let data = ov.object("ConfigMap", cm)["data"].as_object().unwrap();
                for (file, text) in data {
                    std::fs::write(host.join(file), text.as_str().unwrap()).unwrap();
                    util::set_mode(&host.join(file), 0o644);
                }
                util::set_mode(&host, 0o755);
            } else if v["emptyDir"].is_object() || v["persistentVolumeClaim"].is_object() {
                // fsGroup: the volume's group, group-writable, setgid.
                chown_to(&host, fs_group, 0o2775);
            } else if v["secret"]["secretName"] == "trustkeep-signing-key" {
                // The signing key's Secret as kubelet mounts it with fsGroup: root-owned,
                // readable by the pod's group only (the test-only key of fixtures/signing).
                let key = host.join("signing-key");
                let fixture = util::fixture("signing/test-only-signing-ed25519");
                std::fs::copy(fixture, &key).unwrap();
                chown_to(&key, fs_group, 0o440);
                chown_to(&host, fs_group, 0o755);
            } else {
                panic!("{}: volume {v} is not a kind this test provides", ov.name);
            }
            volumes.insert(name.to_string(), host);
        }
        let port = cluster.sb().address().port().to_string();
        let mut env = Vec::new();
        set_env(&mut env, "KUBERNETES_SERVICE_HOST", "127.0.0.1");
        set_env(&mut env, "KUBERNETES_SERVICE_PORT", &port);
        Pod {
            ov,
            dir,
            volumes,
            service_account,
            secrets: BTreeMap::new(),
            env,
        }
    }

    fn volume(&self, name: &str) -> &Path {
        &self.volumes[name]
    }

    /// The operator's first edit: the test recipient instead of the placeholder.
    fn set_recipient(&self) {
        let path = self.volume("recipients").join("recipients.txt");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(PLACEHOLDER), "{text}");
        std::fs::write(&path, text.replace(PLACEHOLDER, &util::recipient())).unwrap();
    }

    /// The OCI runtime spec of the container running `args`, as the kubelet would ask for it.
    fn spec(&self, args: &[String]) -> Value {
        let (pod, c, img) = (self.ov.pod(), self.ov.container(), image());
        let (psc, sc) = (&pod["securityContext"], &c["securityContext"]);
        let id = |key: &str| {
            sc[key]
                .as_u64()
                .or(psc[key].as_u64())
                .unwrap_or_else(|| panic!("{}: no {key}", self.ov.name))
        };
        let (uid, gid) = (id("runAsUser"), id("runAsGroup"));
        assert_eq!(psc["runAsNonRoot"], true);
        assert_ne!(uid, 0, "non-root");
        // The only security settings this runner knows; anything else must be added here.
        assert_eq!(sc["capabilities"], json!({"drop": ["ALL"]}));
        assert_eq!(sc["allowPrivilegeEscalation"], false);
        assert!(c["command"].is_null(), "the image's entrypoint runs");
        let mut argv: Vec<String> = img.config["Entrypoint"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        argv.extend(args.iter().cloned());
        let env = self.environment(img, c);
        let mounts = self.mounts(c);
        let mut groups = vec![gid];
        groups.extend(psc["fsGroup"].as_u64());
        json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": false,
                "user": {"uid": uid, "gid": gid, "additionalGids": groups},
                "args": argv,
                "env": env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
                "cwd": img.config["WorkingDir"].as_str().unwrap_or("/"),
                "capabilities": {"bounding": [], "effective": [], "inheritable": [],
                                 "permitted": [], "ambient": []},
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                "noNewPrivileges": true,
            },
            "root": {"path": img.rootfs, "readonly": sc["readOnlyRootFilesystem"] == true},
            "hostname": "trustkeep-backup-manual",
            "mounts": mounts,
            "linux": {
                // No network namespace: host networking, to reach 127.0.0.1.
                "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
                "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
                "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"],
            },
        })
    }

    /// The image's env, then the Secrets of `envFrom`, the container's `env`, and the
    /// kubelet's and the operator's additions, each name once.
    fn environment(&self, img: &Image, c: &Value) -> Vec<(String, String)> {
        let mut env = Vec::new();
        for e in img.config["Env"].as_array().into_iter().flatten() {
            let (k, v) = e.as_str().unwrap().split_once('=').unwrap();
            set_env(&mut env, k, v);
        }
        set_env(&mut env, "HOSTNAME", "trustkeep-backup-manual");
        for e in c["envFrom"].as_array().into_iter().flatten() {
            let name = e["secretRef"]["name"].as_str().unwrap();
            match self.secrets.get(name) {
                Some(vars) => vars.iter().for_each(|(k, v)| set_env(&mut env, k, v)),
                None => assert_eq!(e["secretRef"]["optional"], true, "Secret {name}"),
            }
        }
        for e in c["env"].as_array().into_iter().flatten() {
            let value = e["value"].as_str().expect("env values, not valueFrom");
            set_env(&mut env, e["name"].as_str().unwrap(), value);
        }
        for (k, v) in &self.env {
            set_env(&mut env, k, v);
        }
        env
    }

    /// The mounts of a container: /proc, /dev, /sys, then the pod's volumes and the
    /// service-account files.
    fn mounts(&self, c: &Value) -> Vec<Value> {
        let bind = |source: &Path, destination: &str, read_only: bool| {
            json!({
                "destination": destination,
                "type": "bind",
                "source": source,
                "options": ["rbind", if read_only { "ro" } else { "rw" }, "nosuid", "nodev"],
            })
        };
        let mut mounts = vec![
            json!({"destination": "/proc", "type": "proc", "source": "proc"}),
            json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                   "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
            json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                   "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
            json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                   "options": ["nosuid", "noexec", "nodev", "ro"]}),
        ];
        for m in c["volumeMounts"].as_array().unwrap() {
            let source = self.volume(m["name"].as_str().unwrap());
            let read_only = m["readOnly"] == true;
            mounts.push(bind(source, m["mountPath"].as_str().unwrap(), read_only));
        }
        let sa = self.ov.object("ServiceAccount", self.ov.service_account());
        assert_eq!(sa["automountServiceAccountToken"], true);
        mounts.push(bind(&self.service_account, SERVICE_ACCOUNT_DIR, true));
        mounts
    }

    /// Runs the container with `args` (the CronJob's own, or another verb's) under crun.
    fn run(&self, args: &[String]) -> Run {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let n = RUNS.fetch_add(1, Ordering::Relaxed);
        let bundle = self.dir.join(format!("bundle-{n}"));
        std::fs::create_dir(&bundle).unwrap();
        let spec = serde_json::to_string_pretty(&self.spec(args)).unwrap();
        std::fs::write(bundle.join("config.json"), spec).unwrap();
        let state = self.dir.join("crun-state");
        std::fs::create_dir_all(&state).unwrap();
        let id = format!("trustkeep-test-{}-{n}", std::process::id());
        let mut cmd = Command::new("timeout");
        cmd.args([
            "120",
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
        ])
        .arg(concat!(
            "mount -t tmpfs -o size=4k,mode=0755 no-cgroups /sys/fs/cgroup && ",
            r#"exec crun --cgroup-manager=disabled --root "$1" run --bundle "$2" "$3""#
        ))
        .arg("sh")
        .arg(&state)
        .arg(&bundle)
        .arg(&id);
        run(cmd)
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// A real Pushgateway on a free loopback port.
fn pushgateway() -> Peer {
    Peer::start("prometheus-pushgateway", |p| {
        vec![format!("--web.listen-address=127.0.0.1:{p}")]
    })
}

/// A real S3 server (s3s-fs) with the bucket, storing objects as files under `root`.
fn s3(root: &Path) -> Peer {
    std::fs::create_dir_all(root.join(BUCKET)).unwrap();
    let root = root.to_str().unwrap().to_string();
    Peer::start("s3s-fs", move |p| {
        strings(&[
            "--host",
            "127.0.0.1",
            "--port",
            &p.to_string(),
            "--access-key",
            S3_KEY_ID,
            "--secret-key",
            S3_SECRET,
            &root,
        ])
    })
}

/// Every line of a run's stderr is one JSON log object (`--log-format json`).
fn json_logs(r: &Run) {
    assert!(!r.stderr.is_empty(), "-v logs");
    for line in r.stderr.lines() {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string(), "{line}");
    }
}

/// The archives (`*.tar.gz.age`) of a directory, each with its sidecar.
fn archives_in(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(".tar.gz.age"))
        .collect();
    found.sort();
    for a in &found {
        let sidecar = PathBuf::from(format!("{}.sha256", a.display()));
        assert!(sidecar.exists(), "{} has no sidecar", a.display());
        // The CronJob signs every archive with the mounted key.
        let sig = PathBuf::from(format!("{}.sig", a.display()));
        assert!(sig.exists(), "{} has no signature", a.display());
    }
    found
}

/// The archive the pod wrote holds what a backup of the fixture file holds (opened with the
/// test identity), named and typed as the CronJob says, from the sandbox's cluster.
fn check_archive(w: &Work, archive: &Path, fixture: &str, extra: &[&str], cluster: &Cluster) {
    let manifest = w.manifest(archive);
    let file = w.path("from-file.age");
    let r = util::backup(fixture, &file, extra);
    assert_eq!(r.code, 0, "{r:?}");
    let expected = w.manifest(&file);
    assert_eq!(essence(&manifest), essence(&expected));
    assert_eq!(manifest["cluster"], expected["cluster"]);
    assert_eq!(manifest["source"]["kind"], "cluster");
    assert_eq!(
        manifest["source"]["cluster_uid"],
        cluster.sb().cluster_uid()
    );
    assert_eq!(
        manifest["source"]["server"],
        format!("https://127.0.0.1:{}", cluster.sb().address().port()),
        "the in-cluster configuration"
    );
}

/// The Pushgateway holds a complete backup of `cluster`, pushed from the pod.
fn check_pushed(gw: &Peer, cluster: &str) {
    let text = gw.get("/metrics");
    let group = [
        r#"job="trustkeep""#,
        r#"command="backup""#,
        &format!(r#"cluster="{cluster}""#),
    ];
    assert_eq!(
        find(&text, "trustkeep_backup_last_status", &group),
        Some(1.0),
        "{text}"
    );
    assert!(find(&text, "trustkeep_backup_secrets", &group).unwrap() >= 4.0);
}

#[test]
#[ignore = "needs buildah"]
fn the_image_holds_what_distroless_holds_and_rebuilds_in_place() {
    let img = image();
    assert_eq!(img.config["User"], "65532:65532");
    assert_eq!(
        img.config["Entrypoint"],
        json!(["/usr/local/bin/trustkeep"])
    );
    assert!(img.config["Cmd"].is_null(), "{}", img.config);
    // The binary, its libraries and loader (none for a static binary, as `cargo dist` and
    // .ci/run's second image run build it), CA certificates, users: no shell, nothing else.
    let r = ext("find", &[img.rootfs.to_str().unwrap(), "-type", "f,l"]);
    let files: Vec<String> = r
        .stdout
        .lines()
        .map(|l| l.strip_prefix(img.rootfs.to_str().unwrap()).unwrap().into())
        .collect();
    for f in &files {
        let expected = [
            "/usr/local/bin/trustkeep",
            "/etc/passwd",
            "/etc/group",
            "/etc/nsswitch.conf",
            "/etc/ssl/certs/ca-certificates.crt",
        ]
        .contains(&f.as_str())
            || (f.starts_with("/lib") && f.contains(".so"));
        assert!(expected, "unexpected file {f} in {files:?}");
    }
    let ldd = ext("ldd", &[util::bin().to_str().unwrap()]);
    let dynamic = ldd.stdout.contains("libc.so");
    assert_eq!(
        files.iter().any(|f| f.contains("libc.so")),
        dynamic,
        "libc in the image exactly when the binary needs it ({}): {files:?}",
        ldd.stdout.trim()
    );
    let passwd = std::fs::read_to_string(img.rootfs.join("etc/passwd")).unwrap();
    assert!(
        passwd.contains("nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin"),
        "{passwd}"
    );
    let home = std::fs::metadata(img.rootfs.join("home/nonroot")).unwrap();
    assert_eq!((home.uid(), home.gid()), (65532, 65532));
    // The packaging runs the image the script builds by default.
    for name in ["pvc", "s3", "workload-cluster"] {
        let ov = Overlay::render(name);
        assert_eq!(
            ov.container()["image"],
            format!("localhost/trustkeep:{}", env!("CARGO_PKG_VERSION")),
            "{name}"
        );
    }
    // Again: the same reference, now naming a new image; the one it replaces is gone.
    let before = image_id(&img.reference);
    let r = build_image(&img.reference);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.lines().last(), Some(img.reference.as_str()));
    let after = image_id(&img.reference);
    assert_ne!(before, after);
    let all = buildah(&["images", "--all", "--noheading", "--quiet", "--no-trunc"]);
    assert!(!all.stdout.contains(&before), "{}", all.stdout);
}

#[test]
#[ignore = "needs buildah, crun, kubectl and prometheus-pushgateway"]
fn the_pvc_overlay_backs_up_audits_and_keeps_its_root_read_only() {
    let ov = Overlay::render("pvc");
    let w = Work::new();
    let cluster = Cluster::start(&ov, "sample/mgmt.yaml");
    let gw = pushgateway();
    let pod = Pod::new(&ov, &w, &cluster);
    let args = ov.args(&gw.url(), BUCKET);
    // As packaged, the recipients ConfigMap holds a placeholder: the job refuses to run.
    let r = pod.run(&args);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains(PLACEHOLDER), "{}", r.stderr);
    assert!(archives_in(pod.volume("backups")).is_empty());
    pod.set_recipient();
    let r = pod.run(&args);
    assert_eq!(r.code, 0, "{r:?}");
    json_logs(&r);
    let archives = archives_in(pod.volume("backups"));
    assert_eq!(archives.len(), 1, "{archives:?}");
    assert_eq!(std::fs::metadata(&archives[0]).unwrap().uid(), 65532);
    assert_eq!(
        r.stdout.lines().next(),
        Some(&*format!(
            "/backups/{}",
            archives[0].file_name().unwrap().to_str().unwrap()
        ))
    );
    check_archive(
        &w,
        &archives[0],
        "sample/mgmt.yaml",
        &["--cluster", "mgmt"],
        &cluster,
    );
    check_pushed(&gw, "mgmt");
    // audit in the same pod, with no cluster flag: the in-cluster service account.
    let audit = strings(&[
        "audit",
        "--cluster",
        "mgmt",
        "--at",
        AT,
        "--output",
        "json",
        "--metrics-file",
        "/tmp/trustkeep-audit.prom",
    ]);
    let r = pod.run(&audit);
    assert_eq!(r.code, 0, "{r:?}");
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    let metrics = std::fs::read_to_string(pod.volume("tmp").join("trustkeep-audit.prom")).unwrap();
    assert_eq!(
        find(&metrics, "trustkeep_audit_last_status", &[]),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        find(&metrics, "trustkeep_audit_errors", &[]),
        Some(0.0),
        "{metrics}"
    );
    // The root filesystem is read-only; /tmp (an emptyDir) is not.
    let r = pod.run(&strings(&["keygen", "-o", "/identity.txt"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("Read-only file system"), "{}", r.stderr);
    let r = pod.run(&strings(&["keygen", "-o", "/tmp/identity.txt"]));
    assert_eq!(r.code, 0, "{r:?}");
    let written = std::fs::metadata(pod.volume("tmp").join("identity.txt")).unwrap();
    assert_eq!((written.uid(), written.gid()), (65532, 65532));
}

/// Runs an S3 overlay's CronJob against s3s-fs: the operator's Secret `trustkeep-s3` and an
/// S3-compatible endpoint (`AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`) in the container's env.
/// Returns the archive, as the server stores it.
fn run_s3_overlay(ov: &Overlay, w: &Work, cluster: &Cluster, gw: &Peer) -> PathBuf {
    let root = w.path("s3");
    let store = s3(&root);
    let mut pod = Pod::new(ov, w, cluster);
    assert!(!pod.volumes.contains_key("backups"), "no archive volume");
    pod.set_recipient();
    pod.secrets.insert(
        "trustkeep-s3".into(),
        vec![
            ("AWS_ACCESS_KEY_ID".into(), S3_KEY_ID.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), S3_SECRET.into()),
        ],
    );
    set_env(&mut pod.env, "AWS_ENDPOINT_URL", &store.url());
    set_env(&mut pod.env, "AWS_ALLOW_HTTP", "true");
    let args = ov.args(&gw.url(), BUCKET);
    assert!(
        args.contains(&"s3://backups/gloo-mesh/".to_string()),
        "{args:?}"
    );
    let r = pod.run(&args);
    assert_eq!(r.code, 0, "{r:?}");
    json_logs(&r);
    let archives = archives_in(&root.join(BUCKET).join("gloo-mesh"));
    assert_eq!(archives.len(), 1, "{archives:?}");
    let name = archives[0].file_name().unwrap().to_str().unwrap();
    assert_eq!(
        r.stdout.lines().next(),
        Some(&*format!("s3://backups/gloo-mesh/{name}"))
    );
    archives[0].clone()
}

#[test]
#[ignore = "needs buildah, crun, kubectl, s3s-fs and prometheus-pushgateway"]
fn the_s3_overlay_backs_up_to_object_storage() {
    let ov = Overlay::render("s3");
    let w = Work::new();
    let cluster = Cluster::start(&ov, "sample/mgmt.yaml");
    let gw = pushgateway();
    let archive = run_s3_overlay(&ov, &w, &cluster, &gw);
    check_archive(
        &w,
        &archive,
        "sample/mgmt.yaml",
        &["--cluster", "mgmt"],
        &cluster,
    );
    check_pushed(&gw, "mgmt");
}

#[test]
#[ignore = "needs buildah, crun, kubectl, s3s-fs and prometheus-pushgateway"]
fn the_workload_cluster_overlay_backs_up_cacerts_and_audits_under_its_name() {
    let ov = Overlay::render("workload-cluster");
    let w = Work::new();
    let cluster = Cluster::start(&ov, "sample/cluster-1.yaml");
    let gw = pushgateway();
    let archive = run_s3_overlay(&ov, &w, &cluster, &gw);
    let extra = ["--cluster", "cluster-1", "--cluster-kind", "workload"];
    check_archive(&w, &archive, "sample/cluster-1.yaml", &extra, &cluster);
    let names = crate::live::archived_names(&w, &archive);
    assert!(names.contains(&"cacerts".to_string()), "{names:?}");
    check_pushed(&gw, "cluster-1");
    // An audit pod: the agent's certificate is checked against the name given.
    let pod = Pod::new(&ov, &w, &cluster);
    let mut audit = strings(&["audit", "--at", AT, "--output", "json"]);
    audit.extend(strings(&extra));
    let r = pod.run(&audit);
    assert_eq!(r.code, 0, "{r:?}");
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["ok"], true, "{report}");
}
