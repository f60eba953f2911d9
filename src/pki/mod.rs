//! Certificates and keys: parsing PEM into [`Cert`]s (DER that always parses), summarising
//! certificates; keys and their match to certificates are `key.rs`.
//!
//! This module knows X.509 and key formats (PKCS#1, PKCS#8, SEC1; RSA, ECDSA
//! P-256/P-384/P-521, Ed25519) and nothing of Gloo Mesh or of archives. Path validation is
//! `path.rs` (rustls-webpki plus Go's deltas), its signature algorithms `algs.rs` and its error
//! messages `explain.rs`. It imports nothing from the modules that use it (the checks, sources,
//! archives): they stand on it. Private key bytes are held in zeroizing buffers and never
//! printed; errors describe the format problem, not the contents.

use std::fmt;

mod algs;
mod crl;
mod explain;
mod goparse;
mod key;
mod path;

pub(crate) use crl::{parse_crls, Crl, CrlError, NotSigner};
pub use goparse::go_parse_refusal;
use key::{describe_spki, spki_to_id};
pub(crate) use key::{parse_key, PrivateKey, PublicKeyId};
pub(crate) use path::{is_sha1_signature, verify_chain_cached, RunCache};
pub use path::{verify_chain, verify_chain_for, verify_peer_for, Chain, ChainError, Usage};

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x509_parser::pem::Pem;
use x509_parser::prelude::*;

/// Why certificate or key bytes could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkiError {
    #[error("no PEM block found")]
    NoPem,
    #[error("PEM is truncated or malformed ({0})")]
    BadPem(String),
    #[error("PEM block {index} ({label}) is not a valid X.509 certificate ({reason})")]
    BadCertificate {
        index: usize,
        label: String,
        reason: String,
    },
    #[error(
        "no private key block found (expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
    )]
    NoKey,
    #[error("encrypted private keys are not supported; decrypt it first (openssl pkey)")]
    EncryptedKey,
    #[error("private key does not parse as {format} ({reason})")]
    BadKey {
        format: &'static str,
        reason: String,
    },
    #[error("unsupported key algorithm {0}")]
    UnsupportedAlgorithm(String),
}

self_cell::self_cell!(
    /// A certificate's DER and its parse, which borrows from it.
    struct Parsed {
        owner: Vec<u8>,
        #[covariant]
        dependent: X509Certificate,
    }
);

/// One certificate, kept as DER with its parse: the only ways to make one are
/// [`Cert::from_der`] and [`parse_certs`], which parse it once; clones share both.
#[derive(Clone)]
pub struct Cert {
    inner: std::sync::Arc<Parsed>,
}

impl PartialEq for Cert {
    fn eq(&self, other: &Cert) -> bool {
        self.der() == other.der()
    }
}

impl Eq for Cert {}

impl fmt::Debug for Cert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cert({})", self.x509().subject())
    }
}

impl Cert {
    /// The certificate in `der`, when it is one X.509 certificate and nothing more.
    pub fn from_der(der: Vec<u8>) -> Result<Cert, PkiError> {
        Cert::from_block(der, 0, "CERTIFICATE")
    }

    /// [`Cert::from_der`] for PEM block `index` (labelled `label`), for its error message.
    fn from_block(der: Vec<u8>, index: usize, label: &str) -> Result<Cert, PkiError> {
        let bad = |reason: String| PkiError::BadCertificate {
            index,
            label: label.to_string(),
            reason,
        };
        let parsed = Parsed::try_new(der, |der| match X509Certificate::from_der(der) {
            Ok(([], c)) => Ok(c),
            Ok(_) => Err(bad("trailing bytes after the certificate".into())),
            Err(e) => Err(bad(e.to_string())),
        })?;
        Ok(Cert {
            inner: std::sync::Arc::new(parsed),
        })
    }

    /// The DER of the certificate.
    pub fn der(&self) -> &[u8] {
        self.inner.borrow_owner()
    }

    /// The parsed certificate (parsed once, when the `Cert` was made).
    pub fn x509(&self) -> &X509Certificate<'_> {
        self.inner.borrow_dependent()
    }

    /// SHA-256 of the DER, lowercase hex.
    pub(crate) fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(self.der()))
    }

    /// The summary recorded in manifests and shown by `inspect`.
    pub(crate) fn summary(&self) -> CertSummary {
        let c = self.x509();
        CertSummary {
            subject: c.subject().to_string(),
            issuer: c.issuer().to_string(),
            serial: c.raw_serial_as_string(),
            not_before: asn1_to_chrono(c.validity().not_before),
            not_after: asn1_to_chrono(c.validity().not_after),
            sha256: self.fingerprint(),
            is_ca: c.is_ca(),
            key: describe_spki(c.public_key()),
            dns_names: dns_names(c),
        }
    }

    /// The certificate's public key, in the form keys are compared in.
    pub(crate) fn public_key(&self) -> Result<PublicKeyId, PkiError> {
        spki_to_id(self.x509().public_key())
    }

    /// PEM text of this certificate.
    pub fn to_pem(&self) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.der());
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }
}

