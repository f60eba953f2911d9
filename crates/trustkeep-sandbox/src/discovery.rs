//! The documents clients read before talking to resources: `/version`, legacy discovery
//! (`/api`, `/api/v1`, `/apis`, `/apis/<group>[/<version>]`) and a minimal OpenAPI v3
//! (`/openapi/v3` and one document per group-version) that tells kubectl the server
//! validates fields itself (`fieldValidation`), so `kubectl apply` needs no client schema.

use serde_json::{json, Value};

use super::kinds::{served_groups, Kind};

/// The Kubernetes version the sandbox claims to be.
pub const GIT_VERSION: &str = "v1.32.0-trustkeep-sandbox";

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-12-11T00:00:00Z",
        "goVersion": "go1.23.3",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `/api`.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    })
}

fn resource(kind: Kind) -> Value {
    let mut r = json!({
        "name": kind.plural(),
        "singularName": kind.singular(),
        "namespaced": kind.namespaced(),
        "kind": kind.kind(),
        "verbs": kind.verbs(),
    });
    if let (Some(short), Some(m)) = (kind.short_names(), r.as_object_mut()) {
        m.insert("shortNames".into(), json!(short));
    }
    r
}

/// `/api/v1`.
pub fn core_resources() -> Value {
    json!({
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [resource(Kind::Namespace), resource(Kind::Secret)],
    })
}

/// The kinds of a named group.
fn kinds_of(group: &str) -> impl Iterator<Item = Kind> + '_ {
    Kind::ALL.into_iter().filter(move |k| k.group() == group)
}

fn group_entry(group: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({
        "name": group,
        "versions": [gv.clone()],
        "preferredVersion": gv,
    })
}

/// `/apis`: the served named groups (the CRD-made ones unless the CRDs are absent).
pub fn groups(crd: bool) -> Value {
    let groups: Vec<Value> = served_groups(crd)
        .into_iter()
        .map(|(g, v)| group_entry(g, v))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// The version served of `group` (one of [`served_groups`]).
fn version_of(group: &str) -> &'static str {
    kinds_of(group).next().map_or("v1", Kind::version)
}

/// `/apis/<group>`, e.g. `/apis/admin.gloo.solo.io`.
pub fn group_document(group: &str) -> Value {
    let mut g = group_entry(group, version_of(group));
    if let Some(m) = g.as_object_mut() {
        m.insert("kind".into(), json!("APIGroup"));
        m.insert("apiVersion".into(), json!("v1"));
    }
    g
}

/// `/apis/<group>/<version>`, e.g. `/apis/admin.gloo.solo.io/v2`.
pub fn group_resources(group: &str) -> Value {
    let resources: Vec<Value> = kinds_of(group).map(resource).collect();
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": format!("{group}/{}", version_of(group)),
        "resources": resources,
    })
}

/// The OpenAPI v3 group-versions: `api/v1` and the served named groups.
pub fn openapi_paths(crd: bool) -> Vec<String> {
    let mut paths = vec!["api/v1".to_string()];
    paths.extend(
        served_groups(crd)
            .into_iter()
            .map(|(g, v)| format!("apis/{g}/{v}")),
    );
    paths
}

/// A stable hash for a document's URL (the content never changes within a build).
const OPENAPI_HASH: &str = concat!("trustkeep-", env!("CARGO_PKG_VERSION"));

