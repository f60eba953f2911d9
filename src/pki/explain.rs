//! Explains a path webpki rejected: which certificate is at fault and why, in the words of
//! [`ChainError`]; and where Go (Gloo Mesh, Istio) is stricter than RFC 5280, says so.
//!
//! webpki reports one error for the whole path; this module looks at the certificates given
//! (with x509-parser) to name the one the error is about. It decides nothing: the verdict is
//! already made.

use chrono::{DateTime, Utc};
use x509_parser::prelude::*;

use super::path::{is_self_issued, is_sha1_signature, ChainError};
use super::{asn1_to_chrono, Cert};

/// The certificates of a failed validation, parsed.
struct Given<'a> {
    /// Leaf first, then the intermediates.
    chain: Vec<&'a X509Certificate<'a>>,
    anchors: Vec<&'a X509Certificate<'a>>,
}

impl Given<'_> {
    fn all(&self) -> impl Iterator<Item = &X509Certificate<'_>> {
        self.chain.iter().chain(&self.anchors).copied()
    }
    fn leaf(&self) -> &X509Certificate<'_> {
        self.chain[0]
    }
}

/// [`ChainError`] for webpki's error `e` on `leaf` with `intermediates` and `anchors` at `t`.
pub(super) fn explain(
    leaf: &Cert,
    intermediates: &[Cert],
    anchors: &[Cert],
    e: webpki::Error,
    t: DateTime<Utc>,
) -> ChainError {
    let chain: Vec<&X509Certificate<'_>> = std::iter::once(leaf)
        .chain(intermediates)
        .map(Cert::x509)
        .collect();
    let anchor_x: Vec<&X509Certificate<'_>> = anchors.iter().map(Cert::x509).collect();
    let g = Given {
        chain,
        anchors: anchor_x,
    };
    by_error(&g, e, t)
}

#[allow(deprecated)] // webpki still returns the variants without context in places
fn by_error(g: &Given<'_>, e: webpki::Error, t: DateTime<Utc>) -> ChainError {
    use webpki::Error as E;
    let subject = g.leaf().subject().to_string();
    match e {
        E::UnknownIssuer => unknown_issuer(g),
        E::UnsupportedCriticalExtension => critical_extension(g),
        E::PathLenConstraintViolated => path_len(g),
        E::EndEntityUsedAsCa => not_ca(g),
        E::NameConstraintViolation => ChainError::NameConstraints { subject },
        E::UnsupportedSignatureAlgorithm
        | E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKey
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => algorithm(g),
        E::InvalidSignatureForPublicKey => ChainError::BadSignature {
            subject,
            issuer: g.leaf().issuer().to_string(),
        },
        E::CertExpired { .. } | E::CertNotValidYet { .. } | E::InvalidCertValidity => {
            validity(g, t)
        }
        E::RequiredEkuNotFound | E::RequiredEkuNotFoundContext(_) => {
            ChainError::ExtKeyUsage { subject }
        }
        E::MaximumPathBuildCallsExceeded | E::MaximumPathDepthExceeded => ChainError::TooLong(6),
        other => ChainError::Rejected {
            subject,
            reason: other.to_string(),
        },
    }
}

/// No issuer: the same name differently encoded is Go being stricter than RFC 5280.
fn unknown_issuer(g: &Given<'_>) -> ChainError {
    for child in &g.chain {
        for cand in g.all() {
            let same_bytes = child.issuer().as_raw() == cand.subject().as_raw();
            if !same_bytes && child.issuer().to_string() == cand.subject().to_string() {
                return ChainError::GoStricter(format!(
                    "the issuer name of {child_s} and the subject name of {cand_s} are the same \
                     name encoded differently (e.g. PrintableString vs UTF8String); Go compares \
                     names byte for byte, so {child_s} has no issuer",
                    child_s = child.subject(),
                    cand_s = cand.subject()
                ));
            }
        }
    }
    ChainError::IssuerNotFound {
        subject: g.leaf().subject().to_string(),
        issuer: g.leaf().issuer().to_string(),
    }
}

fn critical_extension(g: &Given<'_>) -> ChainError {
    for c in g.all() {
        for ext in c.extensions() {
            if ext.critical
                && matches!(
                    ext.parsed_extension(),
                    ParsedExtension::UnsupportedExtension { .. }
                )
            {
                return ChainError::CriticalExtension {
                    subject: c.subject().to_string(),
                    oid: ext.oid.to_id_string(),
                };
            }
        }
    }
    ChainError::CriticalExtension {
        subject: g.leaf().subject().to_string(),
        oid: "(unknown)".into(),
    }
}

