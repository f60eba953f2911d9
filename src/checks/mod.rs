//! The checks run by `audit`, `verify` and before a restore: over one or more clusters'
//! snapshots, they collect [`Finding`]s instead of stopping at the first problem.
//!
//! Per secret: PEM parsing, key↔certificate match, validity window, signature chains, CA
//! constraints, weak crypto and the Gloo Mesh certificate profiles. Across secrets and
//! clusters: the relay server, signing CA and every agent share the management cluster's
//! relay root; every workload `cacerts` chains to a root-trust root of the management cluster;
//! tokens agree. Check ids are stable and documented in docs/checks.md. The checks do not
//! care where a snapshot came from (file, live cluster, archive) and never print secret values.
//! The `pem.parse` finding is made here only ([`pem_parse_finding`]), the `key.parse` one in
//! [`crate::pki`] (`pki::parse_key`); `backup` and `import` report them through these functions.

use std::collections::BTreeMap;

mod lint;
mod setup;
pub use lint::{lint_cert, LintUse};
pub use setup::{Architecture, CaKey, ModeSource, Placement, Setup};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::check_id::CheckId;
use crate::findings::{Finding, Report, Severity};
use crate::pki::{self, Cert, CertSummary, ChainError};
use crate::select::{ClusterKind, Role};
use crate::snapshot::Snapshot;

/// The relay server's DNS name in the seed's profile.
pub(crate) const RELAY_SERVER_SAN: &str = "*.gloo-mesh";
/// The Istio intermediate's DNS name in the seed's profile.
pub(crate) const ISTIOD_SAN: &str = "istiod.istio-system.svc";

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
}

