//! A root rotated without an outage (`trustkeep pki rotate`), one phase at a time, each phase
//! a set of secrets (and the RootTrustPolicy) to write that [`crate::restore::prepare`] plans
//! like any archive:
//!
//! - `add`: a new root (kept offline, in the management cluster's new archive) is put beside
//!   the old one in every trust bundle. The root a bundle's chain ends in comes first, where
//!   Istio reads its root (`root-cert.pem`'s first certificate: the root-cert expiry istiod
//!   reports) and Gloo its CA (the root-trust secret holds one CA and one key; the new one
//!   goes into a passive CA secret the RootTrustPolicy lists in
//!   `passiveCertificateAuthorities`, trusted but not signing).
//! - `switch`: each workload cluster (`--cluster`, one at a time if wished) gets an Istio
//!   intermediate from the new root, its bundle the new root first; the management cluster's
//!   root-trust secret and its passive CA trade places at the first switch. For the relay
//!   root: the management cluster first (a new signing CA and server certificate), then each
//!   agent's client certificate. Both roots stay trusted everywhere, so a switched cluster and
//!   one that has not trust each other's workloads (agents) either way.
//! - `remove`: the old root leaves every bundle and the policy; refused until every cluster
//!   has switched.
//!
//! `istio-intermediate` issues a cluster's Istio intermediate again from the CA that issued it
//! (a new key, the same root), in one step. The state of a rotation is read from the
//! archives given (the newest of each cluster), never kept elsewhere: the roots the bundles
//! hold and the root each chain ends in say where every cluster stands.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::Serialize;

use super::birth::request;
use super::ca::{pem_of, Ca};
use super::keys::KeyType;
use super::profiles::{Profile as CertProfile, Validity};
use super::reissue::{find_cas, key_type_of, Found, Restart};
use super::{records, IssueError};
use crate::archive::{ArchiveName, Opened};
use crate::gloo::{self, ClusterKind, Role, DEFAULT_NAMESPACE};
use crate::inventory::{Origin, PolicyObject, RootTrustPolicy};
use crate::pki::{self, Cert};
use crate::secret::{
    Manager, SecretBytes, SecretId, SecretRecord, ISSUED_BY_ANNOTATION, PROVENANCE_ANNOTATION,
};
use crate::select::Selected;
use crate::snapshot::Snapshot;

mod relay;

/// What `pki rotate` rotates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rotation {
    /// The Istio root: every workload cluster's `cacerts` and the RootTrustPolicy's CAs.
    IstioRoot,
    /// The relay root: the agents' trust bundle, the server and signing CA, the agents.
    RelayRoot,
    /// Workload clusters' Istio intermediates under the same root.
    IstioIntermediate,
    /// The relay signing CA (the relay's intermediate) under the same root.
    RelaySigning,
}

impl Rotation {
    pub fn as_str(self) -> &'static str {
        match self {
            Rotation::IstioRoot => "istio-root",
            Rotation::RelayRoot => "relay-root",
            Rotation::IstioIntermediate => "istio-intermediate",
            Rotation::RelaySigning => "relay-signing",
        }
    }
}

/// A phase of a root rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Trust the new root beside the old one everywhere.
    Add,
    /// Issue from the new root (cluster by cluster).
    Switch,
    /// Trust the new root only.
    Remove,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Add => "add",
            Phase::Switch => "switch",
            Phase::Remove => "remove",
        }
    }
}

/// What to rotate.
#[derive(Clone, Debug)]
pub struct RotateOptions {
    pub rotation: Rotation,
    /// `None` only for `istio-intermediate`.
    pub phase: Option<Phase>,
    /// The clusters to switch (`--cluster`); all when empty.
    pub clusters: Vec<String>,
    /// The new keys' type; default: the old root's.
    pub key_type: Option<KeyType>,
    pub validity: Validity,
}

/// What a phase does to one cluster.
#[derive(Debug, Serialize)]
pub struct ClusterChange {
    pub cluster: String,
    pub kind: ClusterKind,
    /// `namespace/name: what changes`, in the order they are written.
    pub changes: Vec<String>,
    /// Secrets no longer used, which the phase does not delete itself: delete them.
    pub delete: Vec<String>,
    /// Who reads what changed and must restart to use it.
    pub restarts: Vec<Restart>,
    /// The secrets and policies the phase writes, for `restore::prepare`.
    #[serde(skip)]
    pub writes: Snapshot,
    /// The cluster's trust set after the phase (the management cluster's with the offline CA
    /// material): its new archive.
    #[serde(skip)]
    pub after: Snapshot,
    /// The phase puts an older certificate over a newer one on purpose (the passive CA takes
    /// the old root back at the first switch), which a restore would otherwise refuse.
    #[serde(skip)]
    pub rollback_on_purpose: bool,
}

/// Where one cluster stands in the rotation, after the phase.
#[derive(Clone, Debug, Serialize)]
pub struct Standing {
    pub cluster: String,
    pub stands: String,
}

/// What a phase made and where the rotation stands after it.
#[derive(Debug, Serialize)]
pub struct Rotated {
    pub rotation: Rotation,
    pub phase: Option<Phase>,
    /// The root being replaced (`subject (sha256 …)`), or the one kept.
    pub old_root: Option<String>,
    /// The new root, once there is one.
    pub new_root: Option<String>,
    /// The clusters the phase changes, the management cluster first.
    pub clusters: Vec<ClusterChange>,
    pub standings: Vec<Standing>,
    /// The next step.
    pub next: String,
    /// Every cluster's trust set after the phase, without offline material: what the audit of
    /// the clusters will read.
    #[serde(skip)]
    pub fleet_after: Vec<Snapshot>,
}

