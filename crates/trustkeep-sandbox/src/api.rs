//! Serving one request, independent of the network: authentication (bearer token),
//! `--forbid` rules, routing to discovery documents or to the store, Table answers for
//! kubectl, and the record of the latest requests.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use http::{HeaderMap, Method};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::discovery;
use super::faults::{Action as FaultAction, Faults};
use super::forbid::Forbid;
use super::kinds::Kind;
use super::load::yaml_error;
use super::patch::{PatchKind, PATCH_TYPES};
use super::proto;
use super::route::{self, ResourceRoute, Route};
use super::select::Selector;
use super::status::ApiError;
use super::store::{list_of, FieldValidation, Preconditions, Store, WriteOptions, Written};
use super::table::{self, IncludeObject};

/// How many requests are remembered; the oldest are forgotten first.
pub const MAX_RECORDS: usize = 10_000;
/// How many bytes of a request's path, query, namespace and name are remembered.
const RECORDED_LEN: usize = 4096;
/// The same for requests without the right token, which anyone can send.
const UNAUTHENTICATED_RECORDED_LEN: usize = 128;

/// One request the sandbox served. Its path, query, namespace and name are truncated to 4 KiB
/// (128 bytes for requests without the right token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// `GET`, `POST`, ...
    pub method: String,
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The Kubernetes verb (`get`, `list`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`, `watch`); for other paths the method in lowercase.
    pub verb: String,
    /// The resource (`secrets`, `namespaces`, `roottrustpolicies`), if the path names one.
    pub resource: Option<String>,
    /// The namespace as RBAC sees it (for a Namespace, its name).
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// The fault injected, if any (`--fault`).
    pub fault: Option<FaultAction>,
    /// When the request was served.
    pub at: std::time::Instant,
}

/// Shortens `s` to at most `max` bytes, at a character boundary.
fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.shrink_to_fit();
    }
}

impl RequestRecord {
    /// Bounds what the record keeps of the request's text.
    fn truncate(&mut self, max: usize) {
        truncate(&mut self.path, max);
        for text in [&mut self.query, &mut self.namespace, &mut self.name]
            .into_iter()
            .flatten()
        {
            truncate(text, max);
        }
    }
}

/// A request, as far as serving it is concerned.
pub struct Request<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The answer: status, JSON body and `Warning` headers, and what an injected fault does to
/// its delivery.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub warnings: Vec<String>,
    /// `Retry-After` seconds (an injected 429).
    pub retry_after: Option<u64>,
    /// The fault injected into this answer; a delay, reset or timeout is for the network
    /// side to carry out.
    pub injected: Option<FaultAction>,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply {
            status: 200,
            body,
            warnings: vec![],
            retry_after: None,
            injected: None,
        }
    }

    fn written(status: u16, w: Written) -> Reply {
        Reply {
            status,
            body: w.object,
            warnings: w.warnings,
            retry_after: None,
            injected: None,
        }
    }

    pub fn error(e: &ApiError) -> Reply {
        Reply {
            status: e.code,
            body: e.status(),
            warnings: vec![],
            retry_after: None,
            injected: None,
        }
    }
}

/// Everything the request handlers share.
pub struct Shared {
    pub store: Mutex<Store>,
    /// The latest requests, at most [`MAX_RECORDS`].
    records: Mutex<VecDeque<RequestRecord>>,
    /// The SHA-256 digest of the bearer token, compared in constant time.
    token_digest: [u8; 32],
    forbid: Vec<Forbid>,
    /// RBAC enforced on top of `forbid` (see [`super::rbac`]).
    rbac: Option<super::Rbac>,
    /// Injected faults, after `forbid` and RBAC.
    faults: Faults,
    crd: bool,
    /// `host:port` the server listens on, for `/api`.
    address: String,
    /// TCP connections accepted so far (one per client with HTTP/2, one per concurrent
    /// request with HTTP/1.1).
    pub connections: std::sync::atomic::AtomicUsize,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether two digests are equal, in a time that does not depend on where they differ.
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// Locks a mutex, ignoring poisoning (no handler panics while holding one).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// What a request on a resource does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
}

impl Verb {
    /// The verb of `method` on `r`, if served. Across all namespaces, objects of namespaced
    /// kinds can only be read.
    fn of(method: &Method, r: &ResourceRoute, query: &HashMap<String, String>) -> Option<Verb> {
        let watch = r.watch || matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
        let named = r.name.is_some();
        let across_namespaces = r.kind.namespaced() && r.namespace.is_none();
        Some(match *method {
            Method::GET if watch => Verb::Watch,
            Method::GET if named => Verb::Get,
            Method::GET => Verb::List,
            _ if across_namespaces => return None,
            Method::POST if !named => Verb::Create,
            Method::PUT if named => Verb::Update,
            Method::PATCH if named => Verb::Patch,
            Method::DELETE if named => Verb::Delete,
            Method::DELETE => Verb::DeleteCollection,
            _ => return None,
        })
    }

    /// The RBAC name, e.g. `deletecollection`.
    fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }
}

fn dry_run(query: &HashMap<String, String>) -> Result<bool, ApiError> {
    match query.get("dryRun").map(String::as_str) {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "dryRun: Unsupported value: {other:?}: supported values: \"All\""
        ))),
    }
}

fn write_options(query: &HashMap<String, String>) -> Result<WriteOptions, ApiError> {
    Ok(WriteOptions {
        dry_run: dry_run(query)?,
        validation: FieldValidation::parse(query.get("fieldValidation").map(String::as_str))?,
    })
}

/// The media type of the request's Content-Type, lowercase, without parameters.
fn media_type(headers: &HeaderMap) -> String {
    header(headers, "content-type")
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Parses a request body of media type `media` (see [`media_type`]): JSON, YAML or (for
/// Secrets and Namespaces) protobuf. Error messages never quote the body.
fn parse_body(kind: Kind, media: &str, body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    if media == "application/vnd.kubernetes.protobuf" && kind.is_core() {
        return proto::decode(kind, body).map_err(|m| ApiError::undecodable(kind, &m));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::undecodable(kind, "the body is not valid UTF-8"))?;
    match media {
        "" | "application/json" | "*/*" => {
            serde_json::from_str(text).map_err(|e| ApiError::undecodable(kind, &e.to_string()))
        }
        "application/yaml" => serde_saphyr::from_str(text)
            .map_err(|e| ApiError::undecodable(kind, &format!("invalid YAML: {}", yaml_error(&e)))),
        other => Err(ApiError::unsupported_media(
            other,
            "application/json, application/yaml, application/vnd.kubernetes.protobuf",
        )),
    }
}

/// Parses the body of a write request according to its Content-Type.
fn request_body(kind: Kind, req: &Request) -> Result<Value, ApiError> {
    parse_body(kind, &media_type(req.headers), req.body)
}

/// The preconditions and dry-run flag of a DeleteOptions body (optional).
fn delete_options(req: &Request) -> Result<(Preconditions, bool), ApiError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok((Preconditions::default(), false));
    }
    let v: Value = serde_json::from_slice(req.body)
        .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?;
    let text = |k: &str| {
        v.get("preconditions")
            .and_then(|p| p.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let dry_run = v
        .get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x == "All"));
    Ok((
        Preconditions {
            uid: text("uid"),
            resource_version: text("resourceVersion"),
        },
        dry_run,
    ))
}

impl Shared {
    /// The state of a sandbox serving `store`, with bearer token `token`, answering 403 to
    /// `forbid`, with the Gloo group when `crd`, listening on `address` (`host:port`).
    pub fn new(
        store: Store,
        token: &str,
        forbid: Vec<Forbid>,
        crd: bool,
        address: String,
    ) -> Shared {
        Shared {
            store: Mutex::new(store),
            records: Mutex::new(VecDeque::new()),
            token_digest: digest(token),
            forbid,
            rbac: None,
            faults: Faults::new(Vec::new(), 0),
            crd,
            address,
            connections: Default::default(),
        }
    }

    /// The same state, injecting `faults`.
    pub fn with_faults(mut self, faults: Faults) -> Shared {
        self.faults = faults;
        self
    }

    /// The same state, enforcing `rbac` when set.
    pub fn with_rbac(mut self, rbac: Option<super::Rbac>) -> Shared {
        self.rbac = rbac;
        self
    }

    /// The latest requests served (at most [`MAX_RECORDS`]), oldest first.
    pub fn records(&self) -> Vec<RequestRecord> {
        lock(&self.records).iter().cloned().collect()
    }

    /// Forgets the requests served so far.
    pub fn clear_records(&self) {
        lock(&self.records).clear();
    }

    /// Serves `req`, records it and returns the answer.
    pub fn serve(&self, req: &Request) -> Reply {
        let authenticated = self.authenticated(req.headers);
        let route = route::route(req.path, self.crd);
        let mut record = RequestRecord {
            method: req.method.to_string(),
            path: req.path.to_string(),
            query: req.query.map(str::to_string),
            verb: req.method.as_str().to_ascii_lowercase(),
            resource: None,
            namespace: None,
            name: None,
            status: 0,
            fault: None,
            at: std::time::Instant::now(),
        };
        let reply = self
            .answer(req, authenticated, &route, &mut record)
            .unwrap_or_else(|e| Reply::error(&e));
        record.status = reply.status;
        record.fault = reply.injected;
        record.truncate(if authenticated {
            RECORDED_LEN
        } else {
            UNAUTHENTICATED_RECORDED_LEN
        });
        tracing::debug!(
            method = %record.method,
            path = %record.path,
            verb = %record.verb,
            status = record.status,
            "sandbox request"
        );
        let mut records = lock(&self.records);
        if records.len() >= MAX_RECORDS {
            records.pop_front();
        }
        records.push_back(record);
        reply
    }

    /// Whether the request carries the bearer token (compared as SHA-256 digests, in
    /// constant time).
    pub fn authenticated(&self, headers: &HeaderMap) -> bool {
        header(headers, "authorization")
            .strip_prefix("Bearer ")
            .is_some_and(|t| same_digest(&digest(t.trim()), &self.token_digest))
    }

    fn answer(
        &self,
        req: &Request,
        authenticated: bool,
        route: &Route,
        record: &mut RequestRecord,
    ) -> Result<Reply, ApiError> {
        let query = route::query(req.query);
        let mut verb = None;
        if let Route::Resource(r) = route {
            record.resource = Some(r.kind.plural().to_string());
            record.namespace = r.rbac_namespace().map(str::to_string);
            record.name = r.name.clone();
            verb = query.as_ref().ok().and_then(|q| Verb::of(req.method, r, q));
            if let Some(v) = verb {
                record.verb = v.as_str().to_string();
            }
        }
        if !authenticated {
            return Err(ApiError::unauthorized());
        }
        let query = query?;
        if let Route::Resource(r) = route {
            r.check_segments()?;
        }
        match (route, verb) {
            (Route::Resource(r), Some(verb)) => self.resource(req, r, verb, &query),
            (Route::Resource(_), None) => Err(ApiError::method_not_allowed()),
            (Route::Unknown, _) => Err(ApiError::no_such_path()),
            (other, _) if *req.method == Method::GET => self.document(other),
            _ => Err(ApiError::method_not_allowed()),
        }
    }

    fn document(&self, route: &Route) -> Result<Reply, ApiError> {
        let body = match route {
            Route::Version => discovery::version(),
            Route::CoreVersions => discovery::core_versions(&self.address),
            Route::CoreResources => discovery::core_resources(),
            Route::Groups => discovery::groups(self.crd),
            Route::Group(g) => discovery::group_document(g),
            Route::GroupResources(g) => discovery::group_resources(g),
            Route::OpenApiRoot => discovery::openapi_root(self.crd),
            Route::OpenApi(path) => {
                discovery::openapi_document(path, self.crd).ok_or_else(ApiError::no_such_path)?
            }
            Route::Resource(_) | Route::Unknown => return Err(ApiError::no_such_path()),
        };
        Ok(Reply::ok(body))
    }

    fn check_forbid(&self, verb: Verb, r: &ResourceRoute) -> Result<(), ApiError> {
        let (ns, name) = (r.rbac_namespace(), r.name.as_deref());
        if self
            .forbid
            .iter()
            .any(|f| f.matches(verb.as_str(), r.kind.plural(), ns, name))
            || (self.rbac.as_ref()).is_some_and(|a| {
                !a.allows(verb.as_str(), r.kind.group(), r.kind.plural(), ns, name)
            })
        {
            return Err(ApiError::forbidden(verb.as_str(), r.kind, ns, name));
        }
        Ok(())
    }

    fn resource(
        &self,
        req: &Request,
        r: &ResourceRoute,
        verb: Verb,
        query: &HashMap<String, String>,
    ) -> Result<Reply, ApiError> {
        self.check_forbid(verb, r)?;
        let (ns, name) = (r.rbac_namespace(), r.name.as_deref());
        let fault = self.faults.decide(verb.as_str(), r.kind.plural(), ns, name);
        match fault {
            Some(FaultAction::Status(code)) => {
                let mut reply = Reply::error(&ApiError::new(
                    code,
                    injected_reason(code),
                    format!(
                        "injected fault: {code} for {} {}",
                        verb.as_str(),
                        r.kind.plural()
                    ),
                ));
                reply.injected = fault;
                return Ok(reply);
            }
            Some(FaultAction::TooManyRequests { retry_after }) => {
                let mut reply = Reply::error(&ApiError::new(
                    429,
                    "TooManyRequests",
                    "injected fault: too many requests, please try again later",
                ));
                reply.retry_after = Some(retry_after);
                reply.injected = fault;
                return Ok(reply);
            }
            Some(FaultAction::Timeout) => {
                let mut reply = Reply::ok(Value::Null);
                reply.injected = fault;
                return Ok(reply);
            }
            _ => {}
        }
        let mut store = lock(&self.store);
        let mut reply = match verb {
            Verb::Get | Verb::List => read(&store, req, r, query),
            Verb::Watch => Err(ApiError::new(
                405,
                "MethodNotAllowed",
                "the trustkeep sandbox does not serve watch requests",
            )),
            _ => write(&mut store, req, r, verb, query),
        }
        .unwrap_or_else(|e| Reply::error(&e));
        reply.injected = fault;
        Ok(reply)
    }
}

/// The `reason` of an injected status, as the real API server words it.
fn injected_reason(code: u16) -> &'static str {
    match code {
        409 => "Conflict",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    }
}

/// A get or list, answered as objects or (for kubectl) as a Table.
fn read(
    store: &Store,
    req: &Request,
    r: &ResourceRoute,
    query: &HashMap<String, String>,
) -> Result<Reply, ApiError> {
    let (kind, ns) = (r.kind, r.namespace.as_deref());
    let table = table::wants_table(header(req.headers, "accept"))
        .then(|| IncludeObject::parse(query.get("includeObject").map(String::as_str)));
    let revision = store.revision();
    let body = match (r.name.as_deref(), table) {
        (Some(name), None) => store.get(kind, ns, name)?,
        (Some(name), Some(include)) => {
            let object = store.get(kind, ns, name)?;
            table::table(kind, std::slice::from_ref(&object), &revision, include)
        }
        (None, None) => list_of(
            kind,
            store.list(kind, ns, &selector(kind, query)?),
            &revision,
        ),
        (None, Some(include)) => {
            let items = store.list(kind, ns, &selector(kind, query)?);
            table::table(kind, &items, &revision, include)
        }
    };
    Ok(Reply::ok(body))
}

/// A create, update, patch, delete or deletecollection.
fn write(
    store: &mut Store,
    req: &Request,
    r: &ResourceRoute,
    verb: Verb,
    query: &HashMap<String, String>,
) -> Result<Reply, ApiError> {
    let (kind, ns) = (r.kind, r.namespace.as_deref());
    let name = r.name.as_deref().unwrap_or_default();
    match verb {
        Verb::Create => {
            let body = request_body(kind, req)?;
            let written = store.create(kind, ns, body, &write_options(query)?)?;
            Ok(Reply::written(201, written))
        }
        Verb::Update => {
            let body = request_body(kind, req)?;
            let written = store.update(kind, ns, name, body, &write_options(query)?)?;
            Ok(Reply::written(200, written))
        }
        Verb::Patch => patch(store, req, r, query),
        Verb::Delete => {
            let (preconditions, body_dry_run) = delete_options(req)?;
            let dry = dry_run(query)? || body_dry_run;
            Ok(Reply::ok(store.delete(
                kind,
                ns,
                name,
                &preconditions,
                dry,
            )?))
        }
        Verb::DeleteCollection => {
            let (_, body_dry_run) = delete_options(req)?;
            let dry = dry_run(query)? || body_dry_run;
            let selector = selector(kind, query)?;
            Ok(Reply::ok(
                store.delete_collection(kind, ns, &selector, dry)?,
            ))
        }
        Verb::Get | Verb::List | Verb::Watch => Err(ApiError::method_not_allowed()),
    }
}

/// A patch in any of the supported formats; server-side apply may create (201).
fn patch(
    store: &mut Store,
    req: &Request,
    r: &ResourceRoute,
    query: &HashMap<String, String>,
) -> Result<Reply, ApiError> {
    let patch_kind = PatchKind::from_media_type(&media_type(req.headers)).ok_or_else(|| {
        ApiError::unsupported_media(header(req.headers, "content-type"), PATCH_TYPES)
    })?;
    if patch_kind == PatchKind::Apply && query.get("fieldManager").is_none_or(String::is_empty) {
        return Err(ApiError::bad_request(
            "PATCH requests with apply content type require a fieldManager",
        ));
    }
    let (kind, ns) = (r.kind, r.namespace.as_deref());
    let name = r.name.as_deref().unwrap_or_default();
    // Apply configurations are YAML (JSON is YAML too); the other patches are JSON.
    let media = if patch_kind == PatchKind::Apply {
        "application/yaml"
    } else {
        "application/json"
    };
    let body = parse_body(kind, media, req.body)?;
    let existed = store.get(kind, ns, name).is_ok();
    let written = store.patch(kind, ns, name, patch_kind, &body, &write_options(query)?)?;
    Ok(Reply::written(if existed { 200 } else { 201 }, written))
}

fn selector(kind: Kind, query: &HashMap<String, String>) -> Result<Selector, ApiError> {
    Selector::parse(
        kind,
        query.get("labelSelector").map(String::as_str),
        query.get("fieldSelector").map(String::as_str),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn shared() -> Shared {
        Shared::new(
            Store::new(),
            "the-token",
            vec![],
            true,
            "127.0.0.1:1".into(),
        )
    }

    fn bearer(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn tokens() {
        let s = shared();
        assert!(s.authenticated(&bearer("Bearer the-token")));
        assert!(s.authenticated(&bearer("Bearer  the-token ")));
        for wrong in [
            "Bearer the-toke",
            "Bearer the-token2",
            "Bearer ",
            "the-token",
            "Basic the-token",
        ] {
            assert!(!s.authenticated(&bearer(wrong)), "{wrong}");
        }
        assert!(!s.authenticated(&HeaderMap::new()));
        assert!(same_digest(&digest("a"), &digest("a")));
        assert!(!same_digest(&digest("a"), &digest("b")));
    }

    #[test]
    fn records_are_bounded() {
        let s = shared();
        let long = format!("/api/v1/namespaces/{}/secrets", "n".repeat(60_000));
        let headers = HeaderMap::new();
        for i in 0..MAX_RECORDS + 5 {
            let query = i.to_string();
            let req = Request {
                method: &Method::GET,
                path: &long,
                query: Some(&query),
                headers: &headers,
                body: b"",
            };
            assert_eq!(s.serve(&req).status, 401);
        }
        let records = s.records();
        assert_eq!(records.len(), MAX_RECORDS);
        assert_eq!(
            records[0].query.as_deref(),
            Some("5"),
            "the oldest are forgotten"
        );
        assert!(records[0].path.len() <= UNAUTHENTICATED_RECORDED_LEN);
        assert!(records[0].namespace.as_ref().unwrap().len() <= UNAUTHENTICATED_RECORDED_LEN);

        let authenticated = bearer("Bearer the-token");
        let req = Request {
            method: &Method::GET,
            path: &long,
            query: None,
            headers: &authenticated,
            body: b"",
        };
        s.clear_records();
        s.serve(&req);
        assert_eq!(s.records()[0].path.len(), RECORDED_LEN);
    }
}
