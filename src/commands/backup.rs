//! `trustkeep backup`: source → selection → snapshot → archive → store.
//!
//! Reads one cluster's secrets, selects the trust set, writes an encrypted archive and its
//! `.sha256` sidecar atomically, and reports what it took. Missing core secrets are findings
//! (exit 1) but the archive of what was found is still written.

use std::io::Write;

use chrono::{DateTime, Utc};
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
    pub source: Source,
    pub select: SelectOptions,
    /// Cluster name recorded in the archive; defaults to the source's short name.
    pub cluster: Option<String>,
    pub output: ArchiveOutput,
    /// After a complete backup into a directory (the CLI refuses it for a file), prune this
    /// cluster's archives there with this policy (see [`prune`]); empty: no pruning.
    pub retention: prune::Policy,
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

/// source → selection → snapshot → archive → store, then retention.
pub async fn run(opts: &Options, world: &World) -> Result<Backup> {
    let inv = opts.source.read(&opts.select).await?;
    let snap = snapshot(&inv, &opts.select, opts.cluster.as_deref(), world.now);
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
