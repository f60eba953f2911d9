//! What the API server does to a request body before storing it: decode it as its kind
//! (type errors are 400s, unknown fields are pruned and reported), normalize it (a Secret's
//! `stringData` becomes base64 `data`, `type` defaults to `Opaque`) and validate it (names,
//! labels, data keys, required keys of typed Secrets, immutable fields): 422 with causes.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::Engine;
use serde_json::{Map, Value};

use super::kinds::Kind;
use super::names;
use super::status::{ApiError, Cause};

/// The largest total size of a Secret's data.
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;

/// Decodes like Go's `base64.StdEncoding`, which accepts non-zero trailing bits.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// A decoded body and the unknown fields pruned from it.
pub struct Decoded {
    pub object: Value,
    pub unknown: Vec<String>,
}

/// What type a known field must have.
#[derive(Clone, Copy)]
enum Shape {
    Str,
    Int,
    Bool,
    StrMap,
    StrList,
    ObjList,
    Object,
    Any,
}

impl Shape {
    fn go_type(self) -> &'static str {
        match self {
            Shape::Str => "string",
            Shape::Int => "int64",
            Shape::Bool => "bool",
            Shape::StrMap => "map[string]string",
            Shape::StrList => "[]string",
            Shape::ObjList => "[]struct",
            Shape::Object => "struct",
            Shape::Any => "interface {}",
        }
    }

    fn accepts(self, v: &Value) -> bool {
        match self {
            Shape::Str => v.is_string(),
            Shape::Int => v.as_i64().is_some(),
            Shape::Bool => v.is_boolean(),
            Shape::StrMap => v
                .as_object()
                .is_some_and(|m| m.values().all(|x| x.is_string() || x.is_null())),
            Shape::StrList => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            Shape::ObjList => v.as_array().is_some_and(|a| a.iter().all(Value::is_object)),
            Shape::Object => v.is_object(),
            Shape::Any => true,
        }
    }
}

const METADATA_FIELDS: &[(&str, Shape)] = &[
    ("name", Shape::Str),
    ("generateName", Shape::Str),
    ("namespace", Shape::Str),
    ("selfLink", Shape::Str),
    ("uid", Shape::Str),
    ("resourceVersion", Shape::Str),
    ("generation", Shape::Int),
    ("creationTimestamp", Shape::Str),
    ("deletionTimestamp", Shape::Str),
    ("deletionGracePeriodSeconds", Shape::Int),
    ("labels", Shape::StrMap),
    ("annotations", Shape::StrMap),
    ("ownerReferences", Shape::ObjList),
    ("finalizers", Shape::StrList),
    ("managedFields", Shape::ObjList),
];

/// The top-level fields of `kind` besides apiVersion, kind and metadata.
fn kind_fields(kind: Kind) -> &'static [(&'static str, Shape)] {
    match kind {
        Kind::Secret => &[
            ("data", Shape::StrMap),
            ("stringData", Shape::StrMap),
            ("type", Shape::Str),
            ("immutable", Shape::Bool),
        ],
        Kind::Namespace => &[("spec", Shape::Object), ("status", Shape::Object)],
        Kind::RootTrustPolicy | Kind::Deployment | Kind::Certificate => {
            &[("spec", Shape::Any), ("status", Shape::Any)]
        }
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Keeps the known `fields` of `map` (type-checked), drops nulls, and returns the names of
/// the others (removed).
fn prune(
    kind: Kind,
    map: &mut Map<String, Value>,
    fields: &[(&str, Shape)],
    prefix: &str,
) -> Result<Vec<String>, ApiError> {
    let mut unknown = Vec::new();
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        let path = format!("{prefix}{key}");
        match fields.iter().find(|(f, _)| *f == key) {
            None => {
                map.remove(&key);
                unknown.push(path);
            }
            Some(_) if map.get(&key).is_some_and(Value::is_null) => {
                map.remove(&key);
            }
            Some((_, shape)) => {
                let v = map.get(&key).unwrap_or(&Value::Null);
                if !shape.accepts(v) {
                    return Err(ApiError::undecodable(
                        kind,
                        &format!(
                            "json: cannot unmarshal {} into Go struct field {}.{path} of type {}",
                            json_type(v),
                            kind.kind(),
                            shape.go_type()
                        ),
                    ));
                }
            }
        }
    }
    Ok(unknown)
}

/// Drops null values of string maps (Go decodes them as empty strings; dropping is closer to
/// what clients mean).
fn drop_null_entries(map: &mut Map<String, Value>, key: &str) {
    if let Some(Value::Object(m)) = map.get_mut(key) {
        m.retain(|_, v| !v.is_null());
    }
}

fn check_type_meta(kind: Kind, map: &Map<String, Value>) -> Result<(), ApiError> {
    let expected_version = kind.api_version();
    match map.get("apiVersion") {
        None | Some(Value::Null) => {}
        Some(Value::String(v)) if *v == expected_version => {}
        Some(Value::String(v)) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({expected_version})"
            )))
        }
        Some(other) => {
            return Err(ApiError::undecodable(
                kind,
                &format!("apiVersion must be a string, not {}", json_type(other)),
            ))
        }
    }
    match map.get("kind") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(k)) if k == kind.kind() => Ok(()),
        Some(Value::String(k)) => Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({})",
            kind.kind()
        ))),
        Some(other) => Err(ApiError::undecodable(
            kind,
            &format!("kind must be a string, not {}", json_type(other)),
        )),
    }
}

