//! Retention calendars over the archives of a directory or prefix, as restic `forget`
//! defines them: the plan (which archive each rule keeps) and its application. `prune` shows
//! and applies it; `backup` applies it after a complete backup. It owns no flags and no
//! rendering.
//!
//! Per cluster, archives are taken newest first. Each rule (`last`, `hourly`, `daily`,
//! `weekly` (ISO weeks), `monthly`, `yearly`, with a count) keeps the newest archive of each of
//! its next N periods (UTC); when a rule still has counts left at the oldest archive, it keeps
//! that one too (restic's "maximise the history kept"). `within` keeps every archive younger
//! than a duration (`1y2m3d4h`; a bare number is days) measured from the cluster's newest
//! archive, not from now. An archive survives when any rule keeps it, and the plan names every
//! rule that does. On top of restic: the newest archive of a cluster is always kept; only files
//! named `<cluster>-<UTC time>[.N].tar.gz.age` that have their `.sha256` sidecar are ever
//! deleted (with the sidecar): anything else was not written by a complete `trustkeep backup`;
//! a name more than 10 minutes in the future is neither counted nor deleted. Archives are not
//! opened: the name's time decides. `backup` prunes only after a complete backup.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, Months, Timelike, Utc};
use serde::Serialize;

use crate::catalogue::{self, Listed};
use crate::error::Result;
use crate::store::{Location, Store};

/// How many archives each calendar rule keeps (`None`: the rule is off).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub last: Option<usize>,
    pub hourly: Option<usize>,
    pub daily: Option<usize>,
    pub weekly: Option<usize>,
    pub monthly: Option<usize>,
    pub yearly: Option<usize>,
    pub within: Option<Within>,
}

/// A restic duration: years, months, days and hours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Within {
    pub years: u32,
    pub months: u32,
    pub days: u32,
    pub hours: u32,
}

impl Within {
    /// `1y2m3d4h` (any subset, in this order) or a bare number of days.
    pub fn parse(s: &str) -> std::result::Result<Within, String> {
        let bad = || format!("{s:?}: expected a duration such as 30d, 1y6m, 48h or 7 (days)");
        if let Ok(days) = s.parse::<u32>() {
            return Ok(Within {
                days,
                ..Default::default()
            });
        }
        let mut w = Within::default();
        let mut num = String::new();
        let mut seen = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let n: u32 = num.parse().map_err(|_| bad())?;
            num.clear();
            let order = "ymdh";
            let pos = order.find(c).ok_or_else(bad)?;
            if seen.chars().any(|p| order.find(p).unwrap() >= pos) {
                return Err(bad());
            }
            seen.push(c);
            match c {
                'y' => w.years = n,
                'm' => w.months = n,
                'd' => w.days = n,
                _ => w.hours = n,
            }
        }
        if !num.is_empty() || seen.is_empty() {
            return Err(bad());
        }
        Ok(w)
    }

    /// `newest` minus this duration.
    fn before(&self, newest: DateTime<Utc>) -> DateTime<Utc> {
        let months = Months::new(self.years * 12 + self.months);
        let t = newest
            .checked_sub_months(months)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        t - Duration::days(self.days.into()) - Duration::hours(self.hours.into())
    }
}

impl std::fmt::Display for Within {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts = [
            (self.years, 'y'),
            (self.months, 'm'),
            (self.days, 'd'),
            (self.hours, 'h'),
        ];
        let mut any = false;
        for (n, u) in parts.into_iter().filter(|(n, _)| *n > 0) {
            write!(f, "{n}{u}")?;
            any = true;
        }
        if !any {
            f.write_str("0d")?;
        }
        Ok(())
    }
}

impl Policy {
    /// Whether no rule is set (prune then refuses, like restic).
    pub fn is_empty(&self) -> bool {
        *self == Policy::default()
    }