impl CheckOptions {
    /// The defaults at time `at`: `--warn-days` 30, no validity bound.
    pub fn at(at: DateTime<Utc>) -> Self {
        CheckOptions {
            at,
            warn_days: DEFAULT_WARN_DAYS,
            max_leaf_validity_days: None,
            accept: Vec::new(),
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

/// Certificates parsed from one secret's data, by key.
struct Parsed {
    /// Every data key of the secret, parsed or not.
    present: Vec<String>,
    certs: BTreeMap<String, Vec<Cert>>,
    keys: BTreeMap<String, pki::PrivateKey>,
}

/// The trust anchors of the management cluster, used for the cross-cluster checks.
#[derive(Default)]
struct Anchors {
    cluster: Option<String>,
    /// Every root of the relay root's bundle (several during a relay root rotation).
    relay_roots: Vec<Cert>,
    relay_signing: Vec<Cert>,
    root_trust: Vec<Cert>,
    token: Option<crate::secret::SecretBytes>,
}

/// Where a finding is, as the checks go.
#[derive(Clone)]
struct At<'a> {
    cluster: &'a str,
    secret: String,
}

impl At<'_> {
    /// Puts a finding made without a place (see [`pem_parse_finding`]) at this secret.
    fn place(&self, f: Finding) -> Finding {
        f.cluster(self.cluster).secret(&self.secret)
    }
    fn f(
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
    let mut out = CheckResult::default();
    let sig = pki::SignatureCache::default();
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
            per.push(parse_secret(&at, &s.record.data, &mut out));
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
        .map(|i| anchors_of(&clusters[i], &parsed_all[i]))
        .unwrap_or_default();
    for (c, parsed) in clusters.iter().zip(&parsed_all) {
        out.report.extend(c.findings.iter().cloned());
        for (s, p) in c.secrets.iter().zip(parsed) {
            let at = At {
                cluster: &c.cluster,
                secret: s.record.id.to_string(),
            };
            generic(&at, p, opts, &mut out.report, &sig);
            keys_match(&at, p, &mut out.report);
            keys_present(&at, s.role, p, &mut out.report);
            lints(&at, s.role, p, opts, &mut out.report);
            role(
                &at,
                s.role,
                p,
                &c.cluster,
                &anchors,
                &mut out.report,
                s.record.get("token").map(|t| t.expose()),
                &sig,
            );
        }
    }
    let seen = setup::Seen {
        relay_roots: &anchors.relay_roots,
        istio_roots: &anchors.root_trust,
        relay_signing: &anchors.relay_signing,
    };
    let (shape, findings) = setup::analyse(clusters, &parsed_all, mgmt_index, seen, &sig);
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

fn parse_secret(
    at: &At<'_>,
    data: &BTreeMap<String, crate::secret::SecretBytes>,
    out: &mut CheckResult,
) -> Parsed {
    let mut certs = BTreeMap::new();
    let mut keys = BTreeMap::new();
    for (k, v) in data {
        let bytes = v.expose();
        if pki::has_pem_certificate(bytes) {
            match pki::parse_certs(bytes) {
                Ok(cs) => {
                    for (i, c) in cs.iter().enumerate() {
                        out.certificates.push(CertificateRow {
                            cluster: at.cluster.to_string(),
                            secret: at.secret.clone(),
                            key: k.clone(),
                            index: i,
                            summary: c.summary(),
                        });
                    }
                    certs.insert(k.clone(), cs);
                }
                Err(e) => out.report.push(at.place(pem_parse_finding(k, e))),
            }
        } else if pki::has_pem_private_key(bytes) || (is_key_key(k) && !bytes.is_empty()) {
            match pki::parse_key(k, bytes) {
                Ok(key) => {
                    keys.insert(k.clone(), key);
                }
                Err(f) => out.report.push(at.place(*f)),
            }
        } else if is_cert_key(k) && !bytes.is_empty() {
            out.report.push(at.f(
                Severity::Error,
                CheckId::PemParse,
                Some(k),
                format!("{k} should hold a PEM certificate but holds none"),
            ));
        }
    }
    Parsed {
        present: data.keys().cloned().collect(),
        certs,
        keys,
    }
}

/// The `pem.parse` finding for data key `key`, whose value looks like a certificate PEM but
/// does not parse (`error` says why). The one wording of it, shared with `backup`; the caller
/// adds cluster and secret.
pub(crate) fn pem_parse_finding(key: &str, error: impl std::fmt::Display) -> Finding {
    Finding::error(
        CheckId::PemParse,
        format!("{key} holds a certificate PEM that does not parse: {error}"),
    )
    .key(key)
}

fn is_key_key(k: &str) -> bool {
    matches!(k, "tls.key" | "key.pem" | "ca-key.pem")
}

fn is_cert_key(k: &str) -> bool {
    matches!(
        k,
        "tls.crt" | "ca.crt" | "root-cert.pem" | "ca-cert.pem" | "cert-chain.pem"
    )
}

fn anchors_of(m: &Snapshot, parsed: &[Parsed]) -> Anchors {
    let mut a = Anchors {
        cluster: Some(m.cluster.clone()),
        ..Anchors::default()
    };
    let first = |p: &Parsed, k: &str| p.certs.get(k).and_then(|v| v.first().cloned());
    for (s, p) in m.secrets.iter().zip(parsed) {
        match s.role {
            Role::RelayRoot if a.relay_roots.is_empty() => {
                a.relay_roots = bundle(p, "ca.crt")
                    .or_else(|| bundle(p, "tls.crt").map(|b| b[..1].to_vec()))
                    .unwrap_or_default()
            }
            Role::RelaySigning => a.relay_signing.extend(first(p, "tls.crt")),
            // Every root of the bundle: during a rotation it holds the old and the new.
            Role::RootTrust => {
                let bundle = p
                    .certs
                    .get("root-cert.pem")
                    .or_else(|| p.certs.get("ca.crt"));
                for root in bundle.into_iter().flatten() {
                    if !a.root_trust.contains(root) {
                        a.root_trust.push(root.clone());
                    }
                }
            }
            Role::RelayIdentityToken => a.token = s.record.get("token").cloned(),
            _ => {}
        }
    }
    if a.relay_roots.is_empty() {
        // Without relay-root-tls-secret, the server's ca.crt is the best word on the root.
        if let Some((_, p)) = m
            .secrets
            .iter()
            .zip(parsed)
            .find(|(s, _)| s.role == Role::RelayServer)
        {
            a.relay_roots = bundle(p, "ca.crt").unwrap_or_default();
        }
    }
    a
}

/// Every certificate of data key `k`, when it holds any.
fn bundle(p: &Parsed, k: &str) -> Option<Vec<Cert>> {
    p.certs.get(k).filter(|v| !v.is_empty()).cloned()
}

/// `subject (sha256 prefix)` of each root, for messages.
fn describe_roots(roots: &[Cert]) -> String {
    let names: Vec<String> = roots
        .iter()
        .map(|r| {
            format!(
                "{} (sha256 {})",
                r.summary().subject,
                &r.fingerprint()[..16]
            )
        })
        .collect();
    names.join(", ")
}

/// Validity window and weak crypto for every certificate.
fn generic(
    at: &At<'_>,
    p: &Parsed,
    opts: &CheckOptions,
    report: &mut Report,
    sig: &pki::SignatureCache,
) {
    for (k, certs) in &p.certs {
        for c in certs {
            let x = c.x509();
            let name = x.subject().to_string();
            let (nb, na) = (
                pki::asn1_to_chrono(x.validity().not_before),
                pki::asn1_to_chrono(x.validity().not_after),
            );
            if opts.at > na {
                report.push(at.f(
                    Severity::Error,
                    CheckId::ValidityExpired,
                    Some(k),
                    format!(
                        "{name} expired on {} (checked at {})",
                        rfc(na),
                        rfc(opts.at)
                    ),
                ));
            } else if opts.at < nb {
                report.push(at.f(
                    Severity::Error,
                    CheckId::ValidityNotYetValid,
                    Some(k),
                    format!(
                        "{name} is not valid before {} (checked at {})",
                        rfc(nb),
                        rfc(opts.at)
                    ),
                ));
            } else if na - opts.at <= Duration::days(opts.warn_days as i64) {
                let days = (na - opts.at).num_days();
                report.push(at.f(
                    Severity::Warning,
                    CheckId::ValidityExpiring,
                    Some(k),
                    format!(
                        "{name} expires on {} ({days} days after {}; warning threshold {} days)",
                        rfc(na),
                        rfc(opts.at),
                        opts.warn_days
                    ),
                ));
            }
            if let Ok(pk) = c.public_key() {
                if let pki::PublicKeyId::Rsa { .. } = pk {
                    if pk.bits() < 2048 {
                        report.push(at.f(
                            Severity::Error,
                            CheckId::CryptoWeakKey,
                            Some(k),
                            format!(
                                "{name} has a {} key; at least RSA 2048 is expected",
                                pk.describe()
                            ),
                        ));
                    }
                }
            } else {
                report.push(at.f(
                    Severity::Warning,
                    CheckId::CryptoKeyType,
                    Some(k),
                    format!("{name} has a key of an unsupported type"),
                ));
            }
            if pki::is_sha1_signature(&x) && !sig.issued_by(c, c) {
                report.push(at.f(
                    Severity::Error,
                    CheckId::CryptoSha1,
                    Some(k),
                    format!("{name} is signed with SHA-1, which Go (Gloo Mesh, Istio) refuses: no chain through it verifies; reissue it with SHA-256"),
                ));
            }
        }
    }
}

/// The lint profile ([`lint`]) over every certificate of the secret, as warnings.
fn lints(at: &At<'_>, role: Role, p: &Parsed, opts: &CheckOptions, report: &mut Report) {
    for (k, certs) in &p.certs {
        for (i, c) in certs.iter().enumerate() {
            let leaf = i == 0 && k == "tls.crt";
            let usage = LintUse {
                relay_leaf: leaf && matches!(role, Role::RelayServer | Role::RelayClient),
                client: leaf && role == Role::RelayClient,
                max_leaf_days: opts.max_leaf_validity_days,
            };
            for (id, msg) in lint_cert(c, usage) {
                report.push(at.f(Severity::Warning, id, Some(k), msg));
            }
        }
    }
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The private key ↔ certificate pairs a secret can hold.
const PAIRS: &[(&str, &[&str])] = &[
    ("tls.key", &["tls.crt", "ca.crt"]),
    ("key.pem", &["root-cert.pem", "ca.crt"]),
    ("ca-key.pem", &["ca-cert.pem"]),
];

/// The private key a certificate key must have beside it, for the roles that hold keys.
/// `intermediate_form`: the secret holds `ca-cert.pem` (see [`root_trust`]).
fn expected_key(role: Role, cert_key: &str, intermediate_form: bool) -> Option<&'static str> {
    match (role, cert_key) {
        (Role::RelayServer | Role::RelaySigning | Role::RelayClient, "tls.crt") => Some("tls.key"),
        // A root-trust secret holds the root and its key, or (a root kept outside the
        // cluster) an intermediate CA Gloo signs with, in the cacerts keys.
        (Role::RootTrust, "root-cert.pem") if !intermediate_form => Some("key.pem"),
        (Role::RootTrust, "ca-cert.pem") => Some("ca-key.pem"),
        (Role::IstioCacerts, "ca-cert.pem") => Some("ca-key.pem"),
        _ => None,
    }
}

/// A certificate whose role needs its private key beside it, without one.
fn keys_present(at: &At<'_>, role: Role, p: &Parsed, report: &mut Report) {
    let intermediate_form = p.present.iter().any(|k| k == "ca-cert.pem");
    for cert_key in p.certs.keys() {
        if let Some(key) = expected_key(role, cert_key, intermediate_form) {
            if !p.present.iter().any(|k| k == key) {
                report.push(at.f(Severity::Error, CheckId::KeyMissing, Some(key), format!("{cert_key} has no private key beside it: {key} is missing; Gloo Mesh cannot use the certificate without it")));
            }
        }
    }
}

fn keys_match(at: &At<'_>, p: &Parsed, report: &mut Report) {
    for (key_name, key) in &p.keys {
        let candidates = PAIRS
            .iter()
            .find(|(k, _)| k == key_name)
            .map(|(_, c)| *c)
            .unwrap_or(&[]);
        // The first candidate the secret holds; if it holds it but it did not parse, that
        // was reported already and there is nothing sound to compare with.
        let Some(cert_key) = candidates
            .iter()
            .find(|c| p.present.iter().any(|k| k == **c))
        else {
            report.push(at.f(
                Severity::Warning,
                CheckId::KeyMatch,
                Some(key_name),
                format!(
                    "{key_name} has no certificate beside it to match (expected one of {})",
                    candidates.join(", ")
                ),
            ));
            continue;
        };
        let Some(cert) = first(p, cert_key) else {
            continue;
        };
        if !key.matches(cert) {
            let s = cert.summary();
            report.push(at.f(
                Severity::Error,
                CheckId::KeyMatch,
                Some(key_name),
                format!("{key_name} ({}) does not match the certificate in {cert_key} ({}, {}); expected the key of that certificate", key.public.describe(), s.subject, s.key),
            ));
        }
    }
}

fn first<'p>(p: &'p Parsed, k: &str) -> Option<&'p Cert> {
    p.certs.get(k).and_then(|v| v.first())
}

fn rest(p: &Parsed, k: &str) -> Vec<Cert> {
    p.certs.get(k).map(|v| v[1..].to_vec()).unwrap_or_default()
}

fn chain_finding(at: &At<'_>, key: &str, check: CheckId, what: &str, e: &ChainError) -> Finding {
    at.f(Severity::Error, check, Some(key), format!("{what}: {e}"))
}

/// What a certificate of a Gloo Mesh role must look like (the seed's profiles).
#[derive(Default)]
struct Profile {
    ca: bool,
    dns: Option<String>,
    server_auth: bool,
    pathlen0: bool,
}

impl Profile {
    fn ca() -> Self {
        Profile {
            ca: true,
            ..Default::default()
        }
    }
    fn leaf(dns: &str) -> Self {
        Profile {
            dns: Some(dns.to_string()),
            ..Default::default()
        }
    }
}

fn profile(at: &At<'_>, key: &str, c: &Cert, want: Profile, check: CheckId, report: &mut Report) {
    let x = c.x509();
    let name = x.subject().to_string();
    let bc = x
        .basic_constraints()
        .ok()
        .flatten()
        .map(|b| b.value.clone());
    let is_ca = bc.as_ref().map(|b| b.ca).unwrap_or(false);
    if want.ca && !is_ca {
        report.push(at.f(
            Severity::Error,
            CheckId::CaConstraints,
            Some(key),
            format!("{name} must be a CA (basicConstraints CA:TRUE) but is not"),
        ));
    }
    if !want.ca && is_ca {
        report.push(at.f(
            Severity::Error,
            CheckId::CaConstraints,
            Some(key),
            format!("{name} is a leaf certificate but has CA:TRUE"),
        ));
    }
    if want.ca {
        let kcs = x
            .key_usage()
            .ok()
            .flatten()
            .map(|k| k.value.key_cert_sign());
        if kcs == Some(false) {
            report.push(at.f(
                Severity::Error,
                CheckId::CaConstraints,
                Some(key),
                format!("{name} is a CA but its keyUsage lacks keyCertSign"),
            ));
        }
    }
    if want.pathlen0 {
        let pl = bc.and_then(|b| b.path_len_constraint);
        if is_ca && pl != Some(0) {
            report.push(at.f(
                Severity::Error,
                check,
                Some(key),
                format!(
                    "{name} must have pathlen:0 (found {})",
                    pl.map(|p| p.to_string()).unwrap_or_else(|| "none".into())
                ),
            ));
        }
    }
    if let Some(dns) = &want.dns {
        let names = pki::dns_names(&x);
        if !names.iter().any(|n| n == dns) {
            report.push(at.f(
                Severity::Error,
                check,
                Some(key),
                format!(
                    "{name} must have DNS SAN {dns}, found [{}]",
                    names.join(", ")
                ),
            ));
        }
    }
    if want.server_auth {
        if let Ok(Some(eku)) = x.extended_key_usage() {
            if !eku.value.server_auth && !eku.value.any {
                report.push(at.f(
                    Severity::Error,
                    check,
                    Some(key),
                    format!("{name} lacks extendedKeyUsage serverAuth"),
                ));
            }
        }
    }
}

fn self_signed_ca(
    at: &At<'_>,
    key: &str,
    c: &Cert,
    check: CheckId,
    report: &mut Report,
    sig: &pki::SignatureCache,
) {
    let x = c.x509();
    if !sig.issued_by(c, c) {
        report.push(at.f(
            Severity::Error,
            check,
            Some(key),
            format!(
                "{} must be a self-signed root but is issued by {}",
                x.subject(),
                x.issuer()
            ),
        ));
    }
    // A version 1 root has no extensions to check: as a trust anchor it is a name and a key
    // (Go, webpki and openssl accept it).
    if x.version() != x509_parser::x509::X509Version::V1 {
        profile(at, key, c, Profile::ca(), check, report);
    }
}

#[allow(clippy::too_many_arguments)]
fn role(
    at: &At<'_>,
    role: Role,
    p: &Parsed,
    cluster: &str,
    a: &Anchors,
    report: &mut Report,
    token: Option<&[u8]>,
    sig: &pki::SignatureCache,
) {
    let c = RoleCtx {
        at,
        p,
        cluster,
        a,
        token,
        sig,
    };
    match role {
        Role::RelayServer => relay_server(&c, report),
        Role::RelaySigning => relay_signing(&c, report),
        Role::RelayRoot => relay_root(&c, report),
        Role::RelayClient => relay_client(&c, report),
        Role::RootTrust => root_trust(&c, report),
        Role::IstioCacerts => istio_cacerts(&c, report),
        Role::RelayIdentityToken => relay_identity_token(&c, report),
        Role::Included => {}
    }
}

/// What the per-role checks read: where findings go, the secret's parsed values, its
/// cluster, the management cluster's anchors and token, and the signature cache.
#[derive(Clone, Copy)]
struct RoleCtx<'c> {
    at: &'c At<'c>,
    p: &'c Parsed,
    cluster: &'c str,
    a: &'c Anchors,
    token: Option<&'c [u8]>,
    sig: &'c pki::SignatureCache,
}

