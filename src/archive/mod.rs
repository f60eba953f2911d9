//! The archive format (v1, and v2 when it carries RootTrustPolicies), and the only code that
//! reads or writes it.
//!
//! An archive is `age(gzip(tar))`. The tar holds `manifest.json` first, then per secret
//! `secrets/<namespace>/<name>/secret.yaml` and one file per data key with its raw bytes, then
//! (v2) per RootTrustPolicy `policies/<namespace>/<name>.yaml`.
//! Entries are in a fixed order with fixed modes and the snapshot's time as mtime, so the same
//! snapshot gives the same tar. Reading checks every entry against the manifest and refuses
//! anything unexpected (absolute paths, `..`, links, oversize entries, unknown versions).
//! Plaintext exists only in memory, in zeroizing buffers. See docs/archive-format.md.

pub mod crypto;
mod error;
pub mod manifest;
mod name;
pub mod plugin;
pub(crate) mod tarball;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Read};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::inventory::PolicyObject;
use crate::pki;
use crate::secret::{valid_data_key, valid_object_name, SecretBytes, SecretId, SecretRecord};
use crate::select::Selected;
use crate::snapshot::Snapshot;
pub use crypto::{Encryption, Identities};
pub use error::ArchiveError;
use manifest::{ClusterInfo, DataEntry, FileEntry, Manifest, PolicyEntry, SecretEntry, Tool};
pub use name::sidecar_path;
pub(crate) use name::{is_archive_file, sidecar_of, ArchiveName};
pub use plugin::{PluginPrompt, PluginUi};

/// Name of the first entry.
pub(crate) const MANIFEST_PATH: &str = "manifest.json";
/// Largest entry accepted when reading (a whole Secret is at most 1 MiB).
pub(crate) const MAX_ENTRY_BYTES: u64 = 4 * 1024 * 1024;
/// Largest manifest accepted when reading.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;
/// Largest number of entries accepted when reading.
pub(crate) const MAX_ENTRIES: usize = 100_000;
/// Largest total of all entries' sizes accepted when reading.
pub(crate) const MAX_TOTAL_BYTES: u64 = 256 * 1024 * 1024;
/// Longest entry path accepted when reading (a ustar path is at most 256 bytes; v1 archives
/// written before the ustar-only writer may carry GNU long names up to this).
pub(crate) const MAX_NAME_BYTES: usize = 1024;
/// Most zero bytes accepted after the tar's end-of-archive block.
pub(crate) const MAX_TRAILING_BYTES: u64 = 1024 * 1024;
/// Largest RootTrustPolicy entry accepted when reading: an object etcd stores is at most
/// 1.5 MiB by default, and its YAML is not much larger.
pub(crate) const MAX_POLICY_BYTES: u64 = 2 * 1024 * 1024;
/// Name of a secret's Kubernetes manifest inside its folder.
pub(crate) const SECRET_YAML: &str = "secret.yaml";

/// An archive, opened and checked.
#[derive(Debug)]
pub struct Opened {
    pub manifest: Manifest,
    /// The secrets, rebuilt from the manifest and the data entries.
    pub snapshot: Snapshot,
    /// Every entry's bytes by path (manifest.json first), for `export`.
    pub files: Vec<(String, SecretBytes)>,
}

/// The tar path of a RootTrustPolicy.
pub(crate) fn policy_path(namespace: &str, name: &str) -> String {
    format!("policies/{namespace}/{name}.yaml")
}

