//! How archives are named: `<cluster>-<UTC time>[.N].tar.gz.age`, and the `.sha256` sidecar
//! beside each. This is the one place that knows the pattern; `backup` names new archives
//! with it, `prune` and `verify` recognise archives with it, and the store derives sidecar
//! locations from it. It does no I/O.

use chrono::{DateTime, NaiveDateTime, Utc};

/// The extension of every archive trustkeep writes.
pub(crate) const ARCHIVE_SUFFIX: &str = ".tar.gz.age";
/// What the sidecar adds to the archive's name.
pub(crate) const SIDECAR_SUFFIX: &str = ".sha256";
/// The UTC time in archive names.
const TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// The name of an archive written into a directory: cluster, time, and a counter for a second
/// backup of the same cluster within one second.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ArchiveName {
    /// The cluster as it appears in file names (see [`ArchiveName::stem`]).
    pub stem: String,
    pub created: DateTime<Utc>,
    /// 0 for the first archive of that second, then 1, 2, …
    pub n: u32,
}

impl ArchiveName {
    /// The first name for an archive of `cluster` made at `created`.
    pub fn new(cluster: &str, created: DateTime<Utc>) -> Self {
        ArchiveName {
            stem: Self::stem(cluster),
            created,
            n: 0,
        }
    }

    /// The same name with counter `n`.
    pub(crate) fn with_n(mut self, n: u32) -> Self {
        self.n = n;
        self
    }

    /// A cluster name as it appears in archive file names (and as `prune` groups them):
    /// anything but ASCII letters, digits, `-`, `_` and `.` becomes `_` (EKS context names
    /// hold `:` and `/`).
    pub(crate) fn stem(cluster: &str) -> String {
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

    /// `<stem>-<time>[.N].tar.gz.age` → the name; `None` for any other file name.
    pub fn parse(file_name: &str) -> Option<Self> {
        let stem = file_name.strip_suffix(ARCHIVE_SUFFIX)?;
        let (stem, n) = match stem.rsplit_once('.') {
            Some((s, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                (s, n.parse().ok()?)
            }
            _ => (stem, 0),
        };
        let (cluster, ts) = stem.rsplit_once('-')?;
        let t = NaiveDateTime::parse_from_str(ts, TIME_FORMAT).ok()?;
        (!cluster.is_empty()).then(|| ArchiveName {
            stem: cluster.to_string(),
            created: t.and_utc(),
            n,
        })
    }

    /// Whether this name is `cluster`'s (compared as it appears in file names).
    pub(crate) fn is_of(&self, cluster: &str) -> bool {
        self.stem == Self::stem(cluster)
    }
}

impl std::fmt::Display for ArchiveName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ts = self.created.format(TIME_FORMAT);
        match self.n {
            0 => write!(f, "{}-{ts}{ARCHIVE_SUFFIX}", self.stem),
            n => write!(f, "{}-{ts}.{n}{ARCHIVE_SUFFIX}", self.stem),
        }
    }
}

/// Whether a file in a directory of archives is one to open (`verify DIR`): any `*.age`,
/// named by trustkeep or not.
pub(crate) fn is_archive_file(file_name: &str) -> bool {
    file_name.ends_with(".age")
}

/// The sidecar of an archive path or key: `<archive>.sha256`.
pub(crate) fn sidecar_of(archive: &str) -> String {
    format!("{archive}{SIDECAR_SUFFIX}")
}

/// `<archive>.sha256` beside a local archive.
pub fn sidecar_path(archive: &std::path::Path) -> std::path::PathBuf {
    let mut s = archive.as_os_str().to_owned();
    s.push(SIDECAR_SUFFIX);
    s.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn names_round_trip() {
        let t = Utc.with_ymd_and_hms(2026, 11, 28, 10, 5, 0).unwrap();
        let n = ArchiveName::new("a b", t);
        assert_eq!(n.to_string(), "a_b-20261128T100500Z.tar.gz.age");
        assert_eq!(
            n.clone().with_n(2).to_string(),
            "a_b-20261128T100500Z.2.tar.gz.age"
        );
        assert_eq!(ArchiveName::parse(&n.to_string()), Some(n.clone()));
        assert_eq!(
            ArchiveName::parse("a_b-20261128T100500Z.2.tar.gz.age"),
            Some(n.clone().with_n(2))
        );
        assert!(n.is_of("a b") && n.is_of("a_b") && !n.is_of("a"));
        let eks = ArchiveName::new("arn:aws:eks:eu-west-1:1:cluster/prod", t);
        assert_eq!(eks.stem, "arn_aws_eks_eu-west-1_1_cluster_prod");
        assert_eq!(ArchiveName::parse(&eks.to_string()).unwrap().stem, eks.stem);
        for other in [
            "notes.txt",
            "x.tar.gz.age",
            "-20261128T100500Z.tar.gz.age",
            "a-2026.tar.gz.age",
        ] {
            assert_eq!(ArchiveName::parse(other), None, "{other}");
        }
        assert_eq!(sidecar_of("s3://b/k.age"), "s3://b/k.age.sha256");
    }
}
