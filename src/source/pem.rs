//! The PEM-directory source: a bring-your-own set of certificates and keys as files (from
//! Vault, ACM, an offline CA), checked *before* it becomes Kubernetes Secrets, with the same
//! verdicts. One folder per secret, named after its role (`relay-server`, `relay-signing`,
//! `relay-root`, `relay-client`, `relay-identity-token`, `istio-cacerts`, `root-trust`) or
//! after the secret itself (`relay-server-tls-secret`, `cacerts`, `root-trust.<policy>`);
//! the files in it are named as the secret's data keys (`tls.crt`, `tls.key`, `ca.crt`;
//! `ca-cert.pem`, `ca-key.pem`, `root-cert.pem`, `cert-chain.pem`, `ca-crl.pem`; `root-cert.pem`,
//! `key.pem`; `token`). Nothing is written; no value is logged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::manual::{list, read_data, record};
use crate::error::{Error, Result};
use crate::gloo::{
    CACERTS, ISTIO_NAMESPACE, RELAY_CLIENT, RELAY_ROOT, RELAY_SERVER, RELAY_SIGNING, RELAY_TOKEN,
};
use crate::inventory::{Inventory, Origin};
use crate::secret::{valid_object_name, SecretId, OPAQUE, TLS};

/// The secret a folder of `dir` stands for: by role name, else by secret name (in
/// `namespace`, or `istio-system` for `cacerts`).
fn secret_of(folder: &str, namespace: &str) -> Option<SecretId> {
    let gloo = |name: &str| Some(SecretId::new(namespace, name));
    match folder {
        "relay-server" => gloo(RELAY_SERVER),
        "relay-signing" => gloo(RELAY_SIGNING),
        "relay-root" => gloo(RELAY_ROOT),
        "relay-client" => gloo(RELAY_CLIENT),
        "relay-identity-token" => gloo(RELAY_TOKEN),
        "root-trust" => gloo("root-trust.byo"),
        "istio-cacerts" | CACERTS => Some(SecretId::new(ISTIO_NAMESPACE, CACERTS)),
        other if valid_object_name(other) => gloo(other),
        _ => None,
    }
}

/// Reads a PEM directory into an inventory (see the module docs).
pub(super) fn read_pem_dir(dir: &Path, namespace: &str) -> Result<Inventory> {
    let folders: Vec<PathBuf> = list(dir)?.into_iter().filter(|p| p.is_dir()).collect();
    let mut secrets = Vec::new();
    for f in &folders {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        let id = secret_of(&name, namespace).ok_or_else(|| {
            Error::Source(format!(
                "folder {}: {name:?} is neither a role (relay-server, relay-signing, relay-root, relay-client, relay-identity-token, istio-cacerts, root-trust) nor a secret name",
                f.display()
            ))
        })?;
        let data = read_data(f)?;
        let tls = data.contains_key("tls.crt") && data.contains_key("tls.key");
        let type_ = if tls && id.namespace != ISTIO_NAMESPACE {
            TLS
        } else {
            OPAQUE
        };
        secrets.push(record(id, type_, data));
    }
    if secrets.is_empty() {
        return Err(Error::Source(format!(
            "{}: no folders of certificates; expected folders such as relay-server/ holding tls.crt, tls.key and ca.crt (see docs/operations.md, \"Checking a bring-your-own set\")",
            dir.display()
        )));
    }
    secrets.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Inventory {
        origin: Origin::PemDir {
            path: dir.display().to_string(),
        },
        secrets,
        // Files hold no RootTrustPolicies: none is to be looked for (the policy's own
        // settings, generated or not, are the cluster's matter, not the set's).
        policies: Vec::new(),
        policies_known: true,
        policies_forbidden: false,
        resource_versions: BTreeMap::new(),
        workloads: Default::default(),
        notes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_name_roles_or_secrets() {
        let id = |f: &str| secret_of(f, "gloo-mesh").map(|i| i.to_string());
        assert_eq!(
            id("relay-server").unwrap(),
            "gloo-mesh/relay-server-tls-secret"
        );
        assert_eq!(id("istio-cacerts").unwrap(), "istio-system/cacerts");
        assert_eq!(id("cacerts").unwrap(), "istio-system/cacerts");
        assert_eq!(
            id("root-trust.gloo-mesh").unwrap(),
            "gloo-mesh/root-trust.gloo-mesh"
        );
        assert_eq!(id("my-agent-tls").unwrap(), "gloo-mesh/my-agent-tls");
        assert!(id("Not A Name").is_none());
    }
}
