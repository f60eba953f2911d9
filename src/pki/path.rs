//! Certification path validation: which chains Gloo Mesh and Istio (Go's crypto/x509) accept.
//!
//! rustls-webpki decides the path (RFC 5280 §6): it builds it over every candidate issuer and
//! backtracks, rejects unrecognised critical extensions, applies name constraints,
//! basicConstraints and pathLenConstraint, EKU on every certificate, validity (inclusive at
//! both ends) and the signature algorithms of [`super::algs`]. Like Go, it compares names byte
//! for byte and counts self-issued certificates toward path lengths. This module adds only
//! what Go does and webpki does not: an issuer (trust anchor included) whose keyUsage lacks
//! keyCertSign cannot issue, a version 3 anchor must have CA:TRUE, an anchor's pathlen holds,
//! and a CA subject is checked by whether it can *issue* (a probe end-entity certificate under
//! it must validate, see [`probe_under`]). A leaf whose names webpki cannot judge as Go does
//! (a wildcard over one label, email addresses) is validated as a stand-in copy, and what the
//! copy skipped is checked on the path found (see [`StandIn`]). It then explains a rejection, naming the
//! certificate, and says when Go is stricter than RFC 5280. It knows nothing of Gloo roles.

use std::cell::RefCell;

use chrono::{DateTime, Utc};
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter};
use x509_parser::prelude::*;

use super::algs::{self, SigMemo};
use super::{asn1_to_chrono, Cert};

/// Why a chain does not hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("no issuer found for {subject} (issued by {issuer}) among the certificates given")]
    IssuerNotFound { subject: String, issuer: String },
    #[error("{subject} is not a CA (basicConstraints CA:TRUE missing) but issued {child}")]
    IssuerNotCa { subject: String, child: String },
    #[error("{subject} lacks keyCertSign in its keyUsage but issued {child}; Go (Gloo Mesh, Istio) refuses it as an issuer")]
    IssuerNoKeyCertSign { subject: String, child: String },
    #[error("{subject} allows a path length of {pathlen} but {below} CA certificate(s) follow it")]
    PathLen {
        subject: String,
        pathlen: u32,
        below: usize,
    },
    #[error("{subject} is not valid at {at} (valid {not_before} to {not_after})")]
    OutsideValidity {
        subject: String,
        at: DateTime<Utc>,
        not_before: DateTime<Utc>,
        not_after: DateTime<Utc>,
    },
    #[error("there is no moment at which every certificate of the path is valid")]
    NoCommonValidity,
    #[error("{subject} is signed with SHA-1, which Go (Gloo Mesh, Istio) refuses (x509: insecure algorithm); reissue it with SHA-256")]
    Sha1 { subject: String },
    #[error("{subject} is signed with {algorithm}, an algorithm or parameter set Go and trustkeep do not verify")]
    UnsupportedAlgorithm { subject: String, algorithm: String },
    #[error("the signature of {subject} does not verify with the key of its issuer {issuer}")]
    BadSignature { subject: String, issuer: String },
    #[error(
        "{subject} has an unrecognised critical extension {oid}; Go and openssl refuse the chain"
    )]
    CriticalExtension { subject: String, oid: String },
    #[error("{subject} violates the name constraints of a CA above it")]
    NameConstraints { subject: String },
    #[error("the extendedKeyUsage of {subject} does not allow the usage")]
    ExtKeyUsage { subject: String },
    #[error("valid per RFC 5280 but Go (Gloo Mesh, Istio) rejects it: {0}")]
    GoStricter(String),
    #[error("the chain is longer than {0} certificates")]
    TooLong(usize),
    #[error("a certificate of the chain does not parse ({0})")]
    Unparsable(String),
    #[error("the chain of {subject} is rejected: {reason}")]
    Rejected { subject: String, reason: String },
}

/// A verified chain: the certificates from the leaf up to the trust anchor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub path: Vec<Cert>,
}

