//! Kubernetes `Status` answers: the errors the sandbox serves (NotFound, AlreadyExists,
//! Conflict, Invalid, Forbidden, ...) with the messages, reasons and details the real API
//! server uses, and the success Status of a delete.

use serde_json::{json, Map, Value};

use super::kinds::Kind;

/// The user every request is made as, in Forbidden messages.
pub const SANDBOX_USER: &str = "trustkeep-sandbox";

/// An error answer: HTTP status `code` with a `Status` body.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

/// One field error of an Invalid answer, e.g. `data[tls.key]: Required value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Cause {
    pub field: String,
    pub reason: &'static str,
    pub message: String,
}

impl Cause {
    pub fn required(field: impl Into<String>) -> Cause {
        Cause {
            field: field.into(),
            reason: "FieldValueRequired",
            message: "Required value".into(),
        }
    }

    /// `Invalid value: "<value>": <detail>`.
    pub fn invalid(field: impl Into<String>, value: &str, detail: &str) -> Cause {
        Cause {
            field: field.into(),
            reason: "FieldValueInvalid",
            message: format!("Invalid value: {}: {detail}", quote(value)),
        }
    }

    pub fn forbidden(field: impl Into<String>, detail: &str) -> Cause {
        Cause {
            field: field.into(),
            reason: "FieldValueForbidden",
            message: format!("Forbidden: {detail}"),
        }
    }

    pub fn too_long(field: impl Into<String>, max: usize) -> Cause {
        Cause {
            field: field.into(),
            reason: "FieldValueTooLong",
            message: format!("Too long: must have at most {max} bytes"),
        }
    }

    fn text(&self) -> String {
        format!("{}: {}", self.field, self.message)
    }
}

/// A string as Go's `%q` prints it (close enough: JSON string syntax).
pub fn quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    /// `secrets "x" not found`.
    pub fn not_found(kind: Kind, name: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!("{} {} not found", kind.qualified(), quote(name)),
        )
        .with_details(resource_details(kind, Some(name)))
    }

    /// What the server answers for a path it does not serve.
    pub fn no_such_path() -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    pub fn already_exists(kind: Kind, name: &str) -> ApiError {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} {} already exists", kind.qualified(), quote(name)),
        )
        .with_details(resource_details(kind, Some(name)))
    }

    /// `Operation cannot be fulfilled on secrets "x": <why>`.
    pub fn conflict(kind: Kind, name: &str, why: &str) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} {}: {why}",
                kind.qualified(),
                quote(name)
            ),
        )
        .with_details(resource_details(kind, Some(name)))
    }

    /// The stale-resourceVersion conflict.
    pub fn modified(kind: Kind, name: &str) -> ApiError {
        ApiError::conflict(
            kind,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// `Secret "x" is invalid: <causes>`, HTTP 422.
    pub fn invalid(kind: Kind, name: &str, causes: Vec<Cause>) -> ApiError {
        let texts: Vec<String> = causes.iter().map(Cause::text).collect();
        let joined = match texts.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let mut details = Map::new();
        details.insert("name".into(), json!(name));
        if !kind.is_core() {
            details.insert("group".into(), json!(kind.group()));
        }
        details.insert("kind".into(), json!(kind.kind()));
        let causes: Vec<Value> = causes
            .iter()
            .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
            .collect();
        details.insert("causes".into(), Value::Array(causes));
        ApiError::new(
            422,
            "Invalid",
            format!("{} {} is invalid: {joined}", kind.kind(), quote(name)),
        )
        .with_details(Value::Object(details))
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    /// A body that cannot be decoded as the kind: `Secret in version "v1" cannot be handled as a
    /// Secret: <detail>`.
    pub fn undecodable(kind: Kind, detail: &str) -> ApiError {
        ApiError::bad_request(format!(
            "{} in version {} cannot be handled as a {}: {detail}",
            kind.kind(),
            quote(kind.version()),
            kind.kind()
        ))
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(401, "Unauthorized", "Unauthorized")
    }

    /// The RBAC-style refusal of `verb` on `kind` (`name` and `namespace` when the request has
    /// them).
    pub fn forbidden(
        verb: &str,
        kind: Kind,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> ApiError {
        let subject = match name {
            Some(n) => format!("{} {}", kind.qualified(), quote(n)),
            None => kind.qualified(),
        };
        let scope = match namespace {
            Some(ns) => format!("in the namespace {}", quote(ns)),
            None => "at the cluster scope".to_string(),
        };
        ApiError::new(
            403,
            "Forbidden",
            format!(
                "{subject} is forbidden: User {} cannot {verb} resource {} in API group {} {scope}",
                quote(SANDBOX_USER),
                quote(kind.plural()),
                quote(kind.group()),
            ),
        )
        .with_details(resource_details(kind, name))
    }

    /// A refusal that is not about permissions, e.g. deleting `kube-system`.
    pub fn forbidden_because(kind: Kind, name: &str, why: &str) -> ApiError {
        ApiError::new(
            403,
            "Forbidden",
            format!("{} {} is forbidden: {why}", kind.qualified(), quote(name)),
        )
        .with_details(resource_details(kind, Some(name)))
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
        .with_details(json!({}))
    }

    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            413,
            "RequestEntityTooLarge",
            format!("the request body is larger than {limit} bytes"),
        )
    }

    pub fn unsupported_media(content_type: &str, accepted: &str) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format ({content_type}) - accepted media types include: {accepted}"
            ),
        )
    }

    /// The `Status` body.
    pub fn status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        });
        if let (Some(d), Some(obj)) = (&self.details, v.as_object_mut()) {
            obj.insert("details".into(), d.clone());
        }
        if let Some(obj) = v.as_object_mut() {
            obj.insert("code".into(), json!(self.code));
        }
        v
    }
}

