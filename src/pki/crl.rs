//! Certificate revocation lists, read as Go reads them: every PEM block of a bundle parsed by
//! `x509.ParseRevocationList`'s rules (a version 2 list whose inner and outer signature
//! algorithms agree), a list "signed by" a certificate as `RevocationList.CheckSignatureFrom`
//! decides it (a CA allowed to sign CRLs, whose key verifies the signature), and what a list
//! says of a certificate (revoked, due). istiod checks the signers of `cacerts`' `ca-crl.pem`
//! this way; Envoy, given the same lists, refuses a peer whose chain holds a revoked
//! certificate or a CA whose list is past its next update.

use chrono::{DateTime, Utc};
use x509_parser::pem::Pem;
use x509_parser::prelude::*;

use super::path::signature_verifies;
use super::{asn1_to_chrono, Cert};

/// One CRL, kept as DER that parses by Go's rules: made only by [`parse_crls`].
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Crl {
    der: Vec<u8>,
}

impl std::fmt::Debug for Crl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crl({})", self.issuer())
    }
}

/// Why a CRL bundle does not parse, in Go's words where Go has them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CrlError {
    #[error("no PEM block found")]
    NoPem,
    #[error("PEM is truncated or malformed ({0})")]
    BadPem(String),
    #[error("PEM block {index} is not a CRL Go parses: {reason}")]
    BadCrl { index: usize, reason: String },
}

/// Every PEM block of `bytes` as a CRL, whatever its label, as istiod reads `ca-crl.pem`.
pub(crate) fn parse_crls(bytes: &[u8]) -> Result<Vec<Crl>, CrlError> {
    let mut out = Vec::new();
    for (i, pem) in Pem::iter_from_buffer(bytes).enumerate() {
        let pem = pem.map_err(|e| CrlError::BadPem(e.to_string()))?;
        let index = i + 1;
        go_refusal(&pem.contents).map_err(|reason| CrlError::BadCrl { index, reason })?;
        out.push(Crl { der: pem.contents });
    }
    let begins = bytes.windows(11).filter(|w| *w == b"-----BEGIN ").count();
    if begins != out.len() {
        return Err(CrlError::BadPem(format!(
            "{begins} BEGIN line(s) but {} complete block(s)",
            out.len()
        )));
    }
    if out.is_empty() {
        return Err(CrlError::NoPem);
    }
    Ok(out)
}

/// Go's reason to refuse `der` as a CRL, in its words, or `Ok` when it parses.
fn go_refusal(der: &[u8]) -> Result<(), String> {
    use x509_parser::der_parser::asn1_rs::{Any, Tag};
    let malformed = |what: &str| format!("x509: malformed {what}");
    fn seq(b: &[u8]) -> Option<Any<'_>> {
        Any::from_der(b)
            .ok()
            .map(|(_, a)| a)
            .filter(|a| a.tag() == Tag::Sequence)
    }
    let outer = seq(der).ok_or_else(|| malformed("crl"))?;
    seq(outer.data).ok_or_else(|| malformed("tbs crl"))?;
    let (_, crl) = CertificateRevocationList::from_der(der).map_err(|_| malformed("crl"))?;
    if crl.tbs_cert_list.version != Some(X509Version::V2) {
        return Err("x509: unsupported crl version".into());
    }
    if crl.tbs_cert_list.signature != crl.signature_algorithm {
        return Err("x509: inner and outer signature algorithm identifiers don't match".into());
    }
    Ok(())
}

/// Why a certificate did not sign a CRL, as `CheckSignatureFrom` decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotSigner {
    /// Not a CA, or a CA whose keyUsage leaves out cRLSign: Go's constraint violation.
    NotAllowed,
    /// The signature does not verify with the certificate's key (another issuer).
    Signature,
}

impl Crl {
    fn parsed(&self) -> CertificateRevocationList<'_> {
        match CertificateRevocationList::from_der(&self.der) {
            Ok((_, c)) => c,
            Err(e) => unreachable!("a Crl holds DER that parsed when it was made: {e}"),
        }
    }

    /// The issuer's name, as certificates' names are shown.
    pub(crate) fn issuer(&self) -> String {
        self.parsed().issuer().to_string()
    }

    /// When the list is due to be replaced, if it says.
    pub(crate) fn next_update(&self) -> Option<DateTime<Utc>> {
        self.parsed().next_update().map(asn1_to_chrono)
    }

    /// Whether `ca` signed this list, as Go's `RevocationList.CheckSignatureFrom(ca)`.
    pub(crate) fn signed_by(&self, ca: &Cert) -> Result<(), NotSigner> {
        let c = ca.x509();
        let bc = c.basic_constraints().ok().flatten();
        let is_ca = bc.as_ref().is_some_and(|b| b.value.ca);
        if (c.version() == X509Version::V3 && bc.is_none()) || (bc.is_some() && !is_ca) {
            return Err(NotSigner::NotAllowed);
        }
        if let Ok(Some(ku)) = c.key_usage() {
            if ku.value.flags != 0 && !ku.value.crl_sign() {
                return Err(NotSigner::NotAllowed);
            }
        }
        let crl = self.parsed();
        let tbs = crl.tbs_cert_list.as_ref();
        if signature_verifies(
            &crl.signature_algorithm,
            tbs,
            &crl.signature_value,
            c.public_key(),
        ) {
            Ok(())
        } else {
            Err(NotSigner::Signature)
        }
    }

    /// Whether this list revokes `cert`: issued by the list's issuer and its serial listed.
    pub(crate) fn revokes(&self, cert: &Cert) -> bool {
        let crl = self.parsed();
        let c = cert.x509();
        c.issuer().as_raw() == crl.issuer().as_raw()
            && crl
                .iter_revoked_certificates()
                .any(|r| r.raw_serial() == c.raw_serial())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_with_a_block_that_is_no_crl_is_refused_in_go_s_words() {
        let junk = b"-----BEGIN X509 CRL-----\nMAMCAQA=\n-----END X509 CRL-----\n";
        assert_eq!(
            parse_crls(junk),
            Err(CrlError::BadCrl {
                index: 1,
                reason: "x509: malformed tbs crl".into()
            })
        );
        assert_eq!(parse_crls(b"nothing here"), Err(CrlError::NoPem));
        let cut = b"-----BEGIN X509 CRL-----\nMAMCAQA=\n";
        assert!(matches!(parse_crls(cut), Err(CrlError::BadPem(_))));
    }
}
