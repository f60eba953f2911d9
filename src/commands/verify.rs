//! `trustkeep verify`: checks archives — origin first (with `--trusted-signers`, an archive
//! the policy refuses is an `origin.signature` error and is not decrypted), then integrity
//! (sidecar, manifest, every entry), then the same checks as `audit` on the archived
//! secrets. A list of archives (or directories of `*.age` files) is verified in one process;
//! one unreadable or refused archive does not stop the rest.

use std::io::Write;

use futures::StreamExt;

use crate::archive::{crypto::PassphraseSource, Identities};
use crate::catalogue;
use crate::check_id::CheckId;
use crate::checks::CheckOptions;
use crate::error::Result;
use crate::findings::Finding;
use crate::present;
use crate::profile::Profile;
use crate::render::{self, OutputFormat};
use crate::report;
use crate::snapshot::Snapshot;
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

/// Most archives a batch holds per core.
const BATCH_ARCHIVES: usize = 32;
/// The archive bytes after which a batch is judged whatever its count.
const BATCH_BYTES: u64 = 256 * 1024 * 1024;

/// Verifies every archive.
pub async fn run(opts: &Options, world: &World) -> Result<VerifyReport> {
    let store = &world.store;
    let paths = catalogue::archive_files(store, &opts.archives).await?;
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let mut results = Vec::new();
    let mut snapshots = Vec::new();
    // One run's signature verdicts, shared by every archive it checks.
    let sig = crate::pki::RunCache::default();
    // A batch at a time: fetched concurrently (I/O), then judged on every core (decryption,
    // entries, checks), so memory holds one batch of archives: at most BATCH_ARCHIVES per
    // core, and no more once it holds BATCH_BYTES. Large batches keep the cores busy (each
    // batch ends with one core finishing the last archive alone).
    let fetches = paths
        .iter()
        .map(|p| catalogue::fetch(store, p, &opts.trust, world.now));
    let mut fetched = futures::stream::iter(fetches).buffered(workers * 4);
    let (mut start, mut batch, mut bytes) = (0, Vec::new(), 0u64);
    loop {
        let next = fetched.next().await;
        let done = next.is_none();
        if let Some(f) = next {
            bytes += f.as_ref().map_or(0, catalogue::Fetched::size);
            batch.push(f);
        }
        let full = batch.len() >= BATCH_ARCHIVES * workers || bytes >= BATCH_BYTES;
        if (done || full) && !batch.is_empty() {
            let end = start + batch.len();
            let taken = std::mem::take(&mut batch);
            let shared = (world.passphrase(), &sig);
            for (result, snap) in judge_all(&paths[start..end], taken, opts, shared, workers) {
                results.push(result);
                snapshots.extend(snap);
            }
            (start, bytes) = (end, 0);
        }
        if done {
            break;
        }
    }
    let together = opts
        .together
        .then(|| verdict::check_with(&snapshots, &opts.check, opts.strict, &sig));
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

/// One archive's verdict, and its snapshot when `--together` or `--report` needs it.
type Judged = (ArchiveResult, Option<Snapshot>);

/// Judges each fetched archive on up to `workers` threads; results in `paths`' order.
fn judge_all(
    paths: &[Location],
    fetched: Vec<Result<catalogue::Fetched>>,
    opts: &Options,
    shared: (PassphraseSource<'_>, &crate::pki::RunCache),
    workers: usize,
) -> Vec<Judged> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<_>>> = fetched
        .into_iter()
        .map(|f| std::sync::Mutex::new(Some(f)))
        .collect();
    let done: Vec<std::sync::Mutex<Option<Judged>>> =
        paths.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers.min(paths.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(p) = paths.get(i) else { break };
                let f = slots[i]
                    .lock()
                    .expect("not poisoned")
                    .take()
                    .expect("taken once");
                let judged = judge(p, f, opts, shared);
                *done[i].lock().expect("not poisoned") = Some(judged);
            });
        }
    });
    done.into_iter()
        .map(|d| d.into_inner().expect("not poisoned").expect("judged"))
        .collect()
}

/// One archive: refused before decryption, unreadable, or opened and checked (alone, or kept
/// for `--together` and `--report`).
fn judge(
    p: &Location,
    fetched: Result<catalogue::Fetched>,
    opts: &Options,
    (passphrase, sig): (PassphraseSource<'_>, &crate::pki::RunCache),
) -> Judged {
    let name = p.to_string();
    let result = |integrity: String, origin, report| ArchiveResult {
        archive: name.clone(),
        integrity,
        origin,
        report,
    };
    let fetched = match fetched {
        Ok(f) => f,
        Err(e) => return (result(e.to_string(), None, None), None),
    };
    let origin = Some(fetched.provenance.clone());
    if !fetched.provenance.admitted() {
        // Refused before decryption: a finding, not an unreadable archive.
        let finding = Finding::error(CheckId::OriginSignature, &fetched.provenance.detail)
            .cluster(label("?", p));
        let report = AuditReport::of_findings(vec![finding], opts.strict);
        return (
            result(verdict::NOT_CHECKED.into(), origin, Some(report)),
            None,
        );
    }
    let mut snap = match fetched.open(&opts.identities, passphrase) {
        Ok(opened) => opened.snapshot,
        Err(e) => return (result(e.to_string(), origin, None), None),
    };
    if let Some(profile) = &opts.profile {
        apply_profile(&mut snap, profile);
    }
    if opts.together {
        return (result("ok".into(), origin, None), Some(snap));
    }
    // Checks see the archived cluster name (agents' SANs are checked against it); the report
    // then says which archive each finding came from.
    let mut r = verdict::check_with(std::slice::from_ref(&snap), &opts.check, opts.strict, sig);
    let label = label(&snap.cluster, p);
    relabel(&mut r, &label);
    let kept = opts.report.is_some().then(|| {
        snap.cluster = label;
        snap
    });
    (result("ok".into(), origin, Some(r)), kept)
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
