//! The auditor's report: one self-contained file an auditor attaches to a ticket, written by
//! `audit --report FILE` and `verify --report FILE`. `FILE.html` holds a summary, the trust
//! graph as inline SVG, an expiry timeline, the findings with their explanations and the
//! inventory of secrets and keys; `FILE.md` holds the same as Markdown with a Mermaid diagram
//! (which GitHub and GitLab render). Neither needs the network to open, neither holds a
//! script, and neither ever holds a secret value: only names, key names, sizes and
//! certificates, which are public.

mod graph;
mod html;
mod markdown;
mod svg;

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::findings::Severity;
use crate::snapshot::Snapshot;
use crate::trust_policy::Provenance;
use crate::verdict::AuditReport;
pub use graph::TrustGraph;

/// Everything a report shows.
#[derive(Debug)]
pub struct Evidence<'a> {
    /// `audit` or `verify`.
    pub command: &'static str,
    /// When the report was made.
    pub generated: DateTime<Utc>,
    /// The time certificates were checked at (`--at`).
    pub checked_at: DateTime<Utc>,
    pub snapshots: &'a [Snapshot],
    pub report: &'a AuditReport,
    pub graph: TrustGraph,
    /// `verify`: each archive and its origin (who signed it, whether the policy admits it).
    pub origins: Vec<(String, Provenance)>,
}

impl<'a> Evidence<'a> {
    pub fn new(
        command: &'static str,
        generated: DateTime<Utc>,
        checked_at: DateTime<Utc>,
        snapshots: &'a [Snapshot],
        report: &'a AuditReport,
    ) -> Self {
        Evidence {
            command,
            generated,
            checked_at,
            snapshots,
            report,
            graph: TrustGraph::new(snapshots, &report.findings),
            origins: Vec::new(),
        }
    }

    /// The archives' origins, for a `verify` report.
    pub fn with_origins(mut self, origins: Vec<(String, Provenance)>) -> Self {
        self.origins = origins;
        self
    }

    /// Findings of a severity.
    fn count(&self, s: Severity) -> usize {
        self.report
            .findings
            .iter()
            .filter(|f| f.severity == s)
            .count()
    }

    /// `PASS` or `FAIL`.
    fn verdict(&self) -> &'static str {
        if self.report.ok {
            "PASS"
        } else {
            "FAIL"
        }
    }
}

/// The cells of the report's tables, unescaped: each format escapes and lays them out.
pub(crate) mod rows {
    use super::graph::Node;
    use super::Evidence;
    use crate::check_id::CheckId;