impl Chain {
    /// The links of the path whose child's authorityKeyIdentifier differs from its issuer's
    /// subjectKeyIdentifier (both present), as (child subject, issuer subject). Go and webpki
    /// accept such a path (Go uses the AKI only as a hint); openssl and RFC 5280 do not.
    pub fn aki_mismatches(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for pair in self.path.windows(2) {
            let (child, issuer) = (pair[0].x509(), pair[1].x509());
            if let (Some(aki), Some(ski)) = (key_id(child, false), key_id(issuer, true)) {
                if aki != ski {
                    out.push((child.subject().to_string(), issuer.subject().to_string()));
                }
            }
        }
        out
    }
}

/// A private key's parse: its public half, or the `key.parse` finding.
type KeyVerdict = Result<super::PrivateKey, Box<crate::findings::Finding>>;

/// Remembers signature verdicts within one run of the checks, where the same root signs and
/// is checked many times (a management set verifies each relay-root signature 3 times), and
/// private key parses, where `verify` meets the same keys in every archive of a cluster.
#[derive(Default)]
pub(crate) struct RunCache {
    memo: SigMemo,
    /// Key parses by SHA-256 of the data key's name and bytes: only the public half and the
    /// finding are kept, never the key.
    keys: std::sync::Mutex<std::collections::HashMap<[u8; 32], KeyVerdict>>,
}

impl RunCache {
    /// [`super::parse_key`], remembered: checking an EC key against its scalar is most of
    /// what verifying an archive costs (a P-384 multiplication per key), and the keys of one
    /// cluster's archives stay the same until they are rotated.
    pub(crate) fn parse_key(
        &self,
        key: &str,
        bytes: &[u8],
    ) -> Result<super::PrivateKey, Box<crate::findings::Finding>> {
        let id = memo_id(b"key", key.as_bytes(), bytes);
        let lock = || self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = lock().get(&id) {
            return v.clone();
        }
        let v = super::parse_key(key, bytes);
        lock().insert(id, v.clone());
        v
    }

    /// `issued_by`, remembered by the two certificates' DER.
    pub(crate) fn issued_by(&self, child: &Cert, issuer: &Cert) -> bool {
        let id = memo_id(b"issued_by", child.der(), issuer.der());
        self.memo
            .get_or(id, || issued_by(child.x509(), issuer.x509()))
    }

    /// Whether `issuer`'s key verifies `child`'s signature (names aside), remembered by the
    /// two certificates' DER.
    fn signed(&self, child: &Cert, issuer: &Cert) -> bool {
        let id = memo_id(b"signed", child.der(), issuer.der());
        self.memo
            .get_or(id, || verify_signature(child.x509(), issuer.x509()))
    }
}

/// What a [`RunCache`] entry is remembered by: SHA-256 of what was asked and its two
/// inputs, the first length-prefixed so no two pairs run together the same.
fn memo_id(what: &[u8], first: &[u8], second: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(what);
    h.update((first.len() as u64).to_be_bytes());
    h.update(first);
    h.update(second);
    h.finalize().into()
}

/// True when `issuer` issued `child`: names match byte for byte, key identifiers agree when
/// both are present, and the signature verifies with the issuer's key (any algorithm
/// x509-parser verifies, SHA-1 included: this answers "who signed it", not "would Go accept").
pub(crate) fn issued_by(child: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
    if child.issuer().as_raw() != issuer.subject().as_raw() {
        return false;
    }
    if let (Some(aki), Some(ski)) = (key_id(child, false), key_id(issuer, true)) {
        if aki != ski {
            return false;
        }
    }
    verify_signature(child, issuer)
}

pub(crate) fn key_id<'a>(c: &'a X509Certificate<'_>, subject: bool) -> Option<&'a [u8]> {
    c.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) if subject => Some(k.0),
            ParsedExtension::AuthorityKeyIdentifier(a) if !subject => {
                a.key_identifier.as_ref().map(|k| k.0)
            }
            _ => None,
        })
}

/// Verifies `child`'s signature with `issuer`'s key.
fn verify_signature(child: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
    signature_verifies(
        &child.signature_algorithm,
        child.tbs_certificate.as_ref(),
        &child.signature_value,
        issuer.public_key(),
    )
}