/// Runs one phase of `o.rotation` over the clusters of `archives` (name, opened archive; the
/// newest of each cluster is its state, every archive's CAs with their keys can issue).
pub fn rotate(
    o: &RotateOptions,
    archives: &[(String, Opened)],
    now: DateTime<Utc>,
) -> Result<Rotated, IssueError> {
    let f = fleet(archives)?;
    for c in &o.clusters {
        if !f.members.iter().any(|m| &m.name == c) {
            let known: Vec<&str> = f.members.iter().map(|m| m.name.as_str()).collect();
            return Err(IssueError::Design(format!("--cluster {c}: no archive given is of that cluster (the archives are of {}); pass its latest archive with --from", known.join(", "))));
        }
    }
    let ctx = Ctx {
        o,
        now,
        by: match o.phase {
            Some(p) => format!(
                "trustkeep pki rotate {} --phase {}",
                o.rotation.as_str(),
                p.as_str()
            ),
            None => format!("trustkeep pki rotate {}", o.rotation.as_str()),
        },
    };
    let mut e = Edits::new(&f);
    let (old, new) = match (o.rotation, o.phase) {
        (Rotation::IstioRoot, Some(p)) => istio_phase(&ctx, &f, p, &mut e)?,
        (Rotation::RelayRoot, Some(p)) => relay::phase(&ctx, &f, p, &mut e)?,
        (Rotation::IstioIntermediate, None) => intermediates(&ctx, &f, &mut e)?,
        (Rotation::RelaySigning, None) => relay::signing_alone(&ctx, &f, &mut e)?,
        (r, p) => {
            return Err(IssueError::Design(format!(
                "{}: {}",
                r.as_str(),
                match p {
                    Some(_) => "a single step: no --phase",
                    None => "which phase? --phase add, switch or remove",
                }
            )))
        }
    };
    let (clusters, after) = e.finish(&f, &ctx);
    let after_fleet = Fleet {
        members: (f.members.iter().zip(&after))
            .map(|(m, s)| Member {
                name: m.name.clone(),
                kind: m.kind,
                snap: super::in_cluster(s),
            })
            .collect(),
        offline: Vec::new(),
        cas: Vec::new(),
    };
    let (standings, next) = standings(o.rotation, &after_fleet)?;
    Ok(Rotated {
        rotation: o.rotation,
        phase: o.phase,
        old_root: old.as_ref().map(describe),
        new_root: new.as_ref().map(describe),
        clusters,
        standings,
        next,
        fleet_after: after_fleet.members.into_iter().map(|m| m.snap).collect(),
    })
}

/// The options of a run, its time and what the secrets it writes say made them.
pub(super) struct Ctx<'a> {
    pub(super) o: &'a RotateOptions,
    pub(super) now: DateTime<Utc>,
    pub(super) by: String,
}

/// One cluster: its newest archive's secrets (no offline material) and policies.
pub(super) struct Member {
    pub(super) name: String,
    pub(super) kind: ClusterKind,
    pub(super) snap: Snapshot,
}

impl Member {
    /// The first secret of `role`.
    pub(super) fn secret(&self, role: Role) -> Option<&SecretRecord> {
        (self.snap.secrets.iter())
            .find(|s| s.role == role)
            .map(|s| &s.record)
    }
}

/// The clusters, the management cluster first, the offline CA material of the newest
/// management archive that holds any, and every CA with its key the archives hold.
pub(super) struct Fleet {
    pub(super) members: Vec<Member>,
    pub(super) offline: Vec<Selected>,
    pub(super) cas: Vec<Found>,
}

impl Fleet {
    pub(super) fn management(&self) -> Option<&Member> {
        self.members
            .iter()
            .find(|m| m.kind == ClusterKind::Management)
    }

    pub(super) fn workloads(&self) -> impl Iterator<Item = &Member> {
        self.members
            .iter()
            .filter(|m| m.kind == ClusterKind::Workload)
    }
}

/// Reads the archives: the newest of each cluster (by creation time, then archive counter,
/// then the order given) is its state.
fn fleet(archives: &[(String, Opened)]) -> Result<Fleet, IssueError> {
    type Key = (DateTime<Utc>, u32, usize);
    let key = |i: usize, name: &str, a: &Opened| -> Key {
        let n = ArchiveName::parse(name).map(|n| n.n).unwrap_or(0);
        (a.manifest.created, n, i)
    };
    let mut newest: BTreeMap<String, (Key, usize)> = BTreeMap::new();
    let mut offline: Option<(Key, usize)> = None;
    for (i, (name, a)) in archives.iter().enumerate() {
        let k = key(i, name, a);
        let c = a.snapshot.cluster.clone();
        if newest.get(&c).is_none_or(|(old, _)| *old < k) {
            newest.insert(c, (k, i));
        }
        let holds_offline = a.snapshot.secrets.iter().any(|s| s.record.is_offline());
        if holds_offline && offline.is_none_or(|(old, _)| old < k) {
            offline = Some((k, i));
        }
    }
    let mut members: Vec<Member> = newest
        .into_values()
        .map(|(_, i)| {
            let s = &archives[i].1.snapshot;
            Member {
                name: s.cluster.clone(),
                kind: s.kind,
                snap: super::in_cluster(s),
            }
        })
        .collect();
    members.sort_by_key(|m| (m.kind != ClusterKind::Management, m.name.clone()));
    if members
        .iter()
        .filter(|m| m.kind == ClusterKind::Management)
        .count()
        != 1
    {
        return Err(IssueError::Design("the archives given must hold exactly one management cluster: pass the management cluster's latest archive (and its birth archive, which holds the offline CA keys) with --from".into()));
    }
    let offline = offline
        .map(|(_, i)| archives[i].1.snapshot.secrets.iter())
        .into_iter()
        .flatten()
        .filter(|s| s.record.is_offline())
        .cloned()
        .collect();
    Ok(Fleet {
        members,
        offline,
        cas: find_cas(archives)?,
    })
}

