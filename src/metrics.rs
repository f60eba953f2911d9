//! Prometheus metrics of unattended runs (`backup`, `verify`, `audit`): the metric names and
//! labels, the text exposition format, the atomic metrics file for node-exporter's textfile
//! collector, and the push to a Pushgateway. It owns no command logic: the CLI hands it a
//! command's result and it describes it. Metrics never carry secret values: only names, keys,
//! counts, sizes, common names and times.
//!
//! Failures are a gauge (`trustkeep_backup_last_status`, 1 ok / 0 failed), not a counter:
//! each run is a fresh process (a CronJob pod), so a `_total` counter would start at 0 every
//! run and `increase()` would never see the one increment. A failed run keeps the previous
//! `trustkeep_backup_last_success_timestamp_seconds`: the metrics file carries it over, and
//! the push uses POST, which replaces only the metrics it sends.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::catalogue::Backup;
use crate::error::{Error, Result};
use crate::trust_policy::Provenance;
use crate::verdict::{AuditReport, VerifyReport};

/// Where metrics go; both may be set, neither means no metrics.
#[derive(Clone, Debug, Default)]
pub struct MetricsOptions {
    /// A file written atomically (`*.prom` in node-exporter's textfile directory).
    pub file: Option<PathBuf>,
    /// A Pushgateway base URL (`http://pushgateway:9091`).
    pub pushgateway: Option<reqwest::Url>,
}

impl MetricsOptions {
    pub fn is_empty(&self) -> bool {
        self.file.is_none() && self.pushgateway.is_none()
    }
}

/// Metric families this module writes, with their help text (one place for both).
pub mod names {
    pub const BUILD_INFO: &str = "trustkeep_build_info";
    pub const BACKUP_LAST_SUCCESS: &str = "trustkeep_backup_last_success_timestamp_seconds";
    pub const BACKUP_LAST_RUN: &str = "trustkeep_backup_last_run_timestamp_seconds";
    pub const BACKUP_LAST_STATUS: &str = "trustkeep_backup_last_status";
    pub const BACKUP_DURATION: &str = "trustkeep_backup_duration_seconds";
    pub const BACKUP_SECRETS: &str = "trustkeep_backup_secrets";
    pub const BACKUP_BYTES: &str = "trustkeep_backup_bytes";
    pub const BACKUP_SIGNED: &str = "trustkeep_backup_signed";
    pub const CERT_NOT_AFTER: &str = "trustkeep_certificate_not_after_timestamp_seconds";
    pub const AUDIT_LAST_RUN: &str = "trustkeep_audit_last_run_timestamp_seconds";
    pub const AUDIT_LAST_STATUS: &str = "trustkeep_audit_last_status";
    pub const AUDIT_ERRORS: &str = "trustkeep_audit_errors";
    pub const AUDIT_WARNINGS: &str = "trustkeep_audit_warnings";
    pub const VERIFY_LAST_RUN: &str = "trustkeep_verify_last_run_timestamp_seconds";
    pub const VERIFY_LAST_SUCCESS: &str = "trustkeep_verify_last_success_timestamp_seconds";
    pub const VERIFY_LAST_STATUS: &str = "trustkeep_verify_last_status";
    pub const VERIFY_ARCHIVES: &str = "trustkeep_verify_archives";
    pub const VERIFY_UNREADABLE: &str = "trustkeep_verify_archives_unreadable";
    pub const VERIFY_ERRORS: &str = "trustkeep_verify_errors";
    pub const VERIFY_WARNINGS: &str = "trustkeep_verify_warnings";
    pub const VERIFY_SIGNED: &str = "trustkeep_verify_archives_signed";
    pub const VERIFY_REFUSED: &str = "trustkeep_verify_archives_refused";

