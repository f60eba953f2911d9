//! The errors of the archive format: writing (what the format cannot hold), encrypting,
//! decrypting (keys, passphrases) and reading back (corrupt data, entries that break the
//! format's rules, versions this build does not read). Messages name the archive and entry and
//! end with a hint where one exists; none contains secret data.

use std::path::PathBuf;

/// Why an archive could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A recipient string or file could not be used.
    #[error("recipient {recipient:?}: {message}")]
    Recipient { recipient: String, message: String },

    /// An identity file could not be used.
    #[error("identity {path}: {message}")]
    Identity { path: PathBuf, message: String },

    /// No identity opened the archive.
    #[error("{archive}: no identity matches this archive; did you pass the key it was encrypted to (-i FILE)?")]
    NoMatchingIdentity { archive: String },

    /// An age plugin (a key held in hardware) could not unwrap the archive's key.
    #[error("{archive}: {message}")]
    Plugin { archive: String, message: String },

    /// The archive is encrypted to a passphrase but none was available.
    #[error("{archive}: this archive is encrypted with a passphrase; set TRUSTKEEP_PASSPHRASE or run from a terminal")]
    PassphraseNeeded { archive: String },

    /// The archive could not be decrypted or unpacked.
    #[error("{archive}: {message}")]
    Corrupt { archive: String, message: String },

    /// The archive's ciphertext does not match its `.sha256` sidecar.
    #[error("{archive}: ciphertext sha256 {actual} does not match {sidecar} ({expected}); the archive was altered or truncated")]
    SidecarMismatch {
        archive: String,
        sidecar: String,
        expected: String,
        actual: String,
    },

    /// An entry of the archive breaks the format's rules or disagrees with the manifest.
    #[error("{archive}: entry {entry}: {message}")]
    Entry {
        archive: String,
        entry: String,
        message: String,
    },

    /// The manifest's format version is not one this build reads.
    #[error("{archive}: unknown archive format version {version} (this trustkeep reads versions 1 to {supported}); use a newer trustkeep")]
    UnknownVersion {
        archive: String,
        version: u64,
        supported: u64,
    },

    /// The archive could not be assembled in memory.
    #[error("cannot build the archive of cluster {cluster}: {message}")]
    Build { cluster: String, message: String },

    /// Encryption failed.
    #[error("encryption failed: {0}")]
    Encrypt(String),

    /// The source holds something the archive format cannot represent (a name too long for
    /// a ustar entry, an invalid Kubernetes name or data key, a duplicate object).
    #[error("{0}")]
    Unrepresentable(String),

    /// No identity or recipient to work with.
    #[error("{0}")]
    NoKey(String),
}
