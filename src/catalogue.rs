//! The archives of a store (a directory or an object prefix) as a collection: writing a new
//! archive with its `.sha256` sidecar and (with a signing key) its `.sig`, listing what is
//! there by name, reading each with its sidecar and signature (its origin judged by the trust
//! policy before anything is decrypted; with identities, its verdict), and finding the newest
//! good one. `backup`, `import`, `list`, `prune` (through [`crate::retention`]), `verify`,
//! `inspect`, `export` and `restore` all go through here, so they agree on what an archive of
//! a store is and on which archives may be opened.
//!
//! It owns no format (that is [`crate::archive`], including the names, and
//! [`crate::signature`]), no trust decision (that is [`crate::trust_policy`]) and no
//! transport (that is [`crate::store`]); it never renders.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::archive::{self, crypto::PassphraseSource, manifest::Manifest, ArchiveName};
use crate::archive::{ArchiveError, Encryption, Identities, Opened};
use crate::checks::{self, CheckOptions};
use crate::error::{Error, Result};
use crate::findings::{Finding, Report};
use crate::signature::{self, SignatureError, SigningKey};
use crate::snapshot::Snapshot;
use crate::store::{Location, Store};
use crate::trust_policy::{Provenance, Trust};

/// Where an archive goes and who can open it.
#[derive(Debug)]
pub struct ArchiveOutput {
    /// An archive path, or a directory or prefix to name the archive in.
    pub location: Location,
    pub encryption: Encryption,
    /// ASCII-armored age output.
    pub armor: bool,
    /// Sign each archive (`<archive>.sig`) with this key.
    pub sign: Option<SigningKey>,
}

/// What writing a snapshot into the store produced.
#[derive(Debug, Serialize)]
pub struct Backup {
    pub archive: Location,
    pub sidecar: Location,
    /// `<archive>.sig`, when the archive was signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<Location>,
    /// The signing key's fingerprint (`SHA256:…`), when the archive was signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
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
/// names), its sidecar and (with a signing key) its `.sig`, never over an existing object:
/// all or nothing. The report holds the snapshot's findings and a finding per value that
/// looks like a certificate but does not parse (archived as it is: a backup keeps whatever
/// is there).
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
    // Signed before anything is written, so a key that cannot sign leaves nothing behind.
    let signed = match &output.sign {
        Some(key) => Some((
            signature::sig_location(&path),
            key.sign(&cipher, &path.to_string())?,
            key.fingerprint(),
        )),
        None => None,
    };
    let mut files = vec![
        (path.clone(), cipher.as_slice()),
        (sidecar.clone(), side.line.as_bytes()),
    ];
    if let Some((sig, bytes, _)) = &signed {
        files.push((sig.clone(), bytes.as_slice()));
    }
    store.put_new_all(&files).await?;
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
    let (signature, signer) = match signed {
        Some((sig, _, fingerprint)) => (Some(sig), Some(fingerprint)),
        None => (None, None),
    };
    Ok(Backup {
        archive: path,
        sidecar,
        signature,
        signer,
        sha256: side.sha256,
        bytes: cipher.len() as u64,
        ok: report.ok(false),
        findings: report.findings,
        manifest,
        pruned: Vec::new(),
    })
}

/// An archive as read from the store, not decrypted: its bytes, its sidecar's text and the
/// verdict on its origin. [`Fetched::open`] decrypts it only when the origin is admitted.
#[derive(Debug)]
pub struct Fetched {
    pub location: Location,
    bytes: Vec<u8>,
    sidecar: Option<String>,
    /// A `<archive>.sig` is beside it.
    signed: bool,
    pub provenance: Provenance,
    /// Whether the sidecar describes these bytes: `None` without a sidecar. Judged once, in
    /// [`fetch`].
    sidecar_ok: Option<bool>,
    /// Its sidecar or `.sig` disagrees with it and the `<archive>.rewrap` of an interrupted
    /// `rewrap` is beside it.
    rewrap_pending: bool,
}

impl Fetched {
    /// The archive's size in bytes.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
}

