//! The object store and the API semantics of writes: one map of objects keyed by kind,
//! namespace and name, one global resourceVersion counter, and create / update / patch /
//! delete with the real server's rules (uids, timestamps, preconditions, conflicts,
//! AlreadyExists, unknown namespaces, dry runs, validation).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::kinds::Kind;
use super::objects::{self, str_at};
use super::patch::{self, PatchError, PatchKind};
use super::select::Selector;
use super::status::{self, ApiError, Cause};
use super::MAX_BODY;

/// Where an object lives: its kind, namespace (empty for cluster-scoped kinds) and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(kind: Kind, namespace: Option<&str>, name: &str) -> Key {
        Key {
            kind,
            namespace: if kind.namespaced() {
                namespace.unwrap_or_default().to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }
}

/// The `fieldValidation` query parameter: what to do about unknown fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(v: Option<&str>) -> Result<Self, ApiError> {
        match v {
            None | Some("") => Ok(FieldValidation::default()),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\" or \"Strict\", not {other:?}"
            ))),
        }
    }
}

/// How a write is done.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: validate, answer, store nothing.
    pub dry_run: bool,
    pub validation: FieldValidation,
}

/// The preconditions of a delete (from its DeleteOptions body).
#[derive(Clone, Debug, Default)]
pub struct Preconditions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

/// A successful write: the object as stored and the warnings to send.
#[derive(Debug)]
pub struct Written {
    pub object: Value,
    pub warnings: Vec<String>,
}

/// Every object and the resourceVersion counter.
#[derive(Debug, Default)]
pub struct Store {
    objects: BTreeMap<Key, Value>,
    revision: u64,
}

/// The current time as the API server writes timestamps (RFC 3339, UTC, seconds).
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn meta_mut(object: &mut Value) -> Option<&mut Map<String, Value>> {
    object.get_mut("metadata").and_then(Value::as_object_mut)
}

fn set_meta(object: &mut Value, key: &str, value: Value) {
    if let Some(m) = meta_mut(object) {
        m.insert(key.to_string(), value);
    }
}

fn remove_meta(object: &mut Value, key: &str) {
    if let Some(m) = meta_mut(object) {
        m.remove(key);
    }
}

fn meta_str<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    str_at(object, &["metadata", key]).filter(|s| !s.is_empty())
}

/// A name for `generateName`: the prefix and five random characters.
fn generated_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let random = uuid::Uuid::new_v4();
    let suffix: String = random.as_bytes()[..5]
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    format!("{prefix}{suffix}")
}

/// Unknown fields: warnings, nothing, or a 400, depending on `fieldValidation`.
fn unknown_fields(
    kind: Kind,
    unknown: &[String],
    validation: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    let texts: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field {}", status::quote(f)))
        .collect();
    match validation {
        _ if texts.is_empty() => Ok(vec![]),
        FieldValidation::Ignore => Ok(vec![]),
        FieldValidation::Warn => Ok(texts),
        FieldValidation::Strict => Err(ApiError::undecodable(
            kind,
            &format!("strict decoding error: {}", texts.join(", ")),
        )),
    }
}

/// Decodes a body as `kind` and applies the unknown-field policy.
fn decode(kind: Kind, body: Value, opts: &WriteOptions) -> Result<(Value, Vec<String>), ApiError> {
    let decoded = objects::decode(kind, body)?;
    let warnings = unknown_fields(kind, &decoded.unknown, opts.validation)?;
    Ok((decoded.object, warnings))
}

/// Puts the request's namespace into the object; a different one in the body is a 400.
fn set_namespace(kind: Kind, object: &mut Value, namespace: Option<&str>) -> Result<(), ApiError> {
    if !kind.namespaced() {
        remove_meta(object, "namespace");
        return Ok(());
    }
    let ns = namespace.unwrap_or_default();
    match meta_str(object, "namespace") {
        Some(given) if given != ns => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => {
            set_meta(object, "namespace", json!(ns));
            Ok(())
        }
    }
}

