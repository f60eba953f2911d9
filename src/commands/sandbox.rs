//! `trustkeep sandbox`: runs the sandbox Kubernetes API server ([`trustkeep_sandbox`]) in the
//! foreground for demos and restore drills: loads objects, writes a kubeconfig (mode 0600,
//! atomically, never over an existing file without `--force`), prints where it listens, and
//! serves until Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::Value;
use trustkeep_sandbox::{load_objects, Forbid, Options, Sandbox, SandboxError};

/// How to serve (see `trustkeep sandbox --help`).
#[derive(Debug)]
pub struct ServeOptions {
    /// Files of objects to serve.
    pub load: Vec<PathBuf>,
    pub listen: SocketAddr,
    /// Where to write the kubeconfig; a temporary file when none.
    pub kubeconfig_out: Option<PathBuf>,
    /// Replace an existing kubeconfig file.
    pub force: bool,
    /// Name of the kubeconfig's cluster, user and context.
    pub context: String,
    /// Bearer token; random when none.
    pub token: Option<String>,
    pub forbid: Vec<Forbid>,
    pub without_crd: bool,
    pub faults: Vec<trustkeep_sandbox::Fault>,
    pub fault_seed: u64,
}

/// Starts the sandbox, writes the kubeconfig, prints
/// `sandbox listening on URL; kubeconfig: PATH` and serves until Ctrl-C or SIGTERM.
pub async fn run(args: ServeOptions, out: &mut dyn Write) -> Result<(), SandboxError> {
    if let (Some(path), false) = (&args.kubeconfig_out, args.force) {
        // Checked again, without a race, when the file is written.
        if path.symlink_metadata().is_ok() {
            return Err(exists_error(path));
        }
    }
    let objects = read_objects(&args.load)?;
    serve(args, objects, out).await
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
    args: ServeOptions,
    objects: Vec<Value>,
    out: &mut dyn Write,
) -> Result<(), SandboxError> {
    let options = Options {
        listen: args.listen,
        objects,
        token: args.token,
        forbid: args.forbid,
        without_crd: args.without_crd,
        faults: args.faults,
        fault_seed: args.fault_seed,
        rbac: None,
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
    if let Err(e) = write_kubeconfig(&path, &sandbox.kubeconfig(&args.context), args.force) {
        sandbox.shutdown().await;
        return Err(e);
    }
    // The sandbox logs this warning (under its crate's target, which the default `trustkeep`
    // filter covers: filter targets match by prefix); say it here when logging would not show it.
    let logged = tracing::enabled!(target: "trustkeep_sandbox", tracing::Level::WARN);
    if sandbox.reachable_from_network() && !logged {
        eprintln!(
            "trustkeep: warning: the sandbox is reachable from the network (it listens on {}): anyone with its token can read and change its secrets",
            sandbox.address()
        );
    }
    // Handle the signals before announcing readiness: whoever reads the line may signal at once.
    let signals = match Signals::new() {
        Ok(signals) => signals,
        Err(e) => {
            sandbox.shutdown().await;
            return Err(e);
        }
    };
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

fn exists_error(path: &Path) -> SandboxError {
    kubeconfig_error(path, &"it already exists; use --force to replace it")
}

/// Writes `text` to `path` readable by its owner only (it holds the token), atomically: a
/// temporary file (mode 0600) in the same directory, synced, then renamed into place. An
/// existing `path` is replaced only when `force`; a symlink is then replaced, not followed.
fn write_kubeconfig(path: &Path, text: &str, force: bool) -> Result<(), SandboxError> {
    use std::os::unix::fs::PermissionsExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".trustkeep-kubeconfig-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(|e| kubeconfig_error(path, &e))?;
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| kubeconfig_error(path, &e))?;
    let persisted = if force {
        tmp.persist(path)
    } else {
        tmp.persist_noclobber(path)
    };
    persisted.map_err(|e| match e.error.kind() {
        std::io::ErrorKind::AlreadyExists => exists_error(path),
        _ => kubeconfig_error(path, &e.error),
    })?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn kubeconfigs_are_written_privately_and_never_clobbered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kc");
        write_kubeconfig(&path, "one", false).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let e = write_kubeconfig(&path, "two", false).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("it already exists; use --force to replace it"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one");

        // --force replaces a symlink, not the file it points to.
        let real = dir.path().join("real-config");
        std::fs::write(&real, "precious").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(write_kubeconfig(&link, "three", false).is_err());
        write_kubeconfig(&link, "three", true).unwrap();
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "precious");
        assert!(!std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "three");
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with('.')
            })
            .count();
        assert_eq!(leftovers, 0, "no temporary files left");
    }
}
