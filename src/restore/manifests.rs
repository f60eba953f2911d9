//! The `--to-manifests` target: every object of the plan written as a YAML file for review
//! or GitOps, all or nothing, never over an existing file and never through a symbolic link.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Action, Item, Object};
use crate::archive;
use crate::error::{Error, Result};

/// A file to write: its namespace directory, its path and its YAML.
type Planned = (PathBuf, PathBuf, zeroize::Zeroizing<String>);

/// Writes every `Write` secret as `<dir>/<namespace>/<name>.yaml`, and every `Write` policy as
/// `<dir>/<namespace>/<name>.roottrustpolicy.yaml` (directories 0700, files 0600) with
/// export's rules: the whole target is checked before the first write (no symbolic link
/// followed, no existing file replaced), each file is written atomically, and a failure
/// part-way removes what this run wrote, so the directory gets all files or none.
pub(super) fn write(
    dir: &Path,
    items: Vec<&mut Item>,
    extra: &BTreeMap<String, String>,
) -> Result<Vec<PathBuf>> {
    let mut lines = Vec::new();
    let mut planned: Vec<Planned> = Vec::new();
    for it in items.into_iter().filter(|it| it.action == Action::Write) {
        let (ns, file, yaml) = match &it.object {
            Object::Secret(r) => (
                &r.id.namespace,
                format!("{}.yaml", r.id.name),
                archive::secret_yaml(r, extra)?,
            ),
            Object::Policy(p) => (
                &p.metadata.namespace,
                format!("{}.roottrustpolicy.yaml", p.metadata.name),
                zeroize::Zeroizing::new(p.to_yaml().map_err(|message| Error::Object {
                    origin: "the archive".into(),
                    object: format!("RootTrustPolicy {}", p.id()),
                    message,
                })?),
            ),
        };
        let sub = dir.join(ns);
        planned.push((sub.clone(), sub.join(file), yaml));
        lines.push(it);
    }
    check_target(dir, &planned)?;
    let mut written: Vec<PathBuf> = Vec::new();
    let mut made_dirs: Vec<PathBuf> = Vec::new();
    for (sub, path, yaml) in &planned {
        if let Err(e) = write_one(dir, sub, path, yaml.as_bytes(), &mut made_dirs) {
            for p in &written {
                let _ = std::fs::remove_file(p);
            }
            for d in made_dirs.iter().rev() {
                let _ = std::fs::remove_dir(d);
            }
            return Err(e);
        }
        written.push(path.clone());
    }
    for (it, (_, path, _)) in lines.into_iter().zip(&planned) {
        it.result = Some(format!("written to {}", path.display()));
        it.restored = true;
    }
    Ok(written)
}

/// Refuses, before anything is written: `dir` when it is not a directory, a namespace
/// directory that is a symbolic link or not a directory, and any target file that already exists (of whatever type).
fn check_target(dir: &Path, planned: &[Planned]) -> Result<()> {
    let refuse = |path: &Path, message: &str| Error::Refused {
        path: path.to_path_buf(),
        message: message.to_string(),
    };
    // DIR itself is what the user named, so a symbolic link there is followed; nothing inside.
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => return Err(refuse(dir, "exists and is not a directory")),
        _ => {}
    }
    for d in planned.iter().map(|(sub, _, _)| sub.as_path()) {
        match std::fs::symlink_metadata(d) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(refuse(
                    d,
                    "is a symbolic link; refusing to write secrets through it",
                ))
            }
            Ok(m) if !m.is_dir() => return Err(refuse(d, "exists and is not a directory")),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot inspect", d, e)),
        }
    }
    for (_, path, _) in planned {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(refuse(
                    path,
                    "is a symbolic link; refusing to write secrets through it",
                ))
            }
            Ok(_) => {
                return Err(refuse(
                    path,
                    "already exists; refusing to overwrite it (nothing was written)",
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot inspect", path, e)),
        }
    }
    Ok(())
}

/// Creates `dir` and `sub` (0700) when missing, recording them, then writes `path`
/// atomically without replacing anything.
fn write_one(
    dir: &Path,
    sub: &Path,
    path: &Path,
    bytes: &[u8],
    made_dirs: &mut Vec<PathBuf>,
) -> Result<()> {
    for d in [dir, sub] {
        if std::fs::symlink_metadata(d).is_err() {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(d == dir);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(d)
                .map_err(|e| Error::io("cannot create directory", d, e))?;
            made_dirs.push(d.to_path_buf());
        }
    }
    crate::store::write_atomic(path, bytes, false)
}
