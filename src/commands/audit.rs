//! `trustkeep audit`: checks the trust secrets of one or more clusters as they are now.
//!
//! Each source is one cluster (a `--from` file or a live context, read through the same
//! [`Source`]); the checks see them together, so cross-cluster trust (shared relay root,
//! federated Istio root, agent names) is verified too. `verify` reuses the report.

use std::io::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::checks::{self, CertificateRow, CheckOptions, CheckResult};
use crate::error::Result;
use crate::findings::{Finding, Severity};
use crate::render::{self, OutputFormat, Table};
use crate::select::{self, SelectOptions};
use crate::snapshot::Snapshot;
use crate::source::{Inventory, Source};
use crate::world::World;

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
}

/// Reads every source, then checks them as one setup.
pub async fn run(opts: &Options, _world: &World) -> Result<AuditReport> {
    let mut named = Vec::new();
    for (name, source) in &opts.sources {
        let inv = source.read(&opts.select).await?;
        let name = name
            .clone()
            .or_else(|| source.default_name())
            .unwrap_or_else(|| inv.origin.short_name());
        named.push((name, inv));
    }
    let snaps = snapshots(named, &opts.select, opts.check.at);
    Ok(check(&snaps, &opts.check, opts.strict))
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
}

/// The summary line of one secret.
#[derive(Debug, Serialize)]
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
        for f in &r.findings {
            writeln!(out, "{f}")?;
        }
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
