//! Selection: which of a source's secrets make up the Gloo Mesh trust set.
//!
//! Given an [`Inventory`], picks the relay secrets, the root-trust secrets (found through the
//! RootTrustPolicies, by the `root-trust.*` name pattern, or by Gloo's generated type) and the
//! workload-cluster secrets, gives each a [`Role`], and reports what is missing as findings.
//! Unrelated secrets (licenses, Helm releases, other namespaces) are never taken. This module
//! does no I/O.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::check_id::CheckId;
use crate::findings::{Finding, Severity};
use crate::gloo::RelayMode;
use crate::inventory::{Inventory, RootSource};
use crate::profile::{Profile, ProfileRole};
use crate::secret::{SecretId, SecretRecord};

use crate::gloo::{
    ClusterKind, Role, CACERTS, DEFAULT_NAMESPACE, GENERATED_SIGNING_CERT, ISTIO_NAMESPACE,
    RELAY_CLIENT, RELAY_ROOT, RELAY_SERVER, RELAY_SIGNING, RELAY_TOKEN,
};

/// What the user asked to select.
#[derive(Clone, Debug)]
pub struct SelectOptions {
    /// Namespace of the relay secrets (`--namespace`, default `gloo-mesh`).
    pub namespace: String,
    /// Extra secrets (`--include`): `NAME` (in `namespace`) or `NAMESPACE/NAME`.
    pub include: Vec<String>,
    /// Force the cluster kind instead of inferring it.
    pub kind: Option<ClusterKind>,
    /// `--profile`: the names discovered for this cluster, used instead of the defaults; a
    /// role the profile says is absent by design is not missing, and a secret it names that
    /// the source lacks is `profile.drift`.
    pub profile: Option<Arc<Profile>>,
}

impl Default for SelectOptions {
    fn default() -> Self {
        SelectOptions {
            namespace: DEFAULT_NAMESPACE.to_string(),
            include: Vec::new(),
            kind: None,
            profile: None,
        }
    }
}

/// One chosen secret.
#[derive(Clone, Debug)]
pub struct Selected {
    pub role: Role,
    pub record: SecretRecord,
}

/// The trust set of one source.
#[derive(Clone, Debug)]
pub struct Selection {
    pub kind: ClusterKind,
    /// Sorted by namespace, then name.
    pub secrets: Vec<Selected>,
    /// Missing secrets and notes (check ids `selection.*`).
    pub findings: Vec<Finding>,
    /// The relay mode of the `--profile`, if one was used.
    pub relay_mode: Option<RelayMode>,
}

/// The secrets Gloo Mesh knows by name, with the relay secrets in namespace `ns`: the one list
/// that selection looks for and that a cluster read GETs when it may not LIST.
pub(crate) fn well_known(ns: &str) -> [(SecretId, Role); 6] {
    let named = |name: &str| SecretId::new(ns, name);
    [
        (named(RELAY_SERVER), Role::RelayServer),
        (named(RELAY_SIGNING), Role::RelaySigning),
        (named(RELAY_ROOT), Role::RelayRoot),
        (named(RELAY_TOKEN), Role::RelayIdentityToken),
        (named(RELAY_CLIENT), Role::RelayClient),
        (SecretId::new(ISTIO_NAMESPACE, CACERTS), Role::IstioCacerts),
    ]
}

/// The secrets selection looks for by name: the profile's when there is one, else
/// [`well_known`]. A cluster read GETs these when it may not LIST.
pub(crate) fn known(opts: &SelectOptions) -> Vec<(SecretId, Role)> {
    match &opts.profile {
        Some(p) => p.named().map(|(id, r)| (id, r.archive_role())).collect(),
        None => well_known(&opts.namespace).into_iter().collect(),
    }
}

/// Picks the trust set out of an inventory. A `--profile` describes one cluster: a source of
/// the other kind (as the default names tell, e.g. the workloads of an audit given the
/// management cluster's profile) is selected by the default names, with a note saying so.
pub fn select(inv: &Inventory, opts: &SelectOptions) -> Selection {
    if let (Some(profile), None) = (&opts.profile, opts.kind) {
        let plain = SelectOptions {
            profile: None,
            ..opts.clone()
        };
        let by_default = select_with(inv, &plain);
        if by_default.kind != profile.cluster_kind {
            let mut sel = by_default;
            sel.findings.push(Finding::info(
                CheckId::ProfileNotApplied,
                format!(
                    "the profile describes a {} cluster and this source is a {} cluster: selected by the default names",
                    profile.cluster_kind.as_str(),
                    sel.kind.as_str()
                ),
            ));
            return sel;
        }
    }
    select_with(inv, opts)
}

