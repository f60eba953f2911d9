//! Restore planning and applying: from an opened archive to a target cluster (or to manifest
//! files), never overwriting anything unless asked.
//!
//! [`plan`] compares each archived secret with what the target holds and decides one action:
//! `create` (absent), `unchanged` (same type, data, labels and annotations), `conflict` (exists
//! and differs; refused without `--replace`), `replace` (update in place) or `recreate` (the type
//! differs, which an update cannot change: delete, then create). [`apply`] carries the plan
//! out secret by secret; one failure does not stop the others. The plan is serializable so it
//! can be reviewed (`--dry-run`, `--output json`) before anything is written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::archive::{self, SOURCE_ANNOTATION};
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::secret::{SecretId, SecretRecord};
use crate::select::Selected;

/// What will happen to one secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Unchanged,
    /// Exists and differs; refused without `--replace`.
    Conflict,
    /// Update in place (`--replace`).
    Replace,
    /// Delete and create, because the type differs (`--replace`).
    Recreate,
    /// Written to a manifest file (`--to-manifests`).
    Write,
    /// Not restored: the pre-restore checks found errors.
    Blocked,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        f.write_str(&s)
    }
}

/// One line of the plan.
#[derive(Clone, Debug, Serialize)]
pub struct Item {
    /// Where it goes (`namespace/name`).
    pub secret: String,
    /// Where it was archived from, when the namespace was mapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived_as: Option<String>,
    #[serde(rename = "type")]
    pub type_: String,
    pub action: Action,
    /// Why this action (what differs, what is not restored).
    pub reason: String,
    /// What happened when applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Whether the secret ended up as archived (created, replaced, unchanged or written).
    pub restored: bool,
    #[serde(skip)]
    record: SecretRecord,
    #[serde(skip)]
    live_resource_version: Option<String>,
}

/// How to restore.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Only these secrets (`NAME` or `NAMESPACE/NAME`, as archived); all when empty.
    pub only: Vec<String>,
    /// Archived namespace → target namespace.
    pub namespace_map: BTreeMap<String, String>,
    /// Overwrite secrets that exist and differ.
    pub replace: bool,
}

/// The secrets to restore, renamed into their target namespaces.
pub fn targets(
    secrets: &[Selected],
    opts: &Options,
) -> Result<Vec<(Option<SecretId>, SecretRecord)>> {
    for o in &opts.only {
        let known = secrets.iter().any(|s| matches_only(&s.record.id, o));
        if !known {
            return Err(Error::Usage(format!(
                "--only {o}: the archive holds no such secret (see trustkeep inspect)"
            )));
        }
    }
    Ok(secrets
        .iter()
        .filter(|s| opts.only.is_empty() || opts.only.iter().any(|o| matches_only(&s.record.id, o)))
        .map(|s| {
            let mut r = s.record.clone();
            let mapped = opts.namespace_map.get(&r.id.namespace).cloned();
            let archived = mapped.as_ref().map(|_| r.id.clone());
            if let Some(ns) = mapped {
                r.id.namespace = ns;
            }
            (archived, r)
        })
        .collect())
}

fn matches_only(id: &SecretId, o: &str) -> bool {
    o == id.name || o == id.to_string()
}

/// Parses `--namespace-map A=B` values.
pub fn parse_namespace_map(specs: &[String]) -> Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for s in specs {
        match s.split_once('=') {
            Some((a, b))
                if crate::secret::valid_object_name(a) && crate::secret::valid_object_name(b) =>
            {
                m.insert(a.to_string(), b.to_string());
            }
            _ => {
                return Err(Error::Usage(format!(
                    "--namespace-map {s}: expected FROM=TO, two namespace names"
                )))
            }
        }
    }
    Ok(m)
}

/// Compares the archived record with the live secret; `None` when they are the same.
fn differences(want: &SecretRecord, live: &SecretRecord) -> Option<String> {
    let mut diffs = Vec::new();
    if want.immutable != live.immutable {
        diffs.push(format!(
            "immutable differs (live {}, archived {})",
            live.immutable, want.immutable
        ));
    }
    if want.type_ != live.type_ {
        diffs.push(format!(
            "type differs (live {}, archived {})",
            live.type_, want.type_
        ));
    }
    let keys: std::collections::BTreeSet<&String> =
        want.data.keys().chain(live.data.keys()).collect();
    let changed: Vec<&str> = keys
        .into_iter()
        .filter(|k| want.data.get(*k) != live.data.get(*k))
        .map(|k| k.as_str())
        .collect();
    if !changed.is_empty() {
        diffs.push(format!("data differs in {}", changed.join(", ")));
    }
    let missing = |a: &BTreeMap<String, String>, b: &BTreeMap<String, String>| -> Vec<String> {
        a.iter()
            .filter(|(k, v)| k.as_str() != SOURCE_ANNOTATION && b.get(*k) != Some(v))
            .map(|(k, _)| k.clone())
            .collect()
    };
    let l = missing(&want.labels, &live.labels);
    if !l.is_empty() {
        diffs.push(format!("labels missing or different: {}", l.join(", ")));
    }
    let a = missing(&want.annotations, &live.annotations);
    if !a.is_empty() {
        diffs.push(format!(
            "annotations missing or different: {}",
            a.join(", ")
        ));
    }
    (!diffs.is_empty()).then(|| diffs.join("; "))
}

fn notes(r: &SecretRecord) -> String {
    if r.owner_references.is_empty() {
        String::new()
    } else {
        format!(
            "; owner references ({}) are not restored",
            r.owner_references.join(", ")
        )
    }
}

