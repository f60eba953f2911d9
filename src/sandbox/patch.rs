//! The PATCH formats: JSON merge patch (RFC 7386), strategic merge patch (treated as a merge
//! patch, with its `$`-directives honoured or dropped: fine for Secrets, whose fields are
//! maps and scalars), JSON patch (RFC 6902) and server-side apply (approximated as a merge of
//! the applied configuration).

use serde_json::{Map, Value};

/// The patch format of a PATCH request, from its Content-Type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Strategic,
    Json,
    Apply,
}

/// The Content-Types a PATCH may have, for 415 answers.
pub const PATCH_TYPES: &str = "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml";

impl PatchKind {
    pub fn from_content_type(content_type: &str) -> Option<PatchKind> {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        match essence.to_ascii_lowercase().as_str() {
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
            "application/json-patch+json" => Some(PatchKind::Json),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchKind::Apply)
            }
            _ => None,
        }
    }
}

/// RFC 7386: objects merge recursively, `null` removes, anything else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else {
        return;
    };
    for (key, value) in patch_map {
        if value.is_null() {
            target_map.remove(key);
        } else {
            merge(target_map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// A strategic merge patch: `$patch: replace` / `$patch: delete` on maps are honoured, other
/// directives (`$setElementOrder/..`, `$retainKeys`, `$deleteFromPrimitiveList/..`) dropped,
/// lists replaced as in a merge patch.
pub fn strategic(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    match patch_map.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *target = strip_directives(patch);
            return;
        }
        Some("delete") => {
            *target = Value::Null;
            return;
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else {
        return;
    };
    for (key, value) in patch_map {
        if key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            target_map.remove(key);
            continue;
        }
        let slot = target_map.entry(key.clone()).or_insert(Value::Null);
        strategic(slot, value);
        if slot.is_null() {
            target_map.remove(key);
        }
    }
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// The reference tokens of a JSON pointer.
fn pointer_tokens(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(vec![]);
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid JSON pointer {pointer:?}"))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn array_index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    if allow_end && token == "-" {
        return Ok(len);
    }
    let i: usize = token
        .parse()
        .map_err(|_| format!("invalid array index {token:?}"))?;
    let max = if allow_end {
        len
    } else {
        len.saturating_sub(1)
    };
    if i > max || (!allow_end && len == 0) {
        return Err(format!("array index {i} out of bounds"));
    }
    Ok(i)
}

/// The container holding the last token of `tokens`, and that token.
fn parent<'a>(
    doc: &'a mut Value,
    tokens: &'a [String],
) -> Result<(&'a mut Value, &'a str), String> {
    let (last, path) = tokens
        .split_last()
        .ok_or_else(|| "the whole document cannot be the target".to_string())?;
    let mut cur = doc;
    for t in path {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(t)
                .ok_or_else(|| format!("missing path element {t:?}"))?,
            Value::Array(a) => {
                let i = array_index(t, a.len(), false)?;
                &mut a[i]
            }
            _ => return Err(format!("cannot descend into a scalar at {t:?}")),
        };
    }
    Ok((cur, last.as_str()))
}

fn get(doc: &Value, pointer: &str) -> Result<Value, String> {
    doc.pointer(pointer)
        .cloned()
        .ok_or_else(|| format!("no value at {pointer:?}"))
}

fn add(doc: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    let tokens = pointer_tokens(pointer)?;
    if tokens.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (container, last) = parent(doc, &tokens)?;
    match container {
        Value::Object(m) => {
            m.insert(last.to_string(), value);
        }
        Value::Array(a) => {
            let i = array_index(last, a.len(), true)?;
            a.insert(i, value);
        }
        _ => return Err(format!("cannot add to a scalar at {pointer:?}")),
    }
    Ok(())
}

fn remove(doc: &mut Value, pointer: &str) -> Result<Value, String> {
    let tokens = pointer_tokens(pointer)?;
    let (container, last) = parent(doc, &tokens)?;
    match container {
        Value::Object(m) => m
            .remove(last)
            .ok_or_else(|| format!("no value at {pointer:?}")),
        Value::Array(a) => {
            let i = array_index(last, a.len(), false)?;
            Ok(a.remove(i))
        }
        _ => Err(format!("no value at {pointer:?}")),
    }
}

fn op_str<'a>(op: &'a Value, field: &str) -> Result<&'a str, String> {
    op.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("operation has no {field:?}"))
}

fn apply_op(doc: &mut Value, op: &Value) -> Result<(), String> {
    let path = op_str(op, "path")?;
    let value = || op.get("value").cloned().ok_or("operation has no \"value\"");
    match op_str(op, "op")? {
        "add" => add(doc, path, value()?),
        "remove" => remove(doc, path).map(drop),
        "replace" => {
            remove(doc, path)?;
            add(doc, path, value()?)
        }
        "move" => {
            let v = remove(doc, op_str(op, "from")?)?;
            add(doc, path, v)
        }
        "copy" => {
            let v = get(doc, op_str(op, "from")?)?;
            add(doc, path, v)
        }
        "test" => {
            if get(doc, path)? == value()? {
                Ok(())
            } else {
                Err(format!("testing value {path} failed"))
            }
        }
        other => Err(format!("unknown operation {other:?}")),
    }
}

/// RFC 6902: applies every operation in order; all or nothing.
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or("a JSON patch must be an array of operations")?;
    let mut doc = target.clone();
    for op in ops {
        apply_op(&mut doc, op)?;
    }
    *target = doc;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch() {
        let mut t = json!({"data": {"a": "1", "b": "2"}, "type": "Opaque"});
        merge(&mut t, &json!({"data": {"a": null, "c": "3"}}));
        assert_eq!(t, json!({"data": {"b": "2", "c": "3"}, "type": "Opaque"}));
    }

    #[test]
    fn strategic_patch_directives() {
        let mut t = json!({"metadata": {"finalizers": ["a"], "labels": {"x": "1"}}});
        strategic(
            &mut t,
            &json!({"$setElementOrder/finalizers": [], "metadata": {"labels": {"$patch": "replace", "y": "2"}}}),
        );
        assert_eq!(
            t,
            json!({"metadata": {"finalizers": ["a"], "labels": {"y": "2"}}})
        );
    }

    #[test]
    fn json_patch_ops() {
        let mut t = json!({"data": {"a": "1"}, "list": [1, 2]});
        json_patch(
            &mut t,
            &json!([
                {"op": "add", "path": "/data/b", "value": "2"},
                {"op": "replace", "path": "/data/a", "value": "x"},
                {"op": "add", "path": "/list/-", "value": 3},
                {"op": "remove", "path": "/list/0"},
                {"op": "copy", "from": "/data/b", "path": "/data/c"},
                {"op": "test", "path": "/data/c", "value": "2"},
                {"op": "move", "from": "/data/c", "path": "/data/d~1e"},
            ]),
        )
        .unwrap();
        assert_eq!(
            t,
            json!({"data": {"a": "x", "b": "2", "d/e": "2"}, "list": [2, 3]})
        );
        let before = t.clone();
        let e = json_patch(
            &mut t,
            &json!([{"op": "remove", "path": "/data/a"}, {"op": "test", "path": "/x", "value": 1}]),
        );
        assert!(e.is_err());
        assert_eq!(t, before, "failed patches change nothing");
    }
}
