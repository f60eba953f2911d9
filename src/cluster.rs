//! Live clusters through the Kubernetes API (the `kube` client over HTTPS): connecting from
//! a kubeconfig context or the in-cluster service account, reading the trust secrets into the
//! same [`Inventory`] a `--from` file gives, and the few writes a restore makes.
//!
//! Reads use one LIST of secrets per namespace when RBAC allows it, and fall back to concurrent
//! GETs of the known names when only `get` is allowed (least privilege). Every API call is
//! recorded ([`Cluster::calls`]) so `--verbose` can show how many were made. Errors name the
//! cluster and the object; secret values are never logged.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::secret::{SecretId, SecretRecord};
use crate::select::{self, SelectOptions};
use crate::source::{Inventory, Origin, RootTrustPolicy};

/// Which cluster to talk to: a kubeconfig (default `KUBECONFIG` or `~/.kube/config`, then the
/// in-cluster service account) and a context in it (default: the current context).
#[derive(Clone, Debug, Default)]
pub struct ClusterRef {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
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

/// The group, version and plural of Gloo Mesh's RootTrustPolicy.
pub fn root_trust_policy_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("admin.gloo.solo.io", "v2", "RootTrustPolicy"),
        "roottrustpolicies",
    )
}

impl Cluster {
    /// Connects (nothing is sent until the first call).
    pub async fn connect(target: &ClusterRef) -> Result<Cluster> {
        let label = target
            .context
            .clone()
            .unwrap_or_else(|| "current context".into());
        let err = |message: String| Error::Cluster {
            cluster: label.clone(),
            message,
        };
        let config = if target.kubeconfig.is_none() && target.context.is_none() {
            kube::Config::infer().await.map_err(|e| err(format!("no usable kubeconfig or in-cluster service account ({e}); pass --kubeconfig or --context")))?
        } else {
            let kc = match &target.kubeconfig {
                Some(p) => Kubeconfig::read_from(p)
                    .map_err(|e| err(format!("cannot read kubeconfig {} ({e})", p.display())))?,
                None => Kubeconfig::read().map_err(|e| {
                    err(format!(
                        "cannot read the kubeconfig ({e}); pass --kubeconfig"
                    ))
                })?,
            };
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
        let client = kube::Client::try_from(config)
            .map_err(|e| err(format!("cannot build a client ({e})")))?;
        Ok(Cluster {
            client,
            context: target.context.clone(),
            server,
            calls: Mutex::new(Vec::new()),
            rounds: Default::default(),
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

    fn api_error(&self, object: &str, e: kube::Error) -> Error {
        let message = match &e {
            kube::Error::Api(s) if s.code == 401 => format!("{object}: credentials rejected (401 {}); are they expired? refresh the kubeconfig", s.message),
            kube::Error::Api(s) if s.code == 403 => format!("{object}: forbidden (403): {}; grant get/list on secrets to this identity", s.message),
            kube::Error::Api(s) => format!("{object}: {} ({} {})", s.message, s.code, s.reason),
            other => format!("{object}: cannot reach the API server at {} ({other}); is it running and is the kubeconfig right?", self.server),
        };
        Error::Cluster {
            cluster: self.name(),
            message,
        }
    }

    /// Lists the secrets of a namespace; `None` when RBAC forbids listing.
    pub async fn list_secrets(&self, ns: &str) -> Result<Option<Vec<Secret>>> {
        self.record("list", format!("secrets in {ns}"));
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        match api.list(&ListParams::default()).await {
            Ok(l) => Ok(Some(l.items)),
            Err(kube::Error::Api(s)) if s.code == 403 => Ok(None),
            Err(e) => Err(self.api_error(&format!("list secrets in namespace {ns}"), e)),
        }
    }

    async fn get_secret_inner(&self, id: &SecretId) -> Result<Got<Secret>> {
        self.record("get", format!("secret {id}"));
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &id.namespace);
        match api.get_opt(&id.name).await {
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
            Got::Forbidden => Err(Error::Cluster {
                cluster: self.name(),
                message: format!("secret {id}: forbidden (403); grant get on it to this identity"),
            }),
        }
    }

    /// Whether a namespace exists (`None` when RBAC forbids asking).
    pub async fn namespace_exists(&self, ns: &str) -> Result<Option<bool>> {
        self.record("get", format!("namespace {ns}"));
        let api: Api<Namespace> = Api::all(self.client.clone());
        match api.get_opt(ns).await {
            Ok(n) => Ok(Some(n.is_some())),
            Err(kube::Error::Api(s)) if s.code == 403 => Ok(None),
            Err(e) => Err(self.api_error(&format!("namespace {ns}"), e)),
        }
    }

    /// The uid of `kube-system`: the cluster's identity.
    pub async fn cluster_uid(&self) -> Option<String> {
        self.record("get", "namespace kube-system");
        let api: Api<Namespace> = Api::all(self.client.clone());
        api.get_opt("kube-system")
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
        let items = match all.list(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(Policies::NoCrd),
            Err(kube::Error::Api(s)) if s.code == 403 => {
                self.record("list", format!("roottrustpolicies in {ns}"));
                let one: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &ar);
                match one.list(&ListParams::default()).await {
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
            if let Some(p) = RootTrustPolicy::from_value(&v, ns) {
                out.push(p);
            }
        }
        Ok(Policies::Listed(out))
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
                    return Err(Error::Cluster {
                        cluster: self.name(),
                        message: format!("namespace {relay_ns} does not exist; is Gloo Mesh installed there? (use --namespace)"),
                    });
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
                            return Err(Error::Cluster {
                                cluster: self.name(),
                                message: format!("secret {id}: forbidden (403) and listing is forbidden too; grant get on the Gloo Mesh trust secrets"),
                            })
                        }
                    }
                }
            }
        }
        Ok((found, false))
    }

    /// Creates a secret.
    pub async fn create_secret(&self, s: &Secret) -> Result<()> {
        let id = id_of(s);
        self.record("create", format!("secret {id}"));
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &id.namespace);
        api.create(&PostParams::default(), s)
            .await
            .map(|_| ())
            .map_err(|e| self.api_error(&format!("create secret {id}"), e))
    }

    /// Replaces a secret (same type), guarded by the resourceVersion that was read.
    pub async fn replace_secret(&self, s: &Secret) -> Result<()> {
        let id = id_of(s);
        self.record("update", format!("secret {id}"));
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &id.namespace);
        api.replace(&id.name, &PostParams::default(), s)
            .await
            .map(|_| ())
            .map_err(|e| self.api_error(&format!("update secret {id}"), e))
    }

    /// Deletes a secret.
    pub async fn delete_secret(&self, id: &SecretId) -> Result<()> {
        self.record("delete", format!("secret {id}"));
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &id.namespace);
        api.delete(&id.name, &DeleteParams::default())
            .await
            .map(|_| ())
            .map_err(|e| self.api_error(&format!("delete secret {id}"), e))
    }
}

/// Namespaces to read and the names that matter in each (for the GET fallback): the
/// well-known Gloo Mesh names, the roots RootTrustPolicies name, and `--include`.
fn wanted_names(
    select: &SelectOptions,
    policies: &[RootTrustPolicy],
) -> BTreeMap<String, BTreeSet<String>> {
    let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let ids = select::well_known(&select.namespace)
        .into_iter()
        .map(|(id, _)| id)
        .chain(policies.iter().filter_map(RootTrustPolicy::root_secret))
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
