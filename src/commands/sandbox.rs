//! `trustkeep sandbox`: runs the sandbox Kubernetes API server ([`crate::sandbox`]) in the
//! foreground for demos and restore drills: loads objects, writes a kubeconfig (mode 0600),
//! prints where it listens, and serves until Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::sandbox::{load_objects, Forbid, Options, Sandbox, SandboxError};

/// Run a local, in-memory Kubernetes API server (HTTPS) holding trust secrets, for demos and
/// restore drills.
#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    /// Serve the objects in FILE: YAML or JSON Secrets, Namespaces, RootTrustPolicies or
    /// Lists of them. Repeatable.
    #[arg(long = "load", value_name = "FILE")]
    pub load: Vec<PathBuf>,
    /// Listen on ADDR (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Write a kubeconfig for the sandbox to PATH (mode 0600); default: a temporary file
    /// removed on exit.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig_out: Option<PathBuf>,
    /// Name of the kubeconfig's cluster, user and context.
    #[arg(long, value_name = "NAME", default_value = "trustkeep-sandbox")]
    pub context: String,
    /// Bearer token clients must present; random by default.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "TRUSTKEEP_SANDBOX_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Answer 403 to matching requests: VERB:RESOURCE[:NAMESPACE[/NAME]], e.g. list:secrets
    /// or get:secrets:gloo-mesh/relay-server-tls-secret. Repeatable.
    #[arg(long = "forbid", value_name = "RULE")]
    pub forbid: Vec<Forbid>,
    /// Serve no admin.gloo.solo.io API group, like a cluster without the Gloo Mesh CRDs.
    #[arg(long)]
    pub without_crd: bool,
}

/// Starts the sandbox, writes the kubeconfig, prints
/// `sandbox listening on URL; kubeconfig: PATH` and serves until Ctrl-C or SIGTERM.
pub fn run(args: SandboxArgs, out: &mut dyn Write) -> Result<(), SandboxError> {
    let objects = read_objects(&args.load)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(SandboxError::Runtime)?;
    runtime.block_on(serve(args, objects, out))
}

fn read_objects(paths: &[PathBuf]) -> Result<Vec<Value>, SandboxError> {
    let mut objects = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|source| SandboxError::ReadLoad {
            path: path.clone(),
            source,
        })?;
        let loaded = load_objects(&text).map_err(|e| SandboxError::Load {
            path: path.clone(),
            message: e.to_string(),
        })?;
        objects.extend(loaded);
    }
    Ok(objects)
}

async fn serve(
    args: SandboxArgs,
    objects: Vec<Value>,
    out: &mut dyn Write,
) -> Result<(), SandboxError> {
    let options = Options {
        listen: args.listen,
        objects,
        token: args.token,
        forbid: args.forbid,
        without_crd: args.without_crd,
    };
    let sandbox = Sandbox::start(options).await?;
    let (path, _temporary) = match args.kubeconfig_out {
        Some(p) => (p, None),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("trustkeep-sandbox-")
                .tempdir()
                .map_err(|e| kubeconfig_error(Path::new("(temporary directory)"), &e))?;
            (dir.path().join("kubeconfig"), Some(dir))
        }
    };
    write_private(&path, &sandbox.kubeconfig(&args.context))?;
    // Handle the signals before announcing readiness: whoever reads the line may signal at once.
    let signals = Signals::new()?;
    writeln!(
        out,
        "sandbox listening on {}; kubeconfig: {}",
        sandbox.url(),
        path.display()
    )
    .and_then(|()| out.flush())
    .map_err(SandboxError::Output)?;
    signals.wait().await;
    sandbox.shutdown().await;
    Ok(())
}

fn kubeconfig_error(path: &Path, e: &dyn std::fmt::Display) -> SandboxError {
    SandboxError::Kubeconfig {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Writes `text` to `path` readable by its owner only (it holds the token).
fn write_private(path: &Path, text: &str) -> Result<(), SandboxError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| kubeconfig_error(path, &e))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .and_then(|()| file.write_all(text.as_bytes()))
        .and_then(|()| file.sync_all())
        .map_err(|e| kubeconfig_error(path, &e))
}

/// Ctrl-C (SIGINT) and SIGTERM, handled from creation on.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Signals, SandboxError> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt()).map_err(SandboxError::Signal)?,
            terminate: signal(SignalKind::terminate()).map_err(SandboxError::Signal)?,
        })
    }

    /// Returns at the first of either.
    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
