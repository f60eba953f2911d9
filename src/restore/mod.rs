//! The restore plan: from an opened archive to a target cluster (or to manifest files), never
//! overwriting anything unless asked.
//!
//! [`prepare`] makes the plan as one value: it picks and renames the archived secrets (and,
//! with `--include-policies`, RootTrustPolicies) to restore, runs the pre-restore checks
//! (errors block the plan unless `--allow-invalid`), compares each object with what the target
//! holds and decides one [`Action`]: `create` (absent), `unchanged` (same type, data, labels
//! and annotations), `conflict` (exists and differs; refused without `--replace`), `replace`
//! (update in place), `recreate` (the type differs, which an update cannot change: delete,
//! then create), `rollback` (an older certificate over a newer one), `managed` (a controller
//! re-issues it) or `write` (`--to-manifests`). [`Plan::apply`] carries it out object by
//! object, secrets first; one failure does not stop the others. The plan is serializable so it
//! can be reviewed (`--dry-run`, `--output json`) before anything is written. The verb that
//! shows it is `commands/restore.rs`; this module never renders.

mod manifests;
mod restart;
mod target;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::archive::Opened;
use crate::check_id::CheckId;
use crate::checks::{self, CheckOptions};
use crate::cluster::ApiCall;
use crate::error::{Error, Result};
use crate::findings::{Finding, Severity};
use crate::inventory::PolicyObject;
use crate::secret::{Manager, SecretId, SecretRecord, PROVENANCE_ANNOTATION};
use crate::select::Selected;
use crate::snapshot::Snapshot;
pub use restart::Restart;
pub use target::{Target, TargetRef};

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

/// Which object a line of the plan is about, as it is named in the plan's JSON: a
/// `"secret"` or a `"policy"` (a RootTrustPolicy), `namespace/name` where it goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemName {
    Secret(String),
    Policy(String),
}

/// The object a line restores.
#[derive(Clone, Debug)]
enum Object {
    Secret(SecretRecord),
    Policy(PolicyObject),
}

/// One line of the plan: a secret or a RootTrustPolicy.
#[derive(Clone, Debug, Serialize)]
pub struct Item {
    /// Where it goes (`namespace/name`).
    #[serde(flatten)]
    pub name: ItemName,
    /// Where it was archived from, when the namespace was mapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived_as: Option<String>,
    /// The secret's type (none for a policy).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    pub action: Action,
    /// Why this action (what differs, what is not restored).
    pub reason: String,
    /// What happened when applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Whether the object ended up as archived (created, replaced, unchanged or written).
    pub restored: bool,
    /// The controller that keeps this secret up to date, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<Manager>,
    #[serde(skip)]
    object: Object,
    #[serde(skip)]
    live_resource_version: Option<String>,
    /// The namespace is absent and is created before this object (`--create-namespaces`).
    #[serde(skip)]
    namespace_to_create: Option<String>,
    /// The archived secret's role (none for a policy), for the restarts it calls for.
    #[serde(skip)]
    role: Option<crate::gloo::Role>,
}

impl Item {
    /// A secret's line. Only a write loses owner references, and says so.
    fn secret(
        archived: Option<SecretId>,
        record: SecretRecord,
        action: Action,
        reason: String,
        live_rv: Option<String>,
    ) -> Item {
        let reason = match action {
            Action::Create | Action::Replace | Action::Recreate | Action::Write => {
                format!("{reason}{}", notes(&record))
            }
            _ => reason,
        };
        Item {
            name: ItemName::Secret(record.id.to_string()),
            archived_as: archived.map(|a| a.to_string()),
            type_: Some(record.type_.clone()),
            action,
            reason,
            result: None,
            restored: false,
            managed_by: None,
            object: Object::Secret(record),
            live_resource_version: live_rv,
            namespace_to_create: None,
            role: None,
        }
    }

    /// A RootTrustPolicy's line.
    fn policy(
        archived: Option<String>,
        object: PolicyObject,
        action: Action,
        reason: String,
        live_rv: Option<String>,
    ) -> Item {
        Item {
            name: ItemName::Policy(object.id()),
            archived_as: archived,
            type_: None,
            action,
            reason,
            result: None,
            restored: false,
            managed_by: None,
            object: Object::Policy(object),
            live_resource_version: live_rv,
            namespace_to_create: None,
            role: None,
        }
    }

    /// `namespace/name` where it goes.
    pub fn id(&self) -> &str {
        match &self.name {
            ItemName::Secret(s) | ItemName::Policy(s) => s,
        }
    }

