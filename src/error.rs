//! The error type of the library: one enum for everything that stops a command.
//!
//! Problems *found* in secrets (a failed check, a missing secret) are not errors: they are
//! [`crate::findings::Finding`]s and lead to exit status 1. An [`Error`] means the command
//! could not do its job (bad input, wrong key, unreadable file) and leads to exit status 2.
//! Messages are lowercase, name the object concerned and end with a hint where one exists.
//! No message ever contains secret data.

use std::path::PathBuf;

/// Everything that can stop a trustkeep command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A `--from` file is not valid YAML or JSON.
    #[error("{path}: not valid YAML or JSON: {message}")]
    Parse { path: String, message: String },

    /// A Kubernetes object in a source is not what it should be.
    #[error("{origin}: {object}: {message}")]
    Object {
        origin: String,
        object: String,
        message: String,
    },

    /// The user's flags do not make sense together, or a value is malformed.
    #[error("{0}")]
    Usage(String),

    /// A recipient string or file could not be used.
    #[error("recipient {recipient:?}: {message}")]
    Recipient { recipient: String, message: String },

    /// An identity file could not be used.
    #[error("identity {path}: {message}")]
    Identity { path: PathBuf, message: String },

    /// No identity opened the archive.
    #[error("{archive}: no identity matches this archive; did you pass the key it was encrypted to (-i FILE)?")]
    NoMatchingIdentity { archive: String },

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

    /// A refusal to overwrite something the user did not ask to overwrite.
    #[error("{path} {message}")]
    Refused { path: PathBuf, message: String },

    /// Object storage refused or could not answer (the object_store error is the source).
    /// Boxed: it holds the location and object_store's error, which would make every
    /// `Result` of the crate larger.
    #[error(transparent)]
    Store(Box<crate::store::StoreError>),

    /// A live cluster refused or could not answer.
    #[error("cluster {cluster}: {message}")]
    Cluster { cluster: String, message: String },

    /// The archive could not be assembled in memory.
    #[error("cannot build the archive of cluster {cluster}: {message}")]
    Build { cluster: String, message: String },

    /// Encryption failed.
    #[error("encryption failed: {0}")]
    Encrypt(String),

    /// Metrics could not be delivered (`--metrics-file`, `--pushgateway`).
    #[error("metrics {target}: {message}")]
    Metrics { target: String, message: String },
}

impl Error {
    /// Wraps an I/O error with what was being done and to which path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(e: crate::store::StoreError) -> Self {
        Error::Store(Box::new(e))
    }
}

/// The result type of the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
