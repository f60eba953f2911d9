//! SSH signatures of archives: the `<archive>.sig` file beside each archive, in the SSHSIG
//! armored format of `ssh-keygen -Y sign` (namespace `trustkeep`, over the archive file's
//! bytes), the Ed25519 key a backup signs with, and reading a signature back. Which keys are
//! trusted, and so whether an archive is admitted, is [`crate::trust_policy`]'s; this module
//! only says who signed what.
//!
//! The private key lives in zeroizing types (ssh-key's) and never reaches `Debug`, logs or
//! errors: those name the key file and its public fingerprint only.

use std::path::{Path, PathBuf};

use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::store::Location;

/// The SSHSIG namespace of every archive signature: `ssh-keygen -Y verify -n trustkeep`.
pub const NAMESPACE: &str = "trustkeep";

/// `<archive>.sig`.
pub const SIG_SUFFIX: &str = ".sig";

/// Largest signature file read (an RSA-16384 signature is under 5 KiB).
pub(crate) const MAX_SIG_BYTES: usize = 64 * 1024;

/// Largest private key file read.
const MAX_KEY_BYTES: u64 = 64 * 1024;

/// Why a key could not sign, or an allowed_signers file could not be used, or an archive's
/// origin was refused. No message holds key material.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// `--sign-key FILE` cannot be used.
    #[error("signing key {}: {message}", path.display())]
    SigningKey { path: PathBuf, message: String },

    /// Signing failed.
    #[error("cannot sign {archive}: {message}")]
    Sign { archive: String, message: String },

    /// `--trusted-signers FILE` cannot be used.
    #[error("trusted signers {path}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    AllowedSigners {
        path: String,
        line: Option<usize>,
        message: String,
    },

    /// The trust policy refuses the archive (exit status 1): it was not decrypted.
    #[error("{archive}: refused before decryption: {reason}")]
    Refused { archive: String, reason: String },
}

/// `<archive>.sig` beside an archive (a file, or an object of the same prefix).
pub fn sig_location(archive: &Location) -> Location {
    archive
        .parent()
        .join(&format!("{}{SIG_SUFFIX}", archive.file_name()))
}

/// An Ed25519 OpenSSH private key to sign archives with (`ssh-keygen -t ed25519 -N ''`).
pub struct SigningKey {
    pub(crate) key: PrivateKey,
    path: PathBuf,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("path", &self.path)
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads an unencrypted OpenSSH Ed25519 private key file.
    pub fn read(path: &Path) -> Result<SigningKey> {
        let fail = |message: String| {
            Error::from(SignatureError::SigningKey {
                path: path.to_path_buf(),
                message,
            })
        };
        let text =
            read_limited(path, MAX_KEY_BYTES).map_err(|e| fail(format!("cannot read it ({e})")))?;
        let text = Zeroizing::new(
            String::from_utf8(text.to_vec()).map_err(|_| fail(not_openssh().into()))?,
        );
        let key = SigningKey::parse(&text).map_err(|m| fail(m.into()))?;
        Ok(SigningKey {
            key,
            path: path.to_path_buf(),
        })
    }

    /// The key in an OpenSSH private key file's text; the error says what is wrong with it.
    fn parse(text: &str) -> std::result::Result<PrivateKey, &'static str> {
        if !text
            .trim_start()
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
        {
            return Err(not_openssh());
        }
        let key = PrivateKey::from_openssh(text.trim()).map_err(|_| not_openssh())?;
        if key.is_encrypted() {
            return Err("is encrypted with a passphrase; trustkeep signs unattended, so use an unencrypted key kept like the age identity (a Secret mounted 0400): ssh-keygen -t ed25519 -N '' -f FILE");
        }
        if key.algorithm() != ssh_key::Algorithm::Ed25519 {
            return Err("is not an Ed25519 key; --sign-key takes one made by ssh-keygen -t ed25519 -N '' -f FILE");
        }
        Ok(key)
    }

    /// The public key's fingerprint, as `ssh-keygen -l` prints it (`SHA256:…`).
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint(HashAlg::Sha256).to_string()
    }

    /// The public key in OpenSSH format (`ssh-ed25519 AAAA…`), for an allowed_signers line.
    pub fn public_key(&self) -> String {
        self.key
            .public_key()
            .to_openssh()
            .unwrap_or_else(|_| String::new())
    }

    /// The armored SSHSIG signature of `bytes` in namespace `trustkeep` (SHA-512, as
    /// `ssh-keygen -Y sign` makes it). `archive` names the archive in errors.
    pub fn sign(&self, bytes: &[u8], archive: &str) -> Result<Vec<u8>> {
        let fail = |e: ssh_key::Error| {
            Error::from(SignatureError::Sign {
                archive: archive.to_string(),
                message: e.to_string(),
            })
        };
        let sig = self
            .key
            .sign(NAMESPACE, HashAlg::Sha512, bytes)
            .map_err(fail)?;
        let mut pem = sig.to_pem(LineEnding::LF).map_err(fail)?;
        if !pem.ends_with('\n') {
            pem.push('\n');
        }
        Ok(pem.into_bytes())
    }
}

fn not_openssh() -> &'static str {
    "is not an OpenSSH private key; make one with ssh-keygen -t ed25519 -N '' -f FILE"
}

fn read_limited(path: &Path, max: u64) -> std::io::Result<Zeroizing<Vec<u8>>> {
    use std::io::Read;
    let mut buf = Zeroizing::new(Vec::new());
    std::fs::File::open(path)?
        .take(max + 1)
        .read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        return Err(std::io::Error::other(format!("larger than {max} bytes")));
    }
    Ok(buf)
}

