//! The source stage: where secrets come from. One [`Source`] serves `--from` files, folders of
//! the manual backup procedure and live clusters; each `read`s into the same [`Inventory`]:
//! every Secret it holds (as [`SecretRecord`]s), the RootTrustPolicies it knows of, and where it
//! came from ([`Origin`]). A source does not choose which secrets matter (that is
//! [`crate::select`]) and never logs secret values. A new kind of source is a new variant
//! here and a file beside this one.

pub(crate) mod file;
mod manual;
mod pem;

use std::path::PathBuf;

use crate::cluster::{Cluster, ClusterRef};
use crate::error::Result;
use crate::inventory::{Inventory, Origin};
use crate::select::SelectOptions;
pub use file::read_file;

/// Where to read a cluster's secrets from.
#[derive(Clone, Debug)]
pub enum Source {
    /// `kubectl get -o yaml|json` output in a file (`-` is standard input).
    File(String),
    /// Folders made by the seed document's manual backup procedure.
    ManualFolders(Vec<PathBuf>),
    /// A bring-your-own set as PEM files: a folder per role or secret (`source/pem.rs`).
    PemDir(PathBuf),
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
            Source::PemDir(dir) => pem::read_pem_dir(dir, &select.namespace),
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
            Source::PemDir(dir) => Some(
                Origin::PemDir {
                    path: dir.display().to_string(),
                }
                .short_name(),
            ),
            Source::ManualFolders(_) => None,
        }
    }
}
