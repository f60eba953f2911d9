//! A snapshot: the selected trust set of one cluster at one moment, ready to be archived or
//! checked.
//!
//! It is the meeting point of the data path: sources and selection produce it, the archive
//! module writes and reads it, and the checks and restore planning consume it, whether it came
//! from a file, a live cluster or an archive.

use chrono::{DateTime, Utc};

use crate::findings::Finding;
use crate::gloo::ClusterKind;
use crate::gloo::RelayMode;
use crate::inventory::{Inventory, Origin, PolicyObject};
use crate::select::{self, SelectOptions, Selected, Selection};

/// The trust set of one cluster at one moment.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// When it was taken (injected, never read from the clock here).
    pub created: DateTime<Utc>,
    pub origin: Origin,
    /// The cluster's name as Gloo Mesh knows it (agents' SAN), or the source's short name.
    pub cluster: String,
    pub kind: ClusterKind,
    /// Sorted by namespace, then name.
    pub secrets: Vec<Selected>,
    /// What selection found missing or noteworthy.
    pub findings: Vec<Finding>,
    /// The relay mode the `--profile` gives, if one was used.
    pub relay_mode: Option<RelayMode>,
    /// The source's RootTrustPolicies whole, sorted by namespace, then name; archived, and
    /// restored only on request (`restore --include-policies`).
    pub policies: Vec<PolicyObject>,
}

impl Snapshot {
    /// Selects the trust set of `inventory` and freezes it, named `cluster` (default: the
    /// source's short name) at `created`: what `backup`, `import` and `audit` take.
    pub fn take(
        inventory: &Inventory,
        select: &SelectOptions,
        cluster: Option<&str>,
        created: DateTime<Utc>,
    ) -> Self {
        let selection = select::select(inventory, select);
        let cluster = cluster
            .map(str::to_string)
            .unwrap_or_else(|| inventory.origin.short_name());
        Snapshot::new(inventory, selection, cluster, created)
    }

    /// Freezes a selection made from `inventory`.
    pub fn new(
        inventory: &Inventory,
        selection: Selection,
        cluster: impl Into<String>,
        created: DateTime<Utc>,
    ) -> Self {
        let cluster = cluster.into();
        let mut policies: Vec<PolicyObject> = inventory
            .policies
            .iter()
            .map(|p| p.object.clone())
            .collect();
        policies.sort_by(|a, b| {
            a.metadata
                .namespace
                .cmp(&b.metadata.namespace)
                .then(a.metadata.name.cmp(&b.metadata.name))
        });
        Snapshot {
            policies,
            created,
            origin: inventory.origin.clone(),
            kind: selection.kind,
            relay_mode: selection.relay_mode,
            secrets: selection.secrets,
            findings: selection
                .findings
                .into_iter()
                .map(|f| f.cluster(cluster.clone()))
                .collect(),
            cluster,
        }
    }
}
