//! `trustkeep prune`: retention for a directory of archives written by `backup -o DIR/`.
//!
//! Only files named `<cluster>-<YYYYMMDDTHHMMSSZ>.tar.gz.age` (and their `.sha256`
//! sidecars) are considered; anything else in the directory is left alone. For each cluster,
//! the newest `keep_last` archives are kept (at least one, always), and with `keep_within` so is
//! every archive younger than that. Archives are not opened: the name's time decides.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::archive::ArchiveName;
use crate::error::Result;
use crate::render::{self, OutputFormat, Table};
use crate::store::Location;
use crate::world::World;

/// What to keep.
#[derive(Clone, Debug)]
pub struct Options {
    pub dir: Location,
    /// Newest archives kept per cluster (at least 1).
    pub keep_last: usize,
    /// Also keep every archive younger than this.
    pub keep_within: Option<Duration>,
    /// Only this cluster's archives (compared as it appears in file names).
    pub cluster: Option<String>,
    pub dry_run: bool,
    /// Never delete this archive (the one a backup just wrote).
    pub protect: Option<Location>,
}

/// How far in the future a name's time may be before it is distrusted (clock skew).
const FUTURE_SLACK_MINUTES: i64 = 10;

/// The decision on one archive.
#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    pub archive: Location,
    pub cluster: String,
    pub created: DateTime<Utc>,
    pub keep: bool,
    pub reason: String,
    /// Set once the archive (and its sidecar) was deleted.
    pub deleted: bool,
}

/// Decides, without touching anything.
pub fn plan(names: &[Location], opts: &Options, now: DateTime<Utc>) -> Vec<Decision> {
    let mut by_cluster: BTreeMap<String, Vec<(DateTime<Utc>, u32, Location)>> = BTreeMap::new();
    for p in names {
        let Some(name) = ArchiveName::parse(&p.file_name()) else {
            continue;
        };
        if opts.cluster.as_ref().is_some_and(|c| !name.is_of(c)) {
            continue;
        }
        let (cluster, t, n) = (name.stem, name.created, name.n);
        by_cluster
            .entry(cluster)
            .or_default()
            .push((t, n, p.clone()));
    }
    let keep_last = opts.keep_last.max(1);
    let mut out = Vec::new();
    for (cluster, mut list) in by_cluster {
        // Newest first; within one second, the higher `.N` is the later one.
        list.sort_by_key(|(t, n, _)| std::cmp::Reverse((*t, *n)));
        let mut counted = 0;
        for (t, _, path) in list {
            let (keep, reason) = if t > now + Duration::minutes(FUTURE_SLACK_MINUTES) {
                // A name from the future (another host's clock, or not ours): never delete
                // it, and do not let it push real archives out.
                (
                    true,
                    "named in the future; not counted, not deleted".to_string(),
                )
            } else if opts.protect.as_ref() == Some(&path) {
                counted += 1;
                (true, "just written".to_string())
            } else if counted < keep_last {
                counted += 1;
                (true, format!("among the newest {keep_last}"))
            } else if opts.keep_within.is_some_and(|d| now - t <= d) {
                (true, "younger than --keep-within".to_string())
            } else {
                (false, format!("older than the newest {keep_last}"))
            };
            out.push(Decision {
                archive: path,
                cluster: cluster.clone(),
                created: t,
                keep,
                reason,
                deleted: false,
            });
        }
    }
    out
}

/// Lists the directory or prefix, decides, and (unless dry-run) deletes archives and their
/// sidecars.
pub async fn run(opts: &Options, world: &World) -> Result<Vec<Decision>> {
    let store = &world.store;
    let names = store.list(&opts.dir).await?;
    let mut decisions = plan(&names, opts, world.now);
    if !opts.dry_run {
        for d in decisions.iter_mut().filter(|d| !d.keep) {
            store.delete(&d.archive).await?;
            let sidecar = d.archive.sidecar();
            if names.contains(&sidecar) {
                store.delete(&sidecar).await?;
            }
            d.deleted = true;
        }
    }
    Ok(decisions)
}