    /// The counting rules: name, count, and the period of a time (equal periods share one
    /// archive). `last` gives every archive its own period.
    fn buckets(&self) -> Vec<(&'static str, usize, Period)> {
        let rules: [(&'static str, Option<usize>, Period); 6] = [
            ("last", self.last, |_, nr| nr as i64),
            ("hourly", self.hourly, |t, _| {
                day(t) * 100 + i64::from(t.hour())
            }),
            ("daily", self.daily, |t, _| day(t)),
            ("weekly", self.weekly, |t, _| {
                let w = t.iso_week();
                i64::from(w.year()) * 100 + i64::from(w.week())
            }),
            ("monthly", self.monthly, |t, _| {
                i64::from(t.year()) * 100 + i64::from(t.month())
            }),
            ("yearly", self.yearly, |t, _| i64::from(t.year())),
        ];
        rules
            .into_iter()
            .filter_map(|(name, n, f)| Some((name, n?, f)))
            .filter(|(_, n, _)| *n > 0)
            .collect()
    }
}

/// The period of an archive's time (`nr`: its position, newest first) for one rule.
type Period = fn(DateTime<Utc>, usize) -> i64;

fn day(t: DateTime<Utc>) -> i64 {
    i64::from(t.year()) * 10000 + i64::from(t.month()) * 100 + i64::from(t.day())
}

/// What a retention run decides over: the calendar rules and their scope.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    pub policy: Policy,
    /// Only this cluster's archives (compared as it appears in file names).
    pub cluster: Option<String>,
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
    /// The rules that keep it (`daily`, `within 30d`, `newest`, …); empty when deleted.
    pub rules: Vec<String>,
    /// The rules, or why it goes, for people.
    pub reason: String,
    /// Set once the archive (and its sidecar) was deleted.
    pub deleted: bool,
}

/// One archive to decide on.
type Candidate = Listed;

/// Decides, without touching anything. `names` is the listing of the directory (archives
/// and sidecars).
pub fn plan(names: &[Location], opts: &Rules, now: DateTime<Utc>) -> Vec<Decision> {
    // By cluster, newest first; within one second, the higher `.N` is the later one.
    let mut by_cluster: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for c in catalogue::named(names, opts.cluster.as_deref()) {
        by_cluster.entry(c.name.stem.clone()).or_default().push(c);
    }
    let mut out = Vec::new();
    for (cluster, list) in by_cluster {
        let limit = now + Duration::minutes(FUTURE_SLACK_MINUTES);
        let (future, counted): (Vec<_>, Vec<_>) =
            list.into_iter().partition(|c| c.name.created > limit);
        for c in future {
            out.push(decision(
                &cluster,
                c,
                vec!["named in the future; not counted".into()],
            ));
        }
        let reasons = keep_reasons(&counted, &opts.policy);
        for (c, mut rules) in counted.into_iter().zip(reasons) {
            if opts.protect.as_ref() == Some(&c.location) {
                rules.push("just written".into());
            }
            if rules.is_empty() && !c.has_sidecar {
                rules.push("no .sha256 sidecar: not a complete trustkeep backup".into());
            }
            out.push(decision(&cluster, c, rules));
        }
    }
    out
}

fn decision(cluster: &str, c: Candidate, rules: Vec<String>) -> Decision {
    let keep = !rules.is_empty();
    Decision {
        reason: if keep {
            rules.join(", ")
        } else {
            "no rule keeps it".into()
        },
        archive: c.location,
        cluster: cluster.to_string(),
        created: c.name.created,
        keep,
        rules,
        deleted: false,
    }
}

/// restic's algorithm over one cluster's archives, newest first: the rules keeping each.
fn keep_reasons(list: &[Candidate], policy: &Policy) -> Vec<Vec<String>> {
    let mut buckets: Vec<(&str, usize, Period, Option<i64>)> = policy
        .buckets()
        .into_iter()
        .map(|(name, n, f)| (name, n, f, None))
        .collect();
    let newest = list.first().map(|c| c.name.created);
    let within = policy.within.zip(newest).map(|(w, t)| (w, w.before(t)));
    let mut out = Vec::with_capacity(list.len());
    for (nr, c) in list.iter().enumerate() {
        let t = c.name.created;
        let mut rules = Vec::new();
        if nr == 0 {
            rules.push("newest".to_string());
        }
        if let Some((w, since)) = within {
            if t > since {
                rules.push(format!("within {w}"));
            }
        }
        for (name, left, period, last) in buckets.iter_mut() {
            if *left == 0 {
                continue;
            }
            let p = period(t, nr);
            // The oldest archive is kept while a rule has counts left (restic ≥ 0.14).
            if *last != Some(p) || nr == list.len() - 1 {
                *last = Some(p);
                *left -= 1;
                rules.push(name.to_string());
            }
        }
        out.push(rules);
    }
    out
}

