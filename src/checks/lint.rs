//! The lint profile for an internal mesh PKI: warnings about certificates that work today but
//! are malformed or weak by the usual profiles (RFC 5280, CA/Browser Forum as zlint encodes
//! it). Each lint has a stable `lint.*` id, documented in docs/checks.md with the zlint name it
//! corresponds to. Lints never decide whether a chain holds ([`crate::pki`] does) and never
//! look at private keys.

use x509_parser::prelude::*;

use crate::check_id::CheckId;
use crate::pki::Cert;

/// What the lints need to know of where a certificate is used.
#[derive(Clone, Copy, Debug, Default)]
pub struct LintUse {
    /// A relay leaf (server or agent): it must carry an EKU.
    pub relay_leaf: bool,
    /// The agent's client certificate: its EKU must allow clientAuth.
    pub client: bool,
    /// A leaf valid for longer than this many days is a warning.
    pub max_leaf_days: Option<u32>,
}

/// The lint warnings of one certificate, as (id, message).
pub fn lint_cert(c: &Cert, usage: LintUse) -> Vec<(CheckId, String)> {
    let x = c.x509();
    let name = x.subject().to_string();
    let mut out = Vec::new();
    let mut warn = |id: CheckId, msg: String| out.push((id, format!("{name}: {msg}")));
    let is_ca = x.is_ca();
    if let (Some(max), false) = (usage.max_leaf_days, is_ca) {
        let v = x.validity();
        let days = (v.not_after.timestamp() - v.not_before.timestamp()) / 86_400;
        if days > i64::from(max) {
            warn(
                CheckId::LintValidityTooLong,
                format!("a leaf valid for {days} days, longer than the bound of {max} (--max-leaf-validity-days); a stolen key stays useful that long"),
            );
        }
    }
    let self_issued = x.subject().as_raw() == x.issuer().as_raw();
    let ext = |oid: &str| x.extensions().iter().find(|e| e.oid.to_id_string() == oid);
    if x.version() == X509Version::V3 {
        if is_ca && ext("2.5.29.14").is_none() {
            warn(CheckId::LintSkiMissing, "a CA certificate without subjectKeyIdentifier; issuers and verifiers cannot match it by key".into());
        }
        if !self_issued && ext("2.5.29.35").is_none() {
            warn(CheckId::LintAkiMissing, "no authorityKeyIdentifier; with several issuers of one name (a rotation), verifiers must try each".into());
        }
        if let Some(ku) = ext("2.5.29.15") {
            if is_ca && !ku.critical {
                warn(
                    CheckId::LintCaKeyUsageNotCritical,
                    "a CA certificate whose keyUsage is not critical".into(),
                );
            }
        }
        if let Ok(Some(ku)) = x.key_usage() {
            if !is_ca && ku.value.key_cert_sign() {
                warn(
                    CheckId::LintLeafCertSign,
                    "an end-entity certificate with keyCertSign in its keyUsage".into(),
                );
            }
        }
        eku(x, usage, &mut warn);
    }
    serial(x, &mut warn);
    if let Ok(x509_parser::public_key::PublicKey::RSA(rsa)) = x.public_key().parsed() {
        let e = rsa
            .exponent
            .iter()
            .skip_while(|b| **b == 0)
            .collect::<Vec<_>>();
        if e.len() == 1 && *e[0] <= 3 {
            warn(
                CheckId::LintRsaExponent,
                format!("an RSA key with public exponent {}; use 65537", e[0]),
            );
        }
    }
    out
}

fn eku(x: &X509Certificate<'_>, usage: LintUse, warn: &mut impl FnMut(CheckId, String)) {
    if !usage.relay_leaf || x.is_ca() {
        return;
    }
    match x.extended_key_usage() {
        Ok(None) => warn(CheckId::LintEkuMissing, "a relay leaf without extendedKeyUsage".into()),
        Ok(Some(eku)) if usage.client && !eku.value.client_auth && !eku.value.any => warn(
            CheckId::LintClientAuthMissing,
            "the agent certificate's extendedKeyUsage lacks clientAuth; the relay server (Go, ExtKeyUsageClientAuth) refuses it".into(),
        ),
        _ => {}
    }
}

fn serial(x: &X509Certificate<'_>, warn: &mut impl FnMut(CheckId, String)) {
    let raw = x.raw_serial();
    let negative = raw.first().is_some_and(|b| b & 0x80 != 0);
    let zero = raw.iter().all(|b| *b == 0);
    if negative || zero {
        warn(
            CheckId::LintSerial,
            "the serial number is not positive".into(),
        );
    } else if raw.len() > 20 {
        warn(
            CheckId::LintSerial,
            format!(
                "the serial number is {} octets long; at most 20 are allowed",
                raw.len()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed leaf valid from 2026-01-01 for `days` days.
    fn leaf(days: i64) -> Cert {
        let mut p = rcgen::CertificateParams::new(vec!["leaf.example".to_string()]).unwrap();
        p.not_before = rcgen::date_time_ymd(2026, 1, 1);
        p.not_after = p.not_before + std::time::Duration::from_secs(days as u64 * 86_400);
        let key = rcgen::KeyPair::generate().unwrap();
        let pem = p.self_signed(&key).unwrap().pem();
        crate::pki::parse_certs(pem.as_bytes()).unwrap().remove(0)
    }

    fn ids(c: &Cert, max: Option<u32>) -> Vec<CheckId> {
        let usage = LintUse {
            max_leaf_days: max,
            ..LintUse::default()
        };
        lint_cert(c, usage).into_iter().map(|(id, _)| id).collect()
    }

    #[test]
    fn validity_longer_than_the_bound_is_a_lint_only_when_asked() {
        let long = leaf(1826);
        assert!(!ids(&long, None).contains(&CheckId::LintValidityTooLong));
        assert!(ids(&long, Some(398)).contains(&CheckId::LintValidityTooLong));
        assert!(!ids(&leaf(398), Some(398)).contains(&CheckId::LintValidityTooLong));
        let msg = lint_cert(
            &long,
            LintUse {
                max_leaf_days: Some(398),
                ..LintUse::default()
            },
        )
        .into_iter()
        .find(|(id, _)| *id == CheckId::LintValidityTooLong)
        .unwrap()
        .1;
        assert!(
            msg.contains("valid for 1826 days, longer than the bound of 398"),
            "{msg}"
        );
    }
}