fn item(
    archived: Option<SecretId>,
    record: SecretRecord,
    action: Action,
    reason: String,
    live_rv: Option<String>,
) -> Item {
    // Only a write loses owner references; an unchanged secret keeps what it has.
    let reason = match action {
        Action::Create | Action::Replace | Action::Recreate | Action::Write => {
            format!("{reason}{}", notes(&record))
        }
        _ => reason,
    };
    Item {
        secret: record.id.to_string(),
        archived_as: archived.map(|a| a.to_string()),
        type_: record.type_.clone(),
        action,
        reason,
        result: None,
        restored: false,
        record,
        live_resource_version: live_rv,
    }
}

/// Plans against a live cluster: one LIST per target namespace (GETs when listing is
/// forbidden).
pub async fn plan(
    cluster: &Cluster,
    wanted: Vec<(Option<SecretId>, SecretRecord)>,
    opts: &Options,
) -> Result<Vec<Item>> {
    let mut live: BTreeMap<SecretId, SecretRecord> = BTreeMap::new();
    let namespaces: std::collections::BTreeSet<String> =
        wanted.iter().map(|(_, r)| r.id.namespace.clone()).collect();
    for ns in &namespaces {
        match cluster.list_secrets(ns).await? {
            Some(items) => {
                // A LIST in a namespace that does not exist answers an empty list: ask, once,
                // before planning creates that would all fail.
                if items.is_empty() && cluster.namespace_exists(ns).await? == Some(false) {
                    return Err(Error::Cluster {
                        cluster: cluster.name(),
                        message: format!("namespace {ns} does not exist; create it first (kubectl create namespace {ns}) or choose another with --namespace-map"),
                    });
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
            None => item(
                archived,
                r,
                Action::Create,
                "absent from the cluster".into(),
                None,
            ),
            Some(l) => {
                let rv = l.resource_version.clone();
                match differences(&r, l) {
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

/// Plans writing manifests instead of touching a cluster.
pub fn plan_manifests(wanted: Vec<(Option<SecretId>, SecretRecord)>) -> Vec<Item> {
    wanted
        .into_iter()
        .map(|(a, r)| {
            item(
                a,
                r,
                Action::Write,
                "manifest for review or GitOps".into(),
                None,
            )
        })
        .collect()
}

/// Marks every item blocked (the checks found errors).
pub fn block(items: &mut [Item], why: &str) {
    for i in items {
        i.action = Action::Blocked;
        i.reason = why.to_string();
    }
}

/// The annotation every restored object carries.
pub fn provenance(archive_name: &str, created: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(
        SOURCE_ANNOTATION.to_string(),
        format!("{archive_name} ({created})"),
    )])
}

/// Carries out the plan on the cluster, secret by secret.
pub async fn apply(cluster: &Cluster, items: &mut [Item], extra: &BTreeMap<String, String>) {
    for it in items.iter_mut() {
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
            Action::Conflict | Action::Blocked | Action::Write => {
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

/// Writes each planned secret as `DIR/<namespace>/<name>.yaml` (files 0600), refusing to
/// overwrite existing files.
pub fn write_manifests(
    dir: &Path,
    items: &mut [Item],
    extra: &BTreeMap<String, String>,
) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for it in items.iter_mut().filter(|i| i.action == Action::Write) {
        let sub = dir.join(&it.record.id.namespace);
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(&sub)
            .map_err(|e| Error::io("cannot create directory", &sub, e))?;
        let path = sub.join(format!("{}.yaml", it.record.id.name));
        let yaml = archive::secret_yaml(&it.record, extra)?;
        crate::store::write_atomic(&path, yaml.as_bytes(), false)?;
        it.result = Some(format!("written to {}", path.display()));
        it.restored = true;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretBytes;

    fn rec(type_: &str, v: &[u8]) -> SecretRecord {
        SecretRecord {
            id: SecretId::new("gloo-mesh", "s"),
            type_: type_.into(),
            labels: BTreeMap::from([("a".into(), "1".into())]),
            annotations: BTreeMap::new(),
            data: BTreeMap::from([("tls.crt".into(), SecretBytes::new(v.to_vec()))]),
            immutable: false,
            resource_version: None,
            owner_references: vec![],
        }
    }

    #[test]
    fn differences_name_what_differs() {
        let a = rec("kubernetes.io/tls", b"x");
        assert_eq!(differences(&a, &a), None);
        let mut live = rec("Opaque", b"y");
        live.labels.clear();
        live.annotations
            .insert(SOURCE_ANNOTATION.into(), "old".into());
        let d = differences(&a, &live).unwrap();
        assert_eq!(d, "type differs (live Opaque, archived kubernetes.io/tls); data differs in tls.crt; labels missing or different: a");
        // Extra live labels and our own provenance annotation do not count.
        let mut live = a.clone();
        live.labels.insert("extra".into(), "x".into());
        live.annotations
            .insert(SOURCE_ANNOTATION.into(), "old".into());
        assert_eq!(differences(&a, &live), None);
    }

    #[test]
    fn only_and_namespace_map() {
        let s = vec![Selected {
            role: crate::select::Role::RelayServer,
            record: rec("Opaque", b"x"),
        }];
        let opts = Options {
            namespace_map: parse_namespace_map(&["gloo-mesh=drill".into()]).unwrap(),
            ..Default::default()
        };
        let t = targets(&s, &opts).unwrap();
        assert_eq!(t[0].1.id.to_string(), "drill/s");
        assert_eq!(t[0].0.as_ref().unwrap().to_string(), "gloo-mesh/s");
        let bad = Options {
            only: vec!["nope".into()],
            ..Default::default()
        };
        assert!(targets(&s, &bad)
            .unwrap_err()
            .to_string()
            .contains("--only nope"));
        assert!(parse_namespace_map(&["x".into()]).is_err());
    }
}
