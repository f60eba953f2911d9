//! Where secrets come from: the one source abstraction that `backup`, `audit` and `import`
//! read through.
//!
//! A source yields an [`Inventory`]: every Secret it holds (as [`SecretRecord`]s), the
//! RootTrustPolicies it knows of, and a description of where it came from ([`Origin`]). This
//! module reads `--from` files (what `kubectl get -o yaml|json` prints: one object, a `List`,
//! or multi-document YAML); live clusters produce the same `Inventory`. It does not choose
//! which secrets matter (that is [`crate::select`]) and never logs secret values.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Secret;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::secret::SecretRecord;

/// Largest `--from` file read (Secrets are at most 1 MiB each; a whole namespace fits).
pub const MAX_SOURCE_BYTES: u64 = 256 * 1024 * 1024;

/// Where an inventory came from, as recorded in an archive's manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// A file in the format `kubectl get -o yaml|json` prints (`-` is standard input).
    File { path: String },
    /// Folders made by the seed document's manual backup procedure.
    ManualFolders { paths: Vec<String> },
    /// A live cluster read through the Kubernetes API.
    Cluster {
        context: Option<String>,
        server: String,
        /// UID of the `kube-system` namespace: the cluster's identity.
        cluster_uid: Option<String>,
    },
}

impl Origin {
    /// A short name for file names and reports: the file stem, or the context.
    pub fn short_name(&self) -> String {
        match self {
            Origin::File { path } if path == "-" => "stdin".to_string(),
            Origin::File { path } => Path::new(path)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "source".into()),
            Origin::ManualFolders { .. } => "import".to_string(),
            Origin::Cluster { context, .. } => {
                context.clone().unwrap_or_else(|| "cluster".to_string())
            }
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File { path } => write!(f, "file {path}"),
            Origin::ManualFolders { paths } => write!(f, "folders {}", paths.join(", ")),
            Origin::Cluster {
                context, server, ..
            } => match context {
                Some(c) => write!(f, "cluster {c} ({server})"),
                None => write!(f, "cluster {server}"),
            },
        }
    }
}

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
            namespace,
            name,
            root,
        })
    }

    /// The secret holding this policy's root, when it lives in the cluster.
    pub fn root_secret(&self) -> Option<crate::secret::SecretId> {
        match &self.root {
            RootSource::Generated => Some(crate::secret::SecretId::new(
                self.namespace.clone(),
                format!("{}.{}", self.name, self.namespace),
            )),
            RootSource::SecretRef { namespace, name } => Some(crate::secret::SecretId::new(
                namespace.clone(),
                name.clone(),
            )),
            RootSource::Vault | RootSource::Unknown => None,
        }
    }
}

/// Everything one source holds, before selection.
#[derive(Clone, Debug)]
pub struct Inventory {
    pub origin: Origin,
    pub secrets: Vec<SecretRecord>,
    pub policies: Vec<RootTrustPolicy>,
    /// False when the source could not tell whether RootTrustPolicies exist (e.g. the CRD is
    /// absent on a live cluster); a file always knows.
    pub policies_known: bool,
    /// resourceVersion of each secret read, for the record.
    pub resource_versions: BTreeMap<String, String>,
}

/// Reads a `--from` file (`-` for standard input). Secrets without a namespace are placed in
/// `default_namespace`.
pub fn read_file(path: &str, default_namespace: &str) -> Result<Inventory> {
    let bytes = read_limited(path)?;
    parse_objects(&bytes, path, default_namespace)
}

fn read_limited(path: &str) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    let mut buf = zeroize::Zeroizing::new(Vec::new());
    let res = if path == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_SOURCE_BYTES + 1)
            .read_to_end(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_SOURCE_BYTES + 1).read_to_end(&mut buf))
    };
    res.map_err(|e| Error::io("cannot read", PathBuf::from(path), e))?;
    if buf.len() as u64 > MAX_SOURCE_BYTES {
        return Err(Error::Parse {
            path: path.to_string(),
            message: format!("larger than {MAX_SOURCE_BYTES} bytes"),
        });
    }
    Ok(buf)
}

/// Parses YAML (one or several documents) or JSON into an inventory.
pub fn parse_objects(bytes: &[u8], path: &str, default_namespace: &str) -> Result<Inventory> {
    let text = std::str::from_utf8(bytes).map_err(|e| Error::Parse {
        path: path.to_string(),
        message: format!("not UTF-8 text ({e})"),
    })?;
    let docs: Vec<Value> = if text.trim_start().starts_with(['{', '[']) {
        vec![serde_json::from_str(text).map_err(|e| Error::Parse {
            path: path.to_string(),
            // serde_json's messages carry a position, never the input.
            message: e.to_string(),
        })?]
    } else {
        serde_saphyr::from_multiple::<Value>(text).map_err(|e| Error::Parse {
            path: path.to_string(),
            // The user formatter prints the position without a snippet of the input, which
            // could contain secret data.
            message: e.render_with_options(serde_saphyr::render_options! {
                formatter: &serde_saphyr::UserMessageFormatter,
                snippets: serde_saphyr::SnippetMode::Off,
            }),
        })?
    };
    let mut inventory = Inventory {
        origin: Origin::File {
            path: path.to_string(),
        },
        secrets: Vec::new(),
        policies: Vec::new(),
        policies_known: true,
        resource_versions: BTreeMap::new(),
    };
    for doc in docs {
        collect(doc, path, default_namespace, &mut inventory)?;
    }
    Ok(inventory)
}

