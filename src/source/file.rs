//! The `--from FILE` source: what `kubectl get secret -o yaml|json` prints (one object, a
//! `List`, or multi-document YAML), read from a file or standard input into an
//! [`Inventory`]. Parse errors give a position, never a snippet of the input.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::inventory::{Inventory, Origin, RootTrustPolicy};
use crate::secret::SecretRecord;
use crate::workload::{Certificate, Deployment, Workloads};

/// Largest `--from` file read (Secrets are at most 1 MiB each; a whole namespace fits).
pub(crate) const MAX_SOURCE_BYTES: u64 = 256 * 1024 * 1024;

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

/// The YAML parser's budget for an input of `len` bytes: its node, event and scalar limits
/// grow with the input, so every `kubectl get -o yaml` output under [`MAX_SOURCE_BYTES`] is
/// accepted (a Secret in kubectl's YAML takes well over 8 bytes per node), while a hostile
/// file still cannot make more than one node per 8 bytes of input, nor amplify itself through
/// aliases (those limits keep serde-saphyr's defaults).
fn yaml_options(len: usize) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    let nodes = (len / 8).max(budget.max_nodes);
    budget.max_reader_input_bytes = Some(MAX_SOURCE_BYTES as usize);
    budget.max_nodes = nodes;
    budget.max_events = (nodes * 2).max(budget.max_events);
    budget.max_total_scalar_bytes = len.max(budget.max_total_scalar_bytes);
    serde_saphyr::options! { budget: Some(budget) }
}

/// Parses YAML (one or several documents) or JSON into an inventory.
pub(crate) fn parse_objects(
    bytes: &[u8],
    path: &str,
    default_namespace: &str,
) -> Result<Inventory> {
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
        serde_saphyr::from_multiple_with_options::<Value>(text, yaml_options(text.len())).map_err(
            |e| Error::Parse {
                path: path.to_string(),
                // The user formatter prints the position without a snippet of the input, which
                // could contain secret data.
                message: e.render_with_options(serde_saphyr::render_options! {
                    formatter: &serde_saphyr::UserMessageFormatter,
                    snippets: serde_saphyr::SnippetMode::Off,
                }),
            },
        )?
    };
    let mut inventory = Inventory {
        origin: Origin::File {
            path: path.to_string(),
        },
        secrets: Vec::new(),
        policies: Vec::new(),
        policies_known: true,
        policies_forbidden: false,
        resource_versions: BTreeMap::new(),
        notes: Vec::new(),
        workloads: Workloads::default(),
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
                // Read for `discover` only; a malformed one is skipped, never an error for a
                // backup of the same file.
                "Deployment" => {
                    let d = Deployment::from_value(&doc, default_namespace);
                    inv.workloads.deployments.extend(d);
                    inv.workloads.deployments_known = true;
                    Ok(())
                }
                "Certificate"
                    if map
                        .get("apiVersion")
                        .and_then(Value::as_str)
                        .is_some_and(|v| v.starts_with("cert-manager.io/")) =>
                {
                    let c = Certificate::from_value(&doc, default_namespace);
                    inv.workloads.certificates.extend(c);
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
}