/// Type-checks `body` as `kind`, sets apiVersion and kind, and prunes unknown fields.
pub fn decode(kind: Kind, body: Value) -> Result<Decoded, ApiError> {
    let Value::Object(mut map) = body else {
        return Err(ApiError::undecodable(
            kind,
            &format!(
                "json: cannot unmarshal {} into Go value of type struct",
                json_type(&body)
            ),
        ));
    };
    check_type_meta(kind, &map)?;
    map.remove("apiVersion");
    map.remove("kind");
    let mut metadata = match map.remove("metadata") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(ApiError::undecodable(
                kind,
                &format!(
                "json: cannot unmarshal {} into Go struct field {}.metadata of type v1.ObjectMeta",
                json_type(&other),
                kind.kind()
            ),
            ))
        }
    };
    let mut unknown = prune(kind, &mut map, kind_fields(kind), "")?;
    unknown.extend(prune(kind, &mut metadata, METADATA_FIELDS, "metadata.")?);
    drop_null_entries(&mut metadata, "labels");
    drop_null_entries(&mut metadata, "annotations");
    let mut object = Map::new();
    object.insert("apiVersion".into(), Value::String(kind.api_version()));
    object.insert("kind".into(), Value::String(kind.kind().into()));
    object.insert("metadata".into(), Value::Object(metadata));
    object.extend(map);
    Ok(Decoded {
        object: Value::Object(object),
        unknown,
    })
}

/// The position Go's decoder reports for a bad base64 value.
fn base64_error(e: base64::DecodeError, len: usize) -> String {
    let at = match e {
        base64::DecodeError::InvalidByte(i, _) | base64::DecodeError::InvalidLastSymbol(i, _) => i,
        base64::DecodeError::InvalidLength(_) | base64::DecodeError::InvalidPadding => len,
    };
    format!("illegal base64 data at input byte {at}")
}

/// Decodes one `data` value as the server does (newlines ignored).
pub fn decode_base64(value: &str) -> Result<Vec<u8>, String> {
    let cleaned: String = value.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    LENIENT
        .decode(cleaned.as_bytes())
        .map_err(|e| base64_error(e, cleaned.len()))
}