impl RoleCtx<'_> {
    /// Whether the secret is in the management cluster itself.
    fn same_cluster(&self) -> bool {
        self.a.cluster.as_deref() == Some(self.cluster)
    }
}

fn relay_server(c: &RoleCtx<'_>, report: &mut Report) {
    let RoleCtx { at, p, a, sig, .. } = *c;
    let Some(leaf) = first(p, "tls.crt") else {
        return;
    };
    profile(
        at,
        "tls.crt",
        leaf,
        Profile {
            server_auth: true,
            ..Profile::leaf(RELAY_SERVER_SAN)
        },
        CheckId::RoleRelayServer,
        report,
    );
    chain_to_own_ca(at, p, "tls.crt", report, sig);
    if let (false, Some(ca)) = (a.relay_roots.is_empty(), first(p, "ca.crt")) {
        if !a.relay_roots.contains(ca) {
            report.push(at.f(Severity::Error, CheckId::TrustRelayRoot, Some("ca.crt"), format!("ca.crt ({}) is not the relay root of relay-root-tls-secret ({}); server and agents must share one root", ca.summary().sha256, describe_roots(&a.relay_roots))));
        }
    }
    chain_to_relay_root(at, p, a, "the relay server certificate", report, sig);
}

fn relay_signing(c: &RoleCtx<'_>, report: &mut Report) {
    let RoleCtx { at, p, a, sig, .. } = *c;
    let Some(leaf) = first(p, "tls.crt") else {
        return;
    };
    profile(
        at,
        "tls.crt",
        leaf,
        Profile::ca(),
        CheckId::RoleRelaySigning,
        report,
    );
    chain_to_own_ca(at, p, "tls.crt", report, sig);
    chain_to_relay_root(at, p, a, "the relay signing CA", report, sig);
}