/// `/openapi/v3`.
pub fn openapi_root(crd: bool) -> Value {
    let mut paths = serde_json::Map::new();
    for p in openapi_paths(crd) {
        let url = format!("/openapi/v3/{p}?hash={OPENAPI_HASH}");
        paths.insert(p, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

/// The OpenAPI v3 document of group-version `path` (e.g. `api/v1`), if served.
pub fn openapi_document(path: &str, crd: bool) -> Option<Value> {
    if !openapi_paths(crd).iter().any(|p| p == path) {
        return None;
    }
    let kinds: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| {
            let gv = if !k.is_core() {
                format!("apis/{}/{}", k.group(), k.version())
            } else {
                format!("api/{}", k.version())
            };
            gv == path
        })
        .collect();
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for kind in &kinds {
        paths.insert(item_path(*kind), item_operations(*kind));
        schemas.insert(schema_name(*kind), kind_schema(*kind));
    }
    schemas.extend(meta_schemas());
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

fn item_path(kind: Kind) -> String {
    let prefix = if !kind.is_core() {
        format!("/apis/{}/{}", kind.group(), kind.version())
    } else {
        "/api/v1".to_string()
    };
    if kind.namespaced() {
        format!(
            "{prefix}/namespaces/{{namespace}}/{}/{{name}}",
            kind.plural()
        )
    } else {
        format!("{prefix}/{}/{{name}}", kind.plural())
    }
}

fn schema_name(kind: Kind) -> String {
    match kind {
        Kind::RootTrustPolicy => format!("io.solo.gloo.admin.{}.{}", kind.version(), kind.kind()),
        Kind::Certificate => format!("io.cert-manager.{}.{}", kind.version(), kind.kind()),
        Kind::Deployment => format!("io.k8s.api.apps.v1.{}", kind.kind()),
        Kind::Namespace | Kind::Secret => format!("io.k8s.api.core.v1.{}", kind.kind()),
    }
}

fn gvk(kind: Kind) -> Value {
    json!({"group": kind.group(), "version": kind.version(), "kind": kind.kind()})
}

fn query_param(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

fn object_content(kind: Kind) -> Value {
    let schema = json!({"$ref": format!("#/components/schemas/{}", schema_name(kind))});
    json!({
        "application/json": {"schema": schema.clone()},
        "application/yaml": {"schema": schema},
    })
}

/// One operation on an object of `kind`, with its query parameters and request body.
fn operation(kind: Kind, action: &str, params: &[&str], body: Option<Value>) -> Value {
    let mut op = json!({
        "operationId": format!("{action}{}", kind.kind()),
        "parameters": params.iter().map(|p| query_param(p)).collect::<Vec<_>>(),
        "responses": {"200": {"description": "OK", "content": object_content(kind)}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(kind),
    });
    if let (Some(b), Some(m)) = (body, op.as_object_mut()) {
        m.insert("requestBody".into(), b);
    }
    op
}

/// A PATCH body: kubectl uses strategic merge patches only where listed here.
fn patch_body(kind: Kind) -> Value {
    let schema = json!({"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"});
    let content: serde_json::Map<String, Value> = patch_types(kind)
        .iter()
        .map(|t| (t.to_string(), json!({"schema": schema.clone()})))
        .collect();
    json!({"content": content, "required": true})
}

fn path_param(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}})
}

/// The operations on one object: enough for kubectl to see `fieldValidation` on PATCH (so
/// it validates on the server) and strategic merge patch support (so apply uses it).
fn item_operations(kind: Kind) -> Value {
    const WRITE: &[&str] = &["dryRun", "fieldManager", "fieldValidation"];
    const PATCH: &[&str] = &["dryRun", "fieldManager", "fieldValidation", "force"];
    let mut path_params = vec![path_param("name")];
    if kind.namespaced() {
        path_params.push(path_param("namespace"));
    }
    let put_body = json!({"content": object_content(kind), "required": true});
    json!({
        "get": operation(kind, "get", &[], None),
        "put": operation(kind, "put", WRITE, Some(put_body)),
        "patch": operation(kind, "patch", PATCH, Some(patch_body(kind))),
        "delete": operation(kind, "delete", &["dryRun"], None),
        "parameters": path_params,
    })
}

/// The patch types of `kind`: custom resources do not take strategic merge patches.
fn patch_types(kind: Kind) -> &'static [&'static str] {
    if kind.is_custom() {
        &[
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json",
        ]
    } else {
        &[
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
        ]
    }
}

fn string_map() -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string", "default": ""}})
}

