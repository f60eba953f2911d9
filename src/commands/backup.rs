//! `trustkeep backup`: source → selection → snapshot → archive → store.
//!
//! Reads one cluster's secrets, selects the trust set, writes an encrypted archive and its
//! `.sha256` sidecar atomically, and reports what it took. Missing core secrets are findings
//! (exit 1) but the archive of what was found is still written.

use std::io::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::archive::{self, manifest::Manifest, Encryption};
use crate::checks;
use crate::error::Result;
use crate::findings::{Finding, Report};
use crate::render::{self, OutputFormat, Table};
use crate::select::{self, SelectOptions};
use crate::snapshot::Snapshot;
use crate::source::Inventory;
use crate::store::{Location, Store};

/// What to back up and where.
#[derive(Debug, Default)]
pub struct Options {
    pub select: SelectOptions,
    /// Cluster name recorded in the archive; defaults to the source's short name.
    pub cluster: Option<String>,
    /// An archive path, or a directory to name the archive in.
    pub output: Location,
    /// ASCII-armored age output.
    pub armor: bool,
}

/// What a backup wrote.
#[derive(Debug, Serialize)]
pub struct Backup {
    pub archive: Location,
    pub sidecar: Location,
    /// SHA-256 of the ciphertext.
    pub sha256: String,
    /// What the archive holds (no digests of values; see [`Manifest::report`]).
    #[serde(serialize_with = "manifest_report")]
    pub manifest: Manifest,
    pub ok: bool,
    pub findings: Vec<Finding>,
}

fn manifest_report<S: serde::Serializer>(m: &Manifest, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&m.report(), s)
}

/// Backs up an inventory already read from its source.
pub async fn run(
    inv: &Inventory,
    opts: &Options,
    enc: &Encryption,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<Backup> {
    write(&snapshot(inv, opts, now), opts, enc, store, now).await
}

/// Selects the trust set of an inventory and freezes it.
pub fn snapshot(inv: &Inventory, opts: &Options, now: DateTime<Utc>) -> Snapshot {
    let selection = select::select(inv, &opts.select);
    let cluster = opts
        .cluster
        .clone()
        .unwrap_or_else(|| inv.origin.short_name());
    Snapshot::new(inv, selection, cluster, now)
}

/// Writes a snapshot as an archive and its sidecar, and reports.
pub async fn write(
    snapshot: &Snapshot,
    opts: &Options,
    enc: &Encryption,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<Backup> {
    let cluster = snapshot.cluster.clone();
    let (manifest, cipher) = archive::write(snapshot, enc, opts.armor)?;
    let path = super::archive_path(store, &opts.output, &cluster, now).await?;
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
        ok: report.ok(false),
        findings: report.findings,
        manifest,
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
