//! A new setup from nothing (`trustkeep pki init`): every CA, key and certificate a design
//! needs, as one [`Snapshot`] per cluster (what its birth archive holds: the cluster's secrets,
//! its RootTrustPolicy, and for the management cluster the offline CA material) and the
//! [`Profile`] `trustkeep discover` would write for that cluster.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::ca::{Ca, Issued};
use super::design::{Design, Placement};
use super::keys::KeyType;
use super::profiles::{Profile as CertProfile, Request, Validity};
use super::{records, IssueError};
use crate::gloo::{ClusterKind, Role, DEFAULT_NAMESPACE};
use crate::inventory::{Origin, PolicyMeta, PolicyObject};
use crate::profile::Profile;
use crate::secret::{
    valid_object_name, SecretId, SecretRecord, ISSUED_BY_ANNOTATION, OFFLINE_NAMESPACE,
};
use crate::select::Selected;
use crate::snapshot::Snapshot;

/// The name of the RootTrustPolicy a design with Gloo-issued Istio intermediates gets.
pub const ROOT_TRUST_POLICY: &str = "root-trust-policy";
/// The secret it names (`secretRef`), in the seed's `root-trust.<policy>` form.
pub const ROOT_TRUST_SECRET: &str = "root-trust.root-trust-policy";
/// What the birth archives record as their source.
pub const ORIGIN: &str = "trustkeep pki init";

/// What `pki init` makes.
#[derive(Clone, Debug)]
pub struct InitOptions {
    pub design: Design,
    /// The management cluster's name as registered in Gloo Mesh.
    pub management: String,
    /// The workload clusters' names: each agent certificate's DNS SAN.
    pub workloads: Vec<String>,
    pub key_type: KeyType,
    pub validity: Validity,
}

/// One cluster of a new setup.
#[derive(Debug)]
pub struct Born {
    pub name: String,
    pub kind: ClusterKind,
    /// What its birth archive holds.
    pub snapshot: Snapshot,
    /// Its profile (`<cluster>.profile.yaml`).
    pub profile: Profile,
}

/// One CA of a new setup, for the report: what it is and where its key lives.
#[derive(Clone, Debug, Serialize)]
pub struct CaSummary {
    /// `relay root`, `Istio root`, `shared root`, `relay signing CA`, ...
    pub what: String,
    pub subject: String,
    pub sha256: String,
    pub not_after: DateTime<Utc>,
    /// The secrets holding its private key: `<cluster>: namespace/name`, or
    /// `offline: trustkeep-offline/<name> (birth archive of <cluster> only)`.
    pub key_in: Vec<String>,
}

/// Every cluster of a new setup, the management cluster first.
#[derive(Debug)]
pub struct Birth {
    pub design: Design,
    pub clusters: Vec<Born>,
    pub cas: Vec<CaSummary>,
}

/// The CAs of a design.
pub(crate) struct Cas {
    pub(crate) relay_root: Ca,
    /// `None`: the relay root is shared.
    pub(crate) istio_root: Option<Ca>,
    /// Signs the relay server's and agents' certificates (the shared intermediate, or the relay
    /// signing CA).
    pub(crate) relay_issuer: Ca,
    /// Istio's own issuing intermediate (hybrid and external placements, separate
    /// intermediates or roots).
    pub(crate) istio_intermediate: Option<Ca>,
}

impl Cas {
    fn istio_root(&self) -> &Ca {
        self.istio_root.as_ref().unwrap_or(&self.relay_root)
    }

    /// The CA Istio's cluster intermediates are issued by.
    fn istio_issuer(&self, d: &Design) -> &Ca {
        match (&self.istio_intermediate, d.shared_intermediate()) {
            (Some(ca), _) => ca,
            (None, true) => &self.relay_issuer,
            (None, false) => self.istio_root(),
        }
    }
}

/// A request for `profile`, valid from `now` less five minutes (clock skew).
pub(crate) fn request(profile: CertProfile, now: DateTime<Utc>) -> Request {
    Request {
        profile,
        subject: None,
        dns_names: None,
        not_before: now - Duration::minutes(5),
        issuer_not_after: None,
    }
}