fn relay_root(c: &RoleCtx<'_>, report: &mut Report) {
    let RoleCtx { at, p, a, sig, .. } = *c;
    let same_cluster = c.same_cluster();
    let key = if p.certs.contains_key("ca.crt") {
        "ca.crt"
    } else {
        "tls.crt"
    };
    let Some(root) = first(p, key) else { return };
    self_signed_ca(at, key, root, CheckId::RoleRelayRoot, report, sig);
    // The root's key must match the root certificate, wherever the secret keeps it.
    if let (Some(k), true) = (
        p.keys.get("tls.key"),
        key == "ca.crt" && p.certs.contains_key("tls.crt"),
    ) {
        if !k.matches(root) {
            report.push(at.f(Severity::Error, CheckId::KeyMatch, Some("tls.key"), format!("tls.key ({}) does not match the relay root in ca.crt ({}); the relay root cannot sign with it", k.public.describe(), root.summary().subject)));
        }
    }
    if let (Some(tls), true) = (first(p, "tls.crt"), key == "ca.crt") {
        if tls != root {
            report.push(at.f(
                Severity::Warning,
                CheckId::RoleRelayRoot,
                Some("tls.crt"),
                "tls.crt differs from ca.crt in the relay root secret",
            ));
        }
    }
    if !same_cluster && !a.relay_roots.is_empty() && !a.relay_roots.contains(root) {
        report.push(at.f(
            Severity::Error,
            CheckId::TrustRelayRoot,
            Some(key),
            format!(
                "this cluster's relay root ({}, sha256 {}) is not the management cluster's ({})",
                root.summary().subject,
                root.fingerprint(),
                describe_roots(&a.relay_roots)
            ),
        ));
    }
}