/// The tar path of a secret's folder.
pub(crate) fn secret_dir(id: &SecretId) -> String {
    format!("secrets/{}/{}", id.namespace, id.name)
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// The YAML Kubernetes manifest of a record, as stored in `secret.yaml` and written by
/// `restore --to-manifests`: `kubectl apply -f` accepts it as is.
pub(crate) fn secret_yaml(
    rec: &SecretRecord,
    extra_annotations: &BTreeMap<String, String>,
) -> Result<Zeroizing<String>> {
    let obj = rec.to_k8s(extra_annotations);
    serde_saphyr::to_string(&obj)
        .map(Zeroizing::new)
        .map_err(|e| {
            Error::from(ArchiveError::Unrepresentable(format!(
                "secret {}: cannot render it as YAML ({e})",
                rec.id
            )))
        })
}

/// Builds the manifest and the gzip'd tar of a snapshot (plaintext, in memory).
pub fn build(snapshot: &Snapshot) -> Result<(Manifest, Zeroizing<Vec<u8>>)> {
    let mut files: Vec<(String, Zeroizing<Vec<u8>>)> = Vec::new();
    let mut entries = Vec::new();
    for selected in &snapshot.secrets {
        entries.push(secret_entry(selected, &mut files)?);
    }
    let mut policies: Vec<PolicyEntry> = Vec::new();
    for p in &snapshot.policies {
        let entry = policy_entry(p, &mut files)?;
        if policies.iter().any(|q| q.file.path == entry.file.path) {
            return Err(Error::from(ArchiveError::Unrepresentable(format!(
                "roottrustpolicy {}: the source holds it twice; keep one",
                p.id()
            ))));
        }
        policies.push(entry);
    }
    // The lowest version that holds it: an archive without policies stays readable by every
    // trustkeep, one with them says plainly that an older reader cannot take it.
    let version = if policies.is_empty() {
        manifest::VERSION_1
    } else {
        manifest::VERSION
    };
    let manifest = Manifest {
        format: manifest::FORMAT.to_string(),
        version,
        tool: Tool {
            name: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        },
        created: snapshot.created,
        source: snapshot.origin.clone(),
        cluster: ClusterInfo {
            name: snapshot.cluster.clone(),
            kind: snapshot.kind,
        },
        secrets: entries,
        findings: snapshot.findings.clone(),
        policies,
    };
    let mut manifest_json = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
    manifest_json.push(b'\n');
    let out = pack(&manifest_json, &files, snapshot).map_err(|e| {
        Error::from(ArchiveError::Build {
            cluster: snapshot.cluster.clone(),
            message: format!("tar/gzip: {e}"),
        })
    })?;
    Ok((manifest, out))
}

/// `path` if it fits a plain ustar header, the only kind the writer emits; `what` names the
/// object (`secret ns/name`) in the error.
fn ustar_path(what: &str, path: String) -> Result<String> {
    if tarball::fits_ustar(&path) {
        return Ok(path);
    }
    Err(Error::from(ArchiveError::Unrepresentable(format!(
        "{what}: archive path {path} is too long for a plain ustar entry (at most 256 bytes, split at a `/` into 155 + 100); the archive format cannot hold it"
    ))))
}

/// The manifest entry of one RootTrustPolicy; its YAML is added to `files`.
fn policy_entry(
    p: &PolicyObject,
    files: &mut Vec<(String, Zeroizing<Vec<u8>>)>,
) -> Result<PolicyEntry> {
    let what = format!("roottrustpolicy {}", p.id());
    let (ns, name) = (&p.metadata.namespace, &p.metadata.name);
    if !valid_object_name(ns) || !valid_object_name(name) {
        return Err(Error::from(ArchiveError::Unrepresentable(format!(
            "{what}: namespace and name must be Kubernetes object names"
        ))));
    }
    let yaml = (p.to_yaml()).map_err(|e| Error::from(ArchiveError::Unrepresentable(e)))?;
    if yaml.len() as u64 > MAX_POLICY_BYTES {
        return Err(Error::from(ArchiveError::Unrepresentable(format!(
            "{what}: {} bytes of YAML, over the archive's limit of {MAX_POLICY_BYTES} for a policy",
            yaml.len()
        ))));
    }
    let file = FileEntry {
        path: ustar_path(&what, policy_path(ns, name))?,
        size: yaml.len() as u64,
        sha256: sha256_hex(yaml.as_bytes()),
    };
    files.push((file.path.clone(), Zeroizing::new(yaml.into_bytes())));
    Ok(PolicyEntry {
        namespace: ns.clone(),
        name: name.clone(),
        file,
    })
}

/// The manifest entry of one secret; its `secret.yaml` and data files are added to `files`.
fn secret_entry(
    Selected { role, record }: &Selected,
    files: &mut Vec<(String, Zeroizing<Vec<u8>>)>,
) -> Result<SecretEntry> {
    let id = &record.id;
    let what = format!("secret {id}");
    if !valid_object_name(&id.namespace) || !valid_object_name(&id.name) {
        return Err(Error::from(ArchiveError::Unrepresentable(format!(
            "secret {id}: namespace and name must be Kubernetes object names"
        ))));
    }
    let dir = secret_dir(id);
    let yaml = secret_yaml(record, &BTreeMap::new())?;
    let yaml_bytes = Zeroizing::new(yaml.as_bytes().to_vec());
    let manifest_entry = FileEntry {
        path: ustar_path(&what, format!("{dir}/{SECRET_YAML}"))?,
        size: yaml_bytes.len() as u64,
        sha256: sha256_hex(&yaml_bytes),
    };
    files.push((manifest_entry.path.clone(), yaml_bytes));
    let mut data = Vec::new();
    for (key, value) in &record.data {
        if !valid_data_key(key) {
            return Err(Error::from(ArchiveError::Unrepresentable(format!(
                "secret {id}: data key {key:?} is not a valid Kubernetes data key"
            ))));
        }
        if key == SECRET_YAML {
            return Err(Error::from(ArchiveError::Unrepresentable(format!(
                "secret {id}: a data key named {SECRET_YAML} collides with the archive's manifest file; archive format v1 cannot hold it"
            ))));
        }
        let (certificates, pem_error) = match pki::summarize(value.expose()) {
            None => (Vec::new(), None),
            Some(Ok(c)) => (c, None),
            Some(Err(e)) => (Vec::new(), Some(e.to_string())),
        };
        let file = FileEntry {
            path: ustar_path(&what, format!("{dir}/{key}"))?,
            size: value.len() as u64,
            sha256: sha256_hex(value.expose()),
        };
        files.push((file.path.clone(), Zeroizing::new(value.expose().to_vec())));
        data.push(DataEntry {
            key: key.clone(),
            file,
            certificates,
            pem_error,
        });
    }
    Ok(SecretEntry {
        namespace: id.namespace.clone(),
        name: id.name.clone(),
        type_: record.type_.clone(),
        role: *role,
        labels: record.labels.clone(),
        annotations: record.annotations.clone(),
        immutable: record.immutable,
        resource_version: record.resource_version.clone(),
        owner_references: record.owner_references.clone(),
        manifest: manifest_entry,
        data,
    })
}

/// The deterministic tar of the manifest and the files (fixed modes, owners and the
/// snapshot's time as mtime), gzip'd.
fn pack(
    manifest_json: &[u8],
    files: &[(String, Zeroizing<Vec<u8>>)],
    snapshot: &Snapshot,
) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mtime = snapshot.created.timestamp().max(0) as u64;
    // Reserve enough up front that the buffer is not reallocated (which would leave copies of
    // plaintext behind); it is zeroized when dropped.
    let total: usize =
        files.iter().map(|(_, b)| b.len() + 1024).sum::<usize>() + manifest_json.len() + 4096;
    let mut all: Vec<(&str, &[u8])> = vec![(MANIFEST_PATH, manifest_json)];
    all.extend(files.iter().map(|(p, b)| (p.as_str(), &b[..])));
    tarball::pack(&all, mtime, total)
}

