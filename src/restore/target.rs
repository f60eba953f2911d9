//! Restore targets: where a restore plan is made against and carried out. A [`Target`] is a
//! live cluster (the plan compares with what it holds; applying creates, replaces or
//! recreates) or a directory of manifests (`--to-manifests`: every secret is written as a
//! YAML file for review or GitOps). RootTrustPolicies (`--include-policies`) go the same way,
//! after the secrets. A new kind of target is a new variant here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{item, Action, Item, Options, PolicyItem};
use crate::archive;
use crate::cluster::{ApiCall, Cluster, ClusterRef};
use crate::error::{Error, Result};
use crate::secret::{SecretId, SecretRecord};
use crate::source::PolicyObject;

/// Where a restore goes, before connecting: what the user named.
#[derive(Clone, Debug)]
pub enum TargetRef {
    Cluster(ClusterRef),
    Manifests(PathBuf),
}

/// Why each object of a `--to-manifests` restore is written.
const MANIFEST_WHY: &str = "manifest for review or GitOps";

impl TargetRef {
    /// Connects to the cluster (nothing is sent until the first call).
    pub async fn connect(&self) -> Result<Target> {
        Ok(match self {
            TargetRef::Cluster(c) => Target::Cluster(Box::new(Cluster::connect(c).await?)),
            TargetRef::Manifests(dir) => Target::Manifests(dir.clone()),
        })
    }
}

/// Where a restore goes.
#[derive(Debug)]
pub enum Target {
    /// A live cluster, connected.
    Cluster(Box<Cluster>),
    /// `DIR/<namespace>/<name>.yaml` files (0600), never over existing files.
    Manifests(PathBuf),
}

impl Target {
    /// The cluster's name (context or server), or none for manifests.
    pub fn cluster_name(&self) -> Option<String> {
        match self {
            Target::Cluster(c) => Some(c.name()),
            Target::Manifests(_) => None,
        }
    }

    /// API calls made so far (none for manifests).
    pub fn api_calls(&self) -> Vec<ApiCall> {
        match self {
            Target::Cluster(c) => c.calls(),
            Target::Manifests(_) => Vec::new(),
        }
    }

    /// Decides an action for each secret: against a cluster, one LIST per target namespace
    /// (GETs when listing is forbidden); for manifests, `write` each.
    pub async fn plan(
        &self,
        wanted: Vec<(Option<SecretId>, SecretRecord)>,
        opts: &Options,
    ) -> Result<Vec<Item>> {
        match self {
            Target::Cluster(c) => plan_cluster(c, wanted, opts).await,
            Target::Manifests(_) => Ok(wanted
                .into_iter()
                .map(|(a, r)| item(a, r, Action::Write, MANIFEST_WHY.into(), None))
                .collect()),
        }
    }

    /// Decides an action for each RootTrustPolicy: against a cluster, one LIST per target
    /// namespace (GETs when listing is forbidden); for manifests, `write` each.
    pub async fn plan_policies(
        &self,
        wanted: Vec<(Option<String>, PolicyObject)>,
        opts: &Options,
    ) -> Result<Vec<PolicyItem>> {
        match self {
            Target::Cluster(c) => plan_cluster_policies(c, wanted, opts).await,
            Target::Manifests(_) => Ok(wanted
                .into_iter()
                .map(|(a, p)| PolicyItem::new(a, p, Action::Write, MANIFEST_WHY.into()))
                .collect()),
        }
    }

    /// Carries out the plan, secrets first, then policies (so a Gloo Mesh management server
    /// that sees a policy finds its root already there); on a cluster one failure does not
    /// stop the others (each item records its result).
    pub async fn apply(
        &self,
        items: &mut [Item],
        policies: &mut [PolicyItem],
        extra: &BTreeMap<String, String>,
    ) -> Result<()> {
        match self {
            Target::Cluster(c) => {
                let mut created = BTreeMap::new();
                apply_cluster(c, items, extra, &mut created).await;
                apply_cluster_policies(c, policies, &mut created).await;
                Ok(())
            }
            Target::Manifests(dir) => write_manifests(dir, items, policies, extra).map(|_| ()),
        }
    }
}

