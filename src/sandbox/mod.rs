//! The sandbox Kubernetes API server: an in-memory, HTTPS-only API server serving Namespaces,
//! Secrets and Gloo Mesh RootTrustPolicies with the real server's semantics (uids,
//! resourceVersions, conflicts, validation, selectors, patches, Status errors, discovery,
//! OpenAPI v3 for kubectl), for tests, the demo and operators' restore drills.
//!
//! It is independent of the rest of trustkeep: objects are `serde_json::Value`s, kept with
//! full fidelity. [`Sandbox::start`] generates a CA and a server certificate, listens, and
//! serves until [`Sandbox::shutdown`] (or drop). Every request needs the bearer token;
//! [`Options::forbid`] rules answer 403 like RBAC would; every request is recorded
//! ([`Sandbox::requests`]) so tests can count API calls.
//!
//! Kubernetes clients see a real API server: kubectl 1.32 works without flags (`get`,
//! `describe`, `create secret`, `apply` with server-side field validation, `edit`, `diff`,
//! `delete`); it falls back from aggregated to legacy discovery, reads a minimal OpenAPI v3
//! and sends protobuf bodies for typed creates, which are decoded.
//!
//! Not served: watch (405), aggregated discovery (legacy documents answer), protobuf
//! answers, subresources, managedFields tracking. Approximated: server-side apply (a merge
//! of the applied configuration, no field ownership), strategic merge patch (lists are
//! replaced), namespace deletion (immediate, contents included).

mod api;
mod discovery;
mod error;
mod forbid;
mod kinds;
mod kubeconfig;
mod load;
mod names;
mod objects;
mod patch;
mod proto;
mod route;
mod select;
mod server;
mod status;
mod store;
mod table;
mod tls;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use api::RequestRecord;
pub use discovery::GIT_VERSION;
pub use error::SandboxError;
pub use forbid::Forbid;
pub use load::load_objects;

use api::{lock, Shared};
use kinds::Kind;
use store::{Key, Store};

/// Namespaces every sandbox has.
pub const DEFAULT_NAMESPACES: [&str; 4] = ["default", "kube-system", "gloo-mesh", "istio-system"];

/// What a sandbox serves and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Objects to serve from the start: Secrets, Namespaces and RootTrustPolicies (lists
    /// flattened, see [`load_objects`]). They are kept as given; missing uid,
    /// resourceVersion, creationTimestamp, namespace (`default`) and Secret `type` are filled.
    pub objects: Vec<Value>,
    /// The bearer token clients must send; random when `None`.
    pub token: Option<String>,
    /// Requests answered 403.
    pub forbid: Vec<Forbid>,
    /// Serve no `admin.gloo.solo.io` group, like a cluster without the Gloo CRDs (404s,
    /// absent from discovery). RootTrustPolicies in `objects` are then dropped.
    pub without_crd: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            objects: Vec::new(),
            token: None,
            forbid: Vec::new(),
            without_crd: false,
        }
    }
}

/// A running sandbox API server.
pub struct Sandbox {
    address: SocketAddr,
    token: String,
    ca_pem: String,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn check_token(token: &str) -> Result<(), SandboxError> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(SandboxError::Objects(
            "the sandbox token must be non-empty printable ASCII without spaces".into(),
        ));
    }
    Ok(())
}

/// How an object is named in errors: `Secret gloo-mesh/x`, or its position.
fn describe(object: &Value, index: usize) -> String {
    let field = |path: &[&str]| {
        objects::str_at(object, path)
            .unwrap_or_default()
            .to_string()
    };
    let (kind, ns, name) = (
        field(&["kind"]),
        field(&["metadata", "namespace"]),
        field(&["metadata", "name"]),
    );
    match (kind.is_empty(), name.is_empty(), ns.is_empty()) {
        (false, false, false) => format!("{kind} {ns}/{name}"),
        (false, false, true) => format!("{kind} {name}"),
        _ => format!("#{}", index + 1),
    }
}

fn is_root_trust_policy(object: &Value) -> bool {
    let api_version = objects::str_at(object, &["apiVersion"]).unwrap_or_default();
    let kind = objects::str_at(object, &["kind"]).unwrap_or_default();
    Kind::from_kind(api_version, kind) == Some(Kind::RootTrustPolicy)
}