/// What a phase writes, cluster by cluster, and the offline CA material after it.
pub(super) struct Edits {
    by_cluster: BTreeMap<String, Edit>,
    offline: Vec<Selected>,
    offline_changed: Vec<String>,
}

#[derive(Default)]
struct Edit {
    secrets: Vec<Selected>,
    policies: Vec<PolicyObject>,
    changes: Vec<String>,
    delete: Vec<String>,
    rollback_on_purpose: bool,
}

impl Edits {
    fn new(f: &Fleet) -> Edits {
        Edits {
            by_cluster: BTreeMap::new(),
            offline: f.offline.clone(),
            offline_changed: Vec::new(),
        }
    }

    /// Writes `record` (of `role`) in `cluster`, over an earlier edit of the same secret.
    pub(super) fn secret(&mut self, cluster: &str, role: Role, record: SecretRecord, why: &str) {
        let e = self.by_cluster.entry(cluster.to_string()).or_default();
        e.changes.push(format!("{}: {why}", record.id));
        e.secrets.retain(|s| s.record.id != record.id);
        e.secrets.push(Selected { role, record });
    }

    pub(super) fn policy(&mut self, cluster: &str, p: PolicyObject, why: &str) {
        let e = self.by_cluster.entry(cluster.to_string()).or_default();
        e.changes.push(format!("RootTrustPolicy {}: {why}", p.id()));
        e.policies.retain(|x| x.id() != p.id());
        e.policies.push(p);
    }

    pub(super) fn delete(&mut self, cluster: &str, what: String) {
        let e = self.by_cluster.entry(cluster.to_string()).or_default();
        e.delete.push(what);
    }

    pub(super) fn rollback_on_purpose(&mut self, cluster: &str) {
        let e = self.by_cluster.entry(cluster.to_string()).or_default();
        e.rollback_on_purpose = true;
    }

    /// Keeps `ca` offline as `trustkeep-offline/<name>` (issuing `issues`).
    pub(super) fn offline_add(&mut self, name: &str, ca: &Ca, issues: &str, by: &str) {
        let r = records::offline(name, ca, issues, by);
        self.offline_changed
            .push(format!("{}: kept offline, in this archive only", r.id));
        self.offline.retain(|s| s.record.id != r.id);
        self.offline.push(Selected {
            role: Role::Included,
            record: r,
        });
    }

    /// Drops the offline CAs whose root is `root`.
    pub(super) fn offline_drop_root(&mut self, root: &Cert) {
        let mut dropped = Vec::new();
        self.offline.retain(|s| {
            let chain = certs(&s.record, "tls.crt");
            let roots = certs(&s.record, "ca.crt");
            let of_root = roots.first() == Some(root) || chain.first() == Some(root);
            if of_root {
                dropped.push(format!(
                    "{}: dropped from this archive (its root is removed; older archives keep it)",
                    s.record.id
                ));
            }
            !of_root
        });
        self.offline_changed.extend(dropped);
    }

    /// Each changed cluster's change and new archive, and every cluster's state after.
    fn finish(self, f: &Fleet, ctx: &Ctx<'_>) -> (Vec<ClusterChange>, Vec<Snapshot>) {
        let mut changes = Vec::new();
        let mut after_all = Vec::new();
        let mut by_cluster = self.by_cluster;
        for m in &f.members {
            let mgmt = m.kind == ClusterKind::Management;
            let offline_changed = mgmt && !self.offline_changed.is_empty();
            let mut edit = by_cluster.remove(&m.name).unwrap_or_default();
            let mut after = m.snap.clone();
            for s in &edit.secrets {
                after.secrets.retain(|x| x.record.id != s.record.id);
                after.secrets.push(s.clone());
            }
            for p in &edit.policies {
                after.policies.retain(|x| x.id() != p.id());
                after.policies.push(p.clone());
            }
            if mgmt {
                after.secrets.extend(self.offline.iter().cloned());
            }
            after.secrets.sort_by(|a, b| a.record.id.cmp(&b.record.id));
            after.created = ctx.now;
            after.origin = Origin::File {
                path: ctx.by.clone(),
            };
            after.findings.clear();
            if !edit.secrets.is_empty() || !edit.policies.is_empty() || offline_changed {
                if offline_changed {
                    edit.changes.extend(self.offline_changed.iter().cloned());
                }
                let writes = Snapshot {
                    secrets: edit.secrets.clone(),
                    policies: edit.policies.clone(),
                    ..after.clone()
                };
                changes.push(ClusterChange {
                    cluster: m.name.clone(),
                    kind: m.kind,
                    restarts: restarts(m, &edit.secrets),
                    changes: edit.changes,
                    delete: edit.delete,
                    writes,
                    after: after.clone(),
                    rollback_on_purpose: edit.rollback_on_purpose,
                });
            }
            after_all.push(after);
        }
        (changes, after_all)
    }
}

