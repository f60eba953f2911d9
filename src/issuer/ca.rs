//! A certificate authority the issuer can sign with: its certificate, its private key and the
//! path from it up to its root. Made fresh (a new setup) or read back from an archive (a
//! re-issue); either way it signs through rcgen's issuer built from its own certificate's DER,
//! so the issuer name and authorityKeyIdentifier of what it signs are its subject and
//! subjectKeyIdentifier byte for byte. Every certificate it issues is checked against its path
//! with trustkeep's own path validation (Go's rules) before it is handed out.

use chrono::{DateTime, Utc};
use rcgen::Issuer;
use rustls_pki_types::CertificateDer;

use super::keys::{Key, KeyType};
use super::profiles::{self, Request, Validity};
use super::IssueError;
use crate::pki::{self, Cert};

/// A CA: certificate, key, and the path to its root (this certificate first, the root last).
#[derive(Debug)]
pub(crate) struct Ca {
    pub(crate) key: Key,
    pub(crate) path: Vec<Cert>,
}

/// A new certificate and its key.
#[derive(Debug)]
pub(crate) struct Issued {
    pub(crate) cert: Cert,
    pub(crate) key: Key,
}

impl Ca {
    /// A new self-signed root of `req`'s profile.
    pub(crate) fn root(req: &Request, v: &Validity, kt: KeyType) -> Result<Ca, IssueError> {
        let key = Key::generate(kt)?;
        let params = profiles::params(req, v)?;
        let c = params
            .self_signed(&key.pair)
            .map_err(|e| IssueError::Profile(format!("cannot self-sign the root: {e}")))?;
        let cert = to_cert(c.der())?;
        Ok(Ca {
            key,
            path: vec![cert],
        })
    }

    /// Reads a CA back: its certificate, key and the certificates above it (root last).
    pub(crate) fn from_parts(key: Key, path: Vec<Cert>) -> Ca {
        Ca { key, path }
    }

    /// This CA's certificate.
    pub(crate) fn cert(&self) -> &Cert {
        &self.path[0]
    }

    /// The root this CA's path ends in.
    pub(crate) fn root_cert(&self) -> &Cert {
        self.path
            .last()
            .expect("a CA's path holds at least its own certificate")
    }

    /// This CA and the intermediates above it, without the root: what a certificate it issues
    /// carries after itself (`tls.crt` bundles).
    pub(crate) fn chain_below_root(&self) -> &[Cert] {
        &self.path[..self.path.len() - 1]
    }

    /// When this CA's certificate expires.
    pub(crate) fn not_after(&self) -> DateTime<Utc> {
        pki::asn1_to_chrono(self.cert().x509().validity().not_after)
    }

    /// Issues `req` for a new key of type `kt`, checked against this CA's path.
    pub(crate) fn issue(
        &self,
        mut req: Request,
        v: &Validity,
        kt: KeyType,
    ) -> Result<Issued, IssueError> {
        req.issuer_not_after = Some(self.not_after());
        let key = Key::generate(kt)?;
        let params = profiles::params(&req, v)?;
        let der = CertificateDer::from(self.cert().der().to_vec());
        let issuer = Issuer::from_ca_cert_der(&der, &self.key.pair).map_err(|e| {
            IssueError::Profile(format!(
                "cannot sign with {}: {e}",
                self.cert().summary().subject
            ))
        })?;
        let c = params
            .signed_by(&key.pair, &issuer)
            .map_err(|e| IssueError::Profile(format!("cannot issue the certificate: {e}")))?;
        let cert = to_cert(c.der())?;
        let (rest, root) = self.path.split_at(self.path.len() - 1);
        pki::verify_chain(&cert, rest, root, None).map_err(|e| {
            IssueError::Profile(format!(
                "the certificate issued for {} does not verify under {}: {e}",
                cert.summary().subject,
                self.cert().summary().subject
            ))
        })?;
        Ok(Issued { cert, key })
    }

    /// Issues an intermediate CA of `req`'s profile under this CA.
    pub(crate) fn issue_ca(
        &self,
        req: Request,
        v: &Validity,
        kt: KeyType,
    ) -> Result<Ca, IssueError> {
        let Issued { cert, key } = self.issue(req, v, kt)?;
        let mut path = vec![cert];
        path.extend(self.path.iter().cloned());
        Ok(Ca { key, path })
    }
}

fn to_cert(der: &[u8]) -> Result<Cert, IssueError> {
    Cert::from_der(der.to_vec()).map_err(|e| {
        IssueError::Profile(format!("rcgen made a certificate that does not parse: {e}"))
    })
}

/// PEM of certificates, concatenated.
pub(crate) fn pem_of<'a>(certs: impl IntoIterator<Item = &'a Cert>) -> String {
    certs.into_iter().map(Cert::to_pem).collect()
}
