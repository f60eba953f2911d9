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

use crate::commands::audit::AuditReport;
use crate::error::{Error, Result};
use crate::findings::Severity;
use crate::snapshot::Snapshot;
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
        }
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

/// The formats a report can have, by file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Html,
    Markdown,
}

impl Format {
    /// `.html`/`.htm` or `.md`; anything else is refused with the choices.
    pub fn of(path: &Path) -> Result<Format> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("html" | "htm") => Ok(Format::Html),
            Some("md" | "markdown") => Ok(Format::Markdown),
            _ => Err(Error::Usage(format!(
                "--report {}: name it FILE.html (self-contained page) or FILE.md (Markdown with a Mermaid diagram)",
                path.display()
            ))),
        }
    }
}

/// Renders the report in the format its file name asks for.
pub fn render(path: &Path, e: &Evidence<'_>) -> Result<String> {
    Ok(match Format::of(path)? {
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
