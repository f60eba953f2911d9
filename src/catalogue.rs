//! The archives of a store (a directory or an object prefix) as a collection: writing a new
//! archive with its `.sha256` sidecar, listing what is there by name, reading each with its
//! sidecar (and with identities, its verdict), and finding the newest good one. `backup`,
//! `import`, `list`, `prune` (through [`crate::retention`]), `verify` and `restore --latest`
//! all go through here, so they agree on what an archive of a store is.
//!
//! It owns no format (that is [`crate::archive`], including the names) and no transport
//! (that is [`crate::store`]); it never renders.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::archive::{self, crypto::PassphraseSource, manifest::Manifest, ArchiveName};
use crate::archive::{Encryption, Identities};
use crate::checks::{self, CheckOptions};
use crate::error::{Error, Result};
use crate::findings::{Finding, Report};
use crate::snapshot::Snapshot;
use crate::store::{Location, Store};

/// Where an archive goes and who can open it.
#[derive(Debug)]
pub struct ArchiveOutput {
    /// An archive path, or a directory or prefix to name the archive in.
    pub location: Location,
    pub encryption: Encryption,
    /// ASCII-armored age output.
    pub armor: bool,
}

/// What writing a snapshot into the store produced.
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

/// Writes a snapshot as an archive named `<cluster>-<now>[.N]` (or at the path `output`
/// names) and its sidecar, never over an existing object: both or neither. The report holds
/// the snapshot's findings and a finding per value that looks like a certificate but does
/// not parse (archived as it is: a backup keeps whatever is there).
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
    let side = archive::Sidecar::of(&cipher, &path.file_name());
    store.put_new(&path, &cipher).await?;
    if let Err(e) = store.put_new(&sidecar, side.line.as_bytes()).await {
        // An archive without its sidecar is half a backup: take it back.
        let _ = store.delete(&path).await;
        return Err(e);
    }
    let mut report = Report::default();
    report.extend(snapshot.findings.iter().cloned());
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
        sha256: side.sha256,
        bytes: cipher.len() as u64,
        ok: report.ok(false),
        findings: report.findings,
        manifest,
        pruned: Vec::new(),
    })
}

/// An archive of a store, known by its name (not opened).
#[derive(Clone, Debug)]
pub struct Listed {
    pub(crate) name: ArchiveName,
    pub location: Location,
    /// Its `.sha256` sidecar is beside it.
    pub has_sidecar: bool,
}

/// The archives among `listing` (a store's listing: archives, sidecars and anything else)
/// whose file names are `<cluster>-<UTC time>[.N].tar.gz.age`, of `cluster` when given (as
/// it appears in file names), by cluster, newest first (within one second, the higher `.N`).
pub fn named(listing: &[Location], cluster: Option<&str>) -> Vec<Listed> {
    let present: std::collections::BTreeSet<String> =
        listing.iter().map(Location::to_string).collect();
    let mut out: Vec<Listed> = listing
        .iter()
        .filter_map(|l| {
            let name = ArchiveName::parse(&l.file_name())?;
            let has_sidecar = present.contains(&l.sidecar().to_string());
            Some(Listed {
                name,
                location: l.clone(),
                has_sidecar,
            })
        })
        .filter(|l| cluster.is_none_or(|c| l.name.is_of(c)))
        .collect();
    out.sort_by(|a, b| {
        (a.name.stem.cmp(&b.name.stem))
            .then((b.name.created, b.name.n).cmp(&(a.name.created, a.name.n)))
    });
    out
}

/// Lists `dir` and keeps its named archives (see [`named`]).
pub async fn list(store: &Store, dir: &Location, cluster: Option<&str>) -> Result<Vec<Listed>> {
    Ok(named(&store.list(dir).await?, cluster))
}

/// Every archive file (`*.age`, whatever its name) of each directory or prefix, and each
/// other location as it is: what `verify` reads. A directory without one is an error.
pub async fn archive_files(store: &Store, locations: &[Location]) -> Result<Vec<Location>> {
    let mut out = Vec::new();
    for l in locations {
        if l.is_dir() {
            let found: Vec<Location> = store
                .list(l)
                .await?
                .into_iter()
                .filter(|f| archive::is_archive_file(&f.file_name()))
                .collect();
            if found.is_empty() {
                return Err(Error::NotFound(format!("{l}: no *.age archives here")));
            }
            out.extend(found);
        } else {
            out.push(l.clone());
        }
    }
    Ok(out)
}