/// The object's name, generated from `generateName` when needed.
fn assign_name(kind: Kind, object: &mut Value) -> Result<String, ApiError> {
    if let Some(name) = meta_str(object, "name") {
        return Ok(name.to_string());
    }
    match meta_str(object, "generateName").map(generated_name) {
        Some(name) => {
            set_meta(object, "name", json!(name));
            Ok(name)
        }
        None => Err(ApiError::invalid(
            kind,
            "",
            vec![Cause {
                field: "metadata.name".into(),
                reason: "FieldValueRequired",
                message: "Required value: name or generateName is required".into(),
            }],
        )),
    }
}

/// The name in the body of an update must be the one in the URL.
fn check_same_name(object: &Value, name: &str) -> Result<(), ApiError> {
    let given = meta_str(object, "name").unwrap_or_default();
    if given == name {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "the name of the object ({given}) does not match the name on the URL ({name})"
        )))
    }
}

/// The object with its resourceVersion removed, to compare contents.
fn without_revision(object: &Value) -> Value {
    let mut v = object.clone();
    remove_meta(&mut v, "resourceVersion");
    v
}

/// A list object of `kind`: core lists' items omit kind and apiVersion, as the API server's
/// do; custom resources' keep them.
pub fn list_of(kind: Kind, items: Vec<Value>, revision: &str) -> Value {
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut item| {
            if !kind.is_custom() {
                if let Some(m) = item.as_object_mut() {
                    m.remove("kind");
                    m.remove("apiVersion");
                }
            }
            item
        })
        .collect();
    json!({
        "kind": kind.list_kind(),
        "apiVersion": kind.api_version(),
        "metadata": {"resourceVersion": revision},
        "items": items,
    })
}

impl Store {
    pub fn new() -> Store {
        Store::default()
    }

    /// The current resourceVersion of the whole store.
    pub fn revision(&self) -> String {
        self.revision.to_string()
    }

    fn next_revision(&mut self) -> String {
        self.revision += 1;
        self.revision.to_string()
    }

    /// Every object, in storage order.
    pub fn all(&self) -> Vec<Value> {
        self.objects.values().cloned().collect()
    }

