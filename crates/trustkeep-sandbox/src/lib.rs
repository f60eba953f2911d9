//! The sandbox Kubernetes API server: an in-memory, HTTPS-only API server serving Namespaces,
//! Secrets, Gloo Mesh RootTrustPolicies, Deployments and cert-manager Certificates with the real server's semantics (uids,
//! resourceVersions, conflicts, validation, selectors, patches, Status errors, discovery,
//! OpenAPI v3 for kubectl), for tests, the demo and operators' restore drills.
//!
//! It is a crate of its own and depends on no trustkeep crate: trustkeep's `sandbox` and
//! `demo` commands, its integration tests and its benchmarks use it, and the compiler keeps
//! the boundary. Objects are `serde_json::Value`s, kept with full fidelity. [`Sandbox::start`] generates a CA and a server certificate, listens, and
//! serves until [`Sandbox::shutdown`] (or drop). Every request needs the bearer token;
//! [`Options::forbid`] rules answer 403 like RBAC would; [`Options::faults`] inject a flaky
//! control plane (5xx, 429 with Retry-After, cut connections, silence, delays; see
//! `faults.rs`); the latest 10,000 requests are recorded ([`Sandbox::requests`], with the
//! fault each got) so tests can count API calls.
//!
//! What clients can make it hold is bounded: at most 64 connections at once; deadlines for
//! TLS handshakes, headers, bodies and idle connections; no body read before the token is
//! checked; short records of requests without the token. Bodies are limited to 3 MiB, JSON
//! patches to 10,000 operations and 3 MiB documents and copies, like the real API server's.
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
mod faults;
mod forbid;
mod kinds;
mod kubeconfig;
mod load;
mod names;
mod objects;
mod patch;
mod proto;
mod rbac;
mod route;
mod select;
mod server;
mod status;
mod store;
mod table;
mod tls;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use api::RequestRecord;
pub use discovery::GIT_VERSION;
pub use error::SandboxError;
pub use faults::{Action as FaultAction, Fault};
pub use forbid::Forbid;
pub use load::load_objects;
pub use rbac::Rbac;

use api::{lock, Shared};
use kinds::Kind;
use server::Limits;
use store::{Key, Store};

/// The largest request body accepted, and the largest object a JSON patch may produce (the
/// real server's limits).
const MAX_BODY: usize = 3 * 1024 * 1024;

/// Namespaces every sandbox has.
pub const DEFAULT_NAMESPACES: [&str; 4] = ["default", "kube-system", "gloo-mesh", "istio-system"];

/// What a sandbox serves and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Objects to serve from the start: Secrets, Namespaces, RootTrustPolicies, Deployments
    /// and Certificates (lists
    /// flattened, see [`load_objects`]). They are kept as given; missing uid,
    /// resourceVersion, creationTimestamp, namespace (`default`) and Secret `type` are filled.
    pub objects: Vec<Value>,
    /// The bearer token clients must send; random when `None`.
    pub token: Option<String>,
    /// Requests answered 403.
    pub forbid: Vec<Forbid>,
    /// Serve no CRD-made group (`admin.gloo.solo.io`, `cert-manager.io`), like a cluster
    /// without the Gloo and cert-manager CRDs (404s, absent from discovery).
    /// RootTrustPolicies and Certificates in `objects` are then dropped.
    pub without_crd: bool,
    /// Enforce RBAC: answer 403 to whatever these permissions do not allow ([`Rbac`]).
    pub rbac: Option<Rbac>,
    /// Injected faults ([`Fault`]), checked after authentication and `forbid`.
    pub faults: Vec<Fault>,
    /// Seeds the draws of faults with a probability.
    pub fault_seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            objects: Vec::new(),
            token: None,
            forbid: Vec::new(),
            without_crd: false,
            rbac: None,
            faults: Vec::new(),
            fault_seed: 0,
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

fn is_custom_resource(object: &Value) -> bool {
    let api_version = objects::str_at(object, &["apiVersion"]).unwrap_or_default();
    let kind = objects::str_at(object, &["kind"]).unwrap_or_default();
    Kind::from_kind(api_version, kind).is_some_and(Kind::is_custom)
}