/// Whether `sig` over `tbs` by algorithm `alg` verifies with key `spki` (a certificate's or a
/// CRL's signature); RSA PKCS#1 from 1024 bits through ring, P-521 through `p521`, the rest
/// through x509-parser.
pub(crate) fn signature_verifies(
    alg: &AlgorithmIdentifier<'_>,
    tbs: &[u8],
    sig: &x509_parser::der_parser::asn1_rs::BitString<'_>,
    spki: &SubjectPublicKeyInfo<'_>,
) -> bool {
    use ring::signature as ring_sig;
    let oid = alg.algorithm.to_id_string();
    let rsa: Option<&'static dyn ring_sig::VerificationAlgorithm> = match oid.as_str() {
        "1.2.840.113549.1.1.5" => Some(&ring_sig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY),
        "1.2.840.113549.1.1.11" => Some(&ring_sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY),
        "1.2.840.113549.1.1.13" => Some(&ring_sig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY),
        _ => None,
    };
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok());
    let pk = &spki.subject_public_key.data;
    if curve.is_some_and(|c| c.to_id_string() == super::key::OID_P521) {
        return algs::p521_verify(&oid, pk, tbs, &sig.data).unwrap_or(false);
    }
    match rsa {
        Some(rsa) if spki.algorithm.algorithm.to_id_string() == super::key::OID_RSA => {
            ring_sig::UnparsedPublicKey::new(rsa, pk)
                .verify(tbs, &sig.data)
                .is_ok()
        }
        _ => x509_parser::verify::verify_signature(spki, alg, sig, tbs).is_ok(),
    }
}

pub(crate) fn is_self_issued(c: &X509Certificate<'_>) -> bool {
    c.subject().as_raw() == c.issuer().as_raw()
}

/// OIDs of SHA-1 based signature algorithms.
pub(crate) fn is_sha1_signature(c: &X509Certificate<'_>) -> bool {
    matches!(
        c.signature_algorithm.algorithm.to_id_string().as_str(),
        "1.2.840.113549.1.1.5" | "1.2.840.10045.4.1" | "1.2.840.10040.4.3"
    )
}

/// Validates the path from `leaf` through `intermediates` to one of `anchors`, as Go's
/// `x509.Certificate.Verify` with `KeyUsages: [ExtKeyUsageAny]` does, with the additions of
/// the module docs. With `at`, every certificate of the path must be valid at `at`; without
/// it, validity is left to the `validity.*` checks (the path is tried at each notBefore).
pub fn verify_chain(
    leaf: &Cert,
    intermediates: &[Cert],
    anchors: &[Cert],
    at: Option<DateTime<Utc>>,
) -> Result<Chain, ChainError> {
    let cache = RunCache::default();
    verify_chain_cached(leaf, intermediates, anchors, at, Usage::Any, &cache)
}

/// [`verify_chain`] for `usage` (Go's `KeyUsages`) instead of any usage.
pub fn verify_chain_for(
    leaf: &Cert,
    intermediates: &[Cert],
    anchors: &[Cert],
    at: Option<DateTime<Utc>>,
    usage: Usage,
) -> Result<Chain, ChainError> {
    let cache = RunCache::default();
    verify_chain_cached(leaf, intermediates, anchors, at, usage, &cache)
}

/// [`verify_chain`] for `usage`, with signature verdicts shared through `cache`.
pub(crate) fn verify_chain_cached(
    leaf: &Cert,
    intermediates: &[Cert],
    anchors: &[Cert],
    at: Option<DateTime<Utc>>,
    usage: Usage,
    cache: &RunCache,
) -> Result<Chain, ChainError> {
    verify_subject(leaf, (intermediates, anchors), at, (usage, false), cache)
}

/// Validates `leaf` as a TLS peer, as Go's `Verify` does for the certificate a peer presents:
/// a CA certificate there is judged as an end entity, not by whether it can issue (the
/// question [`verify_chain_for`] asks of a CA secret). For external suites such as
/// x509-limbo, whose peers are end entities whatever their basicConstraints say.
pub fn verify_peer_for(
    leaf: &Cert,
    intermediates: &[Cert],
    anchors: &[Cert],
    at: Option<DateTime<Utc>>,
    usage: Usage,
) -> Result<Chain, ChainError> {
    let cache = RunCache::default();
    verify_subject(leaf, (intermediates, anchors), at, (usage, true), &cache)
}