/// Prints the decisions.
pub fn render(
    out: &mut dyn Write,
    ds: &[Decision],
    dry_run: bool,
    format: OutputFormat,
) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        return render::json(out, &ds);
    }
    let mut t = Table::new(["ARCHIVE", "CLUSTER", "CREATED", "ACTION", "REASON"]);
    for d in ds {
        let action = match (d.keep, d.deleted) {
            (true, _) => "keep",
            (false, true) => "deleted",
            (false, false) => "delete",
        };
        t.row([
            d.archive.to_string(),
            d.cluster.clone(),
            d.created.format("%Y-%m-%d %H:%M").to_string(),
            action.to_string(),
            d.reason.clone(),
        ]);
    }
    if t.is_empty() {
        writeln!(out, "(no archives named <cluster>-<UTC time>.tar.gz.age)")?;
    } else {
        t.write(out)?;
    }
    let n = ds.iter().filter(|d| !d.keep).count();
    writeln!(
        out,
        "{} archive(s) {}",
        n,
        if dry_run {
            "would be deleted (dry run)"
        } else {
            "deleted"
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn opts(keep_last: usize, within: Option<i64>) -> Options {
        Options {
            dir: Location::Local(Default::default()),
            protect: None,
            keep_last,
            keep_within: within.map(Duration::days),
            cluster: None,
            dry_run: true,
        }
    }

    #[test]
    fn keeps_the_newest_per_cluster_and_ignores_other_files() {
        let names: Vec<Location> = [
            "mgmt-20261101T000000Z.tar.gz.age",
            "mgmt-20261127T000000Z.tar.gz.age",
            "mgmt-20261128T000000Z.tar.gz.age",
            "cluster-1-20261101T000000Z.tar.gz.age",
            "mgmt-20261128T000000Z.tar.gz.age.sha256",
            "notes.txt",
            "mgmt-yesterday.tar.gz.age",
        ]
        .iter()
        .map(|n| Location::Local(n.into()))
        .collect();
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        let d = plan(&names, &opts(2, None), now);
        let kept: Vec<(String, bool)> = d.iter().map(|d| (d.archive.to_string(), d.keep)).collect();
        assert_eq!(
            kept,
            [
                ("cluster-1-20261101T000000Z.tar.gz.age".to_string(), true),
                ("mgmt-20261128T000000Z.tar.gz.age".to_string(), true),
                ("mgmt-20261127T000000Z.tar.gz.age".to_string(), true),
                ("mgmt-20261101T000000Z.tar.gz.age".to_string(), false),
            ]
        );
        // keep_last 0 still keeps one; keep_within keeps the young.
        assert_eq!(
            plan(&names, &opts(0, None), now)
                .iter()
                .filter(|d| d.keep)
                .count(),
            2
        );
        assert_eq!(
            plan(&names, &opts(1, Some(30)), now)
                .iter()
                .filter(|d| d.keep)
                .count(),
            4
        );
        assert_eq!(
            ArchiveName::parse("a-b-20261128T000000Z.tar.gz.age")
                .unwrap()
                .stem,
            "a-b"
        );
        // A name from the future neither counts nor goes; the just-written archive stays.
        let skewed: Vec<Location> = [
            "m-20991231T000000Z.tar.gz.age",
            "m-20261128T110000Z.tar.gz.age",
            "m-20261127T000000Z.tar.gz.age",
        ]
        .iter()
        .map(|n| Location::Local(n.into()))
        .collect();
        let mut o = opts(1, None);
        o.protect = Some(skewed[2].clone());
        let d = plan(&skewed, &o, now);
        assert!(d.iter().all(|d| d.keep), "{d:?}");
        assert_eq!(d[0].reason, "named in the future; not counted, not deleted");
        // Cluster names are compared as they appear in file names (EKS contexts hold ':' '/').
        let eks: Vec<Location> = [
            "arn_aws_eks_eu_c_mgmt-20261127T000000Z.tar.gz.age",
            "arn_aws_eks_eu_c_mgmt-20261128T000000Z.tar.gz.age",
        ]
        .iter()
        .map(|n| Location::Local(n.into()))
        .collect();
        let mut o = opts(1, None);
        o.cluster = Some("arn:aws:eks:eu:c/mgmt".into());
        assert_eq!(plan(&eks, &o, now).iter().filter(|d| !d.keep).count(), 1);
        assert_eq!(
            ArchiveName::parse("mgmt-20261128T000000Z.2.tar.gz.age")
                .unwrap()
                .n,
            2
        );
        let same_second: Vec<Location> = [
            "m-20261128T000000Z.tar.gz.age",
            "m-20261128T000000Z.1.tar.gz.age",
        ]
        .iter()
        .map(|n| Location::Local(n.into()))
        .collect();
        let d = plan(&same_second, &opts(1, None), now);
        assert_eq!(
            (d[0].archive.to_string(), d[0].keep),
            ("m-20261128T000000Z.1.tar.gz.age".to_string(), true)
        );
    }
}