/// Whether namespace `ns`, where a LIST found nothing, is absent and is to be created
/// (`--create-namespaces`); absent without that flag is refused.
async fn absent_namespace(cluster: &Cluster, ns: &str, opts: &Options) -> Result<bool> {
    if cluster.namespace_exists(ns).await? != Some(false) {
        return Ok(false);
    }
    if opts.create_namespaces {
        return Ok(true);
    }
    Err(Error::Cluster {
        cluster: cluster.name(),
        message: format!("namespace {ns} does not exist; create it first (kubectl create namespace {ns}), pass --create-namespaces (a cluster rebuilt from nothing), or choose another with --namespace-map"),
    })
}

/// Creates namespace `ns` once per restore (`created` remembers each outcome).
async fn ensure_namespace(
    cluster: &Cluster,
    ns: &str,
    created: &mut BTreeMap<String, std::result::Result<(), String>>,
) -> std::result::Result<(), String> {
    if !created.contains_key(ns) {
        let r = cluster
            .create_namespace(ns)
            .await
            .map_err(|e| e.to_string());
        created.insert(ns.to_string(), r);
    }
    created[ns].clone()
}

async fn plan_cluster_policies(
    cluster: &Cluster,
    wanted: Vec<(Option<String>, PolicyObject)>,
    opts: &Options,
) -> Result<Vec<PolicyItem>> {
    let mut live = BTreeMap::new();
    let namespaces: BTreeSet<String> = wanted
        .iter()
        .map(|(_, p)| p.metadata.namespace.clone())
        .collect();
    let mut missing = BTreeSet::new();
    for ns in &namespaces {
        match cluster.policies_in(ns).await? {
            Some(items) if items.is_empty() && absent_namespace(cluster, ns, opts).await? => {
                missing.insert(ns.clone());
            }
            Some(items) => live.extend(items.into_iter().map(|l| (l.0.id(), l))),
            None => {
                for (_, p) in wanted.iter().filter(|(_, p)| &p.metadata.namespace == ns) {
                    if let Some(l) = cluster.get_policy(ns, &p.metadata.name).await? {
                        live.insert(l.0.id(), l);
                    }
                }
            }
        }
    }
    Ok(wanted
        .into_iter()
        .map(|(archived, p)| {
            let ns = p.metadata.namespace.clone();
            match live.get(&p.id()) {
                None if missing.contains(&ns) => {
                    let why = format!(
                        "absent, and namespace {ns} is created first (--create-namespaces)"
                    );
                    let mut it = PolicyItem::new(archived, p, Action::Create, why);
                    it.namespace_to_create = Some(ns);
                    it
                }
                None => {
                    let why = "absent from the cluster".to_string();
                    PolicyItem::new(archived, p, Action::Create, why)
                }
                Some((l, rv)) => {
                    let (action, why) = match p.differences(l) {
                        None => (
                            Action::Unchanged,
                            "identical spec, labels and annotations".to_string(),
                        ),
                        Some(d) if !opts.replace => (
                            Action::Conflict,
                            format!("exists and differs: {d}; refused without --replace"),
                        ),
                        Some(d) => (Action::Replace, d),
                    };
                    let mut it = PolicyItem::new(archived, p, action, why);
                    it.live_resource_version = rv.clone();
                    it
                }
            }
        })
        .collect())
}

async fn apply_cluster_policies(
    cluster: &Cluster,
    policies: &mut [PolicyItem],
    created: &mut BTreeMap<String, std::result::Result<(), String>>,
) {
    for it in policies.iter_mut() {
        if let Some(ns) = it.namespace_to_create.clone() {
            if let Err(e) = ensure_namespace(cluster, &ns, created).await {
                it.result = Some(format!("failed: {e}"));
                continue;
            }
        }
        let res: Result<&str> = match it.action {
            Action::Unchanged => Ok("unchanged"),
            Action::Create => cluster.create_policy(&it.object).await.map(|_| "created"),
            Action::Replace => {
                let rv = it.live_resource_version.clone();
                cluster
                    .replace_policy(&it.object, rv)
                    .await
                    .map(|_| "replaced")
            }
            _ => {
                it.result = Some("not restored".into());
                continue;
            }
        };
        match res {
            Ok(r) => {
                it.result = Some(r.to_string());
                it.restored = true;
            }
            Err(e) => it.result = Some(format!("failed: {e}")),
        }
    }
}