/// The initial store: the objects given, then the default namespaces (`kube-system` with a
/// fresh uid unless one was loaded).
fn initial_store(opts: &Options) -> Result<Store, SandboxError> {
    let mut store = Store::new();
    for (i, object) in opts.objects.iter().enumerate() {
        if opts.without_crd && is_root_trust_policy(object) {
            tracing::warn!(object = %describe(object, i), "dropped: the sandbox runs without the Gloo CRDs");
            continue;
        }
        store
            .insert(object.clone())
            .map_err(|message| SandboxError::Object {
                object: describe(object, i),
                message,
            })?;
    }
    for ns in DEFAULT_NAMESPACES {
        let uid = (ns == "kube-system").then(|| uuid::Uuid::new_v4().to_string());
        store.ensure_namespace(ns, uid.as_deref());
    }
    Ok(store)
}

impl Sandbox {
    /// Generates certificates, loads the objects and starts serving on `opts.listen`. Must be
    /// called within a tokio runtime, which then runs the server.
    pub async fn start(opts: Options) -> Result<Sandbox, SandboxError> {
        let token = opts.token.clone().unwrap_or_else(random_token);
        check_token(&token)?;
        let store = initial_store(&opts)?;
        let identity = tls::generate()?;
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|source| SandboxError::Listen {
                addr: opts.listen,
                source,
            })?;
        let address = listener
            .local_addr()
            .map_err(|source| SandboxError::Listen {
                addr: opts.listen,
                source,
            })?;
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            records: Mutex::new(Vec::new()),
            token: token.clone(),
            forbid: opts.forbid.clone(),
            crd: !opts.without_crd,
            address: address.to_string(),
        });
        let (stop, stopped) = watch::channel(false);
        let acceptor = TlsAcceptor::from(identity.config);
        let task = tokio::spawn(server::serve(listener, acceptor, shared.clone(), stopped));
        tracing::debug!(%address, "sandbox listening");
        Ok(Sandbox {
            address,
            token,
            ca_pem: identity.ca_pem,
            shared,
            stop,
            task,
        })
    }

    /// The address listened on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `https://127.0.0.1:PORT` (a loopback address when listening on all addresses).
    pub fn url(&self) -> String {
        let ip = match self.address.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("https://{}", SocketAddr::new(ip, self.address.port()))
    }

    /// The bearer token clients must send.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The CA certificate (PEM) that signed the server's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A YAML kubeconfig for this sandbox; cluster, user and context are named `context`,
    /// which is the current context (namespace `default`).
    pub fn kubeconfig(&self, context: &str) -> String {
        kubeconfig::render(&self.url(), &self.ca_pem, &self.token, context)
    }

    /// The uid of the `kube-system` namespace: the cluster's identity.
    pub fn cluster_uid(&self) -> String {
        let store = lock(&self.shared.store);
        store
            .lookup(&Key::new(Kind::Namespace, None, "kube-system"))
            .and_then(|ns| objects::str_at(ns, &["metadata", "uid"]))
            .unwrap_or_default()
            .to_string()
    }

    /// Every request served so far, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.records).clone()
    }

    /// Forgets the requests served so far.
    pub fn reset_requests(&self) {
        lock(&self.shared.records).clear();
    }

    /// A snapshot of every stored object (namespaces, then secrets, then root trust
    /// policies, each by namespace and name).
    pub fn objects(&self) -> Vec<Value> {
        lock(&self.shared.store).all()
    }

    /// The stored Secret `namespace/name`.
    pub fn secret(&self, namespace: &str, name: &str) -> Option<Value> {
        let store = lock(&self.shared.store);
        store
            .lookup(&Key::new(Kind::Secret, Some(namespace), name))
            .cloned()
    }

    /// Inserts or replaces an object directly, without validation (to set up tests); fills
    /// what [`Options::objects`] fills and creates its namespace.
    pub fn try_put(&self, object: Value) -> Result<(), SandboxError> {
        let describe = describe(&object, 0);
        lock(&self.shared.store)
            .insert(object)
            .map(drop)
            .map_err(|message| SandboxError::Object {
                object: describe,
                message,
            })
    }

    /// [`Sandbox::try_put`] for test set-up.
    ///
    /// # Panics
    /// If the object is not a Namespace, Secret or RootTrustPolicy with a name.
    pub fn put(&self, object: Value) {
        if let Err(e) = self.try_put(object) {
            panic!("sandbox put: {e}");
        }
    }

    /// Removes `namespace/name` of resource `kind_plural` (`secrets`, `roottrustpolicies`,
    /// `namespaces`: namespace ignored); whether it existed.
    pub fn remove(&self, kind_plural: &str, namespace: &str, name: &str) -> bool {
        let Some(kind) = Kind::ALL.into_iter().find(|k| k.plural() == kind_plural) else {
            return false;
        };
        lock(&self.shared.store).remove(&Key::new(kind, Some(namespace), name))
    }

    /// Stops accepting connections, lets requests in flight finish (up to 5 s) and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::debug!(error = %e, "sandbox server task ended abnormally");
        }
    }
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}
