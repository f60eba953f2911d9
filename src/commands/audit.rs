//! `trustkeep audit`: checks the trust secrets of one or more clusters as they are now.
//!
//! Each source is one cluster (a `--from` file or a live context, read through the same
//! [`Source`]); the checks see them together, so cross-cluster trust (shared relay root,
//! federated Istio root, agent names) is verified too. `verify` reuses the report.

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;

use crate::check_id::CheckId;
use crate::checks::{self, CertificateRow, CheckOptions, CheckResult, Setup};
use crate::error::Result;
use crate::findings::{Finding, Severity};
use crate::render::{self, OutputFormat, Table};
use crate::select::{self, SelectOptions};
use crate::snapshot::Snapshot;
use crate::source::{Inventory, Source};
use crate::world::World;
use crate::{report, Outcome};

/// What to audit.
#[derive(Debug)]
pub struct Options {
    /// One source per cluster, with the cluster's name in Gloo Mesh (default: the file's stem
    /// or the context).
    pub sources: Vec<(Option<String>, Source)>,
    pub select: SelectOptions,
    pub check: CheckOptions,
    /// Warnings count as errors for `ok`.
    pub strict: bool,
    /// How many sources are read at the same time.
    pub parallel: usize,
    /// Where to write the auditor's report (`.html` or `.md`), if anywhere.
    pub report: Option<PathBuf>,
}

/// A live cluster that could not be read; the others are audited all the same.
#[derive(Clone, Debug, Serialize)]
pub struct Unreadable {
    pub cluster: String,
    pub error: String,
}

/// Reads every source (at most `parallel` at a time), then checks them as one setup. A file
/// that cannot be read stops the audit (the command line is wrong); a cluster that cannot be
/// read is reported in [`AuditReport::unreadable`] and the rest are audited.
pub async fn run(opts: &Options, world: &World) -> Result<AuditReport> {
    let reads = opts.sources.iter().map(|(name, source)| async move {
        let read = source.read(&opts.select).await;
        (name, source, read)
    });
    let results: Vec<_> = futures::stream::iter(reads)
        .buffered(opts.parallel.max(1))
        .collect()
        .await;
    let mut named = Vec::new();
    let mut unreadable = Vec::new();
    for (name, source, read) in results {
        let label = || name.clone().or_else(|| source.default_name());
        match (read, source) {
            (Ok(inv), _) => {
                let name = label().unwrap_or_else(|| inv.origin.short_name());
                named.push((name, inv));
            }
            (Err(e), Source::Cluster(_)) => unreadable.push(Unreadable {
                cluster: label().unwrap_or_else(|| "current context".into()),
                error: e.to_string(),
            }),
            (Err(e), _) => return Err(e),
        }
    }
    let snaps = snapshots(named, &opts.select, opts.check.at);
    let mut r = check(&snaps, &opts.check, opts.strict);
    r.ok &= unreadable.is_empty();
    r.unreadable = unreadable;
    if let Some(path) = &opts.report {
        let evidence = report::Evidence::new("audit", world.now, opts.check.at, &snaps, &r);
        report::write(path, &evidence)?;
    }
    Ok(r)
}

/// Exit status: 2 when a cluster could not be read, else 1 on problems.
pub(crate) fn outcome(r: &AuditReport) -> Outcome {
    if r.unreadable.is_empty() {
        Outcome::from_ok(r.ok)
    } else {
        Outcome::Incomplete
    }
}

/// The JSON report of `audit` and `verify` (documented in docs/checks.md).
#[derive(Debug, Serialize)]
pub struct AuditReport {
    pub ok: bool,
    pub errors: usize,
    pub warnings: usize,
    pub findings: Vec<Finding>,
    pub certificates: Vec<CertificateRow>,
    /// One line per cluster and secret: role and worst severity.
    pub secrets: Vec<SecretStatus>,
    /// Clusters that could not be read (exit status 2).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<Unreadable>,
    /// The relay mode, certificate architecture and CA placement (docs/checks.md, "The shape
    /// of the setup").
    pub setup: Option<Setup>,
}

/// The summary line of one secret.
#[derive(Clone, Debug, Serialize)]
pub struct SecretStatus {
    pub cluster: String,
    pub secret: String,
    pub role: String,
    /// `pass`, `warn` or `fail`.
    pub status: &'static str,
}

/// Snapshots of named inventories, taken at `at`.
pub(crate) fn snapshots(
    sources: Vec<(String, Inventory)>,
    select: &SelectOptions,
    at: DateTime<Utc>,
) -> Vec<Snapshot> {
    sources
        .into_iter()
        .map(|(name, inv)| {
            let sel = select::select(&inv, select);
            Snapshot::new(&inv, sel, name, at)
        })
        .collect()
}

/// Checks snapshots and builds the report.
pub fn check(snapshots: &[Snapshot], opts: &CheckOptions, strict: bool) -> AuditReport {
    let result = checks::check(snapshots, opts);
    report(snapshots, result, strict)
}

/// Turns check results into the report.
pub fn report(snapshots: &[Snapshot], result: CheckResult, strict: bool) -> AuditReport {
    let CheckResult {
        report,
        certificates,
        setup,
    } = result;
    let mut secrets = Vec::new();
    for s in snapshots {
        for sel in &s.secrets {
            let id = sel.record.id.to_string();
            let status = match report.worst_for(Some(&s.cluster), &id) {
                Some(Severity::Error) => "fail",
                Some(Severity::Warning) => "warn",
                _ => "pass",
            };
            secrets.push(SecretStatus {
                cluster: s.cluster.clone(),
                secret: id,
                role: sel.role.to_string(),
                status,
            });
        }
    }
    AuditReport {
        ok: report.ok(strict),
        errors: report.errors(),
        warnings: report.warnings(),
        findings: report.findings,
        certificates,
        secrets,
        unreadable: Vec::new(),
        setup,
    }
}

/// Prints the report.
pub(crate) fn render(
    out: &mut dyn Write,
    r: &AuditReport,
    format: OutputFormat,
) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        return render::json(out, r);
    }
    if let Some(setup) = &r.setup {
        writeln!(out, "setup: {}", render::escape(&setup.summary()))?;
        writeln!(out)?;
    }
    let mut t = Table::new(["CLUSTER", "SECRET", "ROLE", "STATUS"]);
    for s in &r.secrets {
        t.row([
            s.cluster.clone(),
            s.secret.clone(),
            s.role.clone(),
            s.status.to_string(),
        ]);
    }
    if t.is_empty() {
        writeln!(out, "(no secrets to check)")?;
    } else {
        t.write(out)?;
    }
    if !r.findings.is_empty() {
        writeln!(out)?;
        // The summary heads the output already.
        for f in r
            .findings
            .iter()
            .filter(|f| f.check != CheckId::SetupSummary)
        {
            writeln!(out, "{f}")?;
        }
    }
    for u in &r.unreadable {
        writeln!(out, "unreadable: cluster {}: {}", u.cluster, u.error)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{}: {} error(s), {} warning(s), {} certificate(s) checked",
        if r.ok { "ok" } else { "FAILED" },
        r.errors,
        r.warnings,
        r.certificates.len()
    )
}
