//! `trustkeep backup`: source → selection → snapshot → archive → store.
//!
//! Reads a cluster's secrets, selects the trust set, writes an encrypted archive and its
//! `.sha256` sidecar atomically, and reports what it took. Missing core secrets are findings
//! (exit 1) but the archive of what was found is still written. Several clusters are backed
//! up concurrently, one archive each; one that fails does not stop the others.

use std::io::Write;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;

use super::prune;
use crate::archive::{self, manifest::Manifest, ArchiveName, Encryption};
use crate::checks;
use crate::error::Result;
use crate::findings::{Finding, Report};
use crate::render::{self, OutputFormat, Table};
use crate::select::{self, SelectOptions};
use crate::snapshot::Snapshot;
use crate::source::{Inventory, Source};
use crate::store::{Location, Store};
use crate::world::World;

/// Where an archive goes and who can open it (shared with `import`).
#[derive(Debug)]
pub struct ArchiveOutput {
    /// An archive path, or a directory or prefix to name the archive in.
    pub location: Location,
    pub encryption: Encryption,
    /// ASCII-armored age output.
    pub armor: bool,
}

/// What to back up and where.
#[derive(Debug)]
pub struct Options {
    /// One source per cluster, with the cluster's name recorded in its archive (default: the
    /// source's short name). Several sources write one archive each.
    pub sources: Vec<(Option<String>, Source)>,
    /// How many clusters are read and written at the same time.
    pub parallel: usize,
    pub select: SelectOptions,
    pub output: ArchiveOutput,
    /// After a complete backup into a directory (the CLI refuses it for a file), prune this
    /// cluster's archives there with this policy (see [`prune`]); empty: no pruning.
    pub retention: prune::Policy,
}

/// One cluster's backup, or why there is none.
#[derive(Debug)]
pub struct Attempt {
    /// The cluster's name: as the archive records it, or as the flags gave it on failure.
    pub cluster: String,
    pub result: Result<Backup>,
    pub duration: Duration,
}

/// What a backup wrote.
#[derive(Debug, Serialize)]
pub struct Backup {
    pub archive: Location,
    pub sidecar: Location,
    /// SHA-256 of the ciphertext.
    pub sha256: String,
    /// Size of the ciphertext.
    pub bytes: u64,
    /// What the archive holds (no digests of values; see [`Manifest::report`]).
    #[serde(serialize_with = "manifest_report")]
    pub manifest: Manifest,
    pub ok: bool,
    pub findings: Vec<Finding>,
    /// Archives deleted by the `--keep-*` rules after the backup.
    #[serde(skip)]
    pub pruned: Vec<Location>,
}

fn manifest_report<S: serde::Serializer>(m: &Manifest, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&m.report(), s)
}

/// Backs up every source (at most `parallel` at a time), each on its own: one cluster that
/// cannot be read or written does not stop the others. Attempts come in the sources' order.
pub async fn run(opts: &Options, world: &World) -> Vec<Attempt> {
    let attempts = opts.sources.iter().map(|(name, source)| async move {
        let started = Instant::now();
        let result = one(name.as_deref(), source, opts, world).await;
        let cluster = match &result {
            Ok(b) => b.manifest.cluster.name.clone(),
            Err(_) => name
                .clone()
                .or_else(|| source.default_name())
                .unwrap_or_else(|| "unknown".into()),
        };
        Attempt {
            cluster,
            result,
            duration: started.elapsed(),
        }
    });
    futures::stream::iter(attempts)
        .buffered(opts.parallel.max(1))
        .collect()
        .await
}

/// One cluster: source → selection → snapshot → archive → store, then retention.
async fn one(name: Option<&str>, source: &Source, opts: &Options, world: &World) -> Result<Backup> {
    let inv = source.read(&opts.select).await?;
    let snap = snapshot(&inv, &opts.select, name, world.now);
    let mut b = write(&snap, &opts.output, &world.store, world.now).await?;
    tracing::info!(
        archive = %b.archive,
        cluster = %b.manifest.cluster.name,
        secrets = b.manifest.secrets.len(),
        bytes = b.bytes,
        complete = b.ok,
        "backup written"
    );
    // Only after a complete backup: if secrets went missing, the older archives may be the
    // only good ones left.
    if !opts.retention.is_empty() && b.ok {
        let p = prune::Options {
            dir: b.archive.parent(),
            policy: opts.retention.clone(),
            cluster: Some(b.manifest.cluster.name.clone()),
            dry_run: false,
            protect: Some(b.archive.clone()),
        };
        let decisions = prune::run(&p, world).await?;
        b.pruned = decisions
            .into_iter()
            .filter(|d| d.deleted)
            .map(|d| d.archive)
            .collect();
        for p in &b.pruned {
            tracing::info!(archive = %p, "pruned");
        }
    }
    Ok(b)
}

