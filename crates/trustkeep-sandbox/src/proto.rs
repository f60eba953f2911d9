//! Request bodies in the Kubernetes protobuf encoding (`application/vnd.kubernetes.protobuf`),
//! which kubectl's typed clients send (`kubectl create secret ...`, `kubectl create
//! namespace`): the `k8s\0` envelope around `runtime.Unknown`, and the Secret, Namespace and
//! ObjectMeta messages, decoded into the JSON the rest of the sandbox works with. Answers are
//! always JSON (those clients accept it).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::kinds::Kind;

/// The prefix of every Kubernetes protobuf message.
const MAGIC: &[u8] = b"k8s\0";
/// `metav1.Time{}` (Go's zero time) in Unix seconds: a timestamp that is not set.
const ZERO_TIME: i64 = -62_135_596_800;

/// One field of a protobuf message.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint too long".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let end = end.ok_or("truncated field")?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn field(&mut self) -> Result<(u64, Wire<'a>), String> {
        let key = self.varint()?;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Wire::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "field too long")?;
                Wire::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed
            }
            other => return Err(format!("unsupported wire type {other}")),
        };
        Ok((key >> 3, wire))
    }
}

/// The fields of a message, in order.
fn fields(buf: &[u8]) -> Result<Vec<(u64, Wire<'_>)>, String> {
    let mut r = Reader { buf, pos: 0 };
    let mut out = Vec::new();
    while r.pos < buf.len() {
        out.push(r.field()?);
    }
    Ok(out)
}

fn text(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "a string field is not valid UTF-8".into())
}

/// A map entry message: key (1) and value (2).
fn entry(bytes: &[u8]) -> Result<(String, &[u8]), String> {
    let (mut key, mut value) = (String::new(), &[][..]);
    for (n, w) in fields(bytes)? {
        match (n, w) {
            (1, Wire::Bytes(b)) => key = text(b)?,
            (2, Wire::Bytes(b)) => value = b,
            _ => {}
        }
    }
    Ok((key, value))
}

