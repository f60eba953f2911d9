//! Label and field selectors of list requests (`labelSelector`, `fieldSelector`), parsed and
//! matched as the API server does. Label selectors support `=`, `==`, `!=`, `in`, `notin`,
//! `key` and `!key`, joined by commas (AND). Field selectors support `metadata.name`,
//! `metadata.namespace` and, per kind, `type` (Secrets) or `status.phase` (Namespaces).

use serde_json::Value;

use super::kinds::Kind;
use super::names;
use super::objects::str_at;
use super::status::ApiError;

#[derive(Clone, Debug, PartialEq)]
enum LabelOp {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
}

#[derive(Clone, Debug, PartialEq)]
struct LabelReq {
    key: String,
    op: LabelOp,
}

#[derive(Clone, Debug, PartialEq)]
struct FieldReq {
    path: &'static [&'static str],
    value: String,
    equal: bool,
}

/// The selectors of one list request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selector {
    labels: Vec<LabelReq>,
    fields: Vec<FieldReq>,
}

impl Selector {
    /// Parses the `labelSelector` and `fieldSelector` of a request for `kind`.
    pub fn parse(kind: Kind, labels: Option<&str>, fields: Option<&str>) -> Result<Self, ApiError> {
        Ok(Selector {
            labels: labels.map(parse_labels).transpose()?.unwrap_or_default(),
            fields: fields
                .map(|f| parse_fields(kind, f))
                .transpose()?
                .unwrap_or_default(),
        })
    }

    pub fn matches(&self, object: &Value) -> bool {
        let labels = object
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object);
        let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.labels.iter().all(|r| label_matches(r, label(&r.key)))
            && self.fields.iter().all(|r| {
                let actual = str_at(object, r.path).unwrap_or_default();
                (actual == r.value) == r.equal
            })
    }
}

fn label_matches(req: &LabelReq, actual: Option<&str>) -> bool {
    match (&req.op, actual) {
        (LabelOp::Exists, a) => a.is_some(),
        (LabelOp::NotExists, a) => a.is_none(),
        (LabelOp::Eq(v), Some(a)) => a == v,
        (LabelOp::In(vs), Some(a)) => vs.iter().any(|v| v == a),
        (LabelOp::Eq(_) | LabelOp::In(_), None) => false,
        (LabelOp::NotEq(v), a) => a != Some(v.as_str()),
        (LabelOp::NotIn(vs), a) => a.is_none_or(|a| vs.iter().all(|v| v != a)),
    }
}

/// Splits on commas outside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn bad_label(req: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "unable to parse requirement: {:?}: {why}",
        req.trim()
    ))
}

fn parse_labels(selector: &str) -> Result<Vec<LabelReq>, ApiError> {
    if selector.trim().is_empty() {
        return Ok(vec![]);
    }
    split_top_level(selector)
        .into_iter()
        .map(parse_label_req)
        .collect()
}

fn check_key(req: &str, key: &str) -> Result<String, ApiError> {
    names::qualified_name(key)
        .map_err(|m| bad_label(req, &format!("invalid label key {key:?}: {m}")))?;
    Ok(key.to_string())
}

fn check_value(req: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    names::label_value(value)
        .map_err(|m| bad_label(req, &format!("invalid label value {value:?}: {m}")))?;
    Ok(value.to_string())
}

fn parse_label_req(req: &str) -> Result<LabelReq, ApiError> {
    let r = req.trim();
    if let Some(key) = r.strip_prefix('!') {
        let key = check_key(req, key.trim())?;
        return Ok(LabelReq {
            key,
            op: LabelOp::NotExists,
        });
    }
    for (sep, neg) in [("!=", true), ("==", false), ("=", false)] {
        if let Some((k, v)) = r.split_once(sep) {
            let key = check_key(req, k.trim())?;
            let value = check_value(req, v)?;
            let op = if neg {
                LabelOp::NotEq(value)
            } else {
                LabelOp::Eq(value)
            };
            return Ok(LabelReq { key, op });
        }
    }
    let words: Vec<&str> = r.splitn(2, char::is_whitespace).collect();
    match words.as_slice() {
        [key] => Ok(LabelReq {
            key: check_key(req, key)?,
            op: LabelOp::Exists,
        }),
        [key, rest] => parse_set_req(req, key, rest.trim()),
        _ => Err(bad_label(req, "found '', expected: identifier")),
    }
}