    /// `expires, days left, certificate, kind, kept in`, soonest first, with the node.
    pub fn timeline<'e>(e: &'e Evidence<'_>) -> Vec<(&'e Node, [String; 5])> {
        let mut nodes: Vec<&Node> = e.graph.nodes.iter().collect();
        nodes.sort_by_key(|n| n.summary.not_after);
        nodes
            .into_iter()
            .map(|n| {
                let places: Vec<String> = n
                    .places
                    .iter()
                    .map(|p| format!("{}:{}[{}]", p.cluster, p.secret, p.key))
                    .collect();
                let cells = [
                    n.summary.not_after.format("%Y-%m-%d %H:%M").to_string(),
                    n.days_left(e.checked_at).to_string(),
                    n.name(),
                    n.kind.as_str().to_string(),
                    places.join(", "),
                ];
                (n, cells)
            })
            .collect()
    }

    /// `what, value` rows of the setup's shape: relay mode, architecture, placement, roots
    /// and the CA keys kept in the management cluster (names, never values).
    pub fn setup(e: &Evidence<'_>) -> Vec<[String; 2]> {
        let Some(s) = &e.report.setup else {
            return Vec::new();
        };
        let mode = match (s.relay_mode, s.relay_mode_source) {
            (Some(m), crate::checks::ModeSource::Profile) => format!("{} (profile)", m.as_str()),
            (Some(m), _) => format!("{} (inferred from the secrets)", m.as_str()),
            (None, _) => "unknown (no relay secret seen; discover a profile to tell)".into(),
        };
        let keys: Vec<String> = s
            .ca_keys_in_management_cluster
            .iter()
            .map(|k| {
                let what = if k.root { "root" } else { "intermediate" };
                format!("{}[{}] ({what} {})", k.secret, k.key, k.subject)
            })
            .collect();
        let or_none = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join("; ")
            }
        };
        vec![
            ["relay mode".into(), mode],
            ["architecture".into(), s.architecture.describe().into()],
            ["placement".into(), s.placement.describe().into()],
            ["relay roots".into(), or_none(&s.relay_roots)],
            ["Istio roots".into(), or_none(&s.istio_roots)],
            ["CA keys in the management cluster".into(), or_none(&keys)],
        ]
    }

    /// The column names of each table (one place for both formats).
    pub const TIMELINE: [&str; 5] = ["expires", "days left", "certificate", "kind", "kept in"];
    pub const FINDINGS: [&str; 7] = [
        "severity",
        "check",
        "cluster",
        "secret",
        "key",
        "finding",
        "what the check is",
    ];
    pub const ORIGINS: [&str; 5] = ["archive", "origin", "principal", "key", "detail"];
    pub const INVENTORY: [&str; 6] = [
        "cluster",
        "secret",
        "role",
        "type",
        "keys (bytes)",
        "status",
    ];

    /// `severity, check, cluster, secret, key, finding, what the check is`.
    pub fn findings(e: &Evidence<'_>) -> Vec<[String; 7]> {
        e.report
            .findings
            .iter()
            .map(|f| {
                let about = CheckId::parse(&f.check).map(|c| c.description());
                [
                    f.severity.to_string(),
                    f.check.clone(),
                    f.cluster.clone().unwrap_or_default(),
                    f.secret.clone().unwrap_or_default(),
                    f.key.clone().unwrap_or_default(),
                    f.message.clone(),
                    about.unwrap_or("").to_string(),
                ]
            })
            .collect()
    }

    /// `archive, origin, principal, key, detail`: who signed each archive `verify` read.
    pub fn origins(e: &Evidence<'_>) -> Vec<[String; 5]> {
        e.origins
            .iter()
            .map(|(archive, p)| {
                let signer = p.signer.as_ref();
                [
                    archive.clone(),
                    p.status.as_str().to_string(),
                    signer
                        .and_then(|s| s.principal.clone())
                        .unwrap_or_else(|| "-".into()),
                    signer.map(|s| s.key.clone()).unwrap_or_else(|| "-".into()),
                    p.detail.clone(),
                ]
            })
            .collect()
    }

    /// `cluster, secret, role, type, keys (bytes), status`: names and sizes, never values.
    pub fn inventory(e: &Evidence<'_>) -> Vec<[String; 6]> {
        let mut out = Vec::new();
        for s in e.snapshots {
            for sel in &s.secrets {
                let id = sel.record.id.to_string();
                let keys: Vec<String> = sel
                    .record
                    .data
                    .iter()
                    .map(|(k, v)| format!("{k} ({})", v.len()))
                    .collect();
                let status = e
                    .report
                    .secrets
                    .iter()
                    .find(|x| x.cluster == s.cluster && x.secret == id)
                    .map(|x| x.status)
                    .unwrap_or("-");
                out.push([
                    s.cluster.clone(),
                    id,
                    sel.role.to_string(),
                    sel.record.type_.clone(),
                    keys.join(", "),
                    status.to_string(),
                ]);
            }
        }
        out
    }
}

/// The formats a report can have, by file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Html,
    Markdown,
}

impl Format {
    /// `.html`/`.htm` or `.md`/`.markdown`; none for anything else (the CLI refuses such a
    /// `--report` before the audit runs).
    pub fn of(path: &Path) -> Option<Format> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("html" | "htm") => Some(Format::Html),
            Some("md" | "markdown") => Some(Format::Markdown),
            _ => None,
        }
    }
}

/// Renders the report in the format its file name asks for.
pub fn render(path: &Path, e: &Evidence<'_>) -> Result<String> {
    let format = Format::of(path).ok_or_else(|| Error::Refused {
        path: path.to_path_buf(),
        message: "is named neither FILE.html nor FILE.md; the report's format comes from its name"
            .into(),
    })?;
    Ok(match format {
        Format::Html => html::page(e),
        Format::Markdown => markdown::document(e),
    })
}

/// Writes the report atomically (never a half-written file under the final name).
pub fn write(path: &Path, e: &Evidence<'_>) -> Result<()> {
    let text = render(path, e)?;
    crate::store::write_atomic(path, text.as_bytes(), true)
}

/// The colour class of a certificate's time to expiry.
pub(crate) fn expiry_class(days_left: i64) -> &'static str {
    match days_left {
        d if d < 0 => "expired",
        d if d < 7 => "week",
        d if d < 30 => "month",
        _ => "ok",
    }
}

/// The fill of each expiry class (shared by the SVG, the page and the Mermaid classes).
pub(crate) fn expiry_colour(class: &str) -> &'static str {
    match class {
        "expired" => "#d73027",
        "week" => "#fc8d59",
        "month" => "#fee08b",
        _ => "#a6d96a",
    }
}