/// Builds and encrypts an archive; returns the manifest and the ciphertext.
pub fn write(snapshot: &Snapshot, enc: &Encryption, armor: bool) -> Result<(Manifest, Vec<u8>)> {
    let (manifest, plain) = build(snapshot)?;
    let cipher = crypto::encrypt(&plain, enc, armor)?;
    Ok((manifest, cipher))
}

/// The `<archive>.sha256` sidecar of a ciphertext: its digest and the line written, in
/// `sha256sum` format ([`check_sidecar`] reads it back).
#[derive(Clone, Debug)]
pub struct Sidecar {
    /// SHA-256 of the ciphertext, lowercase hex.
    pub sha256: String,
    /// `<sha256>  <file name>\n`.
    pub line: String,
}

impl Sidecar {
    pub fn of(ciphertext: &[u8], file_name: &str) -> Sidecar {
        let sha256 = sha256_hex(ciphertext);
        let line = format!("{sha256}  {file_name}\n");
        Sidecar { sha256, line }
    }
}

/// The line written to `<archive>.sha256`, in `sha256sum` format.
pub fn sidecar_line(ciphertext: &[u8], file_name: &str) -> String {
    Sidecar::of(ciphertext, file_name).line
}

/// Checks ciphertext against the content of a `.sha256` sidecar, as `sha256sum -c` would:
/// exactly one line `<64 hex>  <file name>` (or ` *<file name>`), naming this archive's file.
pub(crate) fn check_sidecar(
    ciphertext: &[u8],
    sidecar_text: &str,
    archive: &str,
    sidecar: &str,
) -> Result<()> {
    let refuse = |why: String| {
        Error::from(ArchiveError::Corrupt {
            archive: archive.to_string(),
            message: format!(
                "sidecar {sidecar} {why}; `sha256sum -c` would not check this archive"
            ),
        })
    };
    let line = sidecar_text.strip_suffix('\n').unwrap_or(sidecar_text);
    if line.contains('\n') {
        return Err(refuse("holds more than one line".into()));
    }
    let (expected, named) = match (line.get(..64), line.get(64..66), line.get(66..)) {
        (Some(h), Some("  " | " *"), Some(n)) if h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            (h.to_ascii_lowercase(), n)
        }
        _ => return Err(refuse("is not one `<sha256>  <file name>` line".into())),
    };
    let base = archive.rsplit('/').next().unwrap_or(archive);
    if named != base {
        return Err(refuse(format!(
            "names the file {}, not {base}",
            crate::render::escape(named)
        )));
    }
    let actual = sha256_hex(ciphertext);
    if expected != actual {
        return Err(Error::from(ArchiveError::SidecarMismatch {
            archive: archive.to_string(),
            sidecar: sidecar.to_string(),
            expected,
            actual,
        }));
    }
    Ok(())
}

