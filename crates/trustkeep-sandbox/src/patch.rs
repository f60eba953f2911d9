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
    /// The format of a PATCH body of media type `media` (lowercase, without parameters).
    pub fn from_media_type(media: &str) -> Option<PatchKind> {
        match media {
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

/// The most operations a JSON patch may have (the API server's limit).
pub const MAX_JSON_PATCH_OPS: usize = 10_000;

/// Why a JSON patch was not applied.
#[derive(Debug, PartialEq, Eq)]
pub enum PatchError {
    /// A malformed operation, a missing path, a failed test (422).
    Invalid(String),
    /// Too many operations, or a document or copies growing past the limit (413).
    TooLarge(String),
}

impl From<String> for PatchError {
    fn from(message: String) -> Self {
        PatchError::Invalid(message)
    }
}

impl From<&str> for PatchError {
    fn from(message: &str) -> Self {
        PatchError::Invalid(message.to_string())
    }
}

/// The length of `v` serialized as JSON, without allocating it.
fn json_size(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a Value to a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut count, v);
    count.0
}

/// What an object member adds besides its value: the quoted key, `:` and `,`.
fn member_overhead(key: &str) -> usize {
    key.len() + 4
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

fn find<'a>(doc: &'a Value, pointer: &str) -> Result<&'a Value, String> {
    doc.pointer(pointer)
        .ok_or_else(|| format!("no value at {pointer:?}"))
}

fn op_str<'a>(op: &'a Value, field: &str) -> Result<&'a str, String> {
    op.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("operation has no {field:?}"))
}

/// Applies operations to one document, keeping its serialized size and the bytes copied so
/// far under `max`, checked before anything grows.
struct Applier {
    /// The size of the document as JSON (approximately: exact for what operations add).
    size: usize,
    /// The bytes `copy` operations have duplicated.
    copied: usize,
    max: usize,
}

impl Applier {
    fn too_large(&self) -> PatchError {
        PatchError::TooLarge(format!(
            "the patched object would be larger than {} bytes",
            self.max
        ))
    }

    /// Accounts for `by` more bytes, unless that exceeds the limit.
    fn grow(&mut self, by: usize) -> Result<(), PatchError> {
        match self.size.checked_add(by) {
            Some(size) if size <= self.max => {
                self.size = size;
                Ok(())
            }
            _ => Err(self.too_large()),
        }
    }

    fn shrink(&mut self, by: usize) {
        self.size = self.size.saturating_sub(by);
    }

    /// Adds `value`, of serialized size `size`, at `pointer`.
    fn add(
        &mut self,
        doc: &mut Value,
        pointer: &str,
        value: Value,
        size: usize,
    ) -> Result<(), PatchError> {
        let tokens = pointer_tokens(pointer)?;
        if tokens.is_empty() {
            if size > self.max {
                return Err(self.too_large());
            }
            self.size = size;
            *doc = value;
            return Ok(());
        }
        let (container, last) = parent(doc, &tokens)?;
        match container {
            Value::Object(m) => {
                match m.get(last) {
                    Some(old) => {
                        let old = json_size(old);
                        self.shrink(old);
                        self.grow(size)?;
                    }
                    None => self.grow(size + member_overhead(last))?,
                }
                m.insert(last.to_string(), value);
            }
            Value::Array(a) => {
                let i = array_index(last, a.len(), true)?;
                self.grow(size + 1)?;
                a.insert(i, value);
            }
            _ => return Err(format!("cannot add to a scalar at {pointer:?}").into()),
        }
        Ok(())
    }

    /// Removes the value at `pointer`; returns it and its serialized size.
    fn remove(&mut self, doc: &mut Value, pointer: &str) -> Result<(Value, usize), PatchError> {
        let tokens = pointer_tokens(pointer)?;
        let (container, last) = parent(doc, &tokens)?;
        let (value, overhead) = match container {
            Value::Object(m) => (
                m.remove(last)
                    .ok_or_else(|| format!("no value at {pointer:?}"))?,
                member_overhead(last),
            ),
            Value::Array(a) => {
                let i = array_index(last, a.len(), false)?;
                (a.remove(i), 1)
            }
            _ => return Err(format!("no value at {pointer:?}").into()),
        };
        let size = json_size(&value);
        self.shrink(size + overhead);
        Ok((value, size))
    }

