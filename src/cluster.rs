//! Live clusters through the Kubernetes API (the `kube` client over HTTPS): connecting from
//! a kubeconfig context or the in-cluster service account, reading the trust secrets into the
//! same [`Inventory`] a `--from` file gives, and the few writes a restore makes.
//!
//! Reads use one LIST of secrets per namespace when RBAC allows it, and fall back to concurrent
//! GETs of the known names when only `get` is allowed (least privilege). Every API call is
//! recorded ([`Cluster::calls`]) so `--verbose` can show how many were made. Errors name the
//! cluster and the object; secret values are never logged.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::gloo;
use crate::inventory::{Inventory, Origin, PolicyObject, RootTrustPolicy};
use crate::secret::{SecretId, SecretRecord};
use crate::select::{self, SelectOptions};
use crate::workload::{Certificate, Deployment, Workloads};

/// Why a live cluster could not be read or written. The message already says what the
/// client's own error said (and what to do); the error is kept as the source for programs.
#[derive(Debug, thiserror::Error)]
#[error("cluster {cluster}: {message}")]
pub struct ClusterError {
    /// The context or server.
    pub cluster: String,
    pub message: String,
    #[source]
    pub source: Option<kube::Error>,
}

/// Which cluster to talk to: a kubeconfig (default `KUBECONFIG` or `~/.kube/config`, then the
/// in-cluster service account) and a context in it (default: the current context).
#[derive(Clone, Debug, Default)]
pub struct ClusterRef {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub patience: Patience,
    /// The kubeconfig as read by the first cluster of a fleet, shared by the others (clones
    /// share it): a fleet reads and parses its kubeconfig once, not once per cluster.
    pub loaded: SharedKubeconfig,
}

/// A kubeconfig read at most once (from `KUBECONFIG`'s files or a named file) and shared by
/// the [`ClusterRef`]s cloned from one another. What was read is kept with the file it came
/// from: a cluster naming another kubeconfig reads its own.
#[derive(Clone, Default)]
pub struct SharedKubeconfig(Arc<OnceLock<ReadKubeconfig>>);

/// What one read gave: the file it came from (`None`: `KUBECONFIG`, else `~/.kube/config`)
/// and the kubeconfig, or the reader's error.
type ReadKubeconfig = (Option<PathBuf>, std::result::Result<Kubeconfig, String>);

impl std::fmt::Debug for SharedKubeconfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let read = self.0.get().is_some();
        write!(f, "SharedKubeconfig {{ read: {read} }}")
    }
}

impl SharedKubeconfig {
    /// One already read from `path` (`None`: `KUBECONFIG`, else `~/.kube/config`).
    pub fn with(path: Option<PathBuf>, kubeconfig: Kubeconfig) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set((path, Ok(kubeconfig)));
        SharedKubeconfig(Arc::new(cell))
    }

    /// The kubeconfig of `path`, reduced to `context` (else the current context): read on
    /// the first call, copied from what was read after that. The error says what the
    /// client's reader said.
    fn for_context(
        &self,
        path: Option<&Path>,
        context: Option<&str>,
    ) -> std::result::Result<Kubeconfig, String> {
        let read = || {
            let kc = match path {
                Some(p) => Kubeconfig::read_from(p),
                None => Kubeconfig::read(),
            };
            (path.map(Path::to_path_buf), kc.map_err(|e| e.to_string()))
        };
        let (from, kc) = self.0.get_or_init(read);
        if from.as_deref() != path {
            return read().1.map(|kc| only_context(&kc, context));
        }
        kc.as_ref()
            .map(|kc| only_context(kc, context))
            .map_err(Clone::clone)
    }
}

/// The part of `kc` that kube's loader reads for `context` (else the current context): that
/// context, the first cluster and user of the names it gives, and the file-wide fields. Kube
/// picks the first entry of a name too, so the result configures the same client, while a
/// fleet of N clusters copies N entries instead of N² (the rest is left out).
fn only_context(kc: &Kubeconfig, context: Option<&str>) -> Kubeconfig {
    let name = context.or(kc.current_context.as_deref());
    let named = kc.contexts.iter().find(|c| Some(c.name.as_str()) == name);
    let inner = named.and_then(|c| c.context.as_ref());
    let cluster = inner.and_then(|i| kc.clusters.iter().find(|c| c.name == i.cluster));
    let user = inner
        .and_then(|i| i.user.as_ref())
        .and_then(|u| kc.auth_infos.iter().find(|a| &a.name == u));
    Kubeconfig {
        preferences: kc.preferences.clone(),
        clusters: cluster.into_iter().cloned().collect(),
        auth_infos: user.into_iter().cloned().collect(),
        contexts: named.into_iter().cloned().collect(),
        current_context: kc.current_context.clone(),
        extensions: kc.extensions.clone(),
        kind: kc.kind.clone(),
        api_version: kc.api_version.clone(),
        other: kc.other.clone(),
    }
}

