//! `trustkeep audit`: checks the trust secrets of one or more clusters as they are now.
//!
//! Each source is one cluster; the checks see them together, so cross-cluster trust (shared
//! relay root, federated Istio root, agent names) is verified too. Sources are read by the
//! caller (files today, live clusters through the same [`Inventory`]).

use std::io::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::checks::{self, CertificateRow, CheckOptions, CheckResult};
use crate::findings::{Finding, Severity};
use crate::render::{self, OutputFormat, Table};
use crate::select::{self, SelectOptions};
use crate::snapshot::Snapshot;
use crate::source::Inventory;

/// `[NAME=]FILE`: the cluster's name and where its secrets are.
pub fn split_named(spec: &str) -> (Option<String>, String) {
    match spec.split_once('=') {
        Some((name, path)) if !name.is_empty() && !name.contains('/') => {
            (Some(name.to_string()), path.to_string())
        }
        _ => (None, spec.to_string()),
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
pub fn snapshots(
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
pub fn run(snapshots: &[Snapshot], opts: &CheckOptions, strict: bool) -> AuditReport {
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
pub fn render(out: &mut dyn Write, r: &AuditReport, format: OutputFormat) -> std::io::Result<()> {
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