/// Who reads the secrets written: istiod (`cacerts`), the management server, the agent.
fn restarts(m: &Member, written: &[Selected]) -> Vec<Restart> {
    let mut out: Vec<Restart> = Vec::new();
    for s in written {
        let (ns, deployment, why) = match (s.role, m.kind) {
            (Role::IstioCacerts, _) => (gloo::ISTIO_NAMESPACE, gloo::ISTIOD_DEPLOYMENT, "istiod reads cacerts when it starts and hands root-cert.pem to workloads as their trust bundle; workloads take new certificates as theirs renew"),
            (Role::RootTrust, _) => (DEFAULT_NAMESPACE, crate::workload::MGMT_SERVER_DEPLOYMENT, "the management server issues Istio intermediates from the root-trust secret and the RootTrustPolicy's passive CAs"),
            (Role::RelayClient | Role::RelayRoot, ClusterKind::Workload) => (DEFAULT_NAMESPACE, crate::workload::AGENT_DEPLOYMENT, "the agent trusts the relay server by relay-root-tls-secret and presents relay-client-tls-secret"),
            (Role::RelayServer | Role::RelaySigning | Role::RelayRoot, _) => (DEFAULT_NAMESPACE, crate::workload::MGMT_SERVER_DEPLOYMENT, "the management server serves the relay with its certificate, verifies agents by the relay root and signs their certificates with the signing CA"),
            _ => continue,
        };
        if !out.iter().any(|r| r.deployment == deployment) {
            out.push(Restart {
                cluster: m.name.clone(),
                namespace: ns.to_string(),
                deployment: deployment.to_string(),
                why: why.to_string(),
            });
        }
    }
    out
}

/// The certificates of data key `key` of `r` (none when absent or unreadable).
pub(super) fn certs(r: &SecretRecord, key: &str) -> Vec<Cert> {
    r.get(key)
        .and_then(|b| pki::parse_certs(b.expose()).ok())
        .unwrap_or_default()
}

/// The root the first certificate of `key` chains to among `roots`, the rest of `key` and
/// `more` as intermediates.
pub(super) fn chain_root(
    r: &SecretRecord,
    key: &str,
    more: &[Cert],
    roots: &[Cert],
) -> Option<Cert> {
    let all = certs(r, key);
    let (leaf, rest) = all.split_first()?;
    let mut inter = rest.to_vec();
    inter.extend(more.iter().cloned());
    let chain = pki::verify_chain(leaf, &inter, roots, None).ok()?;
    chain.path.last().cloned()
}

/// `subject (sha256 prefix)`.
pub(super) fn describe(c: &Cert) -> String {
    format!(
        "{} (sha256 {})",
        c.summary().subject,
        &c.fingerprint()[..16]
    )
}

/// The distinct roots of `bundles`, oldest first (by notBefore, then as found).
pub(super) fn roots_of(bundles: impl IntoIterator<Item = Cert>) -> Vec<Cert> {
    let mut out: Vec<Cert> = Vec::new();
    for c in bundles {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out.sort_by_key(|c| c.summary().not_before);
    out
}

/// `r` with data key `key` set to the PEM of `roots`, marked as made by this phase.
pub(super) fn with_bundle(r: &SecretRecord, key: &str, roots: &[&Cert], by: &str) -> SecretRecord {
    let mut r = r.clone();
    r.data.insert(
        key.to_string(),
        SecretBytes::new(pem_of(roots.iter().copied()).into_bytes()),
    );
    mark(&mut r, by);
    r
}

/// Marks `r` as made by `by`, without the provenance of the archive it came from.
pub(super) fn mark(r: &mut SecretRecord, by: &str) {
    r.annotations.remove(PROVENANCE_ANNOTATION);
    r.annotations
        .insert(ISSUED_BY_ANNOTATION.to_string(), by.to_string());
}

/// `new` under `old`'s name, type, labels and annotations (a controller's secret stays its
/// controller's), marked as made by `by`.
pub(super) fn like(old: &SecretRecord, mut new: SecretRecord, by: &str) -> SecretRecord {
    new.id = old.id.clone();
    new.type_ = old.type_.clone();
    new.labels = old.labels.clone();
    new.annotations = old.annotations.clone();
    if old.get("key.pem").is_none() {
        new.data.remove("key.pem");
    }
    mark(&mut new, by);
    new
}

/// A new root of `profile`, issued (notBefore) after `old`, so that every reader can tell the
/// newest of the two even when both were made within the same minute.
pub(super) fn new_root(
    ctx: &Ctx<'_>,
    profile: CertProfile,
    old: &Cert,
) -> Result<(Ca, KeyType), IssueError> {
    let kt = ctx
        .o
        .key_type
        .or_else(|| key_type_of(old))
        .unwrap_or_default();
    let mut req = request(profile, ctx.now);
    let old_nb = old.summary().not_before;
    // Certificates hold whole seconds.
    if req.not_before.trunc_subsecs(0) <= old_nb {
        req.not_before = old_nb + Duration::seconds(1);
    }
    Ok((Ca::root(&req, &ctx.o.validity, kt)?, kt))
}

/// The first eight hex digits of a certificate's SHA-256, for the names of new secrets.
pub(super) fn short(c: &Cert) -> String {
    c.fingerprint()[..8].to_string()
}

/// A refusal: a phase asked out of order.
pub(super) fn refuse(why: String) -> IssueError {
    IssueError::OutOfOrder(why)
}

/// The CA with its key, found in the archives, whose certificate is `cert`.
pub(super) fn ca_of(f: &Fleet, pred: impl Fn(&Found) -> bool) -> Option<&Found> {
    f.cas.iter().find(|c| pred(c))
}

/// The Istio side of a setup: the roots, each workload's `cacerts`, the RootTrustPolicy.
struct IstioView<'a> {
    /// Oldest first: one, or two during a rotation.
    roots: Vec<Cert>,
    workloads: Vec<CacertsView<'a>>,
    policy: Option<PolicyView<'a>>,
    /// The clusters' intermediates are issued by the root itself (no issuing intermediate).
    issued_by_root: bool,
}

