//! The source stage: where secrets come from. One [`Source`] serves `--from` files, folders of
//! the manual backup procedure and live clusters; each `read`s into the same [`Inventory`]:
//! every Secret it holds (as [`SecretRecord`]s), the RootTrustPolicies it knows of, and where it
//! came from ([`Origin`]). A source does not choose which secrets matter (that is
//! [`crate::select`]) and never logs secret values. A new kind of source is a new variant
//! here and a file beside this one.

pub(crate) mod file;
mod manual;
mod policy;
mod policy_object;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cluster::{Cluster, ClusterRef};
use crate::error::Result;
use crate::findings::Finding;
use crate::secret::SecretRecord;
use crate::select::SelectOptions;
use crate::workload::Workloads;
pub use file::read_file;
pub use policy::{RootSource, RootTrustPolicy};
pub use policy_object::{PolicyMeta, PolicyObject};

/// Where to read a cluster's secrets from.
#[derive(Clone, Debug)]
pub enum Source {
    /// `kubectl get -o yaml|json` output in a file (`-` is standard input).
    File(String),
    /// Folders made by the seed document's manual backup procedure.
    ManualFolders(Vec<PathBuf>),
    /// A live cluster through the Kubernetes API.
    Cluster(ClusterRef),
}

impl Source {
    /// Reads everything the source holds. Secrets without a namespace (files, folders) are
    /// placed in `select.namespace`; a cluster is read for the names `select` asks for.
    pub async fn read(&self, select: &SelectOptions) -> Result<Inventory> {
        match self {
            Source::File(path) => read_file(path, &select.namespace),
            Source::ManualFolders(dirs) => manual::read_folders(dirs, &select.namespace),
            Source::Cluster(target) => {
                let c = Cluster::connect(target).await?;
                let inv = c.read_inventory(select).await;
                tracing::info!(cluster = %c.name(), calls = c.calls().len(), round_trips = c.rounds(), "read the cluster");
                for call in c.calls() {
                    tracing::debug!("API call: {} {}", call.verb, call.what);
                }
                inv
            }
        }
    }

    /// What [`Source::read`] reads, and for a live cluster also its Deployments and
    /// Certificates ([`Inventory::workloads`]), all in one round of concurrent requests.
    /// Only `discover` calls this: `backup` and `audit` never read those kinds.
    pub async fn read_for_discovery(&self, select: &SelectOptions) -> Result<Inventory> {
        let Source::Cluster(target) = self else {
            return self.read(select).await;
        };
        let c = Cluster::connect(target).await?;
        let (inv, workloads) = futures::join!(
            c.read_inventory(select),
            c.read_workloads(&select.namespace)
        );
        tracing::info!(cluster = %c.name(), calls = c.calls().len(), "read the cluster for discovery");
        for call in c.calls() {
            tracing::debug!("API call: {} {}", call.verb, call.what);
        }
        let mut inv = inv?;
        inv.workloads = workloads?;
        Ok(inv)
    }

    /// The name a cluster gets when the user gives none, before reading: the file's stem or
    /// the context (see [`Origin::short_name`] for after).
    pub(crate) fn default_name(&self) -> Option<String> {
        match self {
            Source::File(path) => Some(Origin::File { path: path.clone() }.short_name()),
            Source::Cluster(t) => t.context.clone(),
            Source::ManualFolders(_) => None,
        }
    }
}

/// Where an inventory came from, as recorded in an archive's manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// A file in the format `kubectl get -o yaml|json` prints (`-` is standard input).
    File { path: String },
    /// Folders made by the seed document's manual backup procedure.
    ManualFolders { paths: Vec<String> },
    /// A live cluster read through the Kubernetes API.
    Cluster {
        context: Option<String>,
        server: String,
        /// UID of the `kube-system` namespace: the cluster's identity.
        cluster_uid: Option<String>,
    },
}

impl Origin {
    /// A short name for file names and reports: the file stem, or the context.
    pub(crate) fn short_name(&self) -> String {
        match self {
            Origin::File { path } if path == "-" => "stdin".to_string(),
            Origin::File { path } => Path::new(path)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "source".into()),
            Origin::ManualFolders { .. } => "import".to_string(),
            Origin::Cluster { context, .. } => {
                context.clone().unwrap_or_else(|| "cluster".to_string())
            }
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File { path } => write!(f, "file {path}"),
            Origin::ManualFolders { paths } => write!(f, "folders {}", paths.join(", ")),
            Origin::Cluster {
                context, server, ..
            } => match context {
                Some(c) => write!(f, "cluster {c} ({server})"),
                None => write!(f, "cluster {server}"),
            },
        }
    }
}

/// Everything one source holds, before selection.
#[derive(Clone, Debug)]
pub struct Inventory {
    pub origin: Origin,
    pub secrets: Vec<SecretRecord>,
    pub policies: Vec<RootTrustPolicy>,
    /// False when the source could not tell whether RootTrustPolicies exist (e.g. the CRD is
    /// absent on a live cluster); a file always knows.
    pub policies_known: bool,
    /// True when they could not be listed because RBAC forbids it (not because the CRD is
    /// absent): roots the policies name may then be missing.
    pub policies_forbidden: bool,
    /// resourceVersion of each secret read, for the record.
    pub resource_versions: BTreeMap<String, String>,
    /// What reading found worth reporting (e.g. keys of manual folders), check ids `import.*`.
    pub notes: Vec<Finding>,
    /// Deployments and cert-manager Certificates, for `discover` only: a file's are parsed,
    /// a live cluster's are read only by [`Source::read_for_discovery`].
    pub workloads: Workloads,
}
