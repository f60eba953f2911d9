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

/// Where a new archive goes: `output` itself, or `<output>/<stem>-<UTC timestamp>.tar.gz.age`
/// when `output` is a directory (or ends with `/`), with `.N` before `.tar.gz.age` when that
/// name is taken.
pub fn archive_path(output: &Path, stem: &str, now: DateTime<Utc>) -> PathBuf {
    let is_dir = output.is_dir() || output.as_os_str().to_string_lossy().ends_with('/');
    if is_dir {
        let safe: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let ts = now.format("%Y%m%dT%H%M%SZ");
        // Two backups within one second get `.1`, `.2`, ... rather than failing.
        let first = output.join(format!("{safe}-{ts}.tar.gz.age"));
        (1..100)
            .map(|n| output.join(format!("{safe}-{ts}.{n}.tar.gz.age")))
            .fold(
                first,
                |chosen, next| if chosen.exists() { next } else { chosen },
            )
    } else {
        output.to_path_buf()
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
        assert_eq!(
            archive_path(dir.path(), "mgmt", now),
            dir.path().join("mgmt-20261128T100500Z.tar.gz.age")
        );
        assert_eq!(
            archive_path(Path::new("x.age"), "mgmt", now),
            PathBuf::from("x.age")
        );
        assert_eq!(
            archive_path(Path::new("out/"), "a b", now),
            PathBuf::from("out/a_b-20261128T100500Z.tar.gz.age")
        );
    }
}
