//! What a source read, before selection: an [`Inventory`] of Secrets (as [`SecretRecord`]s),
//! the RootTrustPolicies (parsed, [`RootTrustPolicy`], and whole, [`PolicyObject`]) and where
//! it came from ([`Origin`]). Sources and live clusters produce it, selection reads it; it
//! does no I/O and imports no stage above it.

mod policy;
mod policy_object;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::findings::Finding;
use crate::secret::SecretRecord;
use crate::workload::Workloads;
pub use policy::{RootSource, RootTrustPolicy};
pub use policy_object::{PolicyMeta, PolicyObject};

/// Where an inventory came from, as recorded in an archive's manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// A file in the format `kubectl get -o yaml|json` prints (`-` is standard input).
    File { path: String },
    /// Folders made by the seed document's manual backup procedure.
    ManualFolders { paths: Vec<String> },
    /// A directory of PEM files, a folder per role or secret.
    PemDir { path: String },
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
            Origin::PemDir { path } => Path::new(path.trim_end_matches('/'))
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "pem".into()),
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
            Origin::PemDir { path } => write!(f, "PEM directory {path}"),
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