/// A signature file read back: who made it, in which namespace. Not yet checked against the
/// archive's bytes ([`Signature::verifies`]) nor against a policy.
#[derive(Clone, Debug)]
pub struct Signature {
    sig: SshSig,
}

impl Signature {
    /// Parses the armored SSHSIG text of a `.sig` file; the error says why it is not one.
    pub fn parse(bytes: &[u8]) -> std::result::Result<Signature, String> {
        if bytes.is_empty() {
            return Err("the .sig file is empty".into());
        }
        if bytes.len() > MAX_SIG_BYTES {
            return Err(format!(
                "the .sig file is {} bytes, over the limit of {MAX_SIG_BYTES}",
                bytes.len()
            ));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| "the .sig file is not an SSH signature (not text)".to_string())?;
        if !text
            .trim_start()
            .starts_with("-----BEGIN SSH SIGNATURE-----")
        {
            return Err(
                "the .sig file is not an SSH signature (no BEGIN SSH SIGNATURE line)".into(),
            );
        }
        let sig = SshSig::from_pem(text.trim()).map_err(|e| {
            format!("the .sig file is not a readable SSH signature ({e}); truncated?")
        })?;
        if sig.version() != SshSig::VERSION {
            return Err(format!(
                "the .sig file is an SSH signature of version {}; only version 1 is read",
                sig.version()
            ));
        }
        Ok(Signature { sig })
    }

    /// The SSHSIG namespace the signature was made in.
    pub fn namespace(&self) -> &str {
        self.sig.namespace()
    }

    /// The signer's public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::new(self.sig.public_key().clone(), "")
    }

    /// `SHA256:…` of the signer's key.
    pub fn fingerprint(&self) -> String {
        self.sig
            .public_key()
            .fingerprint(HashAlg::Sha256)
            .to_string()
    }

    /// The signer's key type (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`…).
    pub fn algorithm(&self) -> String {
        self.sig.public_key().algorithm().to_string()
    }

    /// Whether the signature, made by the key it names in its own namespace, is over
    /// exactly `bytes`; the error says why not.
    pub fn verifies(&self, bytes: &[u8]) -> std::result::Result<(), String> {
        self.public_key()
            .verify(self.sig.namespace(), bytes, &self.sig)
            .map_err(|e| match e {
                ssh_key::Error::AlgorithmUnsupported { algorithm } => {
                    format!("signatures of {algorithm} keys cannot be checked by this trustkeep")
                }
                _ => "the signature is not over this archive's bytes (altered, or copied from another archive)".to_string(),
            })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ssh_key::private::{Ed25519Keypair, KeypairData};

    /// A test-only Ed25519 key from a fixed seed.
    pub(crate) fn key(seed: u8) -> SigningKey {
        let pair = Ed25519Keypair::from_seed(&[seed; 32]);
        let key = PrivateKey::new(KeypairData::Ed25519(pair), "test-only").unwrap();
        SigningKey {
            key,
            path: PathBuf::from("test-only"),
        }
    }

    #[test]
    fn signs_and_reads_back_and_notices_other_bytes() {
        let k = key(7);
        let sig = k.sign(b"archive bytes", "a.age").unwrap();
        let text = String::from_utf8(sig.clone()).unwrap();
        assert!(
            text.starts_with("-----BEGIN SSH SIGNATURE-----\n"),
            "{text}"
        );
        assert!(text.ends_with("-----END SSH SIGNATURE-----\n"), "{text}");
        let s = Signature::parse(&sig).unwrap();
        assert_eq!(s.namespace(), NAMESPACE);
        assert_eq!(s.fingerprint(), k.fingerprint());
        assert_eq!(s.algorithm(), "ssh-ed25519");
        assert!(s.verifies(b"archive bytes").is_ok());
        let e = s.verifies(b"archive bytes!").unwrap_err();
        assert!(e.contains("not over this archive's bytes"), "{e}");
        assert!(Signature::parse(b"").unwrap_err().contains("empty"));
        let half = &sig[..sig.len() / 2];
        assert!(Signature::parse(half).is_err());
        assert!(Signature::parse(b"hello")
            .unwrap_err()
            .contains("not an SSH signature"));
    }

    #[test]
    fn key_material_stays_out_of_debug_and_errors() {
        let k = key(9);
        let debug = format!("{k:?}");
        assert!(
            debug.contains("SHA256:") && !debug.contains("PRIVATE"),
            "{debug}"
        );
        let private = k.key.to_openssh(LineEnding::LF).unwrap();
        let body: String = private.lines().nth(1).unwrap().chars().take(20).collect();
        assert!(!debug.contains(&body));
        assert!(SigningKey::parse("not a key").is_err());
        let e = SigningKey::parse(&private[..private.len() / 2]).unwrap_err();
        assert!(!e.contains(&body), "{e}");
        let again = SigningKey::parse(&private).unwrap();
        assert_eq!(
            again.fingerprint(HashAlg::Sha256).to_string(),
            k.fingerprint()
        );
    }

    #[test]
    fn the_sig_file_is_beside_its_archive() {
        let local = Location::parse("/b/mgmt-1.tar.gz.age").unwrap();
        assert_eq!(sig_location(&local).to_string(), "/b/mgmt-1.tar.gz.age.sig");
        let bare = Location::parse("a.age").unwrap();
        assert_eq!(sig_location(&bare).to_string(), "a.age.sig");
        let object = Location::parse("s3://bucket/p/mgmt-1.tar.gz.age").unwrap();
        assert_eq!(
            sig_location(&object).to_string(),
            "s3://bucket/p/mgmt-1.tar.gz.age.sig"
        );
        let top = Location::parse("gs://bucket/mgmt-1.tar.gz.age").unwrap();
        assert_eq!(
            sig_location(&top).to_string(),
            "gs://bucket/mgmt-1.tar.gz.age.sig"
        );
    }
}