/// Lists the directory or prefix, decides, and (unless `dry_run`) deletes the archives no
/// rule keeps, with their sidecars and signatures. An empty policy keeps everything here; the CLI refuses one
/// before it gets here, like restic.
pub async fn apply(
    store: &Store,
    dir: &Location,
    rules: &Rules,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Vec<Decision>> {
    let names = store.list(dir).await?;
    if rules.policy.is_empty() {
        return Ok(Vec::new());
    }
    let mut decisions = plan(&names, rules, now);
    let present: BTreeSet<String> = names.iter().map(Location::to_string).collect();
    if !dry_run {
        for d in decisions.iter_mut().filter(|d| !d.keep) {
            store.delete(&d.archive).await?;
            let sidecar = d.archive.sidecar();
            if present.contains(&sidecar.to_string()) {
                store.delete(&sidecar).await?;
            }
            let sig = crate::signature::sig_location(&d.archive);
            if present.contains(&sig.to_string()) {
                store.delete(&sig).await?;
            }
            d.deleted = true;
        }
    }
    Ok(decisions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::ArchiveName;
    use chrono::TimeZone;

    fn opts(policy: Policy) -> Rules {
        Rules {
            protect: None,
            policy,
            cluster: None,
        }
    }

    fn last(n: usize) -> Policy {
        Policy {
            last: Some(n),
            ..Default::default()
        }
    }

    /// Archive and sidecar locations for file names.
    fn listing(names: &[&str]) -> Vec<Location> {
        names
            .iter()
            .flat_map(|n| [n.to_string(), format!("{n}.sha256")])
            .map(|n| Location::Local(n.into()))
            .collect()
    }

    #[test]
    fn keeps_the_newest_per_cluster_and_ignores_other_files() {
        let mut names = listing(&[
            "mgmt-20261101T000000Z.tar.gz.age",
            "mgmt-20261127T000000Z.tar.gz.age",
            "mgmt-20261128T000000Z.tar.gz.age",
            "cluster-1-20261101T000000Z.tar.gz.age",
        ]);
        names.extend(listing(&["notes.txt", "mgmt-yesterday.tar.gz.age"]));
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        let d = plan(&names, &opts(last(2)), now);
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
        assert_eq!(d[1].rules, ["newest", "last"]);
        assert_eq!(d[3].reason, "no rule keeps it");
        // A policy of only keep-within still keeps the newest.
        let within = Policy {
            within: Some(Within::parse("2d").unwrap()),
            ..Default::default()
        };
        let d = plan(&names, &opts(within), now);
        let kept: Vec<&str> = d
            .iter()
            .filter(|d| d.keep)
            .map(|d| d.reason.as_str())
            .collect();
        assert_eq!(
            kept,
            ["newest, within 2d", "newest, within 2d", "within 2d"]
        );
        // A name from the future neither counts nor goes; the just-written archive stays; an
        // archive without its sidecar is not deleted.
        let mut skewed = listing(&[
            "m-20991231T000000Z.tar.gz.age",
            "m-20261128T110000Z.tar.gz.age",
            "m-20261127T000000Z.tar.gz.age",
        ]);
        skewed.push(Location::Local("m-20261126T000000Z.tar.gz.age".into()));
        let mut o = opts(last(1));
        o.protect = Some(skewed[4].clone());
        let d = plan(&skewed, &o, now);
        assert!(d.iter().all(|d| d.keep), "{d:?}");
        assert_eq!(d[0].reason, "named in the future; not counted");
        assert_eq!(d[1].rules, ["newest", "last"]);
        assert_eq!(d[2].rules, ["just written"]);
        assert!(d[3].reason.starts_with("no .sha256 sidecar"));
        // Cluster names are compared as they appear in file names (EKS contexts hold ':' '/').
        let eks = listing(&[
            "arn_aws_eks_eu_c_mgmt-20261127T000000Z.tar.gz.age",
            "arn_aws_eks_eu_c_mgmt-20261128T000000Z.tar.gz.age",
        ]);
        let mut o = opts(last(1));
        o.cluster = Some("arn:aws:eks:eu:c/mgmt".into());
        assert_eq!(plan(&eks, &o, now).iter().filter(|d| !d.keep).count(), 1);
        let same_second = listing(&[
            "m-20261128T000000Z.tar.gz.age",
            "m-20261128T000000Z.1.tar.gz.age",
        ]);
        let d = plan(&same_second, &opts(last(1)), now);
        assert_eq!(
            (d[0].archive.to_string(), d[0].keep, d[1].keep),
            ("m-20261128T000000Z.1.tar.gz.age".to_string(), true, false)
        );
    }

    #[test]
    fn durations_parse_as_restic_writes_them() {
        let w = |y, m, d, h| Within {
            years: y,
            months: m,
            days: d,
            hours: h,
        };
        assert_eq!(Within::parse("30"), Ok(w(0, 0, 30, 0)));
        assert_eq!(Within::parse("1y6m"), Ok(w(1, 6, 0, 0)));
        assert_eq!(Within::parse("2d12h"), Ok(w(0, 0, 2, 12)));
        assert_eq!(w(1, 6, 0, 0).to_string(), "1y6m");
        for bad in ["", "d", "3x", "1d2y", "1h1h", "5d3"] {
            assert!(Within::parse(bad).is_err(), "{bad}");
        }
        let t = Utc.with_ymd_and_hms(2026, 3, 31, 12, 0, 0).unwrap();
        // Months are calendar months; 31 March minus a month is 28 February.
        assert_eq!(
            w(0, 1, 1, 2).before(t),
            Utc.with_ymd_and_hms(2026, 2, 27, 10, 0, 0).unwrap()
        );
    }

    /// Hourly archives of one cluster, 2025-01-01T00:00Z to 2026-12-31T23:00Z.
    fn two_years_hourly() -> Vec<Location> {
        let start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2026, 12, 31, 23, 0, 0).unwrap();
        let mut names = Vec::new();
        let mut t = start;
        while t <= end {
            names.push(ArchiveName::new("mgmt", t).to_string());
            t += Duration::hours(1);
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        listing(&refs)
    }

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn calendar_policies_over_two_years_of_hourly_archives() {
        let names = two_years_hourly();
        assert_eq!(names.len(), 2 * 17520);
        let now = at(2027, 1, 1, 0);
        let p = |f: fn(&mut Policy)| {
            let mut p = Policy::default();
            f(&mut p);
            p
        };
        let month_ends_2026: Vec<DateTime<Utc>> = (1..=12)
            .rev()
            .map(|m| {
                let first_of_next = if m == 12 {
                    at(2027, 1, 1, 0)
                } else {
                    at(2026, m + 1, 1, 0)
                };
                first_of_next - Duration::hours(1)
            })
            .collect();
        #[allow(clippy::type_complexity)]
        let table: Vec<(&str, Policy, usize, Vec<DateTime<Utc>>)> = vec![
            (
                "last 5",
                last(5),
                5,
                (0..5).map(|i| at(2026, 12, 31, 23 - i)).collect(),
            ),
            (
                "hourly 48",
                p(|p| p.hourly = Some(48)),
                48,
                vec![at(2026, 12, 30, 0)],
            ),
            (
                "daily 7",
                p(|p| p.daily = Some(7)),
                7,
                (25..=31).rev().map(|d| at(2026, 12, d, 23)).collect(),
            ),
            (
                // 2026-12-31 is a Thursday of ISO week 53; weeks end on Sundays.
                "weekly 4",
                p(|p| p.weekly = Some(4)),
                4,
                vec![
                    at(2026, 12, 31, 23),
                    at(2026, 12, 27, 23),
                    at(2026, 12, 20, 23),
                    at(2026, 12, 13, 23),
                ],
            ),
            (
                "monthly 3",
                p(|p| p.monthly = Some(3)),
                3,
                month_ends_2026[..3].to_vec(),
            ),
            (
                // 24 month ends, then the oldest archive while counts are left.
                "monthly 30",
                p(|p| p.monthly = Some(30)),
                25,
                vec![at(2025, 1, 31, 23), at(2025, 1, 1, 0)],
            ),
            (
                "yearly 5",
                p(|p| p.yearly = Some(5)),
                3,
                vec![
                    at(2026, 12, 31, 23),
                    at(2025, 12, 31, 23),
                    at(2025, 1, 1, 0),
                ],
            ),
            (
                "within 2d (from the newest archive, not from now)",
                p(|p| p.within = Some(Within::parse("2d").unwrap())),
                48,
                vec![at(2026, 12, 30, 0)],
            ),
            (
                "daily 7, weekly 4, monthly 12, yearly 2",
                p(|p| {
                    p.daily = Some(7);
                    p.weekly = Some(4);
                    p.monthly = Some(12);
                    p.yearly = Some(2);
                }),
                21,
                vec![
                    at(2026, 12, 13, 23),
                    at(2026, 1, 31, 23),
                    at(2025, 12, 31, 23),
                ],
            ),
        ];
        for (what, policy, survivors, must_keep) in table {
            let d = plan(&names, &opts(policy), now);
            let kept: Vec<&Decision> = d.iter().filter(|d| d.keep).collect();
            assert_eq!(kept.len(), survivors, "{what}");
            for t in must_keep {
                assert!(kept.iter().any(|d| d.created == t), "{what}: {t} not kept");
            }
            assert_eq!(kept[0].created, at(2026, 12, 31, 23), "{what}: newest");
            assert!(kept.iter().all(|d| !d.rules.is_empty()));
        }
        // The plan names each rule that keeps an archive.
        let both = Policy {
            daily: Some(2),
            monthly: Some(2),
            ..Default::default()
        };
        let d = plan(&names, &opts(both), now);
        let nov30 = d
            .iter()
            .find(|d| d.created == at(2026, 11, 30, 23))
            .unwrap();
        assert_eq!(nov30.rules, ["monthly"]);
        let dec31 = d
            .iter()
            .find(|d| d.created == at(2026, 12, 31, 23))
            .unwrap();
        assert_eq!(dec31.rules, ["newest", "daily", "monthly"]);
    }

    /// A small deterministic generator (xorshift), so failures are reproducible.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self, below: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % below
        }
    }

    #[test]
    fn property_the_newest_archive_of_each_cluster_always_survives() {
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let now = at(2027, 1, 1, 0);
        for case in 0..400 {
            let mut names = Vec::new();
            for cluster in ["a", "b"] {
                for _ in 0..1 + rng.next(60) {
                    let back = Duration::minutes(rng.next(3 * 365 * 24 * 60) as i64);
                    names.push(ArchiveName::new(cluster, now - back).with_n(rng.next(2) as u32));
                }
            }
            let mut rule = || (rng.next(3) > 0).then(|| rng.next(5) as usize);
            let policy = Policy {
                last: rule(),
                hourly: rule(),
                daily: rule(),
                weekly: rule(),
                monthly: rule(),
                yearly: rule(),
                within: (rng.next(2) == 0).then(|| Within {
                    days: rng.next(40) as u32,
                    ..Default::default()
                }),
            };
            let strings: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            let refs: Vec<&str> = strings.iter().map(String::as_str).collect();
            let d = plan(&listing(&refs), &opts(policy.clone()), now);
            let unique: std::collections::BTreeSet<&String> = strings.iter().collect();
            assert_eq!(
                d.len(),
                unique.len(),
                "case {case}: every archive decided once"
            );
            for cluster in ["a", "b"] {
                let newest = names
                    .iter()
                    .filter(|n| n.stem == cluster)
                    .max_by_key(|n| (n.created, n.n))
                    .unwrap();
                let dn = d
                    .iter()
                    .find(|d| d.archive.file_name() == newest.to_string())
                    .unwrap();
                assert!(
                    dn.keep && dn.rules[0] == "newest",
                    "case {case} {policy:?}: {dn:?}"
                );
            }
            assert!(
                d.iter().all(|d| d.keep != d.rules.is_empty()),
                "case {case}"
            );
        }
    }
}
