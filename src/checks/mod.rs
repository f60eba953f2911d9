//! The checks run by `audit`, `verify` and before a restore: over one or more clusters'
//! snapshots, they collect [`Finding`]s instead of stopping at the first problem.
//!
//! Per secret: PEM parsing, key↔certificate match, validity window, signature chains, CA
//! constraints, weak crypto and the Gloo Mesh certificate profiles. Across secrets and
//! clusters: the relay server, signing CA and every agent share the management cluster's
//! relay root; every workload `cacerts` chains to a root-trust root of the management cluster;
//! tokens agree. Check ids are stable and documented in docs/checks.md. The checks do not
//! care where a snapshot came from (file, live cluster, archive) and never print secret values.
//!
//! This file is the entry point: the options, the result, and [`check`], which runs the
//! others in order. Parsing a secret is `parse.rs` (the one `pem.parse` finding,
//! `pem_parse_finding`; the `key.parse` one is `pki::parse_key`: `backup` and `import`
//! report them through these functions), the checks of each certificate and key `cert.rs`,
//! what each Gloo Mesh role's certificates must look like `roles.rs`, chains and trust anchors
//! `chains.rs`, `cacerts`' CRLs `crl.rs`, the lint profile `lint.rs` and the shape of the setup `setup.rs`. Nothing here
//! checks a certificate itself.

mod cert;
mod chains;
mod crl;
mod lint;
mod parse;
mod roles;
mod setup;
pub use lint::{lint_cert, LintUse};
pub(crate) use parse::pem_parse_finding;
pub use setup::{Architecture, CaKey, ModeSource, Placement, Setup};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::check_id::CheckId;
use crate::findings::{Finding, Report, Severity};
use crate::gloo::{ClusterKind, Role};
use crate::pki::{self, CertSummary};
use crate::snapshot::Snapshot;
use roles::RoleCtx;

/// `--warn-days` when not given: certificates expiring within 30 days are warnings.
pub const DEFAULT_WARN_DAYS: u32 = 30;

/// What the checks need from the world.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// The time certificates are checked at.
    pub at: DateTime<Utc>,
    /// Certificates expiring within this many days are warnings.
    pub warn_days: u32,
    /// Leaf certificates valid for longer than this many days are `lint.validity-too-long`
    /// warnings (`--max-leaf-validity-days`); no bound when `None`.
    pub max_leaf_validity_days: Option<u32>,
    /// Warnings the user knows of and accepts (`--accept CHECK`): reported as info, so they
    /// no longer fail `--strict`. Errors are never accepted.
    pub accept: Vec<CheckId>,
    /// The name agents dial the relay server by (`--relay-authority`, or the profile's);
    /// `None`: Gloo's default, [`crate::gloo::DEFAULT_RELAY_AUTHORITY`].
    pub relay_authority: Option<String>,
}

impl CheckOptions {
    /// The defaults at time `at`: `--warn-days` 30, no validity bound.
    pub fn at(at: DateTime<Utc>) -> Self {
        CheckOptions {
            at,
            warn_days: DEFAULT_WARN_DAYS,
            max_leaf_validity_days: None,
            accept: Vec::new(),
            relay_authority: None,
        }
    }
}

/// One certificate seen, for the report.
#[derive(Clone, Debug, Serialize)]
pub struct CertificateRow {
    pub cluster: String,
    pub secret: String,
    pub key: String,
    /// Position in the PEM bundle.
    pub index: usize,
    #[serde(flatten)]
    pub summary: CertSummary,
}

/// Everything the checks found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckResult {
    pub report: Report,
    pub certificates: Vec<CertificateRow>,
    /// The relay mode, architecture and placement the checks saw.
    pub setup: Option<Setup>,
}

/// Where a finding is, as the checks go.
#[derive(Clone)]
pub(super) struct At<'a> {
    pub(super) cluster: &'a str,
    pub(super) secret: String,
}