    pub fn lookup(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Removes the object at `key` (nothing else: a namespace's contents stay); a removal
    /// is a change, with a new resourceVersion.
    pub fn remove(&mut self, key: &Key) -> bool {
        let removed = self.objects.remove(key).is_some();
        if removed {
            self.next_revision();
        }
        removed
    }

    /// Stores `object` as given (test set-up and `--load`): any supported kind, filling only
    /// what the server always sets (namespace `default`, uid, creationTimestamp,
    /// resourceVersion, Secret `type` and `data`), and creating its namespace if needed.
    pub fn insert(&mut self, mut object: Value) -> Result<Key, String> {
        let api_version = str_at(&object, &["apiVersion"]).unwrap_or_default();
        let kind_name = str_at(&object, &["kind"]).unwrap_or_default();
        let kind = Kind::from_kind(api_version, kind_name).ok_or_else(|| {
            format!("kind {kind_name:?} of apiVersion {api_version:?} is not served by the sandbox (only v1 Namespace and Secret, admin.gloo.solo.io/v2 RootTrustPolicy, apps/v1 Deployment, cert-manager.io/v1 Certificate)")
        })?;
        let name = meta_str(&object, "name")
            .ok_or("the object has no metadata.name")?
            .to_string();
        let namespace = if kind.namespaced() {
            let ns = meta_str(&object, "namespace")
                .unwrap_or("default")
                .to_string();
            set_meta(&mut object, "namespace", json!(ns));
            Some(ns)
        } else {
            remove_meta(&mut object, "namespace");
            None
        };
        objects::normalize(kind, &mut object).map_err(|e| e.message)?;
        self.stamp_loaded(&mut object);
        if let Some(ns) = &namespace {
            self.ensure_namespace(ns, None);
        }
        let key = Key::new(kind, namespace.as_deref(), &name);
        self.objects.insert(key.clone(), object);
        Ok(key)
    }

    /// Fills uid, creationTimestamp and resourceVersion when missing; keeps the counter above
    /// every numeric resourceVersion given.
    fn stamp_loaded(&mut self, object: &mut Value) {
        if meta_str(object, "uid").is_none() {
            set_meta(object, "uid", json!(uuid::Uuid::new_v4().to_string()));
        }
        if meta_str(object, "creationTimestamp").is_none() {
            set_meta(object, "creationTimestamp", json!(now()));
        }
        match meta_str(object, "resourceVersion").map(str::parse::<u64>) {
            Some(Ok(rv)) => self.revision = self.revision.max(rv),
            Some(Err(_)) => {}
            None => {
                let rv = self.next_revision();
                set_meta(object, "resourceVersion", json!(rv));
            }
        }
    }

    /// Creates namespace `name` unless it exists (with `uid` when given).
    pub fn ensure_namespace(&mut self, name: &str, uid: Option<&str>) {
        let key = Key::new(Kind::Namespace, None, name);
        if self.objects.contains_key(&key) {
            return;
        }
        let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        if let Some(u) = uid {
            set_meta(&mut ns, "uid", json!(u));
        }
        objects::normalize(Kind::Namespace, &mut ns).ok();
        self.stamp_loaded(&mut ns);
        self.objects.insert(key, ns);
    }

    fn require_namespace(&self, namespace: Option<&str>) -> Result<(), ApiError> {
        match namespace {
            Some(ns)
                if !self
                    .objects
                    .contains_key(&Key::new(Kind::Namespace, None, ns)) =>
            {
                Err(ApiError::not_found(Kind::Namespace, ns))
            }
            _ => Ok(()),
        }
    }

    pub fn get(&self, kind: Kind, namespace: Option<&str>, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&Key::new(kind, namespace, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(kind, name))
    }

    /// The objects of `kind` in `namespace` (all namespaces when `None`) that match.
    pub fn list(&self, kind: Kind, namespace: Option<&str>, selector: &Selector) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|(k, _)| k.kind == kind)
            .filter(|(k, _)| namespace.is_none_or(|ns| !kind.namespaced() || k.namespace == ns))
            .filter(|(_, v)| selector.matches(v))
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn create(
        &mut self,
        kind: Kind,
        namespace: Option<&str>,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let (mut object, warnings) = decode(kind, body, opts)?;
        set_namespace(kind, &mut object, namespace)?;
        let name = assign_name(kind, &mut object)?;
        self.require_namespace(namespace.filter(|_| kind.namespaced()))?;
        objects::normalize(kind, &mut object)?;
        let causes = objects::validate(kind, &object);
        if !causes.is_empty() {
            return Err(ApiError::invalid(kind, &name, causes));
        }
        let key = Key::new(kind, namespace, &name);
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(kind, &name));
        }
        for field in ["resourceVersion", "deletionTimestamp", "selfLink"] {
            remove_meta(&mut object, field);
        }
        set_meta(&mut object, "uid", json!(uuid::Uuid::new_v4().to_string()));
        set_meta(&mut object, "creationTimestamp", json!(now()));
        if !kind.is_core() {
            set_meta(&mut object, "generation", json!(1));
        }
        if !opts.dry_run {
            let rv = self.next_revision();
            set_meta(&mut object, "resourceVersion", json!(rv));
            self.objects.insert(key, object.clone());
        }
        Ok(Written { object, warnings })
    }

    pub fn update(
        &mut self,
        kind: Kind,
        namespace: Option<&str>,
        name: &str,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let (object, warnings) = decode(kind, body, opts)?;
        let written = self.replace(kind, namespace, name, object, opts)?;
        Ok(Written {
            object: written,
            warnings,
        })
    }

    pub fn patch(
        &mut self,
        kind: Kind,
        namespace: Option<&str>,
        name: &str,
        patch_kind: PatchKind,
        patch: &Value,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let Some(current) = self.objects.get(&Key::new(kind, namespace, name)).cloned() else {
            return self.apply_create(kind, namespace, name, patch_kind, patch, opts);
        };
        let mut doc = current;
        match patch_kind {
            PatchKind::Merge | PatchKind::Apply => patch::merge(&mut doc, patch),
            PatchKind::Strategic => patch::strategic(&mut doc, patch),
            PatchKind::Json => {
                patch::json_patch(&mut doc, patch, MAX_BODY).map_err(|e| match e {
                    PatchError::Invalid(m) => {
                        ApiError::new(422, "Invalid", format!("json patch: {m}"))
                    }
                    PatchError::TooLarge(m) => ApiError::new(413, "RequestEntityTooLarge", m),
                })?
            }
        }
        self.update(kind, namespace, name, doc, opts)
    }

    /// A patch of an absent object: server-side apply creates it, other patches are 404s.
    fn apply_create(
        &mut self,
        kind: Kind,
        namespace: Option<&str>,
        name: &str,
        patch_kind: PatchKind,
        patch: &Value,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        if patch_kind != PatchKind::Apply {
            return Err(ApiError::not_found(kind, name));
        }
        check_same_name(patch, name)?;
        self.create(kind, namespace, patch.clone(), opts)
    }

    /// The common part of update and patch: preconditions, immutable fields, validation, and
    /// a new resourceVersion when (and only when) something changed.
    fn replace(
        &mut self,
        kind: Kind,
        namespace: Option<&str>,
        name: &str,
        mut object: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let key = Key::new(kind, namespace, name);
        set_namespace(kind, &mut object, namespace)?;
        check_same_name(&object, name)?;
        let old = self
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(kind, name))?;
        check_update_preconditions(kind, name, &old, &object)?;
        objects::normalize(kind, &mut object)?;
        carry_server_fields(kind, &old, &mut object);
        let mut causes = objects::validate(kind, &object);
        causes.extend(objects::validate_update(kind, &old, &object));
        if !causes.is_empty() {
            return Err(ApiError::invalid(kind, name, causes));
        }
        let old_rv = meta_str(&old, "resourceVersion")
            .unwrap_or_default()
            .to_string();
        set_meta(&mut object, "resourceVersion", json!(old_rv));
        if without_revision(&object) == without_revision(&old) || opts.dry_run {
            return Ok(if opts.dry_run { object } else { old });
        }
        let rv = self.next_revision();
        set_meta(&mut object, "resourceVersion", json!(rv));
        self.objects.insert(key, object.clone());
        Ok(object)
    }

    pub fn delete(
        &mut self,
        kind: Kind,
        namespace: Option<&str>,
        name: &str,
        preconditions: &Preconditions,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let key = Key::new(kind, namespace, name);
        let old = self
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(kind, name))?;
        check_delete_preconditions(kind, name, &old, preconditions)?;
        if kind == Kind::Namespace {
            return self.delete_namespace(name, old, dry_run);
        }
        if !dry_run {
            self.objects.remove(&key);
            self.next_revision();
        }
        Ok(status::deleted(kind, name, meta_str(&old, "uid")))
    }

    /// Deletes a namespace and everything in it at once (no finalization), answering the
    /// namespace as Terminating like the real server.
    fn delete_namespace(
        &mut self,
        name: &str,
        mut old: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        if matches!(name, "default" | "kube-system" | "kube-public") {
            return Err(ApiError::forbidden_because(
                Kind::Namespace,
                name,
                "this namespace may not be deleted",
            ));
        }
        if !dry_run {
            self.objects.retain(|k, _| {
                !(k.namespace == name || (k.kind == Kind::Namespace && k.name == name))
            });
            self.next_revision();
        }
        set_meta(&mut old, "deletionTimestamp", json!(now()));
        if let Some(status) = old.get_mut("status").and_then(Value::as_object_mut) {
            status.insert("phase".into(), json!("Terminating"));
        }
        Ok(old)
    }

    /// Deletes every matching object of `kind` in `namespace`; answers their list.
    pub fn delete_collection(
        &mut self,
        kind: Kind,
        namespace: Option<&str>,
        selector: &Selector,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        if kind == Kind::Namespace {
            return Err(ApiError::method_not_allowed());
        }
        let doomed = self.list(kind, namespace, selector);
        if !dry_run && !doomed.is_empty() {
            for object in &doomed {
                let ns = meta_str(object, "namespace");
                let name = meta_str(object, "name").unwrap_or_default();
                self.objects.remove(&Key::new(kind, ns, name));
            }
            self.next_revision();
        }
        Ok(list_of(kind, doomed, &self.revision()))
    }
}