/// One archive as read from the store.
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

/// How to judge the archives of a store: without identities only the sidecar; with them,
/// decryption, every entry and the checks (no error finding).
pub struct Judge<'a> {
    pub identities: Option<&'a Identities>,
    pub check: &'a CheckOptions,
    pub passphrase: PassphraseSource<'a>,
}

/// Reads one archive and its sidecar, and (with identities) verifies it.
pub async fn examine(store: &Store, listed: Listed, judge: &Judge<'_>) -> Result<Entry> {
    let Listed { name, location, .. } = listed;
    let bytes = store.get(&location).await?.unwrap_or_default();
    let sidecar_loc = location.sidecar();
    let sidecar_text = store
        .get(&sidecar_loc)
        .await?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let label = location.to_string();
    let sidecar = match &sidecar_text {
        None => "missing",
        Some(t) => match archive::check_sidecar(&bytes, t, &label, &sidecar_loc.to_string()) {
            Ok(()) => "ok",
            Err(_) => "mismatch",
        },
    };
    let verdict = judge.identities.map(|ids| {
        let side = sidecar_text
            .as_deref()
            .map(|t| (t, sidecar_loc.to_string()));
        match archive::open_checked(&bytes, side, ids, judge.passphrase, &label) {
            Ok(opened) => {
                let snap = std::slice::from_ref(&opened.snapshot);
                match checks::check(snap, judge.check).report.errors() {
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
        archive: location,
    })
}

/// Reads (and judges) the archives of `dir`. With `latest`, stops at the first archive of
/// each cluster (with identities: the first good one; when none is good, the newest is
/// given, not good).
pub async fn scan(
    store: &Store,
    dir: &Location,
    cluster: Option<&str>,
    latest: bool,
    judge: &Judge<'_>,
) -> Result<Vec<Entry>> {
    let listed = list(store, dir, cluster).await?;
    scan_listed(store, listed, latest, judge).await
}

async fn scan_listed(
    store: &Store,
    listed: Vec<Listed>,
    latest: bool,
    judge: &Judge<'_>,
) -> Result<Vec<Entry>> {
    let mut out: Vec<Entry> = Vec::new();
    // The cluster being scanned with `latest`: settled, or its newest (bad) entry so far.
    let mut current: Option<(String, bool, Option<Entry>)> = None;
    for l in listed {
        if !latest {
            out.push(examine(store, l, judge).await?);
            continue;
        }
        if current.as_ref().is_some_and(|(c, _, _)| *c != l.name.stem) {
            if let Some((_, false, Some(newest))) = current.take() {
                out.push(newest);
            }
            current = None;
        }
        if current.as_ref().is_some_and(|(_, settled, _)| *settled) {
            continue;
        }
        let e = examine(store, l, judge).await?;
        let stem = e.cluster.clone();
        if judge.identities.is_none() || e.good {
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
    store: &Store,
    dir: &Location,
    cluster: Option<&str>,
    judge: &Judge<'_>,
) -> Result<Location> {
    let listed = list(store, dir, cluster).await?;
    let mut clusters: Vec<&str> = listed.iter().map(|l| l.name.stem.as_str()).collect();
    clusters.dedup();
    if clusters.len() > 1 {
        return Err(Error::Ambiguous(format!(
            "{dir}: holds archives of {} clusters ({}); say which with --cluster",
            clusters.len(),
            clusters.join(", ")
        )));
    }
    let found = scan_listed(store, listed, true, judge).await?;
    found
        .into_iter()
        .find(|e| e.good)
        .map(|e| e.archive)
        .ok_or_else(|| {
            let of = cluster.map(|c| format!(" of cluster {c}")).unwrap_or_default();
            Error::NotFound(format!(
                "{dir}: no archive{of} verifies with the given identities; see trustkeep list {dir} -i FILE"
            ))
        })
}
