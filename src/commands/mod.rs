//! One module per verb. Each has an `Options` struct (what the command means, after the CLI
//! has resolved flags), a `run` core that takes the world (time, keys) as arguments, and a
//! `render` that prints its result as a table or JSON. None of them parses flags or exits.

pub mod audit;
pub mod backup;
pub mod demo;
pub mod export;
pub mod import;
pub mod inspect;
pub mod keygen;
pub mod prune;
pub mod restore;
pub mod sandbox;
pub mod verify;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::archive::manifest::Manifest;
use crate::error::{Error, Result};
use crate::store::{Location, Store};

/// Where a new archive goes: `output` itself, or `<output>/<stem>-<UTC timestamp>.tar.gz.age`
/// when `output` is a directory or prefix (or ends with `/`), with `.N` before `.tar.gz.age`
/// when that name is taken. A local directory that does not exist yet is created.
pub async fn archive_path(
    store: &Store,
    output: &Location,
    stem: &str,
    now: DateTime<Utc>,
) -> Result<Location> {
    if !output.is_dir() {
        if let Location::Local(p) = output {
            create_parent(p)?;
        }
        return Ok(output.clone());
    }
    if let Location::Local(p) = output {
        std::fs::create_dir_all(p).map_err(|e| Error::io("cannot create directory", p, e))?;
    }
    let safe = file_stem(stem);
    let ts = now.format("%Y%m%dT%H%M%SZ");
    // A backup that follows another within the same second gets `.1`, `.2`, ...; a name is
    // free only when neither the archive nor its sidecar exists.
    for n in 0..100 {
        let name = match n {
            0 => format!("{safe}-{ts}.tar.gz.age"),
            n => format!("{safe}-{ts}.{n}.tar.gz.age"),
        };
        let candidate = output.join(&name);
        if !store.exists(&candidate).await? && !store.exists(&candidate.sidecar()).await? {
            return Ok(candidate);
        }
    }
    Err(Error::Refused {
        path: PathBuf::from(output.to_string()),
        message: "holds 100 archives of this cluster for this second".into(),
    })
}

/// A cluster name as it appears in archive file names (and as `prune` groups them): anything
/// but ASCII letters, digits, `-`, `_` and `.` becomes `_` (EKS context names hold `:` and `/`).
pub fn file_stem(cluster: &str) -> String {
    cluster
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn create_parent(p: &Path) -> Result<()> {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() && !d.exists() => {
            std::fs::create_dir_all(d).map_err(|e| Error::io("cannot create directory", d, e))
        }
        _ => Ok(()),
    }
}

/// The earliest `not_after` of the certificates of one secret in a manifest, for tables.
pub fn earliest_expiry(manifest: &Manifest, namespace: &str, name: &str) -> Option<DateTime<Utc>> {
    manifest
        .secrets
        .iter()
        .find(|s| s.namespace == namespace && s.name == name)?
        .data
        .iter()
        .flat_map(|d| d.certificates.iter().map(|c| c.not_after))
        .min()
}

/// A short date for tables.
pub fn short_date(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn archive_names_in_a_directory() {
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 10, 5, 0).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new();
        let at = |o: &Location| {
            futures::executor::block_on(archive_path(&store, o, "a b", now)).unwrap()
        };
        let d = Location::Local(dir.path().to_path_buf());
        assert_eq!(at(&d), d.join("a_b-20261128T100500Z.tar.gz.age"));
        std::fs::write(dir.path().join("a_b-20261128T100500Z.tar.gz.age"), b"x").unwrap();
        assert_eq!(at(&d), d.join("a_b-20261128T100500Z.1.tar.gz.age"));
        let f = Location::Local(dir.path().join("new/x.age"));
        assert_eq!(at(&f), f);
        assert!(dir.path().join("new").is_dir(), "the parent is created");
    }
}
