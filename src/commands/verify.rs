//! `trustkeep verify`: checks archives — origin first (with `--trusted-signers`, an archive
//! the policy refuses is an `origin.signature` error and is not decrypted), then integrity
//! (sidecar, manifest, every entry), then the same checks as `audit` on the archived
//! secrets. A list of archives (or directories of `*.age` files) is verified in one process;
//! one unreadable or refused archive does not stop the rest.

use std::io::Write;

use crate::archive::Identities;
use crate::catalogue;
use crate::check_id::CheckId;
use crate::checks::CheckOptions;
use crate::error::Result;
use crate::findings::Finding;
use crate::present;
use crate::profile::Profile;
use crate::render::{self, OutputFormat};
use crate::report;
use crate::store::Location;
use crate::trust_policy::{Status, Trust};
use crate::verdict::{self, ArchiveResult, AuditReport, Unreadable, VerifyReport};
use crate::world::World;

/// What to verify.
#[derive(Debug)]
pub struct Options {
    pub archives: Vec<Location>,
    pub identities: Identities,
    /// Who may sign archives (`--trusted-signers`, `--allow-unsigned`).
    pub trust: Trust,
    /// Check all archives as one trust setup (one cluster each), instead of one by one.
    pub together: bool,
    /// `--profile`: the cluster's relay mode and the secrets its archives must hold.
    pub profile: Option<std::sync::Arc<Profile>>,
    pub check: CheckOptions,
    pub strict: bool,
    /// Where to write the auditor's report (`.html` or `.md`), if anywhere.
    pub report: Option<std::path::PathBuf>,
}

/// Verifies every archive.
pub async fn run(opts: &Options, world: &World) -> Result<VerifyReport> {
    let store = &world.store;
    let paths = catalogue::archive_files(store, &opts.archives).await?;
    let mut results = Vec::new();
    let mut snapshots = Vec::new();
    for p in &paths {
        let name = p.to_string();
        let fetched = match catalogue::fetch(store, p, &opts.trust, world.now).await {
            Ok(f) => f,
            Err(e) => {
                results.push(ArchiveResult {
                    archive: name,
                    integrity: e.to_string(),
                    origin: None,
                    report: None,
                });
                continue;
            }
        };
        let origin = Some(fetched.provenance.clone());
        if !fetched.provenance.admitted() {
            // Refused before decryption: a finding, not an unreadable archive.
            let finding = Finding::error(CheckId::OriginSignature, &fetched.provenance.detail)
                .cluster(label("?", p));
            results.push(ArchiveResult {
                archive: name,
                integrity: verdict::NOT_CHECKED.into(),
                origin,
                report: Some(AuditReport::of_findings(vec![finding], opts.strict)),
            });
            continue;
        }
        match fetched.open(&opts.identities, world.passphrase()) {
            Ok(opened) => {
                let mut snap = opened.snapshot;
                if let Some(profile) = &opts.profile {
                    apply_profile(&mut snap, profile);
                }
                if !opts.together {
                    // Checks see the archived cluster name (agents' SANs are checked against
                    // it); the report then says which archive each finding came from.
                    let mut r =
                        verdict::check(std::slice::from_ref(&snap), &opts.check, opts.strict);
                    let label = label(&snap.cluster, p);
                    relabel(&mut r, &label);
                    results.push(ArchiveResult {
                        archive: name,
                        integrity: "ok".into(),
                        origin,
                        report: Some(r),
                    });
                    if opts.report.is_some() {
                        snap.cluster = label;
                        snapshots.push(snap);
                    }
                } else {
                    results.push(ArchiveResult {
                        archive: name,
                        integrity: "ok".into(),
                        origin,
                        report: None,
                    });
                    snapshots.push(snap);
                }
            }
            Err(e) => results.push(ArchiveResult {
                archive: name,
                integrity: e.to_string(),
                origin,
                report: None,
            }),
        }
    }
    let together = opts
        .together
        .then(|| verdict::check(&snapshots, &opts.check, opts.strict));
    if let Some(path) = &opts.report {
        let combined = combined(&results, together.as_ref(), opts.strict);
        let origins = results
            .iter()
            .filter_map(|r| Some((r.archive.clone(), r.origin.clone()?)))
            .collect();
        let evidence =
            report::Evidence::new("verify", world.now, opts.check.at, &snapshots, &combined)
                .with_origins(origins);
        report::write(path, &evidence)?;
    }
    let reports = results
        .iter()
        .filter_map(|r| r.report.as_ref())
        .chain(together.as_ref());
    let (mut errors, mut warnings, mut ok) = (0, 0, true);
    for r in reports {
        errors += r.errors;
        warnings += r.warnings;
        ok &= r.ok;
    }
    let unreadable = results.iter().filter(|r| r.unreadable()).count();
    Ok(VerifyReport {
        ok: ok && unreadable == 0,
        unreadable,
        errors,
        warnings,
        archives: results,
        together,
    })
}