/// A Secret as stored: `stringData` merged into `data` (base64, canonical), `type` defaulted
/// to `Opaque`. Bad base64 is a 400, as the real server fails to decode it.
pub fn normalize_secret(secret: &mut Value) -> Result<(), ApiError> {
    let Some(map) = secret.as_object_mut() else {
        return Ok(());
    };
    let mut data = match map.remove("data") {
        Some(Value::Object(d)) => d,
        _ => Map::new(),
    };
    for value in data.values_mut() {
        let text = value.as_str().unwrap_or_default();
        let bytes = decode_base64(text).map_err(|m| ApiError::undecodable(Kind::Secret, &m))?;
        *value = Value::String(STANDARD.encode(bytes));
    }
    if let Some(Value::Object(string_data)) = map.remove("stringData") {
        for (k, v) in string_data {
            let text = v.as_str().unwrap_or_default();
            data.insert(k, Value::String(STANDARD.encode(text.as_bytes())));
        }
    }
    if !data.is_empty() {
        map.insert("data".into(), Value::Object(data));
    }
    let typed = map
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    if !typed {
        map.insert("type".into(), Value::String("Opaque".into()));
    }
    Ok(())
}

/// Fills what the server fills in on every write of `kind`: Secret normalization, a
/// Namespace's `kubernetes.io/metadata.name` label, finalizers and phase.
pub fn normalize(kind: Kind, object: &mut Value) -> Result<(), ApiError> {
    match kind {
        Kind::Secret => normalize_secret(object),
        Kind::Namespace => {
            normalize_namespace(object);
            Ok(())
        }
        Kind::RootTrustPolicy | Kind::Deployment | Kind::Certificate => Ok(()),
    }
}

fn normalize_namespace(ns: &mut Value) {
    let name = str_at(ns, &["metadata", "name"])
        .unwrap_or_default()
        .to_string();
    let Some(map) = ns.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        let labels = meta
            .entry("labels")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(l) = labels {
            l.insert("kubernetes.io/metadata.name".into(), Value::String(name));
        }
    }
    let spec = map
        .entry("spec")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(s) = spec {
        s.entry("finalizers")
            .or_insert_with(|| serde_json::json!(["kubernetes"]));
    }
    let status = map
        .entry("status")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(s) = status {
        s.entry("phase")
            .or_insert_with(|| Value::String("Active".into()));
    }
}

/// The string at `path` in `v`.
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |cur, key| cur.get(key))
        .and_then(Value::as_str)
}

/// The keys a Secret of type `t` must have in `data`.
fn required_keys(secret_type: &str) -> &'static [&'static str] {
    match secret_type {
        "kubernetes.io/tls" => &["tls.crt", "tls.key"],
        "kubernetes.io/dockercfg" => &[".dockercfg"],
        "kubernetes.io/dockerconfigjson" => &[".dockerconfigjson"],
        "kubernetes.io/ssh-auth" => &["ssh-privatekey"],
        _ => &[],
    }
}

fn validate_name(kind: Kind, name: &str) -> Vec<Cause> {
    let check = match kind {
        Kind::Namespace => names::dns_label(name),
        Kind::Secret | Kind::RootTrustPolicy | Kind::Deployment | Kind::Certificate => {
            names::dns_subdomain(name)
        }
    };
    match check {
        Ok(()) => vec![],
        Err(m) => vec![Cause::invalid("metadata.name", name, &m)],
    }
}

fn string_map<'a>(v: &'a Value, path: &[&str]) -> impl Iterator<Item = (&'a String, &'a Value)> {
    path.iter()
        .try_fold(v, |cur, key| cur.get(key))
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.iter())
}

fn validate_labels(object: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    for (key, value) in string_map(object, &["metadata", "labels"]) {
        if let Err(m) = names::qualified_name(key) {
            causes.push(Cause::invalid("metadata.labels", key, &m));
        }
        let value = value.as_str().unwrap_or_default();
        if let Err(m) = names::label_value(value) {
            causes.push(Cause::invalid("metadata.labels", value, &m));
        }
    }
    for (key, _) in string_map(object, &["metadata", "annotations"]) {
        if let Err(m) = names::qualified_name(&key.to_lowercase()) {
            causes.push(Cause::invalid("metadata.annotations", key, &m));
        }
    }
    causes
}

