//! `trustkeep backup`: source → selection → snapshot → archive → store.
//!
//! Reads a cluster's secrets, selects the trust set, writes an encrypted archive and its
//! `.sha256` sidecar atomically, and reports what it took. Missing core secrets are findings
//! (exit 1) but the archive of what was found is still written. Several clusters are backed
//! up concurrently, one archive each; one that fails does not stop the others.

use std::io::Write;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;

use crate::catalogue::{self, ArchiveOutput, Backup};
use crate::error::Result;
use crate::present;
use crate::render::{self, OutputFormat, Table};
use crate::retention;
use crate::select::SelectOptions;
use crate::snapshot::Snapshot;
use crate::source::Source;
use crate::world::World;

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
    /// cluster's archives there with this policy (see [`retention`]); empty: no pruning.
    pub retention: retention::Policy,
}

/// One cluster's backup, or why there is none.
#[derive(Debug)]
pub struct Attempt {
    /// The cluster's name: as the archive records it, or as the flags gave it on failure.
    pub cluster: String,
    pub result: Result<Backup>,
    pub duration: Duration,
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
    let snap = Snapshot::take(&inv, &opts.select, name, world.now);
    let mut b = catalogue::write(&snap, &opts.output, &world.store, world.now).await?;
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
        let rules = retention::Rules {
            policy: opts.retention.clone(),
            cluster: Some(b.manifest.cluster.name.clone()),
            protect: Some(b.archive.clone()),
        };
        let dir = b.archive.parent();
        let decisions = retention::apply(&world.store, &dir, &rules, false, world.now).await?;
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

/// Prints the archive path, a table of what was taken, and the findings.
pub fn render(out: &mut dyn Write, b: &Backup, format: OutputFormat) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        return render::json(out, b);
    }
    writeln!(out, "{}", b.archive)?;
    present::write_contents(out, &b.manifest)?;
    present::write_findings(out, &b.findings)
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
    present::write_findings(out, &findings)
}