fn make_cas(o: &InitOptions, now: DateTime<Utc>) -> Result<Cas, IssueError> {
    let (d, v, kt) = (&o.design, &o.validity, o.key_type);
    let relay_root = Ca::root(
        &request(
            CertProfile::Root {
                relay: !d.shared_root(),
            },
            now,
        ),
        v,
        kt,
    )?;
    let istio_root = match d.shared_root() {
        true => None,
        false => Some(Ca::root(
            &request(CertProfile::Root { relay: false }, now),
            v,
            kt,
        )?),
    };
    let signing = CertProfile::RelaySigning {
        shared: d.shared_intermediate(),
    };
    let relay_issuer = relay_root.issue_ca(request(signing, now), v, kt)?;
    let istio_intermediate = match d.istio_issuing_intermediate() {
        true => {
            let root = istio_root.as_ref().unwrap_or(&relay_root);
            Some(root.issue_ca(request(CertProfile::IstioIssuing, now), v, kt)?)
        }
        false => None,
    };
    Ok(Cas {
        relay_root,
        istio_root,
        relay_issuer,
        istio_intermediate,
    })
}

/// Checks the clusters' names: each a DNS name (the agent's SAN, a directory name), distinct.
pub(crate) fn check_names(o: &InitOptions) -> Result<(), IssueError> {
    let all: Vec<&String> = std::iter::once(&o.management).chain(&o.workloads).collect();
    for (i, n) in all.iter().enumerate() {
        if !valid_object_name(n) {
            return Err(IssueError::Design(format!("cluster name {n:?}: expected a DNS name (lowercase letters, digits, '-' and '.'), as the cluster is registered in Gloo Mesh")));
        }
        if all[..i].contains(n) {
            return Err(IssueError::Design(format!("cluster {n} is named twice")));
        }
    }
    Ok(())
}

/// Makes every CA, key and certificate of `o.design`, and each cluster's birth snapshot and
/// profile.
pub fn init(o: &InitOptions, now: DateTime<Utc>) -> Result<Birth, IssueError> {
    check_names(o)?;
    let cas = make_cas(o, now)?;
    build(o, &cas, ORIGIN, now)
}

/// Every cluster's birth snapshot and profile of `o.design` from its CAs (new ones, or those
/// `pki rescue` kept); `origin` is what the secrets' `trustkeep.io/issued-by` names.
pub(crate) fn build(
    o: &InitOptions,
    cas: &Cas,
    origin: &str,
    now: DateTime<Utc>,
) -> Result<Birth, IssueError> {
    let d = o.design;
    let by = format!("{origin} ({})", d.describe());
    let token = d.gloo_issues().then(records::new_token).transpose()?;
    let mgmt = management_secrets(o, cas, token.as_deref(), &by, now)?;
    let mut policies = Vec::new();
    if d.gloo_issues() {
        policies.push(root_trust_policy(&by));
    }
    let mut clusters = vec![born(
        o,
        &o.management,
        ClusterKind::Management,
        mgmt,
        policies,
        now,
    )];
    for w in &o.workloads {
        let secrets = workload_secrets(o, cas, w, token.as_deref(), &by, now)?;
        clusters.push(born(o, w, ClusterKind::Workload, secrets, Vec::new(), now));
    }
    Ok(Birth {
        design: d,
        cas: summaries(&d, cas, &o.management),
        clusters,
    })
}

/// The management cluster's secrets (roles given), the offline material last.
fn management_secrets(
    o: &InitOptions,
    cas: &Cas,
    token: Option<&str>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Selected>, IssueError> {
    let (d, ns) = (&o.design, DEFAULT_NAMESPACE);
    let server = cas.relay_issuer.issue(
        request(CertProfile::RelayServer, now),
        &o.validity,
        o.key_type,
    )?;
    let id = SecretId::new(ns, crate::gloo::RELAY_SERVER);
    let mut out = vec![(
        Role::RelayServer,
        records::relay_tls(id, &server, &cas.relay_issuer, by),
    )];
    if d.gloo_issues() {
        out.push((
            Role::RelaySigning,
            records::relay_signing(ns, &cas.relay_issuer, by),
        ));
        let with_key = d.root_keys_in_cluster();
        out.push((
            Role::RelayRoot,
            records::relay_root(ns, &cas.relay_root, with_key, by),
        ));
        out.push((
            Role::RelayIdentityToken,
            records::token(ns, token.unwrap_or_default(), by),
        ));
        let id = SecretId::new(ns, ROOT_TRUST_SECRET);
        out.push((
            Role::RootTrust,
            records::root_trust(id, cas.istio_issuer(d), by),
        ));
    }
    for (name, ca, issues) in offline_cas(d, cas) {
        out.push((Role::Included, records::offline(name, ca, issues, by)));
    }
    Ok(selected(out))
}

/// The CAs a birth archive keeps offline: every root, and outside the management-cluster
/// placement every intermediate whose key is in no cluster (the external placement's).
fn offline_cas<'a>(d: &Design, cas: &'a Cas) -> Vec<(&'static str, &'a Ca, &'static str)> {
    let mut out = Vec::new();
    match &cas.istio_root {
        None => out.push(("root-ca", &cas.relay_root, "intermediate-cas")),
        Some(istio) => {
            out.push(("relay-root-ca", &cas.relay_root, "intermediate-cas"));
            out.push(("istio-root-ca", istio, "intermediate-cas"));
        }
    }
    if d.placement == Placement::External {
        match d.shared_intermediate() {
            true => out.push((
                "intermediate-ca",
                &cas.relay_issuer,
                "relay-server relay-client istio-cacerts",
            )),
            false => out.push((
                "relay-signing-ca",
                &cas.relay_issuer,
                "relay-server relay-client",
            )),
        }
        if let Some(ca) = &cas.istio_intermediate {
            out.push(("istio-issuing-ca", ca, "istio-cacerts"));
        }
    }
    out
}