/// How long to wait and how often to try again. Every attempt of an API call is bounded by
/// `request_timeout`, and all calls to one cluster by `total`. A read that times out, is cut
/// off or is answered 429 or 5xx is tried again, up to `attempts` times, after an exponential
/// backoff with full jitter (the kube client itself already honours `Retry-After` on 429 and
/// 503). A write whose outcome is unknown is read back before it is tried again.
#[derive(Clone, Copy, Debug)]
pub struct Patience {
    pub request_timeout: Duration,
    pub total: Option<Duration>,
    pub attempts: u32,
    /// The first backoff, doubled at each retry up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

/// `--request-timeout`'s default, as kubectl would be told with `--request-timeout=30s`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for Patience {
    fn default() -> Self {
        Patience {
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            total: None,
            attempts: 4,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl Patience {
    /// The wait before retry number `retry` (1 for the first): a random time up to
    /// `backoff * 2^(retry-1)`, capped at `max_backoff` ("full jitter").
    fn backoff_for(&self, retry: u32) -> Duration {
        use std::hash::BuildHasher;
        let cap = self
            .backoff
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
            .min(self.max_backoff);
        let random = std::collections::hash_map::RandomState::new().hash_one(retry);
        cap.mul_f64((random >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// A call given up on: no answer within `--request-timeout`, or the cluster's `--timeout`
/// spent.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct TimedOut(String);

/// Whether a failed call may succeed if made again: timeouts, dropped or refused
/// connections, and the API server's 429 and 5xx answers. Never 4xx: those are final.
fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => matches!(s.code, 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

/// One API call made, for `--verbose` and for tests that count calls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiCall {
    pub verb: &'static str,
    pub what: String,
}

/// A connected cluster.
pub struct Cluster {
    client: kube::Client,
    /// The kubeconfig context used, if any.
    pub context: Option<String>,
    /// The API server URL.
    pub server: String,
    calls: Mutex<Vec<ApiCall>>,
    rounds: std::sync::atomic::AtomicUsize,
    patience: Patience,
    /// When the first call was made, for `patience.total`.
    started: Instant,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cluster({})", self.name())
    }
}

/// What listing RootTrustPolicies found.
pub enum Policies {
    Listed(Vec<RootTrustPolicy>),
    /// The admin.gloo.solo.io API is not served (the CRD is absent): there are none.
    NoCrd,
    /// RBAC forbids listing them, cluster-wide and in the relay namespace.
    Forbidden,
}

/// What a GET found.
enum Got<T> {
    Found(T),
    Absent,
    Forbidden,
}

/// The pod-template annotation `kubectl rollout restart` sets: changing it replaces the pods.
pub(crate) const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// The group, version and plural of Gloo Mesh's RootTrustPolicy.
pub fn root_trust_policy_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("admin.gloo.solo.io", "v2", "RootTrustPolicy"),
        "roottrustpolicies",
    )
}

/// A client for `config` that speaks HTTP/2 to the API server, so that every request to one
/// cluster shares one TCP and TLS connection (kube's own builder speaks HTTP/1.1: one
/// connection per concurrent request). The API server's authentication, base URL and extra
/// headers are kube's own layers. A proxy, a TLS server-name override or a plain-HTTP server
/// get kube's builder, which handles them.
fn client(config: kube::Config) -> std::result::Result<kube::Client, kube::Error> {
    use kube::client::ConfigExt;
    let plain = config.cluster_url.scheme_str() != Some("https");
    if config.proxy_url.is_some() || config.tls_server_name.is_some() || plain {
        return kube::Client::try_from(config);
    }
    let tls = config.rustls_client_config()?;
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    // No Nagle delay (as Go's clients, kubectl among them, have by default): HTTP/2
    // sends a request as several small frames, and Nagle would hold the later ones back
    // until the server's delayed ACK (about 40 ms per exchange).
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http2()
        .wrap_connector(http);
    let executor = hyper_util::rt::TokioExecutor::new();
    let hyper: hyper_util::client::legacy::Client<_, kube::client::Body> =
        hyper_util::client::legacy::Client::builder(executor)
            .http2_only(true)
            .build(https);
    // kube's retry of 429 and 503 answers, honouring Retry-After, as its builder adds it.
    let retry = (config.default_retry)
        .then(|| tower::retry::RetryLayer::new(kube::client::retry::RetryPolicy::server_retry()));
    let service = tower::ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(retry)
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(tower::BoxError::from)
        .service(hyper);
    Ok(kube::Client::new(service, config.default_namespace))
}

impl Cluster {
    /// Connects (nothing is sent until the first call).
    pub async fn connect(target: &ClusterRef) -> Result<Cluster> {
        let label = target
            .context
            .clone()
            .unwrap_or_else(|| "current context".into());
        let err = |message: String| {
            Error::from(ClusterError {
                source: None,
                cluster: label.clone(),
                message,
            })
        };
        let config = if target.kubeconfig.is_none() && target.context.is_none() {
            kube::Config::infer().await.map_err(|e| err(format!("no usable kubeconfig or in-cluster service account ({e}); pass --kubeconfig or --context")))?
        } else {
            let path = target.kubeconfig.as_deref();
            let kc = target
                .loaded
                .for_context(path, target.context.as_deref())
                .map_err(|e| match path {
                    Some(p) => err(format!("cannot read kubeconfig {} ({e})", p.display())),
                    None => err(format!(
                        "cannot read the kubeconfig ({e}); pass --kubeconfig"
                    )),
                })?;
            let opts = KubeConfigOptions {
                context: target.context.clone(),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kc, &opts)
                .await
                .map_err(|e| {
                    err(format!(
                        "cannot use the kubeconfig ({e}); is the context name right?"
                    ))
                })?
        };
        let server = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_string();
        let client = client(config).map_err(|e| err(format!("cannot build a client ({e})")))?;
        Ok(Cluster {
            client,
            context: target.context.clone(),
            server,
            calls: Mutex::new(Vec::new()),
            rounds: Default::default(),
            patience: target.patience,
            started: Instant::now(),
        })
    }

    /// The name used in messages: the context, or the server URL.
    pub fn name(&self) -> String {
        self.context.clone().unwrap_or_else(|| self.server.clone())
    }

    /// Every API call made so far.
    pub fn calls(&self) -> Vec<ApiCall> {
        self.calls.lock().expect("calls lock").clone()
    }

    fn record(&self, verb: &'static str, what: impl Into<String>) {
        self.calls.lock().expect("calls lock").push(ApiCall {
            verb,
            what: what.into(),
        });
    }

    /// One attempt of a call, bounded by the request timeout and what is left of the total.
    async fn attempt<T>(&self, call: impl Future<Output = kube::Result<T>>) -> kube::Result<T> {
        let p = &self.patience;
        let left = p.total.map(|t| t.saturating_sub(self.started.elapsed()));
        let limit = left.map_or(p.request_timeout, |l| l.min(p.request_timeout));
        let spent = || {
            let total = humantime::format_duration(p.total.unwrap_or_default());
            kube::Error::Service(Box::new(TimedOut(format!(
                "gave up: no answer within --timeout {total}"
            ))))
        };
        if limit.is_zero() {
            return Err(spent());
        }
        match tokio::time::timeout(limit, call).await {
            Ok(r) => r,
            Err(_) if Some(limit) == left => Err(spent()),
            Err(_) => Err(kube::Error::Service(Box::new(TimedOut(format!(
                "no answer within {} (--request-timeout)",
                humantime::format_duration(limit)
            ))))),
        }
    }

    /// Whether to try again after `attempt` attempts that ended in `e`: after waiting the
    /// backoff, when `e` is transient and attempts and time are left.
    async fn again(&self, what: &str, attempt: u32, e: &kube::Error) -> bool {
        let p = &self.patience;
        let out_of_time = p.total.is_some_and(|t| self.started.elapsed() >= t);
        if !transient(e) || attempt >= p.attempts || out_of_time {
            return false;
        }
        let wait = p.backoff_for(attempt);
        tracing::info!(cluster = %self.name(), call = what, attempt, error = %e, "retrying in {wait:?}");
        tokio::time::sleep(wait).await;
        true
    }

    /// A read, made again while it fails transiently (reads are idempotent).
    async fn read<T, F, Fut>(&self, what: &str, call: F) -> kube::Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = kube::Result<T>>,
    {
        let mut attempt = 1;
        loop {
            match self.attempt(call()).await {
                Err(e) if self.again(what, attempt, &e).await => attempt += 1,
                r => return r,
            }
        }
    }

    fn api_error(&self, object: &str, e: kube::Error) -> Error {
        let message = match &e {
            kube::Error::Api(s) if s.code == 401 => format!("{object}: credentials rejected (401 {}); are they expired? refresh the kubeconfig", s.message),
            kube::Error::Api(s) if s.code == 403 => format!("{object}: forbidden (403): {}; grant get/list on secrets to this identity", s.message),
            kube::Error::Api(s) => format!("{object}: {} ({} {})", s.message, s.code, s.reason),
            kube::Error::Service(b) if b.downcast_ref::<TimedOut>().is_some() => format!("{object}: {b} from {}; is the API server overloaded or the network slow? raise --request-timeout (or --timeout)", self.server),
            other => format!("{object}: cannot reach the API server at {} ({other}); is it running and is the kubeconfig right?", self.server),
        };
        Error::from(ClusterError {
            cluster: self.name(),
            message,
            source: Some(e),
        })
    }

    /// Lists the secrets of a namespace; `None` when RBAC forbids listing.
    pub async fn list_secrets(&self, ns: &str) -> Result<Option<Vec<Secret>>> {
        self.record("list", format!("secrets in {ns}"));
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        let lp = ListParams::default();
        match self.read("list secrets", || api.list(&lp)).await {
            Ok(l) => Ok(Some(l.items)),
            Err(kube::Error::Api(s)) if s.code == 403 => Ok(None),
            Err(e) => Err(self.api_error(&format!("list secrets in namespace {ns}"), e)),
        }
    }

    async fn get_secret_inner(&self, id: &SecretId) -> Result<Got<Secret>> {
        self.record("get", format!("secret {id}"));
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &id.namespace);
        match self.read("get secret", || api.get_opt(&id.name)).await {
            Ok(Some(s)) => Ok(Got::Found(s)),
            Ok(None) => Ok(Got::Absent),
            Err(kube::Error::Api(s)) if s.code == 403 => Ok(Got::Forbidden),
            Err(e) => Err(self.api_error(&format!("secret {id}"), e)),
        }
    }

    /// One secret, `None` when absent. A 403 is an error naming the secret.
    pub async fn get_secret(&self, id: &SecretId) -> Result<Option<Secret>> {
        match self.get_secret_inner(id).await? {
            Got::Found(s) => Ok(Some(s)),
            Got::Absent => Ok(None),
            Got::Forbidden => Err(Error::from(ClusterError {
                source: None,
                cluster: self.name(),
                message: format!("secret {id}: forbidden (403); grant get on it to this identity"),
            })),
        }
    }

    /// Whether a namespace exists (`None` when RBAC forbids asking).
    pub async fn namespace_exists(&self, ns: &str) -> Result<Option<bool>> {
        self.record("get", format!("namespace {ns}"));
        let api: Api<Namespace> = Api::all(self.client.clone());
        match self.read("get namespace", || api.get_opt(ns)).await {
            Ok(n) => Ok(Some(n.is_some())),
            Err(kube::Error::Api(s)) if s.code == 403 => Ok(None),
            Err(e) => Err(self.api_error(&format!("namespace {ns}"), e)),
        }
    }

    /// Creates a namespace; one that exists already is fine.
    pub async fn create_namespace(&self, ns: &str) -> Result<()> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let object = Namespace {
            metadata: kube::api::ObjectMeta {
                name: Some(ns.to_string()),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut attempt = 1;
        loop {
            self.record("create", format!("namespace {ns}"));
            match self.attempt(api.create(&PostParams::default(), &object)).await {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(s)) if s.code == 409 => return Ok(()),
                // Creating a namespace twice is harmless: the 409 above answers the retry.
                Err(e) if self.again("create namespace", attempt, &e).await => attempt += 1,
                Err(kube::Error::Api(s)) if s.code == 403 => {
                    return Err(Error::from(ClusterError { source: None,
                        cluster: self.name(),
                        message: format!("create namespace {ns}: forbidden (403): {}; grant create on namespaces, or create it first (kubectl create namespace {ns})", s.message),
                    }))
                }
                Err(e) => return Err(self.api_error(&format!("create namespace {ns}"), e)),
            }
        }
    }

    /// The uid of `kube-system`: the cluster's identity.
    pub async fn cluster_uid(&self) -> Option<String> {
        self.record("get", "namespace kube-system");
        let api: Api<Namespace> = Api::all(self.client.clone());
        self.read("get namespace", || api.get_opt("kube-system"))
            .await
            .ok()
            .flatten()
            .and_then(|n| n.metadata.uid)
    }

    /// RootTrustPolicies of all namespaces (or of `ns` when listing cluster-wide is
    /// forbidden).
    pub async fn root_trust_policies(&self, ns: &str) -> Result<Policies> {
        let ar = root_trust_policy_resource();
        self.record("list", "roottrustpolicies in all namespaces");
        let all: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
        let lp = ListParams::default();
        let items = match self.read("list roottrustpolicies", || all.list(&lp)).await {
            Ok(l) => l.items,
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(Policies::NoCrd),
            Err(kube::Error::Api(s)) if s.code == 403 => {
                self.record("list", format!("roottrustpolicies in {ns}"));
                let one: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &ar);
                match self.read("list roottrustpolicies", || one.list(&lp)).await {
                    Ok(l) => l.items,
                    Err(kube::Error::Api(s)) if s.code == 404 => return Ok(Policies::NoCrd),
                    Err(kube::Error::Api(s)) if s.code == 403 => return Ok(Policies::Forbidden),
                    Err(e) => return Err(self.api_error("list roottrustpolicies", e)),
                }
            }
            Err(e) => return Err(self.api_error("list roottrustpolicies", e)),
        };
        let mut out = Vec::new();
        for o in items {
            let v = serde_json::to_value(&o).unwrap_or_default();
            out.extend(RootTrustPolicy::from_value(&v, ns));
        }
        Ok(Policies::Listed(out))
    }

    /// LISTs objects of `ar` in `ns` (all namespaces when `None`): the items as JSON,
    /// `Ok(Err(code))` on 403 or 404.
    async fn list_dynamic(
        &self,
        ar: &ApiResource,
        ns: Option<&str>,
    ) -> Result<std::result::Result<Vec<serde_json::Value>, u16>> {
        let what = format!(
            "{}.{} in {}",
            ar.plural,
            ar.group,
            ns.unwrap_or("all namespaces")
        );
        self.record("list", what.clone());
        let api: Api<DynamicObject> = match ns {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, ar),
            None => Api::all_with(self.client.clone(), ar),
        };
        let lp = ListParams::default();
        match self
            .read(&format!("list {}", ar.plural), || api.list(&lp))
            .await
        {
            Ok(l) => Ok(Ok(l
                .items
                .iter()
                .map(|o| serde_json::to_value(o).unwrap_or_default())
                .collect())),
            Err(kube::Error::Api(s)) if s.code == 403 || s.code == 404 => Ok(Err(s.code)),
            Err(e) => Err(self.api_error(&format!("list {what}"), e)),
        }
    }

    /// What `discover` reads besides secrets, in one round: the Deployments of the relay
    /// namespace `ns` (one LIST) and cert-manager Certificates of all namespaces (one LIST;
    /// when that is forbidden, one LIST each in `ns` and `istio-system`, at once). A 404 for
    /// Certificates is a cluster without cert-manager; a 403 is a note naming the permission.
    pub async fn read_workloads(&self, ns: &str) -> Result<Workloads> {
        let deployments = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apps", "v1", "Deployment"),
            "deployments",
        );
        let certificates = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("cert-manager.io", "v1", "Certificate"),
            "certificates",
        );
        let (d, c) = futures::join!(
            self.list_dynamic(&deployments, Some(ns)),
            self.list_dynamic(&certificates, None)
        );
        let mut w = Workloads::default();
        match d? {
            Ok(items) => {
                w.deployments_known = true;
                w.deployments = items
                    .iter()
                    .filter_map(|v| Deployment::from_value(v, ns))
                    .collect();
            }
            Err(403) => w.notes.push(format!("listing deployments.apps in namespace {ns} is forbidden (403): grant list on deployments.apps there to learn which secrets the Gloo pods use")),
            Err(_) => {}
        }
        let mut rounds = 1;
        let certs = match c? {
            Err(403) => {
                rounds += 1;
                let namespaces = [ns, gloo::ISTIO_NAMESPACE];
                let lists = namespaces
                    .iter()
                    .map(|n| self.list_dynamic(&certificates, Some(n)));
                let mut items = Vec::new();
                for (n, r) in namespaces
                    .iter()
                    .zip(futures::future::join_all(lists).await)
                {
                    match r? {
                        Ok(found) => items.extend(found),
                        Err(403) => w.notes.push(format!("listing certificates.cert-manager.io in namespace {n} is forbidden (403): grant list on certificates.cert-manager.io (cluster-wide, or in {n}) to learn which secrets cert-manager issues")),
                        Err(_) => {}
                    }
                }
                items
            }
            Err(_) => Vec::new(),
            Ok(items) => items,
        };
        w.certificates = certs
            .iter()
            .filter_map(|v| Certificate::from_value(v, ns))
            .collect();
        self.rounds
            .fetch_add(rounds, std::sync::atomic::Ordering::Relaxed);
        Ok(w)
    }

    /// Reads the trust secrets into an inventory, with as few calls and round trips as the
    /// credentials allow. Round one asks everything that does not depend on another answer at
    /// once: the RootTrustPolicies, the secrets of the relay namespace and `istio-system`,
    /// and the cluster's identity. Round two, only when a policy names a root outside what
    /// round one read, reads those.
    pub async fn read_inventory(&self, select: &SelectOptions) -> Result<Inventory> {
        let ns = select.namespace.as_str();
        let first = wanted_names(select, &[]);
        let reads = first
            .iter()
            .map(|(namespace, names)| self.read_namespace(namespace, names, ns));
        let (policies, secrets, cluster_uid) = futures::join!(
            self.root_trust_policies(ns),
            futures::future::try_join_all(reads),
            self.cluster_uid()
        );
        let mut rounds = 1;
        let (policies_known, policies_forbidden, policies) = match policies? {
            Policies::Listed(p) => (true, false, p),
            Policies::NoCrd => (false, false, Vec::new()),
            Policies::Forbidden => (false, true, Vec::new()),
        };
        let mut listed = BTreeSet::new();
        let mut found: Vec<Secret> = Vec::new();
        for ((namespace, _), (items, was_listed)) in first.iter().zip(secrets?) {
            if was_listed {
                listed.insert(namespace.clone());
            }
            found.extend(items);
        }
        // What the policies add: whole namespaces not read yet, or names not yet asked for
        // where only GETs are allowed.
        let mut more = wanted_names(select, &policies);
        for (namespace, names) in more.iter_mut() {
            if listed.contains(namespace) {
                names.clear();
            } else if let Some(asked) = first.get(namespace) {
                names.retain(|n| !asked.contains(n));
            }
        }
        more.retain(|_, names| !names.is_empty());
        if !more.is_empty() {
            rounds += 1;
            let reads = more
                .iter()
                .map(|(namespace, names)| self.read_namespace(namespace, names, ns));
            for (items, _) in futures::future::try_join_all(reads).await? {
                found.extend(items);
            }
        }
        self.rounds
            .fetch_add(rounds, std::sync::atomic::Ordering::Relaxed);
        let mut inv = self.inventory(found, policies, policies_known, cluster_uid, ns);
        inv.policies_forbidden = policies_forbidden;
        Ok(inv)
    }

    /// Round trips of requests made by reads so far (each round's requests go out together).
    pub fn rounds(&self) -> usize {
        self.rounds.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn inventory(
        &self,
        secrets: Vec<Secret>,
        policies: Vec<RootTrustPolicy>,
        policies_known: bool,
        cluster_uid: Option<String>,
        ns: &str,
    ) -> Inventory {
        let mut resource_versions = BTreeMap::new();
        let mut seen = BTreeSet::new();
        let records: Vec<SecretRecord> = secrets
            .into_iter()
            .map(|s| SecretRecord::from_k8s(s, ns))
            .filter(|r| seen.insert(r.id.clone()))
            .inspect(|r| {
                if let Some(rv) = &r.resource_version {
                    resource_versions.insert(r.id.to_string(), rv.clone());
                }
            })
            .collect();
        Inventory {
            origin: Origin::Cluster {
                context: self.context.clone(),
                server: self.server.clone(),
                cluster_uid,
            },
            secrets: records,
            policies,
            policies_known,
            resource_versions,
            notes: Vec::new(),
            policies_forbidden: false,
            workloads: Workloads::default(),
        }
    }

    /// The secrets of one namespace: a LIST, or GETs of `names` when listing is forbidden.
    /// `relay_ns` is the Gloo Mesh namespace, which must exist.
    async fn read_namespace(
        &self,
        namespace: &str,
        names: &BTreeSet<String>,
        relay_ns: &str,
    ) -> Result<(Vec<Secret>, bool)> {
        let mut found = Vec::new();
        match self.list_secrets(namespace).await? {
            Some(items) => {
                if items.is_empty()
                    && namespace == relay_ns
                    && self.namespace_exists(relay_ns).await? == Some(false)
                {
                    return Err(Error::from(ClusterError { source: None,
                        cluster: self.name(),
                        message: format!("namespace {relay_ns} does not exist; is Gloo Mesh installed there? (use --namespace)"),
                    }));
                }
                return Ok((items, true));
            }
            None => {
                tracing::info!(cluster = %self.name(), namespace, "listing secrets is forbidden; getting {} known names one by one", names.len());
                let gets = names.iter().map(|n| {
                    let id = SecretId::new(namespace, n.clone());
                    async move { self.get_secret_inner(&id).await.map(|g| (id, g)) }
                });
                for r in futures::future::join_all(gets).await {
                    match r? {
                        (_, Got::Found(s)) => found.push(s),
                        (_, Got::Absent) => {}
                        (id, Got::Forbidden) => {
                            return Err(Error::from(ClusterError { source: None,
                                cluster: self.name(),
                                message: format!("secret {id}: forbidden (403) and listing is forbidden too; grant get on the Gloo Mesh trust secrets"),
                            }))
                        }
                    }
                }
            }
        }
        Ok((found, false))
    }

    /// Creates a secret. When the outcome of an attempt is unknown (no answer, a cut
    /// connection, a 5xx), the secret is read back first: there and identical is done,
    /// absent is tried again, there and different is an error. An `AlreadyExists` answer
    /// with the identical secret in place is done too (an earlier attempt made it).
    pub async fn create_secret(&self, s: &Secret) -> Result<()> {
        let id = id_of(s);
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &id.namespace);
        let what = format!("secret {id}");
        self.create_checked(&api, &what, &id.name, s, |live| same(live, s))
            .await
    }

    /// Replaces a secret (same type), guarded by the resourceVersion that was read. An
    /// unknown outcome is read back: identical is done, still at the guarded
    /// resourceVersion is tried again, anything else is an error.
    pub async fn replace_secret(&self, s: &Secret) -> Result<()> {
        let id = id_of(s);
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &id.namespace);
        let what = format!("secret {id}");
        self.replace_checked(&api, &what, &id.name, s, |live| same(live, s))
            .await
    }

    /// Creates `obj` (`what` names it, `name` is its name) with the care of
    /// [`Cluster::create_secret`]; `same` tells whether a live object is the one written.
    async fn create_checked<K>(
        &self,
        api: &Api<K>,
        what: &str,
        name: &str,
        obj: &K,
        same: impl Fn(&K) -> bool,
    ) -> Result<()>
    where
        K: Clone + serde::de::DeserializeOwned + Serialize + std::fmt::Debug,
    {
        let pp = PostParams::default();
        let mut attempt = 1;
        loop {
            self.record("create", what.to_string());
            let e = match self.attempt(api.create(&pp, obj)).await {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let conflict = matches!(&e, kube::Error::Api(st) if st.code == 409);
            if conflict || transient(&e) {
                match self.read_back(api, what, name).await? {
                    Some(live) if same(&live) => return Ok(()),
                    Some(_) => return Err(self.api_error(&format!("create {what}"), e)),
                    None if self.again(&format!("create {what}"), attempt, &e).await => {}
                    None => return Err(self.api_error(&format!("create {what}"), e)),
                }
            } else {
                return Err(self.api_error(&format!("create {what}"), e));
            }
            attempt += 1;
        }
    }

    /// Replaces `obj`, guarded by the resourceVersion it carries, with the care of
    /// [`Cluster::replace_secret`].
    async fn replace_checked<K>(
        &self,
        api: &Api<K>,
        what: &str,
        name: &str,
        obj: &K,
        same: impl Fn(&K) -> bool,
    ) -> Result<()>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + Serialize + std::fmt::Debug,
    {
        let pp = PostParams::default();
        let mut attempt = 1;
        loop {
            self.record("update", what.to_string());
            let e = match self.attempt(api.replace(name, &pp, obj)).await {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let conflict = matches!(&e, kube::Error::Api(st) if st.code == 409);
            if !(conflict || transient(&e)) {
                return Err(self.api_error(&format!("update {what}"), e));
            }
            match self.read_back(api, what, name).await? {
                Some(live) if same(&live) => return Ok(()),
                Some(live)
                    if !conflict
                        && live.meta().resource_version == obj.meta().resource_version
                        && self.again(&format!("update {what}"), attempt, &e).await => {}
                _ => return Err(self.api_error(&format!("update {what}"), e)),
            }
            attempt += 1;
        }
    }

    /// Deletes a secret; absent afterwards (read back after an unknown outcome, or a 404)
    /// is done.
    pub async fn delete_secret(&self, id: &SecretId) -> Result<()> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &id.namespace);
        let dp = DeleteParams::default();
        let mut attempt = 1;
        loop {
            self.record("delete", format!("secret {id}"));
            let e = match self.attempt(api.delete(&id.name, &dp)).await {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(st)) if st.code == 404 => return Ok(()),
                Err(e) => e,
            };
            if !transient(&e) {
                return Err(self.api_error(&format!("delete secret {id}"), e));
            }
            let api_ref = &api;
            match self
                .read_back(api_ref, &format!("secret {id}"), &id.name)
                .await?
            {
                None => return Ok(()),
                Some(_) if self.again("delete secret", attempt, &e).await => {}
                Some(_) => return Err(self.api_error(&format!("delete secret {id}"), e)),
            }
            attempt += 1;
        }
    }

    /// The object (`what`, named `name`) as it is now, after a write whose outcome is
    /// unknown; a 403 is an error naming it.
    async fn read_back<K>(&self, api: &Api<K>, what: &str, name: &str) -> Result<Option<K>>
    where
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        tracing::info!(cluster = %self.name(), object = %what, "outcome unknown: reading it back");
        self.record("get", what.to_string());
        match self.read("get", || api.get_opt(name)).await {
            Ok(o) => Ok(o),
            Err(kube::Error::Api(s)) if s.code == 403 => Err(Error::from(ClusterError {
                source: None,
                cluster: self.name(),
                message: format!("{what}: forbidden (403); grant get on it to this identity"),
            })),
            Err(e) => Err(self.api_error(what, e)),
        }
    }

    /// Restarts Deployment `ns/name` as `kubectl rollout restart` does: a strategic merge
    /// patch of its pod template's `kubectl.kubernetes.io/restartedAt` annotation to `at`, so
    /// its pods are replaced and read their secrets again. `Ok(false)` when there is no such
    /// Deployment. The patch is idempotent, so a transient failure is simply tried again.
    pub async fn restart_deployment(
        &self,
        ns: &str,
        name: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        use k8s_openapi::api::apps::v1::Deployment;
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
        let when = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut annotations = serde_json::Map::new();
        annotations.insert(RESTARTED_AT.to_string(), when.into());
        let patch =
            serde_json::json!({"spec": {"template": {"metadata": {"annotations": annotations}}}});
        let what = format!("deployment {ns}/{name}");
        self.record("patch", what.clone());
        let (pp, patch) = (PatchParams::default(), Patch::Strategic(&patch));
        let call = || api.patch(name, &pp, &patch);
        match self.read(&format!("patch {what}"), call).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(kube::Error::Api(s)) if s.code == 403 => Err(Error::from(ClusterError {
                source: None,
                cluster: self.name(),
                message: format!("patch {what}: forbidden (403); grant patch on deployments.apps in namespace {ns} to restart it, or restart it yourself (kubectl rollout restart)"),
            })),
            Err(e) => Err(self.api_error(&format!("patch {what}"), e)),
        }
    }

    /// The RootTrustPolicies of `ns`, whole: `None` when RBAC forbids listing them. A cluster
    /// without the CRD is an error saying to install Gloo Mesh's CRDs first.
    pub async fn policies_in(&self, ns: &str) -> Result<Option<Vec<LivePolicy>>> {
        self.record("list", format!("roottrustpolicies in {ns}"));
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), ns, &root_trust_policy_resource());
        let lp = ListParams::default();
        match self.read("list roottrustpolicies", || api.list(&lp)).await {
            Ok(l) => Ok(Some(
                l.items.iter().filter_map(|o| live_policy(o, ns)).collect(),
            )),
            Err(kube::Error::Api(s)) if s.code == 403 => Ok(None),
            Err(kube::Error::Api(s)) if s.code == 404 => Err(Error::from(ClusterError { source: None,
                cluster: self.name(),
                message: "roottrustpolicies.admin.gloo.solo.io is not served (the CRD is absent): install Gloo Mesh's CRDs first (the gloo-platform-crds chart), or restore without --include-policies".into(),
            })),
            Err(e) => Err(self.api_error(&format!("list roottrustpolicies in namespace {ns}"), e)),
        }
    }

    /// One RootTrustPolicy, whole; `None` when absent.
    pub async fn get_policy(&self, ns: &str, name: &str) -> Result<Option<LivePolicy>> {
        let api = self.policy_api(ns);
        let what = format!("roottrustpolicy {ns}/{name}");
        let live = self.read_back(&api, &what, name).await?;
        Ok(live.and_then(|o| live_policy(&o, ns)))
    }

    fn policy_api(&self, ns: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), ns, &root_trust_policy_resource())
    }

    /// Creates a RootTrustPolicy with the care of [`Cluster::create_secret`].
    pub async fn create_policy(&self, p: &PolicyObject) -> Result<()> {
        let (api, obj) = (self.policy_api(&p.metadata.namespace), dynamic(p, None));
        let what = format!("roottrustpolicy {}", p.id());
        let same = |live: &DynamicObject| same_policy(live, p);
        self.create_checked(&api, &what, &p.metadata.name, &obj, same)
            .await
    }

    /// Replaces a RootTrustPolicy, guarded by the live `resource_version`, with the care of
    /// [`Cluster::replace_secret`].
    pub async fn replace_policy(
        &self,
        p: &PolicyObject,
        resource_version: Option<String>,
    ) -> Result<()> {
        let (api, obj) = (
            self.policy_api(&p.metadata.namespace),
            dynamic(p, resource_version),
        );
        let what = format!("roottrustpolicy {}", p.id());
        let same = |live: &DynamicObject| same_policy(live, p);
        self.replace_checked(&api, &what, &p.metadata.name, &obj, same)
            .await
    }
}

