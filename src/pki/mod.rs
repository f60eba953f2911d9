//! Certificates and keys: parsing PEM, summarising certificates, and matching private keys
//! to certificates.
//!
//! This module knows X.509 and key formats (PKCS#1, PKCS#8, SEC1; RSA, ECDSA
//! P-256/P-384/P-521, Ed25519) and nothing of Gloo Mesh or of archives. Path validation is
//! [`path`] (rustls-webpki plus Go's deltas), its signature algorithms [`algs`] and its error
//! messages [`explain`]; the checks that use it live in [`crate::checks`]. Private key bytes are held in zeroizing buffers and never
//! printed; errors describe the format problem, not the contents.

use std::fmt;

mod algs;
mod explain;
mod path;

pub(crate) use path::{is_sha1_signature, verify_chain_cached, SignatureCache};
pub use path::{verify_chain, verify_chain_for, Chain, ChainError, Usage};

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x509_parser::pem::Pem;
use x509_parser::prelude::*;
use zeroize::Zeroizing;

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

/// One certificate, kept as DER that parses: the only ways to make one are [`Cert::from_der`]
/// and [`parse_certs`], which parse it first, so [`Cert::x509`] cannot fail.
#[derive(Clone, PartialEq, Eq)]
pub struct Cert {
    der: Vec<u8>,
}

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
        match X509Certificate::from_der(&der) {
            Ok(([], _)) => Ok(Cert { der }),
            Ok(_) => Err(bad("trailing bytes after the certificate".into())),
            Err(e) => Err(bad(e.to_string())),
        }
    }

    /// The DER of the certificate.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The parsed certificate. The DER parsed when the `Cert` was made and parsing is
    /// deterministic, so this cannot fail.
    pub fn x509(&self) -> X509Certificate<'_> {
        match X509Certificate::from_der(&self.der) {
            Ok((_, c)) => c,
            Err(e) => unreachable!("a Cert holds DER that parsed when it was made: {e}"),
        }
    }

    /// SHA-256 of the DER, lowercase hex.
    pub(crate) fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(&self.der))
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
            dns_names: dns_names(&c),
        }
    }

    /// The certificate's public key, in the form keys are compared in.
    pub(crate) fn public_key(&self) -> Result<PublicKeyId, PkiError> {
        spki_to_id(self.x509().public_key())
    }

    /// PEM text of this certificate.
    pub fn to_pem(&self) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.der);
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

/// A public key in a canonical form, so a private key's public half can be compared with a
/// certificate's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PublicKeyId {
    /// Modulus and exponent, big-endian without leading zeros.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// Uncompressed SEC1 point.
    P256(Vec<u8>),
    P384(Vec<u8>),
    P521(Vec<u8>),
    Ed25519(Vec<u8>),
}

impl PublicKeyId {
    /// e.g. `RSA 2048`, `ECDSA P-256`.
    pub(crate) fn describe(&self) -> String {
        match self {
            PublicKeyId::Rsa { n, .. } => format!("RSA {}", rsa_bits(n)),
            PublicKeyId::P256(_) => "ECDSA P-256".into(),
            PublicKeyId::P384(_) => "ECDSA P-384".into(),
            PublicKeyId::P521(_) => "ECDSA P-521".into(),
            PublicKeyId::Ed25519(_) => "Ed25519".into(),
        }
    }
    /// Key size in bits.
    pub(crate) fn bits(&self) -> usize {
        match self {
            PublicKeyId::Rsa { n, .. } => rsa_bits(n),
            PublicKeyId::P256(_) | PublicKeyId::Ed25519(_) => 256,
            PublicKeyId::P384(_) => 384,
            PublicKeyId::P521(_) => 521,
        }
    }
}

fn rsa_bits(n: &[u8]) -> usize {
    match n.first() {
        Some(b) => n.len() * 8 - b.leading_zeros() as usize,
        None => 0,
    }
}

fn strip_zeros(b: &[u8]) -> Vec<u8> {
    let i = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    b[i..].to_vec()
}

pub(crate) const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
pub(crate) const OID_P521: &str = "1.3.132.0.35";
const OID_ED25519: &str = "1.3.101.112";