fn reference(name: &str) -> Value {
    json!({"allOf": [{"$ref": format!("#/components/schemas/{name}")}], "default": {}})
}

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

fn kind_schema(kind: Kind) -> Value {
    let mut properties = serde_json::Map::new();
    properties.insert("apiVersion".into(), json!({"type": "string"}));
    properties.insert("kind".into(), json!({"type": "string"}));
    properties.insert("metadata".into(), reference(OBJECT_META));
    match kind {
        Kind::Secret => {
            properties.insert(
                "data".into(),
                json!({"type": "object", "additionalProperties": {"type": "string", "format": "byte"}}),
            );
            properties.insert("stringData".into(), string_map());
            properties.insert("type".into(), json!({"type": "string"}));
            properties.insert("immutable".into(), json!({"type": "boolean"}));
        }
        Kind::Namespace => {
            properties.insert("spec".into(), json!({"type": "object", "properties": {"finalizers": {"type": "array", "items": {"type": "string", "default": ""}, "x-kubernetes-list-type": "atomic"}}}));
            properties.insert(
                "status".into(),
                json!({"type": "object", "properties": {"phase": {"type": "string"}}}),
            );
        }
        Kind::RootTrustPolicy | Kind::Deployment | Kind::Certificate => {
            properties.insert(
                "spec".into(),
                json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            );
            properties.insert(
                "status".into(),
                json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            );
        }
    }
    json!({
        "type": "object",
        "properties": properties,
        "x-kubernetes-group-version-kind": [gvk(kind)],
    })
}

/// ObjectMeta and what it refers to, with the patch strategies kubectl reads.
fn meta_schemas() -> serde_json::Map<String, Value> {
    let mut schemas = serde_json::Map::new();
    schemas.insert(
        OBJECT_META.into(),
        json!({
            "type": "object",
            "properties": {
                "annotations": string_map(),
                "creationTimestamp": {"type": "string", "format": "date-time"},
                "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
                "deletionTimestamp": {"type": "string", "format": "date-time"},
                "finalizers": {"type": "array", "items": {"type": "string", "default": ""},
                    "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"},
                "generateName": {"type": "string"},
                "generation": {"type": "integer", "format": "int64"},
                "labels": string_map(),
                "managedFields": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "x-kubernetes-list-type": "atomic"},
                "name": {"type": "string"},
                "namespace": {"type": "string"},
                "ownerReferences": {"type": "array",
                    "items": reference("io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference"),
                    "x-kubernetes-list-map-keys": ["uid"], "x-kubernetes-list-type": "map",
                    "x-kubernetes-patch-merge-key": "uid", "x-kubernetes-patch-strategy": "merge"},
                "resourceVersion": {"type": "string"},
                "selfLink": {"type": "string"},
                "uid": {"type": "string"},
            },
        }),
    );
    schemas.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Patch".into(),
        json!({"type": "object", "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body."}),
    );
    schemas.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference".into(),
        json!({
            "type": "object",
            "required": ["apiVersion", "kind", "name", "uid"],
            "properties": {
                "apiVersion": {"type": "string", "default": ""},
                "blockOwnerDeletion": {"type": "boolean"},
                "controller": {"type": "boolean"},
                "kind": {"type": "string", "default": ""},
                "name": {"type": "string", "default": ""},
                "uid": {"type": "string", "default": ""},
            },
            "x-kubernetes-map-type": "atomic",
        }),
    );
    schemas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_documents_advertise_field_validation() {
        let root = openapi_root(true);
        assert!(root["paths"]["api/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap()
            .starts_with("/openapi/v3/api/v1?hash="));
        let doc = openapi_document("api/v1", true).unwrap();
        let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/secrets/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Secret");
        assert!(patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation"));
        assert!(openapi_document("apis/admin.gloo.solo.io/v2", false).is_none());
        assert!(openapi_root(false)["paths"]
            .get("apis/admin.gloo.solo.io/v2")
            .is_none());
    }
}