impl At<'_> {
    /// Puts a finding made without a place (see [`pem_parse_finding`]) at this secret.
    pub(super) fn place(&self, f: Finding) -> Finding {
        f.cluster(self.cluster).secret(&self.secret)
    }
    pub(super) fn f(
        &self,
        severity: Severity,
        check: CheckId,
        key: Option<&str>,
        msg: impl Into<String>,
    ) -> Finding {
        let mut f = Finding::new(severity, check, msg)
            .cluster(self.cluster)
            .secret(&self.secret);
        if let Some(k) = key {
            f = f.key(k);
        }
        f
    }
}

/// Runs every check over the clusters given. The management cluster is the one holding
/// `relay-server-tls-secret` (or marked as management); the others are workload clusters whose
/// name is checked against their agent's certificate.
pub fn check(clusters: &[Snapshot], opts: &CheckOptions) -> CheckResult {
    check_with(clusters, opts, &pki::RunCache::default())
}

/// [`check`], with signature verdicts shared through `sig` beyond this call (`verify` shares
/// one over all the archives of a run: a store of one cluster's backups holds the same
/// certificates again and again, whose signatures are then verified once).
pub(crate) fn check_with(
    clusters: &[Snapshot],
    opts: &CheckOptions,
    sig: &pki::RunCache,
) -> CheckResult {
    let mut out = CheckResult::default();
    let mgmt = clusters
        .iter()
        .find(|c| c.secrets.iter().any(|s| s.role == Role::RelayServer))
        .or_else(|| clusters.iter().find(|c| c.kind == ClusterKind::Management));
    let mut parsed_all = Vec::new();
    for c in clusters {
        let mut per = Vec::new();
        for s in &c.secrets {
            let at = At {
                cluster: &c.cluster,
                secret: s.record.id.to_string(),
            };
            per.push(parse::parse_secret(&at, &s.record.data, &mut out, sig));
        }
        parsed_all.push(per);
    }
    let mgmt_index = mgmt.map(|m| {
        clusters
            .iter()
            .position(|c| std::ptr::eq(c, m))
            .expect("from the list")
    });
    let anchors = mgmt_index
        .map(|i| chains::anchors_of(&clusters[i], &parsed_all[i]))
        .unwrap_or_default();
    for (c, parsed) in clusters.iter().zip(&parsed_all) {
        out.report.extend(c.findings.iter().cloned());
        for (s, p) in c.secrets.iter().zip(parsed) {
            let at = At {
                cluster: &c.cluster,
                secret: s.record.id.to_string(),
            };
            cert::validity_and_crypto(&at, p, opts, &mut out.report, sig);
            cert::keys_match(&at, p, &mut out.report);
            cert::keys_present(&at, s.role, p, &mut out.report);
            cert::lints(&at, s.role, p, opts, &mut out.report);
            let ctx = RoleCtx {
                at: &at,
                p,
                cluster: &c.cluster,
                a: &anchors,
                token: s.record.get("token").map(|t| t.expose()),
                sig,
                authority: (opts.relay_authority.as_deref())
                    .unwrap_or(crate::gloo::DEFAULT_RELAY_AUTHORITY),
                now: opts.at,
            };
            roles::check_role(&ctx, s.role, &mut out.report);
        }
    }
    let seen = setup::Seen {
        relay_roots: &anchors.relay_roots,
        istio_roots: &anchors.root_trust,
        relay_signing: &anchors.relay_signing,
    };
    let (shape, findings) = setup::analyse(clusters, &parsed_all, mgmt_index, seen, sig);
    out.report.extend(findings);
    out.setup = Some(shape);
    accept(&mut out.report, &opts.accept);
    out.report.sort();
    out
}

/// Turns the warnings of the accepted check ids into info, saying so.
fn accept(report: &mut Report, accepted: &[CheckId]) {
    for f in &mut report.findings {
        if f.severity == Severity::Warning && accepted.iter().any(|a| f.check == *a) {
            f.severity = Severity::Info;
            f.message.push_str(" (accepted with --accept)");
        }
    }
}