    /// The help text of a family.
    pub fn help(name: &str) -> &'static str {
        match name {
            BUILD_INFO => "trustkeep version that wrote these metrics, per command (always 1).",
            BACKUP_LAST_SUCCESS => "Time of the last complete backup of the cluster (Unix seconds).",
            BACKUP_LAST_RUN => "Time of the last backup attempt of the cluster (Unix seconds).",
            BACKUP_LAST_STATUS => "1 if the last backup of the cluster was complete, 0 if it failed or secrets were missing.",
            BACKUP_DURATION => "Duration of the last backup attempt (seconds).",
            BACKUP_SECRETS => "Secrets in the last complete backup of the cluster.",
            BACKUP_BYTES => "Size of the last complete backup archive (bytes of ciphertext).",
            BACKUP_SIGNED => "1 if the last backup of the cluster was signed (--sign-key), 0 if it was written unsigned.",
            CERT_NOT_AFTER => "Expiry (notAfter) of a certificate in a trust secret (Unix seconds).",
            AUDIT_LAST_RUN => "Time of the last audit (Unix seconds).",
            AUDIT_LAST_STATUS => "1 if the last audit ran and found no error, 0 if it found errors or could not run.",
            AUDIT_ERRORS => "Error findings of the last audit.",
            AUDIT_WARNINGS => "Warning findings of the last audit.",
            VERIFY_LAST_RUN => "Time of the last verify run (Unix seconds).",
            VERIFY_LAST_SUCCESS => "Time of the last verify run that found every archive readable and without errors.",
            VERIFY_LAST_STATUS => "1 if the last verify run read every archive and found no error, 0 otherwise.",
            VERIFY_ARCHIVES => "Archives checked by the last verify run.",
            VERIFY_UNREADABLE => "Archives the last verify run could not read (integrity, key, format).",
            VERIFY_ERRORS => "Error findings of the last verify run.",
            VERIFY_WARNINGS => "Warning findings of the last verify run.",
            VERIFY_SIGNED => "Archives of the last verify run whose signature verifies, per signer (principal empty without --trusted-signers, key the SHA256 fingerprint).",
            VERIFY_REFUSED => "Archives the last verify run refused before decryption (origin.signature: unsigned, untrusted key, other namespace, outside validity, other bytes).",
            _ => "trustkeep metric.",
        }
    }
}
use names::*;

/// One metric family of gauges.
#[derive(Clone, Debug)]
struct Family {
    name: &'static str,
    /// Rendered label sets (`{a="b"}` or empty) and values.
    samples: Vec<(String, f64)>,
}

/// A set of gauge families, rendered in the Prometheus text format (version 0.0.4).
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Which command wrote them: the Pushgateway group and the build_info label.
    command: &'static str,
    /// The grouping labels of a push beside `job` and `command`.
    group: Vec<(&'static str, String)>,
    families: Vec<Family>,
}

impl Metrics {
    fn new(command: &'static str) -> Self {
        let mut m = Metrics {
            command,
            ..Default::default()
        };
        let version = env!("CARGO_PKG_VERSION").to_string();
        m.set(
            BUILD_INFO,
            &[("command", command.into()), ("version", version)],
            1.0,
        );
        m
    }

    /// Sets one sample (a label set appears once per family; later values are ignored).
    fn set(&mut self, name: &'static str, labels: &[(&str, String)], value: f64) {
        self.insert(name, render_labels(labels), value);
    }

    /// Copies the samples of `name` from a previous metrics file for the label sets this run
    /// attempted (those of its `attempted` family) but has no `name` sample of: a failed run
    /// keeps the time of its cluster's last success, and a cluster no longer run is dropped.
    fn carry_over(&mut self, previous: &str, name: &'static str, attempted: &str) {
        let tried: Vec<String> = match self.families.iter().find(|f| f.name == attempted) {
            Some(f) => f.samples.iter().map(|(l, _)| l.clone()).collect(),
            None => return,
        };
        for line in previous.lines() {
            let Some(rest) = line.strip_prefix(name) else {
                continue;
            };
            if !(rest.starts_with('{') || rest.starts_with(' ')) {
                continue;
            }
            let Some((labels, value)) = rest.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let labels = labels.trim().to_string();
            if tried.contains(&labels) {
                self.insert(name, labels, value);
            }
        }
    }