fn verify_subject(
    leaf: &Cert,
    (intermediates, anchors): (&[Cert], &[Cert]),
    at: Option<DateTime<Utc>>,
    (usage, peer): (Usage, bool),
    cache: &RunCache,
) -> Result<Chain, ChainError> {
    let leaf_x = leaf.x509();
    if anchors.contains(leaf) {
        // Go: a certificate in the root pool is its own chain.
        return Ok(Chain {
            path: vec![leaf.clone()],
        });
    }
    let times: Vec<DateTime<Utc>> = match at {
        Some(t) => vec![t],
        None => candidate_times(leaf, intermediates, anchors),
    };
    let mut first_err = None;
    for t in times {
        match verify_at(
            leaf,
            leaf_x,
            (intermediates, anchors),
            (t, usage, peer),
            cache,
        ) {
            Ok(c) => return Ok(c),
            Err(e @ ChainError::OutsideValidity { .. }) if at.is_none() => {
                first_err.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(match (at, first_err) {
        (Some(_), Some(e)) => e,
        _ => ChainError::NoCommonValidity,
    })
}

/// Every notBefore among the certificates given, latest first.
fn candidate_times(leaf: &Cert, intermediates: &[Cert], anchors: &[Cert]) -> Vec<DateTime<Utc>> {
    let mut ts: Vec<DateTime<Utc>> = std::iter::once(leaf)
        .chain(intermediates)
        .chain(anchors)
        .map(|c| asn1_to_chrono(c.x509().validity().not_before))
        .collect();
    ts.sort_unstable_by(|a, b| b.cmp(a));
    ts.dedup();
    ts
}

/// The key usage a path is verified for, as Go's `VerifyOptions.KeyUsages`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// `ExtKeyUsageAny`: any EKU (webpki still requires a well-formed extension).
    Any,
    /// `ExtKeyUsageClientAuth`, as the relay server verifies agents.
    ClientAuth,
    /// `ExtKeyUsageServerAuth`, Go's default when `KeyUsages` is empty: as the agent's TLS
    /// client verifies the relay server, and as istiod checks its plug-in certificates.
    ServerAuth,
}

impl ExtendedKeyUsageValidator for Usage {
    /// Go's EKU chaining: every certificate of the path that has an EKU must allow the usage
    /// (or anyExtendedKeyUsage).
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        const CLIENT_AUTH: &[usize] = &[1, 3, 6, 1, 5, 5, 7, 3, 2];
        const SERVER_AUTH: &[usize] = &[1, 3, 6, 1, 5, 5, 7, 3, 1];
        const ANY: &[usize] = &[2, 5, 29, 37, 0];
        let wanted = match self {
            Usage::Any => return Ok(()),
            Usage::ClientAuth => CLIENT_AUTH,
            Usage::ServerAuth => SERVER_AUTH,
        };
        let mut empty = true;
        let mut allowed = false;
        for id in iter {
            let oid = id?.to_decoded_oid();
            empty = false;
            allowed |= oid == ANY || oid == wanted;
        }
        if empty || allowed {
            Ok(())
        } else {
            #[allow(deprecated)]
            Err(webpki::Error::RequiredEkuNotFound)
        }
    }
}

/// One attempt of path validation at time `t`, for `usage`.
fn verify_at(
    leaf: &Cert,
    leaf_x: &X509Certificate<'_>,
    (intermediates, anchors): (&[Cert], &[Cert]),
    (t, usage, peer): (DateTime<Utc>, Usage, bool),
    cache: &RunCache,
) -> Result<Chain, ChainError> {
    let (anchor_certs, tas) = trust_anchors(anchors);
    let probe = if leaf_x.is_ca() && !peer {
        Some(probe_under(leaf)?)
    } else {
        None
    };
    // A leaf webpki cannot judge as Go does stands in as a copy (see [`StandIn`]).
    let stand_in = match probe {
        None => stand_in(leaf, leaf_x, peer && leaf_x.is_ca())?,
        Some(_) => None,
    };
    let mut ints: Vec<CertificateDer<'_>> = Vec::new();
    if probe.is_some() {
        ints.push(CertificateDer::from(leaf.der()));
    }
    ints.extend(
        intermediates
            .iter()
            .filter(|c| *c != leaf)
            .map(|c| CertificateDer::from(c.der())),
    );
    let ee_der = CertificateDer::from(
        (probe.as_ref().map(|p| p.der.as_slice()))
            .or(stand_in.as_ref().map(|s| s.der.as_slice()))
            .unwrap_or(leaf.der()),
    );
    let ee = EndEntityCert::try_from(&ee_der)
        .map_err(|e| explain(leaf, intermediates, anchors, e, t))?;
    let acceptors = (probe.as_ref().map(|p| algs::probe_acceptors(&p.tbs)))
        .or(stand_in.as_ref().map(|s| algs::probe_acceptors(&s.tbs)))
        .unwrap_or_default();
    let boxed = algs::with_memo(&cache.memo, &acceptors);
    let sigs: Vec<&dyn rustls_pki_types::SignatureVerificationAlgorithm> =
        boxed.iter().map(|b| b.as_ref()).collect();
    let go_reason: RefCell<Option<ChainError>> = RefCell::new(None);
    let accepted: RefCell<Vec<Cert>> = RefCell::new(Vec::new());
    let check = |p: &webpki::VerifiedPath<'_>| -> Result<(), webpki::Error> {
        let mut path: Vec<Cert> = vec![leaf.clone()];
        let skip = usize::from(probe.is_some());
        path.extend(p.intermediate_certificates().skip(skip).map(|c| {
            intermediates
                .iter()
                .find(|i| i.der() == c.der().as_ref())
                .cloned()
                .expect("an intermediate from our list")
        }));
        let i = tas
            .iter()
            .position(|a| std::ptr::eq(a, p.anchor()))
            .expect("anchor from our list");
        path.push(anchor_certs[i].clone());
        let stood_in = match &stand_in {
            Some(si) => si.holds(&path, cache),
            None => Ok(()),
        };
        let go = || go_deltas(&path, probe.is_some(), t);
        let named = || go_name_constraints(&path);
        match stood_in.and_then(|()| go()).and_then(|()| named()) {
            Ok(()) => {
                *accepted.borrow_mut() = path;
                Ok(())
            }
            Err(e) => {
                go_reason.borrow_mut().get_or_insert(e);
                Err(webpki::Error::UnknownIssuer)
            }
        }
    };
    let time =
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(t.timestamp().max(0) as u64));
    match ee.verify_for_usage(&sigs, &tas, &ints, time, usage, None, Some(&check)) {
        Ok(_) => Ok(Chain {
            path: accepted.take(),
        }),
        Err(e) => Err(go_reason
            .take()
            .unwrap_or_else(|| explain(leaf, intermediates, anchors, e, t))),
    }
}