struct CacertsView<'a> {
    cluster: &'a str,
    record: &'a SecretRecord,
    bundle: Vec<Cert>,
    chains_to: Option<Cert>,
}

struct PolicyView<'a> {
    object: &'a PolicyObject,
    policy: RootTrustPolicy,
    active: &'a SecretRecord,
    passive: Vec<&'a SecretRecord>,
}

fn istio_view(f: &Fleet) -> Result<IstioView<'_>, IssueError> {
    let mut found = Vec::new();
    let policy = policy_view(f)?;
    if let Some(p) = &policy {
        found.extend(certs(p.active, "root-cert.pem"));
        for r in &p.passive {
            found.extend(certs(r, "root-cert.pem"));
        }
    }
    let mut workloads = Vec::new();
    let mut issued_by_root = true;
    for m in f.workloads() {
        let Some(r) = m.secret(Role::IstioCacerts) else {
            return Err(IssueError::Design(format!("cluster {}: its archive holds no istio-system/cacerts; pass an archive of the cluster that does", m.name)));
        };
        if r.get("ca-cert.pem").is_none() {
            return Err(IssueError::Design(format!("cluster {}: istio-system/cacerts has no ca-cert.pem; pki rotate works on Istio's plug-in keys (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem)", m.name)));
        }
        let bundle = certs(r, "root-cert.pem");
        found.extend(bundle.iter().cloned());
        let chain = certs(r, "cert-chain.pem");
        let chains_to = chain_root(r, "ca-cert.pem", &chain, &bundle);
        issued_by_root &= chain.len() <= 2;
        workloads.push(CacertsView {
            cluster: &m.name,
            record: r,
            bundle,
            chains_to,
        });
    }
    let roots = roots_of(found);
    if roots.len() > 2 {
        return Err(refuse(format!("{} Istio roots are trusted at once ({}); trustkeep rotates from one root to one: finish or roll back the rotation in progress first", roots.len(), roots.iter().map(describe).collect::<Vec<_>>().join(", "))));
    }
    Ok(IstioView {
        roots,
        workloads,
        policy,
        issued_by_root,
    })
}

/// The management cluster's RootTrustPolicy whose root secret it holds, if any.
fn policy_view(f: &Fleet) -> Result<Option<PolicyView<'_>>, IssueError> {
    let Some(m) = f.management() else {
        return Ok(None);
    };
    for object in &m.snap.policies {
        let v = serde_json::to_value(object).unwrap_or_default();
        let Some(policy) = RootTrustPolicy::from_value(&v, &object.metadata.namespace) else {
            continue;
        };
        let find = |id: &SecretId| {
            m.snap
                .secrets
                .iter()
                .find(|s| &s.record.id == id)
                .map(|s| &s.record)
        };
        let Some(active) = policy.root_secret().as_ref().and_then(find) else {
            continue;
        };
        let passive = policy
            .passive_secrets()
            .filter_map(|id| find(&id))
            .collect();
        return Ok(Some(PolicyView {
            object,
            active,
            passive,
            policy,
        }));
    }
    Ok(None)
}

/// The passive CA secret a rotation adds beside the root-trust secret.
fn passive_id(p: &PolicyView<'_>) -> SecretId {
    SecretId::new(
        p.active.id.namespace.clone(),
        format!("{}-passive-ca", p.policy.name),
    )
}

/// The policy with `passive` as its passive CAs (none: the key removed).
fn with_passive(p: &PolicyObject, passive: Option<&SecretId>, by: &str) -> PolicyObject {
    let mut p = p.clone();
    if !p.spec.is_object() {
        p.spec = serde_json::json!({});
    }
    let spec = p.spec.as_object_mut().expect("an object");
    let config = spec
        .entry("config")
        .or_insert_with(|| serde_json::json!({}));
    if let Some(c) = config.as_object_mut() {
        match passive {
            Some(id) => {
                c.insert(
                    "passiveCertificateAuthorities".into(),
                    serde_json::json!([{"secretRef": {"name": id.name, "namespace": id.namespace}}]),
                );
            }
            None => {
                c.remove("passiveCertificateAuthorities");
            }
        }
    }
    p.metadata
        .annotations
        .insert(ISSUED_BY_ANNOTATION.to_string(), by.to_string());
    p
}

