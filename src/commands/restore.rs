//! `trustkeep restore`: store → archive → checks → restore plan → target.
//!
//! Judges the archive's origin (with `--trusted-signers`, one the policy refuses is not
//! decrypted and nothing is written: exit 1), opens and verifies it, has
//! [`restore::prepare`] plan against the target (the
//! checks on what will be restored block it unless `--allow-invalid`), prints the plan, and
//! applies it unless `--dry-run`. `--to-manifests` writes YAML instead of touching a
//! cluster. The archive's RootTrustPolicies are planned and applied only with
//! `--include-policies`; without it the report says how many are left out and why.

use std::io::Write;

use serde::Serialize;

use super::ArchiveInput;
use crate::catalogue;
use crate::checks::CheckOptions;
use crate::cluster::ApiCall;
use crate::error::Result;
use crate::findings::Finding;
use crate::present;
use crate::render::{self, OutputFormat};
use crate::restore::{self, Action, Item, TargetRef};
use crate::trust_policy::{Provenance, Status};
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
    /// `--latest`: the archive location is a directory or prefix; restore its newest archive
    /// that verifies (of this cluster, when it holds several).
    pub latest: Option<Latest>,
    /// `--restart`: after applying, restart the Deployments that read what was written.
    pub restart: bool,
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
    /// Who signed the archive and whether the trust policy admits it.
    pub origin: Provenance,
    /// With `--latest`: the newer archives passed over, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub passed_over: Vec<PassedOver>,
    /// The target cluster (context or server), or none with `--to-manifests`.
    pub cluster: Option<String>,
    pub dry_run: bool,
    /// True when every secret is (or, with `--dry-run`, would be) as archived.
    pub ok: bool,
    pub plan: Vec<Item>,
    /// The RootTrustPolicies' lines (`--include-policies`).
    pub policies: Vec<Item>,
    /// Why the archive's RootTrustPolicies are not restored, when it holds any and
    /// `--include-policies` was not given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policies_not_restored: Option<String>,
    /// Why the archive's offline CA material is not restored, when it holds any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline_not_restored: Option<String>,
    /// Errors and warnings of the pre-restore check.
    pub findings: Vec<Finding>,
    /// The Deployments that read what was (or would be) written, in restart order, with
    /// results when `--restart` restarted them.
    pub restarts: Vec<restore::Restart>,
    /// Whether `--restart` was given.
    pub restarted: bool,
    /// API calls made (shown with --verbose).
    pub api_calls: Vec<ApiCall>,
}

/// A newer archive `--latest` did not take.
#[derive(Debug, Serialize)]
pub struct PassedOver {
    pub archive: String,
    pub why: String,
}

/// store → archive → restore plan → target: finds the archive (`--latest`), opens it, plans
/// ([`restore::prepare`]) and, unless dry-run, applies the plan.
pub async fn run(opts: &Options, world: &World) -> Result<RestoreReport> {
    let input = &opts.archive;
    let mut passed_over = Vec::new();
    let location = match &opts.latest {
        None => input.location.clone(),
        Some(l) => {
            let check = CheckOptions::at(world.now);
            let judge = catalogue::Judge {
                identities: Some(&input.identities),
                check: &check,
                passphrase: world.passphrase(),
                trust: &input.trust,
                now: world.now,
            };
            let cluster = l.cluster.as_deref();
            let found = catalogue::latest_good(&world.store, &input.location, cluster, &judge);
            let found = found.await?;
            tracing::info!(archive = %found.archive, "newest archive that verifies");
            passed_over = found
                .passed_over
                .iter()
                .map(|e| PassedOver {
                    archive: e.archive.to_string(),
                    why: e.why_not_good().unwrap_or_default(),
                })
                .collect();
            found.archive
        }
    };
    let (opened, origin) = input.open_at(&location, world).await?;
    let archive = location.file_name();
    let target = opts.target.connect().await?;
    let mut plan = restore::prepare(&opened, &archive, target, &opts.restore, world.now).await?;
    if !opts.dry_run {
        plan.apply().await?;
        if opts.restart {
            plan.restart(world.now).await;
        }
    }
    let restarted = opts.restart && !opts.dry_run;
    Ok(RestoreReport {
        archive,
        origin,
        passed_over,
        cluster: plan.cluster_name(),
        dry_run: opts.dry_run,
        ok: plan.ok(opts.dry_run) && plan.restarts.iter().all(restore::Restart::ok),
        restarts: plan.restarts.clone(),
        restarted,
        api_calls: plan.api_calls(),
        plan: plan.secrets,
        policies: plan.policies,
        policies_not_restored: plan.policies_not_restored,
        offline_not_restored: plan.offline_not_restored,
        findings: plan.findings,
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
        render::escape(&r.archive),
        render::escape(&target),
        if r.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    )?;
    for p in &r.passed_over {
        writeln!(
            out,
            "passed over {}: {}",
            render::escape(&p.archive),
            render::escape(&p.why)
        )?;
    }
    writeln!(out, "{}", origin_line(&r.origin))?;
    present::write_plan(out, &r.plan, &r.policies)?;
    for why in [&r.policies_not_restored, &r.offline_not_restored]
        .into_iter()
        .flatten()
    {
        writeln!(out)?;
        writeln!(out, "{why}")?;
    }
    if !r.findings.is_empty() {
        writeln!(out)?;
        for f in &r.findings {
            writeln!(out, "{f}")?;
        }
    }
    present::write_restarts(out, &r.restarts)?;
    if verbose && !r.api_calls.is_empty() {
        writeln!(out)?;
        writeln!(out, "{} API call(s):", r.api_calls.len())?;
        for c in &r.api_calls {
            writeln!(out, "  {} {}", c.verb, c.what)?;
        }
    }
    writeln!(out)?;
    summary(out, r)
}

/// The origin of the archive: who signed it, or a warning that nobody checked.
pub(crate) fn origin_line(p: &Provenance) -> String {
    let detail = render::escape(&p.detail);
    match p.status {
        Status::Trusted => format!("origin: {detail}"),
        Status::Unsigned => format!("warning: origin unverified: {detail}"),
        _ => format!(
            "warning: origin unverified: {detail}; anyone who can write to the store could have made this archive (see --trusted-signers)"
        ),
    }
}

/// The last line: what the dry run found, or what the restore did.
fn summary(out: &mut dyn Write, r: &RestoreReport) -> std::io::Result<()> {
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
