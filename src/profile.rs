//! The profile: what `trustkeep discover` learnt about one cluster's trust setup, as a
//! versioned document (`apiVersion: trustkeep.io/v1`, `kind: Profile`, documented in
//! docs/operations.md). It names, per role, the secret in use or says the role is absent by
//! design, gives the relay mode, and the RBAC a backup of exactly those secrets needs.
//! `backup` and `audit` read it with `--profile` ([`crate::select`] uses its names).
//! A profile holds names and flags only, never a secret value; this module does no I/O
//! beyond [`Profile::read`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gloo::RelayMode;
use crate::gloo::{ClusterKind, Role};
use crate::secret::SecretId;

/// The only `apiVersion` this build writes and reads.
pub const API_VERSION: &str = "trustkeep.io/v1";
/// The profile's `kind`.
pub const KIND: &str = "Profile";
/// The name of the Role (and RoleBinding) [`Profile::rbac_manifests`] makes in each
/// namespace: the packaged base's, so applying them replaces its rules in the relay namespace.
pub const ROLE_NAME: &str = "trustkeep-read-trust-secrets";
/// Largest profile file read.
const MAX_PROFILE_BYTES: u64 = 1024 * 1024;

/// The roles a profile speaks of (the archive roles plus the telemetry gateway's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileRole {
    RelayServer,
    RelaySigning,
    RelayRoot,
    RelayIdentityToken,
    RelayClient,
    RootTrust,
    IstioCacerts,
    /// `gloo-telemetry-gateway-tls-secret`; archived with role `included`.
    TelemetryGateway,
}

impl ProfileRole {
    /// Every role, in the order a profile lists them.
    pub const ALL: [ProfileRole; 8] = [
        ProfileRole::RelayServer,
        ProfileRole::RelaySigning,
        ProfileRole::RelayRoot,
        ProfileRole::RelayIdentityToken,
        ProfileRole::RelayClient,
        ProfileRole::RootTrust,
        ProfileRole::IstioCacerts,
        ProfileRole::TelemetryGateway,
    ];

    /// The role a selected secret of this profile role gets in an archive. The telemetry
    /// gateway has no archive role of its own (the manifest format is unchanged): `included`.
    pub fn archive_role(self) -> Role {
        match self {
            ProfileRole::RelayServer => Role::RelayServer,
            ProfileRole::RelaySigning => Role::RelaySigning,
            ProfileRole::RelayRoot => Role::RelayRoot,
            ProfileRole::RelayIdentityToken => Role::RelayIdentityToken,
            ProfileRole::RelayClient => Role::RelayClient,
            ProfileRole::RootTrust => Role::RootTrust,
            ProfileRole::IstioCacerts => Role::IstioCacerts,
            ProfileRole::TelemetryGateway => Role::Included,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProfileRole::RelayServer => "relay-server",
            ProfileRole::RelaySigning => "relay-signing",
            ProfileRole::RelayRoot => "relay-root",
            ProfileRole::RelayIdentityToken => "relay-identity-token",
            ProfileRole::RelayClient => "relay-client",
            ProfileRole::RootTrust => "root-trust",
            ProfileRole::IstioCacerts => "istio-cacerts",
            ProfileRole::TelemetryGateway => "telemetry-gateway",
        }
    }
}

impl std::fmt::Display for ProfileRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One role of the profile: the secret in use, or why there is none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Entry {
    pub role: ProfileRole,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Set when the setup has no such secret on purpose; says why (the Helm value or policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absent_by_design: Option<String>,
    /// Who issues the named secret when it is not Gloo (a cert-manager Certificate): its CA
    /// is external, and a restore over it fights the issuer. Optional (added in v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<ManagedBy>,
}

/// The controller that issues a profile's secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManagedBy {
    /// `cert-manager`.
    pub manager: String,
    /// The Certificate whose `spec.secretName` is this secret: `namespace/name`.
    pub certificate: String,
    /// Its `spec.issuerRef`.
    pub issuer: IssuerRef,
}

/// A cert-manager `issuerRef`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssuerRef {
    pub kind: String,
    pub name: String,
    pub group: String,
}

impl Entry {
    pub fn named(role: ProfileRole, id: &SecretId) -> Self {
        Entry {
            role,
            namespace: Some(id.namespace.clone()),
            name: Some(id.name.clone()),
            absent_by_design: None,
            managed_by: None,
        }
    }
    pub fn absent(role: ProfileRole, why: impl Into<String>) -> Self {
        Entry {
            role,
            namespace: None,
            name: None,
            absent_by_design: Some(why.into()),
            managed_by: None,
        }
    }
    /// The secret this entry names, if it names one.
    pub fn id(&self) -> Option<SecretId> {
        match (&self.namespace, &self.name) {
            (Some(ns), Some(n)) => Some(SecretId::new(ns.clone(), n.clone())),
            _ => None,
        }
    }
}