fn select_with(inv: &Inventory, opts: &SelectOptions) -> Selection {
    let ns = opts.namespace.as_str();
    let mut p = Picker {
        inv,
        chosen: Vec::new(),
        taken: BTreeSet::new(),
        findings: Vec::new(),
    };
    // Roots named by RootTrustPolicies come first: a policy-named secret is required.
    let policy_roots = p.policy_roots();
    if inv.policies_forbidden {
        p.findings.push(Finding::error(
            CheckId::SelectionPoliciesUnknown,
            "RootTrustPolicies could not be listed: forbidden (403); grant list on roottrustpolicies.admin.gloo.solo.io (the packaged Role does), or the roots they name may be missing from this backup",
        ));
    } else if !inv.policies_known {
        p.findings.push(Finding::warning(
            CheckId::SelectionPoliciesUnknown,
            "RootTrustPolicies could not be listed (is the admin.gloo.solo.io CRD installed?); root-trust secrets were found by name and type only",
        ));
    }
    for (id, role) in known(opts) {
        if let Some(rec) = p.find(&id) {
            p.take(role, rec);
        }
    }
    for rec in &inv.secrets {
        let by_name = rec.id.namespace == ns && rec.id.name.starts_with("root-trust.");
        if by_name || rec.type_ == GENERATED_SIGNING_CERT {
            p.take(Role::RootTrust, rec);
        }
    }
    for inc in &opts.include {
        let id = SecretId::parse(inc, ns);
        match p.find(&id) {
            Some(rec) => p.take(Role::Included, rec),
            None => p.findings.push(
                Finding::error(
                    CheckId::SelectionMissing,
                    format!("--include {inc}: secret {id} is not in the source"),
                )
                .secret(&id),
            ),
        }
    }
    let kind = opts
        .kind
        .or(opts.profile.as_ref().map(|p| p.cluster_kind))
        .unwrap_or_else(|| p.inferred_kind());
    match &opts.profile {
        Some(profile) => p.report_drift(profile),
        None => p.report_missing(kind, ns),
    }
    let roots_by_design = opts
        .profile
        .as_ref()
        .is_some_and(|p| p.absent_by_design(ProfileRole::RootTrust));
    if kind == ClusterKind::Management
        && !p.has(Role::RootTrust)
        && !policy_roots
        && !roots_by_design
    {
        p.findings.push(Finding::info(
            CheckId::SelectionNoRootTrust,
            "no RootTrustPolicy and no root-trust secret found: Istio roots are not managed by this cluster, or live outside it",
        ));
    }
    let Picker {
        mut chosen,
        findings,
        ..
    } = p;
    chosen.sort_by(|a, b| a.record.id.cmp(&b.record.id));
    Selection {
        kind,
        secrets: chosen,
        findings,
        relay_mode: opts.profile.as_ref().map(|p| p.relay_mode),
    }
}

/// A `profile.drift` error for each secret `profile` names that is not among `present`
/// (a source's or an archive's secrets).
pub fn drift(profile: &Profile, present: &BTreeSet<SecretId>) -> Vec<Finding> {
    profile
        .named()
        .filter(|(id, _)| !present.contains(id))
        .map(|(id, role)| {
            Finding::error(
                CheckId::ProfileDrift,
                format!("the profile names secret {id} as {role}; the source has no such secret (deleted or renamed since discovery? run trustkeep discover again)"),
            )
            .secret(&id)
        })
        .collect()
}

/// The state of one selection: what is taken so far (each secret once, with the first role
/// that took it) and what was found missing.
struct Picker<'a> {
    inv: &'a Inventory,
    chosen: Vec<Selected>,
    taken: BTreeSet<SecretId>,
    findings: Vec<Finding>,
}