/// Decrypts, unpacks and checks an archive held in memory. `name` names it in errors.
pub fn open(
    ciphertext: impl BufRead,
    ids: &Identities,
    passphrase: crypto::PassphraseSource<'_>,
    name: &str,
) -> Result<Opened> {
    let plain = crypto::decrypt(ciphertext, ids, passphrase, name)?;
    read_tar(plain, name)
}

/// Re-encrypts an archive for `enc` without its plaintext leaving memory: checks the
/// ciphertext against its sidecar (when there is one), decrypts the age payload (the gzip'd
/// tar) into a zeroizing buffer, checks every entry as [`open`] does, and encrypts the very
/// same bytes again (armored when the original was), so the manifest and every entry stay
/// byte for byte what they were. `name` names the archive in errors.
pub(crate) fn rewrap(
    ciphertext: &[u8],
    sidecar: Option<(&str, String)>,
    ids: &Identities,
    passphrase: crypto::PassphraseSource<'_>,
    enc: &Encryption,
    name: &str,
) -> Result<Vec<u8>> {
    if let Some((text, sidecar_name)) = sidecar {
        check_sidecar(ciphertext, text, name, &sidecar_name)?;
    }
    let mut plain = Zeroizing::new(Vec::new());
    crypto::decrypt(ciphertext, ids, passphrase, name)?
        .take(ciphertext.len() as u64)
        .read_to_end(&mut plain)
        .map_err(|e| {
            Error::from(ArchiveError::Corrupt {
                archive: name.to_string(),
                message: format!("cannot decrypt ({e})"),
            })
        })?;
    read_tar(&plain[..], name)?;
    let armored = ciphertext.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----");
    crypto::encrypt(&plain, enc, armored)
}

/// An error about one entry; its name comes from the archive, so it is escaped.
fn entry_err(archive: &str, entry: &str, message: impl Into<String>) -> Error {
    Error::from(ArchiveError::Entry {
        archive: archive.to_string(),
        entry: crate::render::escape(entry).into_owned(),
        message: message.into(),
    })
}

/// The limits every reader enforces (docs/archive-format.md lists them).
pub(crate) const LIMITS: tarball::Limits = tarball::Limits {
    entries: MAX_ENTRIES,
    total_bytes: MAX_TOTAL_BYTES,
    name_bytes: MAX_NAME_BYTES,
    trailing_bytes: MAX_TRAILING_BYTES,
};

fn tar_err(name: &str, e: tarball::TarError) -> Error {
    match e {
        tarball::TarError::Corrupt(m) => Error::from(ArchiveError::Corrupt {
            archive: name.to_string(),
            message: m,
        }),
        tarball::TarError::Entry { entry, message } => entry_err(name, &entry, message),
    }
}