/// What the manifest records of each certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// SHA-256 fingerprint of the DER, lowercase hex.
    pub sha256: String,
    pub is_ca: bool,
    /// Key algorithm and size, e.g. `ECDSA P-256`, `RSA 4096`.
    pub key: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_names: Vec<String>,
}

/// Converts an ASN.1 time to chrono.
pub(crate) fn asn1_to_chrono(t: ASN1Time) -> DateTime<Utc> {
    Utc.timestamp_opt(t.timestamp(), 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Whether `c` is valid at `t` (both ends inclusive).
pub(crate) fn valid_at(c: &Cert, t: DateTime<Utc>) -> bool {
    let x = c.x509();
    asn1_to_chrono(x.validity().not_before) <= t && t <= asn1_to_chrono(x.validity().not_after)
}

/// DNS names of the subjectAltName extension.
pub(crate) fn dns_names(c: &X509Certificate<'_>) -> Vec<String> {
    match c.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some(d.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// True when the bytes contain at least one PEM certificate block (the cue to parse them).
pub(crate) fn has_pem_certificate(bytes: &[u8]) -> bool {
    bytes
        .windows(b"-----BEGIN CERTIFICATE".len())
        .any(|w| w == b"-----BEGIN CERTIFICATE")
}

/// True when the bytes contain a PEM private key block.
pub(crate) fn has_pem_private_key(bytes: &[u8]) -> bool {
    let needle = b"PRIVATE KEY-----";
    bytes.windows(needle.len()).any(|w| w == needle)
}

/// Parses every PEM certificate in `bytes` (a chain is several). Fails on any malformed block.
pub fn parse_certs(bytes: &[u8]) -> Result<Vec<Cert>, PkiError> {
    let mut out = Vec::new();
    for (index, pem) in Pem::iter_from_buffer(bytes).enumerate() {
        let pem = pem.map_err(|e| PkiError::BadPem(e.to_string()))?;
        if pem.label != "CERTIFICATE" {
            continue;
        }
        out.push(Cert::from_block(pem.contents, index, &pem.label)?);
    }
    // The PEM iterator stops quietly at text it does not recognise as a header, so a block
    // whose END line is missing must be caught by counting.
    let begins = count(bytes, b"-----BEGIN CERTIFICATE-----");
    if begins != out.len() {
        return Err(PkiError::BadPem(format!(
            "{begins} BEGIN CERTIFICATE line(s) but {} complete certificate(s)",
            out.len()
        )));
    }
    if out.is_empty() {
        return Err(PkiError::NoPem);
    }
    Ok(out)
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// Summaries of every certificate in a data value, or `None` if it holds no certificate PEM.
pub(crate) fn summarize(bytes: &[u8]) -> Option<Result<Vec<CertSummary>, PkiError>> {
    if !has_pem_certificate(bytes) {
        return None;
    }
    Some(parse_certs(bytes).map(|cs| cs.iter().map(Cert::summary).collect()))
}

#[cfg(test)]
mod tests {
    use super::key::parse_private_key;
    use super::*;

    fn gen(alg: &'static rcgen::SignatureAlgorithm) -> (String, String) {
        let kp = rcgen::KeyPair::generate_for(alg).unwrap();
        let params = rcgen::CertificateParams::new(vec!["*.gloo-mesh".to_string()]).unwrap();
        let cert = params.self_signed(&kp).unwrap();
        (cert.pem(), kp.serialize_pem())
    }

    #[test]
    fn truncated_and_garbage_pem_are_errors() {
        let (cert, _) = gen(&rcgen::PKCS_ECDSA_P256_SHA256);
        let half = &cert[..cert.len() / 2];
        assert!(matches!(
            parse_certs(half.as_bytes()),
            Err(PkiError::BadPem(_))
        ));
        let garbage = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            parse_certs(garbage.as_bytes()),
            Err(PkiError::BadCertificate { .. })
        ));
        assert_eq!(parse_private_key(b"nothing"), Err(PkiError::NoKey));
        let enc =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert_eq!(
            parse_private_key(enc.as_bytes()),
            Err(PkiError::EncryptedKey)
        );
    }

    #[test]
    fn a_cert_is_made_only_of_der_that_parses() {
        let (cert, _) = gen(&rcgen::PKCS_ECDSA_P256_SHA256);
        let c = parse_certs(cert.as_bytes()).unwrap().remove(0);
        assert_eq!(Cert::from_der(c.der().to_vec()).unwrap(), c);
        let mut trailing = c.der().to_vec();
        trailing.push(0);
        assert!(matches!(
            Cert::from_der(trailing),
            Err(PkiError::BadCertificate { reason, .. }) if reason.contains("trailing bytes")
        ));
        assert!(matches!(
            Cert::from_der(b"not a cert".to_vec()),
            Err(PkiError::BadCertificate { .. })
        ));
        assert_eq!(c.x509().subject().to_string(), c.summary().subject);
    }

    #[test]
    fn pem_round_trip() {
        let (cert, _) = gen(&rcgen::PKCS_ECDSA_P256_SHA256);
        let c = &parse_certs(cert.as_bytes()).unwrap()[0];
        assert_eq!(&parse_certs(c.to_pem().as_bytes()).unwrap()[0], c);
    }
}