/// The anchors webpki can use, with the certificates they came from (same order).
fn trust_anchors(anchors: &[Cert]) -> (Vec<Cert>, Vec<TrustAnchor<'_>>) {
    let mut certs = Vec::new();
    let mut tas = Vec::new();
    for a in anchors {
        let der = CertificateDer::from(a.der());
        if let Ok(ta) = webpki::anchor_from_trusted_cert(&der) {
            certs.push(a.clone());
            tas.push(ta.to_owned());
        }
    }
    (certs, tas)
}

/// What Go's `CheckSignatureFrom` and `isValid` demand of a path webpki accepted: every
/// issuer whose keyUsage is present has keyCertSign; a v3 anchor has CA:TRUE; the anchor's
/// pathLenConstraint covers the intermediates below it; the anchor is valid at `t`. `probed` means the leaf is a CA
/// checked through a probe, so it counts as an intermediate.
fn go_deltas(path: &[Cert], probed: bool, t: DateTime<Utc>) -> Result<(), ChainError> {
    let xs: Vec<&X509Certificate<'_>> = path.iter().map(Cert::x509).collect();
    let first_issuer = if probed { 0 } else { 1 };
    for i in first_issuer..xs.len() {
        let x = &xs[i];
        let child = if i == 0 {
            "the certificates it issues".to_string()
        } else {
            xs[i - 1].subject().to_string()
        };
        if let Ok(Some(ku)) = x.key_usage() {
            if !ku.value.key_cert_sign() {
                return Err(ChainError::IssuerNoKeyCertSign {
                    subject: x.subject().to_string(),
                    child,
                });
            }
        }
    }
    let anchor = xs.last().expect("non-empty");
    // webpki takes an anchor as its name and key; Go checks its extensions like any other.
    if let Some(oid) = super::goparse::unhandled_critical(anchor) {
        return Err(ChainError::CriticalExtension {
            subject: anchor.subject().to_string(),
            oid,
        });
    }
    let (nb, na) = (
        asn1_to_chrono(anchor.validity().not_before),
        asn1_to_chrono(anchor.validity().not_after),
    );
    if t < nb || t > na {
        return Err(ChainError::OutsideValidity {
            subject: anchor.subject().to_string(),
            at: t,
            not_before: nb,
            not_after: na,
        });
    }
    let bc = anchor
        .basic_constraints()
        .ok()
        .flatten()
        .map(|b| b.value.clone());
    if anchor.version() == X509Version::V3 && !bc.as_ref().is_some_and(|b| b.ca) && xs.len() > 1 {
        return Err(ChainError::IssuerNotCa {
            subject: anchor.subject().to_string(),
            child: xs[xs.len() - 2].subject().to_string(),
        });
    }
    if let Some(pathlen) = bc.and_then(|b| b.path_len_constraint) {
        let below = xs.len() - 1 - usize::from(!probed);
        let ints = &xs[usize::from(!probed)..xs.len() - 1];
        let rfc = ints.iter().filter(|c| !is_self_issued(c)).count();
        if below > pathlen as usize && rfc <= pathlen as usize {
            return Err(ChainError::GoStricter(format!(
                "{} allows a path length of {pathlen}; RFC 5280 does not count the \
                 self-issued certificates below it, Go does ({below} below)",
                anchor.subject()
            )));
        }
        if below > pathlen as usize {
            return Err(ChainError::PathLen {
                subject: anchor.subject().to_string(),
                pathlen,
                below,
            });
        }
    }
    Ok(())
}

