//! Parsing one secret's data for the checks: every certificate PEM into [`Cert`]s (each also a
//! [`CertificateRow`] of the report) and every private key into its public half, by data key,
//! with the `pem.parse` and `key.parse` findings for what does not parse. Nothing here judges a
//! certificate or a key that did parse: that is [`super::cert`], [`super::roles`] and
//! [`super::chains`]. The bytes stay in the secret: only certificates and public keys are kept.

use std::collections::BTreeMap;

use super::{At, CertificateRow, CheckResult};
use crate::check_id::CheckId;
use crate::findings::{Finding, Severity};
use crate::pki::{self, Cert};
use crate::secret::SecretBytes;

/// Certificates parsed from one secret's data, by key.
pub(super) struct Parsed {
    /// Every data key of the secret, parsed or not.
    pub(super) present: Vec<String>,
    pub(super) certs: BTreeMap<String, Vec<Cert>>,
    pub(super) keys: BTreeMap<String, pki::PrivateKey>,
    /// Certificate revocation lists by key (`ca-crl.pem`), or why Go would not parse them.
    pub(super) crls: BTreeMap<String, Result<Vec<pki::Crl>, pki::CrlError>>,
}

impl Parsed {
    /// The first certificate of data key `k` (the leaf of a bundle), when it parsed.
    pub(super) fn first(&self, k: &str) -> Option<&Cert> {
        self.certs.get(k).and_then(|v| v.first())
    }

    /// The certificates of data key `k` after the first (a leaf's bundle).
    pub(super) fn rest(&self, k: &str) -> Vec<Cert> {
        self.certs
            .get(k)
            .map(|v| v[1..].to_vec())
            .unwrap_or_default()
    }

    /// Every certificate of data key `k`, when it holds any.
    pub(super) fn bundle(&self, k: &str) -> Option<Vec<Cert>> {
        self.certs.get(k).filter(|v| !v.is_empty()).cloned()
    }

    /// Whether the secret has data key `k`, parsed or not.
    pub(super) fn has(&self, k: &str) -> bool {
        self.present.iter().any(|p| p == k)
    }
}

/// Parses the data of the secret at `at`: a [`CertificateRow`] per certificate and the parse
/// findings go to `out`.
pub(super) fn parse_secret(
    at: &At<'_>,
    data: &BTreeMap<String, SecretBytes>,
    out: &mut CheckResult,
    memo: &pki::RunCache,
) -> Parsed {
    let mut certs = BTreeMap::new();
    let mut keys = BTreeMap::new();
    let mut crls = BTreeMap::new();
    for (k, v) in data {
        let bytes = v.expose();
        if k == CRL_KEY {
            // istiod reads it only when it is not empty.
            if !bytes.is_empty() {
                crls.insert(k.clone(), pki::parse_crls(bytes));
            }
        } else if pki::has_pem_certificate(bytes) {
            match pki::parse_certs(bytes) {
                Ok(cs) => {
                    for (i, c) in cs.iter().enumerate() {
                        if let Some(why) = pki::go_parse_refusal(c) {
                            let s = c.summary();
                            out.report.push(at.f(Severity::Error, CheckId::PemGoRefuses, Some(k), format!("{k}: certificate {} (#{}) is refused by Go's x509.ParseCertificate, so Gloo Mesh and Istio cannot load it: {why}; reissue it", s.subject, i + 1)));
                        }
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
            match memo.parse_key(k, bytes) {
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
        crls,
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

/// The data key of the CRLs istiod reads beside plugged-in certificates.
pub(super) const CRL_KEY: &str = "ca-crl.pem";

fn is_key_key(k: &str) -> bool {
    matches!(k, "tls.key" | "key.pem" | "ca-key.pem")
}

fn is_cert_key(k: &str) -> bool {
    matches!(
        k,
        "tls.crt" | "ca.crt" | "root-cert.pem" | "ca-cert.pem" | "cert-chain.pem"
    )
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