fn spki_to_id(spki: &SubjectPublicKeyInfo<'_>) -> Result<PublicKeyId, PkiError> {
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        OID_RSA => match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => Ok(PublicKeyId::Rsa {
                n: strip_zeros(rsa.modulus),
                e: strip_zeros(rsa.exponent),
            }),
            _ => Err(PkiError::UnsupportedAlgorithm("malformed RSA key".into())),
        },
        OID_EC => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            let point = &spki.subject_public_key.data;
            match curve.as_str() {
                OID_P256 => p256::PublicKey::from_sec1_bytes(point)
                    .map(|k| PublicKeyId::P256(sec1_uncompressed_p256(&k)))
                    .map_err(|_| PkiError::UnsupportedAlgorithm("malformed P-256 point".into())),
                OID_P384 => p384::PublicKey::from_sec1_bytes(point)
                    .map(|k| PublicKeyId::P384(sec1_uncompressed_p384(&k)))
                    .map_err(|_| PkiError::UnsupportedAlgorithm("malformed P-384 point".into())),
                OID_P521 => p521::PublicKey::from_sec1_bytes(point)
                    .map(|k| PublicKeyId::P521(sec1_uncompressed_p521(&k)))
                    .map_err(|_| PkiError::UnsupportedAlgorithm("malformed P-521 point".into())),
                other => Err(PkiError::UnsupportedAlgorithm(format!("EC curve {other}"))),
            }
        }
        OID_ED25519 => Ok(PublicKeyId::Ed25519(spki.subject_public_key.data.to_vec())),
        other => Err(PkiError::UnsupportedAlgorithm(other.to_string())),
    }
}

fn describe_spki(spki: &SubjectPublicKeyInfo<'_>) -> String {
    match spki_to_id(spki) {
        Ok(id) => id.describe(),
        Err(e) => e.to_string(),
    }
}

fn sec1_uncompressed_p256(k: &p256::PublicKey) -> Vec<u8> {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    k.to_encoded_point(false).as_bytes().to_vec()
}

fn sec1_uncompressed_p384(k: &p384::PublicKey) -> Vec<u8> {
    use p384::elliptic_curve::sec1::ToEncodedPoint;
    k.to_encoded_point(false).as_bytes().to_vec()
}

fn sec1_uncompressed_p521(k: &p521::PublicKey) -> Vec<u8> {
    use p521::elliptic_curve::sec1::ToEncodedPoint;
    k.to_encoded_point(false).as_bytes().to_vec()
}

/// A parsed private key: only its public half is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PrivateKey {
    /// The PEM label it came in (`PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`).
    pub format: &'static str,
    pub public: PublicKeyId,
}

/// Parses the first private key PEM block of `bytes` and derives its public key.
pub(crate) fn parse_private_key(bytes: &[u8]) -> Result<PrivateKey, PkiError> {
    for pem in Pem::iter_from_buffer(bytes) {
        let mut pem = pem.map_err(|e| PkiError::BadPem(e.to_string()))?;
        let der = Zeroizing::new(std::mem::take(&mut pem.contents));
        match pem.label.as_str() {
            "PRIVATE KEY" => return pkcs8_public(&der).map(|p| key("PRIVATE KEY", p)),
            "RSA PRIVATE KEY" => return pkcs1_public(&der).map(|p| key("RSA PRIVATE KEY", p)),
            "EC PRIVATE KEY" => return sec1_public(&der).map(|p| key("EC PRIVATE KEY", p)),
            "ENCRYPTED PRIVATE KEY" => return Err(PkiError::EncryptedKey),
            _ => continue,
        }
    }
    if has_pem_private_key(bytes) {
        return Err(PkiError::BadPem("private key block is truncated".into()));
    }
    Err(PkiError::NoKey)
}

fn key(format: &'static str, public: PublicKeyId) -> PrivateKey {
    PrivateKey { format, public }
}

fn pkcs1_public(der: &[u8]) -> Result<PublicKeyId, PkiError> {
    let k = pkcs1::RsaPrivateKey::try_from(der).map_err(|e| PkiError::BadKey {
        format: "PKCS#1 RSA",
        reason: e.to_string(),
    })?;
    Ok(PublicKeyId::Rsa {
        n: strip_zeros(k.modulus.as_bytes()),
        e: strip_zeros(k.public_exponent.as_bytes()),
    })
}