impl<'a> Picker<'a> {
    fn find(&self, id: &SecretId) -> Option<&'a SecretRecord> {
        self.inv.secrets.iter().find(|s| &s.id == id)
    }

    fn take(&mut self, role: Role, rec: &SecretRecord) {
        if self.taken.insert(rec.id.clone()) {
            self.chosen.push(Selected {
                role,
                record: rec.clone(),
            });
        }
    }

    fn has(&self, role: Role) -> bool {
        self.chosen.iter().any(|s| s.role == role)
    }

    /// Takes the root secret of each RootTrustPolicy; true when any policy names one.
    fn policy_roots(&mut self) -> bool {
        let mut any = false;
        for pol in &self.inv.policies {
            match (&pol.root, pol.root_secret()) {
                (_, Some(id)) => {
                    any = true;
                    match self.find(&id) {
                        Some(rec) => self.take(Role::RootTrust, rec),
                        None => self.findings.push(
                            Finding::error(
                                CheckId::SelectionMissing,
                                format!(
                                    "RootTrustPolicy {}/{} uses root secret {id}, which is not in the source",
                                    pol.namespace, pol.name
                                ),
                            )
                            .secret(&id),
                        ),
                    }
                }
                (RootSource::Vault, None) => self.findings.push(Finding::info(
                    CheckId::SelectionVault,
                    format!(
                        "RootTrustPolicy {}/{} keeps its root in Vault: nothing in the cluster to back up for it",
                        pol.namespace, pol.name
                    ),
                )),
                (_, None) => self.findings.push(Finding::warning(
                    CheckId::SelectionPolicy,
                    format!(
                        "RootTrustPolicy {}/{} names no root secret trustkeep understands; its root was not located",
                        pol.namespace, pol.name
                    ),
                )),
            }
            // Passive roots (a rotation): still trusted, so kept; a missing one is a warning,
            // since Gloo no longer signs with it.
            for id in pol.passive_secrets() {
                any = true;
                match self.find(&id) {
                    Some(rec) => self.take(Role::RootTrust, rec),
                    None => self.findings.push(
                        Finding::warning(
                            CheckId::SelectionMissing,
                            format!(
                                "RootTrustPolicy {}/{} keeps passive root secret {id} trusted during a rotation; it is not in the source",
                                pol.namespace, pol.name
                            ),
                        )
                        .secret(&id),
                    ),
                }
            }
        }
        any
    }

    /// A workload cluster holds agent secrets and none of the management side.
    fn inferred_kind(&self) -> ClusterKind {
        let mgmt = self.has(Role::RelayServer)
            || self.has(Role::RelaySigning)
            || !self.inv.policies.is_empty();
        let workload = self.has(Role::RelayClient) || self.has(Role::IstioCacerts);
        if workload && !mgmt {
            ClusterKind::Workload
        } else {
            ClusterKind::Management
        }
    }

    /// With a profile: a `profile.drift` error for each secret it names that the source lacks.
    /// Roles it says are absent by design are not looked for.
    fn report_drift(&mut self, profile: &Profile) {
        let found = drift(profile, &self.taken);
        self.findings.extend(found);
    }

    /// A finding for each secret this kind of cluster should have and does not.
    fn report_missing(&mut self, kind: ClusterKind, ns: &str) {
        let expected: &[(Role, Severity)] = match kind {
            ClusterKind::Management => &[
                (Role::RelayServer, Severity::Error),
                (Role::RelaySigning, Severity::Error),
                (Role::RelayRoot, Severity::Warning),
                (Role::RelayIdentityToken, Severity::Warning),
            ],
            ClusterKind::Workload => &[
                (Role::RelayClient, Severity::Error),
                (Role::RelayRoot, Severity::Warning),
                (Role::IstioCacerts, Severity::Warning),
            ],
        };
        let side = kind.as_str();
        let known = well_known(ns);
        for (role, severity) in expected {
            let Some((id, _)) = known.iter().find(|(_, r)| r == role) else {
                continue;
            };
            if !self.has(*role) {
                self.findings.push(
                    Finding::new(
                        *severity,
                        CheckId::SelectionMissing,
                        format!("{side} cluster has no secret {id}"),
                    )
                    .secret(id),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::file::parse_objects;

    fn secret(ns: &str, name: &str, type_: &str) -> String {
        format!("---\nkind: Secret\nmetadata: {{name: {name}, namespace: {ns}}}\ntype: {type_}\ndata: {{k: dg==}}\n")
    }

    #[test]
    fn picks_the_trust_set_and_nothing_else() {
        let mut y = String::new();
        for (ns, name, t) in [
            ("gloo-mesh", RELAY_SERVER, "kubernetes.io/tls"),
            ("gloo-mesh", RELAY_SIGNING, "kubernetes.io/tls"),
            ("gloo-mesh", RELAY_ROOT, "Opaque"),
            ("gloo-mesh", RELAY_TOKEN, "Opaque"),
            ("gloo-mesh", "my-policy.gloo-mesh", "Opaque"),
            ("gloo-mesh", "root-trust.extra", "Opaque"),
            ("other", "generated", GENERATED_SIGNING_CERT),
            ("gloo-mesh", "gloo-mesh-enterprise-license", "Opaque"),
            (
                "gloo-mesh",
                "sh.helm.release.v1.gloo-platform.v1",
                "helm.sh/release.v1",
            ),
            ("default", RELAY_SERVER, "Opaque"),
        ] {
            y.push_str(&secret(ns, name, t));
        }
        y.push_str("---\nkind: RootTrustPolicy\nmetadata: {name: my-policy, namespace: gloo-mesh}\nspec: {config: {mgmtServerCa: {generated: {}}}}\n");
        let inv = parse_objects(y.as_bytes(), "t", "gloo-mesh").unwrap();
        let sel = select(&inv, &SelectOptions::default());
        let names: Vec<String> = sel
            .secrets
            .iter()
            .map(|s| format!("{}={}", s.record.id, s.role))
            .collect();
        assert_eq!(
            names,
            [
                "gloo-mesh/my-policy.gloo-mesh=root-trust",
                "gloo-mesh/relay-identity-token-secret=relay-identity-token",
                "gloo-mesh/relay-root-tls-secret=relay-root",
                "gloo-mesh/relay-server-tls-secret=relay-server",
                "gloo-mesh/relay-tls-signing-secret=relay-signing",
                "gloo-mesh/root-trust.extra=root-trust",
                "other/generated=root-trust",
            ]
        );
        assert_eq!(sel.kind, ClusterKind::Management);
        assert!(sel.findings.is_empty(), "{:?}", sel.findings);
    }

    #[test]
    fn role_prints_as_archives_spell_it() {
        let all = [
            Role::RelayServer,
            Role::RelaySigning,
            Role::RelayRoot,
            Role::RelayIdentityToken,
            Role::RelayClient,
            Role::RootTrust,
            Role::IstioCacerts,
            Role::Included,
        ];
        for role in all {
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{role}\""));
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
        }
        assert_eq!(Role::RelayIdentityToken.as_str(), "relay-identity-token");
        // What archives format v1 holds, and the spelling once printed, both read.
        for old in ["\"relay-identity-token\"", "\"relay-token\""] {
            assert_eq!(
                serde_json::from_str::<Role>(old).unwrap(),
                Role::RelayIdentityToken
            );
        }
    }

    #[test]
    fn missing_core_secrets_are_errors() {
        let y = "kind: RootTrustPolicy\nmetadata: {name: p, namespace: gloo-mesh}\nspec: {config: {mgmtServerCa: {generated: {}}}}\n";
        let inv = parse_objects(y.as_bytes(), "t", "gloo-mesh").unwrap();
        let sel = select(&inv, &SelectOptions::default());
        let errors: Vec<_> = sel
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.secret.clone().unwrap())
            .collect();
        assert_eq!(
            errors,
            [
                "gloo-mesh/p.gloo-mesh",
                "gloo-mesh/relay-server-tls-secret",
                "gloo-mesh/relay-tls-signing-secret"
            ]
        );
    }

    #[test]
    fn workload_cluster_is_inferred() {
        let y = secret("gloo-mesh", RELAY_CLIENT, "kubernetes.io/tls")
            + &secret("istio-system", CACERTS, crate::gloo::ISSUED_CERTIFICATE);
        let inv = parse_objects(y.as_bytes(), "t", "gloo-mesh").unwrap();
        let sel = select(&inv, &SelectOptions::default());
        assert_eq!(sel.kind, ClusterKind::Workload);
        assert_eq!(sel.secrets.len(), 2);
        assert_eq!(sel.findings.len(), 1, "{:?}", sel.findings); // relay-root warning
        assert_eq!(sel.findings[0].severity, Severity::Warning);
    }

    #[test]
    fn include_adds_and_reports_missing() {
        let y = secret("gloo-mesh", "extra", "Opaque");
        let inv = parse_objects(y.as_bytes(), "t", "gloo-mesh").unwrap();
        let opts = SelectOptions {
            include: vec!["extra".into(), "x/absent".into()],
            kind: Some(ClusterKind::Workload),
            ..Default::default()
        };
        let sel = select(&inv, &opts);
        assert_eq!(sel.secrets[0].role, Role::Included);
        assert!(sel
            .findings
            .iter()
            .any(|f| f.secret.as_deref() == Some("x/absent") && f.severity == Severity::Error));
    }
}
