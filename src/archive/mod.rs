//! The archive format (v1), and the only code that reads or writes it.
//!
//! An archive is `age(gzip(tar))`. The tar holds `manifest.json` first, then per secret
//! `secrets/<namespace>/<name>/secret.yaml` and one file per data key with its raw bytes.
//! Entries are in a fixed order with fixed modes and the snapshot's time as mtime, so the same
//! snapshot gives the same tar. Reading checks every entry against the manifest and refuses
//! anything unexpected (absolute paths, `..`, links, oversize entries, unknown versions).
//! Plaintext exists only in memory, in zeroizing buffers. See docs/archive-format.md.

pub mod crypto;
pub mod manifest;
mod name;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Read};
use std::path::{Component, Path};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::pki;
use crate::secret::{valid_data_key, valid_object_name, SecretBytes, SecretId, SecretRecord};
use crate::select::Selected;
use crate::snapshot::Snapshot;
pub use crypto::{Encryption, Identities};
use manifest::{ClusterInfo, DataEntry, FileEntry, Manifest, SecretEntry, Tool};
pub use name::sidecar_path;
pub(crate) use name::{is_archive_file, sidecar_of, ArchiveName};

/// Name of the first entry.
pub(crate) const MANIFEST_PATH: &str = "manifest.json";
/// Largest entry accepted when reading (a whole Secret is at most 1 MiB).
pub(crate) const MAX_ENTRY_BYTES: u64 = 4 * 1024 * 1024;
/// Largest manifest accepted when reading.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;
/// Largest number of entries accepted when reading.
pub(crate) const MAX_ENTRIES: usize = 100_000;
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
        .map_err(|e| Error::Usage(format!("secret {}: cannot render it as YAML ({e})", rec.id)))
}

/// Builds the manifest and the gzip'd tar of a snapshot (plaintext, in memory).
pub fn build(snapshot: &Snapshot) -> Result<(Manifest, Zeroizing<Vec<u8>>)> {
    let mut files: Vec<(String, Zeroizing<Vec<u8>>)> = Vec::new();
    let mut entries = Vec::new();
    for selected in &snapshot.secrets {
        entries.push(secret_entry(selected, &mut files)?);
    }
    let manifest = Manifest {
        format: manifest::FORMAT.to_string(),
        version: manifest::VERSION,
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
    };
    let mut manifest_json = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
    manifest_json.push(b'\n');
    let out = pack(&manifest_json, &files, snapshot).map_err(|e| Error::Build {
        cluster: snapshot.cluster.clone(),
        message: format!("tar/gzip: {e}"),
    })?;
    Ok((manifest, out))
}

/// The manifest entry of one secret; its `secret.yaml` and data files are added to `files`.
fn secret_entry(
    Selected { role, record }: &Selected,
    files: &mut Vec<(String, Zeroizing<Vec<u8>>)>,
) -> Result<SecretEntry> {
    let id = &record.id;
    if !valid_object_name(&id.namespace) || !valid_object_name(&id.name) {
        return Err(Error::Usage(format!(
            "secret {id}: namespace and name must be Kubernetes object names"
        )));
    }
    let dir = secret_dir(id);
    let yaml = secret_yaml(record, &BTreeMap::new())?;
    let yaml_bytes = Zeroizing::new(yaml.as_bytes().to_vec());
    let manifest_entry = FileEntry {
        path: format!("{dir}/{SECRET_YAML}"),
        size: yaml_bytes.len() as u64,
        sha256: sha256_hex(&yaml_bytes),
    };
    files.push((manifest_entry.path.clone(), yaml_bytes));
    let mut data = Vec::new();
    for (key, value) in &record.data {
        if !valid_data_key(key) {
            return Err(Error::Usage(format!(
                "secret {id}: data key {key:?} is not a valid Kubernetes data key"
            )));
        }
        if key == SECRET_YAML {
            return Err(Error::Usage(format!(
                "secret {id}: a data key named {SECRET_YAML} collides with the archive's manifest file; archive format v1 cannot hold it"
            )));
        }
        let (certificates, pem_error) = match pki::summarize(value.expose()) {
            None => (Vec::new(), None),
            Some(Ok(c)) => (c, None),
            Some(Err(e)) => (Vec::new(), Some(e.to_string())),
        };
        let file = FileEntry {
            path: format!("{dir}/{key}"),
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
    let gz = GzEncoder::new(Vec::with_capacity(total), Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut append = |path: &str, bytes: &[u8]| -> std::io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o600);
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, bytes)
    };
    append(MANIFEST_PATH, manifest_json)?;
    for (path, bytes) in files {
        append(path, bytes)?;
    }
    let gz = tar.into_inner()?;
    Ok(Zeroizing::new(gz.finish()?))
}