/// One phase of an Istio root rotation; returns (old root, new root).
fn istio_phase(
    ctx: &Ctx<'_>,
    f: &Fleet,
    phase: Phase,
    e: &mut Edits,
) -> Result<(Option<Cert>, Option<Cert>), IssueError> {
    let v = istio_view(f)?;
    let relay_roots = relay::relay_roots(f);
    if v.roots.iter().any(|r| relay_roots.contains(r)) {
        return Err(IssueError::Design("the Istio root is the relay root too (a shared-root architecture): pki rotate rotates the roots of the separate-roots architecture only; rotating a shared root is not supported yet".into()));
    }
    match phase {
        Phase::Add => istio_add(ctx, f, &v, e),
        Phase::Switch => istio_switch(ctx, f, &v, e),
        Phase::Remove => istio_remove(ctx, f, &v, e),
    }
}

fn istio_add(
    ctx: &Ctx<'_>,
    f: &Fleet,
    v: &IstioView<'_>,
    e: &mut Edits,
) -> Result<(Option<Cert>, Option<Cert>), IssueError> {
    let [old] = v.roots.as_slice() else {
        return Err(refuse(format!("an Istio root rotation is already in progress: old root {}, new root {}; next: --phase switch (or --phase remove once every cluster has switched)", describe(&v.roots[0]), describe(&v.roots[v.roots.len() - 1]))));
    };
    if let Some(w) = v
        .workloads
        .iter()
        .find(|w| w.chains_to.as_ref() != Some(old))
    {
        return Err(IssueError::Design(format!("cluster {}: its Istio intermediate does not chain to the Istio root {}; fix the setup (trustkeep audit) before rotating", w.cluster, describe(old))));
    }
    let (root, kt) = new_root(ctx, CertProfile::Root { relay: false }, old)?;
    let issuer = match v.issued_by_root {
        true => None,
        false => Some(root.issue_ca(
            request(CertProfile::IstioIssuing, ctx.now),
            &ctx.o.validity,
            kt,
        )?),
    };
    let fp = short(root.cert());
    e.offline_add(
        &format!("istio-root-ca-{fp}"),
        &root,
        "intermediate-cas",
        &ctx.by,
    );
    let mgmt = f.management().map(|m| m.name.clone()).unwrap_or_default();
    match &v.policy {
        Some(p) => {
            let ca = issuer.as_ref().unwrap_or(&root);
            let id = passive_id(p);
            let rec = like_new(
                p.active,
                id.clone(),
                records::root_trust(id.clone(), ca, &ctx.by),
            );
            e.secret(
                &mgmt,
                Role::RootTrust,
                rec,
                "new: the new CA, trusted (passive) but not signing yet",
            );
            let pol = with_passive(p.object, Some(&id), &ctx.by);
            e.policy(&mgmt, pol, &format!("passiveCertificateAuthorities: {id}"));
        }
        None => {
            if let Some(ca) = &issuer {
                e.offline_add(
                    &format!("istio-issuing-ca-{fp}"),
                    ca,
                    "istio-cacerts",
                    &ctx.by,
                );
            }
        }
    }
    for w in &v.workloads {
        let rec = with_bundle(w.record, "root-cert.pem", &[old, root.cert()], &ctx.by);
        e.secret(
            w.cluster,
            Role::IstioCacerts,
            rec,
            "root-cert.pem: the old root (still issuing) then the new one",
        );
    }
    Ok((Some(old.clone()), Some(root.cert().clone())))
}

/// A new secret `id` shaped as `model` (its type and labels), holding `made`'s data.
fn like_new(model: &SecretRecord, id: SecretId, made: SecretRecord) -> SecretRecord {
    let mut r = made;
    r.id = id;
    r.type_ = model.type_.clone();
    r.labels = model.labels.clone();
    r
}

/// The two roots of a rotation in progress (old, new), else a refusal naming `next`.
fn two(roots: &[Cert], what: &str, phase: Phase) -> Result<(Cert, Cert), IssueError> {
    match roots {
        [old, new] => Ok((old.clone(), new.clone())),
        [one] => Err(refuse(format!("no {what} root rotation is in progress (every bundle trusts only {}): --phase {} comes after --phase add; run trustkeep pki rotate {what}-root --phase add first", describe(one), phase.as_str()))),
        _ => Err(IssueError::Design(format!("no {what} root found in the archives given"))),
    }
}