/// `{"name": .., "group": .., "kind": "<plural>"}` as in NotFound and friends.
fn resource_details(kind: Kind, name: Option<&str>) -> Value {
    let mut d = Map::new();
    if let Some(n) = name {
        d.insert("name".into(), json!(n));
    }
    if !kind.is_core() {
        d.insert("group".into(), json!(kind.group()));
    }
    d.insert("kind".into(), json!(kind.plural()));
    Value::Object(d)
}

/// The Status a successful delete answers.
pub fn deleted(kind: Kind, name: &str, uid: Option<&str>) -> Value {
    let mut details = resource_details(kind, Some(name));
    if let (Some(u), Some(d)) = (uid, details.as_object_mut()) {
        d.insert("uid".into(), json!(u));
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_the_api_server() {
        let e = ApiError::not_found(Kind::Secret, "x");
        assert_eq!(
            e.status(),
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message":"secrets \"x\" not found","reason":"NotFound",
                "details":{"name":"x","kind":"secrets"},"code":404})
        );
        let e = ApiError::forbidden("get", Kind::Secret, Some("gloo-mesh"), Some("x"));
        assert_eq!(
            e.message,
            "secrets \"x\" is forbidden: User \"trustkeep-sandbox\" cannot get resource \"secrets\" in API group \"\" in the namespace \"gloo-mesh\""
        );
        let e = ApiError::forbidden("list", Kind::RootTrustPolicy, None, None);
        assert!(e
            .message
            .ends_with("in API group \"admin.gloo.solo.io\" at the cluster scope"));
        let e = ApiError::invalid(
            Kind::Secret,
            "s",
            vec![
                Cause::required("data[tls.crt]"),
                Cause::required("data[tls.key]"),
            ],
        );
        assert_eq!(
            e.message,
            "Secret \"s\" is invalid: [data[tls.crt]: Required value, data[tls.key]: Required value]"
        );
        assert_eq!(e.code, 422);
    }
}
