//! `trustkeep export`: the one way to put decrypted secrets on disk. Writes the archive's
//! entries under a directory (files 0600, directories 0700), exactly as `age -d | tar x`
//! would, and refuses a non-empty directory unless forced.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::archive::Opened;
use crate::error::{Error, Result};

/// Where to export.
#[derive(Debug, Default)]
pub struct Options {
    pub dir: PathBuf,
    /// Overwrite into a non-empty directory.
    pub force: bool,
    /// Only these secrets (`name` or `namespace/name`); all when empty.
    pub only: Vec<String>,
}

/// Writes the files; returns the paths written.
pub fn run(opened: &Opened, opts: &Options) -> Result<Vec<PathBuf>> {
    let dir = &opts.dir;
    match std::fs::read_dir(dir) {
        Ok(mut it) => {
            if it.next().is_some() && !opts.force {
                return Err(Error::Refused {
                    path: dir.clone(),
                    message: "is not empty; refusing to export into it (use --force, or an empty directory)".into(),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_dir(dir)?,
        Err(e) => return Err(Error::io("cannot read", dir.clone(), e)),
    }
    let wanted = |path: &str| -> bool {
        if opts.only.is_empty() || path == crate::archive::MANIFEST_PATH {
            return true;
        }
        opts.only.iter().any(|o| {
            let mut parts = path.split('/').skip(1);
            let (ns, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            o == name || *o == format!("{ns}/{name}")
        })
    };
    let mut written = Vec::new();
    for (path, bytes) in &opened.files {
        if !wanted(path) {
            continue;
        }
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            create_dirs_private(dir, parent)?;
        }
        write_private(&target, bytes.expose())?;
        written.push(target);
    }
    Ok(written)
}

fn create_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .map_err(|e| Error::io("cannot create directory", dir, e))
}

fn create_dirs_private(root: &Path, dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    create_dir(dir)?;
    let _ = root;
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o
        .open(path)
        .map_err(|e| Error::io("cannot write", path, e))?;
    #[cfg(unix)]
    {
        // An existing file keeps its mode on open; make sure it is private.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io("cannot set permissions of", path, e))?;
    }
    f.write_all(bytes)
        .map_err(|e| Error::io("cannot write", path, e))
}
