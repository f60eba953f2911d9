//! The manual-folders source: what the seed document's manual backup procedure leaves
//! (`<secret>/ca.crt`, `<secret>/tls.key`, …), read into an [`Inventory`] whose notes say, for
//! each folder, whether its private key matches a certificate saved with it. The procedure
//! saves the root CA's `ca.crt` next to the server's `tls.key` and drops `tls.crt`; the notes
//! name that mismatch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::check_id::CheckId;
use crate::error::{Error, Result};
use crate::findings::Finding;
use crate::gloo::{RELAY_CLIENT, RELAY_SERVER, RELAY_SIGNING};
use crate::inventory::{Inventory, Origin};
use crate::pki;
use crate::secret::{
    valid_data_key, valid_object_name, SecretBytes, SecretId, SecretRecord, OPAQUE, TLS,
};

/// Largest file read from a folder (a Secret is at most 1 MiB).
const MAX_FILE: u64 = 1024 * 1024;

/// Reads folders into an inventory whose notes say which keys match and what is missing.
///
/// Each path is either one secret's folder (it holds files) or a folder of such folders.
pub(super) fn read_folders(dirs: &[PathBuf], namespace: &str) -> Result<Inventory> {
    let mut secret_dirs = Vec::new();
    for dir in dirs {
        let entries = list(dir)?;
        if entries.iter().any(|p| p.is_file()) {
            secret_dirs.push(dir.clone());
        } else {
            secret_dirs.extend(entries.into_iter().filter(|p| p.is_dir()));
        }
    }
    if secret_dirs.is_empty() {
        return Err(Error::Source(format!(
            "no secret folders found in {}; expected folders such as relay-server-tls-secret/ holding ca.crt and tls.key",
            dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
        )));
    }
    secret_dirs.sort();
    let mut secrets = Vec::new();
    let mut findings = Vec::new();
    for dir in &secret_dirs {
        let (rec, mut fs) = read_one(dir, namespace)?;
        findings.append(&mut fs);
        secrets.push(rec);
    }
    let inv = Inventory {
        origin: Origin::ManualFolders {
            paths: dirs.iter().map(|d| d.display().to_string()).collect(),
        },
        secrets,
        policies: Vec::new(),
        policies_known: false,
        policies_forbidden: false,
        resource_versions: BTreeMap::new(),
        workloads: Default::default(),
        notes: findings,
    };
    Ok(inv)
}

pub(super) fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("cannot read folder", dir, e))?;
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io("cannot read folder", dir, e))?;
        out.push(e.path());
    }
    out.sort();
    Ok(out)
}

fn read_one(dir: &Path, namespace: &str) -> Result<(SecretRecord, Vec<Finding>)> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !valid_object_name(&name) {
        return Err(Error::Source(format!(
            "folder {}: {name:?} is not a valid secret name",
            dir.display()
        )));
    }
    let id = SecretId::new(namespace, name.clone());
    let mut data = read_data(dir)?;
    let mut findings = Vec::new();
    let f = |f: Finding| f.secret(&id);
    if name.starts_with("root-trust.") {
        findings.extend(restore_root_trust_names(&mut data).map(f));
    }
    findings.extend(key_findings(&data).into_iter().map(f));
    let (type_, missing) = secret_type(&name, &data);
    findings.extend(missing.map(f));
    Ok((record(id, type_, data), findings))
}

/// A secret as a folder holds it: no labels or annotations (where it came from is in the
/// manifest's source; nothing local goes into the cluster).
pub(super) fn record(
    id: SecretId,
    type_: &str,
    data: BTreeMap<String, SecretBytes>,
) -> SecretRecord {
    SecretRecord {
        id,
        type_: type_.to_string(),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        data,
        immutable: false,
        resource_version: None,
        owner_references: Vec::new(),
    }
}

/// The files of one secret's folder, by file name (each a data key, at most 1 MiB).
pub(super) fn read_data(dir: &Path) -> Result<BTreeMap<String, SecretBytes>> {
    let mut data: BTreeMap<String, SecretBytes> = BTreeMap::new();
    for path in list(dir)? {
        if !path.is_file() {
            continue;
        }
        let key = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !valid_data_key(&key) {
            return Err(Error::Source(format!(
                "file {}: {key:?} is not a valid data key name",
                path.display()
            )));
        }
        let meta = std::fs::metadata(&path).map_err(|e| Error::io("cannot read", &path, e))?;
        if meta.len() > MAX_FILE {
            return Err(Error::Source(format!(
                "file {} is larger than 1 MiB; not a secret value",
                path.display()
            )));
        }
        let bytes = std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
        data.insert(key, SecretBytes::new(bytes));
    }
    Ok(data)
}