/// Selects the trust set of an inventory and freezes it.
pub fn snapshot(
    inv: &Inventory,
    select: &SelectOptions,
    cluster: Option<&str>,
    now: DateTime<Utc>,
) -> Snapshot {
    let selection = select::select(inv, select);
    let cluster = cluster
        .map(str::to_string)
        .unwrap_or_else(|| inv.origin.short_name());
    Snapshot::new(inv, selection, cluster, now)
}

/// Writes a snapshot as an archive and its sidecar, and reports.
pub async fn write(
    snapshot: &Snapshot,
    output: &ArchiveOutput,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<Backup> {
    let cluster = snapshot.cluster.clone();
    let (manifest, cipher) = archive::write(snapshot, &output.encryption, output.armor)?;
    let path = store
        .allocate(&output.location, ArchiveName::new(&cluster, now))
        .await?;
    let sidecar = path.sidecar();
    let line = archive::sidecar_line(&cipher, &path.file_name());
    store.put_new(&path, &cipher).await?;
    if let Err(e) = store.put_new(&sidecar, line.as_bytes()).await {
        // An archive without its sidecar is half a backup: take it back.
        let _ = store.delete(&path).await;
        return Err(e);
    }
    let mut report = Report::default();
    report.extend(snapshot.findings.iter().cloned());
    // A value that looks like a certificate but does not parse is archived as it is (a backup
    // keeps whatever is there) and reported.
    for s in &manifest.secrets {
        for d in &s.data {
            if let Some(e) = &d.pem_error {
                report.push(
                    checks::pem_parse_finding(&d.key, e)
                        .cluster(cluster.clone())
                        .secret(format!("{}/{}", s.namespace, s.name)),
                );
            }
        }
    }
    report.sort();
    Ok(Backup {
        archive: path,
        sidecar,
        sha256: line.split_whitespace().next().unwrap_or("").to_string(),
        bytes: cipher.len() as u64,
        ok: report.ok(false),
        findings: report.findings,
        manifest,
        pruned: Vec::new(),
    })
}

/// Prints the archive path, a table of what was taken, and the findings.
pub fn render(out: &mut dyn Write, b: &Backup, format: OutputFormat) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        return render::json(out, b);
    }
    writeln!(out, "{}", b.archive)?;
    write_contents(out, &b.manifest)?;
    write_findings(out, &b.findings)
}

/// The JSON report of a backup of several clusters.
#[derive(Debug, Serialize)]
struct FleetReport<'a> {
    /// Every cluster backed up, every backup complete.
    ok: bool,
    backups: Vec<&'a Backup>,
    /// Clusters with no archive (exit status 2).
    failed: Vec<Failed<'a>>,
}

#[derive(Debug, Serialize)]
struct Failed<'a> {
    cluster: &'a str,
    error: String,
}

/// True when every attempt wrote a complete backup.
pub fn all_ok(attempts: &[Attempt]) -> bool {
    attempts
        .iter()
        .all(|a| a.result.as_ref().is_ok_and(|b| b.ok))
}

/// A backup of several clusters: one line per cluster, then every finding. Failures are the
/// caller's to print (on standard error, like any error).
pub fn render_fleet(
    out: &mut dyn Write,
    attempts: &[Attempt],
    format: OutputFormat,
) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        let report = FleetReport {
            ok: all_ok(attempts),
            backups: attempts
                .iter()
                .filter_map(|a| a.result.as_ref().ok())
                .collect(),
            failed: attempts
                .iter()
                .filter_map(|a| {
                    let e = a.result.as_ref().err()?;
                    Some(Failed {
                        cluster: &a.cluster,
                        error: e.to_string(),
                    })
                })
                .collect(),
        };
        return render::json(out, &report);
    }
    let mut t = Table::new(["CLUSTER", "STATUS", "SECRETS", "ARCHIVE"]);
    let mut findings = Vec::new();
    for a in attempts {
        match &a.result {
            Ok(b) => {
                let status = if b.ok { "complete" } else { "incomplete" };
                t.row([
                    a.cluster.clone(),
                    status.into(),
                    b.manifest.secrets.len().to_string(),
                    b.archive.to_string(),
                ]);
                findings.extend(b.findings.iter().cloned());
            }
            Err(_) => t.row([a.cluster.clone(), "failed".into(), "-".into(), "-".into()]),
        }
    }
    t.write(out)?;
    write_findings(out, &findings)
}

/// The table of secrets in a manifest (shared with `import` and `inspect`).
pub fn write_contents(out: &mut dyn Write, m: &Manifest) -> std::io::Result<()> {
    let mut t = Table::new(["SECRET", "ROLE", "TYPE", "KEYS", "EXPIRES"]);
    for s in &m.secrets {
        let keys: Vec<&str> = s.data.iter().map(|d| d.key.as_str()).collect();
        t.row([
            format!("{}/{}", s.namespace, s.name),
            s.role.to_string(),
            s.type_.clone(),
            keys.join(","),
            super::short_date(super::earliest_expiry(m, &s.namespace, &s.name)),
        ]);
    }
    if t.is_empty() {
        writeln!(out, "(no secrets selected)")
    } else {
        t.write(out)
    }
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