fn validate_secret(secret: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let mut size = 0usize;
    let data: Vec<(&String, &Value)> = string_map(secret, &["data"]).collect();
    for (key, value) in &data {
        if let Err(m) = names::config_key(key) {
            causes.push(Cause::invalid(format!("data[{key}]"), key, &m));
        }
        size += value.as_str().map_or(0, |s| s.len() / 4 * 3);
    }
    if size > MAX_SECRET_SIZE {
        causes.push(Cause::too_long("data", MAX_SECRET_SIZE));
    }
    let secret_type = str_at(secret, &["type"]).unwrap_or("Opaque");
    for key in required_keys(secret_type) {
        if !data.iter().any(|(k, _)| k.as_str() == *key) {
            causes.push(Cause::required(format!("data[{key}]")));
        }
    }
    causes
}

/// The validation errors of a new or updated object (already decoded and normalized).
pub fn validate(kind: Kind, object: &Value) -> Vec<Cause> {
    let name = str_at(object, &["metadata", "name"]).unwrap_or_default();
    let mut causes = validate_name(kind, name);
    causes.extend(validate_labels(object));
    if kind == Kind::Secret {
        causes.extend(validate_secret(object));
    }
    causes
}

/// The errors of changing `old` into `new` that only an update can make.
pub fn validate_update(kind: Kind, old: &Value, new: &Value) -> Vec<Cause> {
    if kind != Kind::Secret {
        return vec![];
    }
    let mut causes = Vec::new();
    let old_type = str_at(old, &["type"]).unwrap_or("Opaque");
    let new_type = str_at(new, &["type"]).unwrap_or("Opaque");
    if old_type != new_type {
        causes.push(Cause::invalid("type", new_type, "field is immutable"));
    }
    if old.get("immutable") == Some(&Value::Bool(true)) {
        let detail = "field is immutable when `immutable` is set";
        if old.get("data") != new.get("data") {
            causes.push(Cause::forbidden("data", detail));
        }
        if new.get("immutable") != Some(&Value::Bool(true)) {
            causes.push(Cause::forbidden("immutable", detail));
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decode_prunes_and_reports_unknown_fields() {
        let d = decode(
            Kind::Secret,
            json!({"metadata": {"name": "a", "bogus": 1}, "data": {}, "extra": true}),
        )
        .unwrap();
        assert_eq!(d.unknown, vec!["extra", "metadata.bogus"]);
        assert_eq!(d.object["kind"], "Secret");
        assert_eq!(d.object["apiVersion"], "v1");
        assert!(d.object.get("extra").is_none());
    }

    #[test]
    fn decode_rejects_wrong_types() {
        let e = decode(
            Kind::Secret,
            json!({"metadata": {"name": "a"}, "data": {"k": 1}}),
        )
        .err()
        .unwrap();
        assert_eq!(e.code, 400);
        assert!(e.message.contains("Secret.data"), "{}", e.message);
        let e = decode(Kind::Secret, json!({"kind": "ConfigMap"}))
            .err()
            .unwrap();
        assert_eq!(e.code, 400);
    }

    #[test]
    fn secrets_are_normalized() {
        let mut s = json!({"metadata": {"name": "a"}, "data": {"a": "eB=="},
            "stringData": {"b": "hello"}});
        normalize_secret(&mut s).unwrap();
        assert_eq!(s["data"]["a"], "eA==", "canonical base64");
        assert_eq!(s["data"]["b"], "aGVsbG8=");
        assert_eq!(s["type"], "Opaque");
        assert!(s.get("stringData").is_none());
        let mut bad = json!({"data": {"a": "!!!!"}});
        let e = normalize_secret(&mut bad).err().unwrap();
        assert_eq!(e.code, 400);
        assert!(e.message.contains("illegal base64 data at input byte 0"));
    }

    #[test]
    fn tls_secrets_need_both_keys() {
        let s = json!({"metadata": {"name": "t"}, "type": "kubernetes.io/tls",
            "data": {"tls.crt": "eA=="}});
        let causes = validate(Kind::Secret, &s);
        assert_eq!(causes, vec![Cause::required("data[tls.key]")]);
    }

    #[test]
    fn type_is_immutable() {
        let old = json!({"type": "Opaque"});
        let new = json!({"type": "kubernetes.io/tls"});
        let causes = validate_update(Kind::Secret, &old, &new);
        assert_eq!(causes[0].field, "type");
        assert!(causes[0].message.ends_with("field is immutable"));
    }
}