fn relay_client(c: &RoleCtx<'_>, report: &mut Report) {
    let RoleCtx {
        at,
        p,
        cluster,
        a,
        sig,
        ..
    } = *c;
    let Some(leaf) = first(p, "tls.crt") else {
        return;
    };
    profile(
        at,
        "tls.crt",
        leaf,
        Profile::leaf(cluster),
        CheckId::RoleRelayClient,
        report,
    );
    chain_to_own_ca(at, p, "tls.crt", report, sig);
    if !a.relay_roots.is_empty() {
        let mut inter = rest(p, "tls.crt");
        inter.extend(a.relay_signing.iter().cloned());
        let anchors = &a.relay_roots;
        // As the relay server verifies agents: for client authentication.
        let usage = pki::Usage::ClientAuth;
        match pki::verify_chain_cached(leaf, &inter, anchors, None, usage, sig) {
            Err(e) => report.push(chain_finding(
                at,
                "tls.crt",
                CheckId::TrustRelayRoot,
                "the agent certificate does not chain to the management cluster's relay root",
                &e,
            )),
            Ok(chain) => {
                if anchors.len() > 1 {
                    report.push(rotation_finding(at, "tls.crt", "relay", anchors, &chain));
                }
                if !a.relay_signing.is_empty()
                    && !chain.path.iter().any(|c| a.relay_signing.contains(c))
                {
                    report.push(at.f(Severity::Error, CheckId::RoleRelayClient, Some("tls.crt"), "the agent certificate is not issued through the relay signing CA of relay-tls-signing-secret"));
                }
            }
        }
    }
}

