//! The one findings model shared by selection, `audit`, `verify`, `import` and the
//! pre-restore check.
//!
//! A [`Finding`] is a problem found in the secrets (not a failure of the tool): it has a
//! severity, a stable check id (documented in docs/checks.md), the cluster, secret and data key
//! concerned, and a message saying what was expected and what was found. A [`Report`]
//! collects them and decides the exit status.

use serde::{Deserialize, Serialize};

use crate::check_id::CheckId;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; never changes the exit status.
    Info,
    /// Something will break soon or is doubtful; exit status 1 only with `--strict`.
    Warning,
    /// Something is broken; exit status 1.
    Error,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One problem found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub severity: Severity,
    /// The cluster (or archive) the secret belongs to.
    #[serde(default)]
    pub cluster: Option<String>,
    /// `namespace/name` of the secret.
    #[serde(default)]
    pub secret: Option<String>,
    /// The data key concerned.
    #[serde(default)]
    pub key: Option<String>,
    /// Stable check id, e.g. `key.match` (see [`CheckId`] and docs/checks.md). Kept as text so
    /// archives written with ids this build does not know still read.
    pub check: String,
    pub message: String,
}

impl Finding {
    pub fn new(severity: Severity, check: CheckId, message: impl Into<String>) -> Self {
        Finding {
            severity,
            cluster: None,
            secret: None,
            key: None,
            check: check.as_str().to_string(),
            message: message.into(),
        }
    }
    pub fn error(check: CheckId, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, check, message)
    }
    pub fn warning(check: CheckId, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, check, message)
    }
    pub fn info(check: CheckId, message: impl Into<String>) -> Self {
        Self::new(Severity::Info, check, message)
    }
    pub fn cluster(mut self, cluster: impl Into<String>) -> Self {
        self.cluster = Some(cluster.into());
        self
    }
    pub fn secret(mut self, secret: impl ToString) -> Self {
        self.secret = Some(secret.to_string());
        self
    }
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
}

impl std::fmt::Display for Finding {
    /// One line; every string is escaped (see [`crate::render::escape`]) because clusters,
    /// files and archives supply them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::render::escape;
        write!(f, "{:<7} [{}]", self.severity, escape(&self.check))?;
        let mut at = String::new();
        if let Some(c) = &self.cluster {
            at.push_str(&escape(c));
        }
        if let Some(s) = &self.secret {
            if !at.is_empty() {
                at.push(':');
            }
            at.push_str(&escape(s));
        }
        if let Some(k) = &self.key {
            at.push('[');
            at.push_str(&escape(k));
            at.push(']');
        }
        if !at.is_empty() {
            write!(f, " {at}")?;
        }
        write!(f, ": {}", escape(&self.message))
    }
}

/// A list of findings and the verdict drawn from it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn push(&mut self, f: Finding) {
        self.findings.push(f);
    }
    pub fn extend(&mut self, fs: impl IntoIterator<Item = Finding>) {
        self.findings.extend(fs);
    }
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }
    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }
    /// True when nothing counts against the run (`strict` makes warnings count).
    pub fn ok(&self, strict: bool) -> bool {
        self.errors() == 0 && (!strict || self.warnings() == 0)
    }
    /// Worst severity found for one cluster/secret, for the summary tables.
    pub(crate) fn worst_for(&self, cluster: Option<&str>, secret: &str) -> Option<Severity> {
        self.findings
            .iter()
            .filter(|f| f.secret.as_deref() == Some(secret) && f.cluster.as_deref() == cluster)
            .map(|f| f.severity)
            .filter(|s| *s > Severity::Info)
            .max()
    }
    /// Sorts errors first, then by place, so output is stable.
    pub fn sort(&mut self) {
        self.findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.cluster.cmp(&b.cluster))
                .then_with(|| a.secret.cmp(&b.secret))
                .then_with(|| a.key.cmp(&b.key))
                .then_with(|| a.check.cmp(&b.check))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_and_display() {
        let mut r = Report::default();
        r.push(Finding::warning(CheckId::ValidityExpiring, "expires in 3 days").secret("ns/a"));
        assert!(r.ok(false));
        assert!(!r.ok(true));
        r.push(
            Finding::error(CheckId::KeyMatch, "tls.key does not match tls.crt")
                .cluster("mgmt")
                .secret("ns/a")
                .key("tls.key"),
        );
        assert!(!r.ok(false));
        r.sort();
        assert_eq!(r.findings[0].check, "key.match");
        assert!(r.findings[0].check == CheckId::KeyMatch);
        assert_eq!(
            r.findings[0].to_string(),
            "error   [key.match] mgmt:ns/a[tls.key]: tls.key does not match tls.crt"
        );
        assert_eq!(r.worst_for(Some("mgmt"), "ns/a"), Some(Severity::Error));
    }
}