/// A listed or read RootTrustPolicy, whole, with its resourceVersion set aside.
fn policy_of(o: &DynamicObject, ns: &str) -> Option<PolicyObject> {
    let v = serde_json::to_value(o).ok()?;
    RootTrustPolicy::from_value(&v, ns).map(|p| p.object)
}

/// A live RootTrustPolicy: the object and the resourceVersion that guards a replace of it.
pub type LivePolicy = (PolicyObject, Option<String>);

fn live_policy(o: &DynamicObject, ns: &str) -> Option<LivePolicy> {
    Some((policy_of(o, ns)?, o.metadata.resource_version.clone()))
}

/// The object a write sends: the policy, with the resourceVersion that guards a replace.
fn dynamic(p: &PolicyObject, resource_version: Option<String>) -> DynamicObject {
    let mut v = serde_json::to_value(p).expect("a policy serializes");
    if let Some(rv) = resource_version {
        v["metadata"]["resourceVersion"] = rv.into();
    }
    serde_json::from_value(v).expect("a policy is a DynamicObject")
}

/// Whether the live policy is the one written (spec, labels, annotations).
fn same_policy(live: &DynamicObject, wanted: &PolicyObject) -> bool {
    policy_of(live, &wanted.metadata.namespace).is_some_and(|l| wanted.differences(&l).is_none())
}

