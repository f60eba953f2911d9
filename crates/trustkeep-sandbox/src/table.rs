//! `meta.k8s.io/v1` Table answers, which `kubectl get` asks for (`Accept: ...;as=Table`): the
//! columns the real server prints for Secrets (NAME TYPE DATA AGE), Namespaces (NAME STATUS
//! AGE) and custom resources (NAME AGE).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::kinds::Kind;
use super::objects::str_at;

/// Whether an Accept header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .any(|t| t.split(';').any(|p| p.trim() == "as=Table"))
}

/// What rows carry besides cells (`includeObject`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(v: Option<&str>) -> IncludeObject {
        match v {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

fn column(name: &str, kind: &str, format: &str, description: &str) -> Value {
    json!({"name": name, "type": kind, "format": format, "description": description, "priority": 0})
}

fn columns(kind: Kind) -> Vec<Value> {
    let name = column(
        "Name",
        "string",
        "name",
        "Name must be unique within a namespace.",
    );
    let age = column("Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.");
    match kind {
        Kind::Secret => vec![
            name,
            column(
                "Type",
                "string",
                "",
                "Used to facilitate programmatic handling of secret data.",
            ),
            column("Data", "integer", "", "Data contains the secret data."),
            age,
        ],
        Kind::Namespace => vec![
            name,
            column("Status", "string", "", "The status of the namespace"),
            age,
        ],
        Kind::RootTrustPolicy | Kind::Deployment | Kind::Certificate => vec![name, age],
    }
}

/// Go's `duration.HumanDuration`, as kubectl's AGE column shows it.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let s = seconds.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    match () {
        _ if s < 120 => format!("{s}s"),
        _ if m < 10 && s % 60 == 0 => format!("{m}m"),
        _ if m < 10 => format!("{m}m{}s", s % 60),
        _ if m < 180 => format!("{m}m"),
        _ if h < 8 && m % 60 == 0 => format!("{h}h"),
        _ if h < 8 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if h < 192 && h % 24 == 0 => format!("{d}d"),
        _ if h < 192 => format!("{d}d{}h", h % 24),
        _ if h < 24 * 365 * 2 => format!("{d}d"),
        _ if h < 24 * 365 * 8 && d % 365 == 0 => format!("{}y", d / 365),
        _ if h < 24 * 365 * 8 => format!("{}y{}d", d / 365, d % 365),
        _ => format!("{}y", d / 365),
    }
}

fn age(object: &Value, now: DateTime<Utc>) -> String {
    str_at(object, &["metadata", "creationTimestamp"])
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(
            || "<unknown>".to_string(),
            |t| human_duration((now - t.with_timezone(&Utc)).num_seconds()),
        )
}

fn cells(kind: Kind, object: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let name = json!(str_at(object, &["metadata", "name"]).unwrap_or_default());
    let age = json!(age(object, now));
    match kind {
        Kind::Secret => {
            let count = object
                .get("data")
                .and_then(Value::as_object)
                .map_or(0, |d| d.len());
            let t = str_at(object, &["type"]).unwrap_or("Opaque");
            vec![name, json!(t), json!(count), age]
        }
        Kind::Namespace => {
            let phase = str_at(object, &["status", "phase"]).unwrap_or("Active");
            vec![name, json!(phase), age]
        }
        Kind::RootTrustPolicy | Kind::Deployment | Kind::Certificate => vec![name, age],
    }
}

fn row_object(object: &Value, include: IncludeObject) -> Option<Value> {
    match include {
        IncludeObject::None => None,
        IncludeObject::Object => Some(object.clone()),
        IncludeObject::Metadata => Some(json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": object.get("metadata").cloned().unwrap_or(json!({})),
        })),
    }
}

/// The Table of `items` of `kind`.
pub fn table(kind: Kind, items: &[Value], revision: &str, include: IncludeObject) -> Value {
    let now = Utc::now();
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut row = json!({"cells": cells(kind, o, now)});
            if let (Some(obj), Some(m)) = (row_object(o, include), row.as_object_mut()) {
                m.insert("object".into(), obj);
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": revision},
        "columnDefinitions": columns(kind),
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_kubectl_prints_them() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(3600 * 5 + 60), "5h1m");
        assert_eq!(human_duration(86400 * 3 + 3600), "3d1h");
        assert_eq!(human_duration(86400 * 30), "30d");
        assert_eq!(human_duration(86400 * 365 * 3), "3y");
    }

    #[test]
    fn accept_headers() {
        assert!(wants_table(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(!wants_table("application/json"));
    }

    #[test]
    fn secret_rows() {
        let s = json!({"metadata": {"name": "a", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
        let t = table(Kind::Secret, &[s], "7", IncludeObject::Metadata);
        assert_eq!(t["rows"][0]["cells"][0], "a");
        assert_eq!(t["rows"][0]["cells"][1], "kubernetes.io/tls");
        assert_eq!(t["rows"][0]["cells"][2], 2);
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    }
}
