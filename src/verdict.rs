//! The verdicts of the checks as reports: [`AuditReport`] (what `audit` prints and `verify`
//! gives per archive, the auditor's report and the metrics read) and [`VerifyReport`] (every
//! archive's integrity and checks). It owns the report model and the exit status a report
//! means; the checks themselves are [`crate::checks`], the text and JSON renderings are the
//! verbs' and [`crate::present`]'s.

use serde::Serialize;

use crate::checks::{self, CertificateRow, CheckOptions, CheckResult, Setup};
use crate::findings::{Finding, Severity};
use crate::snapshot::Snapshot;
use crate::trust_policy::Provenance;
use crate::Outcome;

/// A live cluster that could not be read; the others are audited all the same.
#[derive(Clone, Debug, Serialize)]
pub struct Unreadable {
    pub cluster: String,
    pub error: String,
}

/// The JSON report of `audit` and `verify` (documented in docs/checks.md).
#[derive(Debug, Serialize)]
pub struct AuditReport {
    pub ok: bool,
    pub errors: usize,
    pub warnings: usize,
    pub findings: Vec<Finding>,
    pub certificates: Vec<CertificateRow>,
    /// One line per cluster and secret: role and worst severity.
    pub secrets: Vec<SecretStatus>,
    /// Clusters that could not be read (exit status 2).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<Unreadable>,
    /// The relay mode, certificate architecture and CA placement (docs/checks.md, "The shape
    /// of the setup").
    pub setup: Option<Setup>,
}

/// The summary line of one secret.
#[derive(Clone, Debug, Serialize)]
pub struct SecretStatus {
    pub cluster: String,
    pub secret: String,
    pub role: String,
    /// `pass`, `warn` or `fail`.
    pub status: &'static str,
}

/// Exit status: 2 when a cluster could not be read, else 1 on problems.
impl AuditReport {
    /// A report of findings about no secret (an archive refused before decryption).
    pub fn of_findings(findings: Vec<Finding>, strict: bool) -> AuditReport {
        let mut r = crate::findings::Report::default();
        r.extend(findings);
        AuditReport {
            ok: r.ok(strict),
            errors: r.errors(),
            warnings: r.warnings(),
            findings: r.findings,
            certificates: Vec::new(),
            secrets: Vec::new(),
            unreadable: Vec::new(),
            setup: None,
        }
    }

    pub fn outcome(&self) -> Outcome {
        if self.unreadable.is_empty() {
            Outcome::from_ok(self.ok)
        } else {
            Outcome::Incomplete
        }
    }
}

/// Checks snapshots and builds the report.
pub fn check(snapshots: &[Snapshot], opts: &CheckOptions, strict: bool) -> AuditReport {
    let result = checks::check(snapshots, opts);
    report(snapshots, result, strict)
}

/// [`check`], with signature verdicts shared through `sig` (see [`checks::check_with`]).
pub(crate) fn check_with(
    snapshots: &[Snapshot],
    opts: &CheckOptions,
    strict: bool,
    sig: &crate::pki::RunCache,
) -> AuditReport {
    let result = checks::check_with(snapshots, opts, sig);
    report(snapshots, result, strict)
}

/// Turns check results into the report.
pub fn report(snapshots: &[Snapshot], result: CheckResult, strict: bool) -> AuditReport {
    let CheckResult {
        report,
        certificates,
        setup,
    } = result;
    let mut secrets = Vec::new();
    for s in snapshots {
        for sel in &s.secrets {
            let id = sel.record.id.to_string();
            let status = match report.worst_for(Some(&s.cluster), &id) {
                Some(Severity::Error) => "fail",
                Some(Severity::Warning) => "warn",
                _ => "pass",
            };
            secrets.push(SecretStatus {
                cluster: s.cluster.clone(),
                secret: id,
                role: sel.role.to_string(),
                status,
            });
        }
    }
    AuditReport {
        ok: report.ok(strict),
        errors: report.errors(),
        warnings: report.warnings(),
        findings: report.findings,
        certificates,
        secrets,
        unreadable: Vec::new(),
        setup,
    }
}

/// The `integrity` of an archive the trust policy refused: it was not decrypted.
pub const NOT_CHECKED: &str = "not checked: origin refused";

/// The verdict on one archive.
#[derive(Debug, Serialize)]
pub struct ArchiveResult {
    pub archive: String,
    /// `ok`, `not checked: origin refused`, or why the archive could not be read.
    pub integrity: String,
    /// Who signed the archive and whether the trust policy admits it (absent when the
    /// archive could not be read at all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Provenance>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<AuditReport>,
}

impl ArchiveResult {
    /// Could not be read (exit status 2); an archive the policy refused is a finding instead.
    pub fn unreadable(&self) -> bool {
        self.integrity != "ok" && self.integrity != NOT_CHECKED
    }
}

/// The verdict on all archives.
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    /// Archives that could not be read (exit status 2).
    pub unreadable: usize,
    pub errors: usize,
    pub warnings: usize,
    pub archives: Vec<ArchiveResult>,
    /// With `--together`: the checks over all archives as one setup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub together: Option<AuditReport>,
}

/// Exit status: 2 when an archive could not be read, else 1 on problems.
impl VerifyReport {
    pub fn outcome(&self) -> Outcome {
        if self.unreadable > 0 {
            Outcome::Incomplete
        } else {
            Outcome::from_ok(self.ok)
        }
    }
}