/// A `metav1.Time` as RFC 3339, or `None` for the zero time.
fn time(bytes: &[u8]) -> Result<Option<String>, String> {
    let mut seconds = 0i64;
    for (n, w) in fields(bytes)? {
        if let (1, Wire::Varint(v)) = (n, w) {
            seconds = v as i64;
        }
    }
    if seconds == ZERO_TIME {
        return Ok(None);
    }
    Ok(chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

fn insert_text(m: &mut Map<String, Value>, key: &str, bytes: &[u8]) -> Result<(), String> {
    let s = text(bytes)?;
    if !s.is_empty() {
        m.insert(key.into(), Value::String(s));
    }
    Ok(())
}

fn insert_entry(m: &mut Map<String, Value>, key: &str, bytes: &[u8]) -> Result<(), String> {
    let (k, v) = entry(bytes)?;
    let map = m.entry(key).or_insert_with(|| json!({}));
    if let Value::Object(map) = map {
        map.insert(k, Value::String(text(v)?));
    }
    Ok(())
}

fn push_value(m: &mut Map<String, Value>, key: &str, value: Value) {
    if let Value::Array(a) = m.entry(key).or_insert_with(|| json!([])) {
        a.push(value);
    }
}

fn owner_reference(bytes: &[u8]) -> Result<Value, String> {
    let mut m = Map::new();
    for (n, w) in fields(bytes)? {
        match (n, w) {
            (1, Wire::Bytes(b)) => insert_text(&mut m, "kind", b)?,
            (3, Wire::Bytes(b)) => insert_text(&mut m, "name", b)?,
            (4, Wire::Bytes(b)) => insert_text(&mut m, "uid", b)?,
            (5, Wire::Bytes(b)) => insert_text(&mut m, "apiVersion", b)?,
            (6, Wire::Varint(v)) => {
                m.insert("controller".into(), json!(v != 0));
            }
            (7, Wire::Varint(v)) => {
                m.insert("blockOwnerDeletion".into(), json!(v != 0));
            }
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

fn object_meta(bytes: &[u8]) -> Result<Value, String> {
    const STRINGS: [(u64, &str); 6] = [
        (1, "name"),
        (2, "generateName"),
        (3, "namespace"),
        (4, "selfLink"),
        (5, "uid"),
        (6, "resourceVersion"),
    ];
    let mut m = Map::new();
    for (n, w) in fields(bytes)? {
        match (n, w) {
            (n, Wire::Bytes(b)) if n <= 6 => {
                let key = STRINGS.iter().find(|(i, _)| *i == n).map_or("", |(_, k)| k);
                insert_text(&mut m, key, b)?;
            }
            (7, Wire::Varint(v)) if v != 0 => {
                m.insert("generation".into(), json!(v as i64));
            }
            (8, Wire::Bytes(b)) => {
                if let Some(t) = time(b)? {
                    m.insert("creationTimestamp".into(), json!(t));
                }
            }
            (11, Wire::Bytes(b)) => insert_entry(&mut m, "labels", b)?,
            (12, Wire::Bytes(b)) => insert_entry(&mut m, "annotations", b)?,
            (13, Wire::Bytes(b)) => push_value(&mut m, "ownerReferences", owner_reference(b)?),
            (14, Wire::Bytes(b)) => push_value(&mut m, "finalizers", json!(text(b)?)),
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

fn secret(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    let mut m = Map::new();
    for (n, w) in fields(bytes)? {
        match (n, w) {
            (1, Wire::Bytes(b)) => {
                m.insert("metadata".into(), object_meta(b)?);
            }
            (2, Wire::Bytes(b)) => {
                let (k, v) = entry(b)?;
                let data = m.entry("data").or_insert_with(|| json!({}));
                if let Value::Object(d) = data {
                    d.insert(k, Value::String(STANDARD.encode(v)));
                }
            }
            (3, Wire::Bytes(b)) => insert_text(&mut m, "type", b)?,
            (4, Wire::Bytes(b)) => insert_entry(&mut m, "stringData", b)?,
            (5, Wire::Varint(v)) => {
                m.insert("immutable".into(), json!(v != 0));
            }
            _ => {}
        }
    }
    Ok(m)
}

fn namespace(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    let mut m = Map::new();
    for (n, w) in fields(bytes)? {
        match (n, w) {
            (1, Wire::Bytes(b)) => {
                m.insert("metadata".into(), object_meta(b)?);
            }
            (2, Wire::Bytes(b)) => {
                let mut spec = Map::new();
                for (n, w) in fields(b)? {
                    if let (1, Wire::Bytes(f)) = (n, w) {
                        push_value(&mut spec, "finalizers", json!(text(f)?));
                    }
                }
                m.insert("spec".into(), Value::Object(spec));
            }
            _ => {}
        }
    }
    Ok(m)
}

/// The type meta and raw message of the envelope.
fn envelope(body: &[u8]) -> Result<(String, String, &[u8]), String> {
    let inner = body
        .strip_prefix(MAGIC)
        .ok_or("the body does not start with the Kubernetes protobuf prefix")?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, w) in fields(inner)? {
        match (n, w) {
            (1, Wire::Bytes(tm)) => {
                for (n, w) in fields(tm)? {
                    match (n, w) {
                        (1, Wire::Bytes(b)) => api_version = text(b)?,
                        (2, Wire::Bytes(b)) => kind = text(b)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    Ok((api_version, kind, raw))
}

/// Decodes a protobuf request body for `kind` (Secrets and Namespaces only).
pub fn decode(kind: Kind, body: &[u8]) -> Result<Value, String> {
    let (api_version, kind_name, raw) = envelope(body)?;
    let mut object = match kind {
        Kind::Secret => secret(raw)?,
        Kind::Namespace => namespace(raw)?,
        Kind::RootTrustPolicy | Kind::Deployment | Kind::Certificate => {
            return Err("only Secrets and Namespaces are decoded from protobuf".into())
        }
    };
    if !api_version.is_empty() {
        object.insert("apiVersion".into(), json!(api_version));
    }
    if !kind_name.is_empty() {
        object.insert("kind".into(), json!(kind_name));
    }
    Ok(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn bytes_field(n: u64, b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        varint(n << 3 | 2, &mut out);
        varint(b.len() as u64, &mut out);
        out.extend_from_slice(b);
        out
    }

    fn entry(k: &str, v: &[u8]) -> Vec<u8> {
        [bytes_field(1, k.as_bytes()), bytes_field(2, v)].concat()
    }

    #[test]
    fn decodes_a_secret_as_kubectl_sends_it() {
        let mut zero = Vec::new();
        varint(8, &mut zero);
        varint(ZERO_TIME as u64, &mut zero);
        let meta = [
            bytes_field(1, b"mytls"),
            bytes_field(3, b"gloo-mesh"),
            bytes_field(8, &zero),
            bytes_field(11, &entry("app", b"x")),
        ]
        .concat();
        let secret = [
            bytes_field(1, &meta),
            bytes_field(2, &entry("tls.crt", b"CERT")),
            bytes_field(2, &entry("tls.key", b"KEY")),
            bytes_field(3, b"kubernetes.io/tls"),
        ]
        .concat();
        let type_meta = [bytes_field(1, b"v1"), bytes_field(2, b"Secret")].concat();
        let body = [
            MAGIC.to_vec(),
            bytes_field(1, &type_meta),
            bytes_field(2, &secret),
            bytes_field(3, b""),
            bytes_field(4, b""),
        ]
        .concat();
        let v = decode(Kind::Secret, &body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "mytls", "namespace": "gloo-mesh", "labels": {"app": "x"}},
                "data": {"tls.crt": "Q0VSVA==", "tls.key": "S0VZ"}, "type": "kubernetes.io/tls"})
        );
        assert!(
            decode(Kind::Secret, b"k8s\0\x0a\x05ab").is_err(),
            "truncated"
        );
        assert!(decode(Kind::Secret, b"{}").is_err());
    }
}
