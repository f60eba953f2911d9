//! A RootTrustPolicy whole, as it would be applied again: apiVersion, kind, metadata name,
//! namespace, labels and annotations, and spec. What the server owns (uid, resourceVersion,
//! creationTimestamp, generation, managedFields, ownerReferences, status) is dropped when it is
//! read, so an archived policy can be created in a cluster rebuilt from nothing. The archive
//! stores it as YAML ([`PolicyObject::to_yaml`], [`PolicyObject::from_yaml`]); restore compares
//! it with the live one ([`PolicyObject::differences`]). It holds references, never key material.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The apiVersion of Gloo Mesh's RootTrustPolicy, used when a listed item omits it.
pub const API_VERSION: &str = "admin.gloo.solo.io/v2";
/// The API group a RootTrustPolicy must belong to.
pub(crate) const API_GROUP: &str = "admin.gloo.solo.io";
/// The kind.
pub const KIND: &str = "RootTrustPolicy";

/// One RootTrustPolicy, only the fields a re-apply needs (field names as in Kubernetes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyObject {
    pub api_version: String,
    pub kind: String,
    pub metadata: PolicyMeta,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub spec: Value,
}

/// The metadata a re-apply keeps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyMeta {
    pub name: String,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

impl PolicyObject {
    /// The policy `value` (as listed by the API or read from a file), named `namespace/name`,
    /// without the fields the server owns.
    pub(crate) fn from_value(value: &Value, namespace: &str, name: &str) -> Self {
        let text = |k: &str, default: &str| {
            value
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or(default)
                .to_string()
        };
        PolicyObject {
            api_version: text("apiVersion", API_VERSION),
            kind: text("kind", KIND),
            metadata: PolicyMeta {
                name: name.to_string(),
                namespace: namespace.to_string(),
                labels: string_map(value.pointer("/metadata/labels")),
                annotations: string_map(value.pointer("/metadata/annotations")),
            },
            spec: value.get("spec").cloned().unwrap_or(Value::Null),
        }
    }

    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.metadata.namespace, self.metadata.name)
    }

    /// The YAML `kubectl apply -f` accepts, as stored in the archive.
    pub fn to_yaml(&self) -> Result<String, String> {
        serde_saphyr::to_string(self).map_err(|e| {
            format!(
                "roottrustpolicy {}: cannot render it as YAML ({e})",
                self.id()
            )
        })
    }

    /// Reads a policy written by [`PolicyObject::to_yaml`]: exactly one document, a
    /// RootTrustPolicy of the admin.gloo.solo.io group, with only the fields a re-apply keeps.
    /// The error never quotes the input.
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(text).map_err(|_| "does not parse as YAML".to_string())?;
        let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
        let [doc] = <[Value; 1]>::try_from(docs).map_err(|d| {
            format!(
                "holds {} documents; a policy file holds exactly one RootTrustPolicy",
                d.len()
            )
        })?;
        let p: PolicyObject = serde_json::from_value(doc).map_err(|e| {
            // serde names the unexpected field, never a value.
            let msg = e.to_string();
            format!("is not a RootTrustPolicy as trustkeep writes it ({msg})")
        })?;
        let group = p.api_version.split('/').next().unwrap_or("");
        if p.kind != KIND || group != API_GROUP || !p.api_version.contains('/') {
            return Err(format!(
                "is not a RootTrustPolicy of {API_GROUP} (kind and apiVersion differ)"
            ));
        }
        Ok(p)
    }

    /// What a restore of `self` over `live` would change, `None` when nothing: the spec, and
    /// each label and annotation of `self` that `live` lacks or holds otherwise.
    pub fn differences(&self, live: &PolicyObject) -> Option<String> {
        let mut diffs = Vec::new();
        if self.api_version != live.api_version {
            diffs.push(format!(
                "apiVersion differs (live {}, archived {})",
                live.api_version, self.api_version
            ));
        }
        if self.spec != live.spec {
            diffs.push("spec differs".to_string());
        }
        diffs.extend(crate::secret::metadata_differences(
            (&self.metadata.labels, &live.metadata.labels),
            (&self.metadata.annotations, &live.metadata.annotations),
        ));
        (!diffs.is_empty()).then(|| diffs.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed() -> Value {
        serde_json::json!({
            "apiVersion": "admin.gloo.solo.io/v2", "kind": "RootTrustPolicy",
            "metadata": {"name": "p", "namespace": "gloo-mesh", "uid": "u", "resourceVersion": "7",
                "creationTimestamp": "2026-01-01T00:00:00Z", "generation": 3,
                "managedFields": [{"manager": "kubectl"}],
                "ownerReferences": [{"kind": "X", "name": "y"}],
                "labels": {"team": "mesh", "on": "true"},
                "annotations": {"note": "line one\nline two", "n": "12"}},
            "spec": {"config": {"autoRestartPods": true, "mgmtServerCa": {"generated": {}},
                "ttl": "720h", "odd": ["yes", "null", "0x1F", 1.5]}},
            "status": {"state": "ACCEPTED"}
        })
    }

    #[test]
    fn server_fields_are_dropped_and_yaml_round_trips() {
        let p = PolicyObject::from_value(&listed(), "gloo-mesh", "p");
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v["metadata"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["annotations", "labels", "name", "namespace"]
        );
        assert!(v.get("status").is_none());
        let yaml = p.to_yaml().unwrap();
        assert_eq!(PolicyObject::from_yaml(&yaml).unwrap(), p, "{yaml}");
        assert_eq!(p.differences(&p), None);
    }

    #[test]
    fn a_listed_item_without_type_meta_gets_the_gloo_one() {
        let mut v = listed();
        v.as_object_mut().unwrap().remove("apiVersion");
        v.as_object_mut().unwrap().remove("kind");
        let p = PolicyObject::from_value(&v, "gloo-mesh", "p");
        assert_eq!(
            (p.api_version.as_str(), p.kind.as_str()),
            (API_VERSION, KIND)
        );
    }

    #[test]
    fn from_yaml_refuses_anything_else() {
        let p = PolicyObject::from_value(&listed(), "gloo-mesh", "p");
        let yaml = p.to_yaml().unwrap();
        for (bad, why) in [
            (format!("{yaml}---\n{yaml}"), "holds 2 documents"),
            (
                yaml.replace("RootTrustPolicy", "Secret"),
                "is not a RootTrustPolicy of",
            ),
            (
                yaml.replace("admin.gloo.solo.io", "evil.io"),
                "is not a RootTrustPolicy of",
            ),
            (format!("{yaml}status: {{}}\n"), "unknown field `status`"),
            (
                yaml.replace("namespace:", "uid: x\n  namespace:"),
                "unknown field `uid`",
            ),
            ("[".to_string(), "does not parse"),
        ] {
            let e = PolicyObject::from_yaml(&bad).unwrap_err();
            assert!(e.contains(why), "{e} / {why}");
        }
    }

    #[test]
    fn differences_name_spec_and_metadata() {
        let a = PolicyObject::from_value(&listed(), "gloo-mesh", "p");
        let mut live = a.clone();
        live.spec["config"]["autoRestartPods"] = false.into();
        live.metadata.labels.remove("team");
        live.metadata.annotations.insert("extra".into(), "x".into());
        assert_eq!(
            a.differences(&live).unwrap(),
            "spec differs; labels missing or different: team"
        );
    }
}