/// Builds and encrypts an archive; returns the manifest and the ciphertext.
pub fn write(snapshot: &Snapshot, enc: &Encryption, armor: bool) -> Result<(Manifest, Vec<u8>)> {
    let (manifest, plain) = build(snapshot)?;
    let cipher = crypto::encrypt(&plain, enc, armor)?;
    Ok((manifest, cipher))
}

/// The line written to `<archive>.sha256`, in `sha256sum` format.
pub fn sidecar_line(ciphertext: &[u8], file_name: &str) -> String {
    format!("{}  {}\n", sha256_hex(ciphertext), file_name)
}

/// Checks ciphertext against the content of a `.sha256` sidecar.
pub(crate) fn check_sidecar(
    ciphertext: &[u8],
    sidecar_text: &str,
    archive: &str,
    sidecar: &str,
) -> Result<()> {
    let expected = sidecar_text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let actual = sha256_hex(ciphertext);
    if expected != actual {
        return Err(Error::SidecarMismatch {
            archive: archive.to_string(),
            sidecar: sidecar.to_string(),
            expected,
            actual,
        });
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

fn entry_err(archive: &str, entry: &str, message: impl Into<String>) -> Error {
    Error::Entry {
        archive: archive.to_string(),
        entry: entry.to_string(),
        message: message.into(),
    }
}

fn corrupt(archive: &str, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Corrupt {
        archive: archive.to_string(),
        message: format!("{what} ({e}); the archive is truncated or damaged"),
    }
}

/// Checks that a tar path is a plain relative path.
fn safe_path(p: &Path) -> bool {
    !p.as_os_str().is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Reads the gzip'd tar of an archive and checks it against its manifest.
pub(crate) fn read_tar(plain: impl Read, name: &str) -> Result<Opened> {
    let mut gz = GzDecoder::new(plain);
    let mut files: Vec<(String, SecretBytes)> = Vec::new();
    let mut manifest: Option<Manifest> = None;
    let mut expected: BTreeMap<String, FileEntry> = BTreeMap::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    {
        let mut tar = tar::Archive::new(&mut gz);
        let entries = tar
            .entries()
            .map_err(|e| corrupt(name, "cannot read the tar", e))?;
        for (count, entry) in entries.enumerate() {
            let entry = entry.map_err(|e| corrupt(name, "cannot read a tar entry", e))?;
            let (path, buf) = read_entry(entry, count, name)?;
            if count == 0 {
                if path != MANIFEST_PATH {
                    return Err(entry_err(
                        name,
                        &path,
                        format!("the first entry must be {MANIFEST_PATH}; this is not a trustkeep archive"),
                    ));
                }
                let m = parse_manifest(&buf, name)?;
                for f in m.entries() {
                    if expected.insert(f.path.clone(), f.clone()).is_some() {
                        return Err(entry_err(name, &f.path, "listed twice in the manifest"));
                    }
                }
                manifest = Some(m);
            } else {
                check_entry(&path, &buf, &expected, &mut seen, name)?;
            }
            files.push((path, SecretBytes::new(buf.to_vec())));
        }
    }
    // Read to the very end so that gzip's CRC and age's final authenticated chunk are checked.
    std::io::copy(&mut gz, &mut std::io::sink())
        .map_err(|e| corrupt(name, "cannot read to the end", e))?;
    let manifest = manifest.ok_or_else(|| Error::Corrupt {
        archive: name.to_string(),
        message: "empty archive: no manifest.json".into(),
    })?;
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

/// The path and bytes of the `count`th entry, after the checks that need no manifest: entry
/// count, a plain relative path, a regular file, and the size limit (before reading).
fn read_entry(
    mut entry: tar::Entry<'_, impl Read>,
    count: usize,
    name: &str,
) -> Result<(String, Zeroizing<Vec<u8>>)> {
    let raw_path = entry
        .path()
        .map_err(|e| corrupt(name, "bad entry name", e))?
        .into_owned();
    let path = raw_path.to_string_lossy().into_owned();
    if count >= MAX_ENTRIES {
        return Err(entry_err(
            name,
            &path,
            format!("more than {MAX_ENTRIES} entries"),
        ));
    }
    if !safe_path(&raw_path) {
        return Err(entry_err(
            name,
            &path,
            "absolute path or `..` component; refusing to read it",
        ));
    }
    let kind = entry.header().entry_type();
    if kind != tar::EntryType::Regular {
        return Err(entry_err(
            name,
            &path,
            format!("is a {kind:?} entry, not a regular file (links and devices are refused)"),
        ));
    }
    let size = entry
        .header()
        .size()
        .map_err(|e| corrupt(name, "bad entry size", e))?;
    let limit = if count == 0 {
        MAX_MANIFEST_BYTES
    } else {
        MAX_ENTRY_BYTES
    };
    if size > limit {
        return Err(entry_err(
            name,
            &path,
            format!("is {size} bytes, over the limit of {limit}"),
        ));
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(size as usize));
    (&mut entry)
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| corrupt(name, &format!("cannot read entry {path}"), e))?;
    Ok((path, buf))
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
    if version != manifest::VERSION {
        return Err(Error::UnknownVersion {
            archive: name.to_string(),
            version,
            supported: manifest::VERSION,
        });
    }
    let m: Manifest = serde_json::from_value(value)
        .map_err(|e| entry_err(name, MANIFEST_PATH, format!("malformed ({e})")))?;
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
        let text = std::str::from_utf8(yaml.expose())
            .map_err(|_| entry_err(name, &s.manifest.path, "is not UTF-8"))?;
        if let Err(why) = secret_yaml_only_holds(text) {
            // `kubectl apply -f secret.yaml` is the documented manual restore: the file must
            // hold this one Secret and nothing else.
            return Err(entry_err(name, &s.manifest.path, why));
        }
        let from_yaml = SecretRecord::from_yaml(text, &s.namespace)
            .map_err(|e| entry_err(name, &s.manifest.path, format!("does not parse ({e})")))?;
        if !from_yaml.identical(&record) {
            return Err(entry_err(
                name,
                &s.manifest.path,
                format!("disagrees with the manifest and data files of secret {id}"),
            ));
        }
        secrets.push(Selected {
            role: s.role,
            record,
        });
    }
    Ok(Snapshot {
        created: m.created,
        origin: m.source.clone(),
        cluster: m.cluster.name.clone(),
        kind: m.cluster.kind,
        secrets,
        findings: m.findings.clone(),
    })
}

/// Checks that a `secret.yaml` is one Secret document with only the fields trustkeep writes.
fn secret_yaml_only_holds(text: &str) -> std::result::Result<(), String> {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(text).map_err(|_| "does not parse as YAML".to_string())?;
    let docs: Vec<&serde_json::Value> = docs.iter().filter(|d| !d.is_null()).collect();
    let [doc] = docs.as_slice() else {
        return Err(format!(
            "holds {} documents; a secret.yaml holds exactly one Secret",
            docs.len()
        ));
    };
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
        doc,
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
    )
}

/// Checks the ciphertext against its `.sha256` sidecar (text and name) when there is one,
/// then opens the archive. `name` names it in errors.
pub(crate) fn open_checked(
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