/// Reads an archive, its `.sha256` sidecar and its `.sig`, and judges its origin at `now`.
pub async fn fetch(
    store: &Store,
    location: &Location,
    trust: &Trust,
    now: DateTime<Utc>,
) -> Result<Fetched> {
    let bytes = store
        .get(location)
        .await?
        .ok_or_else(|| missing(location))?;
    let sidecar = store
        .get(&location.sidecar())
        .await?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let sig = store.get(&signature::sig_location(location)).await?;
    let mut provenance = trust.judge(&bytes, sig.as_deref(), now);
    let sidecar_ok = sidecar.as_deref().map(|t| {
        let (archive, side) = (location.to_string(), location.sidecar().to_string());
        archive::check_sidecar(&bytes, t, &archive, &side).is_ok()
    });
    let mut fetched = Fetched {
        location: location.clone(),
        bytes,
        sidecar,
        signed: sig.is_some(),
        provenance: provenance.clone(),
        sidecar_ok,
        rewrap_pending: false,
    };
    let disagree = sidecar_ok == Some(false) || !provenance.admitted();
    if disagree && store.exists(&rewrap_temp(location)).await? {
        fetched.rewrap_pending = true;
        if !provenance.admitted() {
            provenance.detail = format!("{}; {}", provenance.detail, rewrap_hint(location));
            fetched.provenance = provenance;
        }
    }
    Ok(fetched)
}

/// What to do about an archive whose sidecar or `.sig` disagrees with it while the
/// `<archive>.rewrap` of an interrupted `rewrap` is beside it (see [`replace`]).
fn rewrap_hint(location: &Location) -> String {
    format!(
        "{} is still beside it: a `trustkeep rewrap` was interrupted; run the same rewrap again (with the old and the new identities) to finish it",
        rewrap_temp(location)
    )
}

/// The error for an archive that is not there, worded as the store words it.
fn missing(location: &Location) -> Error {
    match location {
        Location::Local(p) => Error::io(
            "cannot read archive",
            p,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ),
        Location::Object(o) => Error::from(crate::store::StoreError::NoObject {
            location: o.clone(),
        }),
    }
}

impl Fetched {
    /// The refusal of an archive whose origin the policy refuses (exit status 1).
    pub fn refusal(&self) -> Option<Error> {
        (!self.provenance.admitted()).then(|| {
            Error::from(SignatureError::Refused {
                archive: self.location.to_string(),
                reason: self.provenance.detail.clone(),
            })
        })
    }

    /// Checks the sidecar, decrypts and checks every entry, once the origin is admitted.
    pub fn open(&self, ids: &Identities, passphrase: PassphraseSource<'_>) -> Result<Opened> {
        if let Some(e) = self.refusal() {
            return Err(e);
        }
        let name = self.location.to_string();
        if self.sidecar_ok == Some(true) {
            // Checked in `fetch`: not hashed again.
            return archive::open(&self.bytes[..], ids, passphrase, &name);
        }
        if self.rewrap_pending && self.sidecar_ok == Some(false) {
            return Err(Error::from(ArchiveError::Corrupt {
                archive: self.location.to_string(),
                message: format!(
                    "its sidecar {} describes other bytes, and {}",
                    self.location.sidecar(),
                    rewrap_hint(&self.location)
                ),
            }));
        }
        let sidecar = self.location.sidecar().to_string();
        let side = self.sidecar.as_deref().map(|t| (t, sidecar));
        archive::open_checked(
            &self.bytes,
            side,
            ids,
            passphrase,
            &self.location.to_string(),
        )
    }

    /// Size of the ciphertext.
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Reads an archive, refuses it when the trust policy does (before decrypting it), and
/// opens it: what `inspect`, `export` and `restore` read.
pub async fn open(
    store: &Store,
    location: &Location,
    ids: &Identities,
    passphrase: PassphraseSource<'_>,
    trust: &Trust,
    now: DateTime<Utc>,
) -> Result<(Opened, Provenance)> {
    let fetched = fetch(store, location, trust, now).await?;
    let opened = fetched.open(ids, passphrase)?;
    Ok((opened, fetched.provenance))
}

/// Opens a local archive file (checking its sidecar; its origin is not judged), for callers
/// without an async runtime.
pub fn open_file(
    path: &std::path::Path,
    ids: &Identities,
    passphrase: PassphraseSource<'_>,
) -> Result<Opened> {
    let loc = Location::Local(path.to_path_buf());
    let store = Store::new();
    let trust = Trust::default();
    let now = chrono::DateTime::<Utc>::UNIX_EPOCH;
    futures::executor::block_on(open(&store, &loc, ids, passphrase, &trust, now)).map(|(o, _)| o)
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
        let found = files_at(store, l).await?;
        if found.is_empty() {
            return Err(Error::NotFound(format!("{l}: no *.age archives here")));
        }
        out.extend(found);
    }
    Ok(out)
}