async fn plan_cluster(
    cluster: &Cluster,
    wanted: Vec<(Option<SecretId>, SecretRecord)>,
    opts: &Options,
) -> Result<Vec<Item>> {
    let mut live: BTreeMap<SecretId, SecretRecord> = BTreeMap::new();
    let namespaces: BTreeSet<String> = wanted.iter().map(|(_, r)| r.id.namespace.clone()).collect();
    let mut missing = BTreeSet::new();
    for ns in &namespaces {
        match cluster.list_secrets(ns).await? {
            Some(items) => {
                // A LIST in a namespace that does not exist answers an empty list: ask, once,
                // before planning creates that would all fail.
                if items.is_empty() && absent_namespace(cluster, ns, opts).await? {
                    missing.insert(ns.clone());
                    continue;
                }
                for s in items {
                    let r = SecretRecord::from_k8s(s, ns);
                    live.insert(r.id.clone(), r);
                }
            }
            None => {
                for (_, r) in wanted.iter().filter(|(_, r)| &r.id.namespace == ns) {
                    if let Some(s) = cluster.get_secret(&r.id).await? {
                        live.insert(r.id.clone(), SecretRecord::from_k8s(s, ns));
                    }
                }
            }
        }
    }
    Ok(wanted
        .into_iter()
        .map(|(archived, r)| match live.get(&r.id) {
            None if missing.contains(&r.id.namespace) => {
                let ns = r.id.namespace.clone();
                let mut it = item(
                    archived,
                    r,
                    Action::Create,
                    format!("absent, and namespace {ns} is created first (--create-namespaces)"),
                    None,
                );
                it.namespace_to_create = Some(ns);
                it
            }
            None => item(
                archived,
                r,
                Action::Create,
                "absent from the cluster".into(),
                None,
            ),
            Some(l) => {
                let rv = l.resource_version.clone();
                // Only a replace can roll a rotation back; the certificates are parsed once.
                let rollback = (opts.replace && !opts.allow_rollback)
                    .then(|| super::rollback(&r, l))
                    .flatten();
                match r.differences(l) {
                    None => item(
                        archived,
                        r,
                        Action::Unchanged,
                        "identical type, data, labels and annotations".into(),
                        rv,
                    ),
                    Some(d) if !opts.replace => item(
                        archived,
                        r,
                        Action::Conflict,
                        format!("exists and differs: {d}; refused without --replace"),
                        rv,
                    ),
                    Some(_) if rollback.is_some() => {
                        let why = rollback.unwrap_or_default();
                        item(archived, r, Action::Rollback, why, rv)
                    }
                    Some(d) if l.type_ != r.type_ || l.immutable => item(
                        archived,
                        r,
                        Action::Recreate,
                        format!(
                            "{d}; {} cannot be updated, so delete and create",
                            if l.immutable {
                                "an immutable secret"
                            } else {
                                "a type"
                            }
                        ),
                        rv,
                    ),
                    Some(d) => item(archived, r, Action::Replace, d, rv),
                }
            }
        })
        .collect())
}

async fn apply_cluster(
    cluster: &Cluster,
    items: &mut [Item],
    extra: &BTreeMap<String, String>,
    created: &mut BTreeMap<String, std::result::Result<(), String>>,
) {
    for it in items.iter_mut() {
        if let Some(ns) = it.namespace_to_create.clone() {
            if let Err(e) = ensure_namespace(cluster, &ns, created).await {
                it.result = Some(format!("failed: {e}"));
                continue;
            }
        }
        let mut obj = it.record.to_k8s(extra);
        let res: Result<&str> = match it.action {
            Action::Unchanged => Ok("unchanged"),
            Action::Create => cluster.create_secret(&obj).await.map(|_| "created"),
            Action::Replace => {
                obj.metadata.resource_version = it.live_resource_version.clone();
                cluster.replace_secret(&obj).await.map(|_| "replaced")
            }
            Action::Recreate => match cluster.delete_secret(&it.record.id).await {
                Ok(()) => cluster.create_secret(&obj).await.map(|_| "recreated").map_err(|e| Error::Cluster {
                    cluster: cluster.name(),
                    message: format!("{e}; the old secret was deleted and the new one not created: run the restore again (the archive is unchanged)"),
                }),
                Err(e) => Err(e),
            },
            Action::Conflict | Action::Blocked | Action::Rollback | Action::Managed | Action::Write => {
                it.result = Some("not restored".into());
                continue;
            }
        };
        match res {
            Ok(r) => {
                it.result = Some(r.to_string());
                it.restored = true;
            }
            Err(e) => it.result = Some(format!("failed: {e}")),
        }
    }
}

/// Which plan line a planned manifest file is for.
#[derive(Clone, Copy)]
enum Line {
    Secret(usize),
    Policy(usize),
}

