//! `trustkeep list STORE`: the archives of a directory or prefix, per cluster, newest first,
//! with time, size and sidecar status; with identities, the verify verdict too; with
//! `--latest`, only the newest archive of each cluster (with identities: the newest that
//! verifies, i.e. the last good backup). `restore DIR --latest` asks [`latest_good`] the same
//! question. Only files named `<cluster>-<UTC time>[.N].tar.gz.age` are listed (see
//! [`ArchiveName`]); nothing is written.

use std::io::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::archive::{self, ArchiveName, Identities};
use crate::checks::CheckOptions;
use crate::error::Result;
use crate::render::{self, OutputFormat, Table};
use crate::store::Location;
use crate::world::World;

use super::audit;

/// What to list.
#[derive(Debug)]
pub struct Options {
    /// A directory or an object prefix (`s3://`, `gs://`, `az://`).
    pub dir: Location,
    /// Only this cluster's archives (as it appears in file names).
    pub cluster: Option<String>,
    /// Only the newest archive per cluster (with identities: the newest that verifies).
    pub latest: bool,
    /// Open each archive and check it, like `verify`.
    pub identities: Option<Identities>,
    pub check: CheckOptions,
}

/// One archive.
#[derive(Debug, Serialize)]
pub struct Entry {
    pub archive: Location,
    pub cluster: String,
    pub created: DateTime<Utc>,
    /// Size of the ciphertext.
    pub bytes: u64,
    /// `ok`, `missing` or `mismatch` (the `.sha256` does not match the ciphertext).
    pub sidecar: &'static str,
    /// With identities: `ok`, `N error(s)`, or why the archive could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// Sidecar ok and (with identities) verdict ok.
    pub good: bool,
}

/// [`Options`] with borrowed keys (shared by `list` and `restore --latest`).
struct Query<'a> {
    dir: &'a Location,
    cluster: Option<&'a str>,
    latest: bool,
    identities: Option<&'a Identities>,
    check: &'a CheckOptions,
}

/// Named archives under `dir`, grouped by cluster, newest first.
async fn names(q: &Query<'_>, world: &World) -> Result<Vec<(ArchiveName, Location)>> {
    let mut named: Vec<(ArchiveName, Location)> = world
        .store
        .list(q.dir)
        .await?
        .into_iter()
        .filter_map(|l| Some((ArchiveName::parse(&l.file_name())?, l)))
        .filter(|(n, _)| q.cluster.is_none_or(|c| n.is_of(c)))
        .collect();
    named.sort_by(|(a, _), (b, _)| {
        a.stem
            .cmp(&b.stem)
            .then((b.created, b.n).cmp(&(a.created, a.n)))
    });
    Ok(named)
}

/// Reads one archive and its sidecar, and (with identities) verifies it.
async fn entry(name: ArchiveName, loc: Location, q: &Query<'_>, world: &World) -> Result<Entry> {
    let bytes = world.store.get(&loc).await?.unwrap_or_default();
    let sidecar_loc = loc.sidecar();
    let sidecar_text = world
        .store
        .get(&sidecar_loc)
        .await?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let label = loc.to_string();
    let sidecar = match &sidecar_text {
        None => "missing",
        Some(t) => match archive::check_sidecar(&bytes, t, &label, &sidecar_loc.to_string()) {
            Ok(()) => "ok",
            Err(_) => "mismatch",
        },
    };
    let verdict = q.identities.map(|ids| {
        let side = sidecar_text
            .as_deref()
            .map(|t| (t, sidecar_loc.to_string()));
        match archive::open_checked(&bytes, side, ids, world.passphrase(), &label) {
            Ok(opened) => {
                let snap = std::slice::from_ref(&opened.snapshot);
                match audit::check(snap, q.check, false).errors {
                    0 => "ok".to_string(),
                    n => format!("{n} error(s)"),
                }
            }
            Err(e) => format!("unreadable: {e}"),
        }
    });
    Ok(Entry {
        good: sidecar == "ok" && verdict.as_deref().is_none_or(|v| v == "ok"),
        cluster: name.stem,
        created: name.created,
        bytes: bytes.len() as u64,
        sidecar,
        verdict,
        archive: loc,
    })
}

