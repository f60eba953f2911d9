//! `manifest.json`, the first entry of every archive: what the archive holds and the size and
//! SHA-256 of every other entry. Documented in docs/archive-format.md; change both together.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::findings::Finding;
use crate::gloo::{ClusterKind, Role};
use crate::inventory::Origin;
use crate::pki::CertSummary;

/// The value of `format` in every manifest.
pub(crate) const FORMAT: &str = "trustkeep-archive";
/// The format version of an archive without RootTrustPolicies: what every trustkeep reads.
pub(crate) const VERSION_1: u64 = 1;
/// The format version of an archive that carries RootTrustPolicies (`policies` here and
/// `policies/` entries in the tar), which a version 1 reader would refuse as extra entries.
/// The newest version this build writes and reads.
pub(crate) const VERSION: u64 = 2;

/// The whole manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Format version; readers refuse versions they do not know.
    pub version: u64,
    pub tool: Tool,
    /// When the snapshot was taken (UTC, RFC 3339).
    pub created: DateTime<Utc>,
    /// Where the secrets were read.
    pub source: Origin,
    pub cluster: ClusterInfo,
    pub secrets: Vec<SecretEntry>,
    /// What selection found missing or noteworthy when the archive was written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// The RootTrustPolicies, sorted by namespace then name (version 2; absent in version 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PolicyEntry>,
}

/// One RootTrustPolicy: its `policies/<namespace>/<name>.yaml` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyEntry {
    pub namespace: String,
    pub name: String,
    #[serde(flatten)]
    pub file: FileEntry,
}

/// The program that wrote the archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

/// The cluster the secrets belong to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    pub name: String,
    pub kind: ClusterKind,
}

/// Size and digest of one tar entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path inside the tar.
    pub path: String,
    pub size: u64,
    /// SHA-256 of the entry's bytes, lowercase hex.
    pub sha256: String,
}

/// One secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecretEntry {
    pub namespace: String,
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub role: Role,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub immutable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// `Kind/name` of owner references the source had; they are not restored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<String>,
    /// `secrets/<ns>/<name>/secret.yaml`, a manifest `kubectl apply -f` accepts.
    pub manifest: FileEntry,
    /// Every data key, sorted.
    pub data: Vec<DataEntry>,
}

/// One data key of a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataEntry {
    pub key: String,
    #[serde(flatten)]
    pub file: FileEntry,
    /// Certificates found in the value, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<CertSummary>,
    /// Why the value looked like a certificate PEM but did not parse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pem_error: Option<String>,
}

/// What reports (`inspect`, `backup --output json`) show of a manifest: no digest of a secret
/// value (an unsalted sha256 of a weak secret can be brute-forced) and no annotation that
/// copies the data. The archive itself keeps everything.
#[derive(Clone, Debug, Serialize)]
pub struct ManifestReport {
    pub format: String,
    pub version: u64,
    pub tool: Tool,
    pub created: DateTime<Utc>,
    pub source: Origin,
    pub cluster: ClusterInfo,
    pub secrets: Vec<SecretReport>,
    pub findings: Vec<Finding>,
    /// The RootTrustPolicies the archive carries (restored only with `--include-policies`).
    pub policies: Vec<PolicyReport>,
}

/// One RootTrustPolicy in a report.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyReport {
    pub namespace: String,
    pub name: String,
    pub size: u64,
}

/// One secret in a report.
#[derive(Clone, Debug, Serialize)]
pub struct SecretReport {
    pub namespace: String,
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub role: Role,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub immutable: bool,
    pub resource_version: Option<String>,
    pub owner_references: Vec<String>,
    pub data: Vec<DataReport>,
}

/// One data key in a report: its size and certificates, never its digest or value.
#[derive(Clone, Debug, Serialize)]
pub struct DataReport {
    pub key: String,
    pub size: u64,
    pub certificates: Vec<CertSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pem_error: Option<String>,
}

impl Manifest {
    /// The view of this manifest that reports print.
    pub fn report(&self) -> ManifestReport {
        ManifestReport {
            format: self.format.clone(),
            version: self.version,
            tool: self.tool.clone(),
            created: self.created,
            source: self.source.clone(),
            cluster: self.cluster.clone(),
            findings: self.findings.clone(),
            policies: self
                .policies
                .iter()
                .map(|p| PolicyReport {
                    namespace: p.namespace.clone(),
                    name: p.name.clone(),
                    size: p.file.size,
                })
                .collect(),
            secrets: self
                .secrets
                .iter()
                .map(|s| SecretReport {
                    namespace: s.namespace.clone(),
                    name: s.name.clone(),
                    type_: s.type_.clone(),
                    role: s.role,
                    labels: s.labels.clone(),
                    annotations: s
                        .annotations
                        .iter()
                        .map(|(k, v)| (k.clone(), crate::secret::reportable_annotation(k, v)))
                        .collect(),
                    immutable: s.immutable,
                    resource_version: s.resource_version.clone(),
                    owner_references: s.owner_references.clone(),
                    data: s
                        .data
                        .iter()
                        .map(|d| DataReport {
                            key: d.key.clone(),
                            size: d.file.size,
                            certificates: d.certificates.clone(),
                            pem_error: d.pem_error.clone(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// Every entry the tar must hold after `manifest.json`, in order: each secret's, then
    /// each policy's.
    pub fn entries(&self) -> impl Iterator<Item = &FileEntry> {
        self.secrets
            .iter()
            .flat_map(|s| std::iter::once(&s.manifest).chain(s.data.iter().map(|d| &d.file)))
            .chain(self.policies.iter().map(|p| &p.file))
    }
}