    /// Adds one rendered sample unless its family has the label set already.
    fn insert(&mut self, name: &'static str, labels: String, value: f64) {
        let i = match self.families.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                self.families.push(Family {
                    name,
                    samples: Vec::new(),
                });
                self.families.len() - 1
            }
        };
        let f = &mut self.families[i];
        if !f.samples.iter().any(|(l, _)| *l == labels) {
            f.samples.push((labels, value));
        }
    }

    /// Every sample of `other` added to these (one file for the runs of several clusters).
    fn absorb(&mut self, other: Metrics) {
        for f in other.families {
            for (labels, value) in f.samples {
                self.insert(f.name, labels, value);
            }
        }
    }

    /// The text exposition format: `# HELP`, `# TYPE gauge`, then the samples.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for f in &self.families {
            let _ = writeln!(s, "# HELP {} {}", f.name, help(f.name));
            let _ = writeln!(s, "# TYPE {} gauge", f.name);
            for (labels, value) in &f.samples {
                let _ = writeln!(s, "{}{labels} {value}", f.name);
            }
        }
        s
    }
}

/// `{a="x",b="y"}` with the format's escapes (`\\`, `\"`, `\n`).
fn render_labels(labels: &[(&str, String)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

fn seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp() as f64
}

/// The CN of a distinguished name as x509-parser prints it (`CN=a, O=b`), or "".
fn common_name(dn: &str) -> String {
    dn.split(", ")
        .find_map(|p| p.strip_prefix("CN="))
        .unwrap_or("")
        .to_string()
}

/// One certificate's expiry, labelled as x509-certificate-exporter labels its series
/// (`secret_namespace`, `secret_name`, `secret_key`, `subject_CN`, `issuer_CN`,
/// `serial_number`) plus `cluster` and `command`.
struct Cert<'a> {
    cluster: &'a str,
    namespace: &'a str,
    name: &'a str,
    key: &'a str,
    summary: &'a crate::pki::CertSummary,
}

impl Metrics {
    fn cert(&mut self, c: Cert<'_>) {
        let labels = [
            ("cluster", c.cluster.to_string()),
            ("command", self.command.to_string()),
            ("secret_namespace", c.namespace.to_string()),
            ("secret_name", c.name.to_string()),
            ("secret_key", c.key.to_string()),
            ("subject_CN", common_name(&c.summary.subject)),
            ("issuer_CN", common_name(&c.summary.issuer)),
            ("serial_number", c.summary.serial.clone()),
        ];
        self.set(CERT_NOT_AFTER, &labels, seconds(c.summary.not_after));
    }
}

/// What a backup attempt ended with, for its metrics.
pub struct BackupRun<'a> {
    /// The cluster's name as the archive records it (or as the flags gave it, on failure).
    pub cluster: &'a str,
    /// The backup, or `None` when it stopped with an error.
    pub backup: Option<&'a Backup>,
    pub now: DateTime<Utc>,
    pub duration: Duration,
}

/// The metrics of a backup attempt.
pub fn backup(run: &BackupRun<'_>) -> Metrics {
    let mut m = Metrics::new("backup");
    let cluster = run
        .backup
        .map(|b| b.manifest.cluster.name.as_str())
        .unwrap_or(run.cluster);
    m.group.push(("cluster", cluster.to_string()));
    let c = || [("cluster", cluster.to_string())];
    let ok = run.backup.is_some_and(|b| b.ok);
    m.set(BACKUP_LAST_RUN, &c(), seconds(run.now));
    m.set(BACKUP_LAST_STATUS, &c(), if ok { 1.0 } else { 0.0 });
    m.set(BACKUP_DURATION, &c(), run.duration.as_secs_f64());
    if let (Some(b), true) = (run.backup, ok) {
        m.set(BACKUP_LAST_SUCCESS, &c(), seconds(run.now));
        m.set(BACKUP_SECRETS, &c(), b.manifest.secrets.len() as f64);
        m.set(BACKUP_BYTES, &c(), b.bytes as f64);
    }
    if let Some(b) = run.backup {
        let signed = if b.signature.is_some() { 1.0 } else { 0.0 };
        m.set(BACKUP_SIGNED, &c(), signed);
        for s in &b.manifest.secrets {
            for d in &s.data {
                for summary in &d.certificates {
                    m.cert(Cert {
                        cluster,
                        namespace: &s.namespace,
                        name: &s.name,
                        key: &d.key,
                        summary,
                    });
                }
            }
        }
    }
    m
}