    /// Whether this line, as planned (`dry_run`) or applied, leaves the object as archived or
    /// rightly left alone: a conflict, a block or a refused rollback is not; a managed secret
    /// left to its controller is, by design.
    fn complete(&self, dry_run: bool) -> bool {
        match self.action {
            Action::Conflict | Action::Blocked | Action::Rollback => false,
            Action::Managed => true,
            _ => dry_run || self.restored,
        }
    }
}

/// The whole restore of one archive into one target, decided before anything is written.
#[derive(Debug)]
pub struct Plan {
    /// The secrets' lines, sorted as archived.
    pub secrets: Vec<Item>,
    /// The RootTrustPolicies' lines (`--include-policies`).
    pub policies: Vec<Item>,
    /// Why the archive's RootTrustPolicies are not restored, when it holds any and
    /// `--include-policies` was not given.
    pub policies_not_restored: Option<String>,
    /// Why the archive's offline CA material (a birth archive's root keys, see
    /// [`SecretRecord::is_offline`]) is not restored, when it holds any that `--only` did not
    /// name.
    pub offline_not_restored: Option<String>,
    /// Errors and warnings of the pre-restore check.
    pub findings: Vec<Finding>,
    /// The Deployments that read the secrets written to a cluster when they start, in the
    /// order to restart them (none for manifests): planned, then (after [`Plan::apply`])
    /// those whose secrets were written, with results after [`Plan::restart`].
    pub restarts: Vec<Restart>,
    /// The checks found errors and `--allow-invalid` was not given: nothing is applied.
    pub blocked: bool,
    /// The annotation every restored secret carries.
    provenance: BTreeMap<String, String>,
    target: Target,
    /// The side of the archived cluster, for the restarts.
    kind: crate::gloo::ClusterKind,
}

/// Plans the restore of `opened` (the archive `archive_name`) into `target`: the checks run
/// at `now` on what will be restored, then one LIST per target namespace.
pub async fn prepare(
    opened: &Opened,
    archive_name: &str,
    target: Target,
    opts: &Options,
    now: DateTime<Utc>,
) -> Result<Plan> {
    let snapshot = &opened.snapshot;
    let wanted = targets(&snapshot.secrets, opts)?;
    let findings = pre_restore_findings(snapshot, opts, now);
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let blocked = errors > 0 && !opts.allow_invalid;
    let mut secrets = target.plan(wanted, opts).await?;
    hold_managed(&mut secrets, opts.include_managed);
    for it in &mut secrets {
        let archived = it.archived_as.as_deref().unwrap_or(it.id());
        it.role = (snapshot.secrets.iter())
            .find(|s| s.record.id.to_string() == archived)
            .map(|s| s.role);
    }
    let mut policies = match opts.include_policies {
        true => {
            let wanted = policy_targets(&snapshot.policies, opts);
            target.plan_policies(wanted, opts).await?
        }
        false => Vec::new(),
    };
    if blocked {
        let why = format!(
            "the archive's secrets fail {errors} check(s); fix them or pass --allow-invalid"
        );
        block(secrets.iter_mut().chain(policies.iter_mut()), &why);
    }
    let created = opened
        .manifest
        .created
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let restarts = match target.cluster_name() {
        Some(_) => restart::needed(&secrets, snapshot.kind, false),
        None => Vec::new(),
    };
    Ok(Plan {
        kind: snapshot.kind,
        restarts,
        secrets,
        policies,
        policies_not_restored: policies_not_restored(&snapshot.policies, opts),
        offline_not_restored: offline_not_restored(&snapshot.secrets, opts),
        findings,
        blocked,
        provenance: provenance(archive_name, &created),
        target,
    })
}

impl Plan {
    /// Carries the plan out, secrets first, then policies (so a Gloo Mesh management server
    /// that sees a policy finds its root already there). A blocked plan writes nothing. On a
    /// cluster one failure does not stop the others: each line records its result.
    pub async fn apply(&mut self) -> Result<()> {
        if self.blocked {
            return Ok(());
        }
        (self.target)
            .apply(&mut self.secrets, &mut self.policies, &self.provenance)
            .await?;
        if self.target.cluster_name().is_some() {
            self.restarts = restart::needed(&self.secrets, self.kind, true);
        }
        Ok(())
    }

    /// Restarts, in order, the Deployments that read what [`Plan::apply`] wrote (see
    /// [`Plan::restarts`]), stamping their pod template with `at`; each records its result
    /// and a failure does not stop the next.
    pub async fn restart(&mut self, at: DateTime<Utc>) {
        let Target::Cluster(c) = &self.target else {
            return;
        };
        for r in &mut self.restarts {
            let done = c.restart_deployment(&r.namespace, &r.deployment, at).await;
            r.result = Some(match done {
                Ok(true) => "restarted".into(),
                Ok(false) => "no such deployment: nothing to restart".into(),
                Err(e) => format!("failed: {e}"),
            });
        }
    }

