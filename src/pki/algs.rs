//! The signature algorithms path validation accepts, as webpki
//! [`SignatureVerificationAlgorithm`]s: the set Go's crypto/x509 verifies, memoised.
//!
//! webpki's ring algorithms cover ECDSA P-256/P-384, Ed25519 and RSA-PSS; this module adds
//! what Go accepts beyond them (RSA PKCS#1 keys from 1024 bits, through ring's legacy
//! verifiers; ECDSA P-521, through the RustCrypto `p521` crate) and leaves out what Go refuses
//! (every SHA-1 algorithm). Every verdict is remembered in a [`SigMemo`], so a root checked
//! many times in one run is verified once. The probe acceptor ([`ProbeAcceptor`]) accepts
//! exactly one message, the to-be-signed part of a probe certificate made by
//! [`super::path`]; it never accepts a real certificate's signature.

use std::collections::HashMap;
use std::sync::Mutex;

use rustls_pki_types::SignatureVerificationAlgorithm as Sva;
use rustls_pki_types::{alg_id, AlgorithmIdentifier, InvalidSignature};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// Signature verdicts of one run, by digest of (algorithm, key, message, signature).
#[derive(Default, Debug)]
pub(crate) struct SigMemo {
    verdicts: Mutex<HashMap<[u8; 32], bool>>,
}

impl SigMemo {
    /// The remembered verdict for `key`, or `compute`'s (then remembered).
    pub(crate) fn get_or(&self, key: [u8; 32], compute: impl FnOnce() -> bool) -> bool {
        if let Some(v) = self.lock().get(&key) {
            return *v;
        }
        let v = compute();
        self.lock().insert(key, v);
        v
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], bool>> {
        self.verdicts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An algorithm whose verdicts go through a [`SigMemo`].
#[derive(Debug)]
struct Memo<'a> {
    inner: &'a dyn Sva,
    memo: &'a SigMemo,
}

impl Sva for Memo<'_> {
    fn verify_signature(&self, pk: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), InvalidSignature> {
        let mut h = Sha256::new();
        for part in [
            self.inner.public_key_alg_id().as_ref(),
            self.inner.signature_alg_id().as_ref(),
            pk,
            msg,
            sig,
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        let ok = self.memo.get_or(h.finalize().into(), || {
            self.inner.verify_signature(pk, msg, sig).is_ok()
        });
        ok.then_some(()).ok_or(InvalidSignature)
    }
    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        self.inner.public_key_alg_id()
    }
    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.inner.signature_alg_id()
    }
}

/// RSA PKCS#1 v1.5 with keys from 1024 bits (Go accepts them; a key under 2048 bits is a
/// `crypto.weak-key` finding of its own, not a broken chain).
#[derive(Debug)]
struct RsaLegacy {
    sig: AlgorithmIdentifier,
    #[allow(dead_code)] // read through Debug only
    name: &'static str,
    alg: &'static ring::signature::RsaParameters,
}

impl Sva for RsaLegacy {
    fn verify_signature(&self, pk: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), InvalidSignature> {
        ring::signature::UnparsedPublicKey::new(self.alg, pk)
            .verify(msg, sig)
            .map_err(|_| InvalidSignature)
    }
    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }
    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.sig
    }
}

static RSA_1024_SHA256: RsaLegacy = RsaLegacy {
    sig: alg_id::RSA_PKCS1_SHA256,
    name: "RSA PKCS#1 SHA-256 (1024-8192 bits)",
    alg: &ring::signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
};
static RSA_1024_SHA384: RsaLegacy = RsaLegacy {
    sig: alg_id::RSA_PKCS1_SHA384,
    name: "RSA PKCS#1 SHA-384 (2048-8192 bits; ring has no 1024-bit SHA-384 verifier)",
    alg: &ring::signature::RSA_PKCS1_2048_8192_SHA384,
};
static RSA_1024_SHA512: RsaLegacy = RsaLegacy {
    sig: alg_id::RSA_PKCS1_SHA512,
    name: "RSA PKCS#1 SHA-512 (1024-8192 bits)",
    alg: &ring::signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
};

/// ECDSA over P-521 (Go accepts it with SHA-256, SHA-384 and SHA-512).
#[derive(Debug)]
struct P521 {
    sig: AlgorithmIdentifier,
    hash: fn(&[u8]) -> Vec<u8>,
}

