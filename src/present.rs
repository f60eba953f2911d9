//! Text presentations of core values that several verbs print the same way: an archive's
//! contents, findings, an audit report, dates for tables. JSON is each value's `Serialize`;
//! a verb's own layout stays in its module. Values shown are escaped ([`render::escape`]);
//! no secret value is ever shown.

use std::io::Write;

use chrono::{DateTime, Utc};

use crate::archive::manifest::Manifest;
use crate::check_id::CheckId;
use crate::findings::Finding;
use crate::render::{self, Table};
use crate::restore::{Item, Restart};
use crate::verdict::AuditReport;

/// The table of secrets in a manifest (`backup`, `import`, `inspect`).
pub fn write_contents(out: &mut dyn Write, m: &Manifest) -> std::io::Result<()> {
    let mut t = Table::new(["SECRET", "ROLE", "TYPE", "KEYS", "EXPIRES"]);
    for s in &m.secrets {
        let keys: Vec<&str> = s.data.iter().map(|d| d.key.as_str()).collect();
        t.row([
            format!("{}/{}", s.namespace, s.name),
            s.role.to_string(),
            s.type_.clone(),
            keys.join(","),
            short_date(earliest_expiry(m, &s.namespace, &s.name)),
        ]);
    }
    if t.is_empty() {
        writeln!(out, "(no secrets selected)")
    } else {
        t.write(out)
    }
}

/// A restore plan's lines (`restore`, `pki`): the secrets, then the RootTrustPolicies if any.
pub fn write_plan(out: &mut dyn Write, secrets: &[Item], policies: &[Item]) -> std::io::Result<()> {
    let mut t = Table::new(["SECRET", "TYPE", "ACTION", "RESULT", "REASON"]);
    for i in secrets {
        t.row([
            i.id().to_string(),
            i.type_.clone().unwrap_or_default(),
            i.action.to_string(),
            i.result.clone().unwrap_or_else(|| "-".into()),
            i.reason.clone(),
        ]);
    }
    t.write(out)?;
    if !policies.is_empty() {
        writeln!(out)?;
        let mut t = Table::new(["ROOTTRUSTPOLICY", "ACTION", "RESULT", "REASON"]);
        for p in policies {
            t.row([
                p.id().to_string(),
                p.action.to_string(),
                p.result.clone().unwrap_or_else(|| "-".into()),
                p.reason.clone(),
            ]);
        }
        t.write(out)?;
    }
    Ok(())
}

/// The Deployments that read restored secrets: what `--restart` did to each, or (without it)
/// the command that would.
pub fn write_restarts(out: &mut dyn Write, rs: &[Restart]) -> std::io::Result<()> {
    if rs.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    for r in rs {
        let (ns, d, why) = (&r.namespace, &r.deployment, r.secrets.join(", "));
        match &r.result {
            Some(result) => writeln!(out, "restart deployment {ns}/{d} (reads {why}): {result}")?,
            None => writeln!(
                out,
                "to load {why}: kubectl -n {ns} rollout restart deployment/{d} (or --restart)"
            )?,
        }
    }
    Ok(())
}

/// Findings, one per line, after a blank line.
pub fn write_findings(out: &mut dyn Write, findings: &[Finding]) -> std::io::Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    for f in findings {
        writeln!(out, "{f}")?;
    }
    Ok(())
}

/// An audit report as text: the setup line, a table of secrets, the findings, the
/// unreadable clusters and the summary line (`audit`, `verify`, the demo).
pub fn audit_report(out: &mut dyn Write, r: &AuditReport) -> std::io::Result<()> {
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

/// The earliest `not_after` of the certificates of one secret in a manifest, for tables.
pub(crate) fn earliest_expiry(
    manifest: &Manifest,
    namespace: &str,
    name: &str,
) -> Option<DateTime<Utc>> {
    manifest
        .secrets
        .iter()
        .find(|s| s.namespace == namespace && s.name == name)?
        .data
        .iter()
        .flat_map(|d| d.certificates.iter().map(|c| c.not_after))
        .min()
}

/// A short date for tables.
pub(crate) fn short_date(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "-".into())
}
