//! `trustkeep restore`: store → archive → checks → restore plan → target.
//!
//! Opens and verifies the archive, runs the checks on what will be restored (errors block the
//! restore unless `--allow-invalid`), builds the plan against the target cluster, prints it,
//! and applies it unless `--dry-run`. `--to-manifests` writes YAML instead of touching a
//! cluster.

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::archive::Opened;
use crate::checks::{self, CheckOptions};
use crate::cluster::{ApiCall, Cluster};
use crate::error::Result;
use crate::findings::{Finding, Severity};
use crate::render::{self, OutputFormat, Table};
use crate::restore::{self, Action, Item};
use crate::select::Selected;
use crate::snapshot::Snapshot;

/// How to restore.
#[derive(Debug, Default)]
pub struct Options {
    pub restore: restore::Options,
    /// Print the plan and stop.
    pub dry_run: bool,
    /// Restore even when the checks find errors.
    pub allow_invalid: bool,
    /// Write manifests here instead of restoring into a cluster.
    pub to_manifests: Option<PathBuf>,
}

/// What the restore planned and did.
#[derive(Debug, Serialize)]
pub struct RestoreReport {
    pub archive: String,
    /// The target cluster (context or server), or none with `--to-manifests`.
    pub cluster: Option<String>,
    pub dry_run: bool,
    /// True when every secret is (or, with `--dry-run`, would be) as archived.
    pub ok: bool,
    pub plan: Vec<Item>,
    /// Errors and warnings of the pre-restore check.
    pub findings: Vec<Finding>,
    /// API calls made (shown with --verbose).
    pub api_calls: Vec<ApiCall>,
}

/// Plans and (unless dry-run) applies a restore of an opened archive.
pub async fn run(
    opened: &Opened,
    archive_name: &str,
    cluster: Option<&Cluster>,
    opts: &Options,
    now: DateTime<Utc>,
) -> Result<RestoreReport> {
    let wanted = restore::targets(&opened.snapshot.secrets, &opts.restore)?;
    // Check what will be restored, as archived.
    let chosen: Vec<Selected> = opened
        .snapshot
        .secrets
        .iter()
        .filter(|s| {
            opts.restore.only.is_empty()
                || opts
                    .restore
                    .only
                    .iter()
                    .any(|o| *o == s.record.id.name || *o == s.record.id.to_string())
        })
        .cloned()
        .collect();
    let snap = Snapshot {
        secrets: chosen,
        findings: Vec::new(),
        ..opened.snapshot.clone()
    };
    let result = checks::check(
        std::slice::from_ref(&snap),
        &CheckOptions {
            at: now,
            warn_days: 30,
        },
    );
    let findings: Vec<Finding> = result
        .report
        .findings
        .into_iter()
        .filter(|f| f.severity >= Severity::Warning)
        .collect();
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let blocked = errors > 0 && !opts.allow_invalid;

    let mut plan = match (&opts.to_manifests, cluster) {
        (Some(_), _) => restore::plan_manifests(wanted),
        (None, Some(c)) => restore::plan(c, wanted, &opts.restore).await?,
        (None, None) => {
            return Err(crate::Error::Usage(
                "restore needs a target cluster (--context/--kubeconfig) or --to-manifests DIR"
                    .into(),
            ))
        }
    };
    if blocked {
        restore::block(
            &mut plan,
            &format!(
                "the archive's secrets fail {errors} check(s); fix them or pass --allow-invalid"
            ),
        );
    }
    let extra = restore::provenance(
        archive_name,
        &opened
            .manifest
            .created
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    if !opts.dry_run && !blocked {
        match (&opts.to_manifests, cluster) {
            (Some(dir), _) => {
                restore::write_manifests(dir, &mut plan, &extra)?;
            }
            (None, Some(c)) => restore::apply(c, &mut plan, &extra).await,
            (None, None) => unreachable!("checked above"),
        }
    }
    let ok = !blocked
        && plan.iter().all(|i| match i.action {
            Action::Conflict | Action::Blocked => false,
            _ => opts.dry_run || i.restored,
        });
    Ok(RestoreReport {
        archive: archive_name.to_string(),
        cluster: cluster
            .filter(|_| opts.to_manifests.is_none())
            .map(|c| c.name()),
        dry_run: opts.dry_run,
        ok,
        plan,
        findings,
        api_calls: cluster.map(|c| c.calls()).unwrap_or_default(),
    })
}

/// Prints the plan (and results), then the check findings.
pub fn render(
    out: &mut dyn Write,
    r: &RestoreReport,
    format: OutputFormat,
    verbose: bool,
) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        return render::json(out, r);
    }
    let target = r.cluster.clone().unwrap_or_else(|| "manifests".into());
    writeln!(
        out,
        "restore plan: {} -> {}{}",
        r.archive,
        target,
        if r.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    )?;
    let mut t = Table::new(["SECRET", "TYPE", "ACTION", "RESULT", "REASON"]);
    for i in &r.plan {
        t.row([
            i.secret.clone(),
            i.type_.clone(),
            i.action.to_string(),
            i.result.clone().unwrap_or_else(|| "-".into()),
            i.reason.clone(),
        ]);
    }
    t.write(out)?;
    if !r.findings.is_empty() {
        writeln!(out)?;
        for f in &r.findings {
            writeln!(out, "{f}")?;
        }
    }
    if verbose && !r.api_calls.is_empty() {
        writeln!(out)?;
        writeln!(out, "{} API call(s):", r.api_calls.len())?;
        for c in &r.api_calls {
            writeln!(out, "  {} {}", c.verb, c.what)?;
        }
    }
    let not = r.plan.iter().filter(|i| !i.restored).count();
    writeln!(out)?;
    if r.dry_run {
        writeln!(
            out,
            "{}: dry run; {} conflict(s), {} blocked",
            if r.ok { "ok" } else { "REFUSED" },
            r.plan
                .iter()
                .filter(|i| i.action == Action::Conflict)
                .count(),
            r.plan
                .iter()
                .filter(|i| i.action == Action::Blocked)
                .count()
        )
    } else {
        writeln!(
            out,
            "{}: {} secret(s) as archived, {} not restored",
            if r.ok { "ok" } else { "INCOMPLETE" },
            r.plan.len() - not,
            not
        )
    }
}