/// A probe end-entity certificate "issued" by the CA `ca`: issuer = `ca`'s subject (the same
/// bytes), the CA's own key as subject key, no extensions, valid 1970–9999, and the private
/// signature algorithm only the probe acceptor accepts, for this probe's bytes only. Webpki
/// then validates `ca` as an issuer, which is the question for a CA secret: can it issue?
pub(crate) struct Probe {
    der: Vec<u8>,
    tbs: Vec<u8>,
}

fn probe_under(ca: &Cert) -> Result<Probe, ChainError> {
    use x509_cert::der::{asn1, Decode, Encode};
    let bad = |e: x509_cert::der::Error| ChainError::Unparsable(e.to_string());
    let c = x509_cert::Certificate::from_der(ca.der()).map_err(bad)?;
    let mut tbs = c.tbs_certificate;
    let alg = x509_cert::spki::AlgorithmIdentifierOwned {
        oid: x509_cert::der::oid::ObjectIdentifier::new_unwrap(algs::PROBE_SIG_OID),
        parameters: None,
    };
    tbs.version = x509_cert::Version::V3;
    tbs.serial_number = x509_cert::serial_number::SerialNumber::new(&[1]).map_err(bad)?;
    tbs.signature = alg.clone();
    tbs.issuer = tbs.subject.clone();
    tbs.subject = x509_cert::name::RdnSequence::default();
    let since = |secs: u64| {
        asn1::GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs))
            .map(x509_cert::time::Time::GeneralTime)
    };
    tbs.validity = x509_cert::time::Validity {
        not_before: since(0).map_err(bad)?,
        not_after: since(253_402_300_799).map_err(bad)?,
    };
    tbs.issuer_unique_id = None;
    tbs.subject_unique_id = None;
    tbs.extensions = None;
    let tbs_der = tbs.to_der().map_err(bad)?;
    let cert = x509_cert::Certificate {
        tbs_certificate: tbs,
        signature_algorithm: alg,
        signature: asn1::BitString::from_bytes(&[0]).map_err(bad)?,
    };
    Ok(Probe {
        der: cert.to_der().map_err(bad)?,
        tbs: tbs_der,
    })
}