/// A non-empty resourceVersion or uid in the new object must be the stored one's.
fn check_update_preconditions(
    kind: Kind,
    name: &str,
    old: &Value,
    new: &Value,
) -> Result<(), ApiError> {
    if let Some(rv) = meta_str(new, "resourceVersion") {
        if Some(rv) != meta_str(old, "resourceVersion") {
            return Err(ApiError::modified(kind, name));
        }
    }
    if let Some(uid) = meta_str(new, "uid") {
        let actual = meta_str(old, "uid").unwrap_or_default();
        if uid != actual {
            return Err(ApiError::conflict(
                kind,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                ),
            ));
        }
    }
    Ok(())
}

fn check_delete_preconditions(
    kind: Kind,
    name: &str,
    old: &Value,
    p: &Preconditions,
) -> Result<(), ApiError> {
    let actual_uid = meta_str(old, "uid").unwrap_or_default();
    if let Some(uid) = p.uid.as_deref().filter(|u| *u != actual_uid) {
        return Err(ApiError::conflict(
            kind,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual_uid}"
            ),
        ));
    }
    let actual_rv = meta_str(old, "resourceVersion").unwrap_or_default();
    if let Some(rv) = p.resource_version.as_deref().filter(|r| *r != actual_rv) {
        return Err(ApiError::conflict(
            kind,
            name,
            &format!("the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record ({actual_rv}). The object might have been modified"),
        ));
    }
    Ok(())
}

