//! The error type of the library: one enum for everything that stops a command, wrapping
//! each domain's own error ([`crate::archive::ArchiveError`], [`crate::cluster::ClusterError`],
//! the store's) so that `?` works across stages and each domain's variants stay its own.
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

    /// What a source holds cannot be read as secrets (folders of the manual procedure without
    /// secret folders, invalid names, oversized files).
    #[error("{0}")]
    Source(String),

    /// A Kubernetes object in a source is not what it should be.
    #[error("{origin}: {object}: {message}")]
    Object {
        origin: String,
        object: String,
        message: String,
    },

    /// The user's flags do not make sense together, or a value is malformed. Raised only by
    /// the CLI (`cli/resolve.rs`'s `FlagError`) and by parsers of values the user typed.
    #[error("{0}")]
    Usage(String),

    /// An archive could not be written, opened, decrypted or read back.
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),

    /// A signing key or an allowed_signers file could not be used, or the trust policy
    /// refused an archive (exit status 1, see [`Error::exit_status`]).
    #[error(transparent)]
    Signature(#[from] crate::signature::SignatureError),

    /// A refusal to overwrite something the user did not ask to overwrite.
    #[error("{path} {message}")]
    Refused { path: PathBuf, message: String },

    /// Object storage refused or could not answer (the object_store error is the source).
    /// Boxed: it holds the location and object_store's error, which would make every
    /// `Result` of the crate larger.
    #[error(transparent)]
    Store(Box<crate::store::StoreError>),

    /// A live cluster refused or could not answer.
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),

    /// What was asked of the data is not in it: a `--only` naming no archived secret, a
    /// directory or prefix without archives, no archive that verifies.
    #[error("{0}")]
    NotFound(String),

    /// What was asked matches more than one thing (a store holding several clusters'
    /// archives and no `--cluster`).
    #[error("{0}")]
    Ambiguous(String),

    /// Keys or certificates could not be made (`trustkeep pki`).
    #[error(transparent)]
    Issue(#[from] crate::issuer::IssueError),

    /// Discovery could not make a profile of what a source holds.
    #[error("{origin}: {message}")]
    Discovery { origin: String, message: String },

    /// The embedded sandbox API server (the demo's) could not start.
    #[error("cannot start the sandbox: {0}")]
    Sandbox(String),

    /// Metrics could not be delivered (`--metrics-file`, `--pushgateway`).
    #[error("metrics {target}: {message}")]
    Metrics { target: String, message: String },
}

impl Error {
    /// The exit status of a command this error stopped: 1 when the trust policy refused an
    /// archive or a rotation phase came out of order (a problem found, like a failed check;
    /// nothing was decrypted or written), 2
    /// for everything else (the command could not do its job).
    pub fn exit_status(&self) -> u8 {
        match self {
            Error::Signature(crate::signature::SignatureError::Refused { .. }) => 1,
            Error::Issue(crate::issuer::IssueError::OutOfOrder(_)) => 1,
            _ => 2,
        }
    }

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
