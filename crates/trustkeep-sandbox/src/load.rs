//! Reading objects to serve: YAML (one or more documents) or JSON text, with `List`s (and
//! typed lists such as `SecretList`) flattened into their items.

use serde_json::Value;

use super::error::SandboxError;

/// Parses `text` (YAML, possibly multi-document, or JSON) into Kubernetes objects, flattening
/// lists. Empty documents are skipped. Items of a typed list (`SecretList`) that lack `kind`
/// and `apiVersion`, as the API server writes them, get the list's.
pub fn load_objects(text: &str) -> Result<Vec<Value>, SandboxError> {
    let documents = parse(text)?;
    let mut objects = Vec::new();
    for (i, doc) in documents.into_iter().enumerate() {
        flatten(doc, &format!("document {}", i + 1), &mut objects)?;
    }
    Ok(objects)
}

fn parse(text: &str) -> Result<Vec<Value>, SandboxError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Value>(text) {
            return Ok(match v {
                Value::Array(items) => items,
                other => vec![other],
            });
        }
    }
    serde_saphyr::from_multiple::<Value>(text)
        .map_err(|e| SandboxError::Objects(format!("not valid YAML or JSON: {}", yaml_error(&e))))
}

/// A YAML error as a position and an explanation, without the snippet of the input that
/// serde_saphyr's `Display` adds: the lines around an error may hold secret data.
pub fn yaml_error(e: &serde_saphyr::Error) -> String {
    e.render_with_options(serde_saphyr::render_options! {
        formatter: &serde_saphyr::UserMessageFormatter,
        snippets: serde_saphyr::SnippetMode::Off,
    })
}

fn flatten(doc: Value, origin: &str, out: &mut Vec<Value>) -> Result<(), SandboxError> {
    if doc.is_null() {
        return Ok(());
    }
    let Some(kind) = doc.get("kind").and_then(Value::as_str) else {
        return Err(SandboxError::Objects(format!(
            "{origin} is not a Kubernetes object: it has no kind"
        )));
    };
    if !kind.ends_with("List") {
        out.push(doc);
        return Ok(());
    }
    let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
    let api_version = doc.get("apiVersion").cloned();
    let Some(Value::Array(items)) = doc.get("items").cloned() else {
        return Err(SandboxError::Objects(format!(
            "{origin} is a {kind} without items"
        )));
    };
    for (i, mut item) in items.into_iter().enumerate() {
        if let (Some(k), Some(m)) = (item_kind, item.as_object_mut()) {
            m.entry("kind")
                .or_insert_with(|| Value::String(k.to_string()));
            if let Some(v) = &api_version {
                m.entry("apiVersion").or_insert_with(|| v.clone());
            }
        }
        flatten(item, &format!("{origin} item {}", i + 1), out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_documents_and_lists() {
        let text = "---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: a}\n---\n---\nkind: SecretList\napiVersion: v1\nitems:\n- metadata: {name: b}\n";
        let objects = load_objects(text).unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[1]["kind"], "Secret");
        assert_eq!(objects[1]["apiVersion"], "v1");
    }

    #[test]
    fn json_and_errors() {
        let objects = load_objects(r#"{"kind":"Secret","metadata":{"name":"a"}}"#).unwrap();
        assert_eq!(objects.len(), 1);
        let e = load_objects("a: [").unwrap_err();
        assert!(e.to_string().starts_with("not valid YAML or JSON"), "{e}");
        let e = load_objects("data:\n  tls.key: S3CRET\n  x: [\n  y: OTHER\n").unwrap_err();
        let message = e.to_string();
        assert!(message.starts_with("not valid YAML or JSON: "), "{message}");
        assert!(message.contains("line"), "the position is kept: {message}");
        assert!(
            !message.contains("S3CRET") && !message.contains("OTHER"),
            "{message}"
        );
        let e = load_objects("a: 1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "document 1 is not a Kubernetes object: it has no kind"
        );
    }
}