fn istio_switch(
    ctx: &Ctx<'_>,
    f: &Fleet,
    v: &IstioView<'_>,
    e: &mut Edits,
) -> Result<(Option<Cert>, Option<Cert>), IssueError> {
    let (old, new) = two(&v.roots, "istio", Phase::Switch)?;
    if let Some(w) = v.workloads.iter().find(|w| !w.bundle.contains(&new)) {
        return Err(refuse(format!("cluster {}: istio-system/cacerts root-cert.pem does not trust the new root {} yet: --phase add has not reached it; apply the add phase's archive of {} (trustkeep restore … --replace --include-managed) before switching", w.cluster, describe(&new), w.cluster)));
    }
    let pending: Vec<&CacertsView<'_>> = v
        .workloads
        .iter()
        .filter(|w| w.chains_to.as_ref() != Some(&new))
        .collect();
    let chosen: Vec<&CacertsView<'_>> = match ctx.o.clusters.is_empty() {
        true => pending.clone(),
        false => {
            for c in &ctx.o.clusters {
                if !pending.iter().any(|w| w.cluster == c) {
                    return Err(refuse(format!("--cluster {c}: not a workload cluster waiting to switch (those are: {}); a switched cluster is not switched again", names(&pending))));
                }
            }
            pending
                .iter()
                .copied()
                .filter(|w| ctx.o.clusters.iter().any(|c| c == w.cluster))
                .collect()
        }
    };
    if chosen.is_empty() {
        return Err(refuse(
            "every workload cluster already chains to the new Istio root: next is --phase remove"
                .into(),
        ));
    }
    let issuer = ca_of(f, |c| {
        c.ca.root_cert() == &new
            && c.role != Role::IstioCacerts
            && (c.ca.path.len() == 1) == v.issued_by_root
    })
    .ok_or_else(|| IssueError::NoIssuer(format!("no archive given holds the CA that issues Istio intermediates under the new root {} with its key: pass the management cluster's archive written by --phase add (--from)", describe(&new))))?;
    let mgmt = f.management().map(|m| m.name.clone()).unwrap_or_default();
    if let Some(p) = &v.policy {
        swap_policy_cas(ctx, p, &new, &mgmt, e);
    }
    let kt = key_type_of(issuer.ca.cert()).unwrap_or_default();
    for w in chosen {
        let req = request(CertProfile::IstioCluster(w.cluster.to_string()), ctx.now);
        let issued = issuer.ca.issue(req, &ctx.o.validity, kt)?;
        let gloo = Manager::of(w.record) == Some(Manager::GlooCertAgent);
        let made = records::cacerts(&issued, &issuer.ca, gloo, &ctx.by);
        let rec = with_bundle(
            &like(w.record, made, &ctx.by),
            "root-cert.pem",
            &[&new, &old],
            &ctx.by,
        );
        e.secret(
            w.cluster,
            Role::IstioCacerts,
            rec,
            &format!(
                "a new intermediate from {}; root-cert.pem: the new root then the old one",
                issuer.ca.cert().summary().subject
            ),
        );
    }
    Ok((Some(old), Some(new)))
}

/// At the first switch the root-trust secret takes the new CA and the passive CA secret the
/// old one: Gloo Mesh issues from the new root from then on, and still trusts the old.
fn swap_policy_cas(ctx: &Ctx<'_>, p: &PolicyView<'_>, new: &Cert, mgmt: &str, e: &mut Edits) {
    if certs(p.active, "root-cert.pem").first() == Some(new) {
        return;
    }
    let Some(passive) = p
        .passive
        .iter()
        .find(|r| certs(r, "root-cert.pem").first() == Some(new))
    else {
        return;
    };
    let mut active = p.active.clone();
    active.data = passive.data.clone();
    mark(&mut active, &ctx.by);
    let mut old = (*passive).clone();
    old.data = p.active.data.clone();
    mark(&mut old, &ctx.by);
    e.secret(
        mgmt,
        Role::RootTrust,
        active,
        "the new CA: Gloo Mesh issues from it from now on",
    );
    e.secret(
        mgmt,
        Role::RootTrust,
        old,
        "the old CA: trusted (passive), no longer signing",
    );
    e.rollback_on_purpose(mgmt);
}