/// Lists (and with identities verifies) the archives.
pub async fn run(opts: &Options, world: &World) -> Result<Vec<Entry>> {
    let q = Query {
        dir: &opts.dir,
        cluster: opts.cluster.as_deref(),
        latest: opts.latest,
        identities: opts.identities.as_ref(),
        check: &opts.check,
    };
    scan(&q, world).await
}

/// With `latest`, stops at the first archive of each cluster (with identities: the first
/// good one; when none is good, the newest is shown, not good).
async fn scan(q: &Query<'_>, world: &World) -> Result<Vec<Entry>> {
    let mut out: Vec<Entry> = Vec::new();
    // The cluster being scanned with --latest: settled, or its newest (bad) entry so far.
    let mut current: Option<(String, bool, Option<Entry>)> = None;
    for (name, loc) in names(q, world).await? {
        if !q.latest {
            out.push(entry(name, loc, q, world).await?);
            continue;
        }
        if current.as_ref().is_some_and(|(c, _, _)| *c != name.stem) {
            if let Some((_, false, Some(newest))) = current.take() {
                out.push(newest);
            }
            current = None;
        }
        if current.as_ref().is_some_and(|(_, settled, _)| *settled) {
            continue;
        }
        let e = entry(name, loc, q, world).await?;
        let stem = e.cluster.clone();
        if q.identities.is_none() || e.good {
            out.push(e);
            current = Some((stem, true, None));
        } else if current.is_none() {
            current = Some((stem, false, Some(e)));
        }
    }
    if let Some((_, false, Some(newest))) = current {
        out.push(newest);
    }
    Ok(out)
}

/// The newest archive of `dir` that verifies (sidecar, decryption, entries, no error
/// finding), for `restore --latest`. With archives of several clusters, `cluster` must say
/// which.
pub async fn latest_good(
    dir: &Location,
    cluster: Option<&str>,
    identities: &Identities,
    check: &CheckOptions,
    world: &World,
) -> Result<Location> {
    let q = Query {
        dir,
        cluster,
        latest: true,
        identities: Some(identities),
        check,
    };
    let all = names(&q, world).await?;
    let mut clusters: Vec<&str> = all.iter().map(|(n, _)| n.stem.as_str()).collect();
    clusters.dedup();
    if clusters.len() > 1 {
        return Err(crate::Error::Usage(format!(
            "{dir}: holds archives of {} clusters ({}); say which with --cluster",
            clusters.len(),
            clusters.join(", ")
        )));
    }
    let found = scan(&q, world).await?;
    found
        .into_iter()
        .find(|e| e.good)
        .map(|e| e.archive)
        .ok_or_else(|| {
            let of = cluster.map(|c| format!(" of cluster {c}")).unwrap_or_default();
            crate::Error::Usage(format!(
                "{dir}: no archive{of} verifies with the given identities; see trustkeep list {dir} -i FILE"
            ))
        })
}

/// Prints the entries.
pub fn render(out: &mut dyn Write, es: &[Entry], format: OutputFormat) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        return render::json(out, &es);
    }
    let verified = es.iter().any(|e| e.verdict.is_some());
    let mut header = vec!["CLUSTER", "CREATED", "SIZE", "SIDECAR"];
    if verified {
        header.push("VERDICT");
    }
    header.push("ARCHIVE");
    let mut t = Table::new(header);
    for e in es {
        let mut row = vec![
            e.cluster.clone(),
            e.created.format("%Y-%m-%d %H:%M:%S").to_string(),
            e.bytes.to_string(),
            e.sidecar.to_string(),
        ];
        if verified {
            row.push(e.verdict.clone().unwrap_or_default());
        }
        row.push(e.archive.to_string());
        t.row(row);
    }
    if t.is_empty() {
        writeln!(out, "(no archives named <cluster>-<UTC time>.tar.gz.age)")
    } else {
        t.write(out)
    }
}