fn parse_set_req(req: &str, key: &str, rest: &str) -> Result<LabelReq, ApiError> {
    let (neg, list) = if let Some(l) = rest.strip_prefix("notin") {
        (true, l)
    } else if let Some(l) = rest.strip_prefix("in") {
        (false, l)
    } else {
        return Err(bad_label(
            req,
            "expected one of '=', '==', '!=', 'in', 'notin'",
        ));
    };
    let inner = list
        .trim()
        .strip_prefix('(')
        .and_then(|l| l.strip_suffix(')'))
        .ok_or_else(|| bad_label(req, "expected a parenthesized list of values"))?;
    let values = inner
        .split(',')
        .map(|v| check_value(req, v))
        .collect::<Result<Vec<_>, _>>()?;
    let key = check_key(req, key)?;
    let op = if neg {
        LabelOp::NotIn(values)
    } else {
        LabelOp::In(values)
    };
    Ok(LabelReq { key, op })
}

/// The field paths a field selector may use for `kind`.
fn field_path(kind: Kind, label: &str) -> Option<&'static [&'static str]> {
    match (kind, label) {
        (_, "metadata.name") => Some(&["metadata", "name"]),
        (_, "metadata.namespace") => Some(&["metadata", "namespace"]),
        (Kind::Secret, "type") => Some(&["type"]),
        (Kind::Namespace, "status.phase") => Some(&["status", "phase"]),
        _ => None,
    }
}

fn parse_fields(kind: Kind, selector: &str) -> Result<Vec<FieldReq>, ApiError> {
    if selector.trim().is_empty() {
        return Ok(vec![]);
    }
    selector
        .split(',')
        .map(|req| parse_field_req(kind, req))
        .collect()
}

fn parse_field_req(kind: Kind, req: &str) -> Result<FieldReq, ApiError> {
    let (label, value, equal) = if let Some((l, v)) = req.split_once("!=") {
        (l, v, false)
    } else if let Some((l, v)) = req.split_once("==") {
        (l, v, true)
    } else if let Some((l, v)) = req.split_once('=') {
        (l, v, true)
    } else {
        return Err(ApiError::bad_request(format!(
            "invalid selector: '{req}'; can't understand '{req}'"
        )));
    };
    let label = label.trim();
    let path = field_path(kind, label).ok_or_else(|| {
        ApiError::bad_request(format!(
            "\"{label}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        ))
    })?;
    Ok(FieldReq {
        path,
        value: value.trim().to_string(),
        equal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "n", "namespace": "ns", "labels": labels}, "type": "Opaque"})
    }

    fn sel(l: &str) -> Selector {
        Selector::parse(Kind::Secret, Some(l), None).unwrap()
    }

    #[test]
    fn label_selectors() {
        let o = obj(json!({"app": "web", "tier": "front"}));
        assert!(sel("app=web").matches(&o));
        assert!(sel("app==web,tier").matches(&o));
        assert!(!sel("app!=web").matches(&o));
        assert!(sel("missing!=x").matches(&o));
        assert!(sel("!missing").matches(&o));
        assert!(!sel("!app").matches(&o));
        assert!(sel("app in (db, web)").matches(&o));
        assert!(!sel("app notin (db,web)").matches(&o));
        assert!(sel("x notin (a)").matches(&o));
        assert!(sel("").matches(&o));
        assert!(Selector::parse(Kind::Secret, Some("a=(b"), None).is_err());
        assert!(Selector::parse(Kind::Secret, Some("a b"), None).is_err());
    }

    #[test]
    fn field_selectors() {
        let o = obj(json!({}));
        let f = |s: &str| Selector::parse(Kind::Secret, None, Some(s));
        assert!(f("metadata.name=n").unwrap().matches(&o));
        assert!(f("metadata.namespace==ns,type=Opaque").unwrap().matches(&o));
        assert!(!f("type!=Opaque").unwrap().matches(&o));
        assert_eq!(f("spec.x=1").err().unwrap().code, 400);
        assert!(Selector::parse(Kind::Namespace, None, Some("type=x")).is_err());
    }
}