/// The initial store: the objects given, then the default namespaces (`kube-system` with a
/// fresh uid unless one was loaded).
fn initial_store(opts: &Options) -> Result<Store, SandboxError> {
    let mut store = Store::new();
    for (i, object) in opts.objects.iter().enumerate() {
        if opts.without_crd && is_custom_resource(object) {
            tracing::warn!(object = %describe(object, i), "dropped: the sandbox runs without the Gloo and cert-manager CRDs");
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

/// Whether clients on other hosts can reach `ip`: any address but a loopback one.
fn reachable_from_network(ip: IpAddr) -> bool {
    !ip.to_canonical().is_loopback()
}

impl Sandbox {
    /// Generates certificates, loads the objects and starts serving on `opts.listen`. Must be
    /// called within a tokio runtime, which then runs the server. Listening on an address
    /// other hosts can reach is logged as a warning.
    pub async fn start(opts: Options) -> Result<Sandbox, SandboxError> {
        Sandbox::start_with_limits(opts, Limits::default()).await
    }

    async fn start_with_limits(opts: Options, limits: Limits) -> Result<Sandbox, SandboxError> {
        let token = opts.token.clone().unwrap_or_else(random_token);
        check_token(&token)?;
        let store = initial_store(&opts)?;
        let identity = tls::generate(opts.listen.ip())?;
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
        let shared = Arc::new(
            Shared::new(
                store,
                &token,
                opts.forbid.clone(),
                !opts.without_crd,
                address.to_string(),
            )
            .with_rbac(opts.rbac.clone())
            .with_faults(faults::Faults::new(opts.faults.clone(), opts.fault_seed)),
        );
        let (stop, stopped) = watch::channel(false);
        let acceptor = TlsAcceptor::from(identity.config);
        let task = tokio::spawn(server::serve(
            listener,
            acceptor,
            shared.clone(),
            limits,
            stopped,
        ));
        tracing::debug!(%address, "sandbox listening");
        if reachable_from_network(address.ip()) {
            tracing::warn!(%address, "the sandbox is reachable from the network: anyone with its token can read and change its secrets");
        }
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

    /// Whether the sandbox listens on an address other hosts can reach (not loopback).
    pub fn reachable_from_network(&self) -> bool {
        reachable_from_network(self.address.ip())
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

    /// Test and drill helper: the requests served so far, oldest first; the latest 10,000
    /// are kept.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.records()
    }

    /// Test and drill helper: how many TCP connections were accepted so far.
    pub fn connections(&self) -> usize {
        (self.shared.connections).load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Test and drill helper: forgets the requests served so far.
    pub fn reset_requests(&self) {
        self.shared.clear_records();
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

    /// Test and drill helper: inserts or replaces an object directly, bypassing the API's
    /// validation; fills what [`Options::objects`] fills and creates its namespace. Fails if
    /// the object is not a Namespace, Secret, RootTrustPolicy, Deployment or Certificate
    /// with a name.
    pub fn put(&self, object: Value) -> Result<(), SandboxError> {
        let describe = describe(&object, 0);
        lock(&self.shared.store)
            .insert(object)
            .map(drop)
            .map_err(|message| SandboxError::Object {
                object: describe,
                message,
            })
    }

    /// The same as [`Sandbox::put`] (kept for callers written when `put` panicked).
    pub fn try_put(&self, object: Value) -> Result<(), SandboxError> {
        self.put(object)
    }

    /// Test and drill helper: removes `namespace/name` of resource `kind_plural` (`secrets`,
    /// `roottrustpolicies`, `deployments`, `certificates`, `namespaces`: namespace ignored,
    /// contents kept) directly; whether
    /// it existed.
    pub fn remove(&self, kind_plural: &str, namespace: &str, name: &str) -> bool {
        Kind::from_plural(kind_plural).is_some_and(|kind| {
            lock(&self.shared.store).remove(&Key::new(kind, Some(namespace), name))
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reachability() {
        for local in ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"] {
            assert!(!reachable_from_network(local.parse().unwrap()), "{local}");
        }
        for exposed in ["0.0.0.0", "::", "192.0.2.1", "2001:db8::1"] {
            assert!(
                reachable_from_network(exposed.parse().unwrap()),
                "{exposed}"
            );
        }
    }
}