/// The metrics of an audit (the live clusters' certificates and the findings).
pub fn audit(r: &AuditReport, now: DateTime<Utc>) -> Metrics {
    let mut m = Metrics::new("audit");
    m.set(AUDIT_LAST_RUN, &[], seconds(now));
    m.set(
        AUDIT_LAST_STATUS,
        &[],
        if r.errors == 0 { 1.0 } else { 0.0 },
    );
    m.set(AUDIT_ERRORS, &[], r.errors as f64);
    m.set(AUDIT_WARNINGS, &[], r.warnings as f64);
    for row in &r.certificates {
        let (namespace, name) = row.secret.split_once('/').unwrap_or(("", &row.secret));
        m.cert(Cert {
            cluster: &row.cluster,
            namespace,
            name,
            key: &row.key,
            summary: &row.summary,
        });
    }
    m
}

/// The metrics of a verify run: the verdict only. Archived certificates are not exported
/// (many archives of one cluster would each raise the same expiry alert); `backup` and
/// `audit` export the live ones.
pub fn verify(r: &VerifyReport, now: DateTime<Utc>) -> Metrics {
    let mut m = Metrics::new("verify");
    m.set(VERIFY_LAST_RUN, &[], seconds(now));
    let ok = r.unreadable == 0 && r.errors == 0;
    if ok {
        m.set(VERIFY_LAST_SUCCESS, &[], seconds(now));
    }
    m.set(VERIFY_LAST_STATUS, &[], if ok { 1.0 } else { 0.0 });
    m.set(VERIFY_ARCHIVES, &[], r.archives.len() as f64);
    m.set(VERIFY_UNREADABLE, &[], r.unreadable as f64);
    m.set(VERIFY_ERRORS, &[], r.errors as f64);
    m.set(VERIFY_WARNINGS, &[], r.warnings as f64);
    let origins: Vec<&Provenance> = r
        .archives
        .iter()
        .filter_map(|a| a.origin.as_ref())
        .collect();
    let refused = origins.iter().filter(|o| !o.admitted()).count();
    m.set(VERIFY_REFUSED, &[], refused as f64);
    let mut signers: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for s in origins
        .iter()
        .filter(|o| o.admitted())
        .filter_map(|o| o.signer.as_ref())
    {
        let principal = s.principal.clone().unwrap_or_default();
        *signers.entry((principal, s.key.clone())).or_default() += 1;
    }
    for ((principal, key), n) in signers {
        m.set(
            VERIFY_SIGNED,
            &[("principal", principal), ("key", key)],
            n as f64,
        );
    }
    m
}

/// The metrics of a verify run that stopped with an error (nothing could be listed or read).
pub fn verify_failed(now: DateTime<Utc>) -> Metrics {
    let mut m = Metrics::new("verify");
    m.set(VERIFY_LAST_RUN, &[], seconds(now));
    m.set(VERIFY_LAST_STATUS, &[], 0.0);
    m
}

/// The metrics of an audit that stopped with an error (a cluster unreachable, a bad file).
pub fn audit_failed(now: DateTime<Utc>) -> Metrics {
    let mut m = Metrics::new("audit");
    m.set(AUDIT_LAST_RUN, &[], seconds(now));
    m.set(AUDIT_LAST_STATUS, &[], 0.0);
    m
}