/// A root-trust secret: the root (`root-cert.pem` with `key.pem`) Gloo signs Istio
/// intermediates with, or, when the root is kept outside the cluster (the seed's hybrid
/// placement), an intermediate CA in the cacerts keys (`ca-cert.pem`, `ca-key.pem`,
/// `cert-chain.pem`) that must chain to the root in `root-cert.pem`.
fn root_trust(c: &RoleCtx<'_>, report: &mut Report) {
    let RoleCtx { at, p, sig, .. } = *c;
    let key = if p.certs.contains_key("root-cert.pem") {
        "root-cert.pem"
    } else {
        "ca.crt"
    };
    let Some(root) = first(p, key) else { return };
    self_signed_ca(at, key, root, CheckId::RoleRootTrust, report, sig);
    let Some(ca) = first(p, "ca-cert.pem") else {
        return;
    };
    profile(
        at,
        "ca-cert.pem",
        ca,
        Profile::ca(),
        CheckId::RoleRootTrust,
        report,
    );
    let roots = p.certs.get(key).map(Vec::as_slice).unwrap_or_default();
    let chain = rest(p, "cert-chain.pem");
    match pki::verify_chain_cached(ca, &chain, roots, None, pki::Usage::Any, sig) {
        Err(e) => report.push(chain_finding(
            at,
            "ca-cert.pem",
            CheckId::ChainVerify,
            &format!("ca-cert.pem does not chain to {key}"),
            &e,
        )),
        Ok(chain) => aki_findings(at, "ca-cert.pem", &chain, report),
    }
}