/// A workload cluster's secrets: its agent's certificate, the relay root, the token (when the
/// design uses one) and its Istio intermediate.
fn workload_secrets(
    o: &InitOptions,
    cas: &Cas,
    cluster: &str,
    token: Option<&str>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Selected>, IssueError> {
    let (d, v, kt, ns) = (&o.design, &o.validity, o.key_type, DEFAULT_NAMESPACE);
    let client: Issued = cas.relay_issuer.issue(
        request(CertProfile::RelayClient(cluster.to_string()), now),
        v,
        kt,
    )?;
    let issuer = cas.istio_issuer(d);
    let cluster_ca = issuer.issue(
        request(CertProfile::IstioCluster(cluster.to_string()), now),
        v,
        kt,
    )?;
    let id = SecretId::new(ns, crate::gloo::RELAY_CLIENT);
    let mut out = vec![
        (
            Role::RelayClient,
            records::relay_tls(id, &client, &cas.relay_issuer, by),
        ),
        (
            Role::RelayRoot,
            records::relay_root(ns, &cas.relay_root, false, by),
        ),
        (
            Role::IstioCacerts,
            records::cacerts(&cluster_ca, issuer, d.gloo_issues(), by),
        ),
    ];
    if let Some(t) = token {
        out.push((Role::RelayIdentityToken, records::token(ns, t, by)));
    }
    Ok(selected(out))
}

fn selected(mut v: Vec<(Role, SecretRecord)>) -> Vec<Selected> {
    v.sort_by(|a, b| a.1.id.cmp(&b.1.id));
    v.into_iter()
        .map(|(role, record)| Selected { role, record })
        .collect()
}

/// The RootTrustPolicy that makes Gloo Mesh issue Istio intermediates from the root-trust
/// secret (`mgmtServerCa.secretRef`), restarting pods when an intermediate changes.
fn root_trust_policy(by: &str) -> PolicyObject {
    PolicyObject {
        api_version: "admin.gloo.solo.io/v2".into(),
        kind: "RootTrustPolicy".into(),
        metadata: PolicyMeta {
            name: ROOT_TRUST_POLICY.into(),
            namespace: DEFAULT_NAMESPACE.into(),
            labels: Default::default(),
            annotations: [(ISSUED_BY_ANNOTATION.to_string(), by.to_string())].into(),
        },
        spec: serde_json::json!({"config": {
            "autoRestartPods": true,
            "mgmtServerCa": {"secretRef": {"name": ROOT_TRUST_SECRET, "namespace": DEFAULT_NAMESPACE}},
        }}),
    }
}

fn born(
    o: &InitOptions,
    name: &str,
    kind: ClusterKind,
    secrets: Vec<Selected>,
    policies: Vec<PolicyObject>,
    now: DateTime<Utc>,
) -> Born {
    Born {
        name: name.to_string(),
        kind,
        profile: super::profile_of::profile(&o.design, name, kind),
        snapshot: Snapshot {
            created: now,
            origin: Origin::File {
                path: ORIGIN.to_string(),
            },
            cluster: name.to_string(),
            kind,
            secrets,
            findings: Vec::new(),
            relay_mode: None,
            policies,
        },
    }
}

/// What each CA is and where its key lives, for the report.
fn summaries(d: &Design, cas: &Cas, mgmt: &str) -> Vec<CaSummary> {
    let offline = offline_cas(d, cas);
    let in_mgmt = |s: &str| format!("{mgmt}: {DEFAULT_NAMESPACE}/{s}");
    let mut list: Vec<(&str, &Ca, Vec<String>)> = Vec::new();
    let root_in = |secret: &str| match d.root_keys_in_cluster() {
        true => vec![in_mgmt(secret)],
        false => vec![],
    };
    match &cas.istio_root {
        None => list.push((
            "shared root",
            &cas.relay_root,
            root_in(crate::gloo::RELAY_ROOT),
        )),
        Some(istio) => {
            list.push((
                "relay root",
                &cas.relay_root,
                root_in(crate::gloo::RELAY_ROOT),
            ));
            let istio_key = match d.istio_issuing_intermediate() {
                true => vec![],
                false => root_in(ROOT_TRUST_SECRET),
            };
            list.push(("Istio root", istio, istio_key));
        }
    }
    let mut signing_in = Vec::new();
    if d.gloo_issues() {
        signing_in.push(in_mgmt(crate::gloo::RELAY_SIGNING));
        if d.shared_intermediate() {
            signing_in.push(in_mgmt(ROOT_TRUST_SECRET));
        }
    }
    let what = match d.shared_intermediate() {
        true => "shared intermediate (relay signing and Istio issuing CA)",
        false => "relay signing CA",
    };
    list.push((what, &cas.relay_issuer, signing_in));
    if let Some(ca) = &cas.istio_intermediate {
        let key_in = match d.gloo_issues() {
            true => vec![in_mgmt(ROOT_TRUST_SECRET)],
            false => vec![],
        };
        list.push(("Istio issuing intermediate", ca, key_in));
    }
    list.into_iter()
        .map(|(what, ca, mut key_in)| {
            if let Some((n, _, _)) = offline.iter().find(|(_, o, _)| o.cert() == ca.cert()) {
                key_in.push(format!(
                    "offline: {OFFLINE_NAMESPACE}/{n} (in the birth archive of {mgmt} only)"
                ));
            }
            let s = ca.cert().summary();
            CaSummary {
                what: what.to_string(),
                subject: s.subject,
                sha256: s.sha256,
                not_after: s.not_after,
                key_in,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{check, CheckOptions};
    use crate::issuer::{in_cluster, Architecture, Placement};

    /// Every design: what `init` makes passes every check (the management-cluster placement
    /// warns of its root keys, as the audit does), the audit names the design, and no root key
    /// is in a cluster's secret outside that placement.
    #[test]
    fn every_design_is_what_the_audit_then_reads() {
        let now = Utc::now();
        for architecture in [
            Architecture::SharedRootSharedIntermediate,
            Architecture::SharedRootSeparateIntermediates,
            Architecture::SeparateRoots,
        ] {
            for placement in [
                Placement::ManagementCluster,
                Placement::Hybrid,
                Placement::External,
            ] {
                let design = Design {
                    architecture,
                    placement,
                };
                let o = InitOptions {
                    design,
                    management: "mgmt".into(),
                    workloads: vec!["cluster-1".into()],
                    key_type: KeyType::P256,
                    validity: Validity::default(),
                };
                let b = init(&o, now).unwrap();
                let snaps: Vec<Snapshot> =
                    b.clusters.iter().map(|c| in_cluster(&c.snapshot)).collect();
                let r = check(&snaps, &CheckOptions::at(now));
                let setup = r.setup.unwrap();
                assert!(design.is_seen_in(&setup), "{design:?}: {}", setup.summary());
                let bad: Vec<_> = r
                    .report
                    .findings
                    .iter()
                    .filter(|f| f.severity >= crate::findings::Severity::Warning)
                    .map(|f| f.check.as_str())
                    .collect();
                match placement {
                    Placement::ManagementCluster => assert!(
                        bad.iter().all(|c| *c == "setup.root-key-in-cluster") && !bad.is_empty(),
                        "{design:?}: {bad:?}"
                    ),
                    _ => assert!(bad.is_empty(), "{design:?}: {bad:?}"),
                }
                let roots: Vec<&crate::checks::CaKey> = setup
                    .ca_keys_in_management_cluster
                    .iter()
                    .filter(|k| k.root)
                    .collect();
                assert_eq!(
                    roots.is_empty(),
                    placement != Placement::ManagementCluster,
                    "{design:?}"
                );
                let offline = b.clusters[0]
                    .snapshot
                    .secrets
                    .iter()
                    .filter(|s| s.record.is_offline())
                    .count();
                assert!(offline >= 1, "the root keys are kept offline");
                assert_eq!(b.clusters[1].profile.relay_mode, design.relay_mode());
            }
        }
    }

    #[test]
    fn names_are_checked() {
        let mut o = InitOptions {
            design: Design {
                architecture: Architecture::SeparateRoots,
                placement: Placement::External,
            },
            management: "mgmt".into(),
            workloads: vec!["mgmt".into()],
            key_type: KeyType::P256,
            validity: Validity::default(),
        };
        assert_eq!(
            init(&o, Utc::now()).unwrap_err().to_string(),
            "cluster mgmt is named twice"
        );
        o.workloads = vec!["Cluster_1".into()];
        assert!(init(&o, Utc::now())
            .unwrap_err()
            .to_string()
            .contains("expected a DNS name"));
    }
}
