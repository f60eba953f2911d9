//! `trustkeep export`: the one way to put decrypted secrets on disk. Writes the archive's
//! entries under a directory (files 0600, directories 0700), exactly as `age -d | tar x`
//! would, and refuses a non-empty directory unless forced.

use std::path::{Path, PathBuf};

use super::ArchiveInput;
use crate::archive::Opened;
use crate::error::{Error, Result};
use crate::secret::SecretId;
use crate::world::World;

/// What to export and where.
#[derive(Debug)]
pub struct Options {
    pub archive: ArchiveInput,
    pub dir: PathBuf,
    /// Overwrite into a non-empty directory.
    pub force: bool,
    /// Only these secrets (`name` or `namespace/name`); all when empty.
    pub only: Vec<String>,
}

/// Opens the archive and writes its files; returns the paths written.
pub async fn run(opts: &Options, world: &World) -> Result<Vec<PathBuf>> {
    let (opened, _) = opts.archive.open(world).await?;
    write(&opened, opts)
}

/// Writes the files of an opened archive; returns the paths written.
fn write(opened: &Opened, opts: &Options) -> Result<Vec<PathBuf>> {
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
    for o in &opts.only {
        if !opened
            .snapshot
            .secrets
            .iter()
            .any(|s| s.record.id.matches(o))
        {
            return Err(Error::NotFound(format!(
                "--only {o}: the archive holds no such secret (see trustkeep inspect)"
            )));
        }
    }
    let wanted = |path: &str| -> bool {
        if opts.only.is_empty() || path == crate::archive::MANIFEST_PATH {
            return true;
        }
        let mut parts = path.split('/').skip(1);
        let id = SecretId::new(parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        opts.only.iter().any(|o| id.matches(o))
    };
    let mut written = Vec::new();
    for (path, bytes) in &opened.files {
        if !wanted(path) {
            continue;
        }
        let target = dir.join(path);
        private_dirs(dir, Path::new(path))?;
        // A temporary file renamed over the target: an existing symlink is replaced, never
        // written through, and the file is 0600 from its first byte.
        crate::store::write_atomic(&target, bytes.expose(), true)?;
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

/// Creates (0700) or tightens to 0700 every directory between `root` and the file `rel`, and
/// refuses to go through a symbolic link.
fn private_dirs(root: &Path, rel: &Path) -> Result<()> {
    let mut cur = root.to_path_buf();
    let parents: Vec<_> = rel
        .parent()
        .map(|p| p.components().collect())
        .unwrap_or_default();
    for c in parents {
        cur.push(c);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::Refused {
                    path: cur,
                    message: "is a symbolic link; refusing to export through it".into(),
                })
            }
            Ok(m) if m.is_dir() => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&cur, std::fs::Permissions::from_mode(0o700))
                        .map_err(|e| Error::io("cannot set permissions of", &cur, e))?;
                }
            }
            Ok(_) => {
                return Err(Error::Refused {
                    path: cur,
                    message: "exists and is not a directory".into(),
                })
            }
            Err(_) => create_dir(&cur)?,
        }
    }
    Ok(())
}
