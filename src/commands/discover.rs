//! `trustkeep discover`: reads what a setup says about itself (its Gloo Helm releases,
//! RootTrustPolicies, Gloo Deployments and cert-manager Certificates, from a `--from` file or
//! a live cluster) and prints or writes its [`Profile`], or with `--emit-role` the Roles and
//! RoleBindings a backup of that profile needs. The decoding and the rules are
//! [`crate::discover`]'s; this verb reads the source, writes the file (0600, never over an
//! existing one without `--force`) and renders.

use std::io::Write;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::profile::Profile;
use crate::render::{self, OutputFormat};
use crate::select::SelectOptions;
use crate::source::Source;

/// What to discover.
#[derive(Debug)]
pub struct Options {
    /// Where the setup is read from.
    pub source: Source,
    /// Namespace of the Gloo Helm releases and relay secrets.
    pub namespace: String,
    /// Write the profile to this file instead of standard output.
    pub output: Option<PathBuf>,
    /// Replace an existing `output` file.
    pub force: bool,
    /// Emit the Roles and RoleBindings for this ServiceAccount (namespace, name) instead of
    /// the profile.
    pub emit_role: Option<(String, String)>,
}

impl Options {
    /// What is printed or written: the profile, or its RBAC objects.
    fn document(&self, p: &Profile) -> String {
        match &self.emit_role {
            Some((ns, name)) => p.rbac_manifests(ns, name),
            None => p.to_yaml(),
        }
    }
}

/// Reads the source and makes its profile; writes it when `output` is set.
pub async fn run(opts: &Options) -> Result<Profile> {
    let select = SelectOptions {
        namespace: opts.namespace.clone(),
        ..SelectOptions::default()
    };
    let inv = opts.source.read_for_discovery(&select).await?;
    let profile =
        crate::discover::discover(&inv, &opts.namespace).map_err(|e| Error::Discovery {
            origin: inv.origin.to_string(),
            message: e.to_string(),
        })?;
    if let Some(path) = &opts.output {
        write_private(path, opts.document(&profile).as_bytes(), opts.force)?;
    }
    Ok(profile)
}

/// Writes `bytes` to `path` with mode 0600; an existing file only with `force`.
fn write_private(path: &std::path::Path, bytes: &[u8], force: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if !force && path.exists() {
        return Err(Error::Refused {
            path: path.to_path_buf(),
            message: "exists; pass --force to replace it".into(),
        });
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let io = |e| Error::io("cannot write", path.to_path_buf(), e);
    let mut tmp = tempfile::Builder::new()
        .prefix(".trustkeep-")
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    if force {
        tmp.persist(path).map_err(|e| io(e.error))?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| io(e.error))?;
    }
    Ok(())
}

/// Prints the profile (YAML, or JSON with `--output json`) or its RBAC objects (YAML), or
/// where they were written.
pub fn render(
    out: &mut dyn Write,
    p: &Profile,
    opts: &Options,
    format: OutputFormat,
) -> std::io::Result<()> {
    let what = if opts.emit_role.is_some() {
        "RBAC for profile"
    } else {
        "profile"
    };
    match (&opts.output, format) {
        (Some(path), _) => writeln!(
            out,
            "wrote {what} {} (relay mode {}, {} secrets named) to {}",
            p.kind,
            p.relay_mode.as_str(),
            p.named().count(),
            path.display()
        ),
        (None, OutputFormat::Json) if opts.emit_role.is_none() => render::json(out, p),
        (None, _) => out.write_all(opts.document(p).as_bytes()),
    }
}