/// Writes every `Write` item as `<dir>/<namespace>/<name>.yaml`, and every `Write` policy as
/// `<dir>/<namespace>/<name>.roottrustpolicy.yaml` (directories 0700, files 0600) with
/// export's rules: the whole target is checked before the first write (no symbolic link
/// followed, no existing file replaced), each file is written atomically, and a failure
/// part-way removes what this run wrote, so the directory gets all files or none.
fn write_manifests(
    dir: &Path,
    items: &mut [Item],
    policies: &mut [PolicyItem],
    extra: &BTreeMap<String, String>,
) -> Result<Vec<PathBuf>> {
    let mut planned = Vec::new();
    for (i, it) in items.iter().enumerate() {
        if it.action == Action::Write {
            let sub = dir.join(&it.record.id.namespace);
            let path = sub.join(format!("{}.yaml", it.record.id.name));
            planned.push((
                Line::Secret(i),
                sub,
                path,
                archive::secret_yaml(&it.record, extra)?,
            ));
        }
    }
    for (i, p) in policies.iter().enumerate() {
        if p.action == Action::Write {
            let sub = dir.join(&p.object.metadata.namespace);
            let path = sub.join(format!("{}.roottrustpolicy.yaml", p.object.metadata.name));
            let yaml = p.object.to_yaml().map_err(Error::Usage)?;
            planned.push((Line::Policy(i), sub, path, zeroize::Zeroizing::new(yaml)));
        }
    }
    check_manifest_target(dir, &planned)?;
    let mut written: Vec<PathBuf> = Vec::new();
    let mut made_dirs: Vec<PathBuf> = Vec::new();
    for (_, sub, path, yaml) in &planned {
        if let Err(e) = write_one(dir, sub, path, yaml.as_bytes(), &mut made_dirs) {
            for p in &written {
                let _ = std::fs::remove_file(p);
            }
            for d in made_dirs.iter().rev() {
                let _ = std::fs::remove_dir(d);
            }
            return Err(e);
        }
        written.push(path.clone());
    }
    for (line, _, path, _) in &planned {
        let (result, restored) = match *line {
            Line::Secret(i) => (&mut items[i].result, &mut items[i].restored),
            Line::Policy(i) => (&mut policies[i].result, &mut policies[i].restored),
        };
        *result = Some(format!("written to {}", path.display()));
        *restored = true;
    }
    Ok(written)
}

/// Refuses, before anything is written: `dir` when it is not a directory, a namespace
/// directory that is a symbolic link or not a directory, and any target file that already exists (of whatever type).
fn check_manifest_target(
    dir: &Path,
    planned: &[(Line, PathBuf, PathBuf, zeroize::Zeroizing<String>)],
) -> Result<()> {
    let refuse = |path: &Path, message: &str| Error::Refused {
        path: path.to_path_buf(),
        message: message.to_string(),
    };
    // DIR itself is what the user named, so a symbolic link there is followed; nothing inside.
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => return Err(refuse(dir, "exists and is not a directory")),
        _ => {}
    }
    for d in planned.iter().map(|(_, sub, _, _)| sub.as_path()) {
        match std::fs::symlink_metadata(d) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(refuse(
                    d,
                    "is a symbolic link; refusing to write secrets through it",
                ))
            }
            Ok(m) if !m.is_dir() => return Err(refuse(d, "exists and is not a directory")),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot inspect", d, e)),
        }
    }
    for (_, _, path, _) in planned {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(refuse(
                    path,
                    "is a symbolic link; refusing to write secrets through it",
                ))
            }
            Ok(_) => {
                return Err(refuse(
                    path,
                    "already exists; refusing to overwrite it (nothing was written)",
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot inspect", path, e)),
        }
    }
    Ok(())
}

/// Creates `dir` and `sub` (0700) when missing, recording them, then writes `path`
/// atomically without replacing anything.
fn write_one(
    dir: &Path,
    sub: &Path,
    path: &Path,
    bytes: &[u8],
    made_dirs: &mut Vec<PathBuf>,
) -> Result<()> {
    for d in [dir, sub] {
        if std::fs::symlink_metadata(d).is_err() {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(d == dir);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(d)
                .map_err(|e| Error::io("cannot create directory", d, e))?;
            made_dirs.push(d.to_path_buf());
        }
    }
    crate::store::write_atomic(path, bytes, false)
}