/// What an archive of `snapshot` holds, opened and checked as a reader opens it (built in
/// memory, never encrypted or written): how certificates trustkeep issues (`trustkeep pki`)
/// reach a restore plan exactly as an archived snapshot does. `name` names it in errors.
pub(crate) fn reopen(snapshot: &Snapshot, name: &str) -> Result<Opened> {
    let (_, plain) = build(snapshot)?;
    read_tar(&plain[..], name)
}

/// Reads an archive's plaintext (age's payload, the gzip'd tar) and checks it exactly as
/// [`open`] does after decryption; for the fuzz harness. `name` names it in errors.
#[doc(hidden)]
pub fn open_plaintext(plain: &[u8], name: &str) -> Result<Opened> {
    read_tar(plain, name)
}

/// Reads the gzip'd tar of an archive and checks it against its manifest.
pub(crate) fn read_tar(plain: impl Read, name: &str) -> Result<Opened> {
    let gz = tarball::Gunzip::new(plain).map_err(|e| tar_err(name, e))?;
    let mut tar = tarball::TarReader::new(gz, LIMITS);
    let mut files: Vec<(String, SecretBytes)> = Vec::new();
    let mut expected: BTreeMap<String, FileEntry> = BTreeMap::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let Some(first) = tar
        .next_entry(MAX_MANIFEST_BYTES)
        .map_err(|e| tar_err(name, e))?
    else {
        return Err(Error::from(ArchiveError::Corrupt {
            archive: name.to_string(),
            message: "empty archive: no manifest.json".into(),
        }));
    };
    if first.path != MANIFEST_PATH {
        return Err(entry_err(
            name,
            &first.path,
            format!("the first entry must be {MANIFEST_PATH}; this is not a trustkeep archive"),
        ));
    }
    let manifest = parse_manifest(&first.data, name)?;
    for f in manifest.entries() {
        if expected.insert(f.path.clone(), f.clone()).is_some() {
            return Err(entry_err(name, &f.path, "listed twice in the manifest"));
        }
    }
    files.push((first.path, SecretBytes::new(first.data.to_vec())));
    while let Some(e) = tar
        .next_entry(MAX_ENTRY_BYTES)
        .map_err(|e| tar_err(name, e))?
    {
        check_entry(&e.path, &e.data, &expected, &mut seen, name)?;
        files.push((e.path, SecretBytes::new(e.data.to_vec())));
    }
    // Nothing may follow the one gzip member; reading to its end also checks gzip's CRC and
    // age's final authenticated chunk.
    tar.into_inner().finish().map_err(|e| tar_err(name, e))?;
    if let Some(missing) = expected.keys().find(|p| !seen.contains(*p)) {
        return Err(entry_err(
            name,
            missing,
            "is listed in the manifest but missing from the archive",
        ));
    }
    let snapshot = rebuild(&manifest, &files, name)?;
    Ok(Opened {
        manifest,
        snapshot,
        files,
    })
}

/// Checks a data entry against the manifest: listed, once, with its size and digest.
fn check_entry(
    path: &str,
    buf: &[u8],
    expected: &BTreeMap<String, FileEntry>,
    seen: &mut BTreeSet<String>,
    name: &str,
) -> Result<()> {
    let Some(want) = expected.get(path) else {
        return Err(entry_err(
            name,
            path,
            "is not listed in the manifest (extra entry)",
        ));
    };
    if !seen.insert(path.to_string()) {
        return Err(entry_err(name, path, "appears twice"));
    }
    let actual = sha256_hex(buf);
    if buf.len() as u64 != want.size || actual != want.sha256 {
        return Err(entry_err(
            name,
            path,
            format!(
                "altered: {} bytes with sha256 {actual}, the manifest says {} bytes with sha256 {}",
                buf.len(),
                want.size,
                want.sha256
            ),
        ));
    }
    Ok(())
}

