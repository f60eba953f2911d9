//! Restore targets: where a restore plan is made against and carried out. A [`Target`] is a
//! live cluster (the plan compares with what it holds; applying creates, replaces or
//! recreates) or a directory of manifests (`--to-manifests`: every secret is written as a
//! YAML file for review or GitOps). RootTrustPolicies (`--include-policies`) go the same way,
//! after the secrets. A new kind of target is a new variant here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::{manifests, Action, Item, Object, Options};
use crate::cluster::{ApiCall, Cluster, ClusterError, ClusterRef};
use crate::error::{Error, Result};
use crate::inventory::PolicyObject;
use crate::secret::{SecretId, SecretRecord};

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
    pub(super) async fn plan(
        &self,
        wanted: Vec<(Option<SecretId>, SecretRecord)>,
        opts: &Options,
    ) -> Result<Vec<Item>> {
        match self {
            Target::Cluster(c) => plan_cluster(c, wanted, opts).await,
            Target::Manifests(_) => Ok(wanted
                .into_iter()
                .map(|(a, r)| Item::secret(a, r, Action::Write, MANIFEST_WHY.into(), None))
                .collect()),
        }
    }

    /// Decides an action for each RootTrustPolicy: against a cluster, one LIST per target
    /// namespace (GETs when listing is forbidden); for manifests, `write` each.
    pub(super) async fn plan_policies(
        &self,
        wanted: Vec<(Option<String>, PolicyObject)>,
        opts: &Options,
    ) -> Result<Vec<Item>> {
        match self {
            Target::Cluster(c) => plan_cluster_policies(c, wanted, opts).await,
            Target::Manifests(_) => Ok(wanted
                .into_iter()
                .map(|(a, p)| Item::policy(a, p, Action::Write, MANIFEST_WHY.into(), None))
                .collect()),
        }
    }

    /// Carries out the plan, secrets first, then policies (so a Gloo Mesh management server
    /// that sees a policy finds its root already there); on a cluster one failure does not
    /// stop the others (each item records its result).
    pub(super) async fn apply(
        &self,
        secrets: &mut [Item],
        policies: &mut [Item],
        extra: &BTreeMap<String, String>,
    ) -> Result<()> {
        let items = secrets.iter_mut().chain(policies.iter_mut());
        match self {
            Target::Cluster(c) => {
                let mut created = BTreeMap::new();
                for it in items {
                    apply_one(c, it, extra, &mut created).await;
                }
                Ok(())
            }
            Target::Manifests(dir) => manifests::write(dir, items.collect(), extra).map(|_| ()),
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
    Err(Error::from(ClusterError { source: None,
        cluster: cluster.name(),
        message: format!("namespace {ns} does not exist; create it first (kubectl create namespace {ns}), pass --create-namespaces (a cluster rebuilt from nothing), or choose another with --namespace-map"),
    }))
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
) -> Result<Vec<Item>> {
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
                    let mut it = Item::policy(archived, p, Action::Create, why, None);
                    it.namespace_to_create = Some(ns);
                    it
                }
                None => {
                    let why = "absent from the cluster".to_string();
                    Item::policy(archived, p, Action::Create, why, None)
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
                    Item::policy(archived, p, action, why, rv.clone())
                }
            }
        })
        .collect())
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
                let mut it = Item::secret(
                    archived,
                    r,
                    Action::Create,
                    format!("absent, and namespace {ns} is created first (--create-namespaces)"),
                    None,
                );
                it.namespace_to_create = Some(ns);
                it
            }
            None => Item::secret(
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
                    None => Item::secret(
                        archived,
                        r,
                        Action::Unchanged,
                        "identical type, data, labels and annotations".into(),
                        rv,
                    ),
                    Some(d) if !opts.replace => Item::secret(
                        archived,
                        r,
                        Action::Conflict,
                        format!("exists and differs: {d}; refused without --replace"),
                        rv,
                    ),
                    Some(_) if rollback.is_some() => {
                        let why = rollback.unwrap_or_default();
                        Item::secret(archived, r, Action::Rollback, why, rv)
                    }
                    Some(d) if l.type_ != r.type_ || l.immutable => Item::secret(
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
                    Some(d) => Item::secret(archived, r, Action::Replace, d, rv),
                }
            }
        })
        .collect())
}

/// Carries out one line of the plan on a cluster, recording its result.
async fn apply_one(
    cluster: &Cluster,
    it: &mut Item,
    extra: &BTreeMap<String, String>,
    created: &mut BTreeMap<String, std::result::Result<(), String>>,
) {
    if let Some(ns) = it.namespace_to_create.clone() {
        if let Err(e) = ensure_namespace(cluster, &ns, created).await {
            it.result = Some(format!("failed: {e}"));
            return;
        }
    }
    let rv = it.live_resource_version.clone();
    let res: Result<&str> = match (&it.object, it.action) {
        (_, Action::Unchanged) => Ok("unchanged"),
        (Object::Secret(r), Action::Create) => {
            cluster.create_secret(&r.to_k8s(extra)).await.map(|_| "created")
        }
        (Object::Secret(r), Action::Replace) => {
            let mut obj = r.to_k8s(extra);
            obj.metadata.resource_version = rv;
            cluster.replace_secret(&obj).await.map(|_| "replaced")
        }
        (Object::Secret(r), Action::Recreate) => match cluster.delete_secret(&r.id).await {
            Ok(()) => cluster.create_secret(&r.to_k8s(extra)).await.map(|_| "recreated").map_err(|e| Error::from(ClusterError { source: None,
                cluster: cluster.name(),
                message: format!("{e}; the old secret was deleted and the new one not created: run the restore again (the archive is unchanged)"),
            })),
            Err(e) => Err(e),
        },
        (Object::Policy(p), Action::Create) => cluster.create_policy(p).await.map(|_| "created"),
        (Object::Policy(p), Action::Replace) => {
            cluster.replace_policy(p, rv).await.map(|_| "replaced")
        }
        _ => {
            it.result = Some("not restored".into());
            return;
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