impl Sva for P521 {
    fn verify_signature(&self, pk: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), InvalidSignature> {
        use p521::ecdsa::signature::hazmat::PrehashVerifier;
        let key = p521::ecdsa::VerifyingKey::from_sec1_bytes(pk).map_err(|_| InvalidSignature)?;
        let sig = p521::ecdsa::Signature::from_der(sig).map_err(|_| InvalidSignature)?;
        // A digest shorter than the curve order is taken as an integer as it is (SEC 1,
        // 4.1.4); the ecdsa crate wants at least half the field size, so left-pad it.
        let digest = (self.hash)(msg);
        let mut padded = vec![0u8; 66usize.saturating_sub(digest.len())];
        padded.extend_from_slice(&digest);
        key.verify_prehash(&padded, &sig)
            .map_err(|_| InvalidSignature)
    }
    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P521
    }
    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.sig
    }
}

static P521_SHA256: P521 = P521 {
    sig: alg_id::ECDSA_SHA256,
    hash: |m| Sha256::digest(m).to_vec(),
};
static P521_SHA384: P521 = P521 {
    sig: alg_id::ECDSA_SHA384,
    hash: |m| Sha384::digest(m).to_vec(),
};
static P521_SHA512: P521 = P521 {
    sig: alg_id::ECDSA_SHA512,
    hash: |m| Sha512::digest(m).to_vec(),
};

/// Verifies an ECDSA signature by a P-521 key, for signature algorithm `sig_oid` (dotted);
/// `None` when the algorithm is not ECDSA with SHA-2.
pub(crate) fn p521_verify(sig_oid: &str, pk: &[u8], msg: &[u8], sig: &[u8]) -> Option<bool> {
    let alg = match sig_oid {
        "1.2.840.10045.4.3.2" => &P521_SHA256,
        "1.2.840.10045.4.3.3" => &P521_SHA384,
        "1.2.840.10045.4.3.4" => &P521_SHA512,
        _ => return None,
    };
    Some(alg.verify_signature(pk, msg, sig).is_ok())
}

/// Every algorithm Go's crypto/x509 verifies that trustkeep verifies too. No SHA-1.
fn go_algorithms() -> [&'static dyn Sva; 15] {
    use webpki::ring as w;
    [
        w::ECDSA_P256_SHA256,
        w::ECDSA_P256_SHA384,
        w::ECDSA_P384_SHA256,
        w::ECDSA_P384_SHA384,
        w::ED25519,
        w::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        w::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        w::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
        w::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
        &RSA_1024_SHA256,
        &RSA_1024_SHA384,
        &RSA_1024_SHA512,
        &P521_SHA256,
        &P521_SHA384,
        &P521_SHA512,
    ]
}

/// The private signature algorithm of probe certificates: OID 2.25.1 (a UUID-arc OID no
/// real certificate uses), no parameters.
pub(crate) const PROBE_SIG_OID: &str = "2.25.1";
const PROBE_SIG_ALG: AlgorithmIdentifier =
    AlgorithmIdentifier::from_slice(&[0x06, 0x02, 0x69, 0x01]);

/// Accepts the probe's one to-be-signed message under any issuer key of the kinds below.
#[derive(Debug)]
pub(crate) struct ProbeAcceptor<'a> {
    tbs: &'a [u8],
    key_alg: AlgorithmIdentifier,
}

impl Sva for ProbeAcceptor<'_> {
    fn verify_signature(&self, _pk: &[u8], msg: &[u8], _: &[u8]) -> Result<(), InvalidSignature> {
        (msg == self.tbs).then_some(()).ok_or(InvalidSignature)
    }
    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        self.key_alg
    }
    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        PROBE_SIG_ALG
    }
}

/// Probe acceptors for the issuer key kinds a CA can have, for probe `tbs`.
pub(crate) fn probe_acceptors(tbs: &[u8]) -> Vec<ProbeAcceptor<'_>> {
    [
        alg_id::RSA_ENCRYPTION,
        alg_id::ECDSA_P256,
        alg_id::ECDSA_P384,
        alg_id::ECDSA_P521,
        alg_id::ED25519,
    ]
    .into_iter()
    .map(|key_alg| ProbeAcceptor { tbs, key_alg })
    .collect()
}

/// The memoised algorithm set handed to webpki, plus `extra` (probe acceptors).
pub(crate) fn with_memo<'a>(
    memo: &'a SigMemo,
    extra: &'a [ProbeAcceptor<'a>],
) -> Vec<Box<dyn Sva + 'a>> {
    let mut out: Vec<Box<dyn Sva + 'a>> = go_algorithms()
        .into_iter()
        .map(|inner| Box::new(Memo { inner, memo }) as Box<dyn Sva + 'a>)
        .collect();
    out.extend(
        extra
            .iter()
            .map(|p| Box::new(Memo { inner: p, memo }) as Box<dyn Sva + 'a>),
    );
    out
}