/// Writes the metrics file and pushes, as the options say. Both are tried; the first error
/// is returned.
pub async fn publish(opts: &MetricsOptions, m: Metrics) -> Result<()> {
    publish_all(opts, vec![m]).await
}

/// [`publish`] for the runs of several clusters: one metrics file holds them all, and each
/// is pushed to its own group (a group's push replaces that cluster's series only).
pub async fn publish_all(opts: &MetricsOptions, runs: Vec<Metrics>) -> Result<()> {
    let mut first = None;
    if let Some(path) = &opts.file {
        let mut all = Metrics::default();
        for m in &runs {
            all.absorb(m.clone());
        }
        if let Ok(previous) = std::fs::read_to_string(path) {
            all.carry_over(&previous, BACKUP_LAST_SUCCESS, BACKUP_LAST_RUN);
            all.carry_over(&previous, VERIFY_LAST_SUCCESS, VERIFY_LAST_RUN);
        }
        if let Err(e) = write_file(path, &all.render()) {
            first = Some(e);
        }
    }
    if let Some(url) = &opts.pushgateway {
        for m in &runs {
            let r = push(url, m).await;
            if let (Err(e), None) = (r, &first) {
                first = Some(e);
            }
        }
    }
    first.map_or(Ok(()), Err)
}