/// The data keys of one of the two `cacerts` forms istiod loads.
struct CacertsForm {
    cert: &'static str,
    root: &'static str,
    /// `cert-chain.pem` of the plug-in form; the `tls.crt` bundle of the other.
    chain: &'static str,
}

/// The plug-in keys when `ca-cert.pem` is there, else `tls.crt`/`tls.key`/`ca.crt` (Istio
/// accepts both); `None` when neither certificate is.
fn cacerts_form(p: &Parsed) -> Option<CacertsForm> {
    if p.present.iter().any(|k| k == "ca-cert.pem") {
        Some(CacertsForm {
            cert: "ca-cert.pem",
            root: "root-cert.pem",
            chain: "cert-chain.pem",
        })
    } else if p.present.iter().any(|k| k == "tls.crt") {
        Some(CacertsForm {
            cert: "tls.crt",
            root: "ca.crt",
            chain: "tls.crt",
        })
    } else {
        None
    }
}

/// istiod's own check of plugged-in certificates: the CA certificate is a CA (an end-entity
/// certificate there is named as the mistake), its chain leads to the root, which may be a
/// bundle of several roots (during a rotation); then the federation with the management
/// cluster's root-trust roots.
fn istio_cacerts(c: &RoleCtx<'_>, report: &mut Report) {
    let RoleCtx { at, p, a, sig, .. } = *c;
    let err =
        |key: &str, msg: String| at.f(Severity::Error, CheckId::RoleIstioCacerts, Some(key), msg);
    let Some(form) = cacerts_form(p) else {
        report.push(err(
            "ca-cert.pem",
            "cacerts has neither ca-cert.pem nor tls.crt, the two forms istiod loads".into(),
        ));
        return;
    };
    let Some(ca) = first(p, form.cert) else {
        return; // present but unparsable: pem.parse said so
    };
    if !ca.x509().is_ca() {
        report.push(err(form.cert, format!("{} is an end-entity certificate, not a CA: istiod refuses it (\"certificate is not authorized to sign other certificates\"); put the Istio intermediate CA here, not a workload or server certificate", form.cert)));
    }
    profile(
        at,
        form.cert,
        ca,
        Profile {
            ca: true,
            pathlen0: true,
            ..Profile::leaf(ISTIOD_SAN)
        },
        CheckId::RoleIstioCacerts,
        report,
    );
    let roots: Vec<Cert> = p.certs.get(form.root).cloned().unwrap_or_default();
    let chain_rest = rest(p, form.chain);
    if roots.is_empty() {
        report.push(err(form.root, format!("cacerts has no {}", form.root)));
    } else {
        match pki::verify_chain_cached(ca, &chain_rest, &roots, None, pki::Usage::Any, sig) {
            Err(e) => report.push(chain_finding(
                at,
                form.cert,
                CheckId::ChainVerify,
                &format!("{} does not chain to {}", form.cert, form.root),
                &e,
            )),
            Ok(chain) => aki_findings(at, form.cert, &chain, report),
        }
    }
    if let (Some(chain), "cert-chain.pem") = (p.certs.get(form.chain), form.chain) {
        if chain.first() != Some(ca) {
            report.push(err(
                "cert-chain.pem",
                "cert-chain.pem must start with ca-cert.pem".into(),
            ));
        }
        if !roots.is_empty() && !chain.last().is_some_and(|l| roots.contains(l)) {
            report.push(err(
                "cert-chain.pem",
                "cert-chain.pem must end with a root of root-cert.pem".into(),
            ));
        }
    }
    if !a.root_trust.is_empty() {
        let verified =
            pki::verify_chain_cached(ca, &chain_rest, &a.root_trust, None, pki::Usage::Any, sig);
        if let (Ok(chain), true) = (&verified, a.root_trust.len() > 1) {
            report.push(rotation_finding(
                at,
                form.cert,
                "Istio",
                &a.root_trust,
                chain,
            ));
        }
        if let Err(e) = verified {
            let roots = describe_roots(&a.root_trust);
            report.push(chain_finding(at, form.cert, CheckId::TrustIstioRoot, &format!("the Istio intermediate does not chain to the management cluster's root-trust root {roots}; meshes will not trust each other"), &e));
        }
    }
}