fn parse_manifest(buf: &[u8], name: &str) -> Result<Manifest> {
    let value: serde_json::Value = serde_json::from_slice(buf)
        .map_err(|e| entry_err(name, MANIFEST_PATH, format!("not valid JSON ({e})")))?;
    if value.get("format").and_then(|v| v.as_str()) != Some(manifest::FORMAT) {
        return Err(entry_err(
            name,
            MANIFEST_PATH,
            format!(
                "format is not {:?}; this is not a trustkeep archive",
                manifest::FORMAT
            ),
        ));
    }
    let version = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
    if !(manifest::VERSION_1..=manifest::VERSION).contains(&version) {
        return Err(Error::from(ArchiveError::UnknownVersion {
            archive: name.to_string(),
            version,
            supported: manifest::VERSION,
        }));
    }
    // Strings are read as the writer wrote them, whatever characters they hold (a source path
    // or a cluster name may hold any): what is printed is escaped (`render::escape`), and
    // only what the writer can never produce is refused.
    let m: Manifest = serde_json::from_value(value)
        .map_err(|e| entry_err(name, MANIFEST_PATH, format!("malformed ({e})")))?;
    if m.version == manifest::VERSION_1 && !m.policies.is_empty() {
        return Err(entry_err(
            name,
            MANIFEST_PATH,
            "lists policies, which a version 1 archive cannot carry",
        ));
    }
    for p in &m.policies {
        let id = format!("{}/{}", p.namespace, p.name);
        if !valid_object_name(&p.namespace) || !valid_object_name(&p.name) {
            return Err(entry_err(
                name,
                MANIFEST_PATH,
                format!("roottrustpolicy {id} has an invalid name"),
            ));
        }
        if p.file.path != policy_path(&p.namespace, &p.name) {
            return Err(entry_err(
                name,
                &p.file.path,
                format!("unexpected path for roottrustpolicy {id}"),
            ));
        }
        if p.file.size > MAX_POLICY_BYTES {
            return Err(entry_err(
                name,
                &p.file.path,
                format!(
                    "is {} bytes, over the limit of {MAX_POLICY_BYTES} for a policy",
                    p.file.size
                ),
            ));
        }
    }
    for s in &m.secrets {
        let id = SecretId::new(s.namespace.clone(), s.name.clone());
        let dir = secret_dir(&id);
        if !valid_object_name(&s.namespace) || !valid_object_name(&s.name) {
            return Err(entry_err(
                name,
                MANIFEST_PATH,
                format!("secret {id} has an invalid name"),
            ));
        }
        if s.manifest.path != format!("{dir}/{SECRET_YAML}") {
            return Err(entry_err(
                name,
                &s.manifest.path,
                format!("unexpected path for secret {id}"),
            ));
        }
        for d in &s.data {
            if !valid_data_key(&d.key) || d.file.path != format!("{dir}/{}", d.key) {
                return Err(entry_err(
                    name,
                    &d.file.path,
                    format!("unexpected path for data key {:?} of secret {id}", d.key),
                ));
            }
        }
    }
    Ok(m)
}

/// Rebuilds the secrets from the manifest and the data entries, and checks that each
/// `secret.yaml` says the same thing.
fn rebuild(m: &Manifest, files: &[(String, SecretBytes)], name: &str) -> Result<Snapshot> {
    let by_path: BTreeMap<&str, &SecretBytes> =
        files.iter().map(|(p, b)| (p.as_str(), b)).collect();
    let mut secrets = Vec::new();
    for s in &m.secrets {
        let id = SecretId::new(s.namespace.clone(), s.name.clone());
        let data = s
            .data
            .iter()
            .map(|d| (d.key.clone(), by_path[d.file.path.as_str()].clone()))
            .collect();
        let record = SecretRecord {
            id: id.clone(),
            type_: s.type_.clone(),
            labels: s.labels.clone(),
            annotations: s.annotations.clone(),
            data,
            immutable: s.immutable,
            resource_version: s.resource_version.clone(),
            owner_references: s.owner_references.clone(),
        };
        let yaml = by_path[s.manifest.path.as_str()];
        // `kubectl apply -f secret.yaml` is the documented manual restore: the file must hold
        // this one Secret, as the manifest and data files describe it, and nothing else. What
        // this writer would write for that record is that (the round trip is tested), and is
        // cheaper to render than the file is to parse; anything else is parsed and judged.
        let canonical = secret_yaml(&record, &BTreeMap::new()).ok();
        if canonical.as_ref().map(|c| c.as_bytes()) != Some(yaml.expose()) {
            secret_yaml_describes(yaml.expose(), &record)
                .map_err(|why| entry_err(name, &s.manifest.path, why))?;
        }
        secrets.push(Selected {
            role: s.role,
            record,
        });
    }
    let mut policies = Vec::new();
    for p in &m.policies {
        let bytes = by_path[p.file.path.as_str()];
        let text = std::str::from_utf8(bytes.expose())
            .map_err(|_| entry_err(name, &p.file.path, "is not UTF-8"))?;
        // `kubectl apply -f` of this file is the documented manual restore: it must hold this
        // one policy, only the fields a re-apply keeps, under the name the manifest lists.
        let policy =
            PolicyObject::from_yaml(text).map_err(|why| entry_err(name, &p.file.path, why))?;
        if policy.metadata.namespace != p.namespace || policy.metadata.name != p.name {
            return Err(entry_err(
                name,
                &p.file.path,
                format!(
                    "names roottrustpolicy {}, not {}/{} as the manifest lists",
                    policy.id(),
                    p.namespace,
                    p.name
                ),
            ));
        }
        policies.push(policy);
    }
    Ok(Snapshot {
        created: m.created,
        origin: m.source.clone(),
        cluster: m.cluster.name.clone(),
        kind: m.cluster.kind,
        secrets,
        findings: m.findings.clone(),
        relay_mode: None,
        policies,
    })
}