/// One report over every archive for `--report`: the per-archive reports (or the one of
/// `--together`) side by side, with each unreadable archive as an unreadable "cluster".
fn combined(
    results: &[ArchiveResult],
    together: Option<&AuditReport>,
    strict: bool,
) -> AuditReport {
    let mut all = AuditReport {
        ok: true,
        errors: 0,
        warnings: 0,
        findings: Vec::new(),
        certificates: Vec::new(),
        secrets: Vec::new(),
        unreadable: Vec::new(),
        setup: together.and_then(|t| t.setup.clone()),
    };
    for r in results
        .iter()
        .filter_map(|r| r.report.as_ref())
        .chain(together)
    {
        all.findings.extend(r.findings.iter().cloned());
        all.certificates.extend(r.certificates.iter().cloned());
        all.secrets.extend(r.secrets.iter().cloned());
    }
    for r in results.iter().filter(|r| r.unreadable()) {
        all.unreadable.push(Unreadable {
            cluster: r.archive.clone(),
            error: r.integrity.clone(),
        });
    }
    let mut findings = crate::findings::Report::default();
    findings.extend(all.findings.iter().cloned());
    all.ok = findings.ok(strict) && all.unreadable.is_empty();
    all.errors = findings.errors();
    all.warnings = findings.warnings();
    all
}

/// What a profile adds to an archived snapshot: its relay mode, and `profile.drift` for each
/// secret it names that the archive lacks.
fn apply_profile(snap: &mut crate::snapshot::Snapshot, profile: &Profile) {
    snap.relay_mode = Some(profile.relay_mode);
    let present = snap.secrets.iter().map(|s| s.record.id.clone()).collect();
    let cluster = snap.cluster.clone();
    snap.findings.extend(
        crate::select::drift(profile, &present)
            .into_iter()
            .map(|f| f.cluster(cluster.clone())),
    );
}

fn relabel(r: &mut AuditReport, name: &str) {
    for f in &mut r.findings {
        f.cluster = Some(name.to_string());
    }
    for c in &mut r.certificates {
        c.cluster = name.to_string();
    }
    for s in &mut r.secrets {
        s.cluster = name.to_string();
    }
}

/// `cluster@archive-file`, so findings from many archives of one cluster stay apart.
fn label(cluster: &str, path: &Location) -> String {
    format!("{cluster}@{}", path.file_name())
}

/// Prints the report.
pub(crate) fn render(
    out: &mut dyn Write,
    r: &VerifyReport,
    format: OutputFormat,
) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        return render::json(out, r);
    }
    for a in &r.archives {
        let name = render::escape(&a.archive);
        let signer = match &a.origin {
            Some(o) if o.status == Status::Refused => " (origin refused, not decrypted)".into(),
            Some(o) if o.signer.is_some() => {
                format!(", signed by {}", render::escape(&o.signer_cell()))
            }
            Some(o) if o.status == Status::Unsigned => ", unsigned (--allow-unsigned)".into(),
            _ => String::new(),
        };
        match &a.report {
            Some(rep) if a.integrity != "ok" => writeln!(
                out,
                "{name}: REFUSED{signer}, {} error(s), {} warning(s)",
                rep.errors, rep.warnings
            )?,
            Some(rep) => writeln!(
                out,
                "{name}: integrity ok{signer}, {} error(s), {} warning(s)",
                rep.errors, rep.warnings
            )?,
            None if a.integrity == "ok" => writeln!(out, "{name}: integrity ok{signer}")?,
            None if a.integrity == "ok" => writeln!(out, "{name}: integrity ok")?,
            None => writeln!(out, "{name}: UNREADABLE: {}", render::escape(&a.integrity))?,
        }
    }
    let detailed: Vec<&AuditReport> = if r.archives.len() == 1 || r.together.is_some() {
        r.archives
            .iter()
            .filter_map(|a| a.report.as_ref())
            .chain(r.together.as_ref())
            .collect()
    } else {
        // Many archives: details only for those with findings.
        r.archives
            .iter()
            .filter_map(|a| a.report.as_ref())
            .filter(|rep| {
                rep.findings
                    .iter()
                    .any(|f| f.check != crate::check_id::CheckId::SetupSummary)
            })
            .collect()
    };
    for rep in detailed {
        writeln!(out)?;
        present::audit_report(out, rep)?;
    }
    let unverified = r
        .archives
        .iter()
        .filter(|a| {
            a.origin
                .as_ref()
                .is_some_and(|o| o.status == Status::Unverified)
        })
        .count();
    if unverified > 0 {
        writeln!(out)?;
        writeln!(
            out,
            "warning: the origin of {unverified} archive(s) is unverified: no --trusted-signers (or TRUSTKEEP_TRUSTED_SIGNERS) was given, so an archive anyone who can write to the store made would pass every check"
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{}: {} archive(s), {} unreadable, {} error(s), {} warning(s)",
        if r.ok { "ok" } else { "FAILED" },
        r.archives.len(),
        r.unreadable,
        r.errors,
        r.warnings
    )
}