/// The seed saved a root-trust secret's root-cert.pem as ca.crt and key.pem as tls.key:
/// give them back their real names so a restore recreates what Gloo Mesh reads.
fn restore_root_trust_names(data: &mut BTreeMap<String, SecretBytes>) -> Option<Finding> {
    if data.contains_key("root-cert.pem") {
        return None;
    }
    let (c, k) = (data.remove("ca.crt")?, data.remove("tls.key"));
    let Some(k) = k else {
        data.insert("ca.crt".into(), c);
        return None;
    };
    data.insert("root-cert.pem".into(), c);
    data.insert("key.pem".into(), k);
    Some(Finding::info(
        CheckId::ImportRenamed,
        "ca.crt and tls.key were saved from root-cert.pem and key.pem by the manual procedure; archived under their original names",
    ))
}

/// Every private key must match a certificate saved beside it.
fn key_findings(data: &BTreeMap<String, SecretBytes>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let certs: Vec<(String, pki::Cert)> = data
        .iter()
        .filter_map(|(k, v)| pki::parse_certs(v.expose()).ok().map(|cs| (k, cs)))
        .flat_map(|(k, cs)| cs.into_iter().map(move |c| (k.clone(), c)))
        .collect();
    for (key, value) in data {
        if !pki::has_pem_private_key(value.expose()) {
            continue;
        }
        let private = match pki::parse_key(key, value.expose()) {
            Ok(p) => p,
            Err(finding) => {
                findings.push(*finding);
                continue;
            }
        };
        let matching: Vec<&String> = certs
            .iter()
            .filter(|(_, c)| private.matches(c))
            .map(|(k, _)| k)
            .collect();
        if matching.is_empty() {
            let described: Vec<String> = certs
                .iter()
                .map(|(k, c)| {
                    let s = c.summary();
                    format!(
                        "{k} ({}{})",
                        s.subject,
                        if s.is_ca { ", a CA certificate" } else { "" }
                    )
                })
                .collect();
            let mut msg = if described.is_empty() {
                format!("{key} has no certificate beside it to match")
            } else {
                format!(
                    "{key} does not match any certificate saved with it: {}",
                    described.join(", ")
                )
            };
            if data.contains_key("ca.crt") && !data.contains_key("tls.crt") {
                msg.push_str("; the manual procedure saved the root CA's ca.crt instead of tls.crt, so `kubectl create secret tls --cert=ca.crt --key=tls.key` fails. Back up tls.crt too (trustkeep backup does)");
            }
            findings.push(Finding::error(CheckId::ImportKeyMismatch, msg).key(key));
        } else {
            let subject = certs
                .iter()
                .find(|(k, _)| k == matching[0])
                .map(|(_, c)| c.summary().subject)
                .unwrap_or_default();
            findings.push(
                Finding::info(
                    CheckId::ImportKeyMatch,
                    format!(
                        "{key} matches the certificate in {} ({subject})",
                        matching[0]
                    ),
                )
                .key(key),
            );
        }
    }

    findings
}

/// The relay TLS secrets are `kubernetes.io/tls` when both halves were saved.
fn secret_type(
    name: &str,
    data: &BTreeMap<String, SecretBytes>,
) -> (&'static str, Option<Finding>) {
    let is_relay_tls = [RELAY_SERVER, RELAY_SIGNING, RELAY_CLIENT].contains(&name);
    if is_relay_tls && data.contains_key("tls.crt") && data.contains_key("tls.key") {
        return (TLS, None);
    }
    let missing = (is_relay_tls && !data.contains_key("tls.crt")).then(|| {
        Finding::error(
            CheckId::ImportMissingKey,
            "tls.crt was not saved: the secret cannot be restored as kubernetes.io/tls from this folder",
        )
        .key("tls.crt")
    });
    (OPAQUE, missing)
}