/// The CA whose pathLenConstraint is exceeded; Go-stricter when only self-issued
/// certificates make it so.
fn path_len(g: &Given<'_>) -> ChainError {
    // Intermediates in issuing order, leaf side first; a CA subject counts as one (it is
    // judged by whether it can issue).
    let start = usize::from(!g.leaf().is_ca());
    for (i, ca) in g.chain.iter().enumerate().skip(1) {
        let Some(pathlen) = ca
            .basic_constraints()
            .ok()
            .flatten()
            .and_then(|b| b.value.path_len_constraint)
        else {
            continue;
        };
        let below = &g.chain[start..i];
        if below.len() > pathlen as usize {
            let rfc = below.iter().filter(|c| !is_self_issued(c)).count();
            if rfc <= pathlen as usize {
                return ChainError::GoStricter(format!(
                    "{} allows a path length of {pathlen}; RFC 5280 does not count the \
                     self-issued certificates below it, Go does ({} below)",
                    ca.subject(),
                    below.len()
                ));
            }
            return ChainError::PathLen {
                subject: ca.subject().to_string(),
                pathlen,
                below: below.len(),
            };
        }
    }
    ChainError::Rejected {
        subject: g.leaf().subject().to_string(),
        reason: "a pathLenConstraint of a CA above it is exceeded (a CA it issues, or the CA \
                 itself, sits below a CA that forbids it)"
            .into(),
    }
}

fn not_ca(g: &Given<'_>) -> ChainError {
    for (i, c) in g.chain.iter().enumerate().skip(1) {
        if !c.is_ca() {
            return ChainError::IssuerNotCa {
                subject: c.subject().to_string(),
                child: g.chain[i - 1].subject().to_string(),
            };
        }
    }
    ChainError::IssuerNotCa {
        subject: g.leaf().issuer().to_string(),
        child: g.leaf().subject().to_string(),
    }
}

/// Signature algorithms a path can use, by OID (RSASSA-PSS only with some parameters).
const KNOWN: &[(&str, &str)] = &[
    ("1.2.840.113549.1.1.11", "sha256WithRSAEncryption"),
    ("1.2.840.113549.1.1.12", "sha384WithRSAEncryption"),
    ("1.2.840.113549.1.1.13", "sha512WithRSAEncryption"),
    ("1.2.840.10045.4.3.2", "ecdsa-with-SHA256"),
    ("1.2.840.10045.4.3.3", "ecdsa-with-SHA384"),
    ("1.2.840.10045.4.3.4", "ecdsa-with-SHA512"),
    ("1.3.101.112", "Ed25519"),
];

/// The SHA-1 or otherwise unsupported signature algorithm that stopped the path.
fn algorithm(g: &Given<'_>) -> ChainError {
    if let Some(c) = g.chain.iter().find(|c| is_sha1_signature(c)) {
        return ChainError::Sha1 {
            subject: c.subject().to_string(),
        };
    }
    let oid = |c: &X509Certificate<'_>| c.signature_algorithm.algorithm.to_id_string();
    let c = g
        .chain
        .iter()
        .copied()
        .find(|c| !KNOWN.iter().any(|(o, _)| *o == oid(c)))
        .unwrap_or(g.leaf());
    let algorithm = match oid(c).as_str() {
        "1.2.840.113549.1.1.10" => "RSASSA-PSS with these parameters (Go and trustkeep verify \
                                    PSS with SHA-256/384/512, MGF1 of the same hash and a salt \
                                    of the hash's length)"
            .to_string(),
        o => KNOWN
            .iter()
            .find(|(k, _)| *k == o)
            .map(|(_, n)| format!("{n} under a key of another type or size"))
            .unwrap_or_else(|| format!("signature algorithm {o}")),
    };
    ChainError::UnsupportedAlgorithm {
        subject: c.subject().to_string(),
        algorithm,
    }
}

fn validity(g: &Given<'_>, t: DateTime<Utc>) -> ChainError {
    for c in &g.chain {
        let (nb, na) = (
            asn1_to_chrono(c.validity().not_before),
            asn1_to_chrono(c.validity().not_after),
        );
        if t < nb || t > na {
            return ChainError::OutsideValidity {
                subject: c.subject().to_string(),
                at: t,
                not_before: nb,
                not_after: na,
            };
        }
    }
    ChainError::NoCommonValidity
}