/// [`archive_files`] for locations read together (`pki rotate`'s `--from birth/ --from
/// rotation/`, the second still empty before the first phase): an empty directory is an
/// error only when none of them holds an archive.
pub async fn archive_files_together(
    store: &Store,
    locations: &[Location],
) -> Result<Vec<Location>> {
    let mut out = Vec::new();
    for l in locations {
        out.extend(files_at(store, l).await?);
    }
    if out.is_empty() {
        let named: Vec<String> = locations.iter().map(ToString::to_string).collect();
        return Err(Error::NotFound(format!(
            "{}: no *.age archives here",
            named.join(", ")
        )));
    }
    Ok(out)
}

/// The archive files of directory or prefix `l`, or `l` itself when it names a file.
async fn files_at(store: &Store, l: &Location) -> Result<Vec<Location>> {
    if !l.is_dir() {
        return Ok(vec![l.clone()]);
    }
    Ok(store
        .list(l)
        .await?
        .into_iter()
        .filter(|f| archive::is_archive_file(&f.file_name()))
        .collect())
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
    /// Who signed it and whether the trust policy admits it.
    pub origin: Provenance,
    /// With identities: `ok`, `N error(s)`, or why the archive could not be read; with a
    /// refused origin, `refused: …` (it was not decrypted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// Sidecar ok, origin admitted and (with identities) verdict ok.
    pub good: bool,
}

impl Entry {
    /// Why the entry is not good, in one line (`None` when it is).
    pub fn why_not_good(&self) -> Option<String> {
        if self.good {
            return None;
        }
        if !self.origin.admitted() {
            return Some(format!("origin refused: {}", self.origin.detail));
        }
        if self.sidecar != "ok" {
            return Some(format!("sidecar {}", self.sidecar));
        }
        self.verdict.clone()
    }
}

/// How to judge the archives of a store: without identities only the sidecar and the
/// origin; with them, decryption, every entry and the checks (no error finding). An archive
/// whose origin the trust policy refuses is never decrypted.
pub struct Judge<'a> {
    pub identities: Option<&'a Identities>,
    pub check: &'a CheckOptions,
    pub passphrase: PassphraseSource<'a>,
    pub trust: &'a Trust,
    /// The time of the run, for the signers' validity windows.
    pub now: DateTime<Utc>,
}

impl Judge<'_> {
    /// Whether anything beyond the name and the sidecar is asked (keys or a policy): then
    /// `--latest` passes over archives that are not good.
    fn judges(&self) -> bool {
        self.identities.is_some() || self.trust.signers.is_some()
    }
}

