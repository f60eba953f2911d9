//! Restore planning and applying: from an opened archive to a target cluster (or to manifest
//! files), never overwriting anything unless asked.
//!
//! This module owns the plan: [`targets`] picks and renames the archived secrets to restore;
//! [`Target::plan`] compares each with what the target holds and decides one [`Action`]:
//! `create` (absent), `unchanged` (same type, data, labels and annotations), `conflict` (exists
//! and differs; refused without `--replace`), `replace` (update in place) or `recreate` (the type
//! differs, which an update cannot change: delete, then create). [`Target::apply`] carries the
//! plan out secret by secret; one failure does not stop the others. The plan is serializable so
//! it can be reviewed (`--dry-run`, `--output json`) before anything is written.
//! RootTrustPolicies are planned the same way ([`PolicyItem`], [`Target::plan_policies`]), only
//! with `--include-policies`, and applied after the secrets. The command
//! that runs the whole chain is [`crate::commands::restore`].

mod target;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::secret::{Manager, SecretId, SecretRecord, PROVENANCE_ANNOTATION};
use crate::select::Selected;
use crate::source::PolicyObject;
pub use target::TargetRef;

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
    /// Exists with a newer certificate than the archive's: replacing it would roll a
    /// rotation back; refused without `--allow-rollback`.
    Rollback,
    /// Kept up to date by a controller (cert-manager, Gloo's cert-agent), which re-issues
    /// it: not written without `--include-managed`.
    Managed,
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
    /// The controller that keeps this secret up to date, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<Manager>,
    #[serde(skip)]
    record: SecretRecord,
    #[serde(skip)]
    live_resource_version: Option<String>,
    /// The namespace is absent and is created before this secret (`--create-namespaces`).
    #[serde(skip)]
    namespace_to_create: Option<String>,
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
    /// Overwrite them even with older certificates than the live ones.
    pub allow_rollback: bool,
    /// Also write secrets a controller manages (see [`Manager`]).
    pub include_managed: bool,
    /// Create target namespaces that do not exist (a cluster rebuilt from nothing).
    pub create_namespaces: bool,
    /// Also restore the archive's RootTrustPolicies (usually GitOps config, so off by default).
    pub include_policies: bool,
}

/// One RootTrustPolicy of the plan (`--include-policies`): `create`, `unchanged`, `conflict`
/// (refused without `--replace`), `replace` or `write`.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyItem {
    /// Where it goes (`namespace/name`).
    pub policy: String,
    /// Where it was archived from, when the namespace was mapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived_as: Option<String>,
    pub action: Action,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Whether the policy ended up as archived.
    pub restored: bool,
    #[serde(skip)]
    object: PolicyObject,
    #[serde(skip)]
    live_resource_version: Option<String>,
    #[serde(skip)]
    namespace_to_create: Option<String>,
}

impl PolicyItem {
    fn new(
        archived_as: Option<String>,
        object: PolicyObject,
        action: Action,
        reason: String,
    ) -> Self {
        PolicyItem {
            policy: object.id(),
            archived_as,
            action,
            reason,
            result: None,
            restored: false,
            object,
            live_resource_version: None,
            namespace_to_create: None,
        }
    }
}

/// The archive's policies to restore, renamed into their target namespaces (`--namespace-map`).
pub fn policy_targets(
    policies: &[PolicyObject],
    opts: &Options,
) -> Vec<(Option<String>, PolicyObject)> {
    policies
        .iter()
        .map(|p| {
            let mut p = p.clone();
            match opts.namespace_map.get(&p.metadata.namespace) {
                Some(ns) => {
                    let archived = p.id();
                    p.metadata.namespace = ns.clone();
                    (Some(archived), p)
                }
                None => (None, p),
            }
        })
        .collect()
}

/// What the plan says of policies it does not restore (none without `--include-policies`).
pub fn policies_not_restored(policies: &[PolicyObject], opts: &Options) -> Option<String> {
    (!opts.include_policies && !policies.is_empty()).then(|| {
        let names: Vec<String> = policies.iter().map(PolicyObject::id).collect();
        format!(
            "the archive holds {} RootTrustPolicy object(s) ({}), not restored: usually GitOps config; pass --include-policies",
            names.len(),
            names.join(", ")
        )
    })
}

/// Why replacing `live` with `archived` would roll a rotation back, if it would: a data key
/// both hold certificates in, whose live first certificate (the leaf, or the CA of a bundle)
/// was issued after the archived one.
pub fn rollback(archived: &SecretRecord, live: &SecretRecord) -> Option<String> {
    let first = |r: &SecretRecord, key: &str| {
        let bytes = r.data.get(key)?;
        let certs = crate::pki::parse_certs(bytes.expose()).ok()?;
        Some(certs.first()?.summary())
    };
    archived.data.keys().find_map(|key| {
        let (old, new) = (first(archived, key)?, first(live, key)?);
        (new.not_before > old.not_before).then(|| {
            format!(
                "{key}: the live certificate ({}, issued {}) is newer than the archived one (issued {}); replacing it would roll a rotation back and strand what already trusts the new one; refused without --allow-rollback",
                new.subject,
                new.not_before.format("%Y-%m-%d %H:%M UTC"),
                old.not_before.format("%Y-%m-%d %H:%M UTC"),
            )
        })
    })
}

/// The secrets to restore, renamed into their target namespaces.
pub fn targets(
    secrets: &[Selected],
    opts: &Options,
) -> Result<Vec<(Option<SecretId>, SecretRecord)>> {
    for o in &opts.only {
        let known = secrets.iter().any(|s| s.record.id.matches(o));
        if !known {
            return Err(Error::Usage(format!(
                "--only {o}: the archive holds no such secret (see trustkeep inspect)"
            )));
        }
    }
    Ok(secrets
        .iter()
        .filter(|s| opts.only.is_empty() || opts.only.iter().any(|o| s.record.id.matches(o)))
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

pub(crate) fn item(
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
        managed_by: None,
        record,
        live_resource_version: live_rv,
        namespace_to_create: None,
    }
}

/// Marks every item blocked (the checks found errors).
pub fn block(items: &mut [Item], policies: &mut [PolicyItem], why: &str) {
    for i in items {
        i.action = Action::Blocked;
        i.reason = why.to_string();
    }
    for p in policies {
        p.action = Action::Blocked;
        p.reason = why.to_string();
    }
}

/// Names the controller of each managed secret; without `include`, plans what would be
/// written over it as [`Action::Managed`] with the consequence spelled out.
pub fn hold_managed(items: &mut [Item], include: bool) {
    for i in items {
        let Some(m) = Manager::of(&i.record) else {
            continue;
        };
        if include {
            i.reason = format!(
                "{}; {}: restored anyway (--include-managed)",
                i.reason,
                m.consequence()
            );
        } else if !matches!(i.action, Action::Unchanged | Action::Blocked) {
            i.action = Action::Managed;
            i.reason = format!(
                "{}; not restored without --include-managed",
                m.consequence()
            );
        }
        i.managed_by = Some(m);
    }
}

/// The annotation every restored object carries.
pub fn provenance(archive_name: &str, created: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(
        PROVENANCE_ANNOTATION.to_string(),
        format!("{archive_name} ({created})"),
    )])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::tests::rec;

    #[test]
    fn only_and_namespace_map() {
        let s = vec![Selected {
            role: crate::select::Role::RelayServer,
            record: rec("Opaque", b"x"),
        }];
        let opts = Options {
            namespace_map: BTreeMap::from([("gloo-mesh".into(), "drill".into())]),
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
    }
}