fn names(v: &[&CacertsView<'_>]) -> String {
    match v.is_empty() {
        true => "none".into(),
        false => v.iter().map(|w| w.cluster).collect::<Vec<_>>().join(", "),
    }
}

fn istio_remove(
    ctx: &Ctx<'_>,
    f: &Fleet,
    v: &IstioView<'_>,
    e: &mut Edits,
) -> Result<(Option<Cert>, Option<Cert>), IssueError> {
    let (old, new) = two(&v.roots, "istio", Phase::Remove)?;
    let pending: Vec<&CacertsView<'_>> = v
        .workloads
        .iter()
        .filter(|w| w.chains_to.as_ref() != Some(&new))
        .collect();
    if !pending.is_empty() {
        let fix: Vec<String> = pending
            .iter()
            .map(|w| format!("--phase switch --cluster {}", w.cluster))
            .collect();
        return Err(refuse(format!("the old Istio root {} still issues for cluster(s) {}: removing it now would break their workloads' trust; first trustkeep pki rotate istio-root {}", describe(&old), names(&pending), fix.join(", then "))));
    }
    let mgmt = f.management().map(|m| m.name.clone()).unwrap_or_default();
    if let Some(p) = &v.policy {
        if certs(p.active, "root-cert.pem").first() != Some(&new) {
            return Err(refuse(format!("the management cluster's root-trust secret {} still signs with the old root: run --phase switch first", p.active.id)));
        }
        e.policy(
            &mgmt,
            with_passive(p.object, None, &ctx.by),
            "no passive CA",
        );
        for r in &p.passive {
            e.delete(&mgmt, format!("secret {}: holds the old CA (and its key), no longer referenced by the RootTrustPolicy: kubectl -n {} delete secret {}", r.id, r.id.namespace, r.id.name));
        }
    }
    for w in &v.workloads {
        let rec = with_bundle(w.record, "root-cert.pem", &[&new], &ctx.by);
        e.secret(
            w.cluster,
            Role::IstioCacerts,
            rec,
            "root-cert.pem: the new root only",
        );
    }
    e.offline_drop_root(&old);
    Ok((Some(old), Some(new)))
}

/// `istio-intermediate`: each named workload cluster's intermediate issued again by the CA
/// that issued it, with a new key; the bundle as it is.
fn intermediates(
    ctx: &Ctx<'_>,
    f: &Fleet,
    e: &mut Edits,
) -> Result<(Option<Cert>, Option<Cert>), IssueError> {
    if ctx.o.clusters.is_empty() {
        return Err(IssueError::Design(
            "istio-intermediate: which cluster? --cluster NAME (repeatable)".into(),
        ));
    }
    let sig = pki::RunCache::default();
    let mut root = None;
    for c in &ctx.o.clusters {
        let m = f.members.iter().find(|m| &m.name == c).expect("checked");
        let Some(r) = m.secret(Role::IstioCacerts) else {
            return Err(IssueError::Design(format!(
                "cluster {c}: its archive holds no istio-system/cacerts"
            )));
        };
        let Some(current) = certs(r, "ca-cert.pem").into_iter().next() else {
            return Err(IssueError::Design(format!(
                "cluster {c}: istio-system/cacerts has no ca-cert.pem"
            )));
        };
        let issuer = ca_of(f, |x| x.role != Role::IstioCacerts && sig.issued_by(&current, x.ca.cert()))
            .ok_or_else(|| IssueError::NoIssuer(format!("cluster {c}: the CA that issued its Istio intermediate ({}) is in no archive given with its key: pass the management cluster's birth archive or a backup of it (--from)", current.summary().issuer)))?;
        let kt = ctx
            .o
            .key_type
            .or_else(|| key_type_of(&current))
            .unwrap_or_default();
        let req = request(CertProfile::IstioCluster(c.clone()), ctx.now);
        let issued = issuer.ca.issue(req, &ctx.o.validity, kt)?;
        let gloo = Manager::of(r) == Some(Manager::GlooCertAgent);
        let mut rec = like(
            r,
            records::cacerts(&issued, &issuer.ca, gloo, &ctx.by),
            &ctx.by,
        );
        if let Some(b) = r.get("root-cert.pem") {
            rec.data.insert("root-cert.pem".into(), b.clone());
        }
        e.secret(
            c,
            Role::IstioCacerts,
            rec,
            &format!(
                "a new intermediate (new key) from {}, the same root",
                issuer.describe()
            ),
        );
        root = Some(issuer.ca.root_cert().clone());
    }
    Ok((root, None))
}

/// Where each cluster stands, and the next step.
fn standings(rotation: Rotation, f: &Fleet) -> Result<(Vec<Standing>, String), IssueError> {
    match rotation {
        Rotation::RelayRoot => Ok(relay::standings(f)),
        Rotation::RelaySigning => Ok((relay::standings(f).0, "restart gloo-mesh-mgmt-server: it then serves the new certificate and signs agents' certificates with the new CA; agents' current certificates still chain to the root, and are renewed from the new CA as they expire".to_string())),
        _ => {
            let v = istio_view(f)?;
            Ok(istio_standings(&v, rotation))
        }
    }
}

fn istio_standings(v: &IstioView<'_>, rotation: Rotation) -> (Vec<Standing>, String) {
    let mut out = Vec::new();
    let new = (v.roots.len() == 2).then(|| &v.roots[1]);
    if let Some(p) = &v.policy {
        let signs = certs(p.active, "root-cert.pem").into_iter().next();
        let which = match (new, signs) {
            (Some(n), Some(s)) if &s == n => "the new root",
            (Some(_), Some(_)) => "the old root",
            _ => "the only root",
        };
        out.push(Standing {
            cluster: format!("{} (RootTrustPolicy {})", p.active.id, p.object.id()),
            stands: format!(
                "Gloo Mesh issues from {which}; passive CAs: {}",
                p.passive.len()
            ),
        });
    }
    for w in &v.workloads {
        let stands = match (new, &w.chains_to) {
            (None, _) => "one root, no rotation in progress".to_string(),
            (Some(n), _) if !w.bundle.contains(n) => {
                "does not trust the new root yet (add)".to_string()
            }
            (Some(n), Some(c)) if c == n => format!(
                "switched: issues from the new root, trusts {} root(s)",
                w.bundle.len()
            ),
            _ => "not switched: issues from the old root, trusts both".to_string(),
        };
        out.push(Standing {
            cluster: w.cluster.to_string(),
            stands,
        });
    }
    let pending: Vec<&str> = v
        .workloads
        .iter()
        .filter(|w| new.is_some() && w.chains_to.as_ref() != new)
        .map(|w| w.cluster)
        .collect();
    let next = match (rotation, new) {
        (Rotation::IstioIntermediate, _) => "restart istiod in each cluster; workloads renew from the new intermediate as their certificates expire".to_string(),
        (_, None) => "the rotation is complete: every bundle holds one root; back the clusters up".to_string(),
        (_, Some(_)) if pending.len() == v.workloads.len() => format!("once istiod has restarted in every cluster (every proxy then holds both roots) and the audit is clean: --phase switch (--cluster {} one at a time, or all)", pending.join(", --cluster ")),
        (_, Some(_)) if !pending.is_empty() => format!("once istiod has restarted in the switched clusters and the audit is clean: --phase switch --cluster {}", pending.join(" --cluster ")),
        (_, Some(_)) => "once every workload has renewed from the new intermediates (24 h by default) and the audit is clean: --phase remove".to_string(),
    };
    (out, next)
}