fn collect(doc: Value, path: &str, default_namespace: &str, inv: &mut Inventory) -> Result<()> {
    match doc {
        Value::Null => Ok(()),
        Value::Array(items) => {
            for item in items {
                collect(item, path, default_namespace, inv)?;
            }
            Ok(())
        }
        Value::Object(ref map) => {
            let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
            match kind {
                k if k == "List" || k.ends_with("List") => {
                    let items = map.get("items").cloned().unwrap_or(Value::Array(vec![]));
                    collect(items, path, default_namespace, inv)
                }
                "Secret" => {
                    let id = object_label(&doc, "secret", default_namespace);
                    let secret: Secret =
                        serde_json::from_value(doc).map_err(|e| Error::Object {
                            origin: path.to_string(),
                            object: id,
                            message: format!(
                                "not a valid Secret ({}); data values must be base64, as kubectl get -o yaml prints them",
                                redact_serde(&e)
                            ),
                        })?;
                    let rec = SecretRecord::from_k8s(secret, default_namespace);
                    if let Some(rv) = &rec.resource_version {
                        inv.resource_versions.insert(rec.id.to_string(), rv.clone());
                    }
                    inv.secrets.push(rec);
                    Ok(())
                }
                "RootTrustPolicy" => {
                    let pol =
                        RootTrustPolicy::from_value(&doc, default_namespace).ok_or_else(|| {
                            Error::Object {
                                origin: path.to_string(),
                                object: object_label(&doc, "roottrustpolicy", default_namespace),
                                message: "has no metadata.name".into(),
                            }
                        })?;
                    inv.policies.push(pol);
                    Ok(())
                }
                // Other objects (ConfigMaps, the CRD itself...) are not trust material.
                _ => Ok(()),
            }
        }
        _ => Err(Error::Parse {
            path: path.to_string(),
            message: "expected Kubernetes objects (a Secret, a List, or several documents)".into(),
        }),
    }
}

fn object_label(doc: &Value, kind: &str, default_namespace: &str) -> String {
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>");
    let ns = doc
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(default_namespace);
    format!("{kind} {ns}/{name}")
}

/// serde_json errors about values quote the offending value ("invalid value: string \"...\"");
/// keep only the classification and position.
fn redact_serde(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.find(['"', '`']) {
        Some(i) => format!("{}…", msg[..i].trim_end()),
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_DOCS: &str = r#"
apiVersion: v1
kind: Secret
metadata: {name: relay-server-tls-secret, namespace: gloo-mesh, resourceVersion: "7"}
type: kubernetes.io/tls
data: {tls.crt: aGVsbG8=, tls.key: a2V5}
---
apiVersion: admin.gloo.solo.io/v2
kind: RootTrustPolicy
metadata: {name: root-trust-policy, namespace: gloo-mesh}
spec: {config: {mgmtServerCa: {generated: {}}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: other}
"#;

    #[test]
    fn multi_document_yaml() {
        let inv = parse_objects(TWO_DOCS.as_bytes(), "t.yaml", "gloo-mesh").unwrap();
        assert_eq!(inv.secrets.len(), 1);
        assert_eq!(inv.secrets[0].get("tls.crt").unwrap().expose(), b"hello");
        assert_eq!(inv.policies.len(), 1);
        assert_eq!(
            inv.policies[0].root_secret().unwrap().to_string(),
            "gloo-mesh/root-trust-policy.gloo-mesh"
        );
        assert_eq!(
            inv.resource_versions["gloo-mesh/relay-server-tls-secret"],
            "7"
        );
    }

    #[test]
    fn yaml_errors_do_not_echo_the_input() {
        let y = "kind: Secret\ndata:\n  tls.key: \"TOPSECRETVALUE\n";
        let msg = parse_objects(y.as_bytes(), "t.yaml", "gloo-mesh")
            .unwrap_err()
            .to_string();
        assert!(!msg.contains("TOPSECRET"), "{msg}");
        assert!(msg.starts_with("t.yaml: not valid YAML or JSON: "), "{msg}");
        assert_eq!(msg.lines().count(), 1, "{msg}");
    }

    #[test]
    fn json_list() {
        let json = r#"{"apiVersion":"v1","kind":"List","items":[{"kind":"Secret","metadata":{"name":"a"},"data":{"k":"dg=="}}]}"#;
        let inv = parse_objects(json.as_bytes(), "t.json", "gloo-mesh").unwrap();
        assert_eq!(inv.secrets[0].id.to_string(), "gloo-mesh/a");
    }

    #[test]
    fn bad_base64_names_the_secret_and_hides_the_value() {
        let y =
            "kind: Secret\nmetadata: {name: s1, namespace: ns}\ndata: {k: 'SECRET!!notbase64'}\n";
        let err = parse_objects(y.as_bytes(), "t.yaml", "gloo-mesh").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("secret ns/s1"), "{msg}");
        assert!(!msg.contains("SECRET!!"), "{msg}");
    }

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
