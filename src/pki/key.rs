//! Keys: a public key in the one form keys are compared in ([`PublicKeyId`]), private keys
//! parsed down to their public half (PKCS#1, PKCS#8, SEC1; RSA, ECDSA P-256/P-384/P-521,
//! Ed25519), whether a private key belongs to a certificate, and the `key.parse` finding made
//! when one does not parse ([`parse_key`], the one wording, shared by the checks and `import`).
//!
//! It must not keep or print private key material: the DER is held in a zeroizing buffer while
//! the public half is derived, and errors describe the format problem, not the contents. It
//! knows nothing of Gloo Mesh roles or of which data key should hold which key.

use x509_parser::pem::Pem;
use x509_parser::prelude::*;
use zeroize::Zeroizing;

use super::{has_pem_private_key, Cert, PkiError};
use crate::check_id::CheckId;
use crate::findings::Finding;

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

pub(super) const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
pub(super) const OID_P521: &str = "1.3.132.0.35";
const OID_ED25519: &str = "1.3.101.112";

pub(super) fn spki_to_id(spki: &SubjectPublicKeyInfo<'_>) -> Result<PublicKeyId, PkiError> {
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

pub(super) fn describe_spki(spki: &SubjectPublicKeyInfo<'_>) -> String {
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

impl PrivateKey {
    /// Whether this is the private key of `cert`: its public half is the certificate's key.
    pub(crate) fn matches(&self, cert: &Cert) -> bool {
        cert.public_key().ok().as_ref() == Some(&self.public)
    }
}

/// Parses the private key held in data key `key`; when it does not parse, the `key.parse`
/// finding instead. The one private key check, shared by the checks and `import`; the caller
/// adds cluster and secret.
pub(crate) fn parse_key(key: &str, bytes: &[u8]) -> Result<PrivateKey, Box<Finding>> {
    parse_private_key(bytes).map_err(|e| {
        Box::new(
            Finding::error(
                CheckId::KeyParse,
                format!("{key} is not a usable private key: {e}"),
            )
            .key(key),
        )
    })
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
            .map(|s| PublicKeyId::P256(ec_public(&s, k.public_key)))
            .map_err(|e| bad(e.to_string())),
        OID_P384 => p384::SecretKey::from_sec1_der(der)
            .map(|s| PublicKeyId::P384(ec_public(&s, k.public_key)))
            .map_err(|e| bad(e.to_string())),
        OID_P521 => p521::SecretKey::from_sec1_der(der)
            .map(|s| PublicKeyId::P521(sec1_uncompressed_p521(&s.public_key())))
            .map_err(|e| bad(e.to_string())),
        other => Err(PkiError::UnsupportedAlgorithm(format!(
            "EC curve {other:?}"
        ))),
    }
}

/// The public key an EC private key file carries beside its scalar (SEC1's optional
/// `publicKey`), from the `ECPrivateKey` inside a PKCS#8 document; `None` when absent.
fn carried(ec_private_key: &[u8]) -> Option<&[u8]> {
    sec1::EcPrivateKey::try_from(ec_private_key)
        .ok()
        .and_then(|k| k.public_key)
}

/// The public half of `secret` as uncompressed SEC1. When the file carried its public key,
/// the RustCrypto parse that made `secret` has already multiplied the scalar out and refused
/// the file unless the carried point is that product (`validate_public_key`): the carried
/// point is then used as it is, not derived a second time (the scalar multiplication is most
/// of what checking a P-384 key costs). Otherwise it is derived from the scalar.
fn ec_public<C>(secret: &p256::elliptic_curve::SecretKey<C>, carried: Option<&[u8]>) -> Vec<u8>
where
    C: p256::elliptic_curve::CurveArithmetic,
    p256::elliptic_curve::AffinePoint<C>: p256::elliptic_curve::sec1::FromEncodedPoint<C>
        + p256::elliptic_curve::sec1::ToEncodedPoint<C>,
    p256::elliptic_curve::FieldBytesSize<C>: p256::elliptic_curve::sec1::ModulusSize,
{
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let public = carried
        .and_then(|b| p256::elliptic_curve::PublicKey::<C>::from_sec1_bytes(b).ok())
        .unwrap_or_else(|| secret.public_key());
    public.to_encoded_point(false).as_bytes().to_vec()
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
                        .map(|s| PublicKeyId::P256(ec_public(&s, carried(info.private_key))))
                        .map_err(|e| bad(e.to_string()))
                }
                OID_P384 => {
                    use p384::pkcs8::DecodePrivateKey;
                    p384::SecretKey::from_pkcs8_der(der)
                        .map(|s| PublicKeyId::P384(ec_public(&s, carried(info.private_key))))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_carried_public_key_is_used_only_as_the_scalar_s_own() {
        use p384::pkcs8::DecodePrivateKey;
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let der = kp.serialize_der();
        let info = pkcs8::PrivateKeyInfo::try_from(der.as_slice()).unwrap();
        let with = carried(info.private_key).expect("ring's PKCS#8 carries the public key");
        let s = p384::SecretKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(ec_public(&s, Some(with)), ec_public(&s, None));
        assert_eq!(ec_public(&s, None), kp.public_key_raw());
        // Another key's point in the file: the parse itself refuses it.
        let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let mut forged = der.clone();
        let at = forged.windows(with.len()).position(|w| w == with).unwrap();
        forged[at..at + with.len()].copy_from_slice(other.public_key_raw());
        assert!(p384::SecretKey::from_pkcs8_der(&forged).is_err());
        assert!(matches!(
            pkcs8_public(&forged),
            Err(PkiError::BadKey { .. })
        ));
    }
    use crate::findings::Severity;
    use crate::pki::parse_certs;

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
                assert_eq!(k.matches(c), i == j, "{i} {j}");
            }
        }
        let s = parse_certs(made[0].0.as_bytes()).unwrap()[0].summary();
        assert_eq!(s.key, "ECDSA P-256");
        assert_eq!(s.dns_names, ["*.gloo-mesh"]);
    }

    #[test]
    fn a_run_remembers_key_parses_as_they_were_made() {
        let memo = super::super::RunCache::default();
        let (_, pem) = gen(&rcgen::PKCS_ECDSA_P384_SHA384);
        for _ in 0..2 {
            assert_eq!(
                memo.parse_key("tls.key", pem.as_bytes()),
                parse_key("tls.key", pem.as_bytes())
            );
        }
        let bad = b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n";
        for name in ["tls.key", "key.pem", "tls.key"] {
            let f = memo.parse_key(name, bad).expect_err("garbage is no key");
            assert_eq!(f, parse_key(name, bad).unwrap_err(), "{name}");
            assert!(f.message.starts_with(name), "{}", f.message);
        }
    }

    #[test]
    fn the_key_finding_has_one_wording() {
        let bad = b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n";
        let f = parse_key("tls.key", bad).expect_err("garbage is no key");
        assert_eq!(f.check, CheckId::KeyParse.as_str());
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(f.key.as_deref(), Some("tls.key"));
        assert!(
            f.message
                .starts_with("tls.key is not a usable private key: "),
            "{}",
            f.message
        );
        assert_eq!((f.cluster, f.secret), (None, None));
    }
}