    /// True when every object is (or, for a `dry_run`, would be) as archived or rightly left
    /// to its controller, and nothing blocked the plan.
    pub fn ok(&self, dry_run: bool) -> bool {
        !self.blocked
            && (self.secrets.iter())
                .chain(&self.policies)
                .all(|i| i.complete(dry_run))
    }

    /// The target cluster (context or server), or none for manifests.
    pub fn cluster_name(&self) -> Option<String> {
        self.target.cluster_name()
    }

    /// API calls made so far (none for manifests).
    pub fn api_calls(&self) -> Vec<ApiCall> {
        self.target.api_calls()
    }
}

/// The checks on what will be restored, as archived: errors and warnings.
fn pre_restore_findings(snapshot: &Snapshot, opts: &Options, now: DateTime<Utc>) -> Vec<Finding> {
    let named = |s: &&Selected| named_by_only(&s.record.id, opts);
    let chosen: Vec<Selected> = snapshot
        .secrets
        .iter()
        .filter(|s| opts.only.is_empty() || named(s))
        .filter(|s| !s.record.is_offline() || named(s))
        .cloned()
        .collect();
    let snap = Snapshot {
        secrets: chosen,
        findings: Vec::new(),
        ..snapshot.clone()
    };
    let result = checks::check(std::slice::from_ref(&snap), &CheckOptions::at(now));
    result
        .report
        .findings
        .into_iter()
        .filter(|f| f.severity >= Severity::Warning)
        // The setup's shape (demo-only placements) is the auditor's matter, not the restore's.
        .filter(|f| !CheckId::parse(&f.check).is_some_and(CheckId::is_setup))
        .collect()
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
    /// Restore even when the pre-restore checks find errors.
    pub allow_invalid: bool,
}

/// The archive's policies to restore, renamed into their target namespaces (`--namespace-map`).
fn policy_targets(
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
fn policies_not_restored(policies: &[PolicyObject], opts: &Options) -> Option<String> {
    (!opts.include_policies && !policies.is_empty()).then(|| {
        let names: Vec<String> = policies.iter().map(PolicyObject::id).collect();
        format!(
            "the archive holds {} RootTrustPolicy object(s) ({}), not restored: usually GitOps config; pass --include-policies",
            names.len(),
            names.join(", ")
        )
    })
}

/// What the plan says of offline CA material it leaves out (all of it that `--only` does not
/// name).
fn offline_not_restored(secrets: &[Selected], opts: &Options) -> Option<String> {
    let left: Vec<String> = secrets
        .iter()
        .filter(|s| s.record.is_offline() && !named_by_only(&s.record.id, opts))
        .map(|s| s.record.id.to_string())
        .collect();
    (!left.is_empty()).then(|| {
        format!(
            "the archive holds offline CA material ({}), never restored unless named: keep it out of clusters; restore or export one with --only NAMESPACE/NAME when you mean to",
            left.join(", ")
        )
    })
}

/// Whether `--only` names `id`.
fn named_by_only(id: &SecretId, opts: &Options) -> bool {
    opts.only.iter().any(|o| id.matches(o))
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
pub(crate) fn targets(
    secrets: &[Selected],
    opts: &Options,
) -> Result<Vec<(Option<SecretId>, SecretRecord)>> {
    for o in &opts.only {
        let known = secrets.iter().any(|s| s.record.id.matches(o));
        if !known {
            return Err(Error::NotFound(format!(
                "--only {o}: the archive holds no such secret (see trustkeep inspect)"
            )));
        }
    }
    Ok(secrets
        .iter()
        .filter(|s| opts.only.is_empty() || named_by_only(&s.record.id, opts))
        // Offline CA material goes to a cluster only when named.
        .filter(|s| !s.record.is_offline() || named_by_only(&s.record.id, opts))
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

/// Marks every item blocked (the checks found errors).
fn block<'a>(items: impl Iterator<Item = &'a mut Item>, why: &str) {
    for i in items {
        i.action = Action::Blocked;
        i.reason = why.to_string();
    }
}

/// Names the controller of each managed secret; without `include`, plans what would be
/// written over it as [`Action::Managed`] with the consequence spelled out.
fn hold_managed(items: &mut [Item], include: bool) {
    for i in items {
        let Object::Secret(record) = &i.object else {
            continue;
        };
        let Some(m) = Manager::of(record) else {
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
fn provenance(archive_name: &str, created: &str) -> BTreeMap<String, String> {
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
            role: crate::gloo::Role::RelayServer,
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