/// Whether the live secret is the one written: type, immutability, data, labels and
/// annotations (server-set fields aside).
fn same(live: &Secret, wanted: &Secret) -> bool {
    let ns = wanted.metadata.namespace.clone().unwrap_or_default();
    SecretRecord::from_k8s(live.clone(), &ns)
        .identical(&SecretRecord::from_k8s(wanted.clone(), &ns))
}

/// Namespaces to read and the names that matter in each (for the GET fallback): the
/// well-known Gloo Mesh names (or the profile's), the roots RootTrustPolicies name, and `--include`.
fn wanted_names(
    select: &SelectOptions,
    policies: &[RootTrustPolicy],
) -> BTreeMap<String, BTreeSet<String>> {
    let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let ids = select::known(select)
        .into_iter()
        .map(|(id, _)| id)
        .chain(policies.iter().flat_map(RootTrustPolicy::root_secrets))
        .chain(
            select
                .include
                .iter()
                .map(|i| SecretId::parse(i, &select.namespace)),
        );
    for id in ids {
        wanted.entry(id.namespace).or_default().insert(id.name);
    }
    wanted
}

fn id_of(s: &Secret) -> SecretId {
    SecretId::new(
        s.metadata.namespace.clone().unwrap_or_default(),
        s.metadata.name.clone().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two contexts; the cluster `cb` is named twice, as merged files can name it (kube takes
    /// the first entry of a name).
    const KUBECONFIG: &str = "
apiVersion: v1
kind: Config
current-context: a
clusters:
- name: ca
  cluster: {server: 'https://127.0.0.1:1001'}
- name: cb
  cluster: {server: 'https://127.0.0.1:1002'}
- name: cb
  cluster: {server: 'https://127.0.0.1:9999'}
users:
- name: ua
  user: {token: token-a}
- name: ub
  user: {token: token-b}
contexts:
- name: a
  context: {cluster: ca, user: ua, namespace: na}
- name: b
  context: {cluster: cb, user: ub}
";

    #[tokio::test]
    async fn one_context_configures_the_client_the_whole_file_does() {
        let kc = Kubeconfig::from_yaml(KUBECONFIG).unwrap();
        for context in [None, Some("a"), Some("b")] {
            let part = only_context(&kc, context);
            assert_eq!(part.contexts.len(), 1);
            assert_eq!(part.clusters.len(), 1);
            assert_eq!(part.auth_infos.len(), 1);
            let opts = KubeConfigOptions {
                context: context.map(str::to_string),
                ..Default::default()
            };
            let whole = kube::Config::from_custom_kubeconfig(kc.clone(), &opts)
                .await
                .unwrap();
            let reduced = kube::Config::from_custom_kubeconfig(part, &opts)
                .await
                .unwrap();
            assert_eq!(whole.cluster_url, reduced.cluster_url, "{context:?}");
            assert_eq!(whole.default_namespace, reduced.default_namespace);
            assert!(whole.auth_info.token.is_some() && reduced.auth_info.token.is_some());
        }
        let b = only_context(&kc, Some("b"));
        assert_eq!(
            b.clusters[0].cluster.as_ref().unwrap().server.as_deref(),
            Some("https://127.0.0.1:1002"),
            "the first cluster of a name, as kube picks it"
        );
        let missing = only_context(&kc, Some("nope"));
        let opts = KubeConfigOptions {
            context: Some("nope".into()),
            ..Default::default()
        };
        let e = kube::Config::from_custom_kubeconfig(missing, &opts)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }

    #[test]
    fn a_fleet_reads_its_kubeconfig_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, KUBECONFIG).unwrap();
        let shared = SharedKubeconfig::default();
        let copy = shared.clone();
        assert!(shared.for_context(Some(&path), Some("a")).is_ok());
        std::fs::remove_file(&path).unwrap();
        // Read already: the file is not read again, by this reference or a clone of it.
        let b = copy.for_context(Some(&path), Some("b")).unwrap();
        assert_eq!(b.contexts[0].name, "b");
        // Another file is its own, read when asked for.
        let other = dir.path().join("other");
        let e = copy.for_context(Some(&other), Some("a")).unwrap_err();
        assert!(!e.is_empty());
        assert!(format!("{copy:?}").contains("read: true"));
        assert!(!format!("{copy:?}").contains("token"));
    }
}