/// Reads one archive with its sidecar and signature, judges its origin, and (with
/// identities, when the origin is admitted) verifies it.
pub async fn examine(store: &Store, listed: Listed, judge: &Judge<'_>) -> Result<Entry> {
    let Listed { name, location, .. } = listed;
    let fetched = fetch(store, &location, judge.trust, judge.now).await?;
    let sidecar = match fetched.sidecar_ok {
        None => "missing",
        Some(true) => "ok",
        Some(false) if fetched.rewrap_pending => "mismatch (interrupted rewrap: run it again)",
        Some(false) => "mismatch",
    };
    let verdict = judge.identities.map(|ids| {
        if !fetched.provenance.admitted() {
            return format!("refused: {}", fetched.provenance.detail);
        }
        match fetched.open(ids, judge.passphrase) {
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
        good: sidecar == "ok"
            && fetched.provenance.admitted()
            && verdict.as_deref().is_none_or(|v| v == "ok"),
        cluster: name.stem,
        created: name.created,
        bytes: fetched.len(),
        sidecar,
        origin: fetched.provenance,
        verdict,
        archive: location,
    })
}

/// What a scan found: the entries, and with `latest` the newer archives passed over to reach
/// each cluster's good one (so the verb can say why).
#[derive(Debug, Default)]
pub struct Scan {
    pub entries: Vec<Entry>,
    pub passed_over: Vec<Entry>,
}

/// Reads (and judges) the archives of `dir`. With `latest`, stops at the first archive of
/// each cluster (with identities or a trust policy: the first good one; when none is good,
/// the newest is given, not good).
pub async fn scan(
    store: &Store,
    dir: &Location,
    cluster: Option<&str>,
    latest: bool,
    judge: &Judge<'_>,
) -> Result<Scan> {
    let listed = list(store, dir, cluster).await?;
    scan_listed(store, listed, latest, judge).await
}

async fn scan_listed(
    store: &Store,
    listed: Vec<Listed>,
    latest: bool,
    judge: &Judge<'_>,
) -> Result<Scan> {
    let mut out = Scan::default();
    // The cluster being scanned with `latest`: its entries not good so far, until settled.
    let mut current: Option<(String, bool, Vec<Entry>)> = None;
    for l in listed {
        if !latest {
            out.entries.push(examine(store, l, judge).await?);
            continue;
        }
        if current.as_ref().is_some_and(|(c, _, _)| *c != l.name.stem) {
            settle(&mut out, current.take());
        }
        if current.as_ref().is_some_and(|(_, settled, _)| *settled) {
            continue;
        }
        let e = examine(store, l, judge).await?;
        let stem = e.cluster.clone();
        let (_, settled, bad) = current.get_or_insert_with(|| (stem, false, Vec::new()));
        if !judge.judges() || e.good {
            out.entries.push(e);
            out.passed_over.append(bad);
            *settled = true;
        } else {
            bad.push(e);
        }
    }
    settle(&mut out, current);
    Ok(out)
}

/// A cluster scanned with `latest` and no good archive: its newest is given, not good, and
/// the older ones are passed over.
fn settle(out: &mut Scan, cluster: Option<(String, bool, Vec<Entry>)>) {
    if let Some((_, false, bad)) = cluster {
        let mut bad = bad.into_iter();
        if let Some(newest) = bad.next() {
            out.entries.push(newest);
        }
        out.passed_over.extend(bad);
    }
}

/// The archive `restore --latest` takes, and the newer ones it passed over.
#[derive(Debug)]
pub struct Latest {
    pub archive: Location,
    pub passed_over: Vec<Entry>,
}

/// The newest archive of `dir` that verifies (origin admitted, sidecar, decryption, entries,
/// no error finding), for `restore --latest`. With archives of several clusters, `cluster`
/// must say which.
pub async fn latest_good(
    store: &Store,
    dir: &Location,
    cluster: Option<&str>,
    judge: &Judge<'_>,
) -> Result<Latest> {
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
    let passed_over = found.passed_over;
    match found.entries.into_iter().find(|e| e.good) {
        Some(e) => Ok(Latest {
            archive: e.archive,
            passed_over,
        }),
        None => {
            let of = cluster
                .map(|c| format!(" of cluster {c}"))
                .unwrap_or_default();
            let policy = if judge.trust.signers.is_some() {
                " and the --trusted-signers policy"
            } else {
                ""
            };
            Err(Error::NotFound(format!(
                "{dir}: no archive{of} verifies with the given identities{policy}; see trustkeep list {dir} -i FILE"
            )))
        }
    }
}

/// Where an archive's re-encrypted bytes wait before they replace it: `<archive>.rewrap`
/// beside it (not `*.age`, so neither listed nor verified as an archive).
pub(crate) fn rewrap_temp(archive: &Location) -> Location {
    archive
        .parent()
        .join(&format!("{}.rewrap", archive.file_name()))
}

impl Fetched {
    /// Whether a `<archive>.sig` was read beside it.
    pub(crate) fn is_signed(&self) -> bool {
        self.signed
    }

    /// The recipient stanzas of its age header, sorted (see [`archive::crypto::header_stanzas`]).
    pub(crate) fn stanzas(&self) -> Option<Vec<(String, String)>> {
        let mut s = archive::crypto::header_stanzas(&self.bytes)?;
        s.sort();
        Some(s)
    }

    /// The archive encrypted again for `enc` (see [`archive::rewrap`]: the plaintext stays
    /// in memory), once its origin is admitted.
    pub(crate) fn rewrap(
        &self,
        ids: &Identities,
        passphrase: PassphraseSource<'_>,
        enc: &Encryption,
    ) -> Result<Vec<u8>> {
        if let Some(e) = self.refusal() {
            return Err(e);
        }
        let sidecar = self.location.sidecar().to_string();
        let side = self.sidecar.as_deref().map(|t| (t, sidecar));
        let name = self.location.to_string();
        archive::rewrap(&self.bytes, side, ids, passphrase, enc, &name)
    }
}

/// Replaces an archive with `cipher` (the same archive, encrypted for other recipients), its
/// sidecar and (with a key) its `.sig`, in an order that never loses the only copy:
///
/// 1. sign (a key that cannot sign leaves nothing behind);
/// 2. write `cipher` to `<archive>.rewrap` and read it back: it must be these bytes;
/// 3. replace the archive (one rename, or one PUT);
/// 4. replace the sidecar, then 5. the `.sig`;
/// 6. delete `<archive>.rewrap`.
///
/// A crash before 3 leaves the original archive, sidecar and `.sig` untouched (and a stray
/// `<archive>.rewrap`, removed by the next run); between 3 and 6 the new archive is in place
/// and `<archive>.rewrap` holds the same bytes: its sidecar (4) or `.sig` (5) may still be
/// the old one until [`resume`] (run first by the next `rewrap`) writes them.
pub(crate) async fn replace(
    store: &Store,
    location: &Location,
    cipher: &[u8],
    sign: Option<&SigningKey>,
) -> Result<()> {
    let sig = sign
        .map(|k| k.sign(cipher, &location.to_string()))
        .transpose()?;
    let temp = rewrap_temp(location);
    if store.exists(&temp).await? {
        store.delete(&temp).await?;
    }
    store.put_new(&temp, cipher).await?;
    if store.get(&temp).await?.as_deref() != Some(cipher) {
        return Err(Error::Refused {
            path: std::path::PathBuf::from(temp.to_string()),
            message: "does not read back as written; the archive was left as it was".into(),
        });
    }
    store.replace(location, cipher).await?;
    finish(store, location, cipher, sig.as_deref()).await
}

/// Steps 4 to 6 of [`replace`]: the sidecar, the `.sig` and the temporary.
async fn finish(
    store: &Store,
    location: &Location,
    cipher: &[u8],
    sig: Option<&[u8]>,
) -> Result<()> {
    let side = archive::Sidecar::of(cipher, &location.file_name());
    store
        .replace(&location.sidecar(), side.line.as_bytes())
        .await?;
    if let Some(sig) = sig {
        store
            .replace(&signature::sig_location(location), sig)
            .await?;
    }
    store.delete(&rewrap_temp(location)).await
}

/// What a `<archive>.rewrap` left by an interrupted [`replace`] meant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resumed {
    /// There was none.
    Nothing,
    /// It was never put in place (the archive is the original): it was deleted.
    Discarded,
    /// The archive had been replaced by it: the sidecar and `.sig` are now written.
    Completed,
}

/// Finishes or discards what an interrupted [`replace`] of `location` left behind.
pub(crate) async fn resume(
    store: &Store,
    location: &Location,
    sign: Option<&SigningKey>,
) -> Result<Resumed> {
    let temp = rewrap_temp(location);
    let Some(pending) = store.get(&temp).await? else {
        return Ok(Resumed::Nothing);
    };
    if store.get(location).await?.as_deref() != Some(pending.as_slice()) {
        store.delete(&temp).await?;
        return Ok(Resumed::Discarded);
    }
    let sig = sign
        .map(|k| k.sign(&pending, &location.to_string()))
        .transpose()?;
    finish(store, location, &pending, sig.as_deref()).await?;
    Ok(Resumed::Completed)
}