/// Fields only the server sets are kept from the stored object on update; managedFields too
/// when the client sent none; custom resources' generation grows when their spec changes.
fn carry_server_fields(kind: Kind, old: &Value, new: &mut Value) {
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "generation",
    ] {
        match old.get("metadata").and_then(|m| m.get(field)) {
            Some(v) => set_meta(new, field, v.clone()),
            None => remove_meta(new, field),
        }
    }
    if new
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .is_none()
    {
        if let Some(mf) = old.get("metadata").and_then(|m| m.get("managedFields")) {
            set_meta(new, "managedFields", mf.clone());
        }
    }
    if !kind.is_core() && old.get("spec") != new.get("spec") {
        let generation = old
            .get("metadata")
            .and_then(|m| m.get("generation"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        set_meta(new, "generation", json!(generation + 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        let mut s = Store::new();
        s.ensure_namespace("gloo-mesh", None);
        s
    }

    fn secret(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name}, "stringData": {"k": "v"}})
    }

    const OPTS: WriteOptions = WriteOptions {
        dry_run: false,
        validation: FieldValidation::Warn,
    };

    #[test]
    fn create_sets_server_fields() {
        let mut s = store();
        let w = s
            .create(Kind::Secret, Some("gloo-mesh"), secret("a"), &OPTS)
            .unwrap();
        let m = &w.object["metadata"];
        assert_eq!(m["namespace"], "gloo-mesh");
        assert_eq!(m["resourceVersion"], s.revision());
        assert!(m["uid"].as_str().unwrap().len() == 36);
        assert!(m["creationTimestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(w.object["data"]["k"], "dg==");
        assert_eq!(w.object["type"], "Opaque");
        let e = s
            .create(Kind::Secret, Some("gloo-mesh"), secret("a"), &OPTS)
            .unwrap_err();
        assert_eq!((e.code, e.reason), (409, "AlreadyExists"));
        let e = s
            .create(Kind::Secret, Some("nope"), secret("a"), &OPTS)
            .unwrap_err();
        assert_eq!(e.message, "namespaces \"nope\" not found");
    }

    #[test]
    fn updates_check_resource_versions() {
        let mut s = store();
        let w = s
            .create(Kind::Secret, Some("gloo-mesh"), secret("a"), &OPTS)
            .unwrap();
        let mut changed = w.object.clone();
        changed["data"]["k"] = json!("eA==");
        let u = s
            .update(Kind::Secret, Some("gloo-mesh"), "a", changed.clone(), &OPTS)
            .unwrap();
        assert_ne!(
            u.object["metadata"]["resourceVersion"],
            w.object["metadata"]["resourceVersion"]
        );
        let e = s
            .update(Kind::Secret, Some("gloo-mesh"), "a", changed, &OPTS)
            .unwrap_err();
        assert_eq!(e.code, 409);
        assert!(e.message.contains("the object has been modified"));
        let same = s
            .update(
                Kind::Secret,
                Some("gloo-mesh"),
                "a",
                u.object.clone(),
                &OPTS,
            )
            .unwrap();
        assert_eq!(
            same.object, u.object,
            "a no-op update keeps the resourceVersion"
        );
    }

    #[test]
    fn dry_runs_store_nothing() {
        let mut s = store();
        let dry = WriteOptions {
            dry_run: true,
            ..OPTS
        };
        s.create(Kind::Secret, Some("gloo-mesh"), secret("a"), &dry)
            .unwrap();
        assert!(s.get(Kind::Secret, Some("gloo-mesh"), "a").is_err());
    }

    #[test]
    fn loaded_resource_versions_raise_the_counter() {
        let mut s = Store::new();
        let mut obj = secret("x");
        obj["metadata"]["namespace"] = json!("ns1");
        obj["metadata"]["resourceVersion"] = json!("500");
        s.insert(obj).unwrap();
        assert_eq!(s.revision(), "501", "500, then its new namespace");
        assert!(s.get(Kind::Namespace, None, "ns1").is_ok());
        assert!(s
            .insert(json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "c"}}))
            .is_err());
    }

    #[test]
    fn deletes_are_changes() {
        let mut s = store();
        for name in ["a", "b", "c"] {
            s.create(Kind::Secret, Some("gloo-mesh"), secret(name), &OPTS)
                .unwrap();
        }
        let rv = |s: &Store| s.revision().parse::<u64>().unwrap();
        let before = rv(&s);
        let none = Preconditions::default();
        s.delete(Kind::Secret, Some("gloo-mesh"), "a", &none, true)
            .unwrap();
        assert_eq!(rv(&s), before, "a dry run changes nothing");
        s.delete(Kind::Secret, Some("gloo-mesh"), "a", &none, false)
            .unwrap();
        assert_eq!(rv(&s), before + 1);
        let list = s
            .delete_collection(Kind::Secret, Some("gloo-mesh"), &Selector::default(), false)
            .unwrap();
        assert_eq!(rv(&s), before + 2);
        assert_eq!(list["metadata"]["resourceVersion"], s.revision());
        s.delete_collection(Kind::Secret, Some("gloo-mesh"), &Selector::default(), false)
            .unwrap();
        assert_eq!(rv(&s), before + 2, "deleting nothing changes nothing");
        s.delete(Kind::Namespace, None, "gloo-mesh", &none, false)
            .unwrap();
        assert_eq!(rv(&s), before + 3);
        s.ensure_namespace("x", None);
        let before = rv(&s);
        assert!(s.remove(&Key::new(Kind::Namespace, None, "x")));
        assert_eq!(rv(&s), before + 1);
    }

    #[test]
    fn namespaces_cascade() {
        let mut s = store();
        s.create(Kind::Secret, Some("gloo-mesh"), secret("a"), &OPTS)
            .unwrap();
        s.delete(
            Kind::Namespace,
            None,
            "gloo-mesh",
            &Preconditions::default(),
            false,
        )
        .unwrap();
        assert!(s.list(Kind::Secret, None, &Selector::default()).is_empty());
        let e = s
            .delete(
                Kind::Namespace,
                None,
                "nope",
                &Preconditions::default(),
                false,
            )
            .unwrap_err();
        assert_eq!(e.code, 404);
    }
}
