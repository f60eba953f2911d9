//! `trustkeep restore`: store → archive → checks → restore plan → target.
//!
//! Opens and verifies the archive, runs the checks on what will be restored (errors block the
//! restore unless `--allow-invalid`), builds the plan against the target cluster, prints it,
//! and applies it unless `--dry-run`. `--to-manifests` writes YAML instead of touching a
//! cluster. The archive's RootTrustPolicies are planned and applied only with
//! `--include-policies`; without it the report says how many are left out and why.

use std::io::Write;

use serde::Serialize;

use super::ArchiveInput;
use crate::check_id::CheckId;
use crate::checks::{self, CheckOptions};
use crate::cluster::ApiCall;
use crate::error::Result;
use crate::findings::{Finding, Severity};
use crate::render::{self, OutputFormat, Table};
use crate::restore::{self, Action, Item, PolicyItem, TargetRef};
use crate::select::Selected;
use crate::snapshot::Snapshot;
use crate::world::World;

/// How to restore.
#[derive(Debug)]
pub struct Options {
    pub archive: ArchiveInput,
    /// A cluster, or a directory of manifests.
    pub target: TargetRef,
    pub restore: restore::Options,
    /// Print the plan and stop.
    pub dry_run: bool,
    /// Restore even when the checks find errors.
    pub allow_invalid: bool,
    /// `--latest`: the archive location is a directory or prefix; restore its newest archive
    /// that verifies (of this cluster, when it holds several).
    pub latest: Option<Latest>,
}

/// `restore DIR --latest [--cluster NAME]`.
#[derive(Debug, Default)]
pub struct Latest {
    pub cluster: Option<String>,
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
    /// The RootTrustPolicies' lines (`--include-policies`).
    pub policies: Vec<PolicyItem>,
    /// Why the archive's RootTrustPolicies are not restored, when it holds any and
    /// `--include-policies` was not given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policies_not_restored: Option<String>,
    /// Errors and warnings of the pre-restore check.
    pub findings: Vec<Finding>,
    /// API calls made (shown with --verbose).
    pub api_calls: Vec<ApiCall>,
}

/// store → archive → checks → restore plan → target: opens the archive, checks what will be
/// restored, plans against the target and (unless dry-run or blocked) applies the plan.
pub async fn run(opts: &Options, world: &World) -> Result<RestoreReport> {
    let input = &opts.archive;
    let location = match &opts.latest {
        None => input.location.clone(),
        Some(l) => {
            let check = checks::CheckOptions::at(world.now);
            let ids = &input.identities;
            let cluster = l.cluster.as_deref();
            let found = super::list::latest_good(&input.location, cluster, ids, &check, world);
            let found = found.await?;
            tracing::info!(archive = %found, "newest archive that verifies");
            found
        }
    };
    let opened = (world.store)
        .open(&location, &input.identities, world.passphrase())
        .await?;
    let archive_name = location.file_name();
    let target = opts.target.connect().await?;
    let wanted = restore::targets(&opened.snapshot.secrets, &opts.restore)?;
    let findings = pre_restore_findings(&opened.snapshot, &opts.restore.only, world);
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let blocked = errors > 0 && !opts.allow_invalid;
    let mut plan = target.plan(wanted, &opts.restore).await?;
    restore::hold_managed(&mut plan, opts.restore.include_managed);
    let archived_policies = &opened.snapshot.policies;
    let mut policies = match opts.restore.include_policies {
        true => {
            let wanted = restore::policy_targets(archived_policies, &opts.restore);
            target.plan_policies(wanted, &opts.restore).await?
        }
        false => Vec::new(),
    };
    let policies_not_restored = restore::policies_not_restored(archived_policies, &opts.restore);
    if blocked {
        restore::block(
            &mut plan,
            &mut policies,
            &format!(
                "the archive's secrets fail {errors} check(s); fix them or pass --allow-invalid"
            ),
        );
    }
    let extra = restore::provenance(
        &archive_name,
        &opened
            .manifest
            .created
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    if !opts.dry_run && !blocked {
        target.apply(&mut plan, &mut policies, &extra).await?;
    }
    let complete = |action: Action, restored: bool| match action {
        Action::Conflict | Action::Blocked | Action::Rollback => false,
        // Left to its controller, by design: not a failure of the restore.
        Action::Managed => true,
        _ => opts.dry_run || restored,
    };
    let ok = !blocked
        && plan.iter().all(|i| complete(i.action, i.restored))
        && policies.iter().all(|p| complete(p.action, p.restored));
    Ok(RestoreReport {
        archive: archive_name,
        cluster: target.cluster_name(),
        dry_run: opts.dry_run,
        ok,
        plan,
        policies,
        policies_not_restored,
        findings,
        api_calls: target.api_calls(),
    })
}

/// The checks on what will be restored, as archived: errors and warnings.
fn pre_restore_findings(snapshot: &Snapshot, only: &[String], world: &World) -> Vec<Finding> {
    let chosen: Vec<Selected> = snapshot
        .secrets
        .iter()
        .filter(|s| only.is_empty() || only.iter().any(|o| s.record.id.matches(o)))
        .cloned()
        .collect();
    let snap = Snapshot {
        secrets: chosen,
        findings: Vec::new(),
        ..snapshot.clone()
    };
    let result = checks::check(std::slice::from_ref(&snap), &CheckOptions::at(world.now));
    result
        .report
        .findings
        .into_iter()
        .filter(|f| f.severity >= Severity::Warning)
        // The setup's shape (demo-only placements) is the auditor's matter, not the restore's.
        .filter(|f| !CheckId::parse(&f.check).is_some_and(CheckId::is_setup))
        .collect()
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
    if !r.policies.is_empty() {
        writeln!(out)?;
        let mut t = Table::new(["ROOTTRUSTPOLICY", "ACTION", "RESULT", "REASON"]);
        for p in &r.policies {
            t.row([
                p.policy.clone(),
                p.action.to_string(),
                p.result.clone().unwrap_or_else(|| "-".into()),
                p.reason.clone(),
            ]);
        }
        t.write(out)?;
    }
    if let Some(why) = &r.policies_not_restored {
        writeln!(out)?;
        writeln!(out, "{why}")?;
    }
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
    let conflicts = r
        .plan
        .iter()
        .filter(|i| i.action == Action::Conflict)
        .count()
        + r.policies
            .iter()
            .filter(|p| p.action == Action::Conflict)
            .count();
    writeln!(out)?;
    if r.dry_run {
        writeln!(
            out,
            "{}: dry run; {} conflict(s), {} rollback(s), {} blocked",
            if r.ok { "ok" } else { "REFUSED" },
            conflicts,
            r.plan
                .iter()
                .filter(|i| i.action == Action::Rollback)
                .count(),
            r.plan
                .iter()
                .filter(|i| i.action == Action::Blocked)
                .count()
        )
    } else {
        let managed = r
            .plan
            .iter()
            .filter(|i| i.action == Action::Managed)
            .count();
        let policies = match r.policies.len() {
            0 => String::new(),
            n => {
                let done = r.policies.iter().filter(|p| p.restored).count();
                format!("; {done} of {n} RootTrustPolicy object(s) as archived")
            }
        };
        writeln!(
            out,
            "{}: {} secret(s) as archived, {} not restored{}{policies}",
            if r.ok { "ok" } else { "INCOMPLETE" },
            r.plan.len() - not,
            not,
            if managed > 0 {
                format!(" ({managed} left to the controller that manages it; --include-managed)")
            } else {
                String::new()
            }
        )
    }
}