/// A leaf whose subjectAltName webpki cannot judge as Go does: a wildcard over a single label
/// (`*.gloo-mesh`, the relay server's own SAN, which webpki calls malformed while Go, openssl
/// and RFC 5280 accept it) or an email address (webpki has no email name constraints). Webpki
/// then validates a copy of the leaf: the wildcard label becomes [`WILDCARD_LABEL`] (Go
/// compares the `*` label literally with constraints, and so does webpki with this one), the
/// email addresses go, and the copy carries the probe signature that only its own bytes
/// satisfy. What the copy skipped is checked here on the path webpki found: the leaf's real
/// signature by its issuer, and its email addresses against every CA's email constraints as
/// Go's `matchEmailConstraint` does.
struct StandIn {
    der: Vec<u8>,
    tbs: Vec<u8>,
    real: Cert,
}

/// The label a wildcard becomes in a stand-in; a DNS label no constraint names in practice.
const WILDCARD_LABEL: &str = "x--trustkeep-wildcard";

fn stand_in(
    leaf: &Cert,
    leaf_x: &X509Certificate<'_>,
    drop_ca: bool,
) -> Result<Option<StandIn>, ChainError> {
    use x509_cert::der::{asn1, Decode, Encode};
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::ext::pkix::SubjectAltName;
    let names = match leaf_x.subject_alternative_name() {
        Ok(Some(san)) => san.value.general_names.iter().any(|n| match n {
            x509_parser::extensions::GeneralName::DNSName(d) => d.starts_with("*."),
            x509_parser::extensions::GeneralName::RFC822Name(_) => true,
            _ => false,
        }),
        _ => false,
    };
    if !names && !drop_ca {
        return Ok(None);
    }
    let bad = |e: x509_cert::der::Error| ChainError::Unparsable(e.to_string());
    let c = x509_cert::Certificate::from_der(leaf.der()).map_err(bad)?;
    let mut tbs = c.tbs_certificate;
    if drop_ca {
        // A peer is an end entity for Go whatever its basicConstraints say.
        if let Some(exts) = tbs.extensions.as_mut() {
            exts.retain(|e| e.extn_id.to_string() != "2.5.29.19");
        }
    }
    for ext in tbs.extensions.iter_mut().flatten() {
        if ext.extn_id.to_string() != "2.5.29.17" {
            continue;
        }
        let names = SubjectAltName::from_der(ext.extn_value.as_bytes()).map_err(bad)?;
        let mut kept = Vec::new();
        for n in names.0 {
            match n {
                GeneralName::DnsName(d) if d.as_str().starts_with("*.") => {
                    let name = format!("{WILDCARD_LABEL}{}", &d.as_str()[1..]);
                    kept.push(GeneralName::DnsName(
                        asn1::Ia5String::new(&name).map_err(bad)?,
                    ));
                }
                GeneralName::Rfc822Name(_) => {}
                other => kept.push(other),
            }
        }
        let value = SubjectAltName(kept).to_der().map_err(bad)?;
        ext.extn_value = asn1::OctetString::new(value).map_err(bad)?;
    }
    let alg = x509_cert::spki::AlgorithmIdentifierOwned {
        oid: x509_cert::der::oid::ObjectIdentifier::new_unwrap(algs::PROBE_SIG_OID),
        parameters: None,
    };
    tbs.signature = alg.clone();
    let tbs_der = tbs.to_der().map_err(bad)?;
    let cert = x509_cert::Certificate {
        tbs_certificate: tbs,
        signature_algorithm: alg,
        signature: asn1::BitString::from_bytes(&[0]).map_err(bad)?,
    };
    Ok(Some(StandIn {
        der: cert.to_der().map_err(bad)?,
        tbs: tbs_der,
        real: leaf.clone(),
    }))
}

impl StandIn {
    /// What webpki did not check of the real leaf, on the path it found (`path[0]` the leaf).
    /// The leaf's signature verdict goes through `cache`, as webpki's do.
    fn holds(&self, path: &[Cert], cache: &RunCache) -> Result<(), ChainError> {
        let leaf = self.real.x509();
        let subject = leaf.subject().to_string();
        let issuer = path[1].x509();
        if is_sha1_signature(leaf) {
            return Err(ChainError::Sha1 { subject });
        }
        if !cache.signed(&self.real, &path[1]) {
            return Err(ChainError::BadSignature {
                subject,
                issuer: issuer.subject().to_string(),
            });
        }
        Ok(())
    }
}