/// Writes `text` to a temporary file beside `path`, then renames it over `path`, so the
/// textfile collector never reads half a file. Mode 0644: the collector must read it.
fn write_file(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let fail = |e| Error::io("cannot write the metrics file", path, e);
    let mut tmp = tempfile::Builder::new()
        .prefix(".trustkeep-metrics.")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(fail)?;
    tmp.write_all(text.as_bytes()).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    {
        use std::os::unix::fs::PermissionsExt;
        let perm = std::fs::Permissions::from_mode(0o644);
        tmp.as_file().set_permissions(perm).map_err(fail)?;
    }
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// The URL of the metrics' group: `/metrics/job/trustkeep/command/<cmd>[/<label>@base64/<v>]`.
pub fn group_url(base: &reqwest::Url, m: &Metrics) -> reqwest::Url {
    use base64::Engine;
    let mut path = base.path().trim_end_matches('/').to_string();
    let _ = write!(path, "/metrics/job/trustkeep/command/{}", m.command);
    for (k, v) in &m.group {
        let b64 = base64::engine::general_purpose::URL_SAFE.encode(v);
        let _ = write!(path, "/{k}@base64/{b64}");
    }
    let mut url = base.clone();
    url.set_path(&path);
    url
}

/// The URL without credentials, for messages.
fn redacted(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.set_query(None);
    u.to_string()
}

/// POSTs the metrics to their group (replacing only the families sent).
async fn push(base: &reqwest::Url, m: &Metrics) -> Result<()> {
    let url = group_url(base, m);
    let fail = |message: String| Error::Metrics {
        target: redacted(&url),
        message,
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .map_err(|e| fail(format!("cannot build an HTTP client: {e}")))?;
    let resp = client
        .post(url.clone())
        .header("content-type", "text/plain; version=0.0.4")
        .body(m.render())
        .send()
        .await
        .map_err(|e| fail(format!("cannot reach the Pushgateway: {}", e.without_url())))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        let body: String = body.chars().take(200).collect();
        return Err(fail(format!(
            "the Pushgateway answered {status}: {}; is --pushgateway the gateway's base URL?",
            body.trim()
        )));
    }
    Ok(())
}

/// Every family name this module can write (for the docs test).
#[cfg(test)]
fn all_names() -> std::collections::BTreeSet<&'static str> {
    [
        BUILD_INFO,
        BACKUP_LAST_SUCCESS,
        BACKUP_LAST_RUN,
        BACKUP_LAST_STATUS,
        BACKUP_DURATION,
        BACKUP_SECRETS,
        BACKUP_BYTES,
        BACKUP_SIGNED,
        CERT_NOT_AFTER,
        AUDIT_LAST_RUN,
        AUDIT_LAST_STATUS,
        AUDIT_ERRORS,
        AUDIT_WARNINGS,
        VERIFY_LAST_RUN,
        VERIFY_LAST_SUCCESS,
        VERIFY_LAST_STATUS,
        VERIFY_ARCHIVES,
        VERIFY_UNREADABLE,
        VERIFY_ERRORS,
        VERIFY_WARNINGS,
        VERIFY_SIGNED,
        VERIFY_REFUSED,
    ]
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_escaped_labels_and_carries_the_last_success_over() {
        let mut m = Metrics::new("backup");
        m.set(BACKUP_LAST_STATUS, &[("cluster", "a\"b\\c\nd".into())], 0.0);
        let text = m.render();
        assert!(
            text.contains(r#"trustkeep_backup_last_status{cluster="a\"b\\c\nd"} 0"#),
            "{text}"
        );
        assert!(text.contains("# TYPE trustkeep_build_info gauge"));
        let previous =
            "# HELP x\ntrustkeep_backup_last_success_timestamp_seconds{cluster=\"m\"} 1700000000\n\
             trustkeep_backup_last_success_timestamp_seconds_extra 5\n";
        m.carry_over(previous, BACKUP_LAST_SUCCESS, BACKUP_LAST_RUN);
        assert!(
            !m.render().contains("1700000000"),
            "no attempt, nothing kept"
        );
        m.set(BACKUP_LAST_RUN, &[("cluster", "m".into())], 3.0);
        m.carry_over(previous, BACKUP_LAST_SUCCESS, BACKUP_LAST_RUN);
        let text = m.render();
        assert!(text.contains(
            "trustkeep_backup_last_success_timestamp_seconds{cluster=\"m\"} 1700000000\n"
        ));
        assert!(!text.contains("_extra"), "{text}");
        // A run that has its own value does not take the old one.
        let mut fresh = Metrics::new("backup");
        fresh.set(BACKUP_LAST_RUN, &[("cluster", "m".into())], 2.0);
        fresh.set(BACKUP_LAST_SUCCESS, &[("cluster", "m".into())], 2.0);
        fresh.carry_over(previous, BACKUP_LAST_SUCCESS, BACKUP_LAST_RUN);
        assert!(!fresh.render().contains("1700000000"));
        // Runs of several clusters share one file; each keeps its own last success.
        let mut other = Metrics::new("backup");
        other.set(BACKUP_LAST_RUN, &[("cluster", "n".into())], 2.0);
        fresh.absorb(other);
        let text = fresh.render();
        assert_eq!(text.matches("# TYPE trustkeep_backup_last_run").count(), 1);
        assert!(text.contains("trustkeep_backup_last_run_timestamp_seconds{cluster=\"n\"} 2"));
    }

    #[test]
    fn common_names_and_group_urls() {
        assert_eq!(common_name("CN=relay-root-ca, O=Solo"), "relay-root-ca");
        assert_eq!(common_name("O=Solo"), "");
        let mut m = Metrics::new("backup");
        m.group.push(("cluster", "arn:aws/x".into()));
        let base: reqwest::Url = "http://u:p@127.0.0.1:9091/gw/".parse().unwrap();
        assert_eq!(
            group_url(&base, &m).path(),
            "/gw/metrics/job/trustkeep/command/backup/cluster@base64/YXJuOmF3cy94"
        );
        assert_eq!(redacted(&base), "http://127.0.0.1:9091/gw/");
        assert!(help(CERT_NOT_AFTER).contains("notAfter"));
        assert!(all_names().iter().all(|n| help(n) != "trustkeep metric."));
    }

    #[test]
    fn operations_docs_name_every_metric() {
        let docs = include_str!("../docs/operations.md");
        for n in all_names() {
            assert!(
                docs.contains(&format!("`{n}`")),
                "docs/operations.md lacks `{n}`"
            );
        }
    }
}