/// Where the profile was learnt from (names only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Discovered {
    /// The file or cluster read.
    pub source: String,
    /// The Helm releases read: `namespace/release` revision `N` (status deployed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub helm_releases: Vec<String>,
    /// The RootTrustPolicies read: `namespace/name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub root_trust_policies: Vec<String>,
    /// The Gloo Deployments read and the secrets their pods reference (names only).
    /// Optional (added in v1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deployments: Vec<DeploymentSecrets>,
    /// What discovery could not confirm or read, in words (a component the Helm release
    /// enables without a Deployment, a forbidden LIST naming the permission). Optional.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One Gloo Deployment and the secrets its pod template references.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentSecrets {
    /// `namespace/name`.
    pub deployment: String,
    /// `mgmt-server` or `agent`.
    pub component: String,
    /// Names of the secrets referenced (volumes, env, envFrom, `--*secret*` arguments).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
}

/// A Kubernetes RBAC rule, as it goes into a Role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
}

/// The rules of one namespace's Role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceRules {
    pub namespace: String,
    pub rules: Vec<Rule>,
}

/// The profile document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    pub api_version: String,
    pub kind: String,
    pub discovered: Discovered,
    /// Which side of Gloo Mesh the cluster is on.
    pub cluster_kind: ClusterKind,
    pub relay_mode: RelayMode,
    /// Namespace of the Gloo Mesh relay secrets.
    pub namespace: String,
    /// One entry per role (root-trust may have several), in [`ProfileRole::ALL`]'s order.
    pub secrets: Vec<Entry>,
    /// What a backup of exactly these secrets needs: a Role per namespace.
    pub rbac: Vec<NamespaceRules>,
    /// The name agents dial the relay server by (`relay.authority`), when the values set
    /// one; the relay server's certificate must be valid for it. Optional (added in v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_authority: Option<String>,
}

impl Profile {
    /// A profile of `secrets`, with its RBAC computed from them.
    pub fn new(
        discovered: Discovered,
        cluster_kind: ClusterKind,
        relay_mode: RelayMode,
        namespace: String,
        secrets: Vec<Entry>,
    ) -> Self {
        let rbac = rbac_for(&secrets, &namespace);
        Profile {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            discovered,
            cluster_kind,
            relay_mode,
            namespace,
            secrets,
            rbac,
            relay_authority: None,
        }
    }

    /// Every secret the profile names, with its role.
    pub fn named(&self) -> impl Iterator<Item = (SecretId, ProfileRole)> + '_ {
        self.secrets.iter().filter_map(|e| Some((e.id()?, e.role)))
    }

    /// Whether the profile says `role` has no secret on purpose (and names none for it).
    pub fn absent_by_design(&self, role: ProfileRole) -> bool {
        let entries: Vec<&Entry> = self.secrets.iter().filter(|e| e.role == role).collect();
        !entries.is_empty()
            && entries
                .iter()
                .all(|e| e.absent_by_design.is_some() && e.id().is_none())
    }

    /// Parses and checks a profile document (YAML or JSON).
    pub fn parse(text: &str, origin: &str) -> Result<Profile> {
        let bad = |message: String| Error::Parse {
            path: origin.to_string(),
            message,
        };
        let p: Profile = serde_saphyr::from_str(text).map_err(|e| {
            bad(format!(
                "not a trustkeep profile ({})",
                e.render_with_options(serde_saphyr::render_options! {
                    formatter: &serde_saphyr::UserMessageFormatter,
                    snippets: serde_saphyr::SnippetMode::Off,
                })
            ))
        })?;
        if p.api_version != API_VERSION || p.kind != KIND {
            return Err(bad(format!(
                "apiVersion {:?} kind {:?}: this build reads apiVersion {API_VERSION} kind {KIND}",
                p.api_version, p.kind
            )));
        }
        for e in &p.secrets {
            match (e.id(), &e.absent_by_design) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => {
                    return Err(bad(format!(
                        "secrets: role {} needs namespace and name, or absentByDesign (not both)",
                        e.role
                    )))
                }
            }
        }
        Ok(p)
    }

    /// Reads a profile file (`--profile FILE`).
    pub fn read(path: &Path) -> Result<Profile> {
        use std::io::Read;
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_PROFILE_BYTES).read_to_string(&mut text))
            .map_err(|e| Error::io("cannot read profile", path.to_path_buf(), e))?;
        Profile::parse(&text, &path.display().to_string())
    }

    /// The Roles and RoleBindings granting service account `sa_namespace/sa_name` exactly
    /// [`Profile::rbac`] (one Role `trustkeep-read-trust-secrets` and its binding per
    /// namespace), as multi-document YAML for `kubectl apply -f -` or a kustomization.
    pub fn rbac_manifests(&self, sa_namespace: &str, sa_name: &str) -> String {
        let mut out = format!(
            "# RBAC for trustkeep {} backups of this profile ({}; relay mode {}): get on exactly the secrets it names.\n",
            match self.cluster_kind {
                ClusterKind::Management => "management",
                ClusterKind::Workload => "workload",
            },
            self.discovered.source,
            self.relay_mode.as_str()
        );
        for ns in &self.rbac {
            let role = serde_json::json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": ROLE_NAME, "namespace": ns.namespace,
                    "labels": {"app.kubernetes.io/name": "trustkeep"}},
                "rules": ns.rules,
            });
            let binding = serde_json::json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": ROLE_NAME, "namespace": ns.namespace,
                    "labels": {"app.kubernetes.io/name": "trustkeep"}},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE_NAME},
                "subjects": [{"kind": "ServiceAccount", "name": sa_name, "namespace": sa_namespace}],
            });
            for doc in [role, binding] {
                out.push_str("---\n");
                out.push_str(&serde_saphyr::to_string(&doc).expect("RBAC objects serialize"));
            }
        }
        out
    }

    /// The profile as YAML.
    pub fn to_yaml(&self) -> String {
        let mut s = String::from(
            "# trustkeep profile (docs/operations.md, \"Discovery and profiles\"): names and flags only, no secret values.\n",
        );
        s.push_str(&serde_saphyr::to_string(self).expect("a profile serializes"));
        s
    }
}