/// Which of several trusted roots (a rotation of the `what` roots: relay or Istio) a verified
/// chain ends in, and whether it is the newest.
fn rotation_finding(
    at: &At<'_>,
    key: &str,
    what: &str,
    roots: &[Cert],
    chain: &pki::Chain,
) -> Finding {
    let newest = roots.iter().max_by_key(|r| r.summary().not_before);
    let used = chain.path.last();
    let describe = |r: &Cert| {
        let s = r.summary();
        format!("{} (issued {})", s.subject, s.not_before.format("%Y-%m-%d"))
    };
    let which = match (used, newest) {
        (Some(u), Some(n)) if u == n => "the newest root".to_string(),
        (Some(_), Some(n)) => format!(
            "an older root: re-issue it from the newest, {}, before the old root is removed",
            describe(n)
        ),
        _ => "an unknown root".to_string(),
    };
    let used = used.map(describe).unwrap_or_default();
    at.f(
        Severity::Info,
        CheckId::TrustRotation,
        Some(key),
        format!(
            "a root rotation is in progress: {} {what} roots are trusted; this certificate chains to {used}, {which}",
            roots.len()
        ),
    )
}

fn relay_identity_token(c: &RoleCtx<'_>, report: &mut Report) {
    let RoleCtx { at, a, token, .. } = *c;
    let same_cluster = c.same_cluster();
    if let (Some(t), Some(mt), false) = (token, &a.token, same_cluster) {
        if t != mt.expose() {
            report.push(at.f(Severity::Error, CheckId::TrustToken, Some("token"), "the relay identity token differs from the management cluster's; the agent cannot register"));
        }
    }
}

/// `tls.crt` (with its bundle) must chain to the management cluster's relay root.
fn chain_to_relay_root(
    at: &At<'_>,
    p: &Parsed,
    a: &Anchors,
    what: &str,
    report: &mut Report,
    sig: &pki::SignatureCache,
) {
    let Some(leaf) = first(p, "tls.crt") else {
        return;
    };
    if a.relay_roots.is_empty() {
        return;
    }
    if let Err(e) = pki::verify_chain_cached(
        leaf,
        &rest(p, "tls.crt"),
        &a.relay_roots,
        None,
        pki::Usage::Any,
        sig,
    ) {
        let msg = format!("{what} does not chain to the relay root");
        report.push(chain_finding(
            at,
            "tls.crt",
            CheckId::TrustRelayRoot,
            &msg,
            &e,
        ));
    }
}

/// The chain of `key` (leaf first, then its bundle) must lead to the secret's own `ca.crt`.
fn chain_to_own_ca(
    at: &At<'_>,
    p: &Parsed,
    key: &str,
    report: &mut Report,
    sig: &pki::SignatureCache,
) {
    let (Some(leaf), Some(ca)) = (first(p, key), p.certs.get("ca.crt")) else {
        return;
    };
    match pki::verify_chain_cached(leaf, &rest(p, key), ca, None, pki::Usage::Any, sig) {
        Err(e) => report.push(chain_finding(
            at,
            key,
            CheckId::ChainVerify,
            &format!("{key} does not chain to ca.crt"),
            &e,
        )),
        Ok(chain) => {
            aki_findings(at, key, &chain, report);
            extra_roots(at, &chain, ca, report);
        }
    }
}

/// Roots in a `ca.crt` bundle that the verified chain does not use: trust is widened.
fn extra_roots(at: &At<'_>, chain: &pki::Chain, ca: &[Cert], report: &mut Report) {
    for r in ca.iter().filter(|r| !chain.path.contains(r)) {
        report.push(at.f(Severity::Warning, CheckId::ChainExtraRoot, Some("ca.crt"), format!("ca.crt also trusts {} (sha256 {}), which the chain does not use: trust is wider than needed; remove it unless a rotation is under way", r.summary().subject, &r.fingerprint()[..16])));
    }
}

/// A verified path whose key identifiers disagree: Go runs with it, the PKI is broken.
fn aki_findings(at: &At<'_>, key: &str, chain: &pki::Chain, report: &mut Report) {
    for (child, issuer) in chain.aki_mismatches() {
        report.push(at.f(Severity::Error, CheckId::ChainAkiMismatch, Some(key), format!("the authorityKeyIdentifier of {child} is not the subjectKeyIdentifier of its issuer {issuer}; Go accepts the chain, openssl and RFC 5280 do not: reissue {child}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `key.parse` finding's wording is tested beside it, in `pki::key`.
    #[test]
    fn the_pem_finding_has_one_wording() {
        let f = pem_parse_finding("tls.crt", "PEM is truncated");
        assert_eq!(f.check, CheckId::PemParse.as_str());
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(f.key.as_deref(), Some("tls.crt"));
        assert_eq!(
            f.message,
            "tls.crt holds a certificate PEM that does not parse: PEM is truncated"
        );
        assert_eq!((f.cluster, f.secret), (None, None));
    }
}
