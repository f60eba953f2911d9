//! Gloo Mesh's RootTrustPolicy, as far as trustkeep needs it: which secret holds the Istio
//! root it names (generated, a secretRef, or none in the cluster for Vault).

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
        let root = if let Some(r) = mgmt.and_then(|m| m.get("secretRef")) {
            RootSource::SecretRef {
                name: r
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                namespace: r
                    .get("namespace")
                    .and_then(Value::as_str)
                    .unwrap_or(&namespace)
                    .to_string(),
            }
        } else if mgmt.and_then(|m| m.get("generated")).is_some() {
            RootSource::Generated
        } else if config.and_then(|c| c.pointer("/agentCa/vault")).is_some() {
            RootSource::Vault
        } else if config.is_none() || mgmt.is_none() {
            // No config at all means the management server generates the root.
            RootSource::Generated
        } else {
            RootSource::Unknown
        };
        Some(RootTrustPolicy {
            object: PolicyObject::from_value(value, &namespace, &name),
            namespace,
            name,
            root,
        })
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
}