/// The Role rules a backup of `secrets` needs: `get` on exactly the named secrets of each
/// namespace, and in the relay namespace `get`/`list` on RootTrustPolicies (which the backup
/// reads to find the roots they name).
pub fn rbac_for(secrets: &[Entry], relay_ns: &str) -> Vec<NamespaceRules> {
    let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in secrets {
        if let Some(id) = e.id() {
            names.entry(id.namespace).or_default().insert(id.name);
        }
    }
    names.entry(relay_ns.to_string()).or_default();
    names
        .into_iter()
        .map(|(namespace, names)| {
            let mut rules = Vec::new();
            if !names.is_empty() {
                rules.push(Rule {
                    api_groups: vec![String::new()],
                    resources: vec!["secrets".into()],
                    verbs: vec!["get".into()],
                    resource_names: names.into_iter().collect(),
                });
            }
            if namespace == relay_ns {
                rules.push(Rule {
                    api_groups: vec!["admin.gloo.solo.io".into()],
                    resources: vec!["roottrustpolicies".into()],
                    verbs: vec!["get".into(), "list".into()],
                    resource_names: Vec::new(),
                });
            }
            NamespaceRules { namespace, rules }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Profile {
        Profile::new(
            Discovered {
                source: "file m.yaml".into(),
                ..Default::default()
            },
            ClusterKind::Management,
            RelayMode::MtlsByo,
            "gloo-mesh".into(),
            vec![
                Entry::named(
                    ProfileRole::RelayServer,
                    &SecretId::new("gloo-mesh", "gloo-mesh-mgmt-server-tls-secret"),
                ),
                Entry::absent(
                    ProfileRole::RelaySigning,
                    "glooMgmtServer.relay.disableCa: true",
                ),
                Entry::named(
                    ProfileRole::IstioCacerts,
                    &SecretId::new("istio-system", "cacerts"),
                ),
            ],
        )
    }

    #[test]
    fn round_trips_and_computes_rbac() {
        let p = sample();
        let y = p.to_yaml();
        assert!(y.contains("apiVersion: trustkeep.io/v1"), "{y}");
        assert!(y.contains("relayMode: mtls-byo"), "{y}");
        assert_eq!(Profile::parse(&y, "t").unwrap(), p);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(Profile::parse(&json, "t").unwrap(), p);
        assert_eq!(p.rbac.len(), 2);
        assert_eq!(p.rbac[0].namespace, "gloo-mesh");
        assert_eq!(
            p.rbac[0].rules[0].resource_names,
            ["gloo-mesh-mgmt-server-tls-secret"]
        );
        assert_eq!(p.rbac[0].rules[1].resources, ["roottrustpolicies"]);
        assert_eq!(p.rbac[1].rules[0].resource_names, ["cacerts"]);
        assert!(p.absent_by_design(ProfileRole::RelaySigning));
        assert!(!p.absent_by_design(ProfileRole::RelayServer));
        assert!(!p.absent_by_design(ProfileRole::RelayRoot), "not mentioned");
    }

    #[test]
    fn refuses_other_versions_and_half_entries() {
        let y = sample().to_yaml();
        let e = Profile::parse(&y.replace("trustkeep.io/v1", "trustkeep.io/v9"), "p.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("this build reads apiVersion trustkeep.io/v1"),
            "{e}"
        );
        let half = y.replace("  name: cacerts\n", "");
        let e = Profile::parse(&half, "p.yaml").unwrap_err().to_string();
        assert!(
            e.contains("role istio-cacerts needs namespace and name"),
            "{e}"
        );
        assert!(Profile::parse("kind: Secret\n", "p.yaml").is_err());
    }
}