fn sec1_public(der: &[u8]) -> Result<PublicKeyId, PkiError> {
    let bad = |reason: String| PkiError::BadKey {
        format: "SEC1 EC",
        reason,
    };
    let k = sec1::EcPrivateKey::try_from(der).map_err(|e| bad(e.to_string()))?;
    let curve = k
        .parameters
        .and_then(|p| p.named_curve())
        .map(|o| o.to_string())
        .unwrap_or_default();
    match curve.as_str() {
        OID_P256 => p256::SecretKey::from_sec1_der(der)
            .map(|s| PublicKeyId::P256(sec1_uncompressed_p256(&s.public_key())))
            .map_err(|e| bad(e.to_string())),
        OID_P384 => p384::SecretKey::from_sec1_der(der)
            .map(|s| PublicKeyId::P384(sec1_uncompressed_p384(&s.public_key())))
            .map_err(|e| bad(e.to_string())),
        OID_P521 => p521::SecretKey::from_sec1_der(der)
            .map(|s| PublicKeyId::P521(sec1_uncompressed_p521(&s.public_key())))
            .map_err(|e| bad(e.to_string())),
        other => Err(PkiError::UnsupportedAlgorithm(format!(
            "EC curve {other:?}"
        ))),
    }
}

fn pkcs8_public(der: &[u8]) -> Result<PublicKeyId, PkiError> {
    let bad = |reason: String| PkiError::BadKey {
        format: "PKCS#8",
        reason,
    };
    let info = pkcs8::PrivateKeyInfo::try_from(der).map_err(|e| bad(e.to_string()))?;
    let alg = info.algorithm.oid.to_string();
    match alg.as_str() {
        OID_RSA => pkcs1_public(info.private_key),
        OID_EC => {
            let curve = info
                .algorithm
                .parameters_oid()
                .map(|o| o.to_string())
                .unwrap_or_default();
            match curve.as_str() {
                OID_P256 => {
                    use p256::pkcs8::DecodePrivateKey;
                    p256::SecretKey::from_pkcs8_der(der)
                        .map(|s| PublicKeyId::P256(sec1_uncompressed_p256(&s.public_key())))
                        .map_err(|e| bad(e.to_string()))
                }
                OID_P384 => {
                    use p384::pkcs8::DecodePrivateKey;
                    p384::SecretKey::from_pkcs8_der(der)
                        .map(|s| PublicKeyId::P384(sec1_uncompressed_p384(&s.public_key())))
                        .map_err(|e| bad(e.to_string()))
                }
                OID_P521 => {
                    use p521::pkcs8::DecodePrivateKey;
                    p521::SecretKey::from_pkcs8_der(der)
                        .map(|s| PublicKeyId::P521(sec1_uncompressed_p521(&s.public_key())))
                        .map_err(|e| bad(e.to_string()))
                }
                other => Err(PkiError::UnsupportedAlgorithm(format!(
                    "EC curve {other:?}"
                ))),
            }
        }
        OID_ED25519 => {
            use ed25519_dalek::pkcs8::DecodePrivateKey;
            ed25519_dalek::SigningKey::from_pkcs8_der(der)
                .map(|s| PublicKeyId::Ed25519(s.verifying_key().to_bytes().to_vec()))
                .map_err(|e| bad(e.to_string()))
        }
        other => Err(PkiError::UnsupportedAlgorithm(other.to_string())),
    }
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
    use super::*;

    fn gen(alg: &'static rcgen::SignatureAlgorithm) -> (String, String) {
        let kp = rcgen::KeyPair::generate_for(alg).unwrap();
        let params = rcgen::CertificateParams::new(vec!["*.gloo-mesh".to_string()]).unwrap();
        let cert = params.self_signed(&kp).unwrap();
        (cert.pem(), kp.serialize_pem())
    }

    #[test]
    fn keys_match_their_certificates_and_not_others() {
        let algs = [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ED25519,
        ];
        let made: Vec<_> = algs.iter().map(|a| gen(a)).collect();
        for (i, (cert, _)) in made.iter().enumerate() {
            let c = &parse_certs(cert.as_bytes()).unwrap()[0];
            for (j, (_, key)) in made.iter().enumerate() {
                let k = parse_private_key(key.as_bytes()).unwrap();
                assert_eq!(c.public_key().unwrap() == k.public, i == j, "{i} {j}");
            }
        }
        let s = parse_certs(made[0].0.as_bytes()).unwrap()[0].summary();
        assert_eq!(s.key, "ECDSA P-256");
        assert_eq!(s.dns_names, ["*.gloo-mesh"]);
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
