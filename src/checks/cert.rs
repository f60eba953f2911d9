//! The checks of each certificate and private key of one secret on their own: the validity
//! window at the time checked, weak crypto (short RSA keys, SHA-1, unsupported key types), the
//! lint profile, and a private key beside every certificate whose role needs one, matching it.
//! These checks must not look beyond the secret: what a role's certificate must look like is
//! [`super::roles`], whether it chains to anything is [`super::chains`].

use chrono::{DateTime, Duration, Utc};

use super::parse::Parsed;
use super::{lint_cert, At, CheckOptions, LintUse};
use crate::check_id::CheckId;
use crate::findings::{Report, Severity};
use crate::gloo::Role;
use crate::pki;

/// Whether certificate `i` of data key `k` is a bundle member no chain of the secret needs:
/// not the secret's own certificate (the first of `tls.crt` or `ca-cert.pem`), and that
/// certificate still verifies at `at` without it (against `ca.crt`/`root-cert.pem`, through the
/// rest of `tls.crt` and `cert-chain.pem`). In a secret without such a certificate (a bundle
/// of roots only), a member is left over when another member of its key is valid at `at`.
fn left_over(p: &Parsed, k: &str, i: usize, at: chrono::DateTime<chrono::Utc>) -> bool {
    let leaf_key = ["tls.crt", "ca-cert.pem"]
        .into_iter()
        .find(|l| p.first(l).is_some());
    let Some(leaf_key) = leaf_key else {
        let others = p.certs.get(k).into_iter().flatten().enumerate();
        return others
            .filter(|(j, _)| *j != i)
            .any(|(_, c)| pki::valid_at(c, at));
    };
    if k == leaf_key && i == 0 {
        return false;
    }
    let leaf = p.first(leaf_key).expect("checked above");
    let without = |key: &str| -> Vec<pki::Cert> {
        let all = p.certs.get(key).cloned().unwrap_or_default();
        (all.into_iter().enumerate())
            .filter(|(j, _)| !(key == k && *j == i))
            .map(|(_, c)| c)
            .collect()
    };
    let mut inter: Vec<pki::Cert> = without(leaf_key).into_iter().skip(1).collect();
    inter.extend(without("cert-chain.pem").into_iter().filter(|c| c != leaf));
    let mut anchors = without("ca.crt");
    anchors.extend(without("root-cert.pem"));
    !anchors.is_empty() && pki::verify_chain(leaf, &inter, &anchors, Some(at)).is_ok()
}

/// Validity window and weak crypto for every certificate.
pub(super) fn validity_and_crypto(
    at: &At<'_>,
    p: &Parsed,
    opts: &CheckOptions,
    report: &mut Report,
    sig: &pki::RunCache,
) {
    for (k, certs) in &p.certs {
        for (i, c) in certs.iter().enumerate() {
            let x = c.x509();
            let name = x.subject().to_string();
            let (nb, na) = (
                pki::asn1_to_chrono(x.validity().not_before),
                pki::asn1_to_chrono(x.validity().not_after),
            );
            if opts.at > na && left_over(p, k, i, opts.at) {
                report.push(at.f(
                    Severity::Warning,
                    CheckId::ValidityExpired,
                    Some(k),
                    format!(
                        "{name} expired on {} (checked at {}), but no chain of this secret needs it: a bundle member left over (an old root after a rotation?); Go ignores it; remove it",
                        rfc(na),
                        rfc(opts.at)
                    ),
                ));
            } else if opts.at > na {
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
            if pki::is_sha1_signature(x) && !sig.issued_by(c, c) {
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
pub(super) fn lints(at: &At<'_>, role: Role, p: &Parsed, opts: &CheckOptions, report: &mut Report) {
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
pub(super) const PAIRS: &[(&str, &[&str])] = &[
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
pub(super) fn keys_present(at: &At<'_>, role: Role, p: &Parsed, report: &mut Report) {
    let intermediate_form = p.has("ca-cert.pem");
    for cert_key in p.certs.keys() {
        if let Some(key) = expected_key(role, cert_key, intermediate_form) {
            if !p.has(key) {
                report.push(at.f(Severity::Error, CheckId::KeyMissing, Some(key), format!("{cert_key} has no private key beside it: {key} is missing; Gloo Mesh cannot use the certificate without it")));
            }
        }
    }
}

pub(super) fn keys_match(at: &At<'_>, p: &Parsed, report: &mut Report) {
    for (key_name, key) in &p.keys {
        let candidates = PAIRS
            .iter()
            .find(|(k, _)| k == key_name)
            .map(|(_, c)| *c)
            .unwrap_or(&[]);
        // The first candidate the secret holds; if it holds it but it did not parse, that
        // was reported already and there is nothing sound to compare with.
        let Some(cert_key) = candidates.iter().find(|c| p.has(c)) else {
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
        let Some(cert) = p.first(cert_key) else {
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
