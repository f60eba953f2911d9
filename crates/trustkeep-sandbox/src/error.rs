//! The error type of the sandbox: everything that stops it from starting or running.
//! Errors *served* to API clients are Kubernetes `Status` objects (see `status.rs`), not these.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can stop the sandbox or `trustkeep sandbox`. Messages are lowercase and
/// name the object concerned; none contains secret data.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Objects given to the sandbox are not valid YAML or JSON, or are not Kubernetes objects.
    #[error("{0}")]
    Objects(String),

    /// A `--load` file could not be read.
    #[error("cannot read --load file {path}: {source}")]
    ReadLoad {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A `--load` file could be read but not used.
    #[error("--load file {path}: {message}")]
    Load { path: PathBuf, message: String },

    /// One object cannot be served (unsupported kind, no name...).
    #[error("object {object}: {message}")]
    Object { object: String, message: String },

    /// A `--forbid` rule is malformed.
    #[error("invalid --forbid rule {rule:?}: {message}")]
    Forbid { rule: String, message: String },

    /// A `--fault` rule is malformed.
    #[error("invalid --fault rule {rule:?}: {message}")]
    Fault { rule: String, message: String },

    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },

    /// The CA or server certificate could not be generated.
    #[error("cannot generate the sandbox TLS certificates: {0}")]
    Tls(String),

    /// The kubeconfig could not be rendered or written.
    #[error("cannot write kubeconfig {path}: {message}")]
    Kubeconfig { path: PathBuf, message: String },

    /// The async runtime could not be built.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),

    /// Ctrl-C or SIGTERM could not be waited for.
    #[error("cannot wait for ctrl-c or sigterm: {0}")]
    Signal(#[source] std::io::Error),

    /// Standard output could not be written.
    #[error("cannot write to standard output: {0}")]
    Output(#[source] std::io::Error),
}