/// Why a `secret.yaml` is not the one Secret `record` is, with only the fields trustkeep
/// writes.
fn secret_yaml_describes(yaml: &[u8], record: &SecretRecord) -> std::result::Result<(), String> {
    let text = std::str::from_utf8(yaml).map_err(|_| "is not UTF-8".to_string())?;
    // The YAML is parsed once; the typed parse of the text runs only to word an error.
    let doc = secret_yaml_only_holds(text)?;
    let from_yaml = SecretRecord::from_value(doc, &record.id.namespace)
        .map_or_else(|| SecretRecord::from_yaml(text, &record.id.namespace), Ok)
        .map_err(|e| format!("does not parse ({e})"))?;
    if !from_yaml.identical(record) {
        return Err(format!(
            "disagrees with the manifest and data files of secret {}",
            record.id
        ));
    }
    Ok(())
}

/// Checks that a `secret.yaml` is one Secret document with only the fields trustkeep writes,
/// and returns that document.
fn secret_yaml_only_holds(text: &str) -> std::result::Result<serde_json::Value, String> {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(text).map_err(|_| "does not parse as YAML".to_string())?;
    let mut docs: Vec<serde_json::Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    if docs.len() != 1 {
        return Err(format!(
            "holds {} documents; a secret.yaml holds exactly one Secret",
            docs.len()
        ));
    }
    let doc = docs.pop().expect("one document");
    let allowed =
        |v: &serde_json::Value, keys: &[&str], what: &str| -> std::result::Result<(), String> {
            match v.as_object() {
                Some(m) => match m.keys().find(|k| !keys.contains(&k.as_str())) {
                    Some(k) => Err(format!("has an unexpected field {what}{k}")),
                    None => Ok(()),
                },
                None => Err(format!("{what} is not a mapping")),
            }
        };
    allowed(
        &doc,
        &[
            "apiVersion",
            "kind",
            "metadata",
            "type",
            "data",
            "immutable",
        ],
        "",
    )?;
    if doc["kind"] != "Secret" || doc["apiVersion"] != "v1" {
        return Err("is not a v1 Secret".into());
    }
    allowed(
        &doc["metadata"],
        &["name", "namespace", "labels", "annotations"],
        "metadata.",
    )?;
    Ok(doc)
}

/// Checks the ciphertext against its `.sha256` sidecar (text and name) when there is one,
/// then opens the archive. `name` names it in errors.
pub fn open_checked(
    ciphertext: &[u8],
    sidecar: Option<(&str, String)>,
    ids: &Identities,
    passphrase: crypto::PassphraseSource<'_>,
    name: &str,
) -> Result<Opened> {
    match sidecar {
        Some((text, sidecar_name)) => check_sidecar(ciphertext, text, name, &sidecar_name)?,
        None => {
            tracing::warn!(archive = %name, "no .sha256 sidecar; checking the archive's own integrity only");
        }
    }
    open(ciphertext, ids, passphrase, name)
}