    fn apply(&mut self, doc: &mut Value, op: &Value) -> Result<(), PatchError> {
        let path = op_str(op, "path")?;
        let value = || op.get("value").ok_or("operation has no \"value\"");
        match op_str(op, "op")? {
            "add" => {
                let v = value()?;
                self.add(doc, path, v.clone(), json_size(v))
            }
            "remove" => self.remove(doc, path).map(drop),
            "replace" => {
                let v = value()?;
                self.remove(doc, path)?;
                self.add(doc, path, v.clone(), json_size(v))
            }
            "move" => {
                let (v, size) = self.remove(doc, op_str(op, "from")?)?;
                self.add(doc, path, v, size)
            }
            "copy" => {
                // Measured before anything is cloned: copies can double a document each time.
                let source = find(doc, op_str(op, "from")?)?;
                let size = json_size(source);
                self.copied = self.copied.saturating_add(size);
                if self.copied > self.max {
                    return Err(PatchError::TooLarge(format!(
                        "the copy operations of the patch copy more than {} bytes",
                        self.max
                    )));
                }
                if self.size.saturating_add(size) > self.max {
                    return Err(self.too_large());
                }
                let v = source.clone();
                self.add(doc, path, v, size)
            }
            "test" => {
                if find(doc, path)? == value()? {
                    Ok(())
                } else {
                    Err(format!("testing value {path} failed").into())
                }
            }
            other => Err(format!("unknown operation {other:?}").into()),
        }
    }
}

/// RFC 6902: applies every operation in order; all or nothing. At most
/// [`MAX_JSON_PATCH_OPS`] operations; the document may not grow past `max_bytes` as JSON, nor
/// may copies duplicate more than `max_bytes` in all (the API server's limits).
pub fn json_patch(target: &mut Value, ops: &Value, max_bytes: usize) -> Result<(), PatchError> {
    let ops = ops
        .as_array()
        .ok_or("a JSON patch must be an array of operations")?;
    if ops.len() > MAX_JSON_PATCH_OPS {
        return Err(PatchError::TooLarge(format!(
            "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPS}, got {}",
            ops.len()
        )));
    }
    let mut applier = Applier {
        size: json_size(target),
        copied: 0,
        max: max_bytes,
    };
    let mut doc = target.clone();
    for op in ops {
        applier.apply(&mut doc, op)?;
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

    const MAX: usize = 1 << 20;

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
            MAX,
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
            MAX,
        );
        assert!(e.is_err());
        assert_eq!(t, before, "failed patches change nothing");
    }

    #[test]
    fn json_patch_limits() {
        let mut doc = json!({"x": ["a".repeat(100)]});
        let mut ops = vec![];
        for _ in 0..20 {
            ops.push(json!({"op": "copy", "from": "/x", "path": "/x/-"}));
        }
        let e = json_patch(&mut doc, &Value::Array(ops.clone()), 1 << 16).unwrap_err();
        assert!(matches!(e, PatchError::TooLarge(_)), "{e:?}");
        assert_eq!(doc, json!({"x": ["a".repeat(100)]}));
        json_patch(&mut doc, &Value::Array(ops[..5].to_vec()), 1 << 16).unwrap();
        assert_eq!(doc["x"].as_array().unwrap().len(), 6);
        assert!(json_size(&doc) < 1 << 16);

        // Growth through adds, and the size accounting through remove and move.
        let mut doc = json!({});
        let big = json!("b".repeat(1000));
        let grow = |n: usize| -> Value {
            (0..n)
                .map(|i| json!({"op": "add", "path": format!("/k{i}"), "value": big}))
                .collect()
        };
        assert!(matches!(
            json_patch(&mut doc, &grow(5), 4096),
            Err(PatchError::TooLarge(_))
        ));
        json_patch(&mut doc, &grow(3), 4096).unwrap();
        let churn: Vec<Value> = (0..1000)
            .flat_map(|_| {
                [
                    json!({"op": "move", "from": "/k0", "path": "/k9"}),
                    json!({"op": "move", "from": "/k9", "path": "/k0"}),
                    json!({"op": "replace", "path": "/k1", "value": big}),
                ]
            })
            .collect();
        json_patch(&mut doc, &Value::Array(churn), 4096).expect("no growth, no refusal");
        assert_eq!(doc.as_object().unwrap().len(), 3);
        assert_eq!(doc["k0"], big);

        let too_many = Value::Array(vec![
            json!({"op": "test", "path": "", "value": {}});
            MAX_JSON_PATCH_OPS + 1
        ]);
        assert_eq!(
            json_patch(&mut json!({}), &too_many, MAX),
            Err(PatchError::TooLarge(
                "The allowed maximum operations in a JSON patch is 10000, got 10001".into()
            ))
        );
    }
}