/// Go's name constraints (`isValid`, Go 1.19's crypto/x509/verify.go) on DNS and email SANs:
/// each CA of the path with constraints, trust anchor included, checks the leaf's SANs and its
/// own (webpki leaves an anchor's constraints aside, reads a leading-period DNS constraint as
/// openssl does, has no email constraints, and does not check a CA's own names). A name in
/// an excluded subtree, or outside every permitted subtree of its type, violates them.
fn go_name_constraints(path: &[Cert]) -> Result<(), ChainError> {
    use x509_parser::extensions::{GeneralName, GeneralSubtree};
    let sans = |c: &X509Certificate<'_>| {
        let (mut dns, mut emails) = (Vec::new(), Vec::new());
        if let Ok(Some(san)) = c.subject_alternative_name() {
            for n in &san.value.general_names {
                match n {
                    GeneralName::DNSName(d) => dns.push(d.to_string()),
                    GeneralName::RFC822Name(e) => emails.push(e.to_string()),
                    _ => {}
                }
            }
        }
        (dns, emails)
    };
    type Trees<'a> = Option<Vec<GeneralSubtree<'a>>>;
    let of = |trees: &Trees<'_>, email: bool| -> Vec<String> {
        (trees.iter().flatten())
            .filter_map(|t| match (&t.base, email) {
                (GeneralName::DNSName(c), false) | (GeneralName::RFC822Name(c), true) => {
                    Some(c.to_string())
                }
                _ => None,
            })
            .collect()
    };
    let leaf = path[0].x509();
    let leaf_names = sans(leaf);
    for ca in &path[1..] {
        let x = ca.x509();
        let Ok(Some(nc)) = x.name_constraints() else {
            continue;
        };
        let (p, e) = (&nc.value.permitted_subtrees, &nc.value.excluded_subtrees);
        let own = sans(x);
        for (subject, (dns, emails)) in [(&leaf, &leaf_names), (&x, &own)] {
            for (names, email, matches) in [
                (dns, false, domain_matches as fn(&str, &str) -> bool),
                (emails, true, email_matches as fn(&str, &str) -> bool),
            ] {
                let (permitted, excluded) = (of(p, email), of(e, email));
                for n in names {
                    let violates = excluded.iter().any(|c| matches(n, c))
                        || !permitted.is_empty() && !permitted.iter().any(|c| matches(n, c));
                    if violates {
                        return Err(ChainError::NameConstraints {
                            subject: subject.subject().to_string(),
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

/// Go's `matchEmailConstraint`: a constraint with `@` is one mailbox (local part exact,
/// domain case-insensitive); otherwise a domain, `.`-prefixed for subdomains only.
fn email_matches(mailbox: &str, constraint: &str) -> bool {
    let Some((local, domain)) = mailbox.split_once('@') else {
        return false;
    };
    if domain.contains('@') {
        // Not an RFC 2821 mailbox: Go permits it under no constraint.
        return false;
    }
    match constraint.rsplit_once('@') {
        Some((cl, cd)) => local == cl && domain.eq_ignore_ascii_case(cd),
        None => domain_matches(domain, constraint),
    }
}

/// Go's `matchDomainConstraint`, label by label from the right.
fn domain_matches(domain: &str, constraint: &str) -> bool {
    if constraint.is_empty() {
        return true;
    }
    let (must_have_sub, constraint) = match constraint.strip_prefix('.') {
        Some(c) => (true, c),
        None => (false, constraint),
    };
    let d: Vec<&str> = domain.rsplit('.').collect();
    let c: Vec<&str> = constraint.rsplit('.').collect();
    if d.len() < c.len() || must_have_sub && d.len() == c.len() {
        return false;
    }
    c.iter().zip(&d).all(|(c, d)| c.eq_ignore_ascii_case(d))
}

/// Turns webpki's verdict into a [`ChainError`] that names the certificate at fault.
fn explain(
    leaf: &Cert,
    intermediates: &[Cert],
    anchors: &[Cert],
    e: webpki::Error,
    t: DateTime<Utc>,
) -> ChainError {
    super::explain::explain(leaf, intermediates, anchors, e, t)
}
