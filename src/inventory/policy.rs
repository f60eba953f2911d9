//! Gloo Mesh's RootTrustPolicy, as far as trustkeep needs it: which secret holds the Istio
//! root it names (generated, a secretRef, or none in the cluster for Vault), and which secrets
//! hold the passive roots it keeps trusted during a rotation (`passiveCertificateAuthorities`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::PolicyObject;
use crate::secret::SecretId;

/// What `spec.config.mgmtServerCa` (or `agentCa`) of a RootTrustPolicy says about its root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RootSource {
    /// Gloo Mesh generates the root and keeps it in secret `<policy>.<namespace>`.
    Generated,
    /// The root is the named secret.
    SecretRef { namespace: String, name: String },
    /// The root lives in Vault: nothing in the cluster to back up.
    Vault,
    /// The policy names no root trustkeep understands.
    Unknown,
}

/// The parts of an `admin.gloo.solo.io/v2` RootTrustPolicy that locate its root secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootTrustPolicy {
    pub namespace: String,
    pub name: String,
    pub root: RootSource,
    /// `spec.config.passiveCertificateAuthorities`: roots that validate but no longer sign,
    /// kept during a root rotation. Each is a `secretRef` or `generated` like `mgmtServerCa`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passive: Vec<RootSource>,
    /// The whole object, as it would be applied again (archived with the secrets).
    pub object: PolicyObject,
}

impl RootTrustPolicy {
    /// Reads the policy from its JSON form (as listed by the API or read from a file).
    pub fn from_value(value: &Value, default_namespace: &str) -> Option<Self> {
        let meta = value.get("metadata")?;
        let name = meta.get("name")?.as_str()?.to_string();
        let namespace = meta
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or(default_namespace)
            .to_string();
        let config = value.pointer("/spec/config");
        let mgmt = config.and_then(|c| c.get("mgmtServerCa"));
        let root = if let Some(ca) = mgmt.and_then(|m| ca_source(m, &namespace)) {
            ca
        } else if config.and_then(|c| c.pointer("/agentCa/vault")).is_some() {
            RootSource::Vault
        } else if config.is_none() || mgmt.is_none() {
            // No config at all means the management server generates the root.
            RootSource::Generated
        } else {
            RootSource::Unknown
        };
        let passive = config
            .and_then(|c| c.get("passiveCertificateAuthorities"))
            .and_then(Value::as_array)
            .map(|cas| {
                cas.iter()
                    .map(|ca| ca_source(ca, &namespace).unwrap_or(RootSource::Unknown))
                    .collect()
            })
            .unwrap_or_default();
        Some(RootTrustPolicy {
            object: PolicyObject::from_value(value, &namespace, &name),
            namespace,
            name,
            root,
            passive,
        })
    }

    /// The secrets holding the passive roots (rotation) that live in the cluster. A passive
    /// `generated` root has no name trustkeep can know: it is found by Gloo's generated type.
    pub(crate) fn passive_secrets(&self) -> impl Iterator<Item = SecretId> + '_ {
        self.passive.iter().filter_map(|p| match p {
            RootSource::SecretRef { namespace, name } => {
                Some(SecretId::new(namespace.clone(), name.clone()))
            }
            _ => None,
        })
    }

    /// Every secret of the policy's roots in the cluster: the signing one, then the passive.
    pub(crate) fn root_secrets(&self) -> impl Iterator<Item = SecretId> + '_ {
        self.root_secret().into_iter().chain(self.passive_secrets())
    }

    /// The secret holding this policy's root, when it lives in the cluster.
    pub(crate) fn root_secret(&self) -> Option<SecretId> {
        match &self.root {
            RootSource::Generated => Some(SecretId::new(
                self.namespace.clone(),
                format!("{}.{}", self.name, self.namespace),
            )),
            RootSource::SecretRef { namespace, name } => {
                Some(SecretId::new(namespace.clone(), name.clone()))
            }
            RootSource::Vault | RootSource::Unknown => None,
        }
    }
}

/// A `MgmtServerCertificateAuthority` (`mgmtServerCa` or a passive CA): `secretRef` (its
/// namespace defaults to the policy's) or `generated`; `None` when it is neither.
fn ca_source(ca: &Value, policy_namespace: &str) -> Option<RootSource> {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    if let Some(r) = ca.get("secretRef") {
        Some(RootSource::SecretRef {
            name: text(r, "name").unwrap_or_default(),
            namespace: text(r, "namespace")
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| policy_namespace.to_string()),
        })
    } else if ca.get("generated").is_some() {
        Some(RootSource::Generated)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_secret_ref_and_vault() {
        let v: Value = serde_json::json!({"metadata":{"name":"p","namespace":"gm"},
            "spec":{"config":{"mgmtServerCa":{"secretRef":{"name":"my-root","namespace":"vault-ns"}}}}});
        let p = RootTrustPolicy::from_value(&v, "gloo-mesh").unwrap();
        assert_eq!(p.root_secret().unwrap().to_string(), "vault-ns/my-root");
        let v: Value = serde_json::json!({"metadata":{"name":"p"},
            "spec":{"config":{"agentCa":{"vault":{"caPath":"x"}}}}});
        let p = RootTrustPolicy::from_value(&v, "gloo-mesh").unwrap();
        assert_eq!(p.root, RootSource::Vault);
        assert!(p.root_secret().is_none());
    }

    #[test]
    fn passive_roots_of_a_rotation_are_secrets_too() {
        let v: Value = serde_json::json!({"metadata":{"name":"rtp","namespace":"gloo-mesh"},
            "spec":{"config":{"mgmtServerCa":{"secretRef":{"name":"root-2027"}},
                "passiveCertificateAuthorities":[{"secretRef":{"name":"root-2026"}},
                    {"secretRef":{"name":"old","namespace":"vault-ns"}},{"generated":{}}]}}});
        let p = RootTrustPolicy::from_value(&v, "x").unwrap();
        let all: Vec<String> = p.root_secrets().map(|id| id.to_string()).collect();
        assert_eq!(
            all,
            ["gloo-mesh/root-2027", "gloo-mesh/root-2026", "vault-ns/old"]
        );
        assert_eq!(p.passive.len(), 3);
        assert_eq!(p.passive[2], RootSource::Generated);
    }
}
